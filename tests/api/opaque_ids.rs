//! Opaque identifiers (issue 27, item 3): what one company sees of its cursors, event ids and
//! job ids reveals no row id and no count of another company's customers, events or jobs, and
//! cannot be forged or altered; paging and `afterEventId` resumes still work.
//!
//! Each test interleaves company A's activity between two of company B's, then looks at B's
//! ids: on a server that showed row ids or global sequence numbers, A's activity would be a gap.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::harness::{
    assert_error, customer_input, rest_request, test_secrets, TestApp, WsClient, TRANSPORT_WS,
};
use crate::sync::{CADENCE, SYNC};

const WAIT: Duration = Duration::from_secs(10);

const CUSTOMERS: &str =
    "query($order: CustomerOrderField, $dir: OrderDirection, $first: Int, $after: String) {
    customers(orderBy: $order, orderDirection: $dir, first: $first, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";

const TASK_EVENTS: &str =
    "subscription($after: ID) { taskEvents(afterEventId: $after) { eventId task { id } } }";

const BULK: &str = "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { jobIds } }";
const JOB: &str = "query($id: ID!) { job(id: $id) { id status total } }";

/// One company as the tests drive it: its id and key on the shared server.
struct Company<'a> {
    app: &'a TestApp,
    id: uuid::Uuid,
    key: String,
}

impl Company<'_> {
    async fn gql(&self, query: &str, variables: Value) -> Value {
        self.app.gql_as(Some(&self.key), query, variables).await
    }

    async fn gql_ok(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// A `collections` schedule (a later-days cadence, so at any hour), returning its id.
    async fn schedule(&self) -> String {
        let cadence: Value = serde_json::from_str(CADENCE).unwrap();
        let input = json!({"name": "Collections", "taskType": "collections", "cadence": cadence});
        let data = self
            .gql_ok(
                "mutation($input: ScheduleInput!) { createSchedule(input: $input) { id } }",
                json!({"input": input}),
            )
            .await;
        data["createSchedule"]["id"].as_str().unwrap().to_string()
    }

    /// Creates (and schedules) the customer `id` with its own phone number.
    async fn sync(&self, id: &str, phone: &str, last_name: &str) {
        let mut input = customer_input(id);
        input["phoneNumber"] = json!(phone);
        input["lastName"] = json!(last_name);
        self.gql_ok(SYNC, json!({"input": input})).await;
    }

    fn row_id(&self, external_id: &str) -> i64 {
        self.app.count(&format!(
            "SELECT id AS n FROM customers WHERE company_id = '{}' AND external_id = '{external_id}'",
            self.id
        ))
    }

    /// Every customer id of a list walked a page of one at a time, and the cursors seen.
    async fn walk(&self, order: &str, dir: &str) -> (Vec<String>, Vec<String>) {
        let (mut ids, mut cursors, mut after) = (Vec::new(), Vec::new(), None::<String>);
        loop {
            let vars = json!({"order": order, "dir": dir, "first": 1, "after": after});
            let page = self.gql_ok(CUSTOMERS, vars).await["customers"].clone();
            for edge in page["edges"].as_array().unwrap() {
                ids.push(edge["node"]["id"].as_str().unwrap().to_string());
                cursors.push(edge["cursor"].as_str().unwrap().to_string());
            }
            if page["pageInfo"]["hasNextPage"] != true {
                return (ids, cursors);
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_string);
            assert!(ids.len() < 50, "paging does not end: {ids:?}");
        }
    }
}

async fn companies(app: &TestApp) -> (Company<'_>, Company<'_>) {
    let a = Company { app, id: app.company_id, key: app.api_key.clone() };
    let (id, key) = app.new_company("Bee");
    (a, Company { app, id, key })
}

/// The text a cursor shows once its base64 is taken off (binary bytes as U+FFFD).
fn unwrapped(cursor: &str) -> String {
    String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(cursor).expect("a base64url cursor")).into_owned()
}

