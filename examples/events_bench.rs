//! Load tool (not a test): WebSocket subscribers on a server process, syncs driven over HTTP.
//!
//!     cargo build --release --bins --examples
//!     target/release/examples/events_bench [--subscribers 10000] [--dashboards 0] [--syncs 2000]
//!         [--concurrency 16] [--hot 2000] [--hot-syncs 20]
//!
//! 1. Sync throughput with no subscriber attached.
//! 2. Idle memory: opens `--subscribers` connections (each then watches one customer,
//!    `taskEvents(filter: {customerId})`, a customer page) plus `--dashboards` company-wide
//!    ones, and reads the server's RSS after each step (connected, `connection_ack`,
//!    subscribed), so the per-subscriber figure splits into connection, session and
//!    subscription.
//! 3. Normal stream: `--syncs` syncs of those customers with the subscribers attached
//!    (throughput against step 1, commit→delivery latency, deliveries against the events
//!    written).
//! 4. Hot stream: `--hot` more subscribers all on ONE customer, then `--hot-syncs` syncs of that
//!    customer one after another (each cancels the customer's pending tasks and creates new ones:
//!    ~10 events a sync). Every subscriber must receive every event, in order.
//!
//! Latency is measured from the event's `occurredAt` (its transaction's start, so slightly
//! before the commit) to its arrival at the client: an upper bound of commit→delivery. The
//! server is its own process so that its memory is measured alone; it shares the 2 cores with
//! Postgres and this client. Uses DATABASE_URL or a throwaway cluster. Besides the human output,
//! ends with a markdown block (between `<!-- bench:events -->` and `<!-- /bench -->`) for
//! BENCHMARKS.md.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod common;
use common::{drive_syncs, ms, percentile, BenchDb, Server};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Args {
    subscribers: usize,
    dashboards: usize,
    syncs: usize,
    concurrency: usize,
    hot: usize,
    hot_syncs: usize,
}

fn args() -> Args {
    let mut a =
        Args { subscribers: 10_000, dashboards: 0, syncs: 2000, concurrency: 16, hot: 2000, hot_syncs: 20 };
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv[1..].chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok()).expect("flags take a number");
        match pair[0].as_str() {
            "--subscribers" => a.subscribers = value,
            "--dashboards" => a.dashboards = value,
            "--syncs" => a.syncs = value,
            "--concurrency" => a.concurrency = value,
            "--hot" => a.hot = value,
            "--hot-syncs" => a.hot_syncs = value,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// What a group of subscribers received.
#[derive(Default)]
struct Deliveries {
    /// One list per subscriber (its own lock, never contended): commit→delivery latencies.
    subscribers: Mutex<Vec<Arc<Mutex<Vec<Duration>>>>>,
    count: AtomicUsize,
    /// Subscribers that saw an event id not greater than the one before.
    out_of_order: AtomicUsize,
}

impl Deliveries {
    fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn latencies(&self) -> Vec<Duration> {
        self.subscribers.lock().unwrap().iter().flat_map(|l| l.lock().unwrap().clone()).collect()
    }
}

/// The server's key and the bench company, to open event ids (set once the company exists).
static EVENT_IDS: std::sync::OnceLock<(callsync::secrets::Secrets, uuid::Uuid)> = std::sync::OnceLock::new();

/// The global number behind an event id of the bench company.
fn global_event(id: &str) -> Option<i64> {
    let (secrets, company) = EVENT_IDS.get()?;
    secrets.ids().event(*company, id)
}

/// The string value of `"field":"…"` in `text`: the client stays cheap (no JSON tree per
/// message), since it shares the cores with the server it measures.
fn string_field<'t>(text: &'t str, field: &str) -> Option<&'t str> {
    let start = text.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

const TASK_EVENTS: &str =
    "subscription($filter: TaskEventFilter) { taskEvents(filter: $filter) { eventId occurredAt task { id } } }";

/// Each of `jobs`, at most `width` at a time (thousands of connects at once overflow the
/// listen backlog).
async fn in_chunks<T, F: std::future::Future<Output = T>>(
    jobs: impl IntoIterator<Item = F>,
    width: usize,
) -> Vec<T> {
    futures::stream::iter(jobs).buffered(width).collect().await
}

async fn connect(ws_url: &str) -> Socket {
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("WebSocket connect").0
}

async fn init(mut socket: Socket, api_key: &str) -> Socket {
    let init = json!({"type": "connection_init", "payload": {"apiKey": api_key}});
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => return socket,
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("no connection_ack: {other:?}"),
        }
    }
}

