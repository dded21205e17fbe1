//! Fault injection: each scenario breaks something real (Postgres restarted under load, the
//! event listener's connection killed under load, the webhook receiver down), then checks what
//! the service promises, and prints a verdict line with its numbers:
//! `cargo test --test api faults:: -- --nocapture` (FAULTS_SCALE=10 for a longer run).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{
    create_schedule, customer_input, eventually, local_server, webhook_config, TestApp, WsClient,
    CREATE_CUSTOMER, TRANSPORT_WS,
};
use crate::sync::{create_collections_schedule, SYNC};

fn scale() -> usize {
    std::env::var("FAULTS_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1)
}

/// A company-wide task-event subscriber.
async fn subscriber(app: &TestApp) -> WsClient {
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    let ack = ws.init(json!({"apiKey": app.api_key})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws.subscribe_live("1", "subscription { taskEvents { eventId } }", json!({})).await;
    ws
}

/// The outbox ids of the events received until `expected` arrived or a minute passed;
/// duplicates kept. (Event ids are opaque; the test's key opens them to the outbox's ids.)
async fn drain(app: &TestApp, ws: &mut WsClient, expected: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ids.len() < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.next_data(left).await {
            Some(payload) => {
                let id = payload["data"]["taskEvents"]["eventId"].as_str();
                let id = id.unwrap_or_else(|| panic!("an event, got {payload}"));
                ids.push(
                    crate::harness::test_secrets()
                        .ids()
                        .event(app.company_id, id)
                        .expect("an event id of ours"),
                );
            }
            None => break,
        }
    }
    ids
}

fn outbox_task_events(app: &TestApp) -> BTreeSet<i64> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    use diesel::RunQueryDsl;
    let mut conn = app.db.connect();
    diesel::sql_query("SELECT id FROM events WHERE kind LIKE 'TASK_%'")
        .load::<Id>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

/// Where a sync load stands, so that a fault strikes in the middle of it.
struct Progress {
    /// Syncs answered so far, acknowledged or not: a fault waits for a point of the load.
    answered: tokio::sync::watch::Sender<usize>,
    /// Set once the fault is over: the load runs on until then.
    fault_over: AtomicBool,
}

impl Progress {
    fn new() -> Progress {
        Progress { answered: tokio::sync::watch::Sender::new(0), fault_over: AtomicBool::new(false) }
    }

    /// Waits until `n` syncs were answered.
    async fn answered(&self, n: usize) {
        self.answered.subscribe().wait_for(|answered| *answered >= n).await.unwrap();
    }
}

/// `clients` concurrent HTTP clients each syncing at least `per_client` customers, `pause`
/// apart, and on until the fault is over; returns the ids of the acknowledged syncs and how
/// many were refused or failed.
async fn sync_load(
    app: &TestApp,
    clients: usize,
    per_client: usize,
    pause: Duration,
    progress: &Progress,
) -> (Vec<String>, usize) {
    let runs = (0..clients).map(|c| async move {
        let (mut acknowledged, mut failed) = (Vec::new(), 0);
        let mut i = 0;
        while i < per_client || !progress.fault_over.load(Ordering::SeqCst) {
            let id = format!("load-{c}-{i}");
            let mut input = customer_input(&id);
            input["phoneNumber"] = json!(format!("+1310{:03}{:04}", 200 + c, i));
            let sent = app
                .client
                .post(format!("{}/graphql", app.base_url))
                .header("X-API-Key", &app.api_key)
                .json(&json!({"query": SYNC, "variables": {"input": input}}))
                .send()
                .await;
            let body: Option<Value> = match sent {
                Ok(response) => response.json().await.ok(),
                Err(_) => None,
            };
            match body {
                Some(b) if b.get("errors").is_none() => acknowledged.push(id),
                _ => failed += 1,
            }
            progress.answered.send_modify(|n| *n += 1);
            tokio::time::sleep(pause).await;
            i += 1;
        }
        (acknowledged, failed)
    });
    let results = futures::future::join_all(runs).await;
    let failed = results.iter().map(|(_, f)| f).sum();
    (results.into_iter().flat_map(|(a, _)| a).collect(), failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_during_a_sync_load() {
    // A cluster of the test's own, to restart.
    let cluster = callsync::pg_cluster::LocalCluster::start_temporary().expect("a throwaway cluster");
    let app = TestApp::spawn_on_server(&cluster.url("postgres")).await;
    create_collections_schedule(&app).await;
    let mut ws = subscriber(&app).await;
    let (clients, per_client) = (4, 20 * scale());
    let progress = Progress::new();
    let load = sync_load(&app, clients, per_client, Duration::from_millis(15), &progress);
    let restart = async {
        progress.answered(clients * per_client / 4).await;
        let started = Instant::now();
        let restarted = tokio::task::spawn_blocking(move || {
            cluster.restart().expect("restart Postgres");
            cluster
        })
        .await
        .unwrap();
        progress.fault_over.store(true, Ordering::SeqCst);
        (restarted, started.elapsed())
    };
    let ((acknowledged, failed), (cluster, restart_took)) = tokio::join!(load, restart);
    // The service recovers without a restart of its own.
    let recovered = Instant::now();
    let mut input = customer_input("after-restart");
    input["phoneNumber"] = json!("+13105559999");
    eventually("the service recovers", || async {
        app.gql(SYNC, json!({"input": input.clone()})).await.get("errors").is_none().then_some(())
    })
    .await;
    // Reported, not asserted: how long it took depends on the machine.
    let recovery = recovered.elapsed();
    // Every acknowledged sync is in the database, with its tasks.
    let mut missing = 0;
    for id in &acknowledged {
        if app.count(&format!(
            "SELECT count(*) AS n FROM customers c JOIN tasks t ON t.customer_id = c.id WHERE c.external_id = '{id}'"
        )) == 0
        {
            missing += 1;
        }
    }
    // The subscriber connected throughout received every event of the outbox, once.
    let outbox = outbox_task_events(&app);
    let received = drain(&app, &mut ws, outbox.len()).await;
    let unique: BTreeSet<i64> = received.iter().copied().collect();
    let lost = outbox.difference(&unique).count();
    let duplicates = received.len() - unique.len();
    let pass = missing == 0 && lost == 0 && duplicates == 0;
    eprintln!(
        "fault postgres-restart: {} acknowledged={} failed-during-outage={failed} missing={missing} outbox={} received={} lost={lost} duplicates={duplicates} restart={restart_took:?} recovery={recovery:?}",
        if pass { "PASS" } else { "FAIL" },
        acknowledged.len(),
        outbox.len(),
        received.len()
    );
    assert!(pass);
    drop(app);
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_listener_killed_under_load_loses_nothing() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let mut ws = subscriber(&app).await;
    let database = app.db.name.clone();
    let kills = 3 * scale();
    let (clients, per_client) = (4, 15 * scale());
    let progress = Progress::new();
    let killer = async {
        let mut killed = 0;
        // Spread over the load: after each (kills + 1)th of it is answered.
        for k in 1..=kills {
            progress.answered(clients * per_client * k / (kills + 1)).await;
            killed += app.count(&format!(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                 WHERE application_name = 'callsync-events' AND datname = '{database}'"
            ));
        }
        progress.fault_over.store(true, Ordering::SeqCst);
        killed
    };
    let ((acknowledged, failed), killed) =
        tokio::join!(sync_load(&app, clients, per_client, Duration::from_millis(10), &progress), killer);
    let outbox = outbox_task_events(&app);
    let received = drain(&app, &mut ws, outbox.len()).await;
    let unique: BTreeSet<i64> = received.iter().copied().collect();
    let (lost, duplicates) = (outbox.difference(&unique).count(), received.len() - unique.len());
    let pass = lost == 0 && duplicates == 0 && failed == 0;
    eprintln!(
        "fault listener-killed: {} syncs={} failed={failed} listener-kills={killed} outbox={} received={} lost={lost} duplicates={duplicates}",
        if pass { "PASS" } else { "FAIL" },
        acknowledged.len(),
        outbox.len(),
        received.len()
    );
    assert!(pass);
}

#[tokio::test]
async fn the_webhook_receiver_down_for_a_minute_then_back() {
    use callsync::dialer::webhook::{client, deliver_due};
    let app = TestApp::spawn().await;
    // The receiver: 503 while down; records every request with the call id and its answer.
    let down = Arc::new(AtomicBool::new(true));
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let receiver = {
        let (down, seen) = (down.clone(), seen.clone());
        local_server(move |_, body| {
            let (down, seen) = (down.clone(), seen.clone());
            async move {
                let call: Value = serde_json::from_str(&body).unwrap_or_default();
                let id = call["call"]["id"].as_str().unwrap_or_default().to_string();
                let is_down = down.load(Ordering::SeqCst);
                seen.lock().unwrap().push((id, !is_down));
                if is_down {
                    actix_web::HttpResponse::ServiceUnavailable().finish()
                } else {
                    actix_web::HttpResponse::Ok().finish()
                }
            }
        })
        .await
    };
    let url = format!("{}/calls", receiver.url);
    create_schedule(&app, "collections").await;
    app.gql_ok(
        "mutation($u: String) { updateCompanySettings(input: {callWebhookUrl: $u, callWebhookSecret: \"0123456789abcdef\", callsPerSecondLimit: 100}) { id } }",
        json!({"u": url}),
    )
    .await;
    let calls = 5 * scale();
    let mut ids = Vec::new();
    for i in 0..calls {
        let mut input = customer_input(&format!("w-{i}"));
        input["phoneNumber"] = json!(format!("+1310555{:04}", 4000 + i));
        app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
        let call = app
            .gql_ok(&format!("mutation {{ makeCall(input: {{customerId: \"w-{i}\"}}) {{ id }} }}"), json!({}))
            .await;
        ids.push(call["makeCall"]["id"].as_str().unwrap().to_string());
    }
    let config = webhook_config();
    let http = client(&config);
    // Down for a minute of the server's time: every attempt fails and is retried with backoff.
    for _ in 0..6 {
        deliver_due(&app.store, &http, &config).await.unwrap();
        app.clock.advance(chrono::Duration::seconds(10));
    }
    // Meanwhile one call is cancelled.
    app.gql_ok(
        "mutation($id: ID!) { reportCallStatus(input: {callId: $id, status: CANCELLED}) { id } }",
        json!({"id": ids[0]}),
    )
    .await;
    let attempts_while_down = seen.lock().unwrap().len();
    down.store(false, Ordering::SeqCst);
    for _ in 0..30 {
        deliver_due(&app.store, &http, &config).await.unwrap();
        if app.count("SELECT count(*) AS n FROM calls WHERE webhook_next_at IS NOT NULL") == 0 {
            break;
        }
        app.clock.advance(chrono::Duration::seconds(10));
    }
    let mut delivered: HashMap<String, usize> = HashMap::new();
    for (id, _) in seen.lock().unwrap().iter().filter(|(_, ok)| *ok) {
        *delivered.entry(id.clone()).or_default() += 1;
    }
    let exactly_once = ids[1..].iter().all(|id| delivered.get(id) == Some(&1));
    let cancelled_sent = delivered.get(&ids[0]).copied().unwrap_or(0);
    let pass = exactly_once && cancelled_sent == 0;
    eprintln!(
        "fault webhook-down: {} calls={calls} attempts-while-down={attempts_while_down} delivered-after={} cancelled-delivered={cancelled_sent}",
        if pass { "PASS" } else { "FAIL" },
        delivered.values().sum::<usize>()
    );
    assert!(pass, "{delivered:?}");
}

/// `callsync serve` as a real process on `database_url`, ready to answer.
async fn serve_process(database_url: &str) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callsync"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--workers", "2", "--allow-private-network"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start callsync serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("callsync serve did not become ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_killed_mid_import_and_mid_job_loses_nothing_and_doubles_nothing() {
    let database = crate::harness::TestDatabase::create();
    let (_, key) = crate::harness::create_company(&database.url, "Acme");
    let client = reqwest::Client::new();
    let post = |base: String, body: Value| {
        let (client, key) = (client.clone(), key.clone());
        async move { client.post(format!("{base}/graphql")).header("X-API-Key", key).json(&body).send().await }
    };
    let (mut first, base) = serve_process(&database.url).await;
    let schedule: Value = post(base.clone(), json!({"query": "mutation { createSchedule(input: {name: \"C\", taskType: \"collections\"}) { id } }"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schedule = schedule["data"]["createSchedule"]["id"].as_str().unwrap().to_string();
    // At most one request's worth (10,000 records).
    let n = (2000 * scale()).min(10_000);
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = customer_input(&format!("k-{i}"));
            r["phoneNumber"] = json!(format!("+1310{}{:04}", 200 + i / 10_000, i % 10_000));
            r
        })
        .collect();
    let import = json!({
        "query": "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { status jobIds results { successful } } }",
        "variables": {"input": {"scheduleId": schedule, "records": records, "useWorkflow": true}}
    });
    // SIGKILL in the middle of the import.
    let request = tokio::spawn(post(base.clone(), import.clone()));
    let db = database.url.clone();
    let started = Instant::now();
    loop {
        let count = {
            let db = db.clone();
            tokio::task::spawn_blocking(move || count_on(&db, "SELECT count(*) AS n FROM customers"))
                .await
                .unwrap()
        };
        if count > 0 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let interrupted = request.await.unwrap();
    let imported_before_kill = count_on(&db, "SELECT count(*) AS n FROM customers");

    // Restarted, the retried import finishes; SIGKILL again while its jobs run.
    let (mut second, base) = serve_process(&database.url).await;
    let retried: Value = post(base.clone(), import).await.unwrap().json().await.unwrap();
    assert_eq!(retried["data"]["bulkAddCustomers"]["results"]["successful"], n as i64, "{retried}");
    second.kill().unwrap();
    second.wait().unwrap();
    let jobs_done_at_kill = count_on(&db, "SELECT count(*) AS n FROM jobs WHERE status = 'DONE'");

    // A third instance runs what is left.
    let (mut third, _) = serve_process(&database.url).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_on(&db, "SELECT count(*) AS n FROM jobs WHERE status <> 'DONE'") > 0 {
        assert!(Instant::now() < deadline, "jobs did not finish after the restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    third.kill().unwrap();
    third.wait().unwrap();
    let customers = count_on(&db, "SELECT count(*) AS n FROM customers");
    let doubled = count_on(
        &db,
        "SELECT count(*) AS n FROM (SELECT customer_id, attempt FROM tasks WHERE status = 'PENDING'
                                    GROUP BY customer_id, attempt HAVING count(*) > 1) d",
    );
    let without = count_on(
        &db,
        "SELECT count(*) AS n FROM customers c WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.customer_id = c.id AND t.status = 'PENDING')",
    );
    let dialled_twice =
        count_on(&db, "SELECT count(*) AS n FROM (SELECT task_id FROM calls WHERE task_id IS NOT NULL GROUP BY task_id HAVING count(*) > 1) d");
    let pass = customers == n as i64 && doubled == 0 && without == 0 && dialled_twice == 0;
    eprintln!(
        "fault server-killed: {} records={n} first-request={} customers-before-kill={imported_before_kill} jobs-done-at-second-kill={jobs_done_at_kill} customers={customers} double-schedules={doubled} without-schedule={without} dialled-twice={dialled_twice}",
        if pass { "PASS" } else { "FAIL" },
        if interrupted.is_err() { "cut off" } else { "answered" },
    );
    assert!(pass);
}

fn count_on(url: &str, sql: &str) -> i64 {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = diesel::PgConnection::establish(url).expect("connect");
    diesel::sql_query(sql).get_result::<Count>(&mut conn).expect("count").n
}
