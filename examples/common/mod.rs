//! Shared by the benchmarks: a fresh database on DATABASE_URL or on the project's own durable
//! local cluster (`.callsync/pgdata`, as `callsync serve` uses), a company with a 5-step
//! schedule, and latency statistics.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callsync::pg_cluster::LocalCluster;
use callsync::store;
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use serde_json::json;
use uuid::Uuid;

/// A migrated database, dropped with this value.
pub struct BenchDb {
    pub url: String,
    admin_url: String,
    name: String,
    _cluster: Option<LocalCluster>,
}

impl BenchDb {
    pub fn create() -> BenchDb {
        let mut cluster = None;
        let admin_url = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                // Durable (fsync on), as in production: a throwaway cluster with fsync off would
                // flatter every write path.
                let data_dir = std::path::Path::new(callsync::config::DEFAULT_DATA_DIR).join("pgdata");
                let c = LocalCluster::ensure_running(&data_dir).expect("start the local Postgres cluster");
                let url = c.url("postgres");
                cluster = Some(c);
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
        BenchDb { url, admin_url, name, _cluster: cluster }
    }

    /// A company with a "collections" schedule of 5 daily steps: (company id, API key).
    pub fn company(&self) -> (Uuid, String) {
        let mut conn = PgConnection::establish(&self.url).expect("connect");
        let (company, key) = conn
            .transaction(|c| callsync::app::company::create(c, "Bench", chrono::Utc::now()))
            .expect("company");
        diesel::sql_query(
            "INSERT INTO schedules (company_id, name, task_type, calling_hours_start, calling_hours_end, created_at,
                                    updated_at, cadence)
             VALUES ($1, 'Collections', 'collections', '08:00', '21:00', now(), now(),
               '[{\"dayOffset\":1,\"localTime\":\"10:00\"},{\"dayOffset\":2,\"localTime\":\"10:00\"},{\"dayOffset\":3,\"localTime\":\"10:00\"},
                 {\"dayOffset\":4,\"localTime\":\"10:00\"},{\"dayOffset\":5,\"localTime\":\"10:00\"}]')",
        )
        .bind::<SqlUuid, _>(company.id)
        .execute(&mut conn)
        .expect("schedule");
        (company.id, key.api_key)
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
                .execute(&mut admin);
        }
    }
}

pub fn customer_input(id: &str) -> serde_json::Value {
    json!({
        "id": id, "firstName": "Bench", "lastName": "Mark", "email": "bench@example.com",
        "birthday": "1980-01-01", "phoneNumber": "+12125550100", "timezone": "America/New_York",
        "taskType": "collections", "streetAddress1": "1 Main St", "city": "New York", "state": "NY",
        "zipCode": "10001"
    })
}

pub const SYNC: &str =
    "mutation($input: CustomerInput!) { syncCustomerSchedule(input: $input) { tasksCreated existingTasksRemoved } }";

/// The `p`-quantile (0..=1) of `samples`, which it sorts.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A timed run of operations.
pub struct Phase {
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Phase {
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn report(&self, name: &str) {
        let mut l = self.latencies.clone();
        println!(
            "  {name:<5} {:>8.0} syncs/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} syncs in {:.2} s)",
            self.throughput(),
            ms(percentile(&mut l, 0.50)),
            ms(percentile(&mut l, 0.99)),
            self.latencies.len(),
            self.elapsed.as_secs_f64()
        );
    }
}

/// Syncs the customers `ids` over HTTP, `concurrency` requests in flight.
pub async fn drive_syncs(base_url: &str, api_key: &str, ids: Vec<String>, concurrency: usize) -> Phase {
    let client = reqwest::Client::new();
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, ids, next) = (client.clone(), ids.clone(), next.clone());
            let (url, key) = (format!("{base_url}/graphql"), api_key.to_string());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while let Some(id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let body = json!({"query": SYNC, "variables": {"input": customer_input(id)}});
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
                    assert_eq!(resp["data"]["syncCustomerSchedule"]["tasksCreated"], 5);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("worker"));
    }
    Phase { elapsed: started.elapsed(), latencies }
}

/// The server's `CALLSYNC_SECRET_KEY` (fixed, so a tool can open the event ids it receives).
pub const BENCH_SECRET_KEY: &str = "YmVuY2ggc2VjcmV0IGtleSwgbmV2ZXIgaW4gcHJvZCE=";

/// The `callsync` server as its own process, so its memory is measured alone.
pub struct Server {
    child: Child,
    pub base_url: String,
}

impl Server {
    pub async fn start(database_url: &str) -> Server {
        let exe = std::env::current_exe().expect("current exe");
        let binary = exe.parent().and_then(|p| p.parent()).expect("target dir").join("callsync");
        assert!(binary.exists(), "build the server first: cargo build --release --bins --examples");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(binary)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "2", "--pool-size", "16"])
            .env("DATABASE_URL", database_url)
            .env("CALLSYNC_SECRET_KEY", BENCH_SECRET_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start callsync serve");
        let base_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{base_url}/readyz")).await.map(|r| r.status() != 200).unwrap_or(true) {
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Server { child, base_url }
    }

    /// Resident memory now.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Peak resident memory so far (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// CPU time used by (the server process, every Postgres process, this process and the children
/// it has waited for), from /proc, in clock ticks.
pub struct CpuMeter {
    server: Option<u32>,
    start: (u64, u64, u64),
}

/// Linux's USER_HZ on every mainstream architecture.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuMeter {
    pub fn start(server: Option<u32>) -> CpuMeter {
        CpuMeter { server, start: cpu_ticks(server) }
    }

    /// CPU milliseconds per operation since the start: (server, Postgres, load client).
    pub fn per_op(&self, operations: f64) -> (f64, f64, f64) {
        let now = cpu_ticks(self.server);
        let per =
            |a: u64, b: u64| (a.saturating_sub(b)) as f64 * 1e3 / TICKS_PER_SECOND / operations.max(1.0);
        (per(now.0, self.start.0), per(now.1, self.start.1), per(now.2, self.start.2))
    }
}

/// (utime + stime, cutime + cstime) of a process, in ticks.
fn process_ticks(pid: &str) -> Option<(String, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces; the fields follow the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let f: Vec<u64> = rest.split_whitespace().skip(11).take(4).filter_map(|v| v.parse().ok()).collect();
    (f.len() == 4).then(|| (comm, f[0] + f[1], f[2] + f[3]))
}

fn cpu_ticks(server: Option<u32>) -> (u64, u64, u64) {
    let server = server.and_then(|pid| process_ticks(&pid.to_string())).map(|(_, own, _)| own).unwrap_or(0);
    // Backends that exited are counted in the postmaster's children's time.
    let mut postgres = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.bytes().all(|b| b.is_ascii_digit()) {
            if let Some((comm, own, children)) = process_ticks(&name) {
                if comm == "postgres" || comm == "postmaster" {
                    postgres += own + children;
                }
            }
        }
    }
    let client = process_ticks("self").map(|(_, own, children)| own + children).unwrap_or(0);
    (server, postgres, client)
}
