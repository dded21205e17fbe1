//! Calls over HTTP: makeCall's guards, reportCallStatus, the task following, the quiet period,
//! call events, the dialer worker and its webhook (a real local HTTP receiver), tenancy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::harness::{
    assert_error, customer_at, eventually, utc, Place, TestApp, WsClient, CREATE_CUSTOMER, TRANSPORT_WS,
};

/// A place: (timezone, state, ZIP, phone), every location signal agreeing, so the callee's only
/// candidate zone is `timezone`. Local times are at [`crate::harness::TEST_START`], where every
/// test server's clock starts (Tuesday 2026-12-01 17:00 UTC).
/// 09:00: inside calling hours. `customer_input`'s place (its number is "(310) 555-1234").
const LOS_ANGELES: Place = ("America/Los_Angeles", "CA", "90001", "+13105551234");
/// 12:00: inside calling hours.
const NEW_YORK: Place = ("America/New_York", "NY", "10001", "+12125550100");
/// 03:00 on Wednesday: outside calling hours; they open at 08:00 ChST = 2026-12-01T22:00Z.
const GUAM: Place = ("Pacific/Guam", "GU", "96910", "+16715550100");
/// 07:00: before calling hours; they open at 08:00 HST = 2026-12-01T18:00Z.
const HONOLULU: Place = ("Pacific/Honolulu", "HI", "96813", "+18085550100");

/// Moves an existing customer to `place` (all its location signals at once).
async fn move_to(app: &TestApp, id: &str, place: Place) {
    let (timezone, state, zip, phone) = place;
    app.gql_ok(
        "mutation($input: CustomerInput!) { upsertCustomer(input: $input) { created } }",
        json!({"input": {"id": id, "timezone": timezone, "state": state, "zipCode": zip, "phoneNumber": phone}}),
    )
    .await;
}

/// An instant as a SQL literal (the database's `now()` is the wall clock, not the server's).
fn sql_instant(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.to_rfc3339())
}

/// The server's now, to the second (so that instants written to SQL read back exactly).
fn now_to_the_second(app: &TestApp) -> DateTime<Utc> {
    let now = app.clock.now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap()
}

/// Local midnight starting `day` in `zone`.
fn local_midnight(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    zone.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap()).earliest().unwrap().with_timezone(&Utc)
}

/// The refusal's `extensions.nextAllowedAt`.
fn next_allowed_at(body: &Value) -> Option<DateTime<Utc>> {
    body["errors"][0]["extensions"]["nextAllowedAt"].as_str().map(|t| t.parse().unwrap())
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

/// A schedule "collections" (no timeZone) and a customer "c-1" in Los Angeles, where it is
/// 09:00 at the test's start.
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
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_at("c-1", LOS_ANGELES)})).await;
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
    // No zone anywhere (a toll-free number, no customer, a schedule without timeZone): refused
    // rather than guessed, and no time will do.
    crate::harness::record_consent(&app, "+18005550199", false).await;
    let nowhere = make_call(&app, json!({"scheduleId": schedule, "to": "+1 800 555 0199"})).await;
    assert_error(&nowhere, "OUTSIDE_CALLING_HOURS", None);
    assert_eq!(next_allowed_at(&nowhere), None, "{nowhere:#}");
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
    // Outside calling hours at the callee: 03:00 in Guam, 07:00 in Honolulu; each refusal says
    // when that place's calling hours open.
    for (place, opens) in [(GUAM, "2026-12-01T22:00:00Z"), (HONOLULU, "2026-12-01T18:00:00Z")] {
        move_to(&app, "c-1", place).await;
        let body = make_call(&app, json!({"customerId": "c-1"})).await;
        assert_error(&body, "OUTSIDE_CALLING_HOURS", None);
        assert_eq!(body["errors"][0]["extensions"]["zones"], json!([place.0]), "{body:#}");
        assert_eq!(next_allowed_at(&body), Some(utc(opens)), "{body:#}");
    }
    move_to(&app, "c-1", LOS_ANGELES).await;
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
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 2}) { id } }", json!({})).await;
    // One-off calls (no customer) to San Francisco numbers (Los Angeles' zone, 09:00), through a
    // schedule in the same zone.
    app.gql_ok(
        "mutation($id: ID!) { updateSchedule(id: $id, input: {timeZone: \"America/Los_Angeles\"}) { id } }",
        json!({"id": schedule}),
    )
    .await;
    for i in 0..6 {
        crate::harness::record_consent(&app, &format!("+1415555010{i}"), false).await;
    }
    // Every request at one instant: the limit, not the machine's speed, decides how many pass.
    app.clock.freeze();
    let requests =
        (0..6).map(|i| make_call(&app, json!({"scheduleId": schedule, "to": format!("+1415555010{i}")})));
    let results = futures::future::join_all(requests).await;
    let ok = results.iter().filter(|r| r.get("errors").is_none()).count();
    for r in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_error(r, "RATE_LIMITED", None);
    }
    assert_eq!(ok, 2, "{results:#?}");
}

