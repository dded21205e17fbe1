//! Idempotency-Key: a retried write gets its first answer back and writes nothing; the same
//! key with another request is 409 IDEMPOTENCY_KEY_REUSED; concurrent retries wait for the first.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{assert_error, create_schedule, customer_at, rest_request, TestApp, CREATE_CUSTOMER};

const LOS_ANGELES: crate::harness::Place = ("America/Los_Angeles", "CA", "90001", "+13105551234");

/// The create vendor's customer (its camelCase names are the GraphQL input's).
fn vendor_customer(id: &str) -> Value {
    crate::harness::customer_input(id)
}

/// A GraphQL POST with an Idempotency-Key: (status, replayed?, body).
async fn gql_with_key(app: &TestApp, key: &str, query: &str, variables: Value) -> (StatusCode, bool, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("X-API-Key", &app.api_key)
        .header("Idempotency-Key", key)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (response.status(), replayed, response.json().await.unwrap())
}

#[tokio::test]
async fn a_retried_rest_create_gets_its_first_answer_and_writes_nothing() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let headers: &[(&str, &str)] = &[("X-API-Key", &app.api_key), ("Idempotency-Key", "create-c-1")];
    let (status, first) =
        rest_request(&app, "POST", "/v1/customers", Some(vendor_customer("c-1")), Some(headers)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) =
        rest_request(&app, "POST", "/v1/customers", Some(vendor_customer("c-1")), Some(headers)).await;
    assert_eq!(status, StatusCode::CREATED, "the first answer, not 409: {again}");
    assert_eq!(again, first);
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);
    // Without the key the same request is a new one: 409, as before.
    let (status, _) = rest_request(&app, "POST", "/v1/customers", Some(vendor_customer("c-1")), None).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The same key with another body: refused, nothing written.
    let (status, body) =
        rest_request(&app, "POST", "/v1/customers", Some(vendor_customer("c-2")), Some(headers)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);

    // A key is the company's own: another company's same key is a different request.
    let (_, theirs) = app.new_company("Beta");
    let schedule = json!({"input": {"name": "Theirs", "taskType": "collections"}});
    assert!(app.gql_as(Some(&theirs), crate::harness::CREATE_SCHEDULE, schedule).await["errors"].is_null());
    let their_headers: &[(&str, &str)] = &[("X-API-Key", &theirs), ("Idempotency-Key", "create-c-1")];
    let (status, body) =
        rest_request(&app, "POST", "/v1/customers", Some(vendor_customer("c-2")), Some(their_headers)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A malformed key is refused before anything runs.
    for bad in ["has space", &"k".repeat(256)] {
        let headers: &[(&str, &str)] = &[("X-API-Key", &app.api_key), ("Idempotency-Key", bad)];
        let (status, body) =
            rest_request(&app, "POST", "/v1/customers", Some(vendor_customer("c-9")), Some(headers)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "BAD_USER_INPUT");
        assert_eq!(body["error"]["field"], "Idempotency-Key");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM customers WHERE external_id = 'c-9'"), 0);
}

#[tokio::test]
async fn concurrent_retries_of_make_call_with_one_key_place_one_call() {
    let app = TestApp::spawn().await;
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"C\", taskType: \"collections\"}) { id } }",
        json!({}),
    )
    .await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_at("c-1", LOS_ANGELES)})).await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
    let make_call = "mutation { makeCall(input: {customerId: \"c-1\"}) { id status } }";
    let tries = (0..6).map(|_| gql_with_key(&app, "call-c-1-attempt", make_call, json!({})));
    let answers = futures_util::future::join_all(tries).await;
    let ids: Vec<&Value> = answers.iter().map(|(_, _, body)| &body["data"]["makeCall"]["id"]).collect();
    assert!(ids[0].is_string(), "{:?}", answers[0]);
    assert!(ids.iter().all(|id| *id == ids[0]), "one call, the same answer to every try: {answers:?}");
    assert_eq!(answers.iter().filter(|(_, replayed, _)| !replayed).count(), 1, "one ran, the rest replayed");
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 1);

    // The same key with another mutation is refused (GraphQL says it in its own shape).
    let (status, _, body) = gql_with_key(
        &app,
        "call-c-1-attempt",
        "mutation { makeCall(input: {customerId: \"c-2\"}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "IDEMPOTENCY_KEY_REUSED", None);
}

#[tokio::test]
async fn answers_are_kept_a_day_and_reads_are_never_stored() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let create = "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }";
    let input = json!({"input": customer_at("c-1", LOS_ANGELES)});
    let (_, replayed, _) = gql_with_key(&app, "k-1", create, input.clone()).await;
    assert!(!replayed);
    app.clock.advance(chrono::Duration::hours(23));
    let (_, replayed, body) = gql_with_key(&app, "k-1", create, input.clone()).await;
    assert!(replayed && body["errors"].is_null(), "{body}");
    // A day on, the key is free again: the request runs (and meets the customer it made).
    app.clock.advance(chrono::Duration::hours(2));
    let (_, replayed, body) = gql_with_key(&app, "k-1", create, input).await;
    assert!(!replayed);
    assert_error(&body, "CONFLICT", None);

    // A query with a key is answered afresh and kept nowhere.
    let before = app.count("SELECT count(*) AS n FROM idempotency_keys");
    let (_, replayed, body) =
        gql_with_key(&app, "read-1", "{ customer(id: \"c-1\") { id } }", json!({})).await;
    assert!(!replayed && body["data"]["customer"]["id"] == "c-1", "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM idempotency_keys"), before);

    // A refused input is an answer too: the retry gets the same refusal without running again.
    let bad = json!({"input": {"id": "c-2", "phoneNumber": "12", "taskType": "collections"}});
    let (_, _, first) = gql_with_key(&app, "k-2", create, bad.clone()).await;
    let (_, replayed, again) = gql_with_key(&app, "k-2", create, bad).await;
    assert!(replayed);
    assert_eq!(first, again);
}
