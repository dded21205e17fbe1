//! Starts the real server on a random loopback port against a fresh database per test.
//!
//! The Postgres server is `DATABASE_URL` when set (a role that may CREATE DATABASE), else a
//! throwaway local cluster started once for this test binary and removed when it exits.

use std::net::TcpListener;
use std::sync::OnceLock;

use callsync::events::HubConfig;
use callsync::pg_cluster::LocalCluster;
use callsync::store;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{json, Value};
use uuid::Uuid;

/// The admin URL of the Postgres server the tests create their databases on.
pub fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    static CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            let cluster = CLUSTER
                .get_or_init(|| LocalCluster::start_temporary().expect("start a throwaway Postgres cluster"));
            cluster.url("postgres")
        }
    })
}

/// `admin_url` with its database replaced by `name`.
pub fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(admin_url()).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A fresh, migrated database, dropped (with its connections) when this value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    /// The server's admin URL (where the database is dropped from).
    pub admin: String,
}

impl TestDatabase {
    pub fn create() -> TestDatabase {
        TestDatabase::create_on(admin_url())
    }

    /// On the Postgres server at `admin` (a test's own cluster).
    pub fn create_on(admin: &str) -> TestDatabase {
        let name = format!("callsync_test_{}", Uuid::new_v4().simple());
        store::create_database_if_missing(admin, &name).expect("create test database");
        let mut url = url::Url::parse(admin).expect("an admin URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let mut conn = PgConnection::establish(&url).expect("connect to test database");
        store::run_migrations(&mut conn).expect("migrate test database");
        TestDatabase { name, url, admin: admin.to_string() }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
                .execute(&mut conn);
        }
    }
}

/// Where every test server's clock starts unless the test picks another instant: Tuesday
/// 2026-12-01 17:00 UTC = 12:00 in New York, 09:00 in Los Angeles, 07:00 in Honolulu and
/// 03:00 (Wednesday) in Guam. Fixed, so that no test depends on the hour the suite runs at.
pub const TEST_START: &str = "2026-12-01T17:00:00Z";

pub fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text).expect("an RFC 3339 instant").with_timezone(&chrono::Utc)
}

/// Every test server's `CALLSYNC_SECRET_KEY` unless the test says otherwise (fixed, so that
/// another instance and the tests' own webhook rounds read what a server sealed).
pub const TEST_SECRET_KEY: &str = "Y2FsbHN5bmMgdGVzdCBrZXksIG5ldmVyIGluIHByb2Q=";

/// Seals and opens with [`TEST_SECRET_KEY`].
pub fn test_secrets() -> callsync::secrets::Secrets {
    callsync::secrets::Secrets::new(Some(callsync::secrets::SecretKey::parse(TEST_SECRET_KEY).unwrap()))
}

/// Test servers reach the tests' own receivers on loopback (an LMS, a webhook receiver) and
/// seal secrets with [`TEST_SECRET_KEY`].
pub fn options(clock: &callsync::clock::Clock) -> callsync::http::AppOptions {
    callsync::http::AppOptions {
        clock: clock.clone(),
        network: callsync::net::NetworkPolicy { allow_private: true },
        secrets: test_secrets(),
        metrics_token: None,
        ..Default::default()
    }
}

/// Every test server's pools unless the test says otherwise: 8 connections, 2 of them the
/// background workers', the production timeouts.
pub fn test_pools() -> store::PoolConfig {
    store::PoolConfig::sized(8, 2)
}

/// A running server with its own database and one company ("Acme") with an API key.
pub struct TestApp {
    /// The server's clock: starts at [`TEST_START`] (or the test's instant) and runs on.
    pub clock: callsync::clock::Clock,
    /// The server's database handle for the request path (its commits wake the server's event
    /// hub).
    pub store: callsync::store::Db,
    /// The handle the server's background workers use: its reserved connections.
    pub background: callsync::store::Db,
    /// How the server's pools were split and bounded (a restart uses the same).
    pub pool_config: store::PoolConfig,
    pub base_url: String,
    pub api_key: String,
    pub company_id: Uuid,
    pub client: reqwest::Client,
    pub handle: actix_web::dev::ServerHandle,
    /// What the server was started with (a restart starts it the same way).
    pub options: callsync::http::AppOptions,
    // Dropped last: the database goes once the server is done with it.
    pub db: TestDatabase,
}

