//! The REST endpoints in the seed vendors' shapes: their documented example requests with the
//! documented status codes, bad input on every endpoint (a 4xx naming the field, nothing
//! written), tenancy, and the same scenarios through GraphQL and REST giving the same database.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{customer_input, rest_request, TestApp};

/// Sends `body` (None: no body) to `path` with the app's key (or `key`; empty: none), returns
/// status and JSON.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    match key {
        None => rest_request(app, method, path, body, None).await,
        Some("") => rest_request(app, method, path, body, Some(&[])).await,
        Some(key) => rest_request(app, method, path, body, Some(&[("X-API-Key", key)])).await,
    }
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, "POST", path, Some(body), None).await
}

#[track_caller]
fn assert_rest_error(answer: &(StatusCode, Value), status: StatusCode, code: &str, field: Option<&str>) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body:#}");
    assert_eq!(body["error"]["code"], code, "{body:#}");
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body:#}");
    }
}

/// The customer-schedule sync vendor's customer: snake_case, every field createCustomer needs.
fn vendor_customer(id: &str) -> Value {
    json!({
        "id": id, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "birthday": "1985-12-10", "ssn_last_four": "1234", "phone_number": "(212) 555-0100",
        "timezone": "America/New_York", "task_type": "collections", "street_address1": "1 Main St",
        "city": "New York", "state": "NY", "zip_code": "10001",
        "external_metadata": {"source": "vendor"}
    })
}

