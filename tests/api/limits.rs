//! One tenant cannot burden the others with size (issue 27): every free text is bounded and
//! refused before any lookup, naming its field; the HTML pages cannot be framed or sniffed.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{assert_error, create_schedule, customer_at, rest_request, TestApp, CREATE_CUSTOMER};

const LOS_ANGELES: crate::harness::Place = ("America/Los_Angeles", "CA", "90001", "+13105551234");

async fn callable(app: &TestApp) {
    create_schedule(app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_at("c-1", LOS_ANGELES)})).await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
}

#[tokio::test]
async fn oversized_call_texts_are_refused_before_anything_is_written() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let long = "a".repeat(256);
    let make = "mutation($agent: String) { makeCall(input: {customerId: \"c-1\", agentId: $agent}) { id } }";
    assert_error(&app.gql(make, json!({"agent": long})).await, "BAD_USER_INPUT", Some("agentId"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);

    let call = app.gql_ok(make, json!({"agent": "a".repeat(255)})).await["makeCall"]["id"].clone();
    let report = "mutation($id: ID!, $d: String) {
        reportCallStatus(input: {callId: $id, status: NO_ANSWER, disposition: $d}) { id status } }";
    let body = app.gql(report, json!({"id": call, "d": "d".repeat(1001)})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("disposition"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls WHERE status = 'QUEUED'"), 1, "unchanged");

    let at = (app.clock.now() - chrono::Duration::minutes(5)).to_rfc3339();
    let record = "mutation($a: [CallAttemptInput!]!) { recordCallAttempts(attempts: $a) { recorded } }";
    let attempts = json!([
        {"customerId": "c-1", "occurredAt": at, "status": "NO_ANSWER", "agentId": "ok"},
        {"customerId": "c-1", "occurredAt": at, "status": "NO_ANSWER", "agentId": long},
    ]);
    let body = app.gql(record, json!({"a": attempts})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("attempts.1.agentId"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 1, "no attempt recorded");

    // A state rule's source is bounded too.
    let update = "mutation($r: JSON) { updateCompanySettings(input: {stateRules: $r}) { stateRules } }";
    let rules = json!({"MA": [{"maxPer7Days": 2, "source": "s".repeat(256)}]});
    assert_error(&app.gql(update, json!({"r": rules})).await, "BAD_USER_INPUT", Some("stateRules"));
    let current = app.gql_ok("{ viewer { stateRules } }", json!({})).await;
    assert!(current["viewer"]["stateRules"].get("MA").is_none(), "{current}");
}

#[tokio::test]
async fn a_search_term_is_bounded_on_every_door() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let term = "x".repeat(201);
    let query = "query($s: String) { customers(filter: {search: $s}) { nodes { id } } }";
    assert_error(&app.gql(query, json!({"s": term})).await, "BAD_USER_INPUT", Some("search"));
    let query = "query($s: String) { schedules(filter: {search: $s}) { nodes { id } } }";
    assert_error(&app.gql(query, json!({"s": term})).await, "BAD_USER_INPUT", Some("search"));
    let ok = app.gql_ok(
        "query($s: String) { customers(filter: {search: $s}) { nodes { id } } }",
        json!({"s": "c-1"}),
    );
    assert_eq!(ok.await["customers"]["nodes"][0]["id"], "c-1");
    for (path, field) in [
        (format!("/v1/customers?search={term}"), "search"),
        (format!("/export/customers.csv?search={term}"), "search"),
        (format!("/api/v1/schedules?fulltext={term}"), "fulltext"),
    ] {
        let (status, body) = rest_request(&app, "GET", &path, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
}

#[tokio::test]
async fn pages_cannot_be_framed_sniffed_or_load_foreign_code() {
    let app = TestApp::spawn().await;
    for path in ["/", "/dashboard"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK);
        let header = |name: &str| {
            response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
        };
        let policy = header("content-security-policy");
        for directive in
            ["frame-ancestors 'none'", "script-src 'self'", "object-src 'none'", "default-src 'self'"]
        {
            assert!(policy.contains(directive), "{path}: {directive} in {policy}");
        }
        let host = app.base_url.trim_start_matches("http://");
        assert!(policy.contains(&format!("ws://{host}")), "{path}: its WebSocket in {policy}");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        // No inline script for the policy to allow.
        let html = response.text().await.unwrap();
        assert!(!html.contains("<script>"), "{path} has an inline script");
    }
}