impl TestApp {
    /// A server whose clock starts at [`TEST_START`].
    pub async fn spawn() -> TestApp {
        TestApp::spawn_at(utc(TEST_START)).await
    }

    /// A server whose clock starts at `start` and runs on from there.
    pub async fn spawn_at(start: chrono::DateTime<chrono::Utc>) -> TestApp {
        TestApp::spawn_with(start, true).await
    }

    /// A server as in production: outbound requests reach public addresses only.
    pub async fn spawn_public_only() -> TestApp {
        TestApp::spawn_with(utc(TEST_START), false).await
    }

    async fn spawn_with(start: chrono::DateTime<chrono::Utc>, allow_private: bool) -> TestApp {
        TestApp::spawn_configured(start, |options| options.network.allow_private = allow_private).await
    }

    /// A server whose options `configure` changes from the tests' defaults ([`options`]), e.g.
    /// one without a secret key (`options.secrets = Default::default()`).
    pub async fn spawn_configured(
        start: chrono::DateTime<chrono::Utc>,
        configure: impl FnOnce(&mut callsync::http::AppOptions),
    ) -> TestApp {
        TestApp::spawn_on(TestDatabase::create(), start, configure).await
    }

    /// A server whose LMS requests give up after `timeout` (production waits 5 s).
    pub async fn spawn_with_lms_timeout(timeout: std::time::Duration) -> TestApp {
        TestApp::spawn_configured(utc(TEST_START), |options| options.lms_timeout = Some(timeout)).await
    }

    /// A server on the Postgres server at `admin` (a test's own cluster, to restart it).
    pub async fn spawn_on_server(admin: &str) -> TestApp {
        TestApp::spawn_on(TestDatabase::create_on(admin), utc(TEST_START), |_| {}).await
    }

    async fn spawn_on(
        db: TestDatabase,
        start: chrono::DateTime<chrono::Utc>,
        configure: impl FnOnce(&mut callsync::http::AppOptions),
    ) -> TestApp {
        TestApp::spawn_with_pools(db, start, test_pools(), None, configure).await
    }

    /// A server on `db` (a test's own cluster) whose stale-tolerant reads go to `replica`.
    pub async fn spawn_with_replica(db: TestDatabase, replica: &store::ReplicaConfig) -> TestApp {
        TestApp::spawn_with_pools(db, utc(TEST_START), test_pools(), Some(replica), |_| {}).await
    }

    /// A server whose pools are split and bounded as `pools` says (its statement timeouts, its
    /// connections reserved for background work), with options as [`Self::spawn_configured`].
    pub async fn spawn_with_pool_config(
        pools: store::PoolConfig,
        configure: impl FnOnce(&mut callsync::http::AppOptions),
    ) -> TestApp {
        TestApp::spawn_with_pools(TestDatabase::create(), utc(TEST_START), pools, None, configure).await
    }

