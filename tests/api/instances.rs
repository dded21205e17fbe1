//! Three instances on one database with no balancer in front: the test spreads syncs, call
//! reports and subscriptions over them while each runs its own dialer and webhook delivery.
//! Nothing may depend on which instance did what: no call is handed over twice, no event is
//! lost or duplicated on any instance's stream, and the company's pace holds across them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::calls::receiver;
use crate::harness::{
    customer_input, eventually, gql_at, test_secrets, webhook_config, TestApp, WsClient, TRANSPORT_WS,
};
use crate::sync::SYNC;

const CUSTOMERS: usize = 18;
/// The company's calls per second: low enough that three instances' workers compete for it.
const PACE: i64 = 3;

const EVENTS: [(&str, &str); 2] = [
    ("tasks", "subscription { taskEvents { eventId task { id status } } }"),
    ("calls", "subscription { callEvents { eventId call { id status } } }"),
];

/// Customer `i` in Los Angeles (09:00 there at the test's start), with a number of its own so
/// that no call waits on another's recent dial.
fn customer(i: usize) -> Value {
    let mut input = customer_input(&format!("m-{i}"));
    input["phoneNumber"] = json!(format!("+1310555{:04}", 2000 + i));
    input
}

/// The global numbers of the events a subscriber received, per subscription, in arrival order.
type Received = BTreeMap<String, Vec<i64>>;

async fn receive_until(
    ws: &mut WsClient,
    company: uuid::Uuid,
    received: &mut Received,
    expected: &BTreeMap<String, usize>,
) {
    let secrets = test_secrets();
    let ids = secrets.ids();
    while expected.iter().any(|(sub, n)| received.get(sub).map_or(0, Vec::len) < *n) {
        let message = ws.receive(Duration::from_secs(20)).await.expect("the next event in time");
        assert_eq!(message["type"], "next", "{message}");
        let sub = message["id"].as_str().unwrap().to_string();
        let data = &message["payload"]["data"];
        let event = if sub == "tasks" { &data["taskEvents"] } else { &data["callEvents"] };
        let global =
            ids.event(company, event["eventId"].as_str().unwrap()).expect("an event id of the company");
        received.entry(sub).or_default().push(global);
    }
}

