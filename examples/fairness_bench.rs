//! Benchmark (not a test): one tenant flooding the service beside a quiet one (issue 27). A
//! quiet company sends one small query at a steady pace and measures its latency alone (the
//! idle slices) and while a flooding company's clients send heavy but accepted requests
//! (25 aliased searches with their counts: 50 counted reads, the cap) back to back (the flood
//! slices). The two alternate every `--slice-seconds`, so that whatever else the machine does
//! (a neighbour on the host, a timer) falls on both alike. It reports the quiet company's
//! p50/p99 alone and beside the flood, their ratio (the goal: p99 within 2× of idle),
//! and how the flooder was answered (RATE_LIMITED, SERVICE_BUSY).
//!
//!     cargo build --release --bins --examples
//!     target/release/examples/fairness_bench [--seconds 30] [--slice-seconds 3] [--flooders 8] [--customers 20000] [--pace-ms 25]
//!
//! The server is the release binary as its own process (2 workers, `--pool-size 16`, every
//! other setting its default). Uses DATABASE_URL (a role that may CREATE DATABASE; a throwaway
//! database on it) or the project's durable local cluster, as the other benchmarks do.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use serde_json::{json, Value};

mod common;
use common::{ms, percentile, BenchDb, CpuMeter, Server};

struct Args {
    /// Measured seconds of each kind (idle, flood), in slices of `slice`.
    seconds: u64,
    slice: u64,
    flooders: usize,
    customers: i64,
    pace: Duration,
}

fn args() -> Args {
    let mut a =
        Args { seconds: 30, slice: 3, flooders: 8, customers: 20_000, pace: Duration::from_millis(25) };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value: u64 = pair.get(1).and_then(|v| v.parse().ok()).expect("flags take a number");
        match pair[0].as_str() {
            "--seconds" => a.seconds = value,
            "--slice-seconds" => a.slice = value.max(1),
            "--flooders" => a.flooders = value as usize,
            "--customers" => a.customers = value as i64,
            "--pace-ms" => a.pace = Duration::from_millis(value.max(1)),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// The flooder's customers, set-wise: names drawn from small vocabularies so that a search
/// term matches many of them.
fn seed(url: &str, company: uuid::Uuid, n: i64) {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(
        "INSERT INTO customers (company_id, external_id, first_name, last_name, email, phone_number, timezone,
                                task_type, state, zip_code, city, street_address1, do_not_call, is_test,
                                timezone_inferred, created_at, updated_at)
         SELECT $1, 'f-' || i, 'First' || (i % 300), 'Last' || (i % 1000), 'f' || i || '@example.com',
                '+1212' || lpad((1000000 + i)::text, 7, '0'), 'America/New_York', 'collections', 'NY',
                '10001', 'New York', i || ' Main St', false, false, false,
                now() - interval '1 second' * i, now() - interval '1 second' * i
         FROM generate_series(1, $2::bigint) AS i",
    )
    .bind::<SqlUuid, _>(company)
    .bind::<BigInt, _>(n)
    .execute(&mut conn)
    .expect("seed the flooder's customers");
    diesel::sql_query("VACUUM ANALYZE customers").execute(&mut conn).expect("analyze");
}

/// The quiet company's one customer, and its one small query.
const QUIET_QUERY: &str = "{ customer(id: \"q-1\") { id firstName lastName } }";

/// 25 aliases, each a search with its exact count (50 counted reads, the cap): accepted, and
/// heavy.
fn flood_query() -> String {
    let fields: Vec<String> = (0..25)
        .map(|i| {
            format!(
                "a{i}: customers(first: 5, filter: {{search: \"last{}\"}}) {{ totalCount nodes {{ id }} }}",
                i % 97
            )
        })
        .collect();
    format!("{{ {} }}", fields.join(" "))
}

#[derive(Default)]
struct Answers {
    ok: AtomicU64,
    rate_limited: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

impl Answers {
    fn count(&self, body: &Value) {
        let codes: Vec<&str> = body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["extensions"]["code"].as_str()).collect())
            .unwrap_or_default();
        let counter = if codes.is_empty() {
            &self.ok
        } else if codes.contains(&"RATE_LIMITED") {
            &self.rate_limited
        } else if codes.contains(&"SERVICE_BUSY") {
            &self.busy
        } else {
            &self.other
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn line(&self) -> String {
        format!(
            "{} ok, {} RATE_LIMITED, {} SERVICE_BUSY, {} other errors",
            self.ok.load(Ordering::Relaxed),
            self.rate_limited.load(Ordering::Relaxed),
            self.busy.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed)
        )
    }
}

async fn post(client: &reqwest::Client, url: &str, key: &str, query: &str) -> Value {
    match client.post(url).header("X-API-Key", key).json(&json!({"query": query})).send().await {
        Ok(response) => {
            response.json().await.unwrap_or_else(|e| json!({"errors": [{"message": e.to_string()}]}))
        }
        Err(e) => json!({"errors": [{"message": e.to_string()}]}),
    }
}

/// The quiet company: one query every `pace` (sent on schedule whether or not the last one
/// answered, so a slow answer cannot hide the ones queued behind it) for `length`, its
/// answers counted into `answers`.
async fn quiet(
    url: &str,
    key: &str,
    pace: Duration,
    length: Duration,
    answers: &Arc<Answers>,
) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut ticks = tokio::time::interval(pace);
    let end = Instant::now() + length;
    let mut sent = Vec::new();
    while Instant::now() < end {
        ticks.tick().await;
        let (client, url, key, answers) = (client.clone(), url.to_string(), key.to_string(), answers.clone());
        sent.push(tokio::spawn(async move {
            let t = Instant::now();
            let body = post(&client, &url, &key, QUIET_QUERY).await;
            let took = t.elapsed();
            answers.count(&body);
            took
        }));
    }
    let mut latencies = Vec::new();
    for s in sent {
        latencies.push(s.await.expect("quiet request"));
    }
    latencies
}