#[tokio::test]
async fn by_number_reuses_the_customer_or_places_a_one_off_call() {
    let app = TestApp::spawn().await;
    let schedule = callable(&app).await;
    // The one-off number is from San Francisco (Los Angeles' zone, 09:00), like the schedule.
    app.gql_ok(
        "mutation($id: ID!) { updateSchedule(id: $id, input: {timeZone: \"America/Los_Angeles\"}) { id } }",
        json!({"id": schedule}),
    )
    .await;
    let reused = make_call(&app, json!({"scheduleId": schedule, "to": "(310) 555-1234"})).await;
    assert_eq!(reused["data"]["makeCall"]["customer"]["id"], "c-1", "{reused}");
    // A number no customer gave needs consent: here it comes with the call.
    let consent =
        json!({"type": "PRIOR_EXPRESS", "source": "RECORDED_CALL", "obtainedAt": "2026-11-30T10:00:00Z"});
    let one_off =
        make_call(&app, json!({"scheduleId": schedule, "to": "+1 415 555 0199", "consent": consent})).await;
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

/// Tasks due a minute before the server's now for `n` customers in New York (12:00).
async fn due_tasks(app: &TestApp, n: usize) {
    callable(app).await;
    for i in 0..n {
        let mut input = customer_at(&format!("due-{i}"), NEW_YORK);
        input["phoneNumber"] = json!(format!("+1212555{:04}", 1000 + i));
        app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
    }
    let due = app.clock.now() - chrono::Duration::minutes(1);
    app.count(&format!(
        "WITH ins AS (INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone, created_at, updated_at)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', 1, {0}, c.timezone, {1}, {1}
         FROM customers c JOIN schedules s ON s.company_id = c.company_id WHERE c.external_id LIKE 'due-%' RETURNING 1)
         SELECT count(*) AS n FROM ins",
        sql_instant(due),
        sql_instant(app.clock.now())
    ));
}

