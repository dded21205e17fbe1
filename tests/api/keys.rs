//! API keys: issued, listed and revoked over GraphQL and the CLI; a revoked key stops on every
//! instance; READ_ONLY keys write nothing; NO_PII keys never see SSN digits, birthday or email.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{
    assert_error, create_schedule, customer_input, gql_at, rest_request, TestApp, WsClient, CREATE_CUSTOMER,
    TRANSPORT_WS,
};

const CREATE_KEY: &str = "mutation($label: String, $scope: ApiKeyScope) {
    createApiKey(label: $label, scope: $scope) { apiKey key { id label prefix scope createdAt lastUsedAt revokedAt } } }";
const REVOKE_KEY: &str = "mutation($id: ID!) { revokeApiKey(id: $id) { id scope revokedAt } }";
const KEYS: &str = "{ apiKeys { id label prefix scope createdAt lastUsedAt revokedAt } }";
const COMPANY: &str = "{ viewer { id } }";
const SYNC: &str = "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated } }";

/// Issues a key with `scope` for the test company: (secret, id).
async fn issue(app: &TestApp, label: &str, scope: &str) -> (String, String) {
    let data = app.gql_ok(CREATE_KEY, json!({"label": label, "scope": scope})).await;
    let created = &data["createApiKey"];
    assert_eq!(created["key"]["scope"], scope);
    (created["apiKey"].as_str().unwrap().to_string(), created["key"]["id"].as_str().unwrap().to_string())
}

/// The first event `ws` receives once its subscription is live: the test company re-syncs
/// "c-1" (new task events each time) until one arrives, so no write races the subscribe.
async fn first_event(app: &TestApp, ws: &mut WsClient) -> Value {
    for _ in 0..40 {
        app.gql_ok(SYNC, json!({"i": customer_input("c-1")})).await;
        if let Some(payload) = ws.next_data(std::time::Duration::from_millis(500)).await {
            return payload;
        }
    }
    panic!("no event reached the subscriber")
}