    async fn spawn_with_pools(
        db: TestDatabase,
        start: chrono::DateTime<chrono::Utc>,
        pools: store::PoolConfig,
        replica: Option<&store::ReplicaConfig>,
        configure: impl FnOnce(&mut callsync::http::AppOptions),
    ) -> TestApp {
        let clock = callsync::clock::Clock::starting_at(start);
        let (company_id, api_key) = create_company(&db.url, "Acme");
        let pool_config = pools;
        let pools = store::ServerPools::connect(&db.url, &pool_config).expect("pools");
        let pools = match replica {
            Some(replica) => pools.with_replica(&db.url, replica, &pool_config).expect("replica pool"),
            None => pools,
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
        let mut options = options(&clock);
        configure(&mut options);
        let state =
            callsync::http::AppState::with_options(pools, &db.url, HubConfig::default(), options.clone());
        let store = state.db().clone();
        let background = state.background_db().clone();
        let (server, addr) = callsync::http::serve(listener, state, 2).expect("start server");
        let handle = server.handle();
        tokio::spawn(server);
        TestApp {
            clock,
            store,
            background,
            pool_config,
            base_url: format!("http://{addr}"),
            api_key,
            company_id,
            client: reqwest::Client::new(),
            handle,
            options,
            db,
        }
    }

    /// Stops this server at once, as a crash or a deploy would (open WebSockets drop).
    pub async fn stop_server(&self) {
        self.handle.stop(false).await;
    }

    /// Starts a new server on the same address, database and clock (after [`Self::stop_server`]).
    pub async fn restart_server(&mut self) {
        let addr = self.base_url.trim_start_matches("http://").to_string();
        let mut listener = TcpListener::bind(&addr);
        for _ in 0..50 {
            if listener.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            listener = TcpListener::bind(&addr);
        }
        let listener = listener.expect("bind the same address again");
        let pools = store::ServerPools::connect(&self.db.url, &self.pool_config).expect("pools");
        let state = callsync::http::AppState::with_options(
            pools,
            &self.db.url,
            HubConfig::default(),
            self.options.clone(),
        );
        self.store = state.db().clone();
        self.background = state.background_db().clone();
        let (server, _) = callsync::http::serve(listener, state, 2).expect("restart server");
        self.handle = server.handle();
        tokio::spawn(server);
    }

    /// Another company on the same server: (company id, API key).
    pub fn new_company(&self, name: &str) -> (Uuid, String) {
        create_company(&self.db.url, name)
    }

    /// POSTs a GraphQL request with `api_key` (None: no key) and returns the JSON body.
    pub async fn gql_as(&self, api_key: Option<&str>, query: &str, variables: Value) -> Value {
        self.post_graphql(api_key, &json!({ "query": query, "variables": variables })).await
    }

    /// POSTs `body` to /graphql as it is (one request or a batch) and returns the JSON answer.
    pub async fn post_graphql(&self, api_key: Option<&str>, body: &Value) -> Value {
        let mut req = self.client.post(format!("{}/graphql", self.base_url)).json(body);
        if let Some(key) = api_key {
            req = req.header("X-API-Key", key);
        }
        let resp = req.send().await.expect("POST /graphql");
        resp.json().await.expect("a JSON body")
    }

    /// As the test company.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(Some(&self.api_key), query, variables).await
    }

    /// As the test company; panics on any error and returns `data`.
    pub async fn gql_ok(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base_url)).send().await.expect("GET")
    }

    /// Runs one SQL statement against the test database (e.g. to inject a fault).
    pub fn execute(&self, sql: &str) {
        let mut conn = self.db.connect();
        diesel::sql_query(sql).execute(&mut conn).expect("SQL statement");
    }

    /// Runs SQL against the test database and returns the first column of the first row.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.connect();
        diesel::sql_query(sql).get_result::<Count>(&mut conn).expect("count query").n
    }

    /// Runs SQL against the test database and returns the first column (`n`) of every row.
    pub fn count_all(&self, sql: &str) -> Vec<i64> {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.connect();
        diesel::sql_query(sql).load::<Count>(&mut conn).expect("a query").into_iter().map(|c| c.n).collect()
    }
}

impl TestApp {
    /// A second server instance on the same database (its own pool and event hub).
    pub fn another_instance(&self) -> Instance {
        self.another_instance_with(self.options.clone())
    }

    /// A second instance started with other `options` (e.g. another secret key).
    pub fn another_instance_with(&self, options: callsync::http::AppOptions) -> Instance {
        let pools = store::ServerPools::connect(&self.db.url, &self.pool_config).expect("pools");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
        let state =
            callsync::http::AppState::with_options(pools, &self.db.url, HubConfig::default(), options);
        let background = state.background_db().clone();
        let (server, addr) = callsync::http::serve(listener, state, 2).expect("start server");
        let handle = server.handle();
        tokio::spawn(server);
        Instance { base_url: format!("http://{addr}"), handle, background }
    }