#[tokio::test]
async fn two_workers_never_dial_the_same_task() {
    use callsync::dialer::{dial_round, DialerConfig};
    let app = TestApp::spawn().await;
    due_tasks(&app, 30).await;
    let config = DialerConfig::default();
    let other = callsync::store::Db::new(callsync::store::connect_pool(&app.db.url, 4).unwrap())
        .with_clock(app.clock.clone()); // the test's instant, not the real date
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
    // due-0 became DNC, due-1 moved to Guam (03:00 there), due-2 is fine.
    app.gql_ok("mutation { upsertCustomer(input: {id: \"due-0\", doNotCall: true}) { created } }", json!({}))
        .await;
    move_to(&app, "due-1", GUAM).await;
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
    let moved_to: DateTime<Utc> = moved["scheduledFor"].as_str().unwrap().parse().unwrap();
    assert!(moved_to > app.clock.now(), "moved to the next opening, not dropped: {moved_to}");
    // The next opening: 08:00 on Wednesday in Guam.
    assert_eq!(moved_to, utc("2026-12-01T22:00:00Z"));
    assert_eq!(app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_RESCHEDULED'"), 1);
    assert_eq!(by_customer("due-2")["status"], "IN_PROGRESS");
}

#[tokio::test]
async fn a_conversation_starts_the_quiet_period() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let zone: Tz = LOS_ANGELES.0.parse().unwrap();
    // Pending tasks for c-1, one a day over the next 9 days from the server's now.
    let start = now_to_the_second(&app);
    app.count(&format!(
        "WITH ins AS (INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone, created_at, updated_at)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', d, {0} + d * interval '1 day', c.timezone, {0}, {0}
         FROM customers c JOIN schedules s ON s.company_id = c.company_id, generate_series(1, 9) d RETURNING 1)
         SELECT count(*) AS n FROM ins",
        sql_instant(start)
    ));
    let before = pending_tasks(&app, "c-1").await;
    assert_eq!(before.len(), 9);
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rescheduled = "SELECT count(*) AS n FROM events WHERE kind = 'TASK_RESCHEDULED'";
    let events_before = app.count(rescheduled);
    let done = app.gql_ok(&report_query(), json!({"input": {"callId": call, "status": "COMPLETED"}})).await;
    let conversation: DateTime<Utc> = done["reportCallStatus"]["endedAt"].as_str().unwrap().parse().unwrap();
    // The conversation is on local day D: no call on D+1..D+7, so nothing pending before the
    // local midnight that starts D+8 (nor later on D: the first task was a day out).
    let day = conversation.with_timezone(&zone).date_naive();
    let resume = local_midnight(zone, day + chrono::Duration::days(8));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM tasks WHERE status = 'PENDING' AND scheduled_for < {}",
            sql_instant(resume)
        )),
        0
    );
    let after = pending_tasks(&app, "c-1").await;
    assert_eq!(after.len(), 9, "moved, not cancelled");
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 9);
    // The plan is paused, not squeezed: the same tasks in the same order, resuming on D+8, with
    // the same spacing.
    let ids = |tasks: &[(String, DateTime<Utc>)]| tasks.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(after[0].1.with_timezone(&zone).date_naive(), day + chrono::Duration::days(8), "{after:?}");
    for i in 1..after.len() {
        assert_eq!(after[i].1 - after[i - 1].1, before[i].1 - before[i - 1].1, "{before:?} -> {after:?}");
    }
    // Caps: with the conversation's call, at most 7 attempts in any 7 consecutive local days.
    let mut attempts: Vec<DateTime<Utc>> = after.iter().map(|t| t.1).collect();
    attempts.push(conversation);
    assert!(busiest_week(zone, &attempts) <= 7, "{attempts:?}");
    // One TASK_RESCHEDULED event per task moved.
    let moved = before.iter().zip(&after).filter(|(b, a)| b.1 != a.1).count();
    assert!(moved >= 1);
    assert_eq!(app.count(rescheduled) - events_before, moved as i64);
}

