//! Calls over HTTP: makeCall's guards, reportCallStatus, the task following, the quiet period,
//! call events, the dialer worker and its webhook (a real local HTTP receiver), tenancy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::harness::{assert_error, customer_input, TestApp, WsClient, CREATE_CUSTOMER, TRANSPORT_WS};

/// US zones with their state, spread so that at any moment some are inside and some outside
/// 08:00-21:00 local.
const ZONES: &[(&str, &str)] = &[
    ("Pacific/Guam", "GU"),
    ("America/Puerto_Rico", "PR"),
    ("America/New_York", "NY"),
    ("America/Chicago", "IL"),
    ("America/Denver", "CO"),
    ("America/Los_Angeles", "CA"),
    ("America/Anchorage", "AK"),
    ("Pacific/Honolulu", "HI"),
    ("Pacific/Pago_Pago", "AS"),
];

fn local_minute(zone: &str) -> u32 {
    let tz: Tz = zone.parse().unwrap();
    let now = Utc::now().with_timezone(&tz);
    now.hour() * 60 + now.minute()
}

/// A zone (and state) where it is comfortably inside calling hours now.
pub(crate) fn open_zone() -> (&'static str, &'static str) {
    *ZONES
        .iter()
        .find(|(z, _)| (8 * 60 + 30..20 * 60 + 30).contains(&local_minute(z)))
        .expect("some zone is open")
}

/// A zone (and state) where it is comfortably outside calling hours now.
fn closed_zone() -> (&'static str, &'static str) {
    *ZONES
        .iter()
        .find(|(z, _)| !(7 * 60 + 30..21 * 60 + 30).contains(&local_minute(z)))
        .expect("some zone is closed")
}

const CALL_FIELDS: &str = "id status to agentId disposition durationSeconds startedAt endedAt data
    customer { id } schedule { id callsCount lastCallAt } task { id status }";

fn make_call_query() -> String {
    format!("mutation($input: MakeCallInput!) {{ makeCall(input: $input) {{ {CALL_FIELDS} }} }}")
}

fn report_query() -> String {
    format!(
        "mutation($input: ReportCallStatusInput!) {{ reportCallStatus(input: $input) {{ {CALL_FIELDS} }} }}"
    )
}