/// `cursor` with one character changed.
fn altered(cursor: &str) -> String {
    let mut chars: Vec<char> = cursor.chars().collect();
    let i = chars.len() / 3;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn customer_cursors_hold_no_row_id_page_in_every_order_and_refuse_forgery() {
    let app = TestApp::spawn().await;
    let (a, b) = companies(&app).await;
    b.schedule().await;
    a.schedule().await;
    // B's customers, with A's in between: B's row ids have gaps A made.
    b.sync("bee-first", "+13105550101", "Same").await;
    for (i, phone) in ["+13105550201", "+13105550202", "+13105550203"].iter().enumerate() {
        a.sync(&format!("ay-{i}"), phone, "Other").await;
    }
    b.sync("bee-second", "+13105550102", "Same").await;
    b.sync("bee-third", "+13105550103", "Same").await;
    let rows: Vec<i64> = ["bee-first", "bee-second", "bee-third"].iter().map(|id| b.row_id(id)).collect();
    assert!(rows[1] - rows[0] > 1, "A's customers lie between B's rows: {rows:?}");

    // Every order pages through B's customers whole, once each, in order; ties of the sort key
    // (one last name for all) still page one by one.
    let mut all_cursors = Vec::new();
    for (order, dir, expected) in [
        ("CREATED_AT", "ASC", ["bee-first", "bee-second", "bee-third"]),
        ("UPDATED_AT", "DESC", ["bee-third", "bee-second", "bee-first"]),
        ("LAST_NAME", "ASC", ["bee-first", "bee-second", "bee-third"]),
        ("LAST_NAME", "DESC", ["bee-third", "bee-second", "bee-first"]),
        ("ID", "ASC", ["bee-first", "bee-second", "bee-third"]),
    ] {
        let (ids, cursors) = b.walk(order, dir).await;
        assert_eq!(ids, expected, "{order} {dir}");
        all_cursors.extend(cursors);
    }
    // No cursor carries a row id (it used to be `..."id":33}`), so none tells how many
    // customers other companies created in between.
    for cursor in &all_cursors {
        let text = unwrapped(cursor);
        for row in &rows {
            assert!(!text.contains(&format!("\"id\":{row}")), "{text} holds row id {row}");
        }
        assert!(cursor.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{cursor}");
    }

    // An altered cursor, a forged one in the old format, and A's cursor in B's hands: refused.
    let vars = |after: &str| json!({"order": "CREATED_AT", "dir": "ASC", "first": 1, "after": after});
    let forged =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"order":"CreatedAt","desc":false,"key":0,"id":{}}}"#, rows[0]));
    let (_, a_cursors) = a.walk("CREATED_AT", "ASC").await;
    for bad in [altered(&all_cursors[0]), forged, a_cursors[0].clone(), "not a cursor".into()] {
        assert_error(&b.gql(CUSTOMERS, vars(&bad)).await, "BAD_USER_INPUT", Some("after"));
    }
    // A cursor of one ordering is not one of another.
    let by_name = json!({"order": "CREATED_AT", "dir": "DESC", "first": 1, "after": all_cursors[0]});
    assert_error(&b.gql(CUSTOMERS, by_name).await, "BAD_USER_INPUT", Some("after"));
}