/// The customer's PENDING tasks in time order: (id, scheduledFor).
async fn pending_tasks(app: &TestApp, customer: &str) -> Vec<(String, DateTime<Utc>)> {
    let data = app
        .gql_ok(
            "query($c: ID!) { tasks(first: 100, filter: {customerId: $c, status: [PENDING]}) { nodes { id scheduledFor } } }",
            json!({"c": customer}),
        )
        .await;
    data["tasks"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["id"].as_str().unwrap().to_string(), t["scheduledFor"].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

/// The most attempts in any 7 consecutive local days of `zone`.
fn busiest_week(zone: Tz, attempts: &[DateTime<Utc>]) -> usize {
    let days: Vec<NaiveDate> = attempts.iter().map(|t| t.with_timezone(&zone).date_naive()).collect();
    days.iter()
        .map(|first| {
            days.iter().filter(|d| **d >= *first && **d < *first + chrono::Duration::days(7)).count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn call_events_stream_each_change_in_order() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    ws.init(json!({"apiKey": app.api_key})).await;
    ws.subscribe_live("1", "subscription { callEvents(filter: {customerId: \"c-1\"}) { eventId previousStatus call { id status } } }", json!({}))
        .await;
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
    let config =
        WebhookConfig { first_retry: Duration::from_millis(100), ..crate::harness::webhook_config() };
    let client = webhook::client(&config);
    // Each round moves the server's clock past the retry's backoff (at most 200 ms here).
    for _ in 0..10 {
        webhook::deliver_due(&app.store, &client, &config).await.unwrap();
        if hook.requests.lock().unwrap().len() >= 3 {
            break;
        }
        app.clock.advance(chrono::Duration::seconds(1));
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
    let config = WebhookConfig {
        first_retry: Duration::from_millis(10),
        max_attempts: 3,
        ..crate::harness::webhook_config()
    };
    let client = webhook::client(&config);
    // Each round moves the server's clock past the retry's backoff (at most 20 ms here), then
    // a few more rounds find nothing to send once the attempts are spent.
    for _ in 0..10 {
        webhook::deliver_due(&app.store, &client, &config).await.unwrap();
        app.clock.advance(chrono::Duration::seconds(1));
    }
    assert_eq!(hook.requests.lock().unwrap().len(), 3);
    let failed =
        app.gql_ok("query($id: ID!) { call(id: $id) { status disposition } }", json!({"id": call})).await;
    assert_eq!(failed["call"]["status"], "FAILED");
    assert!(failed["call"]["disposition"].as_str().unwrap().contains("webhook"));

    // A call nobody reports on is failed after the stuck timeout.
    app.gql_ok("mutation { updateCompanySettings(input: {callWebhookUrl: null}) { id } }", json!({})).await;
    // A second attempt to c-1 waits out the 30 minutes between two attempts to one person.
    app.clock.advance(chrono::Duration::minutes(31));
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = app.clock.now() + chrono::Duration::seconds(1);
    let failed = app
        .store
        .transaction(move |conn| callsync::app::dialer::fail_stuck(conn, chrono::Duration::zero(), now))
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
            "mutation($id: ID!) { updateSchedule(id: $id, input: {purpose: INFORMATIONAL, quietPeriodAfterConversation: false}) { quietPeriodAfterConversation } }",
            json!({"id": schedule}),
        )
        .await;
    assert_eq!(updated["updateSchedule"]["quietPeriodAfterConversation"], false);
    // A task two days after the server's now: inside the quiet period, were it on.
    let planned = now_to_the_second(&app) + chrono::Duration::days(2);
    app.count(&format!(
        "WITH ins AS (INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone, created_at, updated_at)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', 1, {}, c.timezone, {}, {}
         FROM customers c JOIN schedules s ON s.company_id = c.company_id RETURNING 1) SELECT count(*) AS n FROM ins",
        sql_instant(planned),
        sql_instant(app.clock.now()),
        sql_instant(app.clock.now())
    ));
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok(&report_query(), json!({"input": {"callId": call, "status": "COMPLETED"}})).await;
    // The task stays where it was.
    let within_3_days = app.clock.now() + chrono::Duration::days(3);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM tasks WHERE scheduled_for < {}",
            sql_instant(within_3_days)
        )),
        1
    );
    assert_eq!(pending_tasks(&app, "c-1").await.into_iter().map(|t| t.1).collect::<Vec<_>>(), [planned]);
    assert_eq!(app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_RESCHEDULED'"), 0);
}

#[tokio::test]
async fn the_simulated_provider_walks_a_call_to_completion() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let call = make_call(&app, json!({"customerId": "c-1"})).await["data"]["makeCall"].clone();
    let id: uuid::Uuid = call["id"].as_str().unwrap().parse().unwrap();
    callsync::dialer::simulate_paced(app.store.clone(), app.company_id, id, Duration::from_millis(10));
    let read = eventually("the simulated call completes", || async {
        let read = app
            .gql_ok("query($id: ID!) { call(id: $id) { status disposition } }", json!({"id": call["id"]}))
            .await;
        (read["call"]["status"] == "COMPLETED").then_some(read)
    })
    .await;
    assert_eq!(read["call"]["disposition"], "simulated");
}
