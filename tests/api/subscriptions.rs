//! Subscriptions over a real WebSocket: order, tenancy, auth, resume, two instances,
//! a killed listener connection, both protocols.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{customer_input, eventually, TestApp, WsClient, LEGACY_WS, TRANSPORT_WS};
use crate::sync::{create_collections_schedule, SYNC};

const TASK_EVENTS: &str = "subscription($filter: TaskEventFilter, $after: ID) {
    taskEvents(filter: $filter, afterEventId: $after) {
        eventId kind previousStatus occurredAt task { id status attempt customer { id } } } }";

const WAIT: Duration = Duration::from_secs(10);

async fn subscriber(app: &TestApp, url: &str, protocol: &str, variables: Value) -> WsClient {
    let mut ws = WsClient::connect(url, protocol, None).await;
    let ack = ws.init(json!({"apiKey": app.api_key})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws.subscribe_live("1", TASK_EVENTS, variables).await;
    ws
}

async fn sync(app: &TestApp, id: &str) -> Value {
    app.gql_ok(SYNC, json!({"input": customer_input(id)})).await["syncCustomerSchedule"].clone()
}

/// The next `n` task events: (eventId, kind, task id, task status, previousStatus).
async fn events(ws: &mut WsClient, n: usize) -> Vec<(String, String, String, String, Value)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let payload = ws.next_data(WAIT).await.expect("an event in time");
        assert!(payload.get("errors").is_none(), "{payload}");
        let e = &payload["data"]["taskEvents"];
        out.push((
            e["eventId"].as_str().unwrap().to_string(),
            e["kind"].as_str().unwrap().to_string(),
            e["task"]["id"].as_str().unwrap().to_string(),
            e["task"]["status"].as_str().unwrap().to_string(),
            e["previousStatus"].clone(),
        ));
    }
    out
}

/// The global event number behind an event id of the test company.
fn global(app: &TestApp, event_id: &str) -> i64 {
    crate::harness::test_secrets().ids().event(app.company_id, event_id).expect("an event id of the company")
}

fn task_ids(sync: &Value) -> Vec<String> {
    sync["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_sync_streams_created_then_cancelled_in_order_on_both_protocols() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let id = format!("order-{protocol}");
        let mut ws = subscriber(&app, &app.ws_url(), protocol, json!({"filter": {"customerId": id}})).await;
        let first = sync(&app, &id).await;
        let created = events(&mut ws, 3).await;
        assert!(created.iter().all(|e| e.1 == "CREATED" && e.3 == "PENDING" && e.4.is_null()), "{created:?}");
        assert_eq!(created.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), task_ids(&first));

        let second = sync(&app, &id).await;
        let next = events(&mut ws, 6).await;
        let (cancelled, recreated) = next.split_at(3);
        for e in cancelled {
            assert_eq!(
                (e.1.as_str(), e.3.as_str(), e.4.clone()),
                ("STATUS_CHANGED", "CANCELLED", json!("PENDING"))
            );
        }
        assert_eq!(cancelled.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), task_ids(&first));
        assert_eq!(recreated.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), task_ids(&second));
        // Event ids are opaque; the test's key opens them to the global order they follow.
        let ids: Vec<i64> = created.iter().chain(next.iter()).map(|e| global(&app, &e.0)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        ws.close().await;
    }
}

