//! The decision holds when the phone rings: a QUEUED call is decided again when a provider gets
//! it (webhook delivery, claimCalls, or its first report), and stops waiting at its expiry.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::calls::receiver;
use crate::harness::{assert_error, customer_at, utc, TestApp, CREATE_CUSTOMER};

const NEW_YORK: (&str, &str, &str, &str) = ("America/New_York", "NY", "10001", "+12125550100");
const CALL: &str =
    "query($id: ID!) { call(id: $id) { status cancelReason expiresAt handedOffAt disposition } }";
const CLAIM: &str = "mutation($n: Int) { claimCalls(limit: $n) { id status handedOffAt } }";
const RECORD: &str = "mutation($a: [CallAttemptInput!]!) { recordCallAttempts(attempts: $a) { recorded } }";

/// A schedule and `n` New York customers ("h-0"…), each with its own number; 100 calls a second.
async fn customers(app: &TestApp, n: usize) {
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Collections\", taskType: \"collections\"}) { id } }",
        json!({}),
    )
    .await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
    for i in 0..n {
        let mut input = customer_at(&format!("h-{i}"), NEW_YORK);
        input["phoneNumber"] = json!(format!("+1212555{:04}", 2000 + i));
        app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
    }
}

async fn make_call(app: &TestApp, customer: &str) -> String {
    app.gql_ok("mutation($c: ID!) { makeCall(input: {customerId: $c}) { id } }", json!({"c": customer})).await
        ["makeCall"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn call(app: &TestApp, id: &str) -> Value {
    app.gql_ok(CALL, json!({"id": id})).await["call"].clone()
}

/// A conversation with the customer one minute after the call was queued (another dialer).
async fn conversation_after_queueing(app: &TestApp, customer: &str) {
    app.clock.advance(chrono::Duration::minutes(2));
    let at = (app.clock.now() - chrono::Duration::minutes(1)).to_rfc3339();
    app.gql_ok(RECORD, json!({"a": [{"customerId": customer, "occurredAt": at, "status": "COMPLETED"}]}))
        .await;
}

#[tokio::test]
async fn a_call_queued_before_a_conversation_is_cancelled_at_webhook_hand_off() {
    use callsync::dialer::webhook;
    let app = TestApp::spawn().await;
    customers(&app, 1).await;
    let hook = receiver(0).await;
    app.gql_ok(
        "mutation($url: String!) { updateCompanySettings(input: {callWebhookUrl: $url, callWebhookSecret: \"0123456789abcdef\"}) { id } }",
        json!({"url": hook.url}),
    )
    .await;
    let id = make_call(&app, "h-0").await;
    conversation_after_queueing(&app, "h-0").await;
    let config = crate::harness::webhook_config();
    webhook::deliver_due(&app.store, &webhook::client(&config), &config).await.unwrap();
    assert!(hook.requests.lock().unwrap().is_empty(), "nothing was sent");
    let cancelled = call(&app, &id).await;
    assert_eq!(
        (cancelled["status"].clone(), cancelled["cancelReason"].clone(), cancelled["handedOffAt"].clone()),
        (json!("CANCELLED"), json!("CONTACT_LIMIT"), Value::Null),
        "{cancelled}"
    );
    assert!(
        cancelled["disposition"].as_str().unwrap().contains("7 days after a conversation"),
        "{cancelled}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM events WHERE kind = 'CALL_STATUS_CHANGED' AND payload->'call'->>'id' = '{id}'
               AND payload->'call'->>'status' = 'CANCELLED' AND payload->'call'->>'cancel_reason' = 'CONTACT_LIMIT'"
        )),
        1
    );
    // An allowed call is delivered, and handedOffAt says when.
    app.clock.advance(chrono::Duration::days(9));
    let allowed = make_call(&app, "h-0").await;
    webhook::deliver_due(&app.store, &webhook::client(&config), &config).await.unwrap();
    assert_eq!(hook.requests.lock().unwrap().len(), 1);
    let delivered = call(&app, &allowed).await;
    assert_eq!(delivered["status"], "QUEUED");
    assert!(delivered["handedOffAt"].is_string(), "{delivered}");
}

#[tokio::test]
async fn claim_calls_decides_again_and_skips_refused_calls() {
    let app = TestApp::spawn().await;
    customers(&app, 2).await;
    let refused = make_call(&app, "h-0").await;
    let fine = make_call(&app, "h-1").await;
    conversation_after_queueing(&app, "h-0").await;
    let claimed = app.gql_ok(CLAIM, json!({"n": 10})).await["claimCalls"].clone();
    let ids: Vec<&str> = claimed.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [fine.as_str()], "{claimed}");
    assert_eq!(claimed[0]["status"], "QUEUED");
    assert!(claimed[0]["handedOffAt"].is_string());
    assert_eq!(call(&app, &refused).await["cancelReason"], "CONTACT_LIMIT");
    // Claimed once: not again, and no longer subject to expiry.
    assert_eq!(app.gql_ok(CLAIM, json!({})).await["claimCalls"], json!([]));
    app.clock.advance(chrono::Duration::hours(1));
    callsync::dialer::expire_waiting(&app.store).await.unwrap();
    assert_eq!(call(&app, &fine).await["status"], "QUEUED");
    // limit is 1..100.
    for n in [0, 101] {
        assert_error(&app.gql(CLAIM, json!({"n": n})).await, "BAD_USER_INPUT", Some("limit"));
    }
}

