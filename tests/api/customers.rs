//! Customers over HTTP: create, validation, upsert semantics, lookups, lists.

use serde_json::{json, Value};

use crate::harness::{assert_error, create_schedule, customer_input, TestApp, CREATE_CUSTOMER};

const CUSTOMER_FIELDS: &str =
    "id firstName lastName email birthday ssnLastFour phoneNumber timezone taskType \
    streetAddress1 streetAddress2 city state zipCode doNotCall isTest externalMetadata createdAt updatedAt";

fn upsert_query() -> String {
    format!(
        "mutation($input: CustomerInput!, $matchOn: CustomerKey) {{ upsertCustomer(input: $input, matchOn: $matchOn) {{ created customer {{ {CUSTOMER_FIELDS} }} }} }}"
    )
}

async fn get_customer(app: &TestApp, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}");
    app.gql_ok(&q, json!({"id": id})).await["customer"].clone()
}

async fn app_with_schedule() -> TestApp {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app
}

#[tokio::test]
async fn create_normalises_and_reads_back() {
    let app = app_with_schedule().await;
    let created = app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    assert_eq!(created["createCustomer"]["phoneNumber"], "+13105551234");
    let c = get_customer(&app, "c-1").await;
    assert_eq!(c["firstName"], "Ada");
    assert_eq!(c["birthday"], "1985-12-10");
    assert_eq!(c["timezone"], "America/Los_Angeles");
    assert_eq!(c["doNotCall"], false);
    assert_eq!(c["isTest"], false);
    assert_eq!(c["externalMetadata"], json!({"source": "test"}));
    // `test` is an alias of isTest.
    let mut input = customer_input("c-2");
    input["test"] = json!(true);
    app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
    assert_eq!(get_customer(&app, "c-2").await["isTest"], true);
}

#[tokio::test]
async fn create_twice_is_a_conflict_and_changes_nothing() {
    let app = app_with_schedule().await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    let mut again = customer_input("c-1");
    again["firstName"] = json!("Changed");
    let body = app.gql(CREATE_CUSTOMER, json!({"input": again})).await;
    assert_error(&body, "CONFLICT", Some("id"));
    assert_eq!(get_customer(&app, "c-1").await["firstName"], "Ada");
}

/// Every validation rule of API.md: bad value → BAD_USER_INPUT with the field, nothing written.
#[tokio::test]
async fn every_validation_rule_names_its_field_and_writes_nothing() {
    let app = app_with_schedule().await;
    let cases: Vec<(&str, Value)> = vec![
        ("id", json!("")),
        ("firstName", Value::Null),
        ("lastName", json!("  ")),
        ("email", json!("not-an-email")),
        ("email", Value::Null),
        ("birthday", json!("1990-02-30")),
        ("birthday", json!("2999-01-01")),
        ("birthday", json!("10/12/1985")),
        ("ssnLastFour", json!("123")),
        ("ssnLastFour", json!("12a4")),
        ("phoneNumber", json!("555-12")),
        ("phoneNumber", json!("+1 000 000 0000")),
        ("timezone", json!("Mars/Olympus_Mons")),
        ("taskType", json!("sales")),
        ("streetAddress1", Value::Null),
        ("city", json!("")),
        ("state", json!("XX")),
        ("zipCode", json!("9000")),
        ("zipCode", json!("90001-12")),
        ("externalMetadata", json!([1, 2, 3])),
        ("externalMetadata", json!("a string")),
        ("externalMetadata", json!({"big": "x".repeat(70 * 1024)})),
    ];
    for (field, value) in cases {
        let mut input = customer_input("bad-1");
        input[field] = value.clone();
        for mutation in ["createCustomer", "upsertCustomer"] {
            let query = if mutation == "createCustomer" {
                CREATE_CUSTOMER.to_string()
            } else {
                "mutation($input: CustomerInput!) { upsertCustomer(input: $input) { created } }".to_string()
            };
            let body = app.gql(&query, json!({"input": input})).await;
            assert_error(&body, "BAD_USER_INPUT", Some(field));
            assert!(body["data"].is_null(), "{field}={value}: {body}");
        }
    }
    // Each required field, omitted.
    for field in [
        "firstName",
        "lastName",
        "email",
        "birthday",
        "phoneNumber",
        "timezone",
        "taskType",
        "streetAddress1",
        "city",
        "state",
        "zipCode",
    ] {
        let mut input = customer_input("bad-1");
        input.as_object_mut().unwrap().remove(field);
        let body = app.gql(CREATE_CUSTOMER, json!({"input": input})).await;
        assert_error(&body, "BAD_USER_INPUT", Some(field));
    }
    // Booleans cannot be null; `test` must agree with its alias isTest.
    for (field, patch) in [
        ("doNotCall", json!({"doNotCall": null})),
        ("isTest", json!({"isTest": null})),
        ("test", json!({"isTest": true, "test": false})),
    ] {
        let mut input = customer_input("bad-1");
        input.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        let body = app.gql(CREATE_CUSTOMER, json!({"input": input})).await;
        assert_error(&body, "BAD_USER_INPUT", Some(field));
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 0);
}

