//! Schedules over HTTP: defaults, validation, update, delete, lists.

use serde_json::{json, Value};

use crate::harness::{
    assert_error, create_schedule, customer_input, TestApp, CREATE_CUSTOMER, CREATE_SCHEDULE,
};

const SCHEDULE_FIELDS: &str = "id name description taskType paused timeZone callingHoursStart callingHoursEnd \
    useDoNotCall cadence { dayOffset localTime } maxAttemptsPer7Days sortableOrder leadDuplicateTimeframeSeconds \
    callsCount lastCallAt pendingTasksCount createdAt updatedAt";

fn create_query() -> String {
    format!("mutation($input: ScheduleInput!) {{ createSchedule(input: $input) {{ {SCHEDULE_FIELDS} }} }}")
}

fn update_query() -> String {
    format!("mutation($id: ID!, $input: ScheduleInput!) {{ updateSchedule(id: $id, input: $input) {{ {SCHEDULE_FIELDS} }} }}")
}

#[tokio::test]
async fn create_fills_the_defaults_it_advertises() {
    let app = TestApp::spawn().await;
    let defaults = app
        .gql_ok("{ scheduleDefaults { callingHoursStart callingHoursEnd useDoNotCall cadence { dayOffset localTime } maxAttemptsPer7Days paused } }", json!({}))
        .await["scheduleDefaults"]
        .clone();
    assert_eq!(defaults["maxAttemptsPer7Days"], 7);
    let created = app
        .gql_ok(&create_query(), json!({"input": {"name": "Collections", "taskType": "collections"}}))
        .await;
    let s = &created["createSchedule"];
    for key in
        ["callingHoursStart", "callingHoursEnd", "useDoNotCall", "cadence", "maxAttemptsPer7Days", "paused"]
    {
        assert_eq!(s[key], defaults[key], "{key}");
    }
    assert_eq!(s["callsCount"], 0);
    assert_eq!(s["pendingTasksCount"], 0);
    assert_eq!(s["lastCallAt"], Value::Null);
    let viewer = app.gql_ok("{ viewer { taskTypes } }", json!({})).await;
    assert_eq!(viewer["viewer"]["taskTypes"], json!(["collections"]));
}

#[tokio::test]
async fn cadence_is_stored_sorted() {
    let app = TestApp::spawn().await;
    let created = app
        .gql_ok(
            &create_query(),
            json!({"input": {"name": "S", "taskType": "t", "cadence": [
                {"dayOffset": 2, "localTime": "09:00"}, {"dayOffset": 0, "localTime": "15:30"}, {"dayOffset": 0, "localTime": "09:15"}]}}),
        )
        .await;
    assert_eq!(
        created["createSchedule"]["cadence"],
        json!([{"dayOffset": 0, "localTime": "09:15"}, {"dayOffset": 0, "localTime": "15:30"}, {"dayOffset": 2, "localTime": "09:00"}])
    );
}

#[tokio::test]
async fn every_schedule_rule_names_its_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Value)> = vec![
        ("name", json!({"taskType": "t"})),
        ("name", json!({"name": "  ", "taskType": "t"})),
        ("taskType", json!({"name": "S"})),
        ("taskType", json!({"name": "S", "taskType": "x".repeat(65)})),
        ("callingHoursStart", json!({"name": "S", "taskType": "t", "callingHoursStart": "8am"})),
        ("callingHoursStart", json!({"name": "S", "taskType": "t", "callingHoursStart": "24:00"})),
        ("callingHoursEnd", json!({"name": "S", "taskType": "t", "callingHoursEnd": "21:75"})),
        (
            "callingHoursEnd",
            json!({"name": "S", "taskType": "t", "callingHoursStart": "18:00", "callingHoursEnd": "09:00"}),
        ),
        ("cadence", json!({"name": "S", "taskType": "t", "cadence": []})),
        (
            "cadence",
            json!({"name": "S", "taskType": "t", "cadence": [{"dayOffset": -1, "localTime": "10:00"}]}),
        ),
        (
            "cadence",
            json!({"name": "S", "taskType": "t", "cadence": [{"dayOffset": 1, "localTime": "10:60"}]}),
        ),
        (
            "cadence",
            json!({"name": "S", "taskType": "t", "cadence": [{"dayOffset": 1, "localTime": "10:00"}, {"dayOffset": 1, "localTime": "10:00"}]}),
        ),
        ("maxAttemptsPer7Days", json!({"name": "S", "taskType": "t", "maxAttemptsPer7Days": 0})),
        ("timeZone", json!({"name": "S", "taskType": "t", "timeZone": "Eastern"})),
        (
            "leadDuplicateTimeframeSeconds",
            json!({"name": "S", "taskType": "t", "leadDuplicateTimeframeSeconds": -5}),
        ),
        ("paused", json!({"name": "S", "taskType": "t", "paused": null})),
    ];
    for (field, input) in cases {
        let body = app.gql(CREATE_SCHEDULE, json!({"input": input})).await;
        assert_error(&body, "BAD_USER_INPUT", Some(field));
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM schedules"), 0);
}

