//! The consumer's own words: contact holds (an attorney, a cease request, a dispute) and the
//! outcomes an AI agent hears on a call (an opt-out, a wrong number), each effective at once.

use serde_json::{json, Value};

use crate::harness::{assert_error, create_schedule, customer_at, TestApp};

const NEW_YORK: (&str, &str, &str, &str) = ("America/New_York", "NY", "10001", "+12125550100");
const SYNC: &str =
    "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated skippedReason } }";
const MAKE_CALL: &str = "mutation($c: ID!) { makeCall(input: {customerId: $c}) { id } }";
const HOLD: &str = "mutation($c: ID!, $r: ContactHoldReason!, $n: String) {
    placeContactHold(customerId: $c, reason: $r, note: $n) { id contactHold { reason since note } } }";
const RELEASE: &str = "mutation($c: ID!) { releaseContactHold(customerId: $c) { contactHold { reason } } }";
const REPORT: &str = "mutation($i: ReportCallStatusInput!) { reportCallStatus(input: $i) { id status } }";

async fn setup(app: &TestApp) {
    create_schedule(app, "collections").await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
}

async fn call_status(app: &TestApp, id: &Value) -> Value {
    app.gql_ok("query($id: ID!) { call(id: $id) { status cancelReason } }", json!({"id": id})).await["call"]
        .clone()
}

#[tokio::test]
async fn a_contact_hold_stops_every_path_until_released() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    app.gql_ok(SYNC, json!({"i": customer_at("held", NEW_YORK)})).await;
    let queued = app.gql_ok(MAKE_CALL, json!({"c": "held"})).await["makeCall"]["id"].clone();

    // Bad input changes nothing.
    assert_error(&app.gql(HOLD, json!({"c": "held", "r": "LAWYER"})).await, "BAD_USER_INPUT", None);
    let long = "x".repeat(2001);
    assert_error(
        &app.gql(HOLD, json!({"c": "held", "r": "DISPUTE", "n": long})).await,
        "BAD_USER_INPUT",
        Some("note"),
    );
    assert_error(&app.gql(HOLD, json!({"c": "nobody", "r": "DISPUTE"})).await, "NOT_FOUND", None);
    assert_eq!(call_status(&app, &queued).await["status"], "QUEUED");

    let held = app.gql_ok(HOLD, json!({"c": "held", "r": "ATTORNEY_REPRESENTED", "n": "Smith & Co."})).await;
    let hold = &held["placeContactHold"]["contactHold"];
    assert_eq!(
        (hold["reason"].clone(), hold["note"].clone()),
        (json!("ATTORNEY_REPRESENTED"), json!("Smith & Co."))
    );
    // At once: the plan and the queued call are gone, with the reason.
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 0);
    assert_eq!(
        call_status(&app, &queued).await,
        json!({"status": "CANCELLED", "cancelReason": "CONTACT_HOLD"})
    );
    // Every path refuses; a sync plans nothing and keeps the hold; so does an upsert.
    app.clock.advance(chrono::Duration::hours(1));
    let refused = app.gql(MAKE_CALL, json!({"c": "held"})).await;
    assert_error(&refused, "CONTACT_HOLD", None);
    assert!(refused["errors"][0]["extensions"]["nextAllowedAt"].is_null(), "{refused}");
    let synced = app.gql_ok(SYNC, json!({"i": customer_at("held", NEW_YORK)})).await;
    assert_eq!(synced["syncCustomerSchedule"], json!({"tasksCreated": 0, "skippedReason": "CONTACT_HOLD"}));
    app.gql_ok(
        "mutation { upsertCustomer(input: {id: \"held\", firstName: \"Ada\"}) { created } }",
        json!({}),
    )
    .await;
    let still = app.gql_ok("{ customer(id: \"held\") { contactHold { reason } } }", json!({})).await;
    assert_eq!(still["customer"]["contactHold"]["reason"], "ATTORNEY_REPRESENTED");
    // Released: callable again.
    let released = app.gql_ok(RELEASE, json!({"c": "held"})).await;
    assert_eq!(released["releaseContactHold"]["contactHold"], Value::Null);
    app.gql_ok(MAKE_CALL, json!({"c": "held"})).await;
}

