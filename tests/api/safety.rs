//! Safety: no requests into private networks, no redirects, final calls never handed to a
//! provider, bounded inputs.

use std::sync::Arc;

use chrono::Duration;
use serde_json::{json, Value};

use crate::harness::{
    assert_error, create_schedule, customer_input, eventually, local_server, webhook_config, TestApp,
    CREATE_CUSTOMER,
};

const SETTINGS: &str = "mutation($input: CompanySettingsInput!) { updateCompanySettings(input: $input) {
    callWebhookUrl lmsBaseUrl } }";

#[tokio::test]
async fn outbound_urls_must_be_public_without_credentials_or_query() {
    let app = TestApp::spawn_public_only().await;
    let cases = [
        ("lmsBaseUrl", "http://127.0.0.1:9000/api"),
        ("lmsBaseUrl", "http://localhost/api"),
        ("lmsBaseUrl", "http://[::1]/api"),
        ("lmsBaseUrl", "http://10.0.0.7/api"),
        ("lmsBaseUrl", "https://lms.example.com/api?key=1"),
        ("lmsBaseUrl", "https://lms.example.com/api#frag"),
        ("callWebhookUrl", "http://169.254.169.254/latest/meta-data"),
        ("callWebhookUrl", "http://192.168.1.10/hook"),
        ("callWebhookUrl", "https://user:secret@hooks.example.com/calls"),
        ("callWebhookUrl", "http://[fd00::1]/hook"),
    ];
    for (field, url) in cases {
        let mut input = json!({"callWebhookSecret": "0123456789abcdef"});
        input[field] = json!(url);
        assert_error(&app.gql(SETTINGS, json!({"input": input})).await, "BAD_USER_INPUT", Some(field));
    }
    let viewer = app.gql_ok("{ viewer { callWebhookUrl lmsBaseUrl } }", json!({})).await;
    assert_eq!(viewer["viewer"], json!({"callWebhookUrl": null, "lmsBaseUrl": null}), "nothing written");
    let ok = app
        .gql_ok(SETTINGS, json!({"input": {"lmsBaseUrl": "https://lms.example.com/api/", "callWebhookUrl": "https://hooks.example.com/calls", "callWebhookSecret": "0123456789abcdef"}}))
        .await;
    assert_eq!(ok["updateCompanySettings"]["lmsBaseUrl"], "https://lms.example.com/api");
}

#[tokio::test]
async fn lms_redirects_are_not_followed_and_ids_are_path_encoded() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let lms = local_server(|path, _| async move {
        if path.starts_with("/api/customers/") {
            actix_web::HttpResponse::Found().insert_header(("Location", "/internal/secrets")).finish()
        } else {
            actix_web::HttpResponse::Ok().json(json!({"firstName": "Leaked"}))
        }
    })
    .await;
    app.gql_ok(SETTINGS, json!({"input": {"lmsBaseUrl": format!("{}/api", lms.url)}})).await;
    let mut input = customer_input("a b");
    input["sync"] = json!(true);
    let body = app.gql(CREATE_CUSTOMER, json!({"input": input})).await;
    assert_error(&body, "LMS_UNAVAILABLE", None);
    let seen: Vec<String> = lms.seen.lock().unwrap().iter().map(|(uri, _)| uri.clone()).collect();
    assert_eq!(
        seen,
        ["/api/customers/a%20b"],
        "one request, the id as one encoded segment, no redirect followed"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 0);
}