#[tokio::test]
async fn a_task_type_belongs_to_one_schedule() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let body = app.gql(CREATE_SCHEDULE, json!({"input": {"name": "Again", "taskType": "collections"}})).await;
    assert_error(&body, "CONFLICT", Some("taskType"));
    let other = create_schedule(&app, "reminders").await;
    let body = app.gql(&update_query(), json!({"id": other, "input": {"taskType": "collections"}})).await;
    assert_error(&body, "CONFLICT", Some("taskType"));
}

#[tokio::test]
async fn update_keeps_omitted_fields_and_clears_nulls() {
    let app = TestApp::spawn().await;
    let created = app
        .gql_ok(
            &create_query(),
            json!({"input": {"name": "S", "taskType": "t", "description": "first", "timeZone": "America/Chicago", "sortableOrder": 2.5}}),
        )
        .await["createSchedule"]
        .clone();
    let id = created["id"].as_str().unwrap();
    let updated = app
        .gql_ok(
            &update_query(),
            json!({"id": id, "input": {"description": null, "callingHoursEnd": "20:00", "paused": true}}),
        )
        .await["updateSchedule"]
        .clone();
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["callingHoursEnd"], "20:00");
    assert_eq!(updated["paused"], true);
    for key in ["name", "taskType", "timeZone", "sortableOrder", "cadence", "callingHoursStart", "createdAt"]
    {
        assert_eq!(updated[key], created[key], "{key}");
    }
    // Validated against the merged result; nothing written on error.
    let body = app
        .gql(&update_query(), json!({"id": id, "input": {"callingHoursStart": "20:30", "name": "New"}}))
        .await;
    assert_error(&body, "BAD_USER_INPUT", Some("callingHoursStart"));
    let body = app.gql(&update_query(), json!({"id": id, "input": {"name": null}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("name"));
    let now = app.gql_ok("query($id: ID!) { schedule(id: $id) { name } }", json!({"id": id})).await;
    assert_eq!(now["schedule"]["name"], "S");

    for missing in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let body = app.gql(&update_query(), json!({"id": missing, "input": {"name": "x"}})).await;
        assert_error(&body, "NOT_FOUND", None);
    }
}

#[tokio::test]
async fn delete_hides_cancels_pending_tasks_and_frees_the_task_type() {
    let app = TestApp::spawn().await;
    let id = create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    // Tasks as the sync builds them: two pending, one completed.
    let now = app.clock.now().to_rfc3339();
    app.count(&format!(
        "WITH ins AS (INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone, created_at, updated_at)
         SELECT company_id, id, '{id}', 'collections', s.status, s.n, '{now}'::timestamptz + s.n * interval '1 day', 'America/Los_Angeles', '{now}', '{now}'
         FROM customers, (VALUES ('PENDING', 1), ('PENDING', 2), ('COMPLETED', 3)) AS s(status, n) RETURNING 1)
         SELECT count(*) AS n FROM ins"
    ));
    let pending =
        app.gql_ok("query($id: ID!) { schedule(id: $id) { pendingTasksCount } }", json!({"id": id})).await;
    assert_eq!(pending["schedule"]["pendingTasksCount"], 2);

    let deleted = app
        .gql_ok(
            "mutation($id: ID!) { deleteSchedule(id: $id) { deletedScheduleId tasksCancelled } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(deleted["deleteSchedule"], json!({"deletedScheduleId": id, "tasksCancelled": 2}));
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'CANCELLED'"), 2);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'COMPLETED'"), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_STATUS_CHANGED' AND payload->'task'->>'status' = 'CANCELLED' AND payload->>'previousStatus' = 'PENDING'"),
        2
    );

    let gone = app
        .gql_ok(
            "query($id: ID!) { schedule(id: $id) { id } schedules { totalCount } viewer { taskTypes } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(gone["schedule"], Value::Null);
    assert_eq!(gone["schedules"]["totalCount"], 0);
    assert_eq!(gone["viewer"]["taskTypes"], json!([]));
    let again =
        app.gql("mutation($id: ID!) { deleteSchedule(id: $id) { tasksCancelled } }", json!({"id": id})).await;
    assert_error(&again, "NOT_FOUND", None);
    // The task type is free again.
    create_schedule(&app, "collections").await;
}

