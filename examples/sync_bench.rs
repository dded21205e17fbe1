//! Benchmark (not a test): syncCustomerSchedule over real HTTP at a fixed concurrency, next to
//! the same transaction as hand-written SQL on the same database in the same run (the ceiling).
//!
//!     cargo run --release --example sync_bench -- [--requests 3000] [--concurrency 16] [--rounds 2]
//!
//! Uses DATABASE_URL (a role that may CREATE DATABASE) or a throwaway local cluster. Each round
//! runs the raw-SQL phase and then the HTTP phase over fresh customer ids (half the syncs in each
//! phase update a customer synced earlier in that phase, so pending tasks get cancelled too).

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use callsync::store;
use chrono::{Duration as ChronoDuration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Text, Timestamptz, Uuid as SqlUuid};

mod common;
use common::{drive_syncs, BenchDb, Phase};
use uuid::Uuid;

struct Args {
    requests: usize,
    concurrency: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args { requests: 3000, concurrency: 16, rounds: 2 };
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv[1..].chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok()).expect("flags take a number");
        match pair[0].as_str() {
            "--requests" => a.requests = value,
            "--concurrency" => a.concurrency = value,
            "--rounds" => a.rounds = value,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// The customer of sync number `i` of a phase: every id is synced twice.
fn customer_id(phase: &str, i: usize, requests: usize) -> String {
    format!("{phase}-{}", i % (requests / 2).max(1))
}

/// The sync transaction as plain SQL: lock or insert the customer, cancel its pending tasks
/// with events, read the schedule, suppression, prior attempts and rules, insert the new tasks
/// with events. Task instants are computed in Rust, as the server's builder does.
fn raw_sync(conn: &mut PgConnection, company_id: Uuid, external_id: &str) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    #[derive(QueryableByName)]
    struct Schedule {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    #[derive(QueryableByName)]
    struct Flag {
        #[diesel(sql_type = Bool)]
        #[allow(dead_code)]
        flag: bool,
    }
    conn.transaction(|conn| {
        let existing: Option<Id> = diesel::sql_query(
            "SELECT id FROM customers WHERE company_id = $1 AND external_id = $2 FOR UPDATE",
        )
        .bind::<SqlUuid, _>(company_id)
        .bind::<Text, _>(external_id)
        .get_result(conn)
        .optional()?;
        let _types: Vec<Flag> = diesel::sql_query(
            "SELECT true AS flag FROM schedules WHERE company_id = $1 AND deleted_at IS NULL",
        )
        .bind::<SqlUuid, _>(company_id)
        .load(conn)?;
        let customer_id = match existing {
            Some(c) => {
                diesel::sql_query(
                    "UPDATE customers SET first_name = 'Bench', email = 'bench@example.com', updated_at = now() WHERE id = $1",
                )
                .bind::<BigInt, _>(c.id)
                .execute(conn)?;
                c.id
            }
            None => {
                diesel::sql_query(
                    "INSERT INTO customers (company_id, external_id, first_name, last_name, email, birthday, phone_number,
                       timezone, task_type, street_address1, city, state, zip_code)
                     VALUES ($1, $2, 'Bench', 'Mark', 'bench@example.com', '1980-01-01', '+12125550100',
                       'America/New_York', 'collections', '1 Main St', 'New York', 'NY', '10001')
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind::<SqlUuid, _>(company_id)
                .bind::<Text, _>(external_id)
                .get_result::<Id>(conn)?
                .id
            }
        };
        diesel::sql_query(
            "WITH cancelled AS (
               UPDATE tasks SET status = 'CANCELLED', updated_at = now()
               WHERE company_id = $1 AND customer_id = $2 AND status = 'PENDING'
               RETURNING id, customer_id, schedule_id)
             INSERT INTO events (company_id, kind, payload)
             SELECT $1, 'TASK_STATUS_CHANGED', jsonb_build_object('taskId', id, 'customerId', customer_id,
               'scheduleId', schedule_id, 'status', 'CANCELLED', 'previousStatus', 'PENDING') FROM cancelled",
        )
        .bind::<SqlUuid, _>(company_id)
        .bind::<BigInt, _>(customer_id)
        .execute(conn)?;
        let schedule: Schedule = diesel::sql_query(
            "SELECT id FROM schedules WHERE company_id = $1 AND task_type = 'collections' AND deleted_at IS NULL",
        )
        .bind::<SqlUuid, _>(company_id)
        .get_result(conn)?;
        let _suppressed: Flag = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM suppressed_numbers WHERE company_id = $1 AND phone_number = '+12125550100') AS flag",
        )
        .bind::<SqlUuid, _>(company_id)
        .get_result(conn)?;
        let _prior: Vec<Flag> = diesel::sql_query(
            "SELECT true AS flag FROM tasks WHERE company_id = $1 AND customer_id = $2
               AND status IN ('IN_PROGRESS', 'COMPLETED', 'FAILED') AND scheduled_for >= now() - interval '8 days'",
        )
        .bind::<SqlUuid, _>(company_id)
        .bind::<BigInt, _>(customer_id)
        .load(conn)?;
        let _rules: Flag = diesel::sql_query("SELECT state_rules IS NOT NULL AS flag FROM companies WHERE id = $1")
            .bind::<SqlUuid, _>(company_id)
            .get_result(conn)?;
        let base = Utc::now().date_naive().and_hms_opt(15, 0, 0).unwrap().and_utc();
        let times: Vec<_> = (1..=5).map(|d| base + ChronoDuration::days(d)).collect();
        let attempts: Vec<i32> = (1..=5).collect();
        diesel::sql_query(
            "WITH created AS (
               INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone)
               SELECT $1, $2, $3, 'collections', 'PENDING', a, t, 'America/New_York'
               FROM unnest($4::int[], $5::timestamptz[]) AS u(a, t)
               RETURNING id, customer_id, schedule_id)
             INSERT INTO events (company_id, kind, payload)
             SELECT $1, 'TASK_CREATED', jsonb_build_object('taskId', id, 'customerId', customer_id,
               'scheduleId', schedule_id, 'status', 'PENDING', 'previousStatus', NULL) FROM created",
        )
        .bind::<SqlUuid, _>(company_id)
        .bind::<BigInt, _>(customer_id)
        .bind::<SqlUuid, _>(schedule.id)
        .bind::<Array<Integer>, _>(attempts)
        .bind::<Array<Timestamptz>, _>(times)
        .execute(conn)?;
        Ok(())
    })
}

