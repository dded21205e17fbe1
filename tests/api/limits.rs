//! One tenant cannot burden the others with size (issue 27): every free text is bounded and
//! refused before any lookup, naming its field; the HTML pages cannot be framed or sniffed.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{assert_error, create_schedule, customer_at, rest_request, TestApp, CREATE_CUSTOMER};

const LOS_ANGELES: crate::harness::Place = ("America/Los_Angeles", "CA", "90001", "+13105551234");

async fn callable(app: &TestApp) {
    create_schedule(app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_at("c-1", LOS_ANGELES)})).await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
}

#[tokio::test]
async fn oversized_call_texts_are_refused_before_anything_is_written() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let long = "a".repeat(256);
    let make = "mutation($agent: String) { makeCall(input: {customerId: \"c-1\", agentId: $agent}) { id } }";
    assert_error(&app.gql(make, json!({"agent": long})).await, "BAD_USER_INPUT", Some("agentId"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);

    let call = app.gql_ok(make, json!({"agent": "a".repeat(255)})).await["makeCall"]["id"].clone();
    let report = "mutation($id: ID!, $d: String) {
        reportCallStatus(input: {callId: $id, status: NO_ANSWER, disposition: $d}) { id status } }";
    let body = app.gql(report, json!({"id": call, "d": "d".repeat(1001)})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("disposition"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls WHERE status = 'QUEUED'"), 1, "unchanged");

    let at = (app.clock.now() - chrono::Duration::minutes(5)).to_rfc3339();
    let record = "mutation($a: [CallAttemptInput!]!) { recordCallAttempts(attempts: $a) { recorded } }";
    let attempts = json!([
        {"customerId": "c-1", "occurredAt": at, "status": "NO_ANSWER", "agentId": "ok"},
        {"customerId": "c-1", "occurredAt": at, "status": "NO_ANSWER", "agentId": long},
    ]);
    let body = app.gql(record, json!({"a": attempts})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("attempts.1.agentId"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 1, "no attempt recorded");

    // A state rule's source is bounded too.
    let update = "mutation($r: JSON) { updateCompanySettings(input: {stateRules: $r}) { stateRules } }";
    let rules = json!({"MA": [{"maxPer7Days": 2, "source": "s".repeat(256)}]});
    assert_error(&app.gql(update, json!({"r": rules})).await, "BAD_USER_INPUT", Some("stateRules"));
    let current = app.gql_ok("{ viewer { stateRules } }", json!({})).await;
    assert!(current["viewer"]["stateRules"].get("MA").is_none(), "{current}");
}

#[tokio::test]
async fn a_search_term_is_bounded_on_every_door() {
    let app = TestApp::spawn().await;
    callable(&app).await;
    let term = "x".repeat(201);
    let query = "query($s: String) { customers(filter: {search: $s}) { nodes { id } } }";
    assert_error(&app.gql(query, json!({"s": term})).await, "BAD_USER_INPUT", Some("search"));
    let query = "query($s: String) { schedules(filter: {search: $s}) { nodes { id } } }";
    assert_error(&app.gql(query, json!({"s": term})).await, "BAD_USER_INPUT", Some("search"));
    let ok = app.gql_ok(
        "query($s: String) { customers(filter: {search: $s}) { nodes { id } } }",
        json!({"s": "c-1"}),
    );
    assert_eq!(ok.await["customers"]["nodes"][0]["id"], "c-1");
    for (path, field) in [
        (format!("/v1/customers?search={term}"), "search"),
        (format!("/export/customers.csv?search={term}"), "search"),
        (format!("/api/v1/schedules?fulltext={term}"), "fulltext"),
    ] {
        let (status, body) = rest_request(&app, "GET", &path, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
}

#[tokio::test]
async fn pages_cannot_be_framed_sniffed_or_load_foreign_code() {
    let app = TestApp::spawn().await;
    for path in ["/", "/dashboard"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK);
        let header = |name: &str| {
            response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
        };
        let policy = header("content-security-policy");
        for directive in
            ["frame-ancestors 'none'", "script-src 'self'", "object-src 'none'", "default-src 'self'"]
        {
            assert!(policy.contains(directive), "{path}: {directive} in {policy}");
        }
        let host = app.base_url.trim_start_matches("http://");
        assert!(policy.contains(&format!("ws://{host}")), "{path}: its WebSocket in {policy}");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        // No inline script for the policy to allow.
        let html = response.text().await.unwrap();
        assert!(!html.contains("<script>"), "{path} has an inline script");
    }
}

/// Company A's requests beyond its share are refused with RATE_LIMITED and a retryAfter, while
/// company B's go through: one request of A is held inside the server (its LMS, a stand-in here,
/// answers only when the test lets it) on a server whose share is one request per company.
#[tokio::test]
async fn a_company_past_its_share_is_rate_limited_and_the_others_are_not() {
    let lms = crate::lms::lms().await;
    let app = TestApp::spawn_configured(crate::harness::utc(crate::harness::TEST_START), |options| {
        options.company_concurrency = Some(1);
        options.lms_timeout = Some(std::time::Duration::from_secs(60));
    })
    .await;
    let app = crate::lms::with_lms(app, &lms, None).await;
    let (_, theirs) = app.new_company("Quiet Lending");

    // A's one turn is taken by a sync waiting on its LMS.
    let held = {
        let (client, url, key) =
            (app.client.clone(), format!("{}/graphql", app.base_url), app.api_key.clone());
        tokio::spawn(async move {
            let query =
                json!({"query": "mutation { createCustomer(input: {id: \"slow-1\", sync: true}) { id } }"});
            client.post(url).header("X-API-Key", key).json(&query).send().await.unwrap().status()
        })
    };
    crate::harness::eventually("the LMS asked for slow-1", || async {
        lms.seen.lock().unwrap().iter().any(|(uri, _)| uri.contains("slow-1")).then_some(())
    })
    .await;

    let body = app.gql("{ viewer { id } }", json!({})).await;
    assert_error(&body, "RATE_LIMITED", None);
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1, "{body}");
    let (status, body) = rest_request(&app, "GET", "/v1/customers", None, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["retry_after"], 1);

    // The other company is not slowed by A.
    let body = app.gql_as(Some(&theirs), "{ viewer { name } }", json!({})).await;
    assert_eq!(body["data"]["viewer"]["name"], "Quiet Lending", "{body}");

    drop(lms); // the stand-in answers; A's request ends and its turn is free again
    assert!(held.await.unwrap().is_success());
    assert!(app.gql("{ viewer { id } }", json!({})).await["errors"].is_null());
}

#[tokio::test]
async fn aliases_are_capped_per_operation_and_per_batch_before_anything_runs() {
    let app = TestApp::spawn().await;
    let aliased = |n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("a{i}: scheduleDefaults {{ paused }}")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let body = app.gql(&aliased(201), json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("query"));
    assert!(body["data"].is_null(), "{body}");
    let body = app.gql(&aliased(200), json!({})).await;
    assert!(body["errors"].is_null(), "{body}");

    // A batch is priced as one: two operations of 150 aliases each are refused together.
    let batch = json!([{"query": aliased(150)}, {"query": aliased(150)}]);
    assert_error(&app.post_graphql(Some(&app.api_key), &batch).await, "BAD_USER_INPUT", Some("batch"));
}

#[tokio::test]
async fn counts_and_searches_are_never_free_whatever_the_page_size() {
    let app = TestApp::spawn().await;
    let counts = |n: usize| {
        let fields: Vec<String> =
            (0..n).map(|i| format!("c{i}: customers(first: 0) {{ totalCount }}")).collect();
        format!("{{ {} }}", fields.join(" "))
    };
    // The shape that once took the service from everyone: refused before anything runs.
    let body = app.gql(&counts(51), json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("query"));
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("counts and searches"), "{body}");
    assert!(app.gql(&counts(50), json!({})).await["errors"].is_null());

    // A search is a counted read too, whether an argument or in a filter given as a variable.
    let searches: Vec<String> =
        (0..51).map(|i| format!("s{i}: customers(first: 1, filter: $filter) {{ nodes {{ id }} }}")).collect();
    let query = format!("query($filter: CustomerFilter) {{ {} }}", searches.join(" "));
    let body = app.gql(&query, json!({"filter": {"search": "smith"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("query"));
    assert!(app.gql(&query, json!({"filter": {"isTest": false}})).await["errors"].is_null());

    // A count under every item of a page is one count per item.
    let nested = "{ customers(first: 51) { nodes { id tasks(first: 1) { totalCount } } } }";
    assert_error(&app.gql(nested, json!({})).await, "BAD_USER_INPUT", Some("query"));
    let nested = "query($n: Int) { customers(first: $n) { nodes { id tasks(first: 1) { totalCount } } } }";
    assert_error(&app.gql(nested, json!({"n": 60})).await, "BAD_USER_INPUT", Some("query"));
    assert!(app.gql(nested, json!({"n": 50})).await["errors"].is_null());

    // A batch is priced as one.
    let batch = json!([{"query": counts(30)}, {"query": counts(30)}]);
    assert_error(&app.post_graphql(Some(&app.api_key), &batch).await, "BAD_USER_INPUT", Some("batch"));
}

#[tokio::test]
async fn a_batch_shares_one_cost_limit_between_its_operations() {
    let app = TestApp::spawn().await;
    // About 31,000 each: accepted alone, not twice in one request.
    let costly = "{ customers(first: 500) { nodes { id tasks(first: 10) { nodes { id status scheduledFor } } calls(first: 10) { nodes { id status to } } } } }";
    assert!(app.gql(costly, json!({})).await["errors"].is_null());
    let body = app
        .post_graphql(Some(&app.api_key), &json!([{"query": costly}, {"query": "{ viewer { id } }"}]))
        .await;
    let answers = body.as_array().unwrap_or_else(|| panic!("a batch answers each operation: {body}"));
    assert_error(&answers[0], "BAD_USER_INPUT", Some("batch"));
    assert!(answers[0]["errors"][0]["message"].as_str().unwrap().contains("shares one cost limit"), "{body}");
    assert!(answers[1]["errors"].is_null(), "a cheap operation keeps its share: {body}");
}

/// A pool config like the tests' default, with the request path's statements limited to
/// `limit` (the background workers keep the production limit).
fn timed_out_after(limit: std::time::Duration) -> callsync::store::PoolConfig {
    callsync::store::PoolConfig { statement_timeout: limit, ..crate::harness::test_pools() }
}

/// How many of the test database's backends wait on a lock now.
fn waiting_on_locks(app: &TestApp) -> i64 {
    app.count(
        "SELECT count(*) AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
}

/// Runs `sql` in a transaction of the test's own that stays open (holding its locks) until the
/// returned connection is dropped or rolled back.
fn hold(app: &TestApp, sql: &str) -> diesel::PgConnection {
    use diesel::RunQueryDsl;
    let mut conn = app.db.connect();
    diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
    diesel::sql_query(sql).execute(&mut conn).unwrap();
    conn
}

fn release(mut conn: diesel::PgConnection) {
    use diesel::RunQueryDsl;
    diesel::sql_query("ROLLBACK").execute(&mut conn).unwrap();
}

/// A statement of the request path that runs past the server's statement timeout is cancelled:
/// the request gets SERVICE_BUSY on both doors, its transaction rolls back (no change, no audit
/// entry, no event), and the server goes on serving. The statements are made slow without any
/// timing: the test's own transaction holds the lock they need, so they wait until Postgres
/// cancels them.
#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_and_changes_nothing() {
    let app =
        TestApp::spawn_with_pool_config(timed_out_after(std::time::Duration::from_millis(300)), |_| {}).await;
    callable(&app).await;
    let (audit, events) =
        (app.count("SELECT count(*) AS n FROM audit_log"), app.count("SELECT count(*) AS n FROM events"));

    // A write waiting on the customer's row lock.
    let blocker = hold(&app, "SELECT id FROM customers WHERE external_id = 'c-1' FOR UPDATE");
    let upsert = "mutation { upsertCustomer(input: {id: \"c-1\", firstName: \"Changed\"}) { created } }";
    let body = app.gql(upsert, json!({})).await;
    assert_error(&body, "SERVICE_BUSY", None);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("time limit") && !message.contains("c-1"), "{message}");
    release(blocker);
    assert_eq!(app.count("SELECT count(*) AS n FROM customers WHERE first_name = 'Changed'"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_log"), audit, "no audit entry");
    assert_eq!(app.count("SELECT count(*) AS n FROM events"), events, "no event");

    // A read waiting on a table lock.
    let blocker = hold(&app, "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE");
    let body = app.gql("{ customers(first: 0) { totalCount } }", json!({})).await;
    assert_error(&body, "SERVICE_BUSY", None);
    let (status, answer) = rest_request(&app, "GET", "/v1/customers", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "SERVICE_BUSY", "{answer}");
    release(blocker);

    // Nothing is left over: the same requests go through.
    let body = app.gql(upsert, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM customers WHERE first_name = 'Changed'"), 1);
    let body = app.gql("{ customers(first: 0) { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["customers"]["totalCount"], 1, "{body}");
}

/// The background workers' statements have a limit of their own: a job that waits on a lock
/// outlives a request statement cancelled after it began waiting, then finishes.
#[tokio::test]
async fn the_background_workers_statements_are_not_cut_at_the_request_limit() {
    let app =
        TestApp::spawn_with_pool_config(timed_out_after(std::time::Duration::from_millis(300)), |_| {}).await;
    let schedule = create_schedule(&app, "collections").await;
    let record = |id: &str, phone: &str| {
        let mut r = crate::harness::customer_input(id);
        r["phoneNumber"] = json!(phone);
        r
    };
    let bulk = "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { jobIds } }";
    let records = json!([record("j-1", "+13105550101"), record("j-2", "+13105550102")]);
    let input = json!({"input": {"scheduleId": schedule, "records": records, "useWorkflow": true}});
    let job = app.gql_ok(bulk, input).await["bulkAddCustomers"]["jobIds"][0].clone();

    let blocker = hold(&app, "SELECT id FROM customers WHERE external_id = 'j-1' FOR UPDATE");
    let background = app.background.clone();
    let jobs = tokio::spawn(async move { callsync::dialer::run_jobs(&background).await });
    crate::harness::eventually("the job waits on the customer's lock", || async {
        (waiting_on_locks(&app) >= 1).then_some(())
    })
    .await;
    // A request needing the same lock, begun after the job's statement, is cancelled first.
    let upsert = "mutation { upsertCustomer(input: {id: \"j-1\", firstName: \"Changed\"}) { created } }";
    assert_error(&app.gql(upsert, json!({})).await, "SERVICE_BUSY", None);
    assert_eq!(waiting_on_locks(&app), 1, "the job's statement still waits");
    release(blocker);
    assert_eq!(jobs.await.unwrap().unwrap(), 1, "the job ran");
    let status = app.gql_ok("query($id: ID!) { job(id: $id) { status } }", json!({"id": job})).await;
    assert_eq!(status["job"]["status"], "DONE");
}

/// One company holding every request connection (its requests wait on a lock the test holds)
/// takes nothing from the background workers: on their reserved connections a dialler round
/// places the due call and a job round runs the queued job meanwhile.
#[tokio::test]
async fn a_flood_of_requests_leaves_the_background_workers_their_connections() {
    // One company may take every request connection here: this is about the reserved ones.
    let requests = crate::harness::test_pools().request_connections();
    let pools = callsync::store::PoolConfig {
        statement_timeout: std::time::Duration::from_secs(60),
        company_calls: Some(requests),
        ..crate::harness::test_pools()
    };
    let app = TestApp::spawn_with_pool_config(pools, |_| {}).await;
    callable(&app).await;
    let schedule: String = app.gql_ok("{ schedules { nodes { id } } }", json!({})).await["schedules"]
        ["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A due task for c-1 (09:00 in Los Angeles), and a job queued by a bulk import.
    let due = app.clock.now() - chrono::Duration::minutes(1);
    let instant = |t: chrono::DateTime<chrono::Utc>| format!("'{}'::timestamptz", t.to_rfc3339());
    app.execute(&format!(
        "INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone, created_at, updated_at)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', 1, {0}, c.timezone, {1}, {1}
         FROM customers c JOIN schedules s ON s.company_id = c.company_id WHERE c.external_id = 'c-1'",
        instant(due),
        instant(app.clock.now())
    ));
    let mut record = crate::harness::customer_input("j-1");
    record["phoneNumber"] = json!("+13105550101");
    let bulk = "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { jobIds } }";
    let input = json!({"input": {"scheduleId": schedule, "records": [record], "useWorkflow": true}});
    let job = app.gql_ok(bulk, input).await["bulkAddCustomers"]["jobIds"][0].clone();

    // The flood: more requests than the request path has connections, each waiting on the
    // audit log, which the test locks.
    let requests = requests as i64;
    let blocker = hold(&app, "LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE");
    let flood: Vec<_> = (0..requests * 3)
        .map(|_| {
            let (client, url, key) =
                (app.client.clone(), format!("{}/graphql", app.base_url), app.api_key.clone());
            tokio::spawn(async move {
                let query = json!({"query": "{ auditLog(first: 1) { nodes { id } } }"});
                client.post(url).header("X-API-Key", key).json(&query).send().await.map(|r| r.status())
            })
        })
        .collect();
    crate::harness::eventually("every request connection waits on the lock", || async {
        (waiting_on_locks(&app) >= requests).then_some(())
    })
    .await;
    let state = app.store.pool().state();
    assert_eq!((state.connections, state.idle_connections), (requests as u32, 0), "the request path is full");

    let placed = callsync::dialer::dial_round(&app.background, &callsync::dialer::DialerConfig::default())
        .await
        .expect("a dialler round");
    assert_eq!(placed.len(), 1, "the due call is placed");
    assert_eq!(callsync::dialer::run_jobs(&app.background).await.expect("a job round"), 1);
    assert_eq!(waiting_on_locks(&app), requests, "the flood still holds the request path");

    release(blocker);
    for request in flood {
        assert!(request.await.unwrap().is_ok());
    }
    let status = app.gql_ok("query($id: ID!) { job(id: $id) { status } }", json!({"id": job})).await;
    assert_eq!(status["job"]["status"], "DONE");
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 1);
}

/// A company's database calls have a share of their own: once its calls fill it (here one call,
/// waiting on a lock the test holds), its next call waits for its own share and is refused
/// with RATE_LIMITED, while another company's queries go through at once.
#[tokio::test]
async fn a_company_past_its_share_of_database_calls_is_rate_limited_and_the_others_are_not() {
    let pools = callsync::store::PoolConfig { company_calls: Some(1), ..crate::harness::test_pools() };
    let app = TestApp::spawn_with_pool_config(pools, |_| {}).await;
    let (_, theirs) = app.new_company("Quiet Lending");
    // Both keys are read once, before the lock.
    app.gql_ok("{ viewer { id } }", json!({})).await;

    let blocker = hold(&app, "LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE");
    let held = {
        let (client, url, key) =
            (app.client.clone(), format!("{}/graphql", app.base_url), app.api_key.clone());
        tokio::spawn(async move {
            let query = json!({"query": "{ auditLog(first: 1) { nodes { id } } }"});
            let response = client.post(url).header("X-API-Key", key).json(&query).send().await.unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        })
    };
    crate::harness::eventually("A's one database call waits on the lock", || async {
        (waiting_on_locks(&app) >= 1).then_some(())
    })
    .await;

    let body =
        app.gql_as(Some(&theirs), "{ viewer { name } customers(first: 0) { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["viewer"]["name"], "Quiet Lending", "{body}");
    assert_eq!(body["data"]["customers"]["totalCount"], 0, "{body}");

    // Both doors at once (each waits its 5 s for a place, well inside the held statement's limit).
    let (body, (status, rest)) = tokio::join!(
        app.gql("{ customers(first: 0) { totalCount } }", json!({})),
        rest_request(&app, "GET", "/v1/customers", None, None)
    );
    assert_error(&body, "RATE_LIMITED", None);
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1, "{body}");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{rest}");
    assert_eq!(rest["error"]["retry_after"], 1, "{rest}");

    release(blocker);
    let body = held.await.unwrap();
    assert!(body["errors"].is_null(), "{body}");
    let body = app.gql("{ customers(first: 0) { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["customers"]["totalCount"], 0, "{body}");
}