const LIST: &str = "query($filter: ScheduleFilter, $orderBy: ScheduleOrderField, $dir: OrderDirection, $first: Int, $after: String) {
    schedules(filter: $filter, orderBy: $orderBy, orderDirection: $dir, first: $first, after: $after) {
        totalCount nodes { taskType } pageInfo { hasNextPage hasPreviousPage endCursor } } }";

fn task_types(data: &Value) -> Vec<String> {
    data["schedules"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["taskType"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn schedule_lists_filter_order_and_page() {
    let app = TestApp::spawn().await;
    for (name, task_type, description, paused, order) in [
        ("Beta collections", "b", "second wave", false, 3.0),
        ("Alpha reminders", "a", "Payment REMINDER", true, 1.0),
        ("Gamma", "c", "", false, 2.0),
    ] {
        app.gql_ok(
            CREATE_SCHEDULE,
            json!({"input": {"name": name, "taskType": task_type, "description": description, "paused": paused, "sortableOrder": order}}),
        )
        .await;
    }
    let cases: Vec<(Value, &str, &str, Vec<&str>)> = vec![
        (json!({}), "CREATED_AT", "ASC", vec!["b", "a", "c"]),
        (json!({}), "NAME", "ASC", vec!["a", "b", "c"]),
        (json!({}), "NAME", "DESC", vec!["c", "b", "a"]),
        (json!({}), "TASK_TYPE", "DESC", vec!["c", "b", "a"]),
        (json!({}), "SORTABLE_ORDER", "ASC", vec!["a", "c", "b"]),
        (json!({}), "PAUSED", "DESC", vec!["a", "b", "c"]),
        (json!({"search": "reminder"}), "CREATED_AT", "ASC", vec!["a"]),
        (json!({"search": "COLLECT"}), "CREATED_AT", "ASC", vec!["b"]),
        (json!({"paused": false}), "NAME", "ASC", vec!["b", "c"]),
        (json!({"taskType": "c"}), "NAME", "ASC", vec!["c"]),
    ];
    for (filter, order, dir, expected) in cases {
        let data = app.gql_ok(LIST, json!({"filter": filter, "orderBy": order, "dir": dir})).await;
        assert_eq!(task_types(&data), expected, "{filter} {order} {dir}");
        assert_eq!(data["schedules"]["totalCount"], expected.len());
    }
    // Paging.
    let page1 = app.gql_ok(LIST, json!({"orderBy": "NAME", "first": 2})).await;
    assert_eq!(task_types(&page1), vec!["a", "b"]);
    assert_eq!(page1["schedules"]["pageInfo"]["hasNextPage"], true);
    let page2 = app
        .gql_ok(
            LIST,
            json!({"orderBy": "NAME", "first": 2, "after": page1["schedules"]["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(task_types(&page2), vec!["c"]);
    assert_eq!(page2["schedules"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(page2["schedules"]["pageInfo"]["hasPreviousPage"], true);
    // createdAt range: from inclusive, to exclusive.
    let all = app.gql_ok("{ schedules { nodes { taskType createdAt } } }", json!({})).await;
    let second = all["schedules"]["nodes"][1]["createdAt"].clone();
    let from = app.gql_ok(LIST, json!({"filter": {"createdAtFrom": second}})).await;
    assert_eq!(task_types(&from), vec!["a", "c"]);
    let to = app.gql_ok(LIST, json!({"filter": {"createdAtTo": second}})).await;
    assert_eq!(task_types(&to), vec!["b"]);
    let bad = app.gql(LIST, json!({"after": "nope"})).await;
    assert_error(&bad, "BAD_USER_INPUT", Some("after"));
}
