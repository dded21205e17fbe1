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

/// Company A's requests beyond its share are refused with RATE_LIMITED and a retryAfter, while
/// company B's go through: one request of A is held inside the server (its LMS, a stand-in here,
/// answers only when the test lets it) on a server whose share is one request per company.
#[tokio::test]
async fn a_company_past_its_share_is_rate_limited_and_the_others_are_not() {
    let lms = crate::lms::lms().await;
    let app = TestApp::spawn_configured(crate::harness::utc(crate::harness::TEST_START), |options| {
        options.company_concurrency = Some(1);
        options.lms_timeout = Some(std::time::Duration::from_secs(60));
    })
    .await;
    let app = crate::lms::with_lms(app, &lms, None).await;
    let (_, theirs) = app.new_company("Quiet Lending");

    // A's one turn is taken by a sync waiting on its LMS.
    let held = {
        let (client, url, key) =
            (app.client.clone(), format!("{}/graphql", app.base_url), app.api_key.clone());
        tokio::spawn(async move {
            let query =
                json!({"query": "mutation { createCustomer(input: {id: \"slow-1\", sync: true}) { id } }"});
            client.post(url).header("X-API-Key", key).json(&query).send().await.unwrap().status()
        })
    };
    crate::harness::eventually("the LMS asked for slow-1", || async {
        lms.seen.lock().unwrap().iter().any(|(uri, _)| uri.contains("slow-1")).then_some(())
    })
    .await;

    let body = app.gql("{ viewer { id } }", json!({})).await;
    assert_error(&body, "RATE_LIMITED", None);
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1, "{body}");
    let (status, body) = rest_request(&app, "GET", "/v1/customers", None, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["retry_after"], 1);

    // The other company is not slowed by A.
    let body = app.gql_as(Some(&theirs), "{ viewer { name } }", json!({})).await;
    assert_eq!(body["data"]["viewer"]["name"], "Quiet Lending", "{body}");

    drop(lms); // the stand-in answers; A's request ends and its turn is free again
    assert!(held.await.unwrap().is_success());
    assert!(app.gql("{ viewer { id } }", json!({})).await["errors"].is_null());
}

#[tokio::test]
async fn aliases_are_capped_per_operation_and_per_batch_before_anything_runs() {
    let app = TestApp::spawn().await;
    let aliased = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("a{i}: scheduleDefaults {{ paused }}")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let body = app.gql(&aliased(201), json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("query"));
    assert!(body["data"].is_null(), "{body}");
    let body = app.gql(&aliased(200), json!({})).await;
    assert!(body["errors"].is_null(), "{body}");

    // A batch is priced as one: two operations of 150 aliases each are refused together.
    let batch = json!([{"query": aliased(150)}, {"query": aliased(150)}]);
    assert_error(&post_batch(&app, &batch).await, "BAD_USER_INPUT", Some("batch"));
}

async fn post_batch(app: &TestApp, batch: &serde_json::Value) -> serde_json::Value {
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("X-API-Key", &app.api_key)
        .json(batch)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn counts_and_searches_are_never_free_whatever_the_page_size() {
    let app = TestApp::spawn().await;
    let counts = |n: usize| {
        let fields: Vec<String> =
            (0..n).map(|i| format!("c{i}: customers(first: 0) {{ totalCount }}")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    // The shape that once took the service from everyone: refused before anything runs.
    let body = app.gql(&counts(51), json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("query"));
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("counts and searches"), "{body}");
    assert!(app.gql(&counts(50), json!({})).await["errors"].is_null());

    // A search is a counted read too, whether an argument or in a filter given as a variable.
    let searches: Vec<String> =
        (0..51).map(|i| format!("s{i}: customers(first: 1, filter: $filter) {{ nodes {{ id }} }}")).collect();
    let query = format!("query($filter: CustomerFilter) {{ {} }}", searches.join(" "));
    let body = app.gql(&query, json!({"filter": {"search": "smith"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("query"));
    assert!(app.gql(&query, json!({"filter": {"isTest": false}})).await["errors"].is_null());

    // A count under every item of a page is one count per item.
    let nested = "{ customers(first: 51) { nodes { id tasks(first: 1) { totalCount } } } }";
    assert_error(&app.gql(nested, json!({})).await, "BAD_USER_INPUT", Some("query"));
    let nested = "query($n: Int) { customers(first: $n) { nodes { id tasks(first: 1) { totalCount } } } }";
    assert_error(&app.gql(nested, json!({"n": 60})).await, "BAD_USER_INPUT", Some("query"));
    assert!(app.gql(nested, json!({"n": 50})).await["errors"].is_null());

    // A batch is priced as one.
    let batch = json!([{"query": counts(30)}, {"query": counts(30)}]);
    assert_error(&post_batch(&app, &batch).await, "BAD_USER_INPUT", Some("batch"));
}

#[tokio::test]
async fn a_batch_shares_one_cost_limit_between_its_operations() {
    let app = TestApp::spawn().await;
    // About 31,000 each: accepted alone, not twice in one request.
    let costly = "{ customers(first: 500) { nodes { id tasks(first: 10) { nodes { id status scheduledFor } } calls(first: 10) { nodes { id status to } } } } }";
    assert!(app.gql(costly, json!({})).await["errors"].is_null());
    let body = post_batch(&app, &json!([{"query": costly}, {"query": "{ viewer { id } }"}])).await;
    let answers = body.as_array().unwrap_or_else(|| panic!("a batch answers each operation: {body}"));
    assert_error(&answers[0], "BAD_USER_INPUT", Some("batch"));
    assert!(answers[0]["errors"][0]["message"].as_str().unwrap().contains("shares one cost limit"), "{body}");
    assert!(answers[1]["errors"].is_null(), "a cheap operation keeps its share: {body}");
}
