//! Coming from the seed vendors (issue 12): campaign-specific required fields, timezone
//! inference, phone as identity, isTest kept on re-import, dispositionId, and the schedule's
//! lead-duplicate timeframe. Each test is a request a migrating team sends as they always did.

use serde_json::{json, Value};

use crate::harness::{assert_error, TestApp};

const BULK: &str = "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) {
    success status results { successful invalid errors { index id field code message } }
    callResults { initiated failed } } }";
const UPSERT: &str =
    "mutation($input: CustomerInput!, $on: CustomerKey) { upsertCustomer(input: $input, matchOn: $on) {
    created customer { id firstName phoneNumber email timezone timezoneInferred taskType isTest } } }";
const SYNC: &str = "mutation($input: CustomerInput!) { syncCustomerSchedule(input: $input) {
    scheduleCreated tasksCreated skippedReason customer { id timezone timezoneInferred } } }";

/// A campaign that, like the bulk vendor's, needs only names and a phone number.
async fn names_and_phone_campaign(app: &TestApp, task_type: &str) -> String {
    let body = app
        .gql_ok(
            "mutation($input: ScheduleInput!) { createSchedule(input: $input) { id requiredCustomerFields } }",
            json!({"input": {"name": "Bulk vendor", "taskType": task_type,
                             "requiredCustomerFields": ["FIRST_NAME", "LAST_NAME", "PHONE_NUMBER"]}}),
        )
        .await;
    assert_eq!(
        body["createSchedule"]["requiredCustomerFields"],
        json!(["FIRST_NAME", "LAST_NAME", "PHONE_NUMBER"])
    );
    body["createSchedule"]["id"].as_str().unwrap().to_string()
}

/// What the bulk vendor accepts: names, a phone and a loan.
fn vendor_record(id: Option<&str>, phone: &str) -> Value {
    let mut r = json!({"firstName": "Grace", "lastName": "Hopper", "phoneNumber": phone,
                       "loans": [{"loanId": "L-1", "amount": 1200.0}]});
    if let Some(id) = id {
        r["id"] = json!(id);
    }
    r
}

