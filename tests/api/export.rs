//! CSV exports: the lists' filters as query parameters, a header row of the GraphQL field
//! names, RFC 4180 quoting, no formula injection, the same auth and tenancy as the API, and
//! constant memory (100,000 customers streamed by a separate server process).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{create_schedule, customer_input, TestApp, CREATE_CUSTOMER};

async fn export(app: &TestApp, path: &str, key: Option<&str>) -> (StatusCode, String) {
    let mut req = app.client.get(format!("{}{path}", app.base_url));
    if let Some(key) = key {
        req = req.header("X-API-Key", key);
    }
    let response = req.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn csv(app: &TestApp, path: &str) -> Vec<String> {
    let (status, text) = export(app, path, Some(&app.api_key)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.ends_with("\r\n"), "{text:?}");
    text.split("\r\n").filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[tokio::test]
async fn customers_export_with_filters_quoting_and_no_formulas() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let mut evil = customer_input("evil-1");
    evil["firstName"] = json!("=HYPERLINK(\"http://x.example\",\"click\")");
    evil["lastName"] = json!("O'Brien, Jr.");
    evil["streetAddress1"] = json!("@SUM(A1)");
    app.gql_ok(CREATE_CUSTOMER, json!({"input": evil})).await;
    let mut test = customer_input("test-1");
    test["isTest"] = json!(true);
    test["phoneNumber"] = json!("+13105550199");
    app.gql_ok(CREATE_CUSTOMER, json!({"input": test})).await;

    let lines = csv(&app, "/export/customers.csv").await;
    assert_eq!(
        lines[0],
        "id,firstName,lastName,email,birthday,ssnLastFour,phoneNumber,timezone,timezoneInferred,streetAddress1,\
         streetAddress2,city,state,zipCode,taskType,doNotCall,isTest,externalMetadata,createdAt,updatedAt"
    );
    assert_eq!(lines.len(), 3);
    let evil_line = &lines[1];
    assert!(
        evil_line
            .starts_with("evil-1,\"'=HYPERLINK(\"\"http://x.example\"\",\"\"click\"\")\",\"O'Brien, Jr.\","),
        "{evil_line}"
    );
    assert!(evil_line.contains(",'+13105551234,"), "a leading + is defused: {evil_line}");
    assert!(evil_line.contains(",'@SUM(A1),"), "{evil_line}");
    assert!(evil_line.contains(",\"{\"\"source\"\":\"\"test\"\"}\","), "metadata as JSON: {evil_line}");

    let only_test = csv(&app, "/export/customers.csv?isTest=true").await;
    assert_eq!(only_test.len(), 2);
    assert!(only_test[1].starts_with("test-1,"));
    let searched = csv(&app, "/export/customers.csv?search=evil&orderBy=ID&orderDirection=DESC").await;
    assert_eq!(searched.len(), 2);
}

#[tokio::test]
async fn schedules_tasks_and_calls_export_with_their_filters() {
    let app = TestApp::spawn().await;
    let schedule = create_schedule(&app, "collections").await;
    create_schedule(&app, "reminders").await;
    let sync = "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated } }";
    let planned = app.gql_ok(sync, json!({"i": customer_input("c-1")})).await["syncCustomerSchedule"]
        ["tasksCreated"]
        .as_i64()
        .unwrap();
    app.gql_ok("mutation { makeCall(input: {customerId: \"c-1\"}) { id } }", json!({})).await;

    let schedules = csv(&app, "/export/schedules.csv?taskType=reminders").await;
    assert!(schedules[0].starts_with("id,name,description,taskType,paused,timeZone,"), "{}", schedules[0]);
    assert_eq!(schedules.len(), 2);
    assert!(schedules[1].contains(",reminders,"));

    let tasks = csv(&app, &format!("/export/tasks.csv?scheduleId={schedule}&status=PENDING")).await;
    assert!(
        tasks[0].starts_with("id,customerId,scheduleId,taskType,status,attempt,scheduledFor"),
        "{}",
        tasks[0]
    );
    assert_eq!(tasks.len() as i64, planned + 1);
    assert!(tasks[1..].iter().all(|t| t.contains(",c-1,") && t.contains(",PENDING,")));
    let none = csv(&app, "/export/tasks.csv?status=COMPLETED,FAILED").await;
    assert_eq!(none.len(), 1, "header only");

    let calls = csv(&app, "/export/calls.csv?customerId=c-1&status=QUEUED").await;
    assert!(calls[0].starts_with("id,status,to,customerId,scheduleId,taskId,agentId"), "{}", calls[0]);
    assert_eq!(calls.len(), 2);
    assert!(calls[1].contains(",QUEUED,'+13105551234,c-1,"), "{}", calls[1]);
}

#[tokio::test]
async fn exports_need_a_key_check_their_filters_and_stay_in_the_company() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("mine")})).await;
    for path in ["/export/customers.csv", "/export/schedules.csv", "/export/tasks.csv", "/export/calls.csv"] {
        let (status, body) = export(&app, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
    }
    for (path, field) in [
        ("/export/customers.csv?isTest=maybe", "isTest"),
        ("/export/customers.csv?createdAtFrom=yesterday", "createdAtFrom"),
        ("/export/customers.csv?orderBy=SHOE_SIZE", "orderBy"),
        ("/export/customers.csv?color=red", "color"),
        ("/export/schedules.csv?paused=1", "paused"),
        ("/export/tasks.csv?status=DONE", "status"),
        ("/export/tasks.csv?scheduleId=not-a-uuid", "scheduleId"),
        ("/export/calls.csv?status=QUEUED,RANG", "status"),
    ] {
        let (status, body) = export(&app, path, Some(&app.api_key)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (body["error"]["code"].as_str(), body["error"]["field"].as_str()),
            (Some("BAD_USER_INPUT"), Some(field)),
            "{path}"
        );
    }
    let (_, other_key) = app.new_company("Other");
    for path in ["/export/customers.csv", "/export/schedules.csv"] {
        let (status, text) = export(&app, path, Some(&other_key)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(text.lines().count(), 1, "another company's export is its header only: {text}");
    }
}

/// Resident memory of a process, in KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test: 100,000 customers exported by a server process whose memory grows by less
/// than 20 MB while it streams them.
#[tokio::test]
async fn exporting_100000_customers_keeps_the_servers_memory_flat() {
    let app = TestApp::spawn().await;
    app.execute(&format!(
        "INSERT INTO customers (company_id, external_id, first_name, last_name, email, phone_number, timezone,
                                task_type, city, state, zip_code, external_metadata, created_at, updated_at)
         SELECT '{0}', 'bulk-' || lpad(n::text, 6, '0'), 'First' || n, 'Last' || n, 'p' || n || '@example.com',
                '+1212' || lpad((5550000 + n % 10000)::text, 7, '0'), 'America/New_York', 'collections',
                'New York', 'NY', '10001', jsonb_build_object('n', n, 'note', 'loan file ' || n), '{1}', '{1}'
         FROM generate_series(1, 100000) AS n",
        app.company_id,
        app.clock.now().to_rfc3339()
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_callsync"))
        .args(["serve", "--no-dialer", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(client.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "the server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Warm up (connections, code paths), then measure from there.
    let warm = client
        .get(format!("{base}/export/customers.csv?search=bulk-000001"))
        .header("X-API-Key", &app.api_key);
    assert_eq!(warm.send().await.unwrap().status(), StatusCode::OK);
    let before = rss_kib(server.0.id());

    let mut response = client
        .get(format!("{base}/export/customers.csv"))
        .header("X-API-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (mut lines, mut bytes, mut peak) = (0usize, 0usize, before);
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        peak = peak.max(rss_kib(server.0.id()));
    }
    assert_eq!(lines, 100_001, "the header and every customer");
    let growth_mib = (peak.saturating_sub(before)) as f64 / 1024.0;
    println!(
        "exported {bytes} bytes; server RSS {before} KiB before, peak {peak} KiB (+{growth_mib:.1} MiB)"
    );
    assert!(growth_mib < 20.0, "server RSS grew by {growth_mib:.1} MiB while streaming {bytes} bytes");
}
