//! syncCustomerSchedule over HTTP: Do-Not-Call, idempotency, atomicity, concurrency, legal
//! instants in many zones, caps, conflicting locations, suppressed numbers, events, queries.

use chrono::{DateTime, Duration, FixedOffset, Offset, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::harness::{assert_error, customer_input, TestApp, CREATE_CUSTOMER};

pub const SYNC: &str = "mutation($input: CustomerInput!) { syncCustomerSchedule(input: $input) {
    created scheduleCreated tasksCreated existingTasksRemoved skippedReason
    customer { id doNotCall }
    tasks { id status attempt scheduledFor localScheduledFor taskType timeZone schedule { id } customer { id } } } }";

/// Steps on later days only, so they are after the server's now whatever instant it starts at.
pub const CADENCE: &str = r#"[{"dayOffset": 1, "localTime": "10:00"}, {"dayOffset": 2, "localTime": "14:00"}, {"dayOffset": 4, "localTime": "11:30"}]"#;

pub async fn create_collections_schedule(app: &TestApp) -> String {
    let cadence: Value = serde_json::from_str(CADENCE).unwrap();
    let data = app
        .gql_ok(
            "mutation($input: ScheduleInput!) { createSchedule(input: $input) { id } }",
            json!({"input": {"name": "Collections", "taskType": "collections", "cadence": cadence}}),
        )
        .await;
    data["createSchedule"]["id"].as_str().unwrap().to_string()
}

async fn sync(app: &TestApp, input: Value) -> Value {
    app.gql(SYNC, json!({"input": input})).await
}

async fn sync_ok(app: &TestApp, input: Value) -> Value {
    app.gql_ok(SYNC, json!({"input": input})).await["syncCustomerSchedule"].clone()
}

/// A ZIP code and a phone number of `state`, so that the address and the number agree with it.
fn address_and_number(state: &str) -> (&'static str, &'static str) {
    match state {
        "NY" => ("10001", "+12125550100"),
        "IL" => ("60601", "+13125550100"),
        "CA" => ("90001", "+13105551234"),
        "CO" => ("80202", "+17205550100"),
        "AZ" => ("85004", "+16025550100"),
        "AK" => ("99501", "+19075550100"),
        "HI" => ("96813", "+18085550100"),
        "MA" => ("02108", "+16175550100"),
        "GU" => ("96910", "+16715550100"),
        other => panic!("no address for {other}"),
    }
}

/// A customer whose zone is `timezone` and whose address (state and ZIP) and phone number are
/// in `state`: for a US zone of that state every signal agrees; otherwise the address and the
/// number are the conflicting location.
fn customer_in(id: &str, timezone: &str, state: &str) -> Value {
    let (zip, phone) = address_and_number(state);
    crate::harness::customer_at(id, (timezone, state, zip, phone))
}

