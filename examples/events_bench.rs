//! Load tool (not a test): N WebSocket subscribers on a server process, syncs driven over HTTP.
//! Reports commit→delivery latency, the server's RSS per idle subscriber, and sync throughput
//! with subscribers attached against the same run without them.
//!
//!     cargo build --release --bins --examples
//!     target/release/examples/events_bench [--subscribers 10000] [--dashboards 10] [--syncs 3000] [--concurrency 16]
//!
//! Each subscriber watches one customer (`taskEvents(filter: {customerId})`, a customer page);
//! dashboards watch the whole company. Latency is measured from the event's `occurredAt` (its
//! transaction's start, so slightly before the commit) to its arrival at the client: an upper
//! bound of commit→delivery. Uses DATABASE_URL or a throwaway cluster.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

mod common;
use common::{drive_syncs, ms, percentile, BenchDb, Server};

struct Args {
    subscribers: usize,
    dashboards: usize,
    syncs: usize,
    concurrency: usize,
}

fn args() -> Args {
    let mut a = Args { subscribers: 10_000, dashboards: 10, syncs: 3000, concurrency: 16 };
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv[1..].chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok()).expect("flags take a number");
        match pair[0].as_str() {
            "--subscribers" => a.subscribers = value,
            "--dashboards" => a.dashboards = value,
            "--syncs" => a.syncs = value,
            "--concurrency" => a.concurrency = value,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

#[derive(Default)]
struct Deliveries {
    latencies: Mutex<Vec<Duration>>,
    count: AtomicUsize,
}

const TASK_EVENTS: &str =
    "subscription($filter: TaskEventFilter) { taskEvents(filter: $filter) { eventId occurredAt task { id } } }";

/// Connects, authenticates and subscribes; then records every delivery in the background.
async fn subscribe(ws_url: &str, api_key: &str, filter: Value, deliveries: Arc<Deliveries>) {
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("WebSocket connect");
    let init = json!({"type": "connection_init", "payload": {"apiKey": api_key}});
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => break,
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("no connection_ack: {other:?}"),
        }
    }
    let start = json!({"id": "1", "type": "subscribe", "payload": {"query": TASK_EVENTS, "variables": {"filter": filter}}});
    socket.send(Message::Text(start.to_string().into())).await.unwrap();
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let arrived = Utc::now();
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if let Some(at) = v["payload"]["data"]["taskEvents"]["occurredAt"].as_str() {
                let at: DateTime<Utc> = at.parse().unwrap();
                let latency = (arrived - at).to_std().unwrap_or_default();
                deliveries.latencies.lock().unwrap().push(latency);
                deliveries.count.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

fn count(url: &str, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    diesel::sql_query(sql).get_result::<N>(&mut conn).unwrap().n
}

#[tokio::main]
async fn main() {
    let args = args();
    let db = BenchDb::create();
    let (_, api_key) = db.company();
    let server = Server::start(&db.url).await;
    let ws_url = server.base_url.replacen("http://", "ws://", 1) + "/graphql";
    println!(
        "taskEvents: {} customer subscribers + {} dashboards, {} syncs (5 tasks each) at concurrency {}",
        args.subscribers, args.dashboards, args.syncs, args.concurrency
    );

    // Without subscribers.
    let ids = (0..args.syncs).map(|i| format!("base-{i}")).collect();
    let without = drive_syncs(&server.base_url, &api_key, ids, args.concurrency).await;
    without.report("none");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.rss_kib();

    // Attach the subscribers, a few hundred connecting at a time.
    let customer_subs = Arc::new(Deliveries::default());
    let dashboard_subs = Arc::new(Deliveries::default());
    let opened = Instant::now();
    let mut filters: Vec<(Value, Arc<Deliveries>)> = (0..args.subscribers)
        .map(|i| (json!({"customerId": format!("c-{i}")}), customer_subs.clone()))
        .collect();
    filters.extend((0..args.dashboards).map(|_| (json!({}), dashboard_subs.clone())));
    for chunk in filters.chunks(250) {
        futures::future::join_all(
            chunk.iter().map(|(f, d)| subscribe(&ws_url, &api_key, f.clone(), d.clone())),
        )
        .await;
    }
    println!("  {} subscriptions open in {:.1} s", filters.len(), opened.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle = server.rss_kib();

    // With subscribers: every sync's events reach its customer's subscriber and each dashboard.
    let ids = (0..args.syncs).map(|i| format!("c-{}", i % args.subscribers.max(1))).collect();
    let with = drive_syncs(&server.base_url, &api_key, ids, args.concurrency).await;
    with.report("subs");
    let written =
        count(&db.url, "SELECT count(*) AS n FROM events WHERE payload->>'customerRef' LIKE 'c-%'") as usize;
    let expected = written * (1 + args.dashboards);
    let deadline = Instant::now() + Duration::from_secs(30);
    while customer_subs.count.load(Ordering::Relaxed) + dashboard_subs.count.load(Ordering::Relaxed)
        < expected
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_busy = server.rss_kib();

    let delivered =
        customer_subs.count.load(Ordering::Relaxed) + dashboard_subs.count.load(Ordering::Relaxed);
    println!("  events written {written}; deliveries {delivered} of {expected} expected");
    for (name, d) in [("customer", &customer_subs), ("dashboard", &dashboard_subs)] {
        let mut l = d.latencies.lock().unwrap().clone();
        println!(
            "  {name:<9} deliveries {:>7}   commit→delivery p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms",
            l.len(),
            ms(percentile(&mut l, 0.50)),
            ms(percentile(&mut l, 0.99)),
            ms(percentile(&mut l, 1.0))
        );
    }
    let mut all: Vec<Duration> = customer_subs.latencies.lock().unwrap().clone();
    all.extend(dashboard_subs.latencies.lock().unwrap().iter());
    let per_sub = (rss_idle.saturating_sub(rss_before)) as f64 / filters.len().max(1) as f64;
    println!("  server RSS: {rss_before} KiB before, {rss_idle} KiB with idle subscribers, {rss_busy} KiB after the run");
    println!("  RSS per idle subscriber: {per_sub:.1} KiB (target <= 20 KB)");
    println!(
        "  commit→delivery p99 over all deliveries: {:.1} ms (target <= 100 ms)",
        ms(percentile(&mut all, 0.99))
    );
    println!(
        "  sync throughput with subscribers: {:.0}% of without (target >= 80%)",
        100.0 * with.throughput() / without.throughput()
    );
}
