//! bulkAddCustomers: statuses, per-record errors, refusals, upsert semantics, duplicates,
//! background schedule building and batched call initiation.

use serde_json::{json, Value};

use crate::harness::{assert_error, customer_input, TestApp, CREATE_CUSTOMER};

const BULK: &str = "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) {
    success status message workflowTriggered
    results { total valid invalid successful failed batchesProcessed errors { index id field code message } }
    callResults { initiated failed batches } } }";

async fn campaign(app: &TestApp) -> String {
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Campaign\", taskType: \"campaign\", cadence: [{dayOffset: 1, localTime: \"10:00\"}, {dayOffset: 2, localTime: \"11:00\"}]}) { id } }",
        json!({}),
    )
    .await["createSchedule"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A customer in New York (zone, state, ZIP and a 212 number all agree): 12:00 there when the
/// test server's clock starts (`harness::TEST_START`), inside calling hours.
fn record(id: &str, phone_suffix: u32) -> Value {
    let mut r = customer_input(id);
    r.as_object_mut().unwrap().remove("taskType");
    r["phoneNumber"] = json!(format!("+1212555{phone_suffix:04}"));
    r["timezone"] = json!("America/New_York");
    r["state"] = json!("NY");
    r["zipCode"] = json!("10001");
    r
}

async fn bulk(app: &TestApp, input: Value) -> Value {
    app.gql(BULK, json!({"input": input})).await
}

#[tokio::test]
async fn three_valid_records_succeed() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let body = bulk(
        &app,
        json!({"scheduleId": schedule, "records": [record("a", 1001), record("b", 1002), record("c", 1003)]}),
    )
    .await;
    let p = &body["data"]["bulkAddCustomers"];
    assert_eq!((p["success"].clone(), p["status"].clone()), (json!(true), json!("SUCCESS")), "{body}");
    assert_eq!(p["results"]["successful"], 3);
    assert_eq!(p["results"]["batchesProcessed"], 1);
    assert_eq!(p["results"]["errors"], json!([]));
    assert_eq!(p["callResults"], Value::Null);
    let c = app.gql_ok("{ customer(id: \"b\") { taskType phoneNumber } }", json!({})).await;
    assert_eq!(c["customer"], json!({"taskType": "campaign", "phoneNumber": "+12125551002"}));
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks"), 0, "no workflow, no tasks");
}

#[tokio::test]
async fn invalid_records_are_reported_each_with_its_index_and_field() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let mut bad = record("b", 1002);
    bad["zipCode"] = json!("12");
    let mut no_id = record("x", 1004);
    no_id.as_object_mut().unwrap().remove("id");
    // Without an id nor a phone number, nothing identifies the record.
    no_id.as_object_mut().unwrap().remove("phoneNumber");
    let body = bulk(&app, json!({"scheduleId": schedule, "records": [record("a", 1001), bad, record("c", 1003), no_id, record("a", 1005)]})).await;
    let p = &body["data"]["bulkAddCustomers"];
    // Some records failed: not a success (as the vendor's API says), though some were added.
    assert_eq!((p["success"].clone(), p["status"].clone()), (json!(false), json!("PARTIAL")), "{body}");
    assert_eq!(p["results"]["successful"], 2);
    assert_eq!(p["results"]["invalid"], 3);
    let errors = p["results"]["errors"].as_array().unwrap();
    let summary: Vec<(i64, Value, Value)> =
        errors.iter().map(|e| (e["index"].as_i64().unwrap(), e["id"].clone(), e["field"].clone())).collect();
    assert_eq!(
        summary,
        vec![(1, json!("b"), json!("zipCode")), (3, Value::Null, json!("id")), (4, json!("a"), json!("id"))],
        "{body}"
    );
    assert!(errors.iter().all(|e| e["code"] == "BAD_USER_INPUT"));
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 2);

    let mut all_bad = record("z", 1009);
    all_bad["email"] = json!("broken");
    let body = bulk(&app, json!({"scheduleId": schedule, "records": [all_bad]})).await;
    let p = &body["data"]["bulkAddCustomers"];
    assert_eq!((p["success"].clone(), p["status"].clone()), (json!(false), json!("FAILED")));
}