#[tokio::test]
async fn an_opt_out_heard_on_a_call_suppresses_the_number_for_every_schedule() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    // A second campaign that does not use the company's Do-Not-Call list.
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Reminders\", taskType: \"reminders\", useDoNotCall: false}) { id } }",
        json!({}),
    )
    .await;
    app.gql_ok(SYNC, json!({"i": customer_at("a", NEW_YORK)})).await;
    let mut other = customer_at("b", NEW_YORK);
    other["taskType"] = json!("reminders");
    app.gql_ok(SYNC, json!({"i": other})).await;
    let call = app.gql_ok(MAKE_CALL, json!({"c": "a"})).await["makeCall"]["id"].clone();
    app.gql_ok(REPORT, json!({"i": {"callId": call, "status": "COMPLETED", "outcome": "OPT_OUT"}})).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM suppressed_numbers WHERE phone_number = '+12125550100' AND source = 'CONSUMER_OPT_OUT'"),
        1
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM calls WHERE outcome = 'OPT_OUT'"), 1);
    // b's plan on the schedule that ignores the company list is gone too, and b is refused.
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 0);
    app.clock.advance(chrono::Duration::days(9));
    assert_error(&app.gql(MAKE_CALL, json!({"c": "b"})).await, "DO_NOT_CALL", None);
    assert_error(&app.gql(MAKE_CALL, json!({"c": "a"})).await, "DO_NOT_CALL", None);
    // The list says where each entry came from; another company sees none of it.
    app.gql_ok("mutation { addSuppressedNumbers(phoneNumbers: [\"+13105550000\"]) }", json!({})).await;
    let list = "query($s: SuppressionSource) { suppressedNumbers(source: $s) { nodes { phoneNumber source addedAt } pageInfo { hasNextPage } } }";
    let opted = app.gql_ok(list, json!({"s": "CONSUMER_OPT_OUT"})).await;
    let nodes = opted["suppressedNumbers"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 1, "{opted}");
    assert_eq!(
        (nodes[0]["phoneNumber"].clone(), nodes[0]["source"].clone()),
        (json!("+12125550100"), json!("CONSUMER_OPT_OUT"))
    );
    assert_eq!(app.gql_ok(list, json!({})).await["suppressedNumbers"]["nodes"].as_array().unwrap().len(), 2);
    let (_, other) = app.new_company("Other");
    let theirs = app.gql_as(Some(&other), list, json!({})).await;
    assert_eq!(theirs["data"]["suppressedNumbers"]["nodes"], json!([]), "{theirs}");
    // An unknown outcome is refused and changes nothing.
    let bad =
        app.gql(REPORT, json!({"i": {"callId": call, "status": "COMPLETED", "outcome": "HUNG_UP"}})).await;
    assert_error(&bad, "BAD_USER_INPUT", None);
}

#[tokio::test]
async fn wrong_numbers_and_cease_requests_reported_with_attempts_take_effect() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    app.gql_ok(SYNC, json!({"i": customer_at("w", NEW_YORK)})).await;
    let mut other = customer_at("c", NEW_YORK);
    other["phoneNumber"] = json!("+12125550199");
    app.gql_ok(SYNC, json!({"i": other})).await;
    let at = (app.clock.now() - chrono::Duration::minutes(5)).to_rfc3339();
    app.gql_ok(
        "mutation($a: [CallAttemptInput!]!) { recordCallAttempts(attempts: $a) { recorded } }",
        json!({"a": [
            {"customerId": "w", "occurredAt": at, "status": "COMPLETED", "outcome": "WRONG_NUMBER"},
            {"customerId": "c", "occurredAt": at, "status": "COMPLETED", "outcome": "CEASE_REQUESTED"},
        ]}),
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM suppressed_numbers WHERE phone_number = '+12125550100' AND source = 'WRONG_NUMBER'"),
        1
    );
    let held = app.gql_ok("{ customer(id: \"c\") { contactHold { reason } } }", json!({})).await;
    assert_eq!(held["customer"]["contactHold"]["reason"], "CEASE_REQUESTED");
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 0);
    // A wrong number was no conversation: no quiet period for the customer.
    let eligibility =
        app.gql_ok("{ callEligibility(customerId: \"w\") { lastConversationAt } }", json!({})).await;
    assert_eq!(eligibility["callEligibility"]["lastConversationAt"], Value::Null);
}