#[tokio::test]
async fn a_call_cancelled_while_the_receiver_is_down_is_never_delivered() {
    use callsync::dialer::webhook::deliver_due;
    let app = TestApp::spawn().await;
    let receiver =
        local_server(|_, _| async { actix_web::HttpResponse::ServiceUnavailable().finish() }).await;
    create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    app.gql_ok(
        SETTINGS,
        json!({"input": {"callWebhookUrl": format!("{}/calls", receiver.url), "callWebhookSecret": "0123456789abcdef", "callsPerSecondLimit": 100}}),
    )
    .await;
    let call = app.gql_ok("mutation { makeCall(input: {customerId: \"c-1\"}) { id } }", json!({})).await
        ["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let client = callsync::dialer::webhook::client(&webhook_config());
    deliver_due(&app.store, &client, &webhook_config()).await.unwrap();
    assert_eq!(receiver.seen.lock().unwrap().len(), 1, "first attempt failed");
    let cancelled = app
        .gql_ok("mutation($id: ID!) { reportCallStatus(input: {callId: $id, status: CANCELLED}) { status version } }", json!({"id": call}))
        .await;
    assert_eq!(cancelled["reportCallStatus"], json!({"status": "CANCELLED", "version": 2}));
    // Long after every retry would be due: nothing more is sent.
    app.clock.advance(Duration::hours(1));
    deliver_due(&app.store, &client, &webhook_config()).await.unwrap();
    assert_eq!(receiver.seen.lock().unwrap().len(), 1, "a cancelled call is never handed over");
}

#[tokio::test]
async fn report_times_and_call_data_are_bounded() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    let big: String = "x".repeat(70 * 1024);
    let body = app
        .gql(
            "mutation($d: JSON) { makeCall(input: {customerId: \"c-1\", data: $d}) { id } }",
            json!({"d": {"note": big}}),
        )
        .await;
    assert_error(&body, "BAD_USER_INPUT", Some("data"));
    let body =
        app.gql("mutation { makeCall(input: {customerId: \"c-1\", data: [1]}) { id } }", json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("data"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);
    let call = app.gql_ok("mutation { makeCall(input: {customerId: \"c-1\"}) { id } }", json!({})).await
        ["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = app.clock.now();
    let report = "mutation($id: ID!, $at: DateTime) { reportCallStatus(input: {callId: $id, status: COMPLETED, occurredAt: $at}) { status } }";
    for at in [now - Duration::hours(1), now + Duration::hours(1)] {
        let body = app.gql(report, json!({"id": call, "at": at.to_rfc3339()})).await;
        assert_error(&body, "BAD_USER_INPUT", Some("occurredAt"));
    }
    let status: Value =
        app.gql_ok("query($id: ID!) { call(id: $id) { status version } }", json!({"id": call})).await;
    assert_eq!(status["call"], json!({"status": "QUEUED", "version": 1}), "nothing written");
}

#[tokio::test]
async fn a_connection_costs_its_page_size_and_batches_are_bounded() {
    let app = TestApp::spawn().await;
    // Nested pages can fetch 500 × 500 rows: refused before anything runs.
    let nested = "{ customers(first: 500) { nodes { id tasks(first: 500) { nodes { id status } } calls(first: 500) { nodes { id } } } } }";
    let body = app.gql(nested, json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", None);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{body}");
    // A full page of customers with many fields is fine.
    let fields = "id firstName lastName email birthday phoneNumber timezone state zipCode city taskType doNotCall isTest createdAt updatedAt";
    app.gql_ok(&format!("{{ customers(first: 500) {{ totalCount nodes {{ {fields} }} }} }}"), json!({}))
        .await;
    // At most 20 operations in one batched request.
    let ops = |n: usize| Value::Array((0..n).map(|_| json!({"query": "{ viewer { id } }"})).collect());
    let ok = app.post_graphql(Some(&app.api_key), &ops(20)).await;
    assert_eq!(ok.as_array().unwrap().len(), 20);
    let refused = app.post_graphql(Some(&app.api_key), &ops(21)).await;
    assert_error(&refused, "BAD_USER_INPUT", Some("batch"));
}

#[tokio::test]
async fn unknown_operations_add_no_metric_series() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.gql(&format!("{{ zzz{i} }}"), json!({})).await;
    }
    app.gql_ok("{ viewer { id } }", json!({})).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("zzz"), "{metrics}");
    assert!(metrics.contains("operation=\"invalid\""), "{metrics}");
    assert!(metrics.contains("operation=\"query viewer\""), "{metrics}");
}