    /// A second instance whose stale-tolerant reads go to `replica`.
    pub fn another_instance_with_replica(&self, replica: &store::ReplicaConfig) -> Instance {
        let pools = store::ServerPools::connect(&self.db.url, &self.pool_config)
            .and_then(|pools| pools.with_replica(&self.db.url, replica, &self.pool_config))
            .expect("pools");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
        let state = callsync::http::AppState::with_options(
            pools,
            &self.db.url,
            HubConfig::default(),
            self.options.clone(),
        );
        let background = state.background_db().clone();
        let (server, addr) = callsync::http::serve(listener, state, 2).expect("start server");
        let handle = server.handle();
        tokio::spawn(server);
        Instance { base_url: format!("http://{addr}"), handle, background }
    }

    pub fn ws_url(&self) -> String {
        self.base_url.replacen("http://", "ws://", 1) + "/graphql"
    }
}

pub struct Instance {
    pub base_url: String,
    pub handle: actix_web::dev::ServerHandle,
    /// The handle this instance's background workers would run on (a test may start them).
    pub background: callsync::store::Db,
}

impl Instance {
    pub fn ws_url(&self) -> String {
        self.base_url.replacen("http://", "ws://", 1) + "/graphql"
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stops accepting and lets workers finish; the database is dropped after this.
        let stop = self.handle.stop(false);
        drop(stop);
    }
}

pub fn create_company(db_url: &str, name: &str) -> (Uuid, String) {
    let mut conn = PgConnection::establish(db_url).expect("connect");
    let (company, key) = conn
        .transaction(|conn| callsync::app::company::create(conn, name, utc(TEST_START)))
        .expect("create company");
    (company.id, key.api_key)
}

/// A local HTTP server for a test (a webhook receiver, an LMS stand-in): every request's URI
/// (path and query) and body are recorded in `seen` before `answer(path, body)` responds.
pub struct LocalServer {
    /// `http://127.0.0.1:PORT`, no path.
    pub url: String,
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    _handle: actix_web::dev::ServerHandle,
}

