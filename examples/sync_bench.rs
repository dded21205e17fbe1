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
use std::time::{Duration, Instant};

use callsync::pg_cluster::LocalCluster;
use callsync::store::{self, companies};
use chrono::{Duration as ChronoDuration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::json;
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

fn customer_input(id: &str) -> serde_json::Value {
    json!({
        "id": id, "firstName": "Bench", "lastName": "Mark", "email": "bench@example.com",
        "birthday": "1980-01-01", "phoneNumber": "+12125550100", "timezone": "America/New_York",
        "taskType": "collections", "streetAddress1": "1 Main St", "city": "New York", "state": "NY",
        "zipCode": "10001"
    })
}

struct Phase {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }
    fn report(&self, name: &str) {
        println!(
            "  {name:<5} {:>8.0} syncs/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} syncs in {:.2} s)",
            self.throughput(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.latencies.len(),
            self.elapsed.as_secs_f64()
        );
    }
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

async fn http_phase(base_url: &str, api_key: &str, phase: &str, args: &Args) -> Phase {
    const SYNC: &str = "mutation($input: CustomerInput!) { syncCustomerSchedule(input: $input) { tasksCreated existingTasksRemoved } }";
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, next, url, key, phase, requests) = (
                client.clone(),
                next.clone(),
                format!("{base_url}/graphql"),
                api_key.to_string(),
                phase.to_string(),
                args.requests,
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return latencies;
                    }
                    let body = json!({"query": SYNC, "variables": {"input": customer_input(&customer_id(&phase, i, requests))}});
                    let t = Instant::now();
                    let resp: serde_json::Value =
                        client.post(&url).header("X-API-Key", &key).json(&body).send().await.unwrap().json().await.unwrap();
                    latencies.push(t.elapsed());
                    assert!(resp.get("errors").is_none(), "{resp}");
                    assert_eq!(resp["data"]["syncCustomerSchedule"]["tasksCreated"], 5);
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("worker"));
    }
    Phase { elapsed: started.elapsed(), latencies }
}

fn main() {
    let args = args();
    let mut _cluster = None;
    let admin_url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let cluster = LocalCluster::start_temporary().expect("start a throwaway Postgres cluster");
            let url = cluster.url("postgres");
            _cluster = Some(cluster);
            url
        }
    };
    let name = format!("callsync_bench_{}", Uuid::new_v4().simple());
    store::create_database_if_missing(&admin_url, &name).expect("create bench database");
    let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    let url = url.to_string();
    let mut conn = PgConnection::establish(&url).expect("connect");
    store::run_migrations(&mut conn).expect("migrate");
    let (company, key) = conn.transaction(|c| companies::create_company(c, "Bench")).expect("company");
    diesel::sql_query(
        "INSERT INTO schedules (company_id, name, task_type, calling_hours_start, calling_hours_end, cadence)
         VALUES ($1, 'Collections', 'collections', '08:00', '21:00',
           '[{\"dayOffset\":1,\"localTime\":\"10:00\"},{\"dayOffset\":2,\"localTime\":\"10:00\"},{\"dayOffset\":3,\"localTime\":\"10:00\"},
             {\"dayOffset\":4,\"localTime\":\"10:00\"},{\"dayOffset\":5,\"localTime\":\"10:00\"}]')",
    )
    .bind::<SqlUuid, _>(company.id)
    .execute(&mut conn)
    .expect("schedule");

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
        let raw = raw_phase(&url, company.id, &format!("raw{round}"), &args);
        raw.report("raw");
        let http = runtime.block_on(http_phase(&base_url, &key.api_key, &format!("http{round}"), &args));
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
    drop(conn);
    if let Ok(mut admin) = PgConnection::establish(&admin_url) {
        let _ =
            diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin);
    }
}