fn instants(payload: &Value) -> Vec<String> {
    payload["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["scheduledFor"].as_str().unwrap().to_string())
        .collect()
}

/// Every task is after the server's `now`, rendered in `zone`, and inside 08:00-21:00 (and
/// `hours`) there.
fn assert_legal(now: DateTime<Utc>, payload: &Value, zone: &str, hours: (u32, u32)) {
    let tz: Tz = zone.parse().unwrap();
    for task in payload["tasks"].as_array().unwrap() {
        let at: DateTime<Utc> = task["scheduledFor"].as_str().unwrap().parse().unwrap();
        let local_text = task["localScheduledFor"].as_str().unwrap();
        let rendered = DateTime::<FixedOffset>::parse_from_rfc3339(local_text).unwrap();
        assert_eq!(rendered.with_timezone(&Utc), at, "{local_text}");
        let local = at.with_timezone(&tz);
        assert_eq!(
            rendered.offset().local_minus_utc(),
            local.offset().fix().local_minus_utc(),
            "{zone} {local_text}"
        );
        assert!(at > now, "{at} is in the past");
        let minute = local.hour() * 60 + local.minute();
        assert!((8 * 60..21 * 60).contains(&minute), "{zone}: {local} outside 08:00-21:00");
        assert!(minute >= hours.0 && minute < hours.1, "{zone}: {local} outside the schedule's hours");
        assert_eq!(task["timeZone"], zone);
    }
}

#[tokio::test]
async fn sync_creates_the_customer_and_plans_the_cadence() {
    let app = TestApp::spawn().await;
    let schedule_id = create_collections_schedule(&app).await;
    let payload = sync_ok(&app, customer_in("s-1", "America/New_York", "NY")).await;
    assert_eq!(payload["created"], true);
    assert_eq!(payload["scheduleCreated"], true);
    assert_eq!(payload["tasksCreated"], 3);
    assert_eq!(payload["existingTasksRemoved"], 0);
    assert_eq!(payload["skippedReason"], Value::Null);
    let tasks = payload["tasks"].as_array().unwrap();
    assert_eq!(tasks.iter().map(|t| t["attempt"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    for t in tasks {
        assert_eq!(t["status"], "PENDING");
        assert_eq!(t["taskType"], "collections");
        assert_eq!(t["schedule"]["id"], schedule_id);
        assert_eq!(t["customer"]["id"], "s-1");
    }
    assert_legal(app.clock.now(), &payload, "America/New_York", (8 * 60, 21 * 60));
    // The local times are the cadence's.
    let locals: Vec<&str> = tasks.iter().map(|t| &t["localScheduledFor"].as_str().unwrap()[11..16]).collect();
    assert_eq!(locals, ["10:00", "14:00", "11:30"]);
}

#[tokio::test]
async fn do_not_call_four_cases() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    // A customer marked DNC by a sync: saved, no tasks, and pending tasks cancelled.
    sync_ok(&app, customer_in("dnc", "America/Chicago", "IL")).await;
    let mut flagged = customer_input("dnc");
    flagged["doNotCall"] = json!(true);
    let marked = sync_ok(&app, flagged.clone()).await;
    assert_eq!(marked["customer"]["doNotCall"], true);
    assert_eq!(
        (marked["tasksCreated"].clone(), marked["existingTasksRemoved"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(marked["skippedReason"], "DO_NOT_CALL");
    assert_eq!(marked["scheduleCreated"], false);

    // 1. Stored DNC, doNotCall omitted: refused, nothing written.
    let mut omitted = customer_input("dnc");
    omitted["firstName"] = json!("Changed");
    assert_error(&sync(&app, omitted).await, "DO_NOT_CALL", None);
    // 2. Stored DNC, doNotCall: true: refused too.
    assert_error(&sync(&app, flagged).await, "DO_NOT_CALL", None);
    let still = app.gql_ok("{ customer(id: \"dnc\") { firstName doNotCall } }", json!({})).await;
    assert_eq!(still["customer"], json!({"firstName": "Ada", "doNotCall": true}));
    // 3. Stored DNC, doNotCall: false: clears the flag and builds the schedule.
    let mut cleared = customer_input("dnc");
    cleared["doNotCall"] = json!(false);
    let rebuilt = sync_ok(&app, cleared).await;
    assert_eq!(rebuilt["customer"]["doNotCall"], false);
    assert_eq!(rebuilt["tasksCreated"], 3);
    // 4. A new customer sent with doNotCall: true is saved as DNC with no tasks.
    let mut new_dnc = customer_input("dnc-new");
    new_dnc["doNotCall"] = json!(true);
    let saved = sync_ok(&app, new_dnc).await;
    assert_eq!((saved["created"].clone(), saved["tasksCreated"].clone()), (json!(true), json!(0)));
    assert_eq!(saved["skippedReason"], "DO_NOT_CALL");
}

#[tokio::test]
async fn the_same_input_twice_gives_the_same_instants() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let first = sync_ok(&app, customer_in("idem", "America/Denver", "CO")).await;
    let second = sync_ok(&app, customer_in("idem", "America/Denver", "CO")).await;
    assert_eq!(instants(&first), instants(&second));
    assert_eq!(second["existingTasksRemoved"], first["tasksCreated"]);
    assert_eq!(second["created"], false);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 3);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'CANCELLED'"), 3);
}

#[tokio::test]
async fn a_failing_sync_changes_nothing() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let first = sync_ok(&app, customer_in("atomic", "America/New_York", "NY")).await;
    let events_before = app.count("SELECT count(*) AS n FROM events");
    for (field, value) in [("email", json!("broken")), ("zipCode", json!("1")), ("taskType", json!("nope"))] {
        let mut bad = customer_input("atomic");
        bad["firstName"] = json!("Changed");
        bad[field] = value;
        assert_error(&sync(&app, bad).await, "BAD_USER_INPUT", Some(field));
    }
    let tasks = app
        .gql_ok(
            "{ customer(id: \"atomic\") { firstName tasks(status: [PENDING]) { nodes { scheduledFor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(tasks["customer"]["firstName"], "Ada");
    let pending: Vec<&str> = tasks["customer"]["tasks"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["scheduledFor"].as_str().unwrap())
        .collect();
    assert_eq!(pending, instants(&first));
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), events_before);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'CANCELLED'"), 0);
}

#[tokio::test]
async fn concurrent_syncs_of_one_customer_leave_one_schedule() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let requests = (0..32).map(|i| {
        let mut input = customer_in("busy", "America/Los_Angeles", "CA");
        input["firstName"] = json!(format!("Writer{i}"));
        app.gql(SYNC, json!({"input": input}))
    });
    let results = futures::future::join_all(requests).await;
    for r in &results {
        assert!(r.get("errors").is_none(), "{r}");
    }
    let created = results.iter().filter(|r| r["data"]["syncCustomerSchedule"]["created"] == true).count();
    assert_eq!(created, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 3);
    // Every sync after the first cancelled exactly the previous one's tasks.
    let removed: i64 = results
        .iter()
        .map(|r| r["data"]["syncCustomerSchedule"]["existingTasksRemoved"].as_i64().unwrap())
        .sum();
    assert_eq!(removed, 31 * 3);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'CANCELLED'"), 31 * 3);
}

#[tokio::test]
async fn tasks_are_legal_in_every_kind_of_zone() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    for (i, (zone, state)) in [
        ("America/New_York", "NY"),
        ("Pacific/Honolulu", "HI"),
        ("America/Phoenix", "AZ"),
        ("America/Anchorage", "AK"),
        ("America/Chicago", "IL"),
    ]
    .into_iter()
    .enumerate()
    {
        let payload = sync_ok(&app, customer_in(&format!("z-{i}"), zone, state)).await;
        assert_eq!(payload["tasksCreated"], 3, "{zone}");
        assert_legal(app.clock.now(), &payload, zone, (8 * 60, 21 * 60));
    }
    // Zones outside the US: the address's state zone is a conflicting location, so the window is
    // the overlap; each task is still legal in the customer's own zone.
    for (i, zone) in ["Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe"].into_iter().enumerate() {
        let payload = sync_ok(&app, customer_in(&format!("w-{i}"), zone, "NY")).await;
        assert_legal(app.clock.now(), &payload, zone, (8 * 60, 21 * 60));
        assert_legal_in(&payload, "America/New_York");
    }
}

