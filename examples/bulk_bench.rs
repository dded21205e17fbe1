//! Benchmark (not a test): bulkAddCustomers of N records with useWorkflow, end to end (the
//! request, then the worker building every customer's 5-step schedule), against the same
//! inserts as hand-written SQL (customers, tasks, task events) in the same run, and the
//! server's peak RSS.
//!
//!     cargo build --release --bins --examples
//!     target/release/examples/bulk_bench [--records 10000]

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::{json, Value};
use uuid::Uuid;

mod common;
use common::{customer_input, BenchDb, Server};

fn records_arg() -> usize {
    let argv: Vec<String> = std::env::args().collect();
    match argv.get(1).map(String::as_str) {
        Some("--records") => argv.get(2).and_then(|v| v.parse().ok()).expect("--records takes a number"),
        Some(other) => panic!("unknown flag {other}"),
        None => 10_000,
    }
}

fn scalar(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

/// The same rows as SQL: customers, 5 tasks each, a CREATED event per task, in 1,000-customer
/// transactions.
fn raw_inserts(conn: &mut PgConnection, company_id: Uuid, schedule_id: Uuid, n: usize) -> Duration {
    let started = Instant::now();
    let ids: Vec<String> = (0..n).map(|i| format!("raw-{i}")).collect();
    for chunk in ids.chunks(1000) {
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            #[derive(QueryableByName)]
            struct Id {
                #[diesel(sql_type = BigInt)]
                id: i64,
            }
            let customers: Vec<Id> = diesel::sql_query(
                "INSERT INTO customers (company_id, external_id, first_name, last_name, email, birthday, phone_number,
                   timezone, task_type, street_address1, city, state, zip_code, external_metadata)
                 SELECT $1, x, 'Ada', 'Lovelace', 'ada@example.com', '1985-12-10', '+12125550100',
                   'America/New_York', 'collections', '1 Main St', 'New York', 'NY', '10001', '{\"source\": \"bench\"}'
                 FROM unnest($2::text[]) AS x
                 ON CONFLICT (company_id, external_id) DO UPDATE SET updated_at = now() RETURNING id",
            )
            .bind::<SqlUuid, _>(company_id)
            .bind::<Array<Text>, _>(chunk)
            .load(conn)?;
            let base = Utc::now().date_naive().and_hms_opt(15, 0, 0).unwrap().and_utc();
            let mut customer_ids = Vec::new();
            let mut attempts = Vec::new();
            let mut times = Vec::new();
            for c in &customers {
                for day in 1..=5 {
                    customer_ids.push(c.id);
                    attempts.push(day as i32);
                    times.push(base + chrono::Duration::days(day));
                }
            }
            diesel::sql_query(
                "WITH created AS (
                   INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone)
                   SELECT $1, c, $2, 'collections', 'PENDING', a, t, 'America/New_York'
                   FROM unnest($3::bigint[], $4::int[], $5::timestamptz[]) AS u(c, a, t)
                   RETURNING *)
                 INSERT INTO events (company_id, kind, payload)
                 SELECT $1, 'TASK_CREATED', jsonb_build_object('task', to_jsonb(created), 'previousStatus', NULL) FROM created",
            )
            .bind::<SqlUuid, _>(company_id)
            .bind::<SqlUuid, _>(schedule_id)
            .bind::<Array<BigInt>, _>(customer_ids)
            .bind::<Array<Integer>, _>(attempts)
            .bind::<Array<Timestamptz>, _>(times)
            .execute(conn)?;
            Ok(())
        })
        .unwrap();
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let n = records_arg();
    let db = BenchDb::create();
    let (company_id, api_key) = db.company();
    let mut conn = PgConnection::establish(&db.url).unwrap();
    #[derive(QueryableByName)]
    struct Sid {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let schedule_id = diesel::sql_query("SELECT id FROM schedules").get_result::<Sid>(&mut conn).unwrap().id;
    let server = Server::start(&db.url).await;
    println!("bulkAddCustomers: {n} records, useWorkflow, 5 cadence steps each");

    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = customer_input(&format!("bulk-{i}"));
            r.as_object_mut().unwrap().remove("taskType");
            r["externalMetadata"] = json!({"source": "bench"});
            r
        })
        .collect();
    let body = json!({
        "query": "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { status results { successful batchesProcessed } workflowTriggered } }",
        "variables": {"input": {"scheduleId": schedule_id.to_string(), "records": records, "useWorkflow": true}}
    });
    let started = Instant::now();
    let response: Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.base_url))
        .header("X-API-Key", &api_key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request_time = started.elapsed();
    assert_eq!(response["data"]["bulkAddCustomers"]["status"], "SUCCESS", "{response}");
    let expected = (n * 5) as i64;
    loop {
        let done = scalar(&mut conn, "SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'");
        if done >= expected {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the workflow did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let end_to_end = started.elapsed();
    let peak = server.peak_rss_kib();
    println!(
        "  server: request {:.2} s (batches {}), schedules built {:.2} s after the start",
        request_time.as_secs_f64(),
        response["data"]["bulkAddCustomers"]["results"]["batchesProcessed"],
        end_to_end.as_secs_f64()
    );
    let raw = raw_inserts(&mut conn, company_id, schedule_id, n);
    println!("  raw SQL: the same customers, tasks and events in {:.2} s", raw.as_secs_f64());
    println!("  end to end / raw SQL: {:.2}x (target <= 1.5x)", end_to_end.as_secs_f64() / raw.as_secs_f64());
    println!("  server peak RSS: {:.1} MB (target <= 300 MB)", peak as f64 / 1024.0);
}
