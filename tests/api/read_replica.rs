//! The read replica (`DATABASE_READ_URL`), against a real streaming standby: a primary cluster
//! of the test's own and a `pg_basebackup -R` copy of it following over streaming replication,
//! both stopped and removed when the test ends (pass or fail). One test walks the scenarios in
//! order, so the clusters are made once.

use std::time::Duration;

use callsync::pg_cluster::LocalCluster;
use callsync::store::ReplicaConfig;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};

use crate::harness::{
    create_schedule, customer_input, eventually, gql_at, TestApp, TestDatabase, WsClient, CREATE_CUSTOMER,
    TRANSPORT_WS,
};

const LIST: &str = "{ customers(first: 100, orderBy: ID) { totalCount nodes { id } } }";

/// The ids a customer list shows `key` through the server at `base`, and its totalCount.
async fn listed(base: &str, key: &str, read_after: Option<&str>) -> (Vec<String>, i64) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header("X-API-Key", key)
        .json(&json!({"query": LIST}));
    if let Some(position) = read_after {
        request = request.header("Callsync-Read-After", position);
    }
    let body: Value = request.send().await.unwrap().json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body:#}");
    let customers = &body["data"]["customers"];
    let ids = customers["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_string());
    (ids.collect(), customers["totalCount"].as_i64().unwrap())
}

const BULK: &str = "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { jobIds } }";
const JOB: &str = "query($id: ID!) { job(id: $id) { status } }";

/// How many tasks a task list counts for `key`.
async fn tasks(base: &str, key: &str) -> i64 {
    let body = gql_at(base, key, "{ tasks(first: 1) { totalCount } }", json!({})).await;
    body["data"]["tasks"]["totalCount"].as_i64().unwrap_or_else(|| panic!("{body:#}"))
}

fn shows(list: &(Vec<String>, i64), id: &str) -> bool {
    list.0.iter().any(|listed| listed == id)
}