/// A schedule "collections" and a customer "c-1" reachable now.
async fn callable(app: &TestApp) -> String {
    let schedule = app
        .gql_ok(
            "mutation { createSchedule(input: {name: \"Collections\", taskType: \"collections\"}) { id } }",
            json!({}),
        )
        .await["createSchedule"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (zone, state) = open_zone();
    let mut input = customer_input("c-1");
    input["timezone"] = json!(zone);
    input["state"] = json!(state);
    app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
    schedule
}

async fn make_call(app: &TestApp, input: Value) -> Value {
    app.gql(&make_call_query(), json!({"input": input})).await
}

#[tokio::test]
async fn make_call_by_customer_queues_a_call() {
    let app = TestApp::spawn().await;
    let schedule = callable(&app).await;
    let body =
        make_call(&app, json!({"customerId": "c-1", "agentId": "agent-7", "data": {"reason": "promise"}}))
            .await;
    let call = &body["data"]["makeCall"];
    assert_eq!(call["status"], "QUEUED", "{body}");
    assert_eq!(call["to"], "+13105551234");
    assert_eq!(call["agentId"], "agent-7");
    assert_eq!(call["data"], json!({"reason": "promise"}));
    assert_eq!(call["customer"]["id"], "c-1");
    assert_eq!(call["schedule"]["id"], schedule);
    assert_eq!(call["schedule"]["callsCount"], 1);
    assert!(call["schedule"]["lastCallAt"].is_string());
    let id = call["id"].as_str().unwrap();
    let read = app
        .gql_ok("query($id: ID!) { call(id: $id) { id } customer(id: \"c-1\") { calls { totalCount nodes { id } } } calls { totalCount } }", json!({"id": id}))
        .await;
    assert_eq!(read["call"]["id"], id);
    assert_eq!(read["customer"]["calls"]["totalCount"], 1);
    assert_eq!(read["calls"]["totalCount"], 1);
}

#[tokio::test]
async fn every_guard_refuses_with_its_code_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let schedule = callable(&app).await;
    // Unknown callee, invalid number, missing input.
    assert_error(&make_call(&app, json!({"customerId": "nobody"})).await, "NOT_FOUND", None);
    assert_error(
        &make_call(&app, json!({"scheduleId": schedule, "to": "12"})).await,
        "BAD_USER_INPUT",
        Some("to"),
    );
    assert_error(&make_call(&app, json!({"scheduleId": schedule})).await, "BAD_USER_INPUT", Some("to"));
    assert_error(&make_call(&app, json!({})).await, "BAD_USER_INPUT", Some("customerId"));
    assert_error(
        &make_call(&app, json!({"scheduleId": "00000000-0000-0000-0000-000000000000", "to": "+14155550100"}))
            .await,
        "NOT_FOUND",
        None,
    );
    // No zone anywhere: refused rather than guessed.
    assert_error(
        &make_call(&app, json!({"scheduleId": schedule, "to": "+14155550100"})).await,
        "OUTSIDE_CALLING_HOURS",
        None,
    );
    // A suppressed number (the schedule uses DNC).
    app.gql_ok("mutation { addSuppressedNumbers(phoneNumbers: [\"310-555-1234\"]) }", json!({})).await;
    assert_error(&make_call(&app, json!({"customerId": "c-1"})).await, "DO_NOT_CALL", None);
    app.gql_ok("mutation { removeSuppressedNumbers(phoneNumbers: [\"310-555-1234\"]) }", json!({})).await;
    // A DNC customer.
    app.gql_ok("mutation { upsertCustomer(input: {id: \"c-1\", doNotCall: true}) { created } }", json!({}))
        .await;
    assert_error(&make_call(&app, json!({"customerId": "c-1"})).await, "DO_NOT_CALL", None);
    app.gql_ok("mutation { upsertCustomer(input: {id: \"c-1\", doNotCall: false}) { created } }", json!({}))
        .await;
    // Outside calling hours at the callee.
    let (zone, state) = closed_zone();
    app.gql_ok(
        "mutation($z: String!, $s: String!) { upsertCustomer(input: {id: \"c-1\", timezone: $z, state: $s}) { created } }",
        json!({"z": zone, "s": state}),
    )
    .await;
    assert_error(&make_call(&app, json!({"customerId": "c-1"})).await, "OUTSIDE_CALLING_HOURS", None);
    let (zone, state) = open_zone();
    app.gql_ok(
        "mutation($z: String!, $s: String!) { upsertCustomer(input: {id: \"c-1\", timezone: $z, state: $s}) { created } }",
        json!({"z": zone, "s": state}),
    )
    .await;
    // A paused schedule.
    app.gql_ok(
        "mutation($id: ID!) { updateSchedule(id: $id, input: {paused: true}) { id } }",
        json!({"id": schedule}),
    )
    .await;
    assert_error(&make_call(&app, json!({"customerId": "c-1"})).await, "SCHEDULE_PAUSED", None);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);
    assert_eq!(app.count("SELECT calls_count::bigint AS n FROM schedules"), 0);
}

#[tokio::test]
async fn one_number_is_dialled_once_in_30_seconds_even_concurrently() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let results =
        futures::future::join_all((0..6).map(|_| make_call(&app, json!({"customerId": "c-1"})))).await;
    let ok = results.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(ok, 1, "{results:#?}");
    for r in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_error(r, "RECENTLY_DIALED", None);
    }
}

