//! Benchmark (not a test): bulkAddCustomers of N records, each scenario against the same rows
//! inserted by hand-written SQL in the same run, on the same database.
//!
//! - `workflow`: `useWorkflow` end to end (the request, then the worker building every
//!   customer's 5-step schedule) against customers, tasks and task events as SQL; the server's
//!   peak RSS.
//! - `calls`: `initiateCall` (every call decided by the contact policy) against customers, calls
//!   and call events as SQL; meanwhile a client keeps calling `makeCall` for the same company and
//!   reports how long it waited (it may wait for one batch's insert, never for the whole import).
//!   The server runs in-process on a clock fixed at a weekday noon in New York, so every call is
//!   inside its window whatever the hour of the run.
//!
//! Run:
//!
//!     cargo build --release --bins --examples
//!     target/release/examples/bulk_bench [--records 10000] [--scenario workflow|calls|both]

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::{json, Value};
use uuid::Uuid;

mod common;
use common::{customer_input, ms, percentile, BenchDb, CpuMeter, Server};

struct Args {
    records: usize,
    workflow: bool,
    calls: bool,
}

fn args() -> Args {
    let mut a = Args { records: 10_000, workflow: true, calls: true };
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv[1..].chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_default();
        match pair[0].as_str() {
            "--records" => a.records = value.parse().expect("--records takes a number"),
            "--scenario" => (a.workflow, a.calls) = (value != "calls", value != "workflow"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A distinct, valid New York number per record (two customers sharing one get one call).
fn phone(i: usize) -> String {
    format!("+1212{}{:04}", 200 + i / 10_000, i % 10_000)
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
                   timezone, task_type, street_address1, city, state, zip_code, external_metadata, created_at, updated_at)
                 SELECT $1, x, 'Ada', 'Lovelace', 'ada@example.com', '1985-12-10', '+12125550100',
                   'America/New_York', 'collections', '1 Main St', 'New York', 'NY', '10001', '{\"source\": \"bench\"}',
                   now(), now()
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
                   INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone, created_at, updated_at)
                   SELECT $1, c, $2, 'collections', 'PENDING', a, t, 'America/New_York', now(), now()
                   FROM unnest($3::bigint[], $4::int[], $5::timestamptz[]) AS u(c, a, t)
                   RETURNING *)
                 INSERT INTO events (company_id, kind, payload, created_at)
                 SELECT $1, 'TASK_CREATED', jsonb_build_object('task', to_jsonb(created), 'previousStatus', NULL), now()
                 FROM created",
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

/// The same rows as SQL: customers, a queued call each, a CREATED event per call, in
/// 500-customer transactions (the service's batch size).
fn raw_calls(
    conn: &mut PgConnection,
    company_id: Uuid,
    schedule_id: Uuid,
    (prefix, first_phone): (&str, usize),
    n: usize,
) -> Duration {
    let started = Instant::now();
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let phones: Vec<String> = (0..n).map(|i| phone(first_phone + i)).collect();
    for (chunk, numbers) in ids.chunks(500).zip(phones.chunks(500)) {
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::sql_query(
                "WITH customer AS (
                   INSERT INTO customers (company_id, external_id, first_name, last_name, email, birthday, phone_number,
                     timezone, task_type, street_address1, city, state, zip_code, created_at, updated_at)
                   SELECT $1, x, 'Ada', 'Lovelace', 'ada@example.com', '1985-12-10', p,
                     'America/New_York', 'collections', '1 Main St', 'New York', 'NY', '10001', now(), now()
                   FROM unnest($3::text[], $4::text[]) AS u(x, p)
                   ON CONFLICT (company_id, external_id) DO UPDATE SET updated_at = now()
                   RETURNING id, external_id, phone_number),
                 created AS (
                   INSERT INTO calls (company_id, customer_id, schedule_id, to_number, status, source, agent_id,
                                      created_at, updated_at)
                   SELECT $1, id, $2, phone_number, 'QUEUED', 'BULK', 'agent-1', now(), now() FROM customer
                   RETURNING *)
                 INSERT INTO events (company_id, kind, payload, created_at)
                 SELECT $1, 'CALL_CREATED', jsonb_build_object('call', to_jsonb(created), 'previousStatus', NULL), now()
                 FROM created",
            )
            .bind::<SqlUuid, _>(company_id)
            .bind::<SqlUuid, _>(schedule_id)
            .bind::<Array<Text>, _>(chunk)
            .bind::<Array<Text>, _>(numbers)
            .execute(conn)?;
            Ok(())
        })
        .unwrap();
    }
    started.elapsed()
}