#[tokio::test]
async fn a_bad_key_and_a_missing_key_answer_alike_and_fields_keep_their_order() {
    let app = TestApp::spawn().await;
    let query = "{ viewer { name id } }";
    let missing = app.gql_as(None, query, json!({})).await;
    let unknown = app.gql_as(Some("csk_not_a_real_key"), query, json!({})).await;
    assert_eq!(missing, unknown);
    assert_error(&unknown, "UNAUTHENTICATED", None);
    assert!(unknown["errors"][0]["locations"][0]["line"].as_u64().unwrap() >= 1, "{unknown}");
    // Response fields come in the order the query asked for them, every time.
    for _ in 0..5 {
        let text = app
            .client
            .post(format!("{}/graphql", app.base_url))
            .header("X-API-Key", &app.api_key)
            .json(&json!({"query": "{ viewer { name id callsPerSecondLimit taskTypes } scheduleDefaults { paused callingHoursStart } }"}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} in {text}"));
        assert!(at("\"viewer\"") < at("\"scheduleDefaults\""), "{text}");
        assert!(at("\"name\"") < at("\"id\"") && at("\"id\"") < at("\"callsPerSecondLimit\""), "{text}");
        assert!(at("\"paused\"") < at("\"callingHoursStart\""), "{text}");
    }
}

/// A company with a callable customer "c-N" per number and a webhook at `url`; returns its key.
async fn company_with_calls(app: &TestApp, key: &str, url: &str, calls: usize) {
    let gql = |q: String, v: Value| async move {
        let body = app.gql_as(Some(key), &q, v).await;
        assert!(body.get("errors").is_none(), "{body:#}");
        body
    };
    gql(
        "mutation { createSchedule(input: {name: \"C\", taskType: \"collections\"}) { id } }".into(),
        json!({}),
    )
    .await;
    gql(
        SETTINGS.into(),
        json!({"input": {"callWebhookUrl": url, "callWebhookSecret": "0123456789abcdef", "callsPerSecondLimit": 100}}),
    )
    .await;
    for i in 0..calls {
        let mut input = customer_input(&format!("c-{i}"));
        input["phoneNumber"] = json!(format!("+1310555{:04}", 2000 + i));
        gql(CREATE_CUSTOMER.into(), json!({"input": input})).await;
        gql(format!("mutation {{ makeCall(input: {{customerId: \"c-{i}\"}}) {{ id }} }}"), json!({})).await;
    }
}

#[tokio::test]
async fn a_slow_webhook_receiver_holds_up_only_its_own_company() {
    use callsync::dialer::webhook::{client, deliver_due};
    let app = TestApp::spawn().await;
    // Company A's receiver answers only when the test releases it.
    let release = Arc::new(tokio::sync::Notify::new());
    let release_for_receiver = release.clone();
    let slow = local_server(move |_, _| {
        let release = release_for_receiver.clone();
        async move {
            release.notified().await;
            actix_web::HttpResponse::Ok().finish()
        }
    })
    .await;
    let slow_url = format!("{}/calls", slow.url);
    let fast = local_server(|_, _| async { actix_web::HttpResponse::Ok().finish() }).await;
    company_with_calls(&app, &app.api_key, &slow_url, 1).await;
    let (_, other_key) = app.new_company("Other");
    company_with_calls(&app, &other_key, &format!("{}/calls", fast.url), 3).await;

    let config = webhook_config();
    let (store, http) = (app.store.clone(), client(&config));
    let round = tokio::spawn(async move { deliver_due(&store, &http, &config).await });
    // B's three calls arrive while A's receiver is still holding its request.
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while fast.seen.lock().unwrap().len() < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the fast company's calls were delivered while the slow receiver held its own");
    assert_eq!(slow.seen.lock().unwrap().len(), 1);
    // A permit, should the receiver not be waiting yet.
    release.notify_one();
    round.await.unwrap().unwrap();
    assert_eq!(
        app.count("SELECT count(*) AS n FROM calls WHERE webhook_next_at IS NULL AND webhook_attempts = 1"),
        4
    );
}

#[tokio::test]
async fn a_task_that_cannot_be_dialled_backs_off_alone() {
    use callsync::dialer::{dial_round, DialerConfig};
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
    for i in 0..3 {
        let mut input = customer_input(&format!("c-{i}"));
        input["phoneNumber"] = json!(format!("+1310555{:04}", 3000 + i));
        app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
    }
    let due = app.clock.now() - Duration::minutes(5);
    app.execute(&format!(
        "INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone, created_at, updated_at)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', 1, '{0}'::timestamptz + c.id * interval '1 second', c.timezone, '{0}', '{0}'
         FROM customers c JOIN schedules s ON s.company_id = c.company_id",
        due.to_rfc3339()
    ));
    // A fault: placing the earliest task's call fails. (It used to point the task at another
    // company's customer, which the composite foreign keys now refuse.)
    app.execute(
        "CREATE FUNCTION refuse_first_task_call() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.task_id = (SELECT id FROM tasks ORDER BY scheduled_for LIMIT 1) THEN
                 RAISE EXCEPTION 'injected fault';
             END IF;
             RETURN NEW;
         END $$",
    );
    app.execute(
        "CREATE TRIGGER refuse_first_task_call BEFORE INSERT ON calls
         FOR EACH ROW EXECUTE FUNCTION refuse_first_task_call()",
    );
    let placed = dial_round(&app.store, &DialerConfig::default()).await.expect("the round goes on");
    assert_eq!(placed.len(), 2, "the two good tasks are dialled");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"),
        1,
        "the bad one waits, unchanged"
    );
}

#[tokio::test]
async fn old_events_are_pruned_in_full_batch_after_batch() {
    let app = TestApp::spawn().await;
    app.execute(&format!(
        "INSERT INTO events (company_id, kind, payload, created_at)
         SELECT '{}', 'TASK_CREATED', '{{}}', '{}'::timestamptz - interval '30 days' FROM generate_series(1, 25000)",
        app.company_id,
        app.clock.now().to_rfc3339()
    ));
    let mut conn = app.db.connect();
    let cutoff = app.clock.now() - Duration::days(7);
    let first = callsync::store::events::prune_before(&mut conn, cutoff, 10_000, 1).unwrap();
    assert_eq!(first, (10_000, true), "one pass is bounded and says more remain");
    let rest = callsync::store::events::prune_before(&mut conn, cutoff, 10_000, 100).unwrap();
    assert_eq!(rest, (15_000, false));
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), 0);
}