fn assert_legal_in(payload: &Value, zone: &str) {
    let tz: Tz = zone.parse().unwrap();
    for task in payload["tasks"].as_array().unwrap() {
        let at: DateTime<Utc> = task["scheduledFor"].as_str().unwrap().parse().unwrap();
        let local = at.with_timezone(&tz);
        let minute = local.hour() * 60 + local.minute();
        assert!((8 * 60..21 * 60).contains(&minute), "{local} outside 08:00-21:00 in {zone}");
    }
}

#[tokio::test]
async fn conflicting_location_uses_the_overlap_or_refuses() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    // A Los Angeles zone with a New York address: every task is legal in both zones.
    let payload = sync_ok(&app, customer_in("la-ny", "America/Los_Angeles", "NY")).await;
    assert_eq!(payload["tasksCreated"], 3);
    assert_legal(app.clock.now(), &payload, "America/Los_Angeles", (8 * 60, 21 * 60));
    assert_legal_in(&payload, "America/New_York");

    // London with a Hawaii address and 09:00-12:00 hours never overlap: no tasks, and why.
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Mornings\", taskType: \"mornings\", callingHoursStart: \"09:00\", callingHoursEnd: \"12:00\"}) { id } }",
        json!({}),
    )
    .await;
    let mut input = customer_in("london-hi", "Europe/London", "HI");
    input["taskType"] = json!("mornings");
    let payload = sync_ok(&app, input).await;
    assert_eq!(payload["scheduleCreated"], false);
    assert_eq!(payload["tasksCreated"], 0);
    assert_eq!(payload["skippedReason"], "NO_CALLING_WINDOW");
}