#[tokio::test]
async fn concurrent_creates_of_one_id_give_one_customer_and_conflicts() {
    let app = app_with_schedule().await;
    let requests = (0..8).map(|_| app.gql(CREATE_CUSTOMER, json!({"input": customer_input("twin")})));
    let results = futures::future::join_all(requests).await;
    let ok = results.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(ok, 1, "{results:#?}");
    for r in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_error(r, "CONFLICT", Some("id"));
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);
}

#[tokio::test]
async fn unknown_task_type_lists_the_valid_ones() {
    let app = app_with_schedule().await;
    create_schedule(&app, "reminders").await;
    let mut input = customer_input("c-1");
    input["taskType"] = json!("sales");
    let body = app.gql(CREATE_CUSTOMER, json!({"input": input})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("taskType"));
    assert_eq!(body["errors"][0]["extensions"]["validTaskTypes"], json!(["collections", "reminders"]));
}

/// The Sonar example: a second upsert carrying only firstName and email changes only those.
#[tokio::test]
async fn upsert_updates_only_the_fields_it_carries() {
    let app = app_with_schedule().await;
    let first = app.gql_ok(&upsert_query(), json!({"input": customer_input("sonar-1")})).await;
    assert_eq!(first["upsertCustomer"]["created"], true);
    let before = first["upsertCustomer"]["customer"].clone();

    let second = app
        .gql_ok(
            &upsert_query(),
            json!({"input": {"id": "sonar-1", "firstName": "Grace", "email": "grace@example.com"}}),
        )
        .await;
    assert_eq!(second["upsertCustomer"]["created"], false);
    let after = second["upsertCustomer"]["customer"].clone();
    for (key, value) in before.as_object().unwrap() {
        match key.as_str() {
            "firstName" => assert_eq!(after[key], "Grace"),
            "email" => assert_eq!(after[key], "grace@example.com"),
            "updatedAt" => {}
            _ => assert_eq!(&after[key], value, "{key} changed"),
        }
    }
}