#[tokio::test]
async fn a_first_report_is_the_hand_off_and_a_refusal_cancels_the_call() {
    let app = TestApp::spawn().await;
    customers(&app, 1).await;
    let id = make_call(&app, "h-0").await;
    conversation_after_queueing(&app, "h-0").await;
    let report =
        "mutation($id: ID!) { reportCallStatus(input: {callId: $id, status: RINGING}) { id status } }";
    let body = app.gql(report, json!({"id": id})).await;
    assert_error(&body, "CONTACT_LIMIT", None);
    // The one error that writes: the cancellation is committed.
    let cancelled = call(&app, &id).await;
    assert_eq!(
        (cancelled["status"].clone(), cancelled["cancelReason"].clone()),
        (json!("CANCELLED"), json!("CONTACT_LIMIT"))
    );
    assert_error(&app.gql(report, json!({"id": id})).await, "INVALID_TRANSITION", None);
}

#[tokio::test]
async fn a_call_stops_waiting_at_its_ttl_or_when_the_window_closes() {
    let app = TestApp::spawn().await;
    customers(&app, 2).await;
    for bad in [4, 3601] {
        let body = app
            .gql(
                "mutation($t: Int) { updateCompanySettings(input: {queuedCallTtlSeconds: $t}) { id } }",
                json!({"t": bad}),
            )
            .await;
        assert_error(&body, "BAD_USER_INPUT", Some("queuedCallTtlSeconds"));
    }
    let set = app
        .gql_ok(
            "mutation { updateCompanySettings(input: {queuedCallTtlSeconds: 5}) { queuedCallTtlSeconds } }",
            json!({}),
        )
        .await;
    assert_eq!(set["updateCompanySettings"]["queuedCallTtlSeconds"], 5);
    let id = make_call(&app, "h-0").await;
    let queued = call(&app, &id).await;
    let expires = utc(queued["expiresAt"].as_str().unwrap());
    assert!(expires <= app.clock.now() + chrono::Duration::seconds(5), "{queued}");
    // Not yet.
    assert_eq!(callsync::dialer::expire_waiting(&app.store).await.unwrap(), 0);
    app.clock.advance(chrono::Duration::seconds(6));
    assert_eq!(callsync::dialer::expire_waiting(&app.store).await.unwrap(), 1);
    let expired = call(&app, &id).await;
    assert_eq!(
        (expired["status"].clone(), expired["cancelReason"].clone(), expired["expiresAt"].clone()),
        (json!("CANCELLED"), json!("EXPIRED"), Value::Null)
    );
    // 20:55 in New York: with 15 minutes to live, the call still stops waiting at 21:00.
    app.gql_ok("mutation { updateCompanySettings(input: {queuedCallTtlSeconds: 900}) { id } }", json!({}))
        .await;
    app.clock.set(utc("2026-12-02T01:55:00Z"));
    let late = make_call(&app, "h-1").await;
    assert_eq!(utc(call(&app, &late).await["expiresAt"].as_str().unwrap()), utc("2026-12-02T02:00:00Z"));
}

#[tokio::test]
async fn concurrent_claims_never_return_the_same_call() {
    let app = TestApp::spawn().await;
    customers(&app, 24).await;
    for i in 0..24 {
        make_call(&app, &format!("h-{i}")).await;
    }
    let claims = (0..4).map(|_| app.gql(CLAIM, json!({"n": 10})));
    let answers = futures::future::join_all(claims).await;
    let mut seen = HashSet::new();
    let mut total = 0;
    for answer in answers {
        assert!(answer["errors"].is_null(), "{answer}");
        for c in answer["data"]["claimCalls"].as_array().unwrap() {
            total += 1;
            assert!(seen.insert(c["id"].as_str().unwrap().to_string()), "claimed twice: {c}");
        }
    }
    // Whatever a claim missed while another held the rows, a later claim gets.
    loop {
        let more = app.gql_ok(CLAIM, json!({"n": 10})).await["claimCalls"].as_array().unwrap().clone();
        if more.is_empty() {
            break;
        }
        for c in more {
            total += 1;
            assert!(seen.insert(c["id"].as_str().unwrap().to_string()), "claimed twice: {c}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(total, 24);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls WHERE handed_off_at IS NOT NULL"), 24);
}

/// At one call a second and 5 seconds to live, an import queues the calls its pacing can hand
/// over in time and refuses the rest (EXPIRED) instead of letting them expire.
#[tokio::test]
async fn bulk_calls_the_pacing_cannot_hand_over_in_time_are_refused() {
    let app = TestApp::spawn().await;
    let schedule = crate::harness::create_schedule(&app, "collections").await;
    let hook = receiver(0).await;
    app.gql_ok(
        "mutation($url: String!) { updateCompanySettings(input: {callWebhookUrl: $url, callWebhookSecret: \"0123456789abcdef\",
           callsPerSecondLimit: 1, queuedCallTtlSeconds: 5}) { id } }",
        json!({"url": hook.url}),
    )
    .await;
    let records: Vec<Value> = (0..10)
        .map(|i| {
            let mut r = customer_at(&format!("b-{i}"), NEW_YORK);
            r["phoneNumber"] = json!(format!("+1212555{:04}", 5000 + i));
            r
        })
        .collect();
    let body = app
        .gql_ok(
            "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) {
               callResults { initiated failed refused { code count } } } }",
            json!({"input": {"scheduleId": schedule, "records": records, "initiateCall": true, "callConfig": {"agentId": "a"}}}),
        )
        .await;
    let results = &body["bulkAddCustomers"]["callResults"];
    assert_eq!(results["initiated"], 5, "{results}");
    assert_eq!(results["refused"], json!([{"code": "EXPIRED", "count": 5}]), "{results}");
    assert_eq!(app.count("SELECT count(*) AS n FROM calls WHERE status = 'QUEUED'"), 5);
}