#[tokio::test]
async fn the_calls_per_second_limit_holds_under_concurrency() {
    let app = TestApp::spawn().await;
    let schedule = callable(&app).await;
    app.gql_ok(
        "mutation($id: ID!) { updateSchedule(id: $id, input: {timeZone: \"America/New_York\"}) { id } }",
        json!({"id": schedule}),
    )
    .await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 2}) { id } }", json!({})).await;
    // One-off calls (no customer) through the schedule's zone, which must be open now.
    let (zone, _) = open_zone();
    app.gql_ok(
        "mutation($id: ID!, $z: String!) { updateSchedule(id: $id, input: {timeZone: $z}) { id } }",
        json!({"id": schedule, "z": zone}),
    )
    .await;
    let started = std::time::Instant::now();
    let requests =
        (0..6).map(|i| make_call(&app, json!({"scheduleId": schedule, "to": format!("+1415555010{i}")})));
    let results = futures::future::join_all(requests).await;
    let elapsed = started.elapsed();
    let ok = results.iter().filter(|r| r.get("errors").is_none()).count();
    for r in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_error(r, "RATE_LIMITED", None);
    }
    assert!(ok >= 1);
    assert!(ok <= 2 || elapsed > Duration::from_secs(1), "{ok} calls in {elapsed:?}");
}

#[tokio::test]
async fn by_number_reuses_the_customer_or_places_a_one_off_call() {
    let app = TestApp::spawn().await;
    let schedule = callable(&app).await;
    let (zone, _) = open_zone();
    app.gql_ok(
        "mutation($id: ID!, $z: String!) { updateSchedule(id: $id, input: {timeZone: $z}) { id } }",
        json!({"id": schedule, "z": zone}),
    )
    .await;
    let reused = make_call(&app, json!({"scheduleId": schedule, "to": "(310) 555-1234"})).await;
    assert_eq!(reused["data"]["makeCall"]["customer"]["id"], "c-1", "{reused}");
    let one_off = make_call(&app, json!({"scheduleId": schedule, "to": "+1 415 555 0199"})).await;
    assert_eq!(one_off["data"]["makeCall"]["customer"], Value::Null, "{one_off}");
    assert_eq!(one_off["data"]["makeCall"]["to"], "+14155550199");
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1, "makeCall never creates a customer");
}

#[tokio::test]
async fn status_reports_follow_the_state_machine() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let report = |status: &str| json!({"input": {"callId": call, "status": status}});
    for status in ["RINGING", "RINGING", "IN_PROGRESS"] {
        let body = app.gql(&report_query(), report(status)).await;
        assert_eq!(body["data"]["reportCallStatus"]["status"], status, "{body}");
    }
    assert_error(&app.gql(&report_query(), report("RINGING")).await, "INVALID_TRANSITION", None);
    let done = app
        .gql_ok(&report_query(), json!({"input": {"callId": call, "status": "COMPLETED", "disposition": "promise to pay", "durationSeconds": 95}}))
        .await;
    let c = &done["reportCallStatus"];
    assert_eq!(
        (c["status"].clone(), c["disposition"].clone(), c["durationSeconds"].clone()),
        (json!("COMPLETED"), json!("promise to pay"), json!(95))
    );
    assert!(c["startedAt"].is_string() && c["endedAt"].is_string());
    // Idempotent, and final.
    assert_eq!(
        app.gql_ok(&report_query(), report("COMPLETED")).await["reportCallStatus"]["status"],
        "COMPLETED"
    );
    assert_error(&app.gql(&report_query(), report("FAILED")).await, "INVALID_TRANSITION", None);
    let bad = app
        .gql(
            &report_query(),
            json!({"input": {"callId": call, "status": "COMPLETED", "durationSeconds": -1}}),
        )
        .await;
    assert!(bad.get("errors").is_none(), "the same status again is a no-op, before any check");
    assert_error(
        &app.gql(&report_query(), json!({"input": {"callId": "nope", "status": "FAILED"}})).await,
        "NOT_FOUND",
        None,
    );
}

#[tokio::test]
async fn another_company_cannot_read_or_report_calls() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, other) = app.new_company("Other");
    let read = app
        .gql_as(
            Some(&other),
            "query($id: ID!) { call(id: $id) { id } calls { totalCount } }",
            json!({"id": call}),
        )
        .await;
    assert_eq!(read["data"], json!({"call": null, "calls": {"totalCount": 0}}));
    let report = app
        .gql_as(Some(&other), &report_query(), json!({"input": {"callId": call, "status": "FAILED"}}))
        .await;
    assert_error(&report, "NOT_FOUND", None);
    let mine = app.gql_ok("query($id: ID!) { call(id: $id) { status } }", json!({"id": call})).await;
    assert_eq!(mine["call"]["status"], "QUEUED");
}