#[tokio::test]
async fn database_calls_beyond_the_queue_get_a_clear_busy_error() {
    use callsync::store::{Db, StoreError};
    use diesel::RunQueryDsl;
    let database = crate::harness::TestDatabase::create();
    let pool = callsync::store::connect_pool(&database.url, 1).unwrap();
    // One connection; two calls may run or wait for it; a third waits at most 300 ms.
    let db = Db::new(pool).with_gate(2, std::time::Duration::from_millis(300));
    // A call that holds its connection (or its place in the queue) until the test drops `release`.
    let held = |db: Db| {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let call = tokio::spawn(async move {
            db.read(move |conn| {
                let _ = hold.recv();
                diesel::sql_query("SELECT 1").execute(conn)?;
                Ok(())
            })
            .await
        });
        (call, release)
    };
    let ((a, release_a), (b, release_b)) = (held(db.clone()), held(db.clone()));
    eventually("both calls hold their places", || async { (db.calls() == 2).then_some(()) }).await;
    let third = db.read(callsync::store::ping).await;
    assert!(matches!(third, Err(StoreError::Busy(2))), "{third:?}");
    assert!(third.unwrap_err().to_string().contains("retry"));
    drop((release_a, release_b));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    // Once the queue drains, calls go through again.
    db.read(callsync::store::ping).await.unwrap();
}

#[tokio::test]
async fn delivery_errors_never_carry_the_url() {
    use callsync::dialer::webhook::{client, deliver_due, WebhookConfig};
    let app = TestApp::spawn().await;
    // A receiver that is not there, with a secret-looking path.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hooks/tenant-secret-token");
    create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    app.gql_ok(SETTINGS, json!({"input": {"callWebhookUrl": url, "callWebhookSecret": "0123456789abcdef", "callsPerSecondLimit": 100}}))
        .await;
    let call = app.gql_ok("mutation { makeCall(input: {customerId: \"c-1\"}) { id } }", json!({})).await
        ["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let config = WebhookConfig { max_attempts: 1, ..webhook_config() };
    deliver_due(&app.store, &client(&config), &config).await.unwrap();
    let failed =
        app.gql_ok("query($id: ID!) { call(id: $id) { status disposition } }", json!({"id": call})).await;
    assert_eq!(failed["call"]["status"], "FAILED");
    let disposition = failed["call"]["disposition"].as_str().unwrap();
    assert!(disposition.contains("connection failed"), "{disposition}");
    assert!(
        !disposition.contains("tenant-secret-token") && !disposition.contains("127.0.0.1"),
        "{disposition}"
    );
}

/// A listener standing in for a proxy: counts the connections it gets and answers each request
/// 404 ("unknown there" to the LMS connector), so a request that went through it would succeed.
async fn counting_proxy() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, connections)
}

/// A proxy from the environment is never used: through one, the proxy resolves and connects,
/// so the address guard would not see where a request goes. `serve` runs as its own process
/// with every proxy variable pointing at a listener that counts connections.
#[tokio::test]
async fn outbound_requests_ignore_proxies_from_the_environment() {
    use crate::harness::ServeProcess;
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let (proxy, connections) = counting_proxy().await;
    let env: Vec<(&str, &str)> =
        ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"]
            .into_iter()
            .map(|name| (name, proxy.as_str()))
            .collect();
    let mut input = customer_input("c-1");
    input["sync"] = json!(true);

    // As in production: a name with no public address is refused; through the proxy it would
    // have been fetched (and its 404 taken as "unknown there").
    app.gql_ok(SETTINGS, json!({"input": {"lmsBaseUrl": "http://lms.callsync-test.invalid/api"}})).await;
    let strict = ServeProcess::start(&app.db.url, &["--no-dialer"], &env).await;
    let body = strict.gql(&app.api_key, CREATE_CUSTOMER, json!({"input": input})).await;
    assert_error(&body, "LMS_UNAVAILABLE", None);
    drop(strict);

    // With private networks allowed (development): the local LMS is reached directly.
    let lms = local_server(|_, _| async { actix_web::HttpResponse::NotFound().finish() }).await;
    app.gql_ok(SETTINGS, json!({"input": {"lmsBaseUrl": format!("{}/api", lms.url)}})).await;
    let dev = ServeProcess::start(&app.db.url, &["--no-dialer", "--allow-private-network"], &env).await;
    let body = dev.gql(&app.api_key, CREATE_CUSTOMER, json!({"input": input})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let seen: Vec<String> = lms.seen.lock().unwrap().iter().map(|(uri, _)| uri.clone()).collect();
    assert_eq!(seen, ["/api/customers/c-1", "/api/customers/c-1/loans"]);
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing went through the proxy");
}