#[tokio::test]
async fn weekly_state_caps_hold() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    // Massachusetts allows 2 calls in 7 consecutive days: the third step moves a week out.
    let payload = sync_ok(&app, customer_in("ma", "America/New_York", "MA")).await;
    assert_eq!(payload["tasksCreated"], 3);
    let at: Vec<DateTime<Utc>> = instants(&payload).iter().map(|s| s.parse().unwrap()).collect();
    let tz: Tz = "America/New_York".parse().unwrap();
    let days: Vec<_> = at.iter().map(|t| t.with_timezone(&tz).date_naive()).collect();
    assert!(days[2] - days[0] >= Duration::days(7), "{days:?}");
    assert_legal(app.clock.now(), &payload, "America/New_York", (8 * 60, 21 * 60));

    // A company override tightens New York (NYC's 2-per-week rule) for this company only.
    app.gql_ok(
        "mutation { updateCompanySettings(input: {stateRules: {NY: [{maxPer7Days: 1, source: \"6 RCNY 5-77\"}]}}) { stateRules } }",
        json!({}),
    )
    .await;
    let payload = sync_ok(&app, customer_in("nyc", "America/New_York", "NY")).await;
    let at: Vec<DateTime<Utc>> = instants(&payload).iter().map(|s| s.parse().unwrap()).collect();
    for pair in at.windows(2) {
        let (a, b) = (pair[0].with_timezone(&tz).date_naive(), pair[1].with_timezone(&tz).date_naive());
        assert!(b - a >= Duration::days(7), "{at:?}");
    }
    let rules = app.gql_ok("{ stateCallingRules { state maxPer7Days overridden source } }", json!({})).await;
    let ny: Vec<&Value> =
        rules["stateCallingRules"].as_array().unwrap().iter().filter(|r| r["state"] == "NY").collect();
    assert_eq!(ny.len(), 1);
    assert_eq!(ny[0]["overridden"], true);
    assert!(rules["stateCallingRules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["state"] == "MA" && r["overridden"] == false));
    let bad =
        app.gql("mutation { updateCompanySettings(input: {stateRules: {ZZ: []}}) { id } }", json!({})).await;
    assert_error(&bad, "BAD_USER_INPUT", Some("stateRules"));
}

#[tokio::test]
async fn suppressed_numbers_and_missing_fields_get_no_tasks() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    app.gql_ok("mutation { addSuppressedNumbers(phoneNumbers: [\"310-555-1234\"]) }", json!({})).await;
    let payload = sync_ok(&app, customer_input("supp")).await;
    assert_eq!(payload["tasksCreated"], 0);
    assert_eq!(payload["skippedReason"], "SUPPRESSED_NUMBER");
    // A schedule that does not use the DNC list ignores the company list.
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Service\", taskType: \"service\", useDoNotCall: false}) { id } }",
        json!({}),
    )
    .await;
    let mut service = customer_input("supp-2");
    service["taskType"] = json!("service");
    assert!(sync_ok(&app, service).await["tasksCreated"].as_i64().unwrap() > 0);
    // A required field cannot be cleared by a sync; its tasks stay.
    let mut input = customer_in("no-phone", "America/New_York", "NY");
    input["phoneNumber"] = json!("+1 212 555 0188");
    sync_ok(&app, input).await;
    let cleared = sync(&app, json!({"id": "no-phone", "phoneNumber": null})).await;
    assert_error(&cleared, "BAD_USER_INPUT", Some("phoneNumber"));
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks t JOIN customers c ON c.id = t.customer_id WHERE c.external_id = 'no-phone' AND t.status = 'PENDING'"), 3);
}

