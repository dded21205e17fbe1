//! Tenancy: a second company can neither see nor change the first company's records.

use serde_json::{json, Value};

use crate::harness::{assert_error, create_schedule, customer_input, TestApp, CREATE_CUSTOMER};

#[tokio::test]
async fn another_company_sees_nothing_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let schedule_id = create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    app.gql_ok("mutation { addSuppressedNumbers(phoneNumbers: [\"+14155550100\"]) }", json!({})).await;

    let (other_company, other_key) = app.new_company("Intruder");
    let other = Some(other_key.as_str());
    let read = app
        .gql_as(
            other,
            "query($id: ID!, $s: ID!) { customer(id: $id) { id } customerByPhone(phoneNumber: \"+13105551234\") { id }
               customers { totalCount nodes { id } } schedule(id: $s) { id } schedules { totalCount }
               viewer { name taskTypes } }",
            json!({"id": "c-1", "s": schedule_id}),
        )
        .await;
    assert!(read.get("errors").is_none(), "{read}");
    let d = &read["data"];
    assert_eq!(d["customer"], Value::Null);
    assert_eq!(d["customerByPhone"], Value::Null);
    assert_eq!(d["customers"]["totalCount"], 0);
    assert_eq!(d["schedule"], Value::Null);
    assert_eq!(d["schedules"]["totalCount"], 0);
    assert_eq!(d["viewer"], json!({"name": "Intruder", "taskTypes": []}));

    let update = app
        .gql_as(other, "mutation($id: ID!) { updateSchedule(id: $id, input: {name: \"Hijacked\", paused: true}) { id } }", json!({"id": schedule_id}))
        .await;
    assert_error(&update, "NOT_FOUND", None);
    let delete = app
        .gql_as(
            other,
            "mutation($id: ID!) { deleteSchedule(id: $id) { tasksCancelled } }",
            json!({"id": schedule_id}),
        )
        .await;
    assert_error(&delete, "NOT_FOUND", None);

    // The intruder's task types are its own: "collections" is unknown to it.
    let mut input = customer_input("c-1");
    input["firstName"] = json!("Hijacked");
    let upsert = app
        .gql_as(
            other,
            "mutation($i: CustomerInput!) { upsertCustomer(input: $i) { created } }",
            json!({"i": input}),
        )
        .await;
    assert_error(&upsert, "BAD_USER_INPUT", Some("taskType"));
    // Partial updates of the same id create nothing and touch nothing either.
    let partial = app
        .gql_as(
            other,
            "mutation { upsertCustomer(input: {id: \"c-1\", firstName: \"Hijacked\"}) { created } }",
            json!({}),
        )
        .await;
    assert_error(&partial, "BAD_USER_INPUT", Some("phoneNumber"));
    let by_phone = app
        .gql_as(
            other,
            "mutation { upsertCustomer(matchOn: PHONE_NUMBER, input: {id: \"x\", phoneNumber: \"+13105551234\", firstName: \"Hijacked\"}) { created } }",
            json!({}),
        )
        .await;
    // The owner's customer with that number is invisible: the intruder creates its own customer
    // (a phone-only one, of no schedule), in its own company.
    assert_eq!(by_phone["data"]["upsertCustomer"]["created"], true, "{by_phone}");
    let sql = format!("SELECT count(*) AS n FROM customers WHERE company_id = '{other_company}'");
    assert_eq!(app.count(&sql), 1);
    let removed = app
        .gql_as(other, "mutation { removeSuppressedNumbers(phoneNumbers: [\"+14155550100\"]) }", json!({}))
        .await;
    assert_eq!(removed["data"]["removeSuppressedNumbers"], 0);

    // The owner's data is unchanged.
    let mine = app
        .gql_ok(
            "query($s: ID!) { customer(id: \"c-1\") { firstName } schedule(id: $s) { name paused } }",
            json!({"s": schedule_id}),
        )
        .await;
    assert_eq!(mine["customer"]["firstName"], "Ada");
    assert_eq!(mine["schedule"], json!({"name": "collections schedule", "paused": false}));
    assert_eq!(app.count("SELECT count(*) AS n FROM suppressed_numbers"), 1);
    let sql = format!("SELECT count(*) AS n FROM customers WHERE company_id <> '{other_company}'");
    assert_eq!(app.count(&sql), 1);
}

#[tokio::test]
async fn the_same_reference_id_is_separate_per_company() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("shared-id")})).await;

    let (other_id, other_key) = app.new_company("Other");
    let other = Some(other_key.as_str());
    let s = app
        .gql_as(
            other,
            "mutation { createSchedule(input: {name: \"Mine\", taskType: \"collections\"}) { id } }",
            json!({}),
        )
        .await;
    assert!(s.get("errors").is_none(), "{s}");
    let mut input = customer_input("shared-id");
    input["firstName"] = json!("Other's");
    let created = app.gql_as(other, CREATE_CUSTOMER, json!({"input": input})).await;
    assert!(created.get("errors").is_none(), "{created}");

    let mine = app.gql_ok("{ customer(id: \"shared-id\") { firstName } }", json!({})).await;
    assert_eq!(mine["customer"]["firstName"], "Ada");
    let theirs = app.gql_as(other, "{ customer(id: \"shared-id\") { firstName } }", json!({})).await;
    assert_eq!(theirs["data"]["customer"]["firstName"], "Other's");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM customers WHERE company_id = '{other_id}'")), 1);
}