async fn readyz(base: &str) -> (u16, String) {
    let response = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Until the server at `base` says its replica line contains `state`.
async fn replica_says(base: &str, state: &str) -> String {
    eventually(&format!("{base}/readyz says the replica is {state}"), || async move {
        let (status, body) = readyz(base).await;
        assert_eq!(status, 200, "{body}");
        body.lines().any(|line| line.starts_with("replica:") && line.contains(state)).then_some(body)
    })
    .await
}

async fn metric(base: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in {text}"));
    line[name.len()..].trim().parse().unwrap()
}

fn on_standby(standby: &LocalCluster, sql: &str) {
    let mut conn = PgConnection::establish(&standby.url("postgres")).expect("connect to the standby");
    diesel::sql_query(sql).execute(&mut conn).expect("SQL on the standby");
}

fn replay_state(standby: &LocalCluster) -> String {
    #[derive(QueryableByName)]
    struct State {
        #[diesel(sql_type = diesel::sql_types::Text)]
        state: String,
    }
    let mut conn = PgConnection::establish(&standby.url("postgres")).expect("connect to the standby");
    diesel::sql_query("SELECT pg_get_wal_replay_pause_state() AS state")
        .get_result::<State>(&mut conn)
        .expect("replay state")
        .state
}

/// Creates a customer through the server at `base` as `key`; returns its `Callsync-Write-Position`.
async fn create_customer(base: &str, key: &str, id: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header("X-API-Key", key)
        .json(&json!({"query": CREATE_CUSTOMER, "variables": {"input": customer_input(id)}}))
        .send()
        .await
        .unwrap();
    let position = response.headers().get("callsync-write-position").map(|v| v.to_str().unwrap().to_string());
    let body: Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body:#}");
    position.expect("a write answers with Callsync-Write-Position")
}

#[tokio::test]
async fn stale_tolerant_reads_use_the_replica_while_it_keeps_up_and_see_the_clients_own_writes() {
    // Dropped in reverse: the servers, then the standby, then the primary.
    let primary = LocalCluster::start_temporary().expect("a primary cluster");
    let db = TestDatabase::create_on(&primary.url("postgres"));
    let standby = primary.start_standby().expect("a streaming standby (pg_basebackup -R)");
    let read_url = standby.url(&db.name);
    // Never lags past an hour in this test: its reads stay on the replica while replay is paused.
    let patient = ReplicaConfig::new(&read_url, Duration::from_secs(3600));
    let app = TestApp::spawn_with_replica(db, &patient).await;
    let other = app.another_instance_with_replica(&patient);
    let strict =
        app.another_instance_with_replica(&ReplicaConfig::new(&read_url, Duration::from_millis(200)));
    for base in [&app.base_url, &other.base_url, &strict.base_url] {
        replica_says(base, "in use").await;
    }
    create_schedule(&app, "collections").await;
    let issued = app
        .gql_ok("mutation { createApiKey(label: \"reader\", scope: READ_ONLY) { apiKey } }", json!({}))
        .await;
    let reader = issued["createApiKey"]["apiKey"].as_str().unwrap().to_string();
    let writer = app.api_key.clone();
    create_customer(&app.base_url, &writer, "c-0").await;
    eventually("the replica replays c-0", || async {
        shows(&listed(&app.base_url, &reader, None).await, "c-0").then_some(())
    })
    .await;

    // (a) Replay paused, a row written on the primary behind the server's back: lists, counts
    // and exports come from the replica, which does not have it; a lookup by id (not a
    // stale-tolerant read) comes from the primary, which does.
    on_standby(&standby, "SELECT pg_wal_replay_pause()");
    app.execute(&format!(
        "INSERT INTO customers (company_id, external_id, first_name, last_name, phone_number, timezone, task_type,
                                state, zip_code, created_at, updated_at)
         VALUES ('{0}', 'behind-1', 'Back', 'Door', '+13105550001', 'America/Los_Angeles', 'collections', 'CA',
                 '90001', '{1}', '{1}')",
        app.company_id,
        app.clock.now().to_rfc3339()
    ));
    eventually("replay pauses", || async { (replay_state(&standby) == "paused").then_some(()) }).await;
    let list = listed(&app.base_url, &reader, None).await;
    assert_eq!(list, (vec!["c-0".to_string()], 1), "the replica's list");
    let rest = app
        .client
        .get(format!("{}/v1/customers", app.base_url))
        .header("X-API-Key", &reader)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(rest["total_count"], 1, "{rest:#}");
    let export = app
        .client
        .get(format!("{}/export/customers.csv", app.base_url))
        .header("X-API-Key", &reader)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(export.contains("c-0") && !export.contains("behind-1"), "{export}");
    let found = app.gql_as(Some(&reader), "{ customer(id: \"behind-1\") { id } }", json!({})).await;
    assert_eq!(found["data"]["customer"]["id"], "behind-1", "{found:#}");

    // (d) The instance whose limit is 200 ms sees the replica lag past it and reads from the
    // primary; the patient ones still use it.
    let said = replica_says(&strict.base_url, "skipped").await;
    assert!(said.contains("replica: up, lag"), "{said}");
    assert!(shows(&listed(&strict.base_url, &reader, None).await, "behind-1"));
    assert!(readyz(&app.base_url).await.1.contains("in use"));

    // (b) Read-your-writes: the writer's next list shows its write (the replica has not
    // replayed it: the primary answers), while another key's list is still the replica's.
    let position = create_customer(&app.base_url, &writer, "c-1").await;
    let mine = listed(&app.base_url, &writer, None).await;
    assert!(shows(&mine, "c-1") && shows(&mine, "behind-1"), "{mine:?}");
    assert!(!shows(&listed(&app.base_url, &reader, None).await, "c-1"));
    // Another instance knows nothing of the write, unless the client sends its position.
    assert!(!shows(&listed(&other.base_url, &writer, None).await, "c-1"));
    assert!(shows(&listed(&other.base_url, &reader, Some(&position)).await, "c-1"));
    // Over a WebSocket too: its lists wait for its key's writes, and its writes are its key's.
    let issued =
        app.gql_ok("mutation { createApiKey(label: \"socket\", scope: FULL) { apiKey } }", json!({})).await;
    let socket_key = issued["createApiKey"]["apiKey"].as_str().unwrap().to_string();
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    ws.init(json!({"apiKey": writer})).await;
    ws.subscribe("list", LIST, json!({})).await;
    let seen = ws.next_data(Duration::from_secs(10)).await.expect("the list over the WebSocket");
    assert!(seen.to_string().contains("\"c-1\""), "{seen}");
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    ws.init(json!({"apiKey": socket_key})).await;
    ws.subscribe("create", CREATE_CUSTOMER, json!({"input": customer_input("c-ws")})).await;
    let created = ws.next_data(Duration::from_secs(10)).await.expect("the mutation's answer");
    assert_eq!(created["data"]["createCustomer"]["id"], "c-ws", "{created}");
    assert!(shows(&listed(&app.base_url, &socket_key, None).await, "c-ws"));
    assert!(!shows(&listed(&app.base_url, &reader, None).await, "c-ws"));
    // Work a request left to the background: once a client has seen the job DONE, its lists
    // include what the job built.
    let campaign = app
        .gql_ok(
            "mutation { createSchedule(input: {name: \"Campaign\", taskType: \"campaign\"}) { id } }",
            json!({}),
        )
        .await;
    let mut record = customer_input("c-job");
    record["phoneNumber"] = json!("+13105550077");
    record["taskType"] = json!("campaign");
    let input =
        json!({"scheduleId": campaign["createSchedule"]["id"], "records": [record], "useWorkflow": true});
    let bulk = app.gql_ok(BULK, json!({"input": input})).await;
    let job = bulk["bulkAddCustomers"]["jobIds"][0].as_str().unwrap().to_string();
    assert_eq!(tasks(&app.base_url, &reader).await, 0, "the replica has none of it");
    assert_eq!(callsync::dialer::run_jobs(&app.background).await.unwrap(), 1);
    let seen = app.gql_as(Some(&reader), JOB, json!({"id": job})).await;
    assert_eq!(seen["data"]["job"]["status"], "DONE", "{seen:#}");
    assert!(tasks(&app.base_url, &reader).await > 0, "the job's tasks");
    let malformed = app
        .client
        .get(format!("{}/v1/customers", app.base_url))
        .header("X-API-Key", &reader)
        .header("Callsync-Read-After", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    // Replay resumes: the replica catches up, the strict instance uses it again, and every
    // list shows what was written.
    on_standby(&standby, "SELECT pg_wal_replay_resume()");
    replica_says(&strict.base_url, "in use").await;
    eventually("the replica replays c-1", || async {
        shows(&listed(&app.base_url, &reader, None).await, "c-1").then_some(())
    })
    .await;

    // (e) /metrics: the lag gauge, whether reads use the replica, and where they ran.
    assert!(metric(&app.base_url, "callsync_replica_lag_seconds").await >= 0.0);
    assert_eq!(metric(&app.base_url, "callsync_replica_in_use").await, 1.0);
    assert!(metric(&app.base_url, "callsync_stale_reads_total{database=\"replica\"}").await >= 3.0);
    assert!(metric(&app.base_url, "callsync_stale_reads_total{database=\"primary\"}").await >= 1.0);

    // (c) The replica stops: lists answer from the primary, /readyz stays 200 and says so.
    standby.stop_immediately().expect("stop the standby");
    let said = replica_says(&app.base_url, "down").await;
    assert!(said.starts_with("ready\nprimary: up\n"), "{said}");
    let list = listed(&app.base_url, &reader, None).await;
    assert_eq!(list.1, 5, "{list:?}");
    assert_eq!(metric(&app.base_url, "callsync_replica_in_use").await, 0.0);
    assert_eq!(metric(&app.base_url, "callsync_replica_up").await, 0.0);
    // Writes never touched the replica.
    create_customer(&app.base_url, &writer, "c-2").await;
    assert!(shows(&listed(&app.base_url, &reader, None).await, "c-2"));
}