#[tokio::test]
async fn refusals_write_nothing() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let one = vec![record("a", 1001)];
    let too_many: Vec<Value> = (0..10_001).map(|i| json!({"id": format!("r{i}")})).collect();
    assert_error(
        &bulk(&app, json!({"scheduleId": schedule, "records": too_many})).await,
        "BAD_USER_INPUT",
        Some("records"),
    );
    assert_error(
        &bulk(&app, json!({"scheduleId": schedule, "records": one, "initiateCall": true})).await,
        "BAD_USER_INPUT",
        Some("callConfig"),
    );
    assert_error(
        &bulk(&app, json!({"scheduleId": schedule, "records": one, "initiateCall": true, "useWorkflow": true, "callConfig": {"agentId": "a"}}))
            .await,
        "BAD_USER_INPUT",
        Some("initiateCall"),
    );
    assert_error(
        &bulk(&app, json!({"scheduleId": "00000000-0000-0000-0000-000000000000", "records": one})).await,
        "NOT_FOUND",
        None,
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 0);
}

#[tokio::test]
async fn existing_customers_are_upserted_without_losing_what_the_record_omits() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Other\", taskType: \"collections\"}) { id } }",
        json!({}),
    )
    .await;
    let mut existing = customer_input("a");
    existing["doNotCall"] = json!(true);
    existing["streetAddress2"] = json!("Apt 4");
    existing["externalMetadata"] = json!({"a": 1});
    app.gql_ok(CREATE_CUSTOMER, json!({"input": existing})).await;
    let mut again = record("a", 1001);
    again["firstName"] = json!("Changed");
    again["externalMetadata"] = json!({"b": 2});
    let body = bulk(&app, json!({"scheduleId": schedule, "records": [again]})).await;
    assert_eq!(body["data"]["bulkAddCustomers"]["status"], "SUCCESS", "{body}");
    let c = app
        .gql_ok(
            "{ customer(id: \"a\") { firstName doNotCall streetAddress2 externalMetadata taskType } }",
            json!({}),
        )
        .await;
    assert_eq!(
        c["customer"],
        json!({"firstName": "Changed", "doNotCall": true, "streetAddress2": "Apt 4", "externalMetadata": {"a": 1, "b": 2}, "taskType": "campaign"})
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);
}

#[tokio::test]
async fn use_workflow_builds_schedules_in_the_background() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let records: Vec<Value> = (0..30).map(|i| record(&format!("w{i}"), 2000 + i)).collect();
    let body = bulk(&app, json!({"scheduleId": schedule, "records": records, "useWorkflow": true})).await;
    assert_eq!(body["data"]["bulkAddCustomers"]["workflowTriggered"], true, "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM jobs WHERE status = 'PENDING'"), 1);
    let ran = callsync::dialer::run_jobs(&app.store).await.unwrap();
    assert_eq!(ran, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 60);
    assert_eq!(app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_CREATED'"), 60);
    assert_eq!(app.count("SELECT count(*) AS n FROM jobs WHERE status = 'DONE'"), 1);
    assert_eq!(callsync::dialer::run_jobs(&app.store).await.unwrap(), 0, "done jobs do not run again");
}

#[tokio::test]
async fn initiate_call_queues_calls_in_batches_of_500() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    // Calls must be inside calling hours at the callee: New York, 12:00 at the server's start.
    let records: Vec<Value> = (0..1200).map(|i| record(&format!("call{i}"), 3000 + i)).collect();
    let body = bulk(&app, json!({"scheduleId": schedule, "records": records, "initiateCall": true, "callConfig": {"agentId": "agent-9"}})).await;
    let p = &body["data"]["bulkAddCustomers"];
    assert_eq!(p["status"], "SUCCESS", "{body}");
    assert_eq!(p["results"]["batchesProcessed"], 2);
    assert_eq!(p["callResults"], json!({"initiated": 1200, "failed": 0, "batches": 3}));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM calls WHERE agent_id = 'agent-9' AND status = 'QUEUED'"),
        1200
    );
}