pub async fn local_server<F, Fut>(answer: F) -> LocalServer
where
    F: Fn(String, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = actix_web::HttpResponse> + 'static,
{
    use actix_web::{web, App, HttpRequest, HttpServer};
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let recorded = seen.clone();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let (recorded, answer) = (recorded.clone(), answer.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: String| {
            let (recorded, answer) = (recorded.clone(), answer.clone());
            async move {
                recorded.lock().unwrap().push((req.uri().to_string(), body.clone()));
                answer(req.path().to_string(), body).await
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    LocalServer { url, seen, _handle: handle }
}

/// `callsync serve` as its own process on the database at `db_url`, killed when dropped: for
/// what only a process shows (its environment, its startup). `args` follow `serve`; `env` is
/// added to the test's own environment.
pub struct ServeProcess {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    child: std::process::Child,
}

impl ServeProcess {
    /// Starts it and waits (at most 60 s) until `/readyz` answers 200.
    pub async fn start(db_url: &str, args: &[&str], env: &[(&str, &str)]) -> ServeProcess {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_callsync"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("DATABASE_URL", db_url)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start callsync serve");
        let server = ServeProcess { base_url: format!("http://127.0.0.1:{port}"), child };
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let ready = format!("{}/readyz", server.base_url);
        while !matches!(client.get(&ready).send().await, Ok(r) if r.status() == 200) {
            assert!(std::time::Instant::now() < deadline, "the server never became ready");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        server
    }

    /// POSTs a GraphQL request with `api_key` and returns the JSON body.
    pub async fn gql(&self, api_key: &str, query: &str, variables: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/graphql", self.base_url))
            .header("X-API-Key", api_key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("POST /graphql");
        response.json().await.expect("a JSON body")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The webhook settings for tests: the receivers run on loopback; secrets open with
/// [`TEST_SECRET_KEY`], as the test servers seal them.
pub fn webhook_config() -> callsync::dialer::webhook::WebhookConfig {
    callsync::dialer::webhook::WebhookConfig {
        network: callsync::net::NetworkPolicy { allow_private: true },
        secrets: test_secrets(),
        ..Default::default()
    }
}

/// Asserts the body holds exactly one error with `code` (and `field`, when given).
#[track_caller]
pub fn assert_error(body: &Value, code: &str, field: Option<&str>) {
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("expected an error, got {body:#}"));
    assert_eq!(errors.len(), 1, "expected one error: {body:#}");
    assert_eq!(errors[0]["extensions"]["code"], code, "{body:#}");
    if let Some(field) = field {
        assert_eq!(errors[0]["extensions"]["field"], field, "{body:#}");
    }
}

/// A complete, valid customer input for task type `collections`.
pub fn customer_input(id: &str) -> Value {
    json!({
        "id": id,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "birthday": "1985-12-10",
        "ssnLastFour": "1234",
        "phoneNumber": "(310) 555-1234",
        "timezone": "America/Los_Angeles",
        "taskType": "collections",
        "streetAddress1": "1 Main St",
        "city": "Los Angeles",
        "state": "CA",
        "zipCode": "90001",
        "externalMetadata": {"source": "test"}
    })
}

/// Where a customer is: (timezone, state, ZIP, phone number).
pub type Place = (&'static str, &'static str, &'static str, &'static str);

/// `customer_input(id)` moved to `place`: every location signal agrees with it.
/// A REST request to the test server: `headers` replace the default `X-API-Key` with the app's
/// key (an empty list sends no credentials). Returns the status and the JSON answer (or the
/// text, as a JSON string, when it is not JSON).
pub async fn rest_request(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: Option<&[(&str, &str)]>,
) -> (reqwest::StatusCode, Value) {
    let mut req =
        app.client.request(method.parse().expect("an HTTP method"), format!("{}{path}", app.base_url));
    match headers {
        None => req = req.header("X-API-Key", &app.api_key),
        Some(headers) => {
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
        }
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// POSTs a GraphQL request as `api_key` to the server at `base_url` (any instance, not only a
/// [`TestApp`]'s) and returns the JSON answer.
pub async fn gql_at(base_url: &str, api_key: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base_url}/graphql"))
        .header("X-API-Key", api_key)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON answer")
}

/// Waits until `check` yields a value (re-asked every 20 ms), failing after 30 s: for state
/// another task reaches (the server's job worker, the event hub), never a timing assertion.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "not reached in 30 s: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn customer_at(id: &str, place: (&str, &str, &str, &str)) -> Value {
    let (timezone, state, zip, phone) = place;
    let mut input = customer_input(id);
    input["timezone"] = json!(timezone);
    input["state"] = json!(state);
    input["zipCode"] = json!(zip);
    input["phoneNumber"] = json!(phone);
    input
}

pub const CREATE_SCHEDULE: &str =
    "mutation($input: ScheduleInput!) { createSchedule(input: $input) { id name taskType } }";
pub const CREATE_CUSTOMER: &str =
    "mutation($input: CustomerInput!) { createCustomer(input: $input) { id phoneNumber state } }";

/// Creates a schedule with `task_type` and returns its id.
pub async fn create_schedule(app: &TestApp, task_type: &str) -> String {
    let data = app
        .gql_ok(
            CREATE_SCHEDULE,
            json!({"input": {"name": format!("{task_type} schedule"), "taskType": task_type}}),
        )
        .await;
    data["createSchedule"]["id"].as_str().expect("schedule id").to_string()
}

/// A GraphQL WebSocket client speaking `graphql-transport-ws` or the legacy `graphql-ws`.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub legacy: bool,
    /// The server's HTTP base URL (for its `/metrics`).
    http_base: String,
}

/// How many event subscriptions the server at `base_url` has opened so far
/// (`callsync_event_subscriptions_total` in its `/metrics`).
pub async fn subscriptions_opened(base_url: &str) -> u64 {
    let text = reqwest::get(format!("{base_url}/metrics")).await.expect("GET /metrics").text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("callsync_event_subscriptions_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no callsync_event_subscriptions_total in {text}"))
}

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

impl WsClient {
    pub async fn connect(url: &str, protocol: &str, header_key: Option<&str>) -> WsClient {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        if let Some(key) = header_key {
            request.headers_mut().insert("X-API-Key", key.parse().unwrap());
        }
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        let http_base = url.replacen("ws://", "http://", 1).trim_end_matches("/graphql").to_string();
        WsClient { socket, legacy: protocol == LEGACY_WS, http_base }
    }

    pub async fn send(&mut self, message: Value) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// Sends connection_init and returns the server's answer (or the close frame as
    /// `{"close": code}`).
    pub async fn init(&mut self, payload: Value) -> Value {
        self.send(json!({"type": "connection_init", "payload": payload})).await;
        self.receive(std::time::Duration::from_secs(10)).await.expect("an answer to connection_init")
    }

    /// Sends `message` as a text message split over several continuation frames.
    pub async fn send_fragmented(&mut self, message: Value, parts: usize) {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::Message;
        let bytes = message.to_string().into_bytes();
        let size = bytes.len().div_ceil(parts);
        let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
            let frame = Frame::message(chunk.to_vec(), opcode, i + 1 == chunks.len());
            self.socket.send(Message::Frame(frame)).await.unwrap();
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({"id": id, "type": kind, "payload": {"query": query, "variables": variables}})).await;
    }

    /// Subscribes, then waits until the server has registered the subscription: the protocols
    /// acknowledge no subscribe, and a live subscription (no `afterEventId`) streams only what
    /// commits after it is registered.
    pub async fn subscribe_live(&mut self, id: &str, query: &str, variables: Value) {
        let before = self.server_subscriptions().await;
        self.subscribe(id, query, variables).await;
        self.until_registered(before).await;
    }

    /// How many subscriptions this client's server has opened so far.
    pub async fn server_subscriptions(&self) -> u64 {
        subscriptions_opened(&self.http_base).await
    }

    /// Waits until this client's server has opened more than `before` subscriptions.
    pub async fn until_registered(&self, before: u64) {
        let base = self.http_base.as_str();
        eventually("the server registered the subscription", || async move {
            (subscriptions_opened(base).await > before).then_some(())
        })
        .await;
    }

    /// The next protocol message (keep-alives skipped), `{"close": code}` on close, None on timeout.
    pub async fn receive(&mut self, wait: std::time::Duration) -> Option<Value> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    if v["type"] == "ka" || v["type"] == "ping" || v["type"] == "pong" {
                        continue;
                    }
                    return Some(v);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(json!({"close": frame.map(|f| u16::from(f.code)), "reason": ""}));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(json!({"close": null})),
            }
        }
    }

    /// The payload of the next result for a subscription (`next` / legacy `data`).
    pub async fn next_data(&mut self, wait: std::time::Duration) -> Option<Value> {
        let message = self.receive(wait).await?;
        let expected = if self.legacy { "data" } else { "next" };
        assert_eq!(message["type"], expected, "{message}");
        Some(message["payload"].clone())
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Records prior express consent for a one-off number (a number no customer gave), as an
/// integration would before calling it; `written` for telemarketing.
pub async fn record_consent(app: &TestApp, number: &str, written: bool) {
    let kind = if written { "PRIOR_EXPRESS_WRITTEN" } else { "PRIOR_EXPRESS" };
    app.gql_ok(
        "mutation($p: String!, $t: ConsentType!) { recordConsent(phoneNumber: $p,
           consent: {type: $t, source: WEB_FORM, evidence: \"form-1\", obtainedAt: \"2026-01-01T00:00:00Z\"}) { type } }",
        json!({"p": number, "t": kind}),
    )
    .await;
}