#[tokio::test]
async fn every_connection_refuses_altered_and_forged_cursors() {
    let app = TestApp::spawn().await;
    let (_, b) = companies(&app).await;
    b.schedule().await;
    b.sync("bee-1", "+13105550101", "Hopper").await;
    b.gql_ok(
        "mutation { addSuppressedNumbers(phoneNumbers: [\"+13105550999\", \"+13105550998\"]) }",
        json!({}),
    )
    .await;
    // (query, path to the connection, a cursor in the format the server used to accept)
    let lists = [
        ("query($after: String) { schedules(first: 1, after: $after) { pageInfo { endCursor } } }", "schedules", "offset:1"),
        ("query($after: String) { tasks(first: 1, after: $after) { pageInfo { endCursor } } }", "tasks", r#"{"at":0,"id":"00000000-0000-0000-0000-000000000000"}"#),
        ("query($after: String) { calls(first: 1, after: $after) { pageInfo { endCursor } } }", "calls", r#"{"at":0,"id":"00000000-0000-0000-0000-000000000000"}"#),
        ("query($after: String) { suppressedNumbers(first: 1, after: $after) { pageInfo { endCursor } } }", "suppressedNumbers", "offset:1"),
        ("query($after: String) { auditLog(first: 1, after: $after) { pageInfo { endCursor } } }", "auditLog", "0:00000000-0000-0000-0000-000000000000"),
        ("query($after: String) { customer(id: \"bee-1\") { tasks(first: 1, after: $after) { pageInfo { endCursor } } } }", "customer.tasks", r#"{"at":0,"id":"00000000-0000-0000-0000-000000000000"}"#),
    ];
    for (query, name, old_format) in lists {
        let first = b.gql_ok(query, json!({})).await;
        let connection = match name.split_once('.') {
            Some((parent, child)) => first[parent][child].clone(),
            None => first[name].clone(),
        };
        let forged = URL_SAFE_NO_PAD.encode(old_format);
        let mut refused = vec![forged, "garbage".to_string()];
        if let Some(cursor) = connection["pageInfo"]["endCursor"].as_str() {
            // The real cursor pages on; altered, it is refused.
            assert!(b.gql(query, json!({"after": cursor})).await.get("errors").is_none(), "{name}");
            refused.push(altered(cursor));
        }
        for bad in refused {
            let body = b.gql(query, json!({"after": bad})).await;
            assert_error(&body, "BAD_USER_INPUT", Some("after"));
            assert!(body["errors"][0]["message"].as_str().unwrap().contains("after"), "{name}: {body}");
        }
    }
}

async fn subscriber(app: &TestApp, key: &str, after: Option<&str>) -> WsClient {
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    let ack = ws.init(json!({"apiKey": key})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    match after {
        None => ws.subscribe_live("1", TASK_EVENTS, json!({})).await,
        Some(after) => ws.subscribe("1", TASK_EVENTS, json!({"after": after})).await,
    }
    ws
}

/// The next `n` events: (eventId, task id).
async fn events(ws: &mut WsClient, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let payload = ws.next_data(WAIT).await.expect("an event in time");
        assert!(payload.get("errors").is_none(), "{payload}");
        let e = &payload["data"]["taskEvents"];
        out.push((e["eventId"].as_str().unwrap().to_string(), e["task"]["id"].as_str().unwrap().to_string()));
    }
    out
}

/// The error a subscription with `afterEventId: after` gets.
async fn refused_resume(app: &TestApp, key: &str, after: &str) -> Value {
    let mut ws = subscriber(app, key, Some(after)).await;
    let answer = ws.receive(WAIT).await.expect("an answer");
    ws.close().await;
    answer["payload"].clone()
}

#[tokio::test]
async fn event_ids_reveal_no_other_companys_events_and_resume_only_for_their_company() {
    let app = TestApp::spawn().await;
    let (a, b) = companies(&app).await;
    b.schedule().await;
    a.schedule().await;
    let mut b_ws = subscriber(&app, &b.key, None).await;
    let mut a_ws = subscriber(&app, &a.key, None).await;
    b.sync("bee-1", "+13105550101", "Hopper").await;
    let first = events(&mut b_ws, 3).await;
    // A's events between two of B's: with sequence numbers as ids, B would see a gap of 6.
    a.sync("ay-1", "+13105550201", "Other").await;
    a.sync("ay-2", "+13105550202", "Other").await;
    let a_events = events(&mut a_ws, 6).await;
    b.sync("bee-2", "+13105550102", "Hopper").await;
    let second = events(&mut b_ws, 3).await;
    let ids: Vec<&String> = first.iter().chain(&second).map(|(id, _)| id).collect();
    let globals: Vec<i64> =
        app.count_all(&format!("SELECT id AS n FROM events WHERE company_id = '{}' ORDER BY id", b.id));
    assert!(globals[3] - globals[2] > 6, "A's events lie between B's: {globals:?}");
    for id in &ids {
        assert!(id.parse::<i64>().is_err(), "an event id is no number: {id}");
        assert_eq!(id.len(), 24, "compact: {id}");
    }
    let distinct: std::collections::HashSet<&&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 6, "one id per event: {ids:?}");

    // Resuming after B's first event replays exactly B's five after it, then is live.
    let mut resumed = subscriber(&app, &b.key, Some(&first[0].0)).await;
    let replayed = events(&mut resumed, 5).await;
    assert_eq!(replayed, first[1..].iter().chain(&second).cloned().collect::<Vec<_>>());
    b.sync("bee-3", "+13105550103", "Hopper").await;
    let live = events(&mut resumed, 3).await;
    assert!(live.iter().all(|(id, _)| !ids.contains(&id)), "new events, new ids");
    resumed.close().await;

    // A's event id, B's own event as its global number (what the server used to accept),
    // an altered id and garbage: each refused, naming afterEventId.
    let mut altered_id = first[0].0.clone().into_bytes();
    altered_id[5] = if altered_id[5] == b'A' { b'B' } else { b'A' };
    let refused = [
        a_events[0].0.clone(),
        globals[0].to_string(),
        String::from_utf8(altered_id).unwrap(),
        "not-an-event".to_string(),
    ];
    for after in refused {
        let payload = refused_resume(&app, &b.key, &after).await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{after}: {payload}");
        assert_eq!(payload["errors"][0]["extensions"]["field"], "afterEventId", "{after}: {payload}");
    }
    // And B's id in A's hands, the other way round.
    let payload = refused_resume(&app, &a.key, &first[0].0).await;
    assert_eq!(payload["errors"][0]["extensions"]["field"], "afterEventId", "{payload}");
    // The test's key opens B's ids to the global numbers the resume compares.
    let opened: Vec<i64> = ids.iter().map(|id| test_secrets().ids().event(b.id, id).unwrap()).collect();
    assert_eq!(opened, globals[..6]);
}

fn bulk_records(prefix: &str, n: usize, first_phone: u32) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut r = customer_input(&format!("{prefix}-{i}"));
            r["phoneNumber"] = json!(format!("+1310555{:04}", first_phone as usize + i));
            r
        })
        .collect()
}