#[tokio::test]
async fn bulk_records_carry_inline_loans() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let mut with_loans = record("l1", 4001);
    with_loans["loans"] = json!([{"loanId": "A", "amount": 10.0}, {"loanId": "B", "dueDate": "2027-01-31"}, {"loanId": "A", "amount": 11.0}]);
    let mut bad_loan = record("l2", 4002);
    bad_loan["loans"] = json!([{"loanId": "C", "amount": -5.0}]);
    let body = bulk(&app, json!({"scheduleId": schedule, "records": [with_loans, bad_loan]})).await;
    let p = &body["data"]["bulkAddCustomers"];
    assert_eq!(p["status"], "PARTIAL", "{body}");
    assert_eq!(p["results"]["errors"][0]["field"], "loans.0");
    assert_eq!(p["results"]["errors"][0]["index"], 1);
    let c = app.gql_ok("{ customer(id: \"l1\") { loans { loanId amount dueDate } } }", json!({})).await;
    assert_eq!(
        c["customer"]["loans"],
        json!([{"loanId": "A", "amount": 11.0, "dueDate": null}, {"loanId": "B", "amount": null, "dueDate": "2027-01-31"}])
    );
}

#[tokio::test]
async fn bulk_calls_are_paced_to_the_calls_per_second_limit_not_refused() {
    use callsync::dialer::webhook;
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let hook = crate::calls::receiver(0).await;
    app.gql_ok(
        "mutation($url: String!) { updateCompanySettings(input: {callsPerSecondLimit: 2, callWebhookUrl: $url, callWebhookSecret: \"0123456789abcdef\"}) { id } }",
        json!({"url": hook.url}),
    )
    .await;
    // New York: inside calling hours at the server's start.
    let records: Vec<Value> = (0..5).map(|i| record(&format!("p{i}"), 5000 + i)).collect();
    let body = bulk(&app, json!({"scheduleId": schedule, "records": records, "initiateCall": true, "callConfig": {"agentId": "a"}})).await;
    assert_eq!(body["data"]["bulkAddCustomers"]["callResults"]["initiated"], 5, "{body}");
    let config = crate::harness::webhook_config();
    let client = webhook::client(&config);
    // The clock stands still between rounds and moves a second at a time: the pacing, not the
    // machine's speed, decides how many go in each round.
    app.clock.freeze();
    webhook::deliver_due(&app.store, &client, &config).await.unwrap();
    assert_eq!(hook.requests.lock().unwrap().len(), 2, "two per second");
    let mut rounds = 1;
    while hook.requests.lock().unwrap().len() < 5 {
        app.clock.advance(chrono::Duration::milliseconds(1100));
        webhook::deliver_due(&app.store, &client, &config).await.unwrap();
        rounds += 1;
        assert!(rounds <= 5, "all delivered within a few seconds");
    }
    assert_eq!(rounds, 3, "5 calls at 2 per second take 3 rounds");
}

/// The shape: `customers(first: 500)` with every customer's first tasks and calls is a
/// constant number of queries, not one per customer (a loader batch may split in two when the
/// request yields under load, hence a bound rather than an exact count).
#[tokio::test]
async fn a_page_of_500_customers_with_tasks_and_calls_is_a_constant_number_of_queries() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 1000}) { id } }", json!({}))
        .await;
    let records: Vec<Value> = (0..500).map(|i| record(&format!("n{i:03}"), 4000 + i)).collect();
    // Their schedules, then (a second import of the same records) a call each.
    let body = bulk(&app, json!({"scheduleId": schedule, "records": records, "useWorkflow": true})).await;
    assert_eq!(body["data"]["bulkAddCustomers"]["status"], "SUCCESS", "{body}");
    callsync::dialer::run_jobs(&app.store).await.unwrap();
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 1000);
    let body = bulk(
        &app,
        json!({"scheduleId": schedule, "records": records, "initiateCall": true, "callConfig": {"agentId": "a"}}),
    )
    .await;
    assert_eq!(body["data"]["bulkAddCustomers"]["callResults"]["initiated"], 500, "{body}");

    let metrics = || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines().find_map(|l| l.strip_prefix("callsync_db_calls_total ")).unwrap().parse::<i64>().unwrap()
    };
    let before = metrics().await;
    let data = app
        .gql_ok(
            "{ customers(first: 500, orderBy: ID) { nodes { id
                 tasks(first: 10) { nodes { id status scheduledFor } }
                 calls(first: 10) { nodes { id status to } } } } }",
            json!({}),
        )
        .await;
    let queries = metrics().await - before;
    let nodes = data["customers"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 500);
    assert!(nodes.iter().all(|n| n["tasks"]["nodes"].as_array().unwrap().len() == 2), "2 steps each");
    assert!(nodes.iter().all(|n| n["calls"]["nodes"].as_array().unwrap().len() == 1), "a call each");
    // The page, its tasks, its calls: 3, or a few more if a batch splits; 1,000 if per customer.
    assert!(queries <= 8, "{queries} database calls for a page of 500 customers");
}