#[tokio::test]
async fn upsert_null_clears_and_metadata_merges_key_by_key() {
    let app = app_with_schedule().await;
    let mut input = customer_input("m-1");
    input["streetAddress2"] = json!("Apt 4");
    input["externalMetadata"] = json!({"a": 1, "b": {"x": true}});
    app.gql_ok(&upsert_query(), json!({"input": input})).await;

    let data = app
        .gql_ok(
            &upsert_query(),
            json!({"input": {"id": "m-1", "streetAddress2": null, "ssnLastFour": null,
                              "externalMetadata": {"b": 2, "c": "new"}}}),
        )
        .await;
    let c = &data["upsertCustomer"]["customer"];
    assert_eq!(c["streetAddress2"], Value::Null);
    assert_eq!(c["ssnLastFour"], Value::Null);
    assert_eq!(c["externalMetadata"], json!({"a": 1, "b": 2, "c": "new"}));
    assert_eq!(c["city"], "Los Angeles");

    // A required field cannot be cleared; nothing changes.
    let body =
        app.gql(&upsert_query(), json!({"input": {"id": "m-1", "city": null, "firstName": "X"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("city"));
    assert_eq!(get_customer(&app, "m-1").await["firstName"], "Ada");

    // A new customer through upsert with no task type belongs to no schedule: it needs a phone.
    let body = app.gql(&upsert_query(), json!({"input": {"id": "m-2", "firstName": "Only"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("phoneNumber"));
    // With a task type, every field its campaign requires.
    let body = app
        .gql(&upsert_query(), json!({"input": {"id": "m-2", "firstName": "Only", "taskType": "collections"}}))
        .await;
    assert_error(&body, "BAD_USER_INPUT", Some("lastName"));
}

#[tokio::test]
async fn upsert_can_match_on_phone_number() {
    let app = app_with_schedule().await;
    app.gql_ok(&upsert_query(), json!({"input": customer_input("old-ref")})).await;
    let data = app
        .gql_ok(
            &upsert_query(),
            json!({"matchOn": "PHONE_NUMBER",
                   "input": {"id": "new-ref", "phoneNumber": "+1 310 555 1234", "lastName": "Byron"}}),
        )
        .await;
    assert_eq!(data["upsertCustomer"]["created"], false);
    assert_eq!(data["upsertCustomer"]["customer"]["id"], "new-ref");
    assert_eq!(data["upsertCustomer"]["customer"]["lastName"], "Byron");
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);

    let body = app
        .gql(
            &upsert_query(),
            json!({"matchOn": "PHONE_NUMBER", "input": {"id": "x", "firstName": "No phone"}}),
        )
        .await;
    assert_error(&body, "BAD_USER_INPUT", Some("phoneNumber"));
}

#[tokio::test]
async fn concurrent_upserts_of_one_customer_create_it_once() {
    let app = app_with_schedule().await;
    let query = upsert_query();
    let mut handles = Vec::new();
    for i in 0..16 {
        let mut input = customer_input("race-1");
        input["firstName"] = json!(format!("Racer{i}"));
        handles.push(app.gql(&query, json!({"input": input})));
    }
    let results = futures::future::join_all(handles).await;
    let created = results.iter().filter(|r| r["data"]["upsertCustomer"]["created"] == true).count();
    let errors = results.iter().filter(|r| r.get("errors").is_some()).count();
    assert_eq!((created, errors), (1, 0), "{results:#?}");
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);
}

#[tokio::test]
async fn customer_by_phone_accepts_any_format() {
    let app = app_with_schedule().await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("p-1")})).await;
    for format in ["+13105551234", "310-555-1234", "(310) 555 1234", "1 310 555 1234"] {
        let data = app
            .gql_ok("query($p: String!) { customerByPhone(phoneNumber: $p) { id } }", json!({"p": format}))
            .await;
        assert_eq!(data["customerByPhone"]["id"], "p-1", "{format}");
    }
    let none = app.gql_ok("{ customerByPhone(phoneNumber: \"+14155550100\") { id } }", json!({})).await;
    assert_eq!(none["customerByPhone"], Value::Null);
    let bad = app.gql("{ customerByPhone(phoneNumber: \"12\") { id } }", json!({})).await;
    assert_error(&bad, "BAD_USER_INPUT", Some("phoneNumber"));
}

const LIST: &str = "query($filter: CustomerFilter, $orderBy: CustomerOrderField, $dir: OrderDirection, $first: Int, $after: String) {
    customers(filter: $filter, orderBy: $orderBy, orderDirection: $dir, first: $first, after: $after) {
        totalCount totalCountEstimate edges { cursor node { id lastName } } nodes { id }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn seed(app: &TestApp, people: &[(&str, &str, &str, bool)]) {
    for (id, last_name, state, is_test) in people {
        let mut input = customer_input(id);
        input["lastName"] = json!(last_name);
        input["state"] = json!(state);
        input["isTest"] = json!(is_test);
        input["email"] = json!(format!("{id}@example.com"));
        app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
    }
}

fn ids(data: &Value) -> Vec<String> {
    data["customers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn paging_through_customers_with_cursors() {
    let app = app_with_schedule().await;
    let people: Vec<(String, String)> =
        (0..7).map(|i| (format!("id-{i}"), format!("Last{}", 6 - i))).collect();
    for (id, last) in &people {
        seed(&app, &[(id, last, "CA", false)]).await;
    }
    for (order, dir, expected) in [
        ("CREATED_AT", "ASC", (0..7).map(|i| format!("id-{i}")).collect::<Vec<_>>()),
        ("CREATED_AT", "DESC", (0..7).rev().map(|i| format!("id-{i}")).collect()),
        ("LAST_NAME", "ASC", (0..7).rev().map(|i| format!("id-{i}")).collect()),
        ("ID", "DESC", (0..7).rev().map(|i| format!("id-{i}")).collect()),
        ("UPDATED_AT", "ASC", (0..7).map(|i| format!("id-{i}")).collect()),
    ] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for page in 0.. {
            let data =
                app.gql_ok(LIST, json!({"orderBy": order, "dir": dir, "first": 3, "after": after})).await;
            let conn = &data["customers"];
            assert_eq!(conn["totalCount"], 7);
            assert_eq!(conn["pageInfo"]["hasPreviousPage"], page > 0);
            seen.extend(ids(&data));
            if conn["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
        }
        assert_eq!(seen, expected, "{order} {dir}");
    }
    let too_many = app.gql(LIST, json!({"first": 501})).await;
    assert_error(&too_many, "BAD_USER_INPUT", Some("first"));
    let bad_cursor = app.gql(LIST, json!({"after": "garbage"})).await;
    assert_error(&bad_cursor, "BAD_USER_INPUT", Some("after"));
    let first_page = app.gql_ok(LIST, json!({"first": 2})).await;
    let cursor = first_page["customers"]["pageInfo"]["endCursor"].clone();
    let other_order = app.gql(LIST, json!({"first": 2, "after": cursor, "orderBy": "LAST_NAME"})).await;
    assert_error(&other_order, "BAD_USER_INPUT", Some("after"));
    // Default page size is 50.
    assert_eq!(ids(&app.gql_ok(LIST, json!({})).await).len(), 7);
}

#[tokio::test]
async fn customer_filters() {
    let app = app_with_schedule().await;
    seed(
        &app,
        &[("a-1", "Smith", "NY", false), ("b-2", "Jones", "NY", true), ("c-3", "Smithers", "TX", false)],
    )
    .await;
    let mut input = customer_input("d-4");
    input["doNotCall"] = json!(true);
    input["phoneNumber"] = json!("+1 212 555 0199");
    input["state"] = json!("tx");
    app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"isTest": true}), vec!["b-2"]),
        (json!({"doNotCall": true}), vec!["d-4"]),
        (json!({"state": "NY"}), vec!["a-1", "b-2"]),
        (json!({"state": "tx", "isTest": false}), vec!["c-3", "d-4"]),
        (json!({"taskType": "collections"}), vec!["a-1", "b-2", "c-3", "d-4"]),
        (json!({"taskType": "other"}), vec![]),
        (json!({"search": "smith"}), vec!["a-1", "c-3"]),
        (json!({"search": "B-2@EXAMPLE"}), vec!["b-2"]),
        (json!({"search": "(212) 555"}), vec!["d-4"]),
        (json!({"search": "c-3"}), vec!["c-3"]),
        (json!({"search": "%"}), vec![]),
        // Letters and digits: never a phone match by the digits alone (d-4's number has 2555).
        (json!({"search": "zz-2k5m5x5q"}), vec![]),
        (json!({"search": "a2555"}), vec![]),
        // One or two characters (no trigram): the start of a field, not any substring.
        (json!({"search": "SM"}), vec!["a-1", "c-3"]),
        (json!({"search": "it"}), vec![]),
        (json!({"search": "a-"}), vec!["a-1"]),
    ];
    for (filter, expected) in cases {
        let data = app.gql_ok(LIST, json!({"filter": filter})).await;
        assert_eq!(ids(&data), expected, "{filter}");
        assert_eq!(data["customers"]["totalCount"], expected.len(), "{filter}");
        // Exact at this size (at most 1,000 matches).
        assert_eq!(data["customers"]["totalCountEstimate"], expected.len(), "{filter}");
    }
    // createdAtFrom is inclusive, createdAtTo exclusive.
    let all = app.gql_ok("{ customers { nodes { id createdAt } } }", json!({})).await;
    let third = all["customers"]["nodes"][2]["createdAt"].clone();
    let from = app.gql_ok(LIST, json!({"filter": {"createdAtFrom": third}})).await;
    assert_eq!(ids(&from), vec!["c-3", "d-4"]);
    let to = app.gql_ok(LIST, json!({"filter": {"createdAtTo": third}})).await;
    assert_eq!(ids(&to), vec!["a-1", "b-2"]);
}