#[tokio::test]
async fn filters_and_other_companies() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let (_, other_key) = app.new_company("Other");
    let other = Some(other_key.as_str());
    app.gql_as(
        other,
        "mutation { createSchedule(input: {name: \"Mine\", taskType: \"collections\"}) { id } }",
        json!({}),
    )
    .await;

    // The other company's subscriber, and a status-filtered one of ours.
    let mut theirs = WsClient::connect(&app.ws_url(), TRANSPORT_WS, Some(&other_key)).await;
    assert_eq!(
        theirs.init(json!({})).await["type"],
        "connection_ack",
        "the upgrade header's key is accepted"
    );
    theirs.subscribe_live("1", TASK_EVENTS, json!({})).await;
    let mut cancelled_only =
        subscriber(&app, &app.ws_url(), TRANSPORT_WS, json!({"filter": {"status": ["CANCELLED"]}})).await;

    sync(&app, "mine").await;
    sync(&app, "mine").await;
    let cancelled = events(&mut cancelled_only, 3).await;
    assert!(cancelled.iter().all(|e| e.3 == "CANCELLED"));
    // The other company sees only its own sync (a sentinel proving the stream is live).
    let theirs_sync = app.gql_as(other, SYNC, json!({"input": customer_input("theirs")})).await;
    let theirs_ids = task_ids(&theirs_sync["data"]["syncCustomerSchedule"]);
    let seen = events(&mut theirs, theirs_ids.len()).await;
    assert_eq!(seen.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), theirs_ids);
    // Nothing else: a later sync of theirs arrives next (events arrive in commit order).
    let last = app.gql_as(other, SYNC, json!({"input": customer_input("theirs-2")})).await;
    let last_ids = task_ids(&last["data"]["syncCustomerSchedule"]);
    let next = events(&mut theirs, last_ids.len()).await;
    assert_eq!(next.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), last_ids);
}

#[tokio::test]
async fn bad_or_missing_keys_are_refused_with_4403() {
    let app = TestApp::spawn().await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        for payload in [json!({"apiKey": "csk_wrong"}), json!({"X-API-Key": "nope"}), json!({})] {
            let mut ws = WsClient::connect(&app.ws_url(), protocol, None).await;
            let mut answer = ws.init(payload.clone()).await;
            if protocol == LEGACY_WS {
                assert_eq!(answer["type"], "connection_error", "{answer}");
                answer = ws.receive(WAIT).await.unwrap();
            }
            assert_eq!(answer["close"], 4403, "{protocol} {payload}: {answer}");
        }
    }
    // A valid key in the payload wins; in the header it is enough.
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    assert_eq!(ws.init(json!({"X-API-Key": app.api_key})).await["type"], "connection_ack");
}

#[tokio::test]
async fn resuming_after_a_disconnect_gets_exactly_what_was_missed() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let mut ws = subscriber(&app, &app.ws_url(), TRANSPORT_WS, json!({})).await;
    sync(&app, "r-1").await;
    let seen = events(&mut ws, 3).await;
    ws.close().await;

    // Missed while away: cancellations and new tasks of r-1, and r-2's tasks.
    let second = sync(&app, "r-1").await;
    let third = sync(&app, "r-2").await;
    let last = seen.last().unwrap().0.clone();
    let mut resumed = subscriber(&app, &app.ws_url(), TRANSPORT_WS, json!({"after": last})).await;
    let missed = events(&mut resumed, 9).await;
    let mut expected: Vec<String> = seen.iter().map(|e| e.2.clone()).collect();
    expected.extend(task_ids(&second));
    expected.extend(task_ids(&third));
    assert_eq!(missed.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), expected);
    assert!(missed.iter().all(|e| global(&app, &e.0) > global(&app, &last)));
    // And then it is live, with no duplicate at the seam.
    let fourth = sync(&app, "r-3").await;
    let live = events(&mut resumed, 3).await;
    assert_eq!(live.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), task_ids(&fourth));
    // Nothing twice: a later sync's events arrive next (events arrive in commit order).
    let fifth = sync(&app, "r-4").await;
    let next = events(&mut resumed, 3).await;
    assert_eq!(next.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), task_ids(&fifth));

    // An id that is not a retained event of ours is a clear error.
    let mut bad = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    bad.init(json!({"apiKey": app.api_key})).await;
    bad.subscribe("1", TASK_EVENTS, json!({"after": "999999999"})).await;
    let answer = bad.receive(WAIT).await.unwrap();
    // Raised by the field resolver, so it arrives as a result with errors.
    assert_eq!(answer["type"], "next", "{answer}");
    let error = &answer["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
    assert_eq!(error["extensions"]["field"], "afterEventId");
}