/// Subscribes, then records every delivery in the background.
async fn subscribe(mut socket: Socket, filter: Value, deliveries: Arc<Deliveries>) {
    let start = json!({"id": "1", "type": "subscribe", "payload": {"query": TASK_EVENTS, "variables": {"filter": filter}}});
    socket.send(Message::Text(start.to_string().into())).await.unwrap();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    deliveries.subscribers.lock().unwrap().push(latencies.clone());
    tokio::spawn(async move {
        let mut last_id = 0i64;
        let mut in_order = true;
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let arrived = Utc::now();
            let Some(at) = string_field(&text, "occurredAt") else { continue };
            let at: DateTime<Utc> = at.parse().unwrap();
            latencies.lock().unwrap().push((arrived - at).to_std().unwrap_or_default());
            deliveries.count.fetch_add(1, Ordering::Relaxed);
            // Event ids are opaque; the bench knows the server's key and opens them to their order.
            let id = string_field(&text, "eventId").and_then(global_event).unwrap_or(0);
            if id <= last_id && in_order {
                in_order = false;
                deliveries.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
            last_id = id;
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

/// Waits (up to 60 s) until `groups` together hold `expected` deliveries.
async fn wait_for(groups: &[&Deliveries], expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while groups.iter().map(|d| d.count()).sum::<usize>() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Anything beyond the expected count (a duplicate) would arrive right after.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Raises the open-file limit to the hard limit: ten thousand sockets each side. The server
/// process inherits it.
fn raise_fd_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// One row of the markdown table.
struct Row {
    measure: String,
    value: String,
    target: &'static str,
    ok: Option<bool>,
}

fn row(measure: impl Into<String>, value: impl Into<String>, target: &'static str, ok: Option<bool>) -> Row {
    Row { measure: measure.into(), value: value.into(), target, ok }
}

fn p50_p99(latencies: &mut [Duration]) -> (f64, f64) {
    (ms(percentile(latencies, 0.50)), ms(percentile(latencies, 0.99)))
}

#[tokio::main]
async fn main() {
    let args = args();
    raise_fd_limit();
    let db = BenchDb::create();
    let (company_id, api_key) = db.company();
    let key = callsync::secrets::SecretKey::parse(common::BENCH_SECRET_KEY).expect("the bench key");
    let _ = EVENT_IDS.set((callsync::secrets::Secrets::new(Some(key)), company_id));
    let server = Server::start(&db.url).await;
    let ws_url = server.base_url.replacen("http://", "ws://", 1) + "/graphql";
    let mut table = Vec::new();
    println!(
        "taskEvents: {} customer subscribers + {} dashboards, {} syncs (5 tasks each) at concurrency {}; \
         hot stream: {} subscribers on one customer, {} syncs",
        args.subscribers, args.dashboards, args.syncs, args.concurrency, args.hot, args.hot_syncs
    );

    // 1. Without subscribers.
    let ids = (0..args.syncs).map(|i| format!("base-{i}")).collect();
    let without = drive_syncs(&server.base_url, &api_key, ids, args.concurrency).await;
    without.report("none");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.rss_kib();

    // 2. Idle subscribers, a step at a time.
    let customer_subs = Arc::new(Deliveries::default());
    let dashboard_subs = Arc::new(Deliveries::default());
    let mut filters: Vec<(Value, Arc<Deliveries>)> = (0..args.subscribers)
        .map(|i| (json!({"customerId": format!("c-{i}")}), customer_subs.clone()))
        .collect();
    filters.extend((0..args.dashboards).map(|_| (json!({}), dashboard_subs.clone())));
    let n = filters.len();
    let opened = Instant::now();
    let settle = Duration::from_secs(2);
    let sockets = in_chunks((0..n).map(|_| connect(&ws_url)), 250).await;
    tokio::time::sleep(settle).await;
    let rss_connected = server.rss_kib();
    let sockets = in_chunks(sockets.into_iter().map(|s| init(s, &api_key)), 250).await;
    tokio::time::sleep(settle).await;
    let rss_initialised = server.rss_kib();
    let subscribed = sockets.into_iter().zip(filters).map(|(s, (f, d))| subscribe(s, f, d));
    in_chunks(subscribed, 250).await;
    println!("  {n} subscriptions open in {:.1} s", opened.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle = server.rss_kib();
    let per = |from: u64, to: u64| to.saturating_sub(from) as f64 / n.max(1) as f64;
    let per_sub = per(rss_before, rss_idle);
    println!(
        "  server RSS: {rss_before} KiB before, {rss_connected} connected, {rss_initialised} initialised, \
         {rss_idle} KiB subscribed"
    );
    println!(
        "  RSS per idle subscriber: {per_sub:.1} KiB = connection {:.1} + connection_init {:.1} + subscription {:.1} \
         (target <= 20 KB)",
        per(rss_before, rss_connected),
        per(rss_connected, rss_initialised),
        per(rss_initialised, rss_idle)
    );
    table.push(row(
        format!("server RSS per idle subscriber at {n}"),
        format!("{per_sub:.1} KiB"),
        "≤ 20 KB",
        Some(per_sub * 1024.0 <= 20_000.0),
    ));

    // 3. Normal stream: every sync's events reach its customer's subscriber and each dashboard.
    if args.syncs > 0 && args.subscribers > 0 {
        let ids = (0..args.syncs).map(|i| format!("c-{}", i % args.subscribers)).collect();
        let with = drive_syncs(&server.base_url, &api_key, ids, args.concurrency).await;
        with.report("subs");
        let written =
            count(&db.url, "SELECT count(*) AS n FROM events WHERE payload->>'customerRef' LIKE 'c-%'")
                as usize;
        let expected = written * (1 + args.dashboards);
        wait_for(&[&customer_subs, &dashboard_subs], expected).await;
        let delivered = customer_subs.count() + dashboard_subs.count();
        println!("  events written {written}; deliveries {delivered} of {expected} expected");
        let mut all = Vec::new();
        for (name, d) in [("customer", &customer_subs), ("dashboard", &dashboard_subs)] {
            let mut l = d.latencies();
            println!(
                "  {name:<9} deliveries {:>7}   commit→delivery p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms",
                l.len(),
                ms(percentile(&mut l, 0.50)),
                ms(percentile(&mut l, 0.99)),
                ms(percentile(&mut l, 1.0))
            );
            all.extend(l);
        }
        let (p50, p99) = p50_p99(&mut all);
        let out_of_order = customer_subs.out_of_order.load(Ordering::Relaxed)
            + dashboard_subs.out_of_order.load(Ordering::Relaxed);
        let ratio = 100.0 * with.throughput() / without.throughput();
        println!("  sync throughput with subscribers: {ratio:.0}% of without");
        table.push(row(
            format!("commit→delivery p50 / p99, {} syncs over {n} subscribers", args.syncs),
            format!("{p50:.1} / {p99:.1} ms"),
            "",
            None,
        ));
        table.push(row(
            "delivered / expected (normal)",
            format!("{delivered} / {expected}, {out_of_order} out of order"),
            "all, in order",
            Some(delivered == expected && out_of_order == 0),
        ));
        table.push(row(
            "syncs/s without / with subscribers",
            format!("{:.0} / {:.0} ({ratio:.0}%)", without.throughput(), with.throughput()),
            "",
            None,
        ));
    }

    // 4. Hot stream: many subscribers on one customer, several syncs of it.
    if args.hot > 0 && args.hot_syncs > 0 {
        let hot = Arc::new(Deliveries::default());
        let sockets = in_chunks((0..args.hot).map(|_| connect(&ws_url)), 250).await;
        let sockets = in_chunks(sockets.into_iter().map(|s| init(s, &api_key)), 250).await;
        let subscribed = sockets.into_iter().map(|s| subscribe(s, json!({"customerId": "hot"}), hot.clone()));
        in_chunks(subscribed, 250).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        // One after another, as an integration re-syncing a customer would.
        let ids = vec!["hot".to_string(); args.hot_syncs];
        let syncs = drive_syncs(&server.base_url, &api_key, ids, 1).await;
        syncs.report("hot");
        let written =
            count(&db.url, "SELECT count(*) AS n FROM events WHERE payload->>'customerRef' = 'hot'") as usize;
        let expected = written * args.hot;
        wait_for(&[&hot], expected).await;
        let delivered = hot.count();
        let out_of_order = hot.out_of_order.load(Ordering::Relaxed);
        let mut l = hot.latencies();
        let (p50, p99) = p50_p99(&mut l);
        println!(
            "  hot: events written {written}; deliveries {delivered} of {expected} expected, {out_of_order} \
             subscribers out of order; commit→delivery p50 {p50:.1} ms   p99 {p99:.1} ms   max {:.1} ms",
            ms(percentile(&mut l, 1.0))
        );
        table.push(row(
            format!(
                "hot stream commit→delivery p50 / p99 ({} subscribers, {} syncs)",
                args.hot, args.hot_syncs
            ),
            format!("{p50:.1} / {p99:.1} ms"),
            "p99 ≤ 250 ms",
            Some(p99 <= 250.0),
        ));
        table.push(row(
            "hot stream delivered / expected",
            format!("{delivered} / {expected}, {out_of_order} out of order"),
            "all, in order",
            Some(delivered == expected && out_of_order == 0),
        ));
    }
    println!("  server RSS after the run: {} KiB (peak {} KiB)", server.rss_kib(), server.peak_rss_kib());

    let command = format!(
        "target/release/examples/events_bench --subscribers {} --dashboards {} --syncs {} --concurrency {} \
         --hot {} --hot-syncs {}",
        args.subscribers, args.dashboards, args.syncs, args.concurrency, args.hot, args.hot_syncs
    );
    println!("\n<!-- bench:events -->");
    println!("### Event subscribers (WebSocket, `taskEvents`)\n");
    println!(
        "Server as its own process on the same cores as Postgres and the clients: `{command}` \
         (latency is `occurredAt` → arrival, an upper bound of commit→delivery).\n"
    );
    println!("| measure | value | target | ok |\n|---|---|---|---|");
    for r in table {
        let ok = match r.ok {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        println!("| {} | {} | {} | {ok} |", r.measure, r.value, r.target);
    }
    println!("<!-- /bench -->");
}