#[tokio::test]
async fn events_are_written_for_created_and_cancelled_tasks() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let first = sync_ok(&app, customer_in("ev", "America/New_York", "NY")).await;
    sync_ok(&app, customer_in("ev", "America/New_York", "NY")).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_CREATED'"), 6);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_STATUS_CHANGED' AND payload->>'previousStatus' = 'PENDING' AND payload->'task'->>'status' = 'CANCELLED'"),
        3
    );
    // The cancellations are exactly the first sync's tasks, and come before the new tasks.
    for task in first["tasks"].as_array().unwrap() {
        let id = task["id"].as_str().unwrap();
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM events WHERE kind = 'TASK_STATUS_CHANGED' AND payload->'task'->>'id' = '{id}'
                 AND id < (SELECT max(id) FROM events WHERE kind = 'TASK_CREATED')"
            )),
            1
        );
    }
}

#[tokio::test]
async fn create_and_upsert_do_not_build_schedules() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("plain")})).await;
    app.gql_ok(
        "mutation($i: CustomerInput!) { upsertCustomer(input: $i) { created } }",
        json!({"i": customer_input("plain-2")}),
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks"), 0);
}

#[tokio::test]
async fn task_queries_filters_and_schedule_counts() {
    let app = TestApp::spawn().await;
    let schedule_id = create_collections_schedule(&app).await;
    let a = sync_ok(&app, customer_in("qa", "America/New_York", "NY")).await;
    sync_ok(&app, customer_in("qb", "America/Chicago", "IL")).await;
    sync_ok(&app, customer_in("qb", "America/Chicago", "IL")).await; // 3 cancelled, 3 pending

    let task_id = a["tasks"][0]["id"].as_str().unwrap();
    let one = app
        .gql_ok(
            "query($id: ID!) { task(id: $id) { id status customer { id } localScheduledFor } }",
            json!({"id": task_id}),
        )
        .await;
    assert_eq!(one["task"]["customer"]["id"], "qa");
    assert_eq!(app.gql_ok("{ task(id: \"nope\") { id } }", json!({})).await["task"], Value::Null);

    let q = "query($f: TaskFilter, $first: Int, $after: String) { tasks(filter: $f, first: $first, after: $after) {
        totalCount nodes { scheduledFor status customer { id } } pageInfo { hasNextPage endCursor } } }";
    let all = app.gql_ok(q, json!({})).await;
    assert_eq!(all["tasks"]["totalCount"], 9);
    let times: Vec<&str> = all["tasks"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["scheduledFor"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "ordered by scheduledFor");
    for (filter, expected) in [
        (json!({"customerId": "qa"}), 3),
        (json!({"customerId": "qb", "status": ["PENDING"]}), 3),
        (json!({"customerId": "qb", "status": ["CANCELLED"]}), 3),
        (json!({"scheduleId": schedule_id}), 9),
        (json!({"scheduleId": "00000000-0000-0000-0000-000000000000"}), 0),
        (json!({"customerId": "nobody"}), 0),
        (json!({"scheduledFrom": times[3], "scheduledTo": times[6]}), 3),
    ] {
        let data = app.gql_ok(q, json!({"f": filter})).await;
        assert_eq!(data["tasks"]["totalCount"], expected, "{filter}");
    }
    // Paging in scheduledFor order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app.gql_ok(q, json!({"first": 4, "after": after})).await;
        seen.extend(
            page["tasks"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["scheduledFor"].as_str().unwrap().to_string()),
        );
        if page["tasks"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["tasks"]["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen, times);
    assert_error(&app.gql(q, json!({"after": "garbage"})).await, "BAD_USER_INPUT", Some("after"));

    let counts = app
        .gql_ok("query($id: ID!) { schedule(id: $id) { pendingTasksCount } }", json!({"id": schedule_id}))
        .await;
    assert_eq!(counts["schedule"]["pendingTasksCount"], 6);
    // updateSchedule keeps existing tasks; deleteSchedule cancels the pending ones.
    app.gql_ok(
        "mutation($id: ID!) { updateSchedule(id: $id, input: {callingHoursStart: \"12:00\"}) { id } }",
        json!({"id": schedule_id}),
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 6);
    let deleted = app
        .gql_ok(
            "mutation($id: ID!) { deleteSchedule(id: $id) { tasksCancelled } }",
            json!({"id": schedule_id}),
        )
        .await;
    assert_eq!(deleted["deleteSchedule"]["tasksCancelled"], 6);
    // Tasks keep pointing at their (deleted) schedule.
    let still = app
        .gql_ok("query($id: ID!) { task(id: $id) { status schedule { id } } }", json!({"id": task_id}))
        .await;
    assert_eq!(still["task"]["status"], "CANCELLED");
    assert_eq!(still["task"]["schedule"]["id"], schedule_id);
}

async fn db_calls(app: &TestApp) -> i64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics.lines().find_map(|l| l.strip_prefix("callsync_db_calls_total ")).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_page_of_500_tasks_with_customers_is_a_constant_number_of_queries() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    // 170 customers x 3 tasks = 510 tasks.
    let requests: Vec<_> =
        (0..170).map(|i| customer_in(&format!("bulk-{i}"), "America/New_York", "NY")).collect();
    for chunk in requests.chunks(10) {
        let results =
            futures::future::join_all(chunk.iter().map(|input| app.gql(SYNC, json!({"input": input})))).await;
        assert!(results.iter().all(|r| r.get("errors").is_none()));
    }
    // The key is verified now and, with the clock stopped, stays cached: only the page counts.
    app.gql_ok("{ viewer { id } }", json!({})).await;
    app.clock.freeze();
    let before = db_calls(&app).await;
    let data = app
        .gql_ok(
            "{ tasks(first: 500) { totalCount nodes { id customer { id firstName } schedule { name pendingTasksCount } } } }",
            json!({}),
        )
        .await;
    let after = db_calls(&app).await;
    assert_eq!(data["tasks"]["nodes"].as_array().unwrap().len(), 500);
    assert_eq!(data["tasks"]["totalCount"], 510);
    // tasks page, customers batch, schedules batch, pending counts batch.
    assert!(after - before <= 4, "{} database calls for one page", after - before);
}

#[tokio::test]
async fn nested_pages_of_a_customer_list_are_one_query_each() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    for i in 0..40 {
        let mut input = customer_in(&format!("nest-{i:02}"), "America/New_York", "NY");
        input["phoneNumber"] = json!(format!("+1212555{:04}", 3000 + i));
        app.gql_ok(SYNC, json!({"input": input})).await;
    }
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 1000}) { id } }", json!({}))
        .await;
    for i in 0..3 {
        app.gql_ok(
            &format!("mutation {{ makeCall(input: {{customerId: \"nest-0{i}\"}}) {{ id }} }}"),
            json!({}),
        )
        .await;
    }
    let before = db_calls(&app).await;
    let data = app
        .gql_ok(
            "{ customers(first: 40, orderBy: ID) { nodes { id
                 tasks(first: 2, status: [PENDING]) { pageInfo { hasNextPage } nodes { id status customer { id } } }
                 calls(first: 5) { nodes { id to } } } } }",
            json!({}),
        )
        .await;
    let after = db_calls(&app).await;
    let nodes = data["customers"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 40);
    for (i, node) in nodes.iter().enumerate() {
        let tasks = node["tasks"]["nodes"].as_array().unwrap();
        assert_eq!(tasks.len(), 2, "{node}");
        assert_eq!(node["tasks"]["pageInfo"]["hasNextPage"], true, "3 tasks each, 2 asked");
        assert!(tasks.iter().all(|t| t["customer"]["id"] == node["id"] && t["status"] == "PENDING"));
        assert_eq!(node["calls"]["nodes"].as_array().unwrap().len(), usize::from(i < 3), "{node}");
    }
    // The customers page, their tasks, the tasks' customers, their calls — a loader batch may
    // split in two when the request yields under load — but never one per customer (80+).
    assert!(after - before <= 10, "{} database calls", after - before);
    // The same pages one by one agree.
    let one = app
        .gql_ok(
            "{ customer(id: \"nest-00\") { tasks(first: 2, status: [PENDING]) { nodes { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        one["customer"]["tasks"]["nodes"],
        json!(nodes[0]["tasks"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| json!({"id": t["id"]}))
            .collect::<Vec<_>>())
    );
}