#[tokio::test]
async fn a_key_is_issued_listed_and_revoked_on_every_instance() {
    let app = TestApp::spawn().await;
    let other = app.another_instance();
    let (secret, id) = issue(&app, "nightly sync", "FULL").await;
    assert!(secret.starts_with("csk_"));
    // The key works on both instances (and each now holds it in its cache).
    for base in [&app.base_url, &other.base_url] {
        let body = gql_at(base, &secret, COMPANY, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let keys = app.gql_ok(KEYS, json!({})).await["apiKeys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "the initial key and the new one: {keys:?}");
    let listed = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(listed["label"], "nightly sync");
    assert_eq!(listed["prefix"], &secret[..12]);
    assert!(listed["lastUsedAt"].is_string(), "used once: {listed}");
    assert!(!keys.iter().any(|k| k.to_string().contains(&secret)), "no secret is ever listed");
    assert!(app.count("SELECT count(*) AS n FROM api_keys WHERE key_hash::text LIKE '%csk_%'") == 0);

    let revoked = app.gql_ok(REVOKE_KEY, json!({"id": id})).await["revokeApiKey"].clone();
    assert!(revoked["revokedAt"].is_string(), "{revoked}");
    for base in [app.base_url.clone(), other.base_url.clone()] {
        let secret = secret.clone();
        crate::harness::eventually("the revoked key refused on every instance", || {
            let (base, secret) = (base.clone(), secret.clone());
            async move {
                let body = gql_at(&base, &secret, COMPANY, json!({})).await;
                (body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED").then_some(())
            }
        })
        .await;
    }
    // REST and WebSocket refuse it too.
    let (status, _) = rest_request(&app, "GET", "/v1/customers", None, Some(&[("X-API-Key", &secret)])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    let refused = ws.init(json!({"apiKey": secret})).await;
    assert_ne!(refused["type"], "connection_ack", "{refused}");
    // Revoking again changes nothing.
    let again = app.gql_ok(REVOKE_KEY, json!({"id": id})).await["revokeApiKey"].clone();
    assert_eq!(again["revokedAt"], revoked["revokedAt"]);
}

#[tokio::test]
async fn key_commands_refuse_bad_input_and_stay_in_their_company() {
    let app = TestApp::spawn().await;
    let (_, theirs) = app.new_company("Beta");
    let their_keys = gql_at(&app.base_url, &theirs, KEYS, json!({})).await["data"]["apiKeys"].clone();
    let their_key_id = their_keys[0]["id"].as_str().unwrap().to_string();

    // Another company's key is NOT_FOUND, and stays unrevoked.
    assert_error(&app.gql(REVOKE_KEY, json!({"id": their_key_id})).await, "NOT_FOUND", None);
    assert_error(&app.gql(REVOKE_KEY, json!({"id": "not-a-key"})).await, "NOT_FOUND", None);
    let body = gql_at(&app.base_url, &theirs, COMPANY, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let listed = app.gql_ok(KEYS, json!({})).await["apiKeys"].as_array().unwrap().len();
    assert_eq!(listed, 1, "only the company's own key");

    // The last FULL key cannot be revoked through the API: the company would be locked out.
    let own_id = app.gql_ok(KEYS, json!({})).await["apiKeys"][0]["id"].as_str().unwrap().to_string();
    let body = app.gql(REVOKE_KEY, json!({"id": own_id})).await;
    assert_error(&body, "CONFLICT", Some("id"));
    assert!(app.gql(COMPANY, json!({})).await["errors"].is_null());
    // A READ_ONLY key does not count as a way back in.
    issue(&app, "viewer", "READ_ONLY").await;
    assert_error(&app.gql(REVOKE_KEY, json!({"id": own_id})).await, "CONFLICT", Some("id"));

    // A label too long, an unknown scope: refused, nothing issued.
    let before = app.count("SELECT count(*) AS n FROM api_keys");
    let body = app.gql(CREATE_KEY, json!({"label": "x".repeat(201)})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("label"));
    let body = app.gql(CREATE_KEY, json!({"scope": "ADMIN"})).await;
    assert_error(&body, "BAD_USER_INPUT", None);
    assert_eq!(app.count("SELECT count(*) AS n FROM api_keys"), before);
}

#[tokio::test]
async fn a_read_only_key_reads_and_subscribes_but_writes_nothing() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok(SYNC, json!({"i": customer_input("c-1")})).await;
    let (viewer, _) = issue(&app, "dashboard", "READ_ONLY").await;

    let body = app.gql_as(Some(&viewer), CREATE_CUSTOMER, json!({"input": customer_input("c-2")})).await;
    assert_error(&body, "FORBIDDEN", None);
    let body = app.gql_as(Some(&viewer), CREATE_KEY, json!({"scope": "FULL"})).await;
    assert_error(&body, "FORBIDDEN", None);
    let body = app.gql_as(Some(&viewer), "{ customer(id: \"c-1\") { id email } }", json!({})).await;
    assert_eq!(body["data"]["customer"]["email"], "ada@example.com", "{body}");

    let rest_customer = customer_input("c-3");
    let headers: &[(&str, &str)] = &[("X-API-Key", &viewer)];
    let (status, body) =
        rest_request(&app, "POST", "/v1/customers", Some(rest_customer), Some(headers)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    let (status, _) = rest_request(&app, "DELETE", "/api/v1/schedules/x", None, Some(headers)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = rest_request(&app, "GET", "/v1/customers/c-1", None, Some(headers)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1, "nothing was written");

    // Subscriptions are reads: the viewer receives the company's task events.
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    assert_eq!(ws.init(json!({"apiKey": viewer})).await["type"], "connection_ack");
    ws.subscribe("1", "subscription { taskEvents { eventId } }", json!({})).await;
    let first = first_event(&app, &mut ws).await;
    assert!(first["data"]["taskEvents"]["eventId"].is_string(), "{first}");
}

#[tokio::test]
async fn a_no_pii_key_never_sees_ssn_digits_birthday_or_email() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    let (agent, _) = issue(&app, "agent desk", "NO_PII").await;

    let query = "{ customer(id: \"c-1\") { id firstName email birthday ssnLastFour } }";
    let body = app.gql_as(Some(&agent), query, json!({})).await;
    let customer = &body["data"]["customer"];
    assert_eq!(customer["firstName"], "Ada", "{body}");
    for field in ["email", "birthday", "ssnLastFour"] {
        assert!(customer[field].is_null(), "{field} hidden: {body}");
    }
    // A NO_PII key may write, but its answers are redacted too.
    let body = app
        .gql_as(
            Some(&agent),
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { email ssnLastFour } }",
            json!({"input": customer_input("c-2")}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(
        body["data"]["createCustomer"]["email"].is_null()
            && body["data"]["createCustomer"]["ssnLastFour"].is_null()
    );

    let headers: &[(&str, &str)] = &[("X-API-Key", &agent)];
    let (status, body) = rest_request(&app, "GET", "/v1/customers/c-1", None, Some(headers)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["email"].is_null() && body["birthday"].is_null() && body["ssnLastFour"].is_null(), "{body}");
    assert_eq!(body["firstName"], "Ada");
    let (_, list) = rest_request(&app, "GET", "/v1/customers", None, Some(headers)).await;
    for customer in list["customers"].as_array().unwrap() {
        assert!(customer["email"].is_null() && customer["ssnLastFour"].is_null(), "{customer}");
    }

    let csv = app
        .client
        .get(format!("{}/export/customers.csv", app.base_url))
        .header("X-API-Key", &agent)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("id,firstName,lastName,phoneNumber"), "{header}");
    assert!(!csv.contains("ada@example.com") && !csv.contains("1985-12-10"), "{csv}");
    // The same export with a FULL key carries them.
    let (_, full) = rest_request(&app, "GET", "/export/customers.csv", None, None).await;
    assert!(full.as_str().unwrap().contains("ada@example.com"), "{full}");

    // Subscriptions resolve customers the same way.
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    assert_eq!(ws.init(json!({"apiKey": agent})).await["type"], "connection_ack");
    ws.subscribe(
        "1",
        "subscription { taskEvents { task { customer { id email ssnLastFour birthday } } } }",
        json!({}),
    )
    .await;
    let payload = first_event(&app, &mut ws).await;
    let customer = &payload["data"]["taskEvents"]["task"]["customer"];
    assert!(customer["id"].is_string(), "{payload}");
    assert!(
        customer["email"].is_null() && customer["ssnLastFour"].is_null() && customer["birthday"].is_null()
    );
}