fn stats(latencies: &[Duration]) -> (f64, f64) {
    let mut l = latencies.to_vec();
    (ms(percentile(&mut l, 0.50)), ms(percentile(&mut l, 0.99)))
}

fn main() {
    let args = args();
    let db = BenchDb::create();
    let (quiet_company, quiet_key) = db.company();
    let (flood_company, flood_key) = db.company();
    let _ = quiet_company;
    println!("seeding {} customers for the flooding company…", args.customers);
    seed(&db.url, flood_company, args.customers);
    let mut conn = PgConnection::establish(&db.url).expect("connect");
    diesel::sql_query(
        "INSERT INTO customers (company_id, external_id, first_name, last_name, timezone, task_type, state,
                                do_not_call, is_test, timezone_inferred, created_at, updated_at)
         VALUES ($1, 'q-1', 'Quiet', 'Customer', 'America/New_York', 'collections', 'NY', false, false, false, now(), now())",
    )
    .bind::<SqlUuid, _>(quiet_company)
    .execute(&mut conn)
    .expect("the quiet company's customer");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = runtime.block_on(Server::start(&db.url));
    let url = format!("{}/graphql", server.base_url);
    let flood = flood_query();

    runtime.block_on(async {
        // Warm-up: both queries once, so neither phase pays for a cold cache.
        let client = reqwest::Client::new();
        let body = post(&client, &url, &quiet_key, QUIET_QUERY).await;
        assert_eq!(body["data"]["customer"]["id"], "q-1", "{body}");
        let body = post(&client, &url, &flood_key, &flood).await;
        assert!(
            body["errors"].is_null(),
            "the flood query is accepted: {}",
            &body.to_string()[..300.min(body.to_string().len())]
        );
        let t = Instant::now();
        post(&client, &url, &flood_key, &flood).await;
        println!("one flood request alone: {:.0} ms", ms(t.elapsed()));
    });

    let slices = args.seconds.div_ceil(args.slice).max(1);
    println!(
        "the quiet company, one query every {} ms: {slices} slices of {} s alone, each followed by one beside {} clients of the flooding company…",
        args.pace.as_millis(),
        args.slice,
        args.flooders
    );
    let flooding = Arc::new(AtomicBool::new(false));
    // Flood requests not yet answered: an alone slice starts only once none is left.
    let in_flight = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flood_answers = Arc::new(Answers::default());
    let (idle_answers, busy_answers) = (Arc::new(Answers::default()), Arc::new(Answers::default()));
    let (mut idle, mut busy) = (Vec::new(), Vec::new());
    let (mut idle_cpu, mut busy_cpu) = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0));
    let add = |sum: &mut (f64, f64, f64), cpu: (f64, f64, f64)| {
        *sum = (sum.0 + cpu.0, sum.1 + cpu.1, sum.2 + cpu.2);
    };
    // Long enough for the flood's requests in flight to end, or for a new flood to fill the server.
    let settle = Duration::from_secs(1);
    let slice = Duration::from_secs(args.slice);
    runtime.block_on(async {
        let flooders: Vec<_> = (0..args.flooders)
            .map(|_| {
                let (url, key, flood, stop, flooding, in_flight, answers) = (
                    url.clone(),
                    flood_key.clone(),
                    flood.clone(),
                    stop.clone(),
                    flooding.clone(),
                    in_flight.clone(),
                    flood_answers.clone(),
                );
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    while !stop.load(Ordering::Relaxed) {
                        if !flooding.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        let body = post(&client, &url, &key, &flood).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        answers.count(&body);
                        if body["errors"][0]["extensions"]["code"] == "RATE_LIMITED" {
                            // As a well-behaved client would: wait as told.
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                })
            })
            .collect();
        for _ in 0..slices {
            while in_flight.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // And the server's memory of a busy company (a second) is gone.
            tokio::time::sleep(settle).await;
            let meter = CpuMeter::start(Some(server.pid()));
            idle.extend(quiet(&url, &quiet_key, args.pace, slice, &idle_answers).await);
            add(&mut idle_cpu, meter.per_op(1.0));
            flooding.store(true, Ordering::Relaxed);
            tokio::time::sleep(settle).await;
            let meter = CpuMeter::start(Some(server.pid()));
            busy.extend(quiet(&url, &quiet_key, args.pace, slice, &busy_answers).await);
            add(&mut busy_cpu, meter.per_op(1.0));
            flooding.store(false, Ordering::Relaxed);
        }
        stop.store(true, Ordering::Relaxed);
        for f in flooders {
            f.await.expect("flooder");
        }
    });

    let (idle_p50, idle_p99) = stats(&idle);
    let (busy_p50, busy_p99) = stats(&busy);
    let ratio = busy_p99 / idle_p99;
    println!(
        "  alone quiet: {} requests, p50 {idle_p50:.2} ms, p99 {idle_p99:.2} ms ({})",
        idle.len(),
        idle_answers.line()
    );
    println!(
        "  flood quiet: {} requests, p50 {busy_p50:.2} ms, p99 {busy_p99:.2} ms ({})",
        busy.len(),
        busy_answers.line()
    );
    println!("  flooder: {}", flood_answers.line());
    println!(
        "  CPU s (server / Postgres / client): idle {:.1} / {:.1} / {:.1}, flood {:.1} / {:.1} / {:.1}",
        idle_cpu.0 / 1e3,
        idle_cpu.1 / 1e3,
        idle_cpu.2 / 1e3,
        busy_cpu.0 / 1e3,
        busy_cpu.1 / 1e3,
        busy_cpu.2 / 1e3
    );
    println!("quiet p99 flood / idle: {ratio:.2}× (goal ≤ 2×)");

    let ok = if ratio <= 2.0 { "yes" } else { "**no**" };
    println!("<!-- bench:fairness -->");
    println!("### Fairness: a quiet company beside a flooding one\n");
    println!(
        "`target/release/examples/fairness_bench --seconds {} --slice-seconds {} --flooders {} --customers {} --pace-ms {}`: \
         the quiet company's `customer(id)` every {} ms, alone and beside {} clients of another company sending \
         25 aliased searches with counts each (the cap of 50 counts and searches), back to back, over {} customers; \
         {} s of each, alternating every {} s so that the machine's own noise falls on both.\n",
        args.seconds,
        args.slice,
        args.flooders,
        args.customers,
        args.pace.as_millis(),
        args.pace.as_millis(),
        args.flooders,
        args.customers,
        args.seconds,
        args.slice
    );
    println!("| measure | alone | beside the flood | target | ok |");
    println!("| --- | --- | --- | --- | --- |");
    println!("| quiet p50 ms | {idle_p50:.2} | {busy_p50:.2} | | |");
    println!("| quiet p99 ms | {idle_p99:.2} | {busy_p99:.2} ({ratio:.2}×) | ≤ 2× idle | {ok} |");
    println!(
        "| quiet errors | {} | {} | 0 | |",
        idle.len() as u64 - idle_answers.ok.load(Ordering::Relaxed),
        busy.len() as u64 - busy_answers.ok.load(Ordering::Relaxed)
    );
    println!("| flooder answers | – | {} | | |", flood_answers.line());
    println!("<!-- /bench -->");
    drop(server);
}
