//! The audit trail: every change made through the API is recorded with its key, operation,
//! entity and instant, in the change's own transaction, and each company sees only its own.

use serde_json::{json, Value};

use crate::harness::{
    assert_error, create_schedule, customer_input, rest_request, TestApp, CREATE_CUSTOMER, CREATE_SCHEDULE,
};

const AUDIT: &str = "query($first: Int, $after: String, $entity: String) {
    auditLog(first: $first, after: $after, entityId: $entity) {
        nodes { id at apiKeyId operation entityType entityId }
        pageInfo { hasNextPage endCursor } } }";

async fn audit(app: &TestApp, key: &str, variables: Value) -> Value {
    let body = app.gql_as(Some(key), AUDIT, variables).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["auditLog"].clone()
}

fn entries(page: &Value) -> Vec<(String, String, String)> {
    page["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let text = |k: &str| n[k].as_str().unwrap().to_string();
            (text("operation"), text("entityType"), text("entityId"))
        })
        .collect()
}

#[tokio::test]
async fn every_change_is_recorded_with_its_key_and_operation() {
    let app = TestApp::spawn().await;
    let own_key_id =
        app.gql_ok("{ apiKeys { id } }", json!({})).await["apiKeys"][0]["id"].as_str().unwrap().to_string();
    let schedule = app
        .gql_ok(CREATE_SCHEDULE, json!({"input": {"name": "Collections", "taskType": "collections"}}))
        .await["createSchedule"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    app.gql_ok(
        "mutation($id: ID!) { updateSchedule(id: $id, input: {paused: true}) { id } }",
        json!({"id": schedule}),
    )
    .await;
    let (status, body) = rest_request(&app, "POST", "/v1/customers", Some(customer_input("c-2")), None).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let created = app.gql_ok("mutation { createApiKey(label: \"ci\") { key { id } } }", json!({})).await;
    let new_key = created["createApiKey"]["key"]["id"].as_str().unwrap().to_string();

    let page = audit(&app, &app.api_key, json!({})).await;
    let got = entries(&page);
    let expect = |op: &str, ty: &str, id: &str| {
        assert!(got.contains(&(op.into(), ty.into(), id.into())), "({op}, {ty}, {id}) in {got:#?}")
    };
    expect("createSchedule", "schedule", &schedule);
    expect("createCustomer", "customer", "c-1");
    expect("updateSchedule", "schedule", &schedule);
    expect("POST /v1/customers", "customer", "c-2");
    expect("createApiKey", "apiKey", &new_key);
    assert!(page["nodes"].as_array().unwrap().iter().all(|n| n["apiKeyId"] == own_key_id.as_str()));
    // Newest first, at the server's clock.
    assert_eq!(got[0].0, "createApiKey");
    assert!(page["nodes"][0]["at"].as_str().unwrap().starts_with("2026-12-01T17:"));

    // One entity's history, and pages that follow each other.
    let history = entries(&audit(&app, &app.api_key, json!({"entity": schedule})).await);
    assert_eq!(
        history.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["updateSchedule", "createSchedule"]
    );
    let first = audit(&app, &app.api_key, json!({"first": 2})).await;
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let next = audit(&app, &app.api_key, json!({"first": 50, "after": first["pageInfo"]["endCursor"]})).await;
    let mut paged = entries(&first);
    paged.extend(entries(&next));
    assert_eq!(paged, got);
}

#[tokio::test]
async fn a_refused_change_records_nothing_and_reads_record_nothing() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    let before = app.count("SELECT count(*) AS n FROM audit_log");
    assert_eq!(before, 2, "the schedule and the customer");
    let mut bad = customer_input("c-2");
    bad["phoneNumber"] = json!("12");
    assert_error(
        &app.gql(CREATE_CUSTOMER, json!({"input": bad})).await,
        "BAD_USER_INPUT",
        Some("phoneNumber"),
    );
    // The same customer again: CONFLICT, rolled back.
    assert_error(&app.gql(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await, "CONFLICT", None);
    app.gql_ok("{ customers { nodes { id } } }", json!({})).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_log"), before);
    // A bad cursor is named.
    let body = app.gql(AUDIT, json!({"after": "not-a-cursor"})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("after"));
}

#[tokio::test]
async fn each_company_sees_only_its_own_trail() {
    let app = TestApp::spawn().await;
    let (_, theirs) = app.new_company("Beta");
    create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    let schedule = json!({"input": {"name": "Theirs", "taskType": "collections"}});
    assert!(app.gql_as(Some(&theirs), CREATE_SCHEDULE, schedule).await["errors"].is_null());
    let created = app.gql_as(Some(&theirs), CREATE_CUSTOMER, json!({"input": customer_input("c-9")})).await;
    assert!(created["errors"].is_null(), "{created}");

    let customers_in = |page: &Value| -> Vec<String> {
        entries(page).into_iter().filter(|e| e.1 == "customer").map(|e| e.2).collect()
    };
    assert_eq!(customers_in(&audit(&app, &app.api_key, json!({})).await), ["c-1"]);
    assert_eq!(customers_in(&audit(&app, &theirs, json!({})).await), ["c-9"]);
    assert_eq!(entries(&audit(&app, &app.api_key, json!({})).await).len(), 2);
    // Asking for the other company's entity finds nothing.
    assert!(entries(&audit(&app, &theirs, json!({"entity": "c-1"})).await).is_empty());
}