async fn collections_schedule(app: &TestApp) -> String {
    let (status, body) =
        post(app, "/api/v1/schedules", json!({"name": "Collections", "task_type": "collections"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

fn customers(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM customers")
}

#[tokio::test]
async fn create_customer_answers_201_400_409_and_401() {
    let app = TestApp::spawn().await;
    collections_schedule(&app).await;
    let (status, body) = post(&app, "/v1/customers", vendor_customer("c-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], "c-1");
    // Answered in the create vendor's camelCase, though the body was snake_case.
    assert_eq!(body["phoneNumber"], "+12125550100");
    assert_eq!(body["externalMetadata"], json!({"source": "vendor"}));
    assert_rest_error(
        &post(&app, "/v1/customers", vendor_customer("c-1")).await,
        StatusCode::CONFLICT,
        "CONFLICT",
        Some("id"),
    );
    let mut unknown_type = vendor_customer("c-2");
    unknown_type["task_type"] = json!("sales");
    let answer = post(&app, "/v1/customers", unknown_type).await;
    assert_rest_error(&answer, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", Some("taskType"));
    assert_eq!(answer.1["error"]["valid_task_types"], json!(["collections"]));
    let answer = call(&app, "POST", "/v1/customers", Some(vendor_customer("c-3")), Some("")).await;
    assert_rest_error(&answer, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", None);
    let answer = call(&app, "POST", "/v1/customers", Some(vendor_customer("c-3")), Some("wrong-key")).await;
    assert_rest_error(&answer, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", None);
    assert_eq!(customers(&app), 1);
}

/// Bad input on every REST endpoint: a 400 naming the (snake_case) field, nothing written.
#[tokio::test]
async fn bad_input_on_every_endpoint_names_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let schedule = collections_schedule(&app).await;
    let with = |field: &str, value: Value| {
        let mut c = vendor_customer("bad-1");
        c[field] = value;
        c
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        // The create and sync doors name fields in their vendor's camelCase.
        ("/v1/customers", with("email", json!("not-an-email")), "email"),
        ("/v1/customers", with("birthday", json!("1990-02-30")), "birthday"),
        ("/v1/customers", with("zip_code", json!("9000")), "zipCode"),
        ("/v1/customers", with("street_address1", Value::Null), "streetAddress1"),
        ("/v1/customers", with("do_not_call", json!("yes")), "doNotCall"),
        ("/v1/customers", with("shoe_size", json!(44)), "shoe_size"),
        ("/v1/customers", with("external_metadata", json!([1])), "externalMetadata"),
        ("/v1/customers", with("loans", json!([{"loan_id": "L", "amount": -1}])), "loans[0]"),
        (
            "/v1/customers",
            with("loans", json!([{"loan_id": "L", "due_date": "2027-02-30"}])),
            "loans[0].dueDate",
        ),
        ("/v1/customers", with("firstName", json!("Twice")), "firstName"),
        ("/v1/customers", with("city", json!("New\u{0}York")), "city"),
        ("/v1/customer-schedule-sync", with("phone_number", json!("555")), "phoneNumber"),
        ("/v1/customer-schedule-sync", with("timezone", json!("Mars/Olympus")), "timezone"),
        ("/v1/customers/upsert", json!({"phone_number": "+12125550100", "properties": "x"}), "properties"),
        ("/v1/customers/upsert", json!({"first_name": "No identity"}), "id"),
        ("/v1/customers/upsert", json!({"phone_number": "+12125550100", "match_on": "email"}), "match_on"),
        ("/v1/customers/add/bulk", json!({"records": []}), "campaignId"),
        (
            "/v1/customers/add/bulk",
            json!({"campaignId": schedule, "records": [], "initiate_call": true}),
            "callConfig",
        ),
        ("/v1/customers/add/bulk", json!({"campaignId": schedule, "records": "x"}), "records"),
        (
            "/api/v1/schedules",
            json!({"name": "S", "task_type": "s", "calling_hours_start": "25:00"}),
            "calling_hours_start",
        ),
        (
            "/api/v1/schedules",
            json!({"name": "S", "task_type": "s", "max_attempts_per_7_days": 0}),
            "max_attempts_per_7_days",
        ),
        (
            "/api/v1/schedules",
            json!({"name": "S", "task_type": "s", "required_customer_fields": ["SHOE_SIZE"]}),
            "required_customer_fields",
        ),
        (
            "/api/v1/schedules",
            json!({"name": "S", "task_type": "s", "cadence": [{"day_offset": 1}]}),
            "cadence[0].local_time",
        ),
        ("/api/v1/schedules", json!({"task_type": "s"}), "name"),
        ("/api/v1/schedules/make_call", json!({"schedule_id": schedule}), "to"),
        (
            "/api/v1/schedules/make_call",
            json!({"schedule_id": schedule, "to": "+12125550100", "data": [1]}),
            "data",
        ),
    ];
    for (path, body, field) in cases {
        let answer = post(&app, path, body.clone()).await;
        assert_rest_error(&answer, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", Some(field));
    }
    // The vendor's boolean literals (1/0, true/false, yes/no, on/off) are values, not errors;
    // anything else names the field.
    let put =
        call(&app, "PUT", &format!("/api/v1/schedules/{schedule}"), Some(json!({"paused": "maybe"})), None)
            .await;
    assert_rest_error(&put, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", Some("paused"));
    let list = call(&app, "GET", "/api/v1/schedules?page=0", None, None).await;
    assert_rest_error(&list, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", Some("page"));
    let list = call(&app, "GET", "/api/v1/schedules?order=color", None, None).await;
    assert_rest_error(&list, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", Some("order"));
    let not_json = app
        .client
        .post(format!("{}/v1/customers", app.base_url))
        .header("X-API-Key", &app.api_key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(customers(&app), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM schedules"), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);
    let put = call(&app, "GET", &format!("/api/v1/schedules/{schedule}"), None, None).await;
    assert_eq!(put.1["paused"], false);
}

#[tokio::test]
async fn schedule_sync_returns_the_flat_customer_and_refuses_do_not_call() {
    let app = TestApp::spawn().await;
    collections_schedule(&app).await;
    let (status, body) = post(&app, "/v1/customer-schedule-sync", vendor_customer("s-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["id"].clone(), body["firstName"].clone()), (json!("s-1"), json!("Ada")));
    assert_eq!(body["schedule_created"], true);
    let planned = body["tasks_created"].as_i64().unwrap();
    assert!(planned > 0);
    assert_eq!(body["tasks"].as_array().unwrap().len() as i64, planned);
    assert_eq!(body["existing_tasks_removed"], 0);
    let (status, body) = post(&app, "/v1/customer-schedule-sync", vendor_customer("s-1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["existing_tasks_removed"], planned);
    let mut dnc = vendor_customer("s-1");
    dnc["do_not_call"] = json!(true);
    post(&app, "/v1/customer-schedule-sync", dnc).await;
    let again = post(&app, "/v1/customer-schedule-sync", vendor_customer("s-1")).await;
    assert_rest_error(&again, StatusCode::BAD_REQUEST, "DO_NOT_CALL", None);
}

#[tokio::test]
async fn the_sonar_style_upsert_uses_the_phone_as_identity_and_properties() {
    let app = TestApp::spawn().await;
    let (status, body) = post(
        &app,
        "/v1/customers/upsert",
        json!({"phone_number": "+1 212 555 0142", "first_name": "Sam", "properties": {"plan": "gold"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cus_"));
    assert_eq!(body["properties"], json!({"plan": "gold"}));
    assert_eq!(body["created"], true);
    let (status, body) =
        post(&app, "/v1/customers/upsert", json!({"phone_number": "2125550142", "properties": {"tier": 2}}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["properties"], json!({"plan": "gold", "tier": 2}));
    assert_eq!(customers(&app), 1);
}

#[tokio::test]
async fn the_bulk_vendors_records_land_with_their_loans_and_extras() {
    let app = TestApp::spawn().await;
    let (_, schedule) = post(
        &app,
        "/api/v1/schedules",
        json!({"name": "Campaign", "task_type": "campaign",
        "required_customer_fields": ["FIRST_NAME", "LAST_NAME", "PHONE_NUMBER"]}),
    )
    .await;
    let campaign = schedule["id"].as_str().unwrap();
    let record = |id: &str, phone: &str| {
        json!({
            "id": id, "first_name": "Grace", "last_name": "Hopper", "phone_number": phone,
            "loan_id": "LN-1", "loan_amount": 5000, "emi_amount": 250.5, "loan_period": 24, "current_emi": 3,
            "emi_due_date": "2027-01-15", "payment_status": "overdue",
            "language": "es", "lead_id": "lead-77", "lead_date": "2026-11-01"
        })
    };
    let (status, body) = post(&app, "/v1/customers/add/bulk",
        json!({"campaignId": campaign, "records": [record("b-1", "+12125550111"), record("b-2", "+12125550112")]})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["success"].clone(), body["message"].clone()),
        (json!(true), json!("Added 2 of 2 records"))
    );
    let c = app.gql_ok("{ customer(id: \"b-1\") { externalMetadata loans { loanId amount installmentAmount periodMonths currentInstallment dueDate paymentStatus } } }", json!({})).await;
    assert_eq!(
        c["customer"]["externalMetadata"],
        json!({"language": "es", "lead_id": "lead-77", "lead_date": "2026-11-01"})
    );
    assert_eq!(
        c["customer"]["loans"],
        json!([{"loanId": "LN-1", "amount": 5000.0, "installmentAmount": 250.5, "periodMonths": 24,
                "currentInstallment": 3, "dueDate": "2027-01-15", "paymentStatus": "overdue"}])
    );
    // Some bad: 207, each error named; all bad: 400.
    let mut bad = record("b-3", "+12125550113");
    bad["phone_number"] = json!("555");
    let (status, body) = post(
        &app,
        "/v1/customers/add/bulk",
        json!({"campaignId": campaign, "records": [record("b-4", "+12125550114"), bad.clone()]}),
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["results"]["errors"][0]["index"], 1);
    assert_eq!(body["results"]["errors"][0]["field"], "phone_number");
    let (status, body) =
        post(&app, "/v1/customers/add/bulk", json!({"campaignId": campaign, "records": [bad]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        (body["success"].clone(), body["message"].clone()),
        (json!(false), json!("Added 0 of 1 records"))
    );
    // Only what was asked for: no callResults without initiateCall, no workflowTriggered
    // without useWorkflow.
    assert!(body.get("callResults").is_none() && body.get("workflowTriggered").is_none(), "{body}");
    // An unknown campaign, or another company's, is 404.
    let (_, other_key) = app.new_company("Other");
    let answer = call(
        &app,
        "POST",
        "/v1/customers/add/bulk",
        Some(json!({"campaignId": campaign, "records": [record("x", "+12125550119")]})),
        Some(&other_key),
    )
    .await;
    assert_rest_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND", None);
    assert_eq!(customers(&app), 3);
}

#[tokio::test]
async fn schedules_crud_list_pages_and_csv() {
    let app = TestApp::spawn().await;
    let (status, new) = call(&app, "GET", "/api/v1/schedules/new", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(new["calling_hours_start"], "08:00");
    let (status, created) = post(&app, "/api/v1/schedules", json!({
        "name": "Morning", "task_type": "morning", "daylight_hours_open": "09:00", "daylight_hours_close": "12:00",
        "cadence": [{"day_offset": 0, "local_time": "10:00"}], "lead_duplicate_timeframe_seconds": 3600
    })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["calling_hours_start"].clone(), created["calling_hours_end"].clone()),
        (json!("09:00"), json!("12:00"))
    );
    let id = created["id"].as_str().unwrap().to_string();
    for i in 0..4 {
        post(
            &app,
            "/api/v1/schedules",
            json!({"name": format!("Batch {i}"), "task_type": format!("batch-{i}")}),
        )
        .await;
    }
    assert_rest_error(
        &post(&app, "/api/v1/schedules", json!({"name": "Dup", "task_type": "morning"})).await,
        StatusCode::CONFLICT,
        "CONFLICT",
        Some("task_type"),
    );
    let (status, got) = call(&app, "GET", &format!("/api/v1/schedules/{id}"), None, None).await;
    assert_eq!((status, got["name"].clone()), (StatusCode::OK, json!("Morning")));
    let (status, updated) = call(
        &app,
        "PUT",
        &format!("/api/v1/schedules/{id}"),
        Some(json!({"paused": true, "description": "AM only"})),
        None,
    )
    .await;
    assert_eq!(
        (status, updated["paused"].clone(), updated["name"].clone()),
        (StatusCode::OK, json!(true), json!("Morning"))
    );
    let (_, page) =
        call(&app, "GET", "/api/v1/schedules?page=2&per_page=2&order=name&order_dir=asc", None, None).await;
    let names: Vec<&str> =
        page["schedules"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Batch 2", "Batch 3"]);
    assert_eq!((page["total_count"].clone(), page["total_pages"].clone()), (json!(5), json!(3)));
    let (_, found) = call(&app, "GET", "/api/v1/schedules?fulltext=morn", None, None).await;
    assert_eq!(found["total_count"], 1);
    let csv = app
        .client
        .get(format!("{}/api/v1/schedules.csv?fulltext=batch&order=name&order_dir=desc", app.base_url))
        .header("X-API-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,name,description,taskType,paused"), "{text}");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[1].contains(",Batch 3,"), "{text}");
    // Another company sees none of it.
    let (_, other_key) = app.new_company("Other");
    let answer = call(&app, "GET", &format!("/api/v1/schedules/{id}"), None, Some(&other_key)).await;
    assert_rest_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND", None);
    let answer = call(&app, "DELETE", &format!("/api/v1/schedules/{id}"), None, Some(&other_key)).await;
    assert_rest_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND", None);
    let (_, theirs) = call(&app, "GET", "/api/v1/schedules", None, Some(&other_key)).await;
    assert_eq!(theirs["total_count"], 0);
    let (status, deleted) = call(&app, "DELETE", &format!("/api/v1/schedules/{id}"), None, None).await;
    assert_eq!((status, deleted["deleted_schedule_id"].clone()), (StatusCode::OK, json!(id)));
    let answer = call(&app, "GET", &format!("/api/v1/schedules/{id}"), None, None).await;
    assert_rest_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND", None);
}

#[tokio::test]
async fn make_call_answers_201_or_422_with_the_policys_code() {
    let app = TestApp::spawn().await;
    let schedule = collections_schedule(&app).await;
    post(&app, "/v1/customers", vendor_customer("lead-1")).await;
    // 12:00 in New York at the test clock's start: inside calling hours.
    let (status, body) = post(
        &app,
        "/api/v1/schedules/make_call",
        json!({"lead_id": "lead-1", "schedule_id": schedule, "data": {"campaign": "nov"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["status"].clone(), body["to"].clone()), (json!("QUEUED"), json!("+12125550100")));
    // Guam is at 03:00: refused by the policy, with when it would be allowed.
    crate::harness::record_consent(&app, "+16715550100", false).await;
    let answer =
        post(&app, "/api/v1/schedules/make_call", json!({"schedule_id": schedule, "to": "+16715550100"}))
            .await;
    assert_rest_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "OUTSIDE_CALLING_HOURS", None);
    assert!(answer.1["error"]["next_allowed_at"].is_string(), "{:#}", answer.1);
    let answer =
        post(&app, "/api/v1/schedules/make_call", json!({"lead_id": "nobody", "schedule_id": schedule}))
            .await;
    assert_rest_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND", None);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 1);
    // A one-off number: consent in the body, or NO_CONSENT; a landline needs none for a few
    // calls; bad values name the field and write nothing.
    let to = "+13125550177";
    let answer = post(&app, "/api/v1/schedules/make_call", json!({"schedule_id": schedule, "to": to})).await;
    assert_rest_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "NO_CONSENT", None);
    let consent =
        json!({"type": "PRIOR_EXPRESS", "source": "WEB_FORM", "obtained_at": "2026-11-01T00:00:00Z"});
    for (body, field) in [
        (json!({"schedule_id": schedule, "to": to, "line_type": "fax"}), "line_type"),
        (
            json!({"schedule_id": schedule, "to": to, "consent": {"type": "PRIOR_EXPRESS", "source": "WEB_FORM", "obtained_at": "2030-01-01T00:00:00Z"}}),
            "consent.obtained_at",
        ),
        (
            json!({"schedule_id": schedule, "to": to, "consent": {"type": "PRIOR_EXPRESS", "obtained_at": "2026-01-01T00:00:00Z"}}),
            "consent.source",
        ),
    ] {
        let answer = post(&app, "/api/v1/schedules/make_call", body).await;
        assert_rest_error(&answer, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", Some(field));
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 1);
    let (status, body) = post(
        &app,
        "/api/v1/schedules/make_call",
        json!({"schedule_id": schedule, "to": to, "consent": consent}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let landline = "+13125550188";
    let (status, body) = post(
        &app,
        "/api/v1/schedules/make_call",
        json!({"schedule_id": schedule, "to": landline, "line_type": "LANDLINE"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The rows that matter, in a stable order and without generated ids or instants.
fn snapshot(app: &TestApp) -> Value {
    let mut conn = app.db.connect();
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    let mut rows = Vec::new();
    for sql in [
        "SELECT row_to_json(c)::text AS row FROM (SELECT CASE WHEN external_id LIKE 'cus\\_%' THEN 'generated' ELSE external_id END AS id, first_name, last_name, email, birthday, ssn_last_four,
                phone_number, timezone, timezone_inferred, task_type, street_address1, city, state, zip_code, do_not_call,
                is_test, external_metadata FROM customers
                ORDER BY external_id LIKE 'cus\\_%', CASE WHEN external_id LIKE 'cus\\_%' THEN phone_number ELSE external_id END) c",
        "SELECT row_to_json(t)::text AS row FROM (SELECT c.external_id LIKE 'cus\\_%' AS generated, c.phone_number, t.status,
                t.attempt, t.scheduled_for, t.time_zone FROM tasks t JOIN customers c ON c.id = t.customer_id
                ORDER BY c.phone_number, t.attempt, t.status) t",
        "SELECT row_to_json(l)::text AS row FROM (SELECT c.phone_number, l.loan_id, l.amount FROM loans l
                JOIN customers c ON c.id = l.customer_id ORDER BY c.phone_number, l.loan_id) l",
        "SELECT row_to_json(s)::text AS row FROM (SELECT name, task_type, calling_hours_start, calling_hours_end,
                required_customer_fields, paused FROM schedules ORDER BY task_type) s",
        "SELECT row_to_json(k)::text AS row FROM (SELECT to_number, status, source FROM calls ORDER BY to_number) k",
    ] {
        let found: Vec<Row> = diesel::sql_query(sql).load(&mut conn).unwrap();
        rows.extend(found.into_iter().map(|r| serde_json::from_str::<Value>(&r.row).unwrap()));
    }
    Value::Array(rows)
}

/// The same migration-day scenarios through both doors: the database ends the same.
#[tokio::test]
async fn the_same_scenarios_through_graphql_and_rest_leave_the_same_database() {
    let (graphql, rest) = (TestApp::spawn().await, TestApp::spawn().await);

    // 1. A campaign that needs names and a phone.
    graphql.gql_ok("mutation { createSchedule(input: {name: \"Collections\", taskType: \"collections\", callingHoursStart: \"09:00\", requiredCustomerFields: [FIRST_NAME, LAST_NAME, PHONE_NUMBER]}) { id } }", json!({})).await;
    post(&rest, "/api/v1/schedules", json!({"name": "Collections", "task_type": "collections", "daylight_hours_open": "09:00", "required_customer_fields": ["FIRST_NAME", "LAST_NAME", "PHONE_NUMBER"]})).await;

    // 2. A full customer created, then synced (tasks planned), then a bad sync (nothing changes).
    let full = customer_input("c-1");
    graphql
        .gql_ok("mutation($i: CustomerInput!) { createCustomer(input: $i) { id } }", json!({"i": full}))
        .await;
    graphql
        .gql_ok(
            "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated } }",
            json!({"i": {"id": "c-1"}}),
        )
        .await;
    graphql
        .gql(
            "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated } }",
            json!({"i": {"id": "c-1", "email": "bad"}}),
        )
        .await;
    let mut snake = json!({});
    for (k, v) in full.as_object().unwrap() {
        snake[callsync::rest::snake_case(k)] = v.clone();
    }
    post(&rest, "/v1/customers", snake).await;
    post(&rest, "/v1/customer-schedule-sync", json!({"id": "c-1"})).await;
    post(&rest, "/v1/customer-schedule-sync", json!({"id": "c-1", "email": "bad"})).await;

    // 3. Phone identity: a new number (generated id), then an update of it.
    for door in ["graphql", "rest"] {
        for (name, tier) in [("Sam", 1), ("Samuel", 2)] {
            if door == "graphql" {
                graphql.gql_ok("mutation($i: CustomerInput!) { upsertCustomer(input: $i, matchOn: PHONE_NUMBER) { created } }",
                    json!({"i": {"phoneNumber": "+12125550142", "firstName": name, "externalMetadata": {"tier": tier}}})).await;
            } else {
                post(
                    &rest,
                    "/v1/customers/upsert",
                    json!({"phone_number": "+12125550142", "first_name": name, "properties": {"tier": tier}}),
                )
                .await;
            }
        }
    }

    // 4. A bulk import of the campaign with a loan, one bad record, and calls.
    let schedule_of = |app: &TestApp| {
        let mut conn = app.db.connect();
        use diesel::prelude::*;
        callsync::store::schema::schedules::table
            .select(callsync::store::schema::schedules::id)
            .first::<uuid::Uuid>(&mut conn)
            .unwrap()
            .to_string()
    };
    let records = json!([
        {"id": "b-1", "firstName": "Grace", "lastName": "Hopper", "phoneNumber": "+12125550111", "zipCode": "10001", "loans": [{"loanId": "LN-1", "amount": 500.0}]},
        {"id": "b-2", "firstName": "Bad", "lastName": "Phone", "phoneNumber": "555"},
        {"firstName": "No", "lastName": "Id", "phoneNumber": "+12125550113", "zipCode": "10001"}
    ]);
    graphql.gql_ok("mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { status } }",
        json!({"input": {"scheduleId": schedule_of(&graphql), "records": records, "initiateCall": true, "callConfig": {"agentId": "a-1"}}})).await;
    post(&rest, "/v1/customers/add/bulk", json!({"campaignId": schedule_of(&rest), "initiate_call": true, "call_config": {"agent_id": "a-1"}, "records": [
        {"id": "b-1", "first_name": "Grace", "last_name": "Hopper", "phone_number": "+12125550111", "zip_code": "10001", "loan_id": "LN-1", "loan_amount": 500.0},
        {"id": "b-2", "first_name": "Bad", "last_name": "Phone", "phone_number": "555"},
        {"first_name": "No", "last_name": "Id", "phone_number": "+12125550113", "zip_code": "10001"}
    ]})).await;

    // 5. makeCall by the customer, and one the policy refuses (Guam at 03:00).
    graphql.gql("mutation { makeCall(input: {customerId: \"c-1\"}) { id } }", json!({})).await;
    graphql
        .gql(
            &format!(
                "mutation {{ makeCall(input: {{scheduleId: \"{}\", to: \"+16715550100\"}}) {{ id }} }}",
                schedule_of(&graphql)
            ),
            json!({}),
        )
        .await;
    post(&rest, "/api/v1/schedules/make_call", json!({"lead_id": "c-1"})).await;
    post(
        &rest,
        "/api/v1/schedules/make_call",
        json!({"schedule_id": schedule_of(&rest), "to": "+16715550100"}),
    )
    .await;

    let (a, b) = (snapshot(&graphql), snapshot(&rest));
    assert!(a.as_array().unwrap().len() > 10, "{a:#}");
    assert_eq!(a, b);
}

#[tokio::test]
async fn the_customer_doors_take_and_show_line_type_consent_times_and_holds() {
    let app = TestApp::spawn().await;
    collections_schedule(&app).await;
    let mut customer = vendor_customer("r-1");
    customer["phone_line_type"] = json!("landline");
    customer["inconvenient_times"] = json!([{"days": ["SAT", "SUN"], "start": "08:00", "end": "12:00"}]);
    customer["consent"] = json!({"type": "PRIOR_EXPRESS", "source": "RECORDED_CALL",
        "evidence": "rec-9", "obtained_at": "2026-11-20T10:00:00Z"});
    let (status, body) = post(&app, "/v1/customer-schedule-sync", customer).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["phoneLineType"], "LANDLINE");
    assert_eq!(
        body["inconvenientTimes"],
        json!([{"days": ["SAT", "SUN"], "start": "08:00", "end": "12:00"}])
    );
    assert_eq!(
        (
            body["consent"]["type"].clone(),
            body["consent"]["source"].clone(),
            body["consent"]["evidence"].clone()
        ),
        (json!("PRIOR_EXPRESS"), json!("RECORDED_CALL"), json!("rec-9"))
    );
    assert_eq!(body["contactHold"], Value::Null);
    // A hold shows on the next answer.
    app.gql_ok(
        "mutation { placeContactHold(customerId: \"r-1\", reason: ATTORNEY_REPRESENTED, note: \"Smith & Co\") { id } }",
        json!({}),
    )
    .await;
    let (_, body) =
        post(&app, "/v1/customers/upsert", json!({"id": "r-1", "match_on": "id", "city": "Albany"})).await;
    assert_eq!(body["contact_hold"]["reason"], "ATTORNEY_REPRESENTED", "{body}");
    assert_eq!(body["contact_hold"]["note"], "Smith & Co");
    // Bad values: the field as the sync vendor names it (camelCase), nothing written.
    let before = customers(&app);
    let bad = |key: &str, value: Value| {
        let mut customer = vendor_customer("r-2");
        customer[key] = value;
        customer
    };
    for (body, field) in [
        (
            bad("inconvenient_times", json!([{"days": ["MON"], "start": "25:00", "end": "26:00"}])),
            "inconvenientTimes.0.start",
        ),
        (
            bad("inconvenient_times", json!([{"days": ["MON"], "start": "10:00", "end": "09:00"}])),
            "inconvenientTimes.0.end",
        ),
        (bad("inconvenient_times", json!("mornings")), "inconvenientTimes"),
        (bad("phone_line_type", json!("fax")), "phoneLineType"),
        (
            bad(
                "consent",
                json!({"type": "PRIOR_EXPRESS", "source": "WEB_FORM", "obtained_at": "2030-01-01T00:00:00Z"}),
            ),
            "consent.obtainedAt",
        ),
        (
            bad(
                "consent",
                json!({"type": "VERBAL", "source": "WEB_FORM", "obtained_at": "2026-01-01T00:00:00Z"}),
            ),
            "consent.type",
        ),
    ] {
        let answer = post(&app, "/v1/customer-schedule-sync", body).await;
        assert_rest_error(&answer, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", Some(field));
    }
    assert_eq!(customers(&app), before);
    assert_eq!(app.count("SELECT count(*) AS n FROM consents"), 1);
}
