//! Each customer door answers its vendor page's own examples, sent unchanged (placeholders
//! filled in, a trailing comma mended), with the status codes and answer keys the page shows:
//! ../shared/vendor-pages/000…003 (kept in the repository's words in docs/migrating.md).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{create_schedule, rest_request, TestApp};

async fn send(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    rest_request(app, method, path, body, None).await
}

#[track_caller]
fn has_keys(body: &Value, keys: &[&str]) {
    for key in keys {
        assert!(body.get(*key).is_some(), "the answer lacks {key:?}: {body:#}");
    }
}

/// The keys the create and sync pages list in their answers.
const CUSTOMER_KEYS: &[&str] = &[
    "id",
    "firstName",
    "lastName",
    "email",
    "phoneNumber",
    "timezone",
    "birthday",
    "ssnLastFour",
    "streetAddress1",
    "streetAddress2",
    "city",
    "state",
    "zipCode",
    "taskType",
    "doNotCall",
    "isTest",
    "externalMetadata",
];

#[tokio::test]
async fn the_create_customer_pages_example() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    // The page's request body, key for key.
    let example = json!({
      "firstName": "Ada",
      "lastName": "Lovelace",
      "id": "cust-42",
      "email": "ada@example.com",
      "birthday": "2023-12-25",
      "ssnLastFour": "1234",
      "timezone": "America/Los_Angeles",
      "phoneNumber": "+13105551234",
      "streetAddress1": "123 Main St",
      "streetAddress2": "Apt 4B",
      "city": "San Francisco",
      "state": "CA",
      "zipCode": "94102",
      "doNotCall": true,
      "isTest": true,
      "taskType": "collections",
      "externalMetadata": {}
    });
    let (status, body) = send(&app, "POST", "/v1/customers", Some(example)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    has_keys(&body, CUSTOMER_KEYS);
    assert_eq!((body["firstName"].clone(), body["isTest"].clone()), (json!("Ada"), json!(true)));
    // "Test customers … can be filtered separately when retrieving customers."
    let mut other = body.clone();
    other["id"] = json!("cust-43");
    other["isTest"] = json!(false);
    other["phoneNumber"] = json!("+13105551235");
    for key in [
        "createdAt",
        "updatedAt",
        "timezoneInferred",
        "phoneLineType",
        "inconvenientTimes",
        "consent",
        "contactHold",
        "pictureUrl",
    ] {
        other.as_object_mut().unwrap().remove(key);
    }
    let (status, body) = send(&app, "POST", "/v1/customers", Some(other)).await;
    assert_eq!(status, StatusCode::CREATED, "the create door takes its own answer back: {body:#}");
    let (status, listed) = send(&app, "GET", "/v1/customers?is_test=true", None).await;
    assert_eq!(status, StatusCode::OK, "{listed:#}");
    assert_eq!(listed["total_count"], 1);
    assert_eq!(listed["customers"][0]["id"], "cust-42");
    has_keys(&listed["customers"][0], CUSTOMER_KEYS);
    let (status, one) = send(&app, "GET", "/v1/customers/cust-43", None).await;
    assert_eq!((status, one["isTest"].clone()), (StatusCode::OK, json!(false)));
    let (status, _) = send(&app, "GET", "/v1/customers/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The page's `test` alias, and a key sent in both casings.
    let both = json!({"id": "cust-44", "firstName": "A", "first_name": "B"});
    let (status, body) = send(&app, "POST", "/v1/customers", Some(both)).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::BAD_REQUEST, json!("firstName")));
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 2);
}

