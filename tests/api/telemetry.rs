//! Request telemetry: every answer carries `X-Request-Id`, an `INTERNAL` error carries the same
//! id, and the server's log line for the request has the id, the company and the operation,
//! and no PII.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{create_schedule, customer_input, TestApp};

#[tokio::test]
async fn every_answer_has_a_request_id_and_a_plain_incoming_one_is_kept() {
    let app = TestApp::spawn().await;
    let id_of =
        |r: &reqwest::Response| r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    for path in ["/healthz", "/dashboard", "/api/v1/schedules"] {
        let r = app.get(path).await;
        let id = id_of(&r).unwrap_or_else(|| panic!("{path} has no X-Request-Id"));
        assert!(id.len() >= 16, "{path}: {id}");
    }
    let ids: Vec<String> = futures::future::join_all((0..3).map(|_| app.get("/healthz")))
        .await
        .iter()
        .map(|r| id_of(r).unwrap())
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "each request its own id: {ids:?}");
    let send =
        |id: &str| app.client.get(format!("{}/healthz", app.base_url)).header("X-Request-Id", id).send();
    assert_eq!(id_of(&send("trace-42.a_b").await.unwrap()).unwrap(), "trace-42.a_b");
    // Anything else (spaces, quotes, too long) is replaced, so it cannot forge a log line.
    for bad in ["two words", "x\"y", &"a".repeat(65)] {
        assert_ne!(id_of(&send(bad).await.unwrap()).unwrap(), bad);
    }
}

#[tokio::test]
async fn an_internal_error_carries_the_request_id() {
    let app = TestApp::spawn().await;
    app.gql_ok("{ viewer { id } }", json!({})).await; // the key is now cached
    {
        use diesel::{Connection, RunQueryDsl};
        let mut admin = diesel::PgConnection::establish(crate::harness::admin_url()).unwrap();
        diesel::sql_query(format!("DROP DATABASE \"{}\" WITH (FORCE)", app.db.name))
            .execute(&mut admin)
            .unwrap();
    }
    let response = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("X-API-Key", &app.api_key)
        .json(&json!({"query": "{ customers { totalCount } }"}))
        .send()
        .await
        .unwrap();
    let header = response.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["requestId"], header.as_str());
    let response = app
        .client
        .get(format!("{}/api/v1/schedules", app.base_url))
        .header("X-API-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let header = response.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], header.as_str(), "{body}");
}

/// The log line of a request: found by its id, with the company and operation, without PII.
#[tokio::test]
async fn the_log_line_of_a_request_has_its_id_company_and_operation_and_no_pii() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let log = std::env::temp_dir().join(format!("callsync-log-{}.txt", uuid::Uuid::new_v4().simple()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_callsync"))
        .args(["serve", "--no-dialer", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(client.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "the server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut input = customer_input("log-1");
    input["ssnLastFour"] = json!("9876");
    input["phoneNumber"] = json!("+13105557788");
    let response = client
        .post(format!("{base}/graphql"))
        .header("X-API-Key", &app.api_key)
        .header("X-Request-Id", "report-123")
        .json(&json!({"query": "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated } }", "variables": {"i": input}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "report-123");
    let search = client
        .get(format!("{base}/export/customers.csv?search=3105557788"))
        .header("X-API-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    search.text().await.unwrap();
    // The line is written when the request ends; give the writer a moment.
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap();
        if text.contains("report-123") && text.contains("/export/customers.csv") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&log);
    let line = text
        .lines()
        .find(|l| l.contains("request_id=report-123") && l.contains("request finished"))
        .unwrap_or_else(|| panic!("no finished line for the request:\n{text}"));
    assert!(line.contains(&format!("company_id={}", app.company_id)), "{line}");
    assert!(line.contains("operation=\"mutation syncCustomerSchedule\""), "{line}");
    assert!(line.contains("status=200"), "{line}");
    // Ids (UUIDs, request ids) are random hex and may hold "9876" by chance: they are masked
    // before looking for the SSN digits and the rest.
    let masked = mask_ids(&text);
    for pii in ["3105557788", "9876", "Lovelace", "1985-12-10"] {
        assert!(!masked.contains(pii), "{pii} in the log:\n{text}");
    }
}

/// `text` with every run of 16 or more hex digits and dashes (a UUID, a request id) replaced
/// by `#`: shorter runs, such as a phone number or SSN digits, are kept.
fn mask_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 16 {
            out.push('#');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() || c == '-' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}