/// cancelCommunications stops every pending task and queued call of the customer, with events,
/// and leaves Do Not Call (and other customers) alone; unknown and other companies' customers
/// are NOT_FOUND and change nothing.
#[tokio::test]
async fn cancel_communications_cancels_pending_tasks_and_queued_calls() {
    let app = TestApp::spawn().await;
    crate::sync::create_collections_schedule(&app).await;
    let new_york = ("America/New_York", "NY", "10001", "+12125550100");
    for (id, phone) in [("cc-1", "+12125550101"), ("cc-2", "+12125550102")] {
        let input = crate::harness::customer_at(id, (new_york.0, new_york.1, new_york.2, phone));
        app.gql_ok(crate::sync::SYNC, json!({"input": input})).await;
    }
    app.gql_ok("mutation { makeCall(input: {customerId: \"cc-1\"}) { id } }", json!({})).await;
    let pending = |id: &str| {
        app.count(&format!(
            "SELECT count(*) AS n FROM tasks t JOIN customers c ON c.id = t.customer_id
             WHERE c.external_id = '{id}' AND t.status = 'PENDING'"
        ))
    };
    let planned = pending("cc-1");
    assert!(planned > 0);
    let cancel =
        "mutation($id: ID!) { cancelCommunications(customerId: $id) { tasksCancelled callsCancelled } }";

    // Another company cannot reach it, and nothing changes.
    let (_, other_key) = app.new_company("Intruder");
    let foreign = app.gql_as(Some(&other_key), cancel, json!({"id": "cc-1"})).await;
    assert_error(&foreign, "NOT_FOUND", None);
    assert_error(&app.gql(cancel, json!({"id": "nobody"})).await, "NOT_FOUND", None);
    assert_eq!(pending("cc-1"), planned);

    let done = app.gql_ok(cancel, json!({"id": "cc-1"})).await;
    assert_eq!(done["cancelCommunications"], json!({"tasksCancelled": planned, "callsCancelled": 1}));
    assert_eq!(pending("cc-1"), 0);
    assert!(pending("cc-2") > 0, "other customers keep their schedule");
    assert_eq!(app.count("SELECT count(*) AS n FROM calls WHERE status = 'QUEUED'"), 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_STATUS_CHANGED'"),
        planned,
        "an event per cancelled task"
    );
    let customer = app.gql_ok("{ customer(id: \"cc-1\") { doNotCall } }", json!({})).await;
    assert_eq!(customer["customer"]["doNotCall"], false, "Do Not Call unchanged");
    // Nothing left to cancel.
    let again = app.gql_ok(cancel, json!({"id": "cc-1"})).await;
    assert_eq!(again["cancelCommunications"], json!({"tasksCancelled": 0, "callsCancelled": 0}));
}

/// A customer's instants come from the server's clock (the injected one), like every other.
#[tokio::test]
async fn customer_instants_follow_the_servers_clock() {
    let app = app_with_schedule().await;
    let query = "mutation($input: CustomerInput!) { createCustomer(input: $input) { createdAt updatedAt } }";
    let created = app.gql_ok(query, json!({"input": customer_input("t-1")})).await;
    for field in ["createdAt", "updatedAt"] {
        let at = created["createCustomer"][field].as_str().unwrap();
        assert!(at.starts_with("2026-12-01T17:0"), "{field} = {at}, not the test clock's 2026-12-01T17:00");
    }
    app.clock.advance(chrono::Duration::hours(3));
    app.gql_ok(&upsert_query(), json!({"input": {"id": "t-1", "firstName": "Later"}})).await;
    let stored = get_customer(&app, "t-1").await;
    assert!(stored["updatedAt"].as_str().unwrap().starts_with("2026-12-01T20:0"), "{stored}");
    assert_eq!(stored["createdAt"], created["createCustomer"]["createdAt"]);
}