#[tokio::test]
async fn the_customer_schedule_sync_pages_example() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    // Every field the page lists, in its names.
    let example = json!({
        "id": "sync-1", "firstName": "Grace", "lastName": "Hopper", "email": "grace@example.com",
        "birthday": "1985-06-15", "ssnLastFour": "1234", "phoneNumber": "+14155550123",
        "timezone": "America/Los_Angeles", "taskType": "collections", "streetAddress1": "123 Main St",
        "streetAddress2": "Apt 4B", "city": "San Francisco", "state": "CA", "zipCode": "94102",
        "test": false, "externalMetadata": {"employer": "Navy"}, "loanIds": [123, 456, 789], "sync": false
    });
    let (status, body) = send(&app, "POST", "/v1/customer-schedule-sync", Some(example.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    has_keys(&body, CUSTOMER_KEYS);
    has_keys(&body, &["schedule_created", "tasks_created", "existing_tasks_removed"]);
    assert_eq!(body["schedule_created"], true);
    let planned = body["tasks_created"].clone();
    // Idempotent: the same request again removes what it planned and plans the same.
    let (status, again) = send(&app, "POST", "/v1/customer-schedule-sync", Some(example.clone())).await;
    assert_eq!(status, StatusCode::OK, "{again:#}");
    assert_eq!(
        (again["existing_tasks_removed"].clone(), again["tasks_created"].clone()),
        (planned.clone(), planned)
    );
    // Do Not Call as the page describes: set, then refused until doNotCall: false.
    let mut dnc = example.clone();
    dnc["doNotCall"] = json!(true);
    let (status, _) = send(&app, "POST", "/v1/customer-schedule-sync", Some(dnc.clone())).await;
    assert_eq!(status, StatusCode::OK);
    for body in [example.clone(), dnc] {
        let (status, refused) = send(&app, "POST", "/v1/customer-schedule-sync", Some(body)).await;
        assert_eq!(
            (status, refused["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("DO_NOT_CALL"))
        );
    }
    let mut cleared = example;
    cleared["doNotCall"] = json!(false);
    let (status, body) = send(&app, "POST", "/v1/customer-schedule-sync", Some(cleared)).await;
    assert_eq!((status, body["doNotCall"].clone()), (StatusCode::OK, json!(false)));
    // A missing required field is named as the page names it.
    let (status, body) = send(
        &app,
        "POST",
        "/v1/customer-schedule-sync",
        Some(json!({"id": "sync-2", "taskType": "collections"})),
    )
    .await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::BAD_REQUEST, json!("firstName")));
}

#[tokio::test]
async fn the_add_update_customer_pages_examples() {
    let app = TestApp::spawn().await;
    // The page's first request: created.
    let first = json!({
        "phone_number": "+13105551234",
        "email": "matthew@example.com",
        "first_name": "Matthew",
        "last_name": "Berman",
        "picture_url": "http://where_the_pics_live.com/the_bermanator.png",
        "properties": {"great_customer": "true"}
    });
    let (status, body) = send(&app, "POST", "/v1/customers/upsert", Some(first)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    // Its second, trailing comma mended: found by the number, only the fields sent change.
    let second = json!({"phone_number": "+13105551234", "email": "john@example.com", "first_name": "John"});
    let (status, body) = send(&app, "POST", "/v1/customers/upsert", Some(second)).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    // "the result will be a customer that looks like" the page's third block.
    let expected = json!({"phone_number": "+13105551234", "email": "john@example.com", "first_name": "John",
                          "last_name": "Berman", "properties": {"great_customer": "true"}});
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&body[key], value, "{key}: {body:#}");
    }
    assert_eq!(body["picture_url"], "http://where_the_pics_live.com/the_bermanator.png");
    let bad = json!({"phone_number": "+13105551234", "picture_url": "not a url"});
    let (status, body) = send(&app, "POST", "/v1/customers/upsert", Some(bad)).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::BAD_REQUEST, json!("picture_url")));
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);
}

#[tokio::test]
async fn the_bulk_add_customers_pages_example() {
    let app = TestApp::spawn().await;
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Loans\", taskType: \"loans\", requiredCustomerFields: [FIRST_NAME, PHONE_NUMBER]}) { id } }",
        json!({}),
    )
    .await;
    let campaign = app.gql_ok("{ schedules { nodes { id } } }", json!({})).await["schedules"]["nodes"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let record = |phone: &str, lead: &str| {
        json!({
          "loan_id": "LN-7", "first_name": "Alan", "last_name": "Turing", "phone_number": phone,
          "loan_amount": 123, "emi_amount": 123, "loan_period": 123, "current_emi": 123,
          "emi_due_date": "2027-01-15", "payment_status": "due", "language": "en",
          "lead_id": lead, "lead_date": "2026-11-30"
        })
    };
    // The page's example asks for calls and the workflow at once, which its own text forbids.
    let example = json!({
      "campaignId": campaign,
      "records": [record("+13125550101", "lead-1")],
      "initiateCall": true,
      "callConfig": {"agentId": "agent-1", "dispositionId": "disp-1"},
      "useWorkflow": true
    });
    let (status, body) = send(&app, "POST", "/api/v1/customers/add/bulk", Some(example.clone())).await;
    assert_eq!((status, body["error"]["field"].clone()), (StatusCode::BAD_REQUEST, json!("initiateCall")));
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 0);
    // Each on its own, three records as the page's answer counts them.
    let mut workflow = example.clone();
    workflow["initiateCall"] = json!(false);
    workflow["records"] = json!([
        record("+13125550101", "lead-1"),
        record("+13125550102", "lead-2"),
        record("+13125550103", "lead-3")
    ]);
    let (status, body) = send(&app, "POST", "/api/v1/customers/add/bulk", Some(workflow)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    assert_eq!(
        (body["success"].clone(), body["message"].clone(), body["results"].clone()),
        (
            json!(true),
            json!("Added 3 of 3 records"),
            json!({"total": 3, "valid": 3, "invalid": 0, "successful": 3, "failed": 0, "batchesProcessed": 1, "errors": []})
        )
    );
    assert_eq!(body["workflowTriggered"], true);
    assert!(body.get("callResults").is_none(), "{body:#}");
    let mut calls = example;
    calls["useWorkflow"] = json!(false);
    calls["records"] = json!([record("+13125550104", "lead-4")]);
    let (status, body) = send(&app, "POST", "/api/v1/customers/add/bulk", Some(calls)).await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    has_keys(&body, &["success", "message", "results", "callResults"]);
    assert!(body.get("workflowTriggered").is_none(), "{body:#}");
    // The same answer at the path callsync served before.
    let (status, _) =
        send(&app, "POST", "/v1/customers/add/bulk", Some(json!({"campaignId": campaign, "records": []})))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
