//! Benchmark (not a test): `syncCustomerSchedule` over real HTTP against the SQL baseline of
//! `bench/` (the least SQL one sync needs, run by pgbench), on the same durable database in the
//! same run.
//!
//!     cargo build --release --bins --examples
//!     target/release/examples/sync_bench [--seconds 15] [--clients 8] [--rounds 2]
//!
//! Each round runs the baseline (`pgbench -n -M prepared -c 8 -j 2 -T 15 -f
//! bench/baseline_sync.sql`), then the service (its own process, 8 HTTP clients, a 5-step
//! cadence, customer ids drawn at random from a pool of 100,000, as the baseline's are) for the
//! same time. Besides throughput and latency it reports where the CPU went per sync (the server
//! process, every Postgres process, the load client): on 2 cores the three share the machine.
//! Uses DATABASE_URL (a role that may CREATE DATABASE) or the project's local cluster.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{customer_input, ms, percentile, BenchDb, CpuMeter, Server, SYNC};
use rand::Rng;
use serde_json::json;

struct Args {
    seconds: u64,
    clients: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args { seconds: 15, clients: 8, rounds: 2 };
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv[1..].chunks(2) {
        let value: u64 = pair.get(1).and_then(|v| v.parse().ok()).expect("flags take a number");
        match pair[0].as_str() {
            "--seconds" => a.seconds = value,
            "--clients" => a.clients = value as usize,
            "--rounds" => a.rounds = value as usize,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// The customer ids both sides draw from.
const ID_POOL: usize = 100_000;

struct Measured {
    per_second: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    /// CPU milliseconds per operation: (server, postgres, load client).
    cpu: (f64, f64, f64),
}

fn bench_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/bench"))
}

/// pgbench over the baseline script; its own CPU is the load client's.
fn baseline(url: &str, args: &Args) -> Measured {
    let psql = |sql_file: &str| {
        let status = Command::new("psql")
            .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(bench_dir().join(sql_file))
            .status()
            .expect("psql (the PostgreSQL client) on PATH");
        assert!(status.success(), "psql -f {sql_file} failed");
    };
    psql("baseline_setup.sql");
    let meter = CpuMeter::start(None);
    let out = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &args.clients.to_string(), "-j", "2"])
        .args(["-T", &args.seconds.to_string(), "-f"])
        .arg(bench_dir().join("baseline_sync.sql"))
        .arg(url)
        .output()
        .expect("pgbench (PostgreSQL's benchmark tool) on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pgbench failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let field = |prefix: &str| -> f64 {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}` in pgbench's output:\n{stdout}"))
    };
    let tps = field("tps =");
    let transactions = field("number of transactions actually processed:");
    let cpu = meter.per_op(transactions);
    Command::new("psql").args([url, "-q", "-c", "DROP SCHEMA perf_baseline CASCADE"]).status().unwrap();
    Measured { per_second: tps, p50: None, p99: None, cpu }
}

/// The service: `clients` HTTP clients syncing random customers of the pool for `seconds`.
async fn service(server: &Server, api_key: &str, args: &Args) -> Measured {
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let meter = CpuMeter::start(Some(server.pid()));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.clients)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            let (url, key) = (format!("{}/graphql", server.base_url), api_key.to_string());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("c{}", rand::thread_rng().gen_range(0..ID_POOL));
                    let body = json!({"query": SYNC, "variables": {"input": customer_input(&id)}});
                    let t = Instant::now();
                    let resp: serde_json::Value = client
                        .post(&url)
                        .header("X-API-Key", &key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    latencies.push(t.elapsed());
                    assert!(resp.get("errors").is_none(), "{resp}");
                    assert_eq!(resp["data"]["syncCustomerSchedule"]["tasksCreated"], 5, "{resp}");
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("client"));
    }
    let elapsed = started.elapsed();
    let cpu = meter.per_op(latencies.len() as f64);
    Measured {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: Some(percentile(&mut latencies, 0.50)),
        p99: Some(percentile(&mut latencies, 0.99)),
        cpu,
    }
}

fn latency(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2}", ms(d))).unwrap_or_else(|| "–".into())
}

fn main() {
    let args = args();
    let db = BenchDb::create();
    let (_company_id, api_key) = db.company();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = runtime.block_on(Server::start(&db.url));

    println!(
        "syncCustomerSchedule vs the SQL baseline: {} clients, {} s per phase, {} rounds, ids from a pool of {ID_POOL}",
        args.clients, args.seconds, args.rounds
    );
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let base = baseline(&db.url, &args);
        let http = runtime.block_on(service(&server, &api_key, &args));
        let ratio = http.per_second / base.per_second;
        for (name, m) in [("baseline", &base), ("service", &http)] {
            println!(
                "  round {round} {name:<8} {:>7.0}/s  p50 {:>6} ms  p99 {:>6} ms  CPU ms/sync: server {:.2}  postgres {:.2}  client {:.2}",
                m.per_second, latency(m.p50), latency(m.p99), m.cpu.0, m.cpu.1, m.cpu.2
            );
        }
        println!("  round {round} service / baseline: {:.0}%", ratio * 100.0);
        rounds.push((ratio, base, http));
    }
    rounds.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let (ratio, base, http) = &rounds[rounds.len() / 2];
    println!("median service / baseline over {} rounds: {:.0}% (target >= 50%)", args.rounds, ratio * 100.0);

    let ok = |pass: bool| if pass { "yes" } else { "**no**" };
    println!("<!-- bench:sync -->");
    println!("### Sync: `syncCustomerSchedule` against the SQL baseline\n");
    println!(
        "`target/release/examples/sync_bench --seconds {} --clients {} --rounds {}`: {} HTTP clients \
         against pgbench with {} clients over `bench/baseline_sync.sql`, same database, same run \
         (median round).\n",
        args.seconds, args.clients, args.rounds, args.clients, args.clients
    );
    println!("| measure | baseline (SQL) | service (HTTP) | target | ok |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| syncs/s | {:.0} | {:.0} ({:.0}%) | ≥ 50% | {} |",
        base.per_second,
        http.per_second,
        ratio * 100.0,
        ok(*ratio >= 0.5)
    );
    println!("| p50 ms | – | {} | | |", latency(http.p50));
    let p99_ok = http.p99.is_some_and(|d| d <= Duration::from_millis(25));
    println!("| p99 ms | – | {} | ≤ 25 | {} |", latency(http.p99), ok(p99_ok));
    println!(
        "| CPU ms per sync: server / Postgres / client | – / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | | |",
        base.cpu.1, base.cpu.2, http.cpu.0, http.cpu.1, http.cpu.2
    );
    println!("<!-- /bench -->");
}