/// Tasks due now for `n` customers reachable now.
async fn due_tasks(app: &TestApp, n: usize) {
    callable(app).await;
    let (zone, state) = open_zone();
    for i in 0..n {
        let mut input = customer_input(&format!("due-{i}"));
        input["timezone"] = json!(zone);
        input["state"] = json!(state);
        input["phoneNumber"] = json!(format!("+1212555{:04}", 1000 + i));
        app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
    }
    app.count(
        "WITH ins AS (INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', 1, now() - interval '1 minute', c.timezone
         FROM customers c JOIN schedules s ON s.company_id = c.company_id WHERE c.external_id LIKE 'due-%' RETURNING 1)
         SELECT count(*) AS n FROM ins",
    );
}

#[tokio::test]
async fn two_workers_never_dial_the_same_task() {
    use callsync::dialer::{dial_round, DialerConfig};
    let app = TestApp::spawn().await;
    due_tasks(&app, 30).await;
    let config = DialerConfig::default();
    let other = callsync::store::Db::new(callsync::store::connect_pool(&app.db.url, 4).unwrap());
    let (a, b) = tokio::join!(dial_round(&app.store, &config), dial_round(&other, &config));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 30, "every task dialled once ({} + {})", a.len(), b.len());
    assert_eq!(app.count("SELECT count(DISTINCT task_id) AS n FROM calls"), 30);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'IN_PROGRESS'"), 30);
    // The call's task follows its final status.
    let task_call = app
        .gql_ok("{ tasks(filter: {customerId: \"due-0\"}) { nodes { id call { id status } } } }", json!({}))
        .await;
    let call = task_call["tasks"]["nodes"][0]["call"]["id"].as_str().unwrap().to_string();
    let done = app.gql_ok(&report_query(), json!({"input": {"callId": call, "status": "FAILED"}})).await;
    assert_eq!(done["reportCallStatus"]["task"]["status"], "FAILED");
    let task_call =
        app.gql_ok("{ tasks(filter: {customerId: \"due-1\"}) { nodes { call { id } } } }", json!({})).await;
    let call = task_call["tasks"]["nodes"][0]["call"]["id"].as_str().unwrap().to_string();
    let done = app.gql_ok(&report_query(), json!({"input": {"callId": call, "status": "COMPLETED"}})).await;
    assert_eq!(done["reportCallStatus"]["task"]["status"], "COMPLETED");
}

#[tokio::test]
async fn the_dialer_rechecks_guards_at_dial_time() {
    use callsync::dialer::{dial_round, DialerConfig};
    let app = TestApp::spawn().await;
    due_tasks(&app, 3).await;
    // due-0 became DNC, due-1 moved somewhere it is night, due-2 is fine.
    app.gql_ok("mutation { upsertCustomer(input: {id: \"due-0\", doNotCall: true}) { created } }", json!({}))
        .await;
    let (zone, state) = closed_zone();
    app.gql_ok(
        "mutation($z: String!, $s: String!) { upsertCustomer(input: {id: \"due-1\", timezone: $z, state: $s}) { created } }",
        json!({"z": zone, "s": state}),
    )
    .await;
    let placed = dial_round(&app.store, &DialerConfig::default()).await.unwrap();
    assert_eq!(placed.len(), 1);
    let statuses = app
        .gql_ok("{ tasks(first: 10) { nodes { status scheduledFor customer { id } } } }", json!({}))
        .await["tasks"]["nodes"]
        .clone();
    let by_customer =
        |id: &str| statuses.as_array().unwrap().iter().find(|t| t["customer"]["id"] == id).unwrap().clone();
    assert_eq!(by_customer("due-0")["status"], "CANCELLED");
    let moved = by_customer("due-1");
    assert_eq!(moved["status"], "PENDING");
    assert!(
        moved["scheduledFor"].as_str().unwrap() > Utc::now().to_rfc3339().as_str(),
        "moved to the next opening, not dropped"
    );
    assert_eq!(by_customer("due-2")["status"], "IN_PROGRESS");
}