#[tokio::test]
async fn a_mutation_on_one_instance_reaches_a_subscriber_on_another() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let second = app.another_instance();
    let mut ws = subscriber(&app, &second.ws_url(), TRANSPORT_WS, json!({})).await;
    let synced = sync(&app, "cross").await;
    let seen = events(&mut ws, 3).await;
    assert_eq!(seen.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), task_ids(&synced));
}

#[tokio::test]
async fn the_listener_survives_a_killed_connection_without_losing_events() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let second = app.another_instance();
    let mut ws = subscriber(&app, &second.ws_url(), TRANSPORT_WS, json!({})).await;
    let kill = format!(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
         WHERE datname = '{}' AND application_name = 'callsync-events'",
        app.db.name
    );
    assert_eq!(app.count(&kill), 2, "both instances' listeners were connected");
    // Written while the listeners reconnect: delivered once they are back.
    let during = sync(&app, "k-1").await;
    let after = sync(&app, "k-2").await;
    let seen = events(&mut ws, 6).await;
    let mut expected = task_ids(&during);
    expected.extend(task_ids(&after));
    assert_eq!(seen.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), expected);
    // No duplicates: a later sync's events arrive next (events arrive in commit order).
    let last = sync(&app, "k-3").await;
    let next = events(&mut ws, 3).await;
    assert_eq!(next.iter().map(|e| e.2.clone()).collect::<Vec<_>>(), task_ids(&last), "no duplicates");
}

#[tokio::test]
async fn subscriptions_per_connection_are_limited() {
    let app = TestApp::spawn().await;
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    ws.init(json!({"apiKey": app.api_key})).await;
    for i in 0..100 {
        ws.subscribe(&i.to_string(), TASK_EVENTS, json!({})).await;
    }
    ws.subscribe("over", TASK_EVENTS, json!({})).await;
    let refused = ws.receive(WAIT).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "over");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
}