#[tokio::test]
async fn a_campaign_requires_its_own_fields_on_every_path() {
    let app = TestApp::spawn().await;
    let campaign = names_and_phone_campaign(&app, "reminder").await;
    let defaults = app.gql_ok("{ scheduleDefaults { requiredCustomerFields } }", json!({})).await;
    assert_eq!(
        defaults["scheduleDefaults"]["requiredCustomerFields"],
        json!([
            "FIRST_NAME",
            "LAST_NAME",
            "EMAIL",
            "BIRTHDAY",
            "PHONE_NUMBER",
            "TIMEZONE",
            "STREET_ADDRESS1",
            "CITY",
            "STATE",
            "ZIP_CODE"
        ])
    );

    // Bulk: a record with names, phone and a loan is added (no "email is required").
    let body = app
        .gql(BULK, json!({"input": {"scheduleId": campaign, "records": [vendor_record(Some("v-1"), "+12125550101")]}}))
        .await;
    let p = &body["data"]["bulkAddCustomers"];
    assert_eq!((p["success"].clone(), p["status"].clone()), (json!(true), json!("SUCCESS")), "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM loans"), 1);
    // ... and one without a last name is refused with that field.
    let mut no_last = vendor_record(Some("v-2"), "+12125550102");
    no_last.as_object_mut().unwrap().remove("lastName");
    let body = app.gql(BULK, json!({"input": {"scheduleId": campaign, "records": [no_last]}})).await;
    assert_eq!(body["data"]["bulkAddCustomers"]["results"]["errors"][0]["field"], "lastName", "{body}");

    // createCustomer and syncCustomerSchedule: the same campaign's fields, and a task type.
    let input = json!({"id": "c-1", "firstName": "Ada", "lastName": "L", "phoneNumber": "+12125550103",
                       "taskType": "reminder"});
    let created = app
        .gql_ok(
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { id email } }",
            json!({"input": input}),
        )
        .await;
    assert_eq!(created["createCustomer"], json!({"id": "c-1", "email": null}));
    let body = app.gql(SYNC, json!({"input": {"id": "c-2", "firstName": "Ada", "phoneNumber": "+12125550104", "taskType": "reminder"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("lastName"));
    let body = app.gql(SYNC, json!({"input": {"id": "c-2", "firstName": "Ada", "lastName": "L", "phoneNumber": "+12125550104"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("taskType"));

    // The default campaign still requires what createCustomer always did.
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Collections\", taskType: \"collections\"}) { id } }",
        json!({}),
    )
    .await;
    let body = app.gql(SYNC, json!({"input": {"id": "c-3", "firstName": "Ada", "lastName": "L", "phoneNumber": "+12125550105", "taskType": "collections"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("email"));

    // Moving a customer to a stricter campaign needs that campaign's fields.
    let body = app.gql(UPSERT, json!({"input": {"id": "c-1", "taskType": "collections"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("email"));

    // requiredCustomerFields: settable on update, not null, not an unknown field.
    let update = "mutation($id: ID!, $input: ScheduleInput!) { updateSchedule(id: $id, input: $input) { requiredCustomerFields } }";
    let body = app.gql(update, json!({"id": campaign, "input": {"requiredCustomerFields": null}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("requiredCustomerFields"));
    let body =
        app.gql(update, json!({"id": campaign, "input": {"requiredCustomerFields": ["SHOE_SIZE"]}})).await;
    assert!(body["errors"].is_array(), "{body}");
    let body = app
        .gql_ok(
            update,
            json!({"id": campaign, "input": {"requiredCustomerFields": ["PHONE_NUMBER", "EMAIL", "EMAIL"]}}),
        )
        .await;
    assert_eq!(body["updateSchedule"]["requiredCustomerFields"], json!(["EMAIL", "PHONE_NUMBER"]));
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 2, "nothing else was written");
}

#[tokio::test]
async fn a_phone_only_upsert_is_a_customer_of_no_schedule() {
    let app = TestApp::spawn().await;
    // No "birthday is required": without a task type, a phone number is enough.
    let body = app.gql_ok(UPSERT, json!({"input": {"id": "p-1", "phoneNumber": "(212) 555-0199"}})).await;
    let c = &body["upsertCustomer"];
    assert_eq!(c["created"], true);
    assert_eq!(c["customer"]["taskType"], Value::Null);
    // Its area code (212) has one zone: inferred.
    assert_eq!(c["customer"]["timezone"], "America/New_York");
    assert_eq!(c["customer"]["timezoneInferred"], true);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks"), 0, "no schedule, no tasks");
    let body = app.gql(UPSERT, json!({"input": {"id": "p-2", "firstName": "No phone"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("phoneNumber"));
}

#[tokio::test]
async fn phone_as_identity_when_the_id_is_missing() {
    let app = TestApp::spawn().await;
    let vars = |input: Value| json!({"input": input, "on": "PHONE_NUMBER"});
    let body =
        app.gql_ok(UPSERT, vars(json!({"phoneNumber": "+1 (212) 555-0142", "firstName": "Sonar"}))).await;
    let first = &body["upsertCustomer"];
    assert_eq!(first["created"], true, "{body}");
    let id = first["customer"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cus_"), "a generated id: {id}");
    // The same number in another format updates that customer.
    let body =
        app.gql_ok(UPSERT, vars(json!({"phoneNumber": "2125550142", "firstName": "Sonar Updated"}))).await;
    assert_eq!(body["upsertCustomer"]["created"], false);
    assert_eq!(body["upsertCustomer"]["customer"]["id"], id.as_str());
    assert_eq!(body["upsertCustomer"]["customer"]["firstName"], "Sonar Updated");
    // Without matchOn, a missing id still means the phone number.
    let body =
        app.gql_ok(UPSERT, json!({"input": {"phoneNumber": "+12125550142", "email": "s@example.com"}})).await;
    assert_eq!(body["upsertCustomer"]["customer"]["id"], id.as_str());
    // Neither id nor phone: nothing identifies it; an empty id is refused, not taken as missing.
    let body = app.gql(UPSERT, json!({"input": {"firstName": "Nobody"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("id"));
    let body = app.gql(UPSERT, json!({"input": {"id": " ", "phoneNumber": "+12125550143"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("id"));
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);
}

#[tokio::test]
async fn concurrent_upserts_of_one_new_number_create_one_customer() {
    let app = TestApp::spawn().await;
    let requests = (0..8).map(|i| {
        let app = &app;
        async move {
            app.gql(UPSERT, json!({"input": {"phoneNumber": "+12125550177", "firstName": format!("Racer {i}")}, "on": "PHONE_NUMBER"}))
                .await
        }
    });
    let bodies = futures::future::join_all(requests).await;
    for body in &bodies {
        assert!(body["errors"].is_null(), "{body}");
    }
    let created = bodies.iter().filter(|b| b["data"]["upsertCustomer"]["created"] == true).count();
    assert_eq!(created, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM customers WHERE phone_number = '+12125550177'"), 1);
}

#[tokio::test]
async fn bulk_records_without_id_are_matched_on_their_phone() {
    let app = TestApp::spawn().await;
    let campaign = names_and_phone_campaign(&app, "reminder").await;
    app.gql_ok(
        UPSERT,
        json!({"input": {"id": "known-1", "phoneNumber": "+12125550160", "firstName": "Old"}}),
    )
    .await;
    let mut known = vendor_record(None, "(212) 555-0160");
    known["firstName"] = json!("Renamed");
    let records = [
        known,
        vendor_record(None, "+12125550161"),
        // The same new number twice in one request: the later one is the duplicate.
        vendor_record(None, "+12125550161"),
    ];
    let body = app.gql(BULK, json!({"input": {"scheduleId": campaign, "records": records}})).await;
    let p = &body["data"]["bulkAddCustomers"];
    assert_eq!(p["results"]["successful"], 2, "{body}");
    assert_eq!(p["results"]["errors"][0]["index"], 2);
    assert_eq!(p["results"]["errors"][0]["field"], "phoneNumber");
    let c = app.gql_ok("{ customer(id: \"known-1\") { firstName taskType } }", json!({})).await;
    assert_eq!(c["customer"], json!({"firstName": "Renamed", "taskType": "reminder"}));
    let generated = app.count("SELECT count(*) AS n FROM customers WHERE external_id LIKE 'cus\\_%' AND phone_number = '+12125550161'");
    assert_eq!(generated, 1);
    // Importing it again by phone updates, never duplicates.
    app.gql(
        BULK,
        json!({"input": {"scheduleId": campaign, "records": [vendor_record(None, "+12125550161")]}}),
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 2);
}

#[tokio::test]
async fn a_bulk_reimport_without_is_test_keeps_it() {
    let app = TestApp::spawn().await;
    let campaign = names_and_phone_campaign(&app, "reminder").await;
    let mut test_customer = vendor_record(Some("t-1"), "+12125550170");
    test_customer["isTest"] = json!(true);
    let mut email_given = vendor_record(Some("t-2"), "+12125550171");
    email_given["email"] = json!("keep@example.com");
    app.gql(BULK, json!({"input": {"scheduleId": campaign, "records": [test_customer, email_given]}})).await;
    // Re-imported without isTest (and without the e-mail the campaign does not require).
    let again = [vendor_record(Some("t-1"), "+12125550170"), vendor_record(Some("t-2"), "+12125550171")];
    let body = app.gql(BULK, json!({"input": {"scheduleId": campaign, "records": again}})).await;
    assert_eq!(body["data"]["bulkAddCustomers"]["status"], "SUCCESS", "{body}");
    let c = app
        .gql_ok(
            "{ a: customer(id: \"t-1\") { isTest } b: customer(id: \"t-2\") { isTest email } }",
            json!({}),
        )
        .await;
    assert_eq!(c, json!({"a": {"isTest": true}, "b": {"isTest": false, "email": "keep@example.com"}}));
    // Given, it changes.
    let mut not_test = vendor_record(Some("t-1"), "+12125550170");
    not_test["isTest"] = json!(false);
    app.gql(BULK, json!({"input": {"scheduleId": campaign, "records": [not_test]}})).await;
    let c = app.gql_ok("{ customer(id: \"t-1\") { isTest } }", json!({})).await;
    assert_eq!(c["customer"]["isTest"], false);
}

#[tokio::test]
async fn a_missing_timezone_is_inferred_and_planned_on() {
    let app = TestApp::spawn().await;
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"R\", taskType: \"reminder\", requiredCustomerFields: [FIRST_NAME, PHONE_NUMBER],
                    cadence: [{dayOffset: 1, localTime: \"10:00\"}]}) { id } }",
        json!({}),
    )
    .await;
    // A Chicago ZIP on a New York number: the ZIP decides.
    let body = app
        .gql_ok(SYNC, json!({"input": {"id": "z-1", "firstName": "Z", "phoneNumber": "+12125550180", "zipCode": "60601", "taskType": "reminder"}}))
        .await;
    let p = &body["syncCustomerSchedule"];
    assert_eq!(p["customer"], json!({"id": "z-1", "timezone": "America/Chicago", "timezoneInferred": true}));
    assert_eq!(p["scheduleCreated"], true, "{body}");
    // Nothing to infer from (850 spans two zones, no ZIP): saved, no tasks, and why.
    let body = app
        .gql_ok(SYNC, json!({"input": {"id": "z-2", "firstName": "Z", "phoneNumber": "+18505550181", "taskType": "reminder"}}))
        .await;
    let p = &body["syncCustomerSchedule"];
    assert_eq!(p["customer"], json!({"id": "z-2", "timezone": null, "timezoneInferred": false}));
    assert_eq!(
        (p["tasksCreated"].clone(), p["skippedReason"].clone()),
        (json!(0), json!("MISSING_TIMEZONE"))
    );
    // A timezone given later is the customer's own.
    let body = app.gql_ok(UPSERT, json!({"input": {"id": "z-1", "timezone": "America/Denver"}})).await;
    assert_eq!(body["upsertCustomer"]["customer"]["timezoneInferred"], false);
}

#[tokio::test]
async fn call_config_disposition_id_is_stored_on_each_call() {
    let app = TestApp::spawn().await;
    let campaign = names_and_phone_campaign(&app, "reminder").await;
    // New York numbers, 12:00 there at the test clock's start: inside calling hours.
    let records = [vendor_record(Some("d-1"), "+12125550190"), vendor_record(Some("d-2"), "+12125550191")];
    let body = app
        .gql(
            BULK,
            json!({"input": {"scheduleId": campaign, "records": records, "initiateCall": true,
                                    "callConfig": {"agentId": "agent-1", "dispositionId": "disp-42"}}}),
        )
        .await;
    assert_eq!(body["data"]["bulkAddCustomers"]["callResults"]["initiated"], 2, "{body}");
    let calls = app.gql_ok("{ calls { nodes { agentId dispositionId } } }", json!({})).await;
    assert_eq!(
        calls["calls"]["nodes"],
        json!([{"agentId": "agent-1", "dispositionId": "disp-42"}, {"agentId": "agent-1", "dispositionId": "disp-42"}])
    );
}

#[tokio::test]
async fn lead_duplicate_timeframe_refuses_a_number_the_schedule_just_dialled() {
    let app = TestApp::spawn().await;
    let body = app
        .gql_ok(
            "mutation { a: createSchedule(input: {name: \"A\", taskType: \"a\", leadDuplicateTimeframeSeconds: 7200}) { id }
                        b: createSchedule(input: {name: \"B\", taskType: \"b\"}) { id } }",
            json!({}),
        )
        .await;
    let (a, b) = (body["a"]["id"].as_str().unwrap(), body["b"]["id"].as_str().unwrap());
    let make_call = "mutation($input: MakeCallInput!) { makeCall(input: $input) { id status } }";
    crate::harness::record_consent(&app, "+12125550150", false).await;
    let call = |schedule: &str| json!({"input": {"scheduleId": schedule, "to": "+12125550150"}});
    let first = app.gql(make_call, call(a)).await;
    assert_eq!(first["data"]["makeCall"]["status"], "QUEUED", "{first}");
    let sql = "UPDATE calls SET status = 'NO_ANSWER'";
    app.execute(sql);
    // 45 minutes later (past the 30-minute gap between attempts): schedule A still refuses.
    app.clock.advance(chrono::Duration::minutes(45));
    let again = app.gql(make_call, call(a)).await;
    assert_error(&again, "RECENTLY_DIALED", None);
    let next = again["errors"][0]["extensions"]["nextAllowedAt"].as_str().unwrap();
    // Two hours after the first dial (the test clock runs on from 17:00 by a few milliseconds).
    let next = chrono::DateTime::parse_from_rfc3339(next).unwrap().with_timezone(&chrono::Utc);
    let two_hours_on = crate::harness::utc("2026-12-01T19:00:00Z");
    assert!(next >= two_hours_on && next < two_hours_on + chrono::Duration::seconds(5), "{next}");
    // Another schedule without the timeframe may dial it.
    let other = app.gql(make_call, call(b)).await;
    assert_eq!(other["data"]["makeCall"]["status"], "QUEUED", "{other}");
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 2);
}

#[tokio::test]
async fn bulk_calls_respect_the_lead_duplicate_timeframe_too() {
    let app = TestApp::spawn().await;
    let body = app
        .gql_ok(
            "mutation { createSchedule(input: {name: \"A\", taskType: \"a\", leadDuplicateTimeframeSeconds: 7200,
                        requiredCustomerFields: [FIRST_NAME, LAST_NAME, PHONE_NUMBER]}) { id } }",
            json!({}),
        )
        .await;
    let campaign = body["createSchedule"]["id"].as_str().unwrap().to_string();
    let bulk = "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) {
        callResults { initiated refused { code count } } } }";
    let input = |id: &str| {
        json!({"input": {"scheduleId": campaign, "initiateCall": true, "callConfig": {"agentId": "a-1"},
                         "records": [vendor_record(Some(id), "+12125550160")]}})
    };
    let first = app.gql_ok(bulk, input("l-1")).await;
    assert_eq!(first["bulkAddCustomers"]["callResults"]["initiated"], 1, "{first}");
    app.execute("UPDATE calls SET status = 'NO_ANSWER'");
    // 45 minutes on: past the 30-minute gap, inside the schedule's two hours.
    app.clock.advance(chrono::Duration::minutes(45));
    let again = app.gql_ok(bulk, input("l-1")).await;
    assert_eq!(
        again["bulkAddCustomers"]["callResults"],
        json!({"initiated": 0, "refused": [{"code": "RECENTLY_DIALED", "count": 1}]})
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 1);
}