#[tokio::test]
async fn a_conversation_starts_the_quiet_period() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    // Pending tasks over the next days.
    app.count(
        "WITH ins AS (INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', d, now() + d * interval '1 day', c.timezone
         FROM customers c JOIN schedules s ON s.company_id = c.company_id, generate_series(1, 9) d RETURNING 1)
         SELECT count(*) AS n FROM ins",
    );
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok(&report_query(), json!({"input": {"callId": call, "status": "COMPLETED"}})).await;
    // Nothing pending within the 7 days that start with the conversation's day.
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING' AND scheduled_for < now() + interval '6 days'"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 9);
    assert!(app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_RESCHEDULED'") >= 5);
}

#[tokio::test]
async fn call_events_stream_each_change_in_order() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    ws.init(json!({"apiKey": app.api_key})).await;
    ws.subscribe("1", "subscription { callEvents(filter: {customerId: \"c-1\"}) { eventId previousStatus call { id status } } }", json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for status in ["RINGING", "IN_PROGRESS", "COMPLETED"] {
        app.gql_ok(&report_query(), json!({"input": {"callId": call, "status": status}})).await;
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        let payload = ws.next_data(Duration::from_secs(10)).await.expect("a call event");
        let e = &payload["data"]["callEvents"];
        assert_eq!(e["call"]["id"], call.as_str());
        seen.push((e["call"]["status"].as_str().unwrap().to_string(), e["previousStatus"].clone()));
    }
    assert_eq!(
        seen,
        vec![
            ("QUEUED".to_string(), Value::Null),
            ("RINGING".to_string(), json!("QUEUED")),
            ("IN_PROGRESS".to_string(), json!("RINGING")),
            ("COMPLETED".to_string(), json!("IN_PROGRESS")),
        ]
    );
}

/// A real local HTTP server standing in for the company's agent platform.
pub(crate) struct Receiver {
    pub url: String,
    pub requests: Arc<Mutex<Vec<(actix_web::http::header::HeaderMap, String)>>>,
    _handle: actix_web::dev::ServerHandle,
}