fn schedule_id(conn: &mut PgConnection) -> Uuid {
    #[derive(QueryableByName)]
    struct Sid {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    diesel::sql_query("SELECT id FROM schedules").get_result::<Sid>(conn).unwrap().id
}

async fn post(client: &reqwest::Client, base_url: &str, api_key: &str, body: &Value) -> Value {
    client
        .post(format!("{base_url}/graphql"))
        .header("X-API-Key", api_key)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `useWorkflow`: returns the markdown rows.
async fn workflow(n: usize) -> Vec<String> {
    let db = BenchDb::create();
    let (company_id, api_key) = db.company();
    let mut conn = PgConnection::establish(&db.url).unwrap();
    let schedule_id = schedule_id(&mut conn);
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
    let meter = CpuMeter::start(Some(server.pid()));
    let started = Instant::now();
    let response = post(&reqwest::Client::new(), &server.base_url, &api_key, &body).await;
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
    // Includes this process's polling of the task count (a query every 50 ms).
    let (server_cpu, postgres_cpu, _) = meter.per_op(n as f64);
    let peak = server.peak_rss_kib();
    println!(
        "  server: request {:.2} s (batches {}), schedules built {:.2} s after the start",
        request_time.as_secs_f64(),
        response["data"]["bulkAddCustomers"]["results"]["batchesProcessed"],
        end_to_end.as_secs_f64()
    );
    let raw = raw_inserts(&mut conn, company_id, schedule_id, n);
    let ratio = end_to_end.as_secs_f64() / raw.as_secs_f64();
    println!("  raw SQL: the same customers, tasks and events in {:.2} s", raw.as_secs_f64());
    println!("  end to end / raw SQL: {ratio:.2}x (target <= 1.5x)");
    println!("  server peak RSS: {:.1} MB (target <= 300 MB)", peak as f64 / 1024.0);
    println!("  CPU per record: server {server_cpu:.3} ms, Postgres {postgres_cpu:.3} ms");
    vec![
        format!(
            "| {n} records, `useWorkflow` (5 tasks each), end to end | {:.2} s | {:.2} s ({ratio:.2}×) | ≤ 1.5× | {} |",
            raw.as_secs_f64(),
            end_to_end.as_secs_f64(),
            ok(ratio <= 1.5)
        ),
        format!(
            "| CPU per record of it: server / Postgres | | {server_cpu:.3} / {postgres_cpu:.3} ms | | |"
        ),
        format!("| server peak RSS during it | | {:.0} MB | ≤ 300 MB | {} |", peak as f64 / 1024.0, ok(peak <= 300 * 1024)),
    ]
}

/// `initiateCall`, with `makeCall` running beside it: returns the markdown rows.
async fn calls(n: usize) -> Vec<String> {
    let db = BenchDb::create();
    let (company_id, api_key) = db.company();
    let mut conn = PgConnection::establish(&db.url).unwrap();
    let schedule_id = schedule_id(&mut conn);
    // A Tuesday, 12:00 in New York: inside every record's calling window.
    let noon = chrono::DateTime::parse_from_rfc3339("2026-12-01T17:00:00Z").unwrap().with_timezone(&Utc);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let pools = callsync::store::ServerPools::connect(&db.url, &Default::default()).expect("pools");
    let options =
        callsync::http::AppOptions { clock: callsync::clock::Clock::starting_at(noon), ..Default::default() };
    let state = callsync::http::AppState::with_options(pools, &db.url, Default::default(), options);
    let (server, _) = callsync::http::serve(listener, state, 2).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    println!("bulkAddCustomers: {n} records, initiateCall");

    let client = reqwest::Client::new();
    let import = |prefix: &str, first_phone: usize| {
        let records: Vec<Value> = (0..n)
            .map(|i| {
                let mut r = customer_input(&format!("{prefix}-{i}"));
                r["phoneNumber"] = json!(phone(first_phone + i));
                r
            })
            .collect();
        json!({
            "query": "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { status results { successful batchesProcessed } callResults { initiated failed batches } } }",
            "variables": {"input": {"scheduleId": schedule_id.to_string(), "records": records, "initiateCall": true,
                                    "callConfig": {"agentId": "agent-1"}}}
        })
    };
    // Alone, against SQL inserting the same rows, three rounds (a checkpoint during either side
    // moves one round's ratio a lot): the median round counts.
    let mut rounds = Vec::new();
    for round in 0..3 {
        // Statistics, as a live database has them (autovacuum analyzes within a minute): the
        // server's prepared statements were planned on empty tables, and a new ANALYZE makes
        // Postgres plan them again with what the earlier rounds wrote.
        diesel::sql_query("ANALYZE").execute(&mut conn).unwrap();
        let started = Instant::now();
        let response =
            post(&client, &base_url, &api_key, &import(&format!("call{round}"), (10 + 2 * round) * n)).await;
        let elapsed = started.elapsed();
        assert_eq!(response["data"]["bulkAddCustomers"]["callResults"]["initiated"], n, "{response}");
        let raw = raw_calls(
            &mut conn,
            company_id,
            schedule_id,
            (&format!("rawcall{round}"), (11 + 2 * round) * n),
            n,
        );
        println!(
            "  round {}: service {:.2} s, raw SQL {:.2} s: {:.2}x",
            round + 1,
            elapsed.as_secs_f64(),
            raw.as_secs_f64(),
            elapsed.as_secs_f64() / raw.as_secs_f64()
        );
        rounds.push((elapsed.as_secs_f64() / raw.as_secs_f64(), elapsed, raw));
    }
    rounds.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let (ratio, elapsed, raw) = rounds[1];
    // Again, other customers, with makeCall for the same company one at a time beside it.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let side = {
        let (client, base_url, api_key, done) =
            (client.clone(), base_url.clone(), api_key.clone(), done.clone());
        tokio::spawn(async move {
            let mut waits = Vec::new();
            let mut i = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({
                    "query": "mutation($input: MakeCallInput!) { makeCall(input: $input) { id } }",
                    // A one-off number: an AI voice needs its consent (TCPA), given with the call.
                    "variables": {"input": {"to": phone(5 * n + i), "scheduleId": schedule_id.to_string(),
                        "consent": {"type": "PRIOR_EXPRESS", "source": "PROVIDED_BY_CONSUMER",
                                    "obtainedAt": "2026-11-01T12:00:00Z"}}}
                });
                let t = Instant::now();
                let response = post(&client, &base_url, &api_key, &body).await;
                waits.push(t.elapsed());
                // The bulk calls fill the company's calls-per-second budget: a refusal for the
                // rate is an answer too (the wait is what is measured).
                let code = &response["errors"][0]["extensions"]["code"];
                assert!(response.get("errors").is_none() || code == "RATE_LIMITED", "{response}");
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            waits
        })
    };
    let response = post(&client, &base_url, &api_key, &import("beside", 2 * n)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut waits = side.await.unwrap();
    let payload = &response["data"]["bulkAddCustomers"];
    assert_eq!(payload["callResults"]["initiated"], n, "{response}");
    // makeCall may wait behind one call batch (the dialling lock is held for its decisions and
    // insert): compare with the average time per call batch of the import alone.
    let batches = payload["callResults"]["batches"].as_u64().unwrap_or(1).max(1);
    let per_batch = elapsed / batches as u32;
    let max_wait = waits.iter().max().copied().unwrap_or_default();
    let p99_wait = percentile(&mut waits, 0.99);
    println!(
        "  server: {:.2} s for {n} customers and {n} calls ({batches} call batches, {:.0} ms a batch)",
        elapsed.as_secs_f64(),
        ms(per_batch)
    );
    println!(
        "  makeCall meanwhile: {} calls, p99 {:.1} ms, max {:.1} ms",
        waits.len(),
        ms(p99_wait),
        ms(max_wait)
    );
    println!("  raw SQL: the same customers, calls and events in {:.2} s (median round)", raw.as_secs_f64());
    println!("  service / raw SQL: {ratio:.2}x (target <= 1.5x)");
    handle.stop(true).await;
    vec![
        format!(
            "| {n} records, `initiateCall` (a call each), median of 3 rounds | {:.2} s | {:.2} s ({ratio:.2}×) | ≤ 1.5× | {} |",
            raw.as_secs_f64(),
            elapsed.as_secs_f64(),
            ok(ratio <= 1.5)
        ),
        format!(
            "| `makeCall` during it: {} calls, p99 / max wait | | {:.0} / {:.0} ms (a batch: {:.0} ms) | ≤ one batch | {} |",
            waits.len(),
            ms(p99_wait),
            ms(max_wait),
            ms(per_batch),
            ok(max_wait <= per_batch * 2)
        ),
    ]
}

fn ok(pass: bool) -> &'static str {
    if pass {
        "yes"
    } else {
        "**no**"
    }
}

#[tokio::main]
async fn main() {
    let args = args();
    let mut rows = Vec::new();
    if args.workflow {
        rows.extend(workflow(args.records).await);
    }
    if args.calls {
        rows.extend(calls(args.records).await);
    }
    println!("<!-- bench:bulk -->");
    println!("### Bulk: `bulkAddCustomers` against the same rows as SQL\n");
    println!(
        "`target/release/examples/bulk_bench --records {}`: the service's time against hand-written SQL inserting \
         the same rows, same database, same run.\n",
        args.records
    );
    println!("| scenario | raw SQL | service | target | ok |");
    println!("| --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
    println!("<!-- /bench -->");
}