#[tokio::test]
async fn three_instances_hand_each_call_over_once_and_stream_every_event_once() {
    let app = TestApp::spawn().await;
    let others = [app.another_instance(), app.another_instance()];
    let urls = [app.base_url.clone(), others[0].base_url.clone(), others[1].base_url.clone()];
    let hook = receiver(0).await;
    app.gql_ok(
        "mutation($url: String!, $pace: Int!) { updateCompanySettings(input: {callWebhookUrl: $url,
            callWebhookSecret: \"a-very-secret-signing-key\", callsPerSecondLimit: $pace}) { id } }",
        json!({"url": hook.url, "pace": PACE}),
    )
    .await;
    // One step, five minutes after the start in the customers' zone.
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Collections\", taskType: \"collections\",
            cadence: [{dayOffset: 0, localTime: \"09:05\"}]}) { id } }",
        json!({}),
    )
    .await;

    // Every instance streams task and call events before anything is written.
    let mut streams = Vec::new();
    for url in &urls {
        let mut ws =
            WsClient::connect(&(url.replacen("http://", "ws://", 1) + "/graphql"), TRANSPORT_WS, None).await;
        ws.init(json!({"apiKey": app.api_key})).await;
        for (id, query) in EVENTS {
            ws.subscribe_live(id, query, json!({})).await;
        }
        streams.push(ws);
    }

    // Syncs spread over the instances; a few customers are synced on all three at once.
    let syncs = (0..CUSTOMERS).map(|i| {
        let (url, key) = (urls[i % 3].clone(), app.api_key.clone());
        async move { gql_at(&url, &key, SYNC, json!({"input": customer(i)})).await }
    });
    let twice = (0..3).flat_map(|i| {
        urls.iter().map(move |url| (url.clone(), i)).map(|(url, i)| {
            let key = app.api_key.clone();
            async move { gql_at(&url, &key, SYNC, json!({"input": customer(i)})).await }
        })
    });
    let (first, again) = tokio::join!(futures::future::join_all(syncs), futures::future::join_all(twice));
    for answer in first.iter().chain(&again) {
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"),
        CUSTOMERS as i64,
        "one schedule's worth of tasks per customer, however many instances synced it"
    );

    // The step comes due; every instance's dialer and webhook delivery competes for the work.
    app.clock.advance(chrono::Duration::minutes(6));
    let config = callsync::dialer::DialerConfig {
        interval: Duration::from_millis(50),
        webhook: webhook_config(),
        ..Default::default()
    };
    let workers: Vec<_> = [&app.background, &others[0].background, &others[1].background]
        .into_iter()
        .map(|db| callsync::dialer::spawn(db.clone(), config.clone(), Default::default()))
        .collect();
    eventually("every call handed over", || async {
        (hook.requests.lock().unwrap().len() >= CUSTOMERS).then_some(())
    })
    .await;

    // Each call's final report goes to two instances at once: one of them moves it.
    let handed: Vec<String> = hook
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            serde_json::from_str::<Value>(body).unwrap()["call"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    let reports = handed.iter().enumerate().flat_map(|(i, call)| {
        [i % 3, (i + 1) % 3].map(|n| {
            let (url, key, call) = (urls[n].clone(), app.api_key.clone(), call.clone());
            async move {
                gql_at(
                    &url,
                    &key,
                    "mutation($id: ID!) { reportCallStatus(input: {callId: $id, status: COMPLETED}) { status } }",
                    json!({"id": call}),
                )
                .await
            }
        })
    });
    let reported = futures::future::join_all(reports).await;
    let moved = reported.iter().filter(|a| a["data"]["reportCallStatus"]["status"] == "COMPLETED").count();
    assert!(moved >= CUSTOMERS, "every call completed: {reported:?}");
    for answer in &reported {
        if let Some(error) = answer.get("errors") {
            assert_eq!(error[0]["extensions"]["code"], "INVALID_TRANSITION", "{answer}");
        }
    }

    // No call handed over twice, and every call was: one call per task.
    let distinct: BTreeSet<&String> = handed.iter().collect();
    assert_eq!(distinct.len(), handed.len(), "a call was handed over twice: {handed:?}");
    assert_eq!(handed.len(), CUSTOMERS);
    assert_eq!(app.count("SELECT count(DISTINCT task_id) AS n FROM calls"), CUSTOMERS as i64);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), CUSTOMERS as i64);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'COMPLETED'"), CUSTOMERS as i64);
    // The pace held across instances: no second with more hand-overs than the limit.
    let busiest = app.count(
        "SELECT coalesce(max((SELECT count(*) FROM calls s WHERE s.webhook_sent_at > c.webhook_sent_at - interval '1 second'
                                   AND s.webhook_sent_at <= c.webhook_sent_at)), 0) AS n
         FROM calls c",
    );
    assert!(busiest <= PACE, "{busiest} calls handed over within one second, the limit is {PACE}");
    // One CALL_STATUS_CHANGED to COMPLETED per call, however many instances were told.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE kind = 'CALL_STATUS_CHANGED' AND payload->'call'->>'status' = 'COMPLETED'"),
        CUSTOMERS as i64
    );

    // Every instance's stream holds every event of its kind once, in the order written.
    let in_table = |kinds: &str| -> Vec<i64> {
        let ids =
            app.count_all(&format!("SELECT id AS n FROM events WHERE kind IN ({kinds}) ORDER BY seq, id"));
        assert!(!ids.is_empty());
        ids
    };
    let written: BTreeMap<String, Vec<i64>> = [
        ("tasks".to_string(), in_table("'TASK_CREATED', 'TASK_STATUS_CHANGED', 'TASK_RESCHEDULED'")),
        ("calls".to_string(), in_table("'CALL_CREATED', 'CALL_STATUS_CHANGED'")),
    ]
    .into();
    let expected: BTreeMap<String, usize> = written.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    for (n, ws) in streams.iter_mut().enumerate() {
        let mut received = Received::new();
        receive_until(ws, app.company_id, &mut received, &expected).await;
        assert_eq!(received, written, "instance {n}'s streams");
    }
    for worker in workers {
        worker.abort();
    }
}