async fn bulk_jobs(company: &Company<'_>, schedule: &str, prefix: &str, n: usize, phone: u32) -> Vec<String> {
    let input =
        json!({"scheduleId": schedule, "records": bulk_records(prefix, n, phone), "useWorkflow": true});
    let data = company.gql_ok(BULK, json!({"input": input})).await;
    data["bulkAddCustomers"]["jobIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn job_ids_are_no_counter_and_are_found_only_by_their_company() {
    let app = TestApp::spawn().await;
    let (a, b) = companies(&app).await;
    let b_schedule = b.schedule().await;
    let a_schedule = a.schedule().await;
    let mut b_jobs = bulk_jobs(&b, &b_schedule, "bee", 1, 1000).await;
    // A's jobs between two of B's: with sequence numbers, B's second job id would be 3 past its first.
    let a_jobs = bulk_jobs(&a, &a_schedule, "ay", 501, 2000).await;
    assert_eq!(a_jobs.len(), 2);
    b_jobs.extend(bulk_jobs(&b, &b_schedule, "bee-again", 1, 3000).await);
    let (status, body) = rest_request(
        &app,
        "POST",
        "/api/v1/customers/add/bulk",
        Some(json!({"campaignId": b_schedule, "useWorkflow": true,
            "records": [{"id": "bee-rest", "first_name": "Grace", "last_name": "Hopper", "phone_number": "+13105554000",
                "email": "g@example.com", "birthday": "1985-12-10", "timezone": "America/Los_Angeles",
                "street_address1": "1 Main St", "city": "Los Angeles", "state": "CA", "zip_code": "90001"}]})),
        Some(&[("X-API-Key", &b.key)]),
    )
    .await;
    assert!(status.is_success(), "{status} {body}");
    b_jobs.extend(body["jobIds"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()));
    assert_eq!(b_jobs.len(), 3, "{b_jobs:?}");
    let rows: Vec<i64> =
        app.count_all(&format!("SELECT id AS n FROM jobs WHERE company_id = '{}' ORDER BY id", b.id));
    assert!(rows[1] - rows[0] > 1, "A's jobs lie between B's: {rows:?}");
    for id in &b_jobs {
        assert!(id.parse::<i64>().is_err(), "a job id is no number: {id}");
        assert_eq!(id.len(), 24, "compact: {id}");
        // B follows its own jobs, with the id it was given.
        let job = b.gql_ok(JOB, json!({"id": id})).await;
        assert_eq!(
            (job["job"]["id"].as_str(), job["job"]["status"].as_str()),
            (Some(id.as_str()), Some("PENDING"))
        );
        // A cannot, and an altered id names no job.
        assert_eq!(a.gql_ok(JOB, json!({"id": id})).await["job"], Value::Null);
        assert_eq!(b.gql_ok(JOB, json!({"id": altered(id)})).await["job"], Value::Null);
    }
    // The global numbers behind them (what the server used to show) find nothing.
    for row in &rows {
        assert_eq!(b.gql_ok(JOB, json!({"id": row.to_string()})).await["job"], Value::Null, "{row}");
    }
    assert_eq!(b.gql_ok(JOB, json!({"id": a_jobs[0]})).await["job"], Value::Null);
}
