//! Do Not Call belongs to the number: a mark on one customer record stops every record and
//! one-off call that reaches the number, at once and in the same transaction.

use serde_json::{json, Value};

use crate::harness::{assert_error, create_schedule, customer_at, TestApp};

const NEW_YORK: (&str, &str, &str, &str) = ("America/New_York", "NY", "10001", "+12125550100");
const SYNC: &str =
    "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated skippedReason } }";
const UPSERT: &str = "mutation($i: CustomerInput!) { upsertCustomer(input: $i) { created } }";
const MAKE_CALL: &str = "mutation($i: MakeCallInput!) { makeCall(input: $i) { id } }";

async fn set_do_not_call(app: &TestApp, id: &str, on: bool) {
    app.gql_ok(UPSERT, json!({"i": {"id": id, "doNotCall": on}})).await;
}

#[tokio::test]
async fn a_mark_on_one_record_stops_every_record_and_one_off_call_of_the_number() {
    let app = TestApp::spawn().await;
    let schedule = create_schedule(&app, "collections").await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
    // Two records of one number: "a" has a plan and a queued call.
    let planned = app.gql_ok(SYNC, json!({"i": customer_at("a", NEW_YORK)})).await;
    assert!(planned["syncCustomerSchedule"]["tasksCreated"].as_i64().unwrap() > 0);
    app.gql_ok(UPSERT, json!({"i": customer_at("b", NEW_YORK)})).await;
    let queued = app.gql_ok(MAKE_CALL, json!({"i": {"customerId": "a"}})).await["makeCall"]["id"].clone();

    set_do_not_call(&app, "b", true).await;
    // At once: a's plan and queued call are cancelled, with events and the reason.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tasks t JOIN customers c ON c.id = t.customer_id WHERE c.external_id = 'a' AND t.status = 'PENDING'"),
        0
    );
    let call = app
        .gql_ok("query($id: ID!) { call(id: $id) { status cancelReason } }", json!({"id": queued}))
        .await["call"]
        .clone();
    assert_eq!(call, json!({"status": "CANCELLED", "cancelReason": "DO_NOT_CALL"}));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE kind = 'CALL_STATUS_CHANGED' AND payload->'call'->>'status' = 'CANCELLED'"),
        1
    );
    // No path reaches the number: a's makeCall, a one-off call, a's sync.
    let refused = app.gql(MAKE_CALL, json!({"i": {"customerId": "a"}})).await;
    assert_error(&refused, "DO_NOT_CALL", None);
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("another"), "{refused}");
    let one_off = app.gql(MAKE_CALL, json!({"i": {"scheduleId": schedule, "to": "(212) 555-0100"}})).await;
    assert_error(&one_off, "DO_NOT_CALL", None);
    let synced = app.gql_ok(SYNC, json!({"i": customer_at("a", NEW_YORK)})).await;
    assert_eq!(synced["syncCustomerSchedule"], json!({"tasksCreated": 0, "skippedReason": "DO_NOT_CALL"}));
    // Clearing it on a record that never had it changes nothing; clearing b frees the number.
    set_do_not_call(&app, "a", false).await;
    assert_error(&app.gql(MAKE_CALL, json!({"i": {"customerId": "a"}})).await, "DO_NOT_CALL", None);
    set_do_not_call(&app, "b", false).await;
    let placed = app.gql(MAKE_CALL, json!({"i": {"customerId": "a"}})).await;
    assert!(placed["errors"].is_null(), "{placed}");
}

/// The mark and a makeCall through the other record, at once, many times: whichever commits
/// first, no QUEUED call to a Do Not Call number is left.
#[tokio::test]
async fn a_concurrent_mark_and_make_call_never_leave_a_queued_call_to_the_number() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 1000}) { id } }", json!({}))
        .await;
    for round in 0..25 {
        let phone = format!("+1212555{:04}", 3000 + round);
        let place = ("America/New_York", "NY", "10001", phone.as_str());
        let (a, b) = (format!("a-{round}"), format!("b-{round}"));
        app.gql_ok(UPSERT, json!({"i": customer_at(&a, place)})).await;
        app.gql_ok(UPSERT, json!({"i": customer_at(&b, place)})).await;
        let (_, called): (Value, Value) = tokio::join!(
            app.gql(UPSERT, json!({"i": {"id": b, "doNotCall": true}})),
            app.gql(MAKE_CALL, json!({"i": {"customerId": a}})),
        );
        if !called["errors"].is_null() {
            assert_error(&called, "DO_NOT_CALL", None);
        }
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM calls WHERE to_number = '{phone}' AND status = 'QUEUED'"
            )),
            0,
            "round {round}: {called}"
        );
    }
}