#[tokio::test]
async fn a_number_several_customers_share_names_none_of_them_in_a_bulk_record_as_in_an_upsert() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    for id in ["s-1", "s-2"] {
        let mut shared = record(id, 1500);
        shared["taskType"] = json!("campaign");
        app.gql_ok(CREATE_CUSTOMER, json!({"input": shared})).await;
    }
    let mut by_phone = record("", 1500);
    by_phone.as_object_mut().unwrap().remove("id");
    by_phone["firstName"] = json!("Which");
    let body =
        bulk(&app, json!({"scheduleId": schedule, "records": [by_phone.clone(), record("n-1", 1501)]})).await;
    let p = &body["data"]["bulkAddCustomers"];
    assert_eq!(p["status"], "PARTIAL", "{body}");
    let error = &p["results"]["errors"][0];
    assert_eq!(
        (error["index"].clone(), error["code"].clone(), error["field"].clone()),
        (json!(0), json!("CONFLICT"), json!("phoneNumber")),
        "{body}"
    );
    // The single write says the same of the same number.
    let upsert = app
        .gql(
            "mutation($input: CustomerInput!) { upsertCustomer(input: $input, matchOn: PHONE_NUMBER) { created } }",
            json!({"input": {"phoneNumber": "+12125551500", "firstName": "Which"}}),
        )
        .await;
    assert_error(&upsert, "CONFLICT", Some("phoneNumber"));
    assert_eq!(app.count("SELECT count(*) AS n FROM customers WHERE first_name = 'Which'"), 0);
}

#[tokio::test]
async fn a_record_whose_merged_metadata_passes_64_kib_is_refused_alone_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let mut existing = record("big", 1600);
    existing["externalMetadata"] = json!({"a": "x".repeat(40_000)});
    bulk(&app, json!({"scheduleId": schedule, "records": [existing]})).await;
    let mut more = record("big", 1600);
    more["firstName"] = json!("Changed");
    more["externalMetadata"] = json!({"b": "y".repeat(30_000)});
    let body = bulk(&app, json!({"scheduleId": schedule, "records": [more, record("fine", 1601)]})).await;
    let p = &body["data"]["bulkAddCustomers"];
    assert_eq!(p["results"]["successful"], 1, "{body}");
    let error = &p["results"]["errors"][0];
    assert_eq!(
        (error["index"].clone(), error["id"].clone(), error["code"].clone(), error["field"].clone()),
        (json!(0), json!("big"), json!("BAD_USER_INPUT"), json!("externalMetadata")),
        "{body}"
    );
    let c = app.gql_ok("{ customer(id: \"big\") { firstName externalMetadata } }", json!({})).await;
    assert_ne!(c["customer"]["firstName"], "Changed");
    assert_eq!(c["customer"]["externalMetadata"].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_imports_of_the_same_new_customers_merge_and_never_drop_do_not_call() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let records = |dnc: bool, key: &str| -> Vec<Value> {
        (0..200)
            .map(|i| {
                let mut r = record(&format!("race-{i}"), 3000 + i);
                r["externalMetadata"] = json!({key: i});
                if dnc {
                    r["doNotCall"] = json!(true);
                }
                r
            })
            .collect()
    };
    let (first, second) = tokio::join!(
        bulk(&app, json!({"scheduleId": schedule, "records": records(true, "a")})),
        bulk(&app, json!({"scheduleId": schedule, "records": records(false, "b")})),
    );
    for body in [&first, &second] {
        assert_eq!(body["data"]["bulkAddCustomers"]["status"], "SUCCESS", "{body}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 200);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customers WHERE do_not_call"),
        200,
        "an import never clears DNC"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM customers WHERE external_metadata ? 'a' AND external_metadata ? 'b'"
        ),
        200,
        "both imports' metadata merged"
    );
}