fn raw_phase(url: &str, company_id: Uuid, phase: &str, args: &Args) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (next, url, phase, requests) =
                (next.clone(), url.to_string(), phase.to_string(), args.requests);
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connect");
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return latencies;
                    }
                    let t = Instant::now();
                    raw_sync(&mut conn, company_id, &customer_id(&phase, i, requests)).expect("raw sync");
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let latencies = handles.into_iter().flat_map(|h| h.join().expect("worker")).collect();
    Phase { elapsed: started.elapsed(), latencies }
}

fn main() {
    let args = args();
    let db = BenchDb::create();
    let url = db.url.clone();
    let (company_id, api_key) = db.company();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let pool_size = (args.concurrency as u32).clamp(4, 32);
    let pool = store::connect_pool(&url, pool_size).expect("pool");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let server = runtime.block_on(async {
        let (server, _) = callsync::http::serve(
            listener,
            callsync::http::AppState::new(pool, &url, callsync::events::HubConfig::default()),
            2,
        )
        .unwrap();
        let handle = server.handle();
        tokio::spawn(server);
        handle
    });

    println!(
        "syncCustomerSchedule: {} syncs per phase, concurrency {}, 5 tasks per sync, {} rounds",
        args.requests, args.concurrency, args.rounds
    );
    let mut ratios = Vec::new();
    for round in 0..args.rounds {
        println!("round {}:", round + 1);
        let raw = raw_phase(&url, company_id, &format!("raw{round}"), &args);
        raw.report("raw");
        let ids =
            (0..args.requests).map(|i| customer_id(&format!("http{round}"), i, args.requests)).collect();
        let http = runtime.block_on(drive_syncs(&base_url, &api_key, ids, args.concurrency));
        http.report("http");
        let ratio = http.throughput() / raw.throughput();
        println!("  http / raw throughput: {:.0}%", ratio * 100.0);
        ratios.push(ratio);
    }
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "median http / raw throughput over {} rounds: {:.0}% (target >= 50%)",
        ratios.len(),
        ratios[ratios.len() / 2] * 100.0
    );

    runtime.block_on(server.stop(true));
}