#[tokio::test]
async fn a_lagging_subscriber_catches_up_from_the_table() {
    use callsync::events::stream::{self, Selection};
    use callsync::events::{EventHub, HubConfig, Topic};
    use callsync::store::events::{TASK_CREATED, TASK_STATUS_CHANGED};
    use futures::StreamExt;

    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    // A hub whose buffer holds 2 events: 9 events unread make the subscriber lag.
    let hub = EventHub::start(
        &app.db.url,
        HubConfig { channel_capacity: 2, customer_channel_capacity: 2, ..HubConfig::default() },
    );
    let db = callsync::store::Db::new(callsync::store::connect_pool(&app.db.url, 2).unwrap());
    // A hub broadcasts only what settles after it starts (older events are replayed, not sent).
    eventually("the hub started", || async { hub.has_started().then_some(()) }).await;
    let selection = Selection { kinds: &[TASK_CREATED, TASK_STATUS_CHANGED], matches: Box::new(|_| true) };
    let mut events = Box::pin(stream::subscribe(&hub, db, Topic::company(app.company_id), selection, None));
    let mut expected = Vec::new();
    for id in ["lag-1", "lag-2", "lag-3"] {
        expected.extend(task_ids(&sync(&app, id).await));
    }
    // Not read until the hub has broadcast them all, so the subscriber lags.
    let last = (
        app.count("SELECT seq AS n FROM events ORDER BY seq DESC, id DESC LIMIT 1"),
        app.count("SELECT id AS n FROM events ORDER BY seq DESC, id DESC LIMIT 1"),
    );
    eventually("the hub broadcast every event", || async { (hub.delivered() >= last).then_some(()) }).await;
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        let event = tokio::time::timeout(WAIT, events.next()).await.expect("in time").expect("open").unwrap();
        seen.push(event.payload["task"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn pruned_events_cannot_be_resumed_from() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let mut ws = subscriber(&app, &app.ws_url(), TRANSPORT_WS, json!({})).await;
    sync(&app, "old").await;
    let first = events(&mut ws, 3).await;
    ws.close().await;
    // Retention: everything created before tomorrow goes (events carry the server clock's instant).
    let cutoff = app.clock.now() + chrono::Duration::days(1);
    let mut conn = app.db.connect();
    let pruned = callsync::store::events::prune(&mut conn, cutoff, 1000).unwrap();
    assert_eq!(pruned, 3);
    let mut resumed = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    resumed.init(json!({"apiKey": app.api_key})).await;
    resumed.subscribe("1", TASK_EVENTS, json!({"after": first[0].0})).await;
    let answer = resumed.receive(WAIT).await.unwrap();
    assert_eq!(answer["payload"]["errors"][0]["extensions"]["field"], "afterEventId", "{answer}");
}

#[tokio::test]
async fn fragmented_messages_work_and_events_show_current_data() {
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    let ack = ws.init(json!({"apiKey": app.api_key})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    // The subscribe message arrives in three continuation frames.
    let query = "subscription { taskEvents(filter: {customerId: \"frag\"}) { kind task { customer { firstName } } } }";
    let before = ws.server_subscriptions().await;
    ws.send_fragmented(json!({"id": "1", "type": "subscribe", "payload": {"query": query}}), 3).await;
    ws.until_registered(before).await;
    let mut input = customer_input("frag");
    app.gql_ok(SYNC, json!({"input": input.clone()})).await;
    let first = ws.next_data(WAIT).await.expect("an event");
    assert_eq!(first["data"]["taskEvents"]["task"]["customer"]["firstName"], "Ada", "{first}");
    for _ in 1..3 {
        ws.next_data(WAIT).await.expect("the sync's other events");
    }
    // The connection's loaders keep no cache: a later event shows the customer as it is now.
    input["firstName"] = json!("Augusta");
    app.gql_ok(SYNC, json!({"input": input})).await;
    let later = ws.next_data(WAIT).await.expect("an event");
    assert_eq!(later["data"]["taskEvents"]["task"]["customer"]["firstName"], "Augusta", "{later}");
    ws.close().await;
}

#[tokio::test]
async fn one_tasks_events_arrive_in_version_order_when_transactions_commit_out_of_id_order() {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn().await;
    create_collections_schedule(&app).await;
    sync(&app, "race").await;
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    let ack = ws.init(json!({"apiKey": app.api_key})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let query =
        "subscription { taskEvents(filter: {customerId: \"race\"}) { kind task { id version status } } }";
    ws.subscribe_live("1", query, json!({})).await;

    // A transaction takes its id first (as a job that locks customers early would)...
    let mut early = app.db.connect();
    diesel::sql_query("BEGIN").execute(&mut early).unwrap();
    diesel::sql_query("SELECT pg_current_xact_id()").execute(&mut early).unwrap();
    // ...then a sync, with a later transaction id, replaces the tasks and commits first...
    sync(&app, "race").await;
    // ...and only then the early transaction rebuilds the same schedule (cancelling the sync's
    // new tasks: their version 2) and commits.
    let customer = app.count("SELECT id AS n FROM customers WHERE external_id = 'race'");
    let now = app.clock.now();
    callsync::app::customers::rebuild_schedules(&mut early, app.company_id, &[customer], now).unwrap();
    diesel::sql_query("COMMIT").execute(&mut early).unwrap();

    // 3 cancelled + 3 created by the sync, 3 cancelled + 3 created by the early transaction.
    let mut seen: std::collections::HashMap<String, i64> = Default::default();
    for _ in 0..12 {
        let payload = ws.next_data(WAIT).await.expect("an event in time");
        let task = &payload["data"]["taskEvents"]["task"];
        let (id, version) = (task["id"].as_str().unwrap().to_string(), task["version"].as_i64().unwrap());
        if let Some(previous) = seen.insert(id.clone(), version) {
            assert!(version > previous, "task {id}: version {version} arrived after {previous}");
        } else {
            // The first event of a task seen here is its creation or the cancel of an old one.
            assert!(version == 1 || task["status"] == "CANCELLED", "{payload}");
        }
    }
    ws.close().await;
}