pub(crate) async fn receiver(failures: usize) -> Receiver {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let requests: Arc<Mutex<Vec<_>>> = Arc::default();
    let recorded = requests.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/calls", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let recorded = recorded.clone();
        App::new().route(
            "/calls",
            web::post().to(move |req: HttpRequest, body: String| {
                let recorded = recorded.clone();
                async move {
                    let mut r = recorded.lock().unwrap();
                    r.push((req.headers().clone(), body));
                    if r.len() <= failures {
                        HttpResponse::ServiceUnavailable().finish()
                    } else {
                        HttpResponse::Ok().finish()
                    }
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Receiver { url, requests, _handle: handle }
}

#[tokio::test]
async fn the_webhook_receives_signed_calls_and_is_retried() {
    use callsync::dialer::webhook::{self, WebhookConfig};
    let app = TestApp::spawn().await;
    callable(&app).await;
    let hook = receiver(2).await;
    let secret = "a-very-secret-signing-key";
    app.gql_ok(
        "mutation($url: String!, $secret: String!) { updateCompanySettings(input: {callWebhookUrl: $url, callWebhookSecret: $secret}) { callWebhookUrl } }",
        json!({"url": hook.url, "secret": secret}),
    )
    .await;
    app.gql_ok(
        "mutation { upsertCustomer(input: {id: \"c-1\", externalMetadata: {balance: 1250}}) { created } }",
        json!({}),
    )
    .await;
    let call = make_call(&app, json!({"customerId": "c-1", "agentId": "agent-1"})).await["data"]["makeCall"]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let config = WebhookConfig { first_retry: Duration::from_millis(100), ..WebhookConfig::default() };
    let client = webhook::client(&config);
    for _ in 0..50 {
        webhook::deliver_due(&app.store, &client, &config).await.unwrap();
        if hook.requests.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests = hook.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "two failures, then delivered");
    for (i, (headers, body)) in requests.iter().enumerate() {
        let timestamp: i64 = headers.get("x-callsync-timestamp").unwrap().to_str().unwrap().parse().unwrap();
        let signature = headers.get("x-callsync-signature").unwrap().to_str().unwrap();
        assert_eq!(
            signature,
            webhook::signature(secret, timestamp, body.as_bytes()),
            "attempt {i} is signed"
        );
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["call"]["id"], call.as_str());
        assert_eq!(payload["call"]["agentId"], "agent-1");
        assert_eq!(payload["customer"]["id"], "c-1");
        assert_eq!(payload["customer"]["externalMetadata"]["balance"], 1250);
        assert!(payload["customer"]["loans"].is_array());
    }
    // Delivered: no more attempts.
    webhook::deliver_due(&app.store, &client, &config).await.unwrap();
    assert_eq!(hook.requests.lock().unwrap().len(), 3);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM calls WHERE webhook_next_at IS NULL AND webhook_attempts = 3"),
        1
    );
}

#[tokio::test]
async fn a_webhook_that_never_answers_fails_the_call_and_stuck_calls_fail() {
    use callsync::dialer::webhook::{self, WebhookConfig};
    let app = TestApp::spawn().await;
    callable(&app).await;
    let hook = receiver(usize::MAX).await;
    app.gql_ok(
        "mutation($url: String!) { updateCompanySettings(input: {callWebhookUrl: $url, callWebhookSecret: \"0123456789abcdef\"}) { id } }",
        json!({"url": hook.url}),
    )
    .await;
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let config =
        WebhookConfig { first_retry: Duration::from_millis(10), max_attempts: 3, ..WebhookConfig::default() };
    let client = webhook::client(&config);
    for _ in 0..50 {
        webhook::deliver_due(&app.store, &client, &config).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hook.requests.lock().unwrap().len(), 3);
    let failed =
        app.gql_ok("query($id: ID!) { call(id: $id) { status disposition } }", json!({"id": call})).await;
    assert_eq!(failed["call"]["status"], "FAILED");
    assert!(failed["call"]["disposition"].as_str().unwrap().contains("webhook"));

    // A call nobody reports on is failed after the stuck timeout.
    app.gql_ok("mutation { updateCompanySettings(input: {callWebhookUrl: null}) { id } }", json!({})).await;
    app.count("UPDATE calls SET created_at = created_at - interval '31 seconds' RETURNING 1::bigint AS n");
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = app
        .store
        .write(|conn| callsync::store::calls::fail_stuck(conn, chrono::Duration::zero(), Utc::now()))
        .await
        .unwrap();
    assert_eq!(failed, 1);
    let stuck =
        app.gql_ok("query($id: ID!) { call(id: $id) { status disposition } }", json!({"id": call})).await;
    assert_eq!(stuck["call"]["status"], "FAILED");
}

#[tokio::test]
async fn the_quiet_period_is_a_schedule_setting() {
    let app = TestApp::spawn().await;
    let schedule = callable(&app).await;
    let updated = app
        .gql_ok(
            "mutation($id: ID!) { updateSchedule(id: $id, input: {quietPeriodAfterConversation: false}) { quietPeriodAfterConversation } }",
            json!({"id": schedule}),
        )
        .await;
    assert_eq!(updated["updateSchedule"]["quietPeriodAfterConversation"], false);
    app.count(
        "WITH ins AS (INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', 1, now() + interval '2 days', c.timezone
         FROM customers c JOIN schedules s ON s.company_id = c.company_id RETURNING 1) SELECT count(*) AS n FROM ins",
    );
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok(&report_query(), json!({"input": {"callId": call, "status": "COMPLETED"}})).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tasks WHERE scheduled_for < now() + interval '3 days'"),
        1
    );
}

#[tokio::test]
async fn the_simulated_provider_walks_a_call_to_completion() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"].clone();
    let id: uuid::Uuid = call["id"].as_str().unwrap().parse().unwrap();
    callsync::dialer::simulate(app.store.clone(), app.company_id, id);
    let mut status = String::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let read = app
            .gql_ok("query($id: ID!) { call(id: $id) { status disposition } }", json!({"id": call["id"]}))
            .await;
        status = read["call"]["status"].as_str().unwrap().to_string();
        if status == "COMPLETED" {
            assert_eq!(read["call"]["disposition"], "simulated");
            break;
        }
    }
    assert_eq!(status, "COMPLETED");
}
