//! Background jobs are visible, bounded and typed: `job(id)`, a bulk import's `jobIds`, a job
//! that keeps failing stops FAILED with its error, an unknown kind fails instead of "done".

use chrono::Duration;
use serde_json::{json, Value};

use crate::harness::{customer_input, TestApp};

const BULK: &str = "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) {
    status workflowTriggered jobIds } }";
const JOB: &str = "query($id: ID!) { job(id: $id) { id kind status attempts lastError total done } }";

async fn campaign(app: &TestApp) -> String {
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Campaign\", taskType: \"campaign\"}) { id } }",
        json!({}),
    )
    .await["createSchedule"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn records(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut r = customer_input(&format!("j{i}"));
            r["phoneNumber"] = json!(format!("+1310555{:04}", 1000 + i));
            r["taskType"] = json!("campaign");
            r
        })
        .collect()
}

#[tokio::test]
async fn a_bulk_import_returns_its_jobs_and_job_shows_them() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let body = app
        .gql_ok(
            BULK,
            json!({"input": {"scheduleId": schedule, "records": records(700), "useWorkflow": true}}),
        )
        .await;
    let ids: Vec<String> = body["bulkAddCustomers"]["jobIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "500 customers a job");
    let job = app.gql_ok(JOB, json!({"id": ids[0]})).await;
    assert_eq!(job["job"]["status"], "PENDING");
    assert_eq!(
        (job["job"]["kind"].clone(), job["job"]["total"].clone(), job["job"]["done"].clone()),
        (json!("BUILD_SCHEDULES"), json!(500), json!(0))
    );
    assert_eq!(callsync::dialer::run_jobs(&app.store).await.unwrap(), 2);
    for id in &ids {
        let job = app.gql_ok(JOB, json!({"id": id})).await;
        assert_eq!(job["job"]["status"], "DONE");
        assert_eq!(job["job"]["attempts"], 1);
        assert_eq!(job["job"]["done"], job["job"]["total"]);
    }
    // Without useWorkflow: no jobs.
    let body = app.gql_ok(BULK, json!({"input": {"scheduleId": schedule, "records": records(3)}})).await;
    assert_eq!(body["bulkAddCustomers"]["jobIds"], json!([]));
    // Another company's job is nobody's business.
    let (_, other) = app.new_company("Other");
    let body = app.gql_as(Some(&other), JOB, json!({"id": ids[0]})).await;
    assert_eq!(body["data"]["job"], Value::Null);
}

#[tokio::test]
async fn a_job_that_keeps_failing_stops_failed_with_its_error() {
    let app = TestApp::spawn().await;
    let schedule = campaign(&app).await;
    let body = app
        .gql_ok(BULK, json!({"input": {"scheduleId": schedule, "records": records(2), "useWorkflow": true}}))
        .await;
    let id = body["bulkAddCustomers"]["jobIds"][0].as_str().unwrap().to_string();
    // Every task insert now fails (a fault injected into the database).
    app.execute("ALTER TABLE tasks ADD CONSTRAINT injected_fault CHECK (false) NOT VALID");
    for attempt in 1..=callsync::store::jobs::MAX_ATTEMPTS {
        assert_eq!(callsync::dialer::run_jobs(&app.store).await.unwrap(), 0);
        let job = app.gql_ok(JOB, json!({"id": id})).await["job"].clone();
        assert_eq!(job["attempts"], attempt);
        let expected = if attempt < callsync::store::jobs::MAX_ATTEMPTS { "PENDING" } else { "FAILED" };
        assert_eq!(job["status"], expected, "{job}");
        assert!(job["lastError"].as_str().is_some_and(|e| !e.is_empty()), "{job}");
        // Not run again before its backoff.
        assert_eq!(callsync::dialer::run_jobs(&app.store).await.unwrap(), 0);
        assert_eq!(app.gql_ok(JOB, json!({"id": id})).await["job"]["attempts"], attempt);
        app.clock.advance(Duration::hours(1));
    }
    // FAILED for good: the worker leaves it alone, other jobs still run.
    app.execute("ALTER TABLE tasks DROP CONSTRAINT injected_fault");
    let body = app
        .gql_ok(BULK, json!({"input": {"scheduleId": schedule, "records": records(1), "useWorkflow": true}}))
        .await;
    let other = body["bulkAddCustomers"]["jobIds"][0].as_str().unwrap().to_string();
    assert_eq!(callsync::dialer::run_jobs(&app.store).await.unwrap(), 1);
    assert_eq!(app.gql_ok(JOB, json!({"id": other})).await["job"]["status"], "DONE");
    assert_eq!(
        app.gql_ok(JOB, json!({"id": id})).await["job"]["attempts"],
        callsync::store::jobs::MAX_ATTEMPTS
    );
}

#[tokio::test]
async fn an_unknown_job_kind_fails_instead_of_being_marked_done() {
    let app = TestApp::spawn().await;
    let id = app.count(&format!(
        "INSERT INTO jobs (company_id, kind, payload, run_after, created_at, updated_at)
         VALUES ('{}', 'FROM_A_NEWER_VERSION', '{{}}', '{now}', '{now}', '{now}') RETURNING id AS n",
        app.company_id,
        now = app.clock.now().to_rfc3339()
    ));
    // Clients see job ids sealed for their company (the test's key seals it as the server does).
    let job_id = crate::harness::test_secrets().ids().job_id(app.company_id, id);
    // The server's own worker may claim it first: either way, the job ends FAILED.
    callsync::dialer::run_jobs(&app.store).await.unwrap();
    let job = crate::harness::eventually("the job fails", || async {
        let job = app.gql_ok(JOB, json!({"id": job_id})).await["job"].clone();
        (job["status"] == "FAILED").then_some(job)
    })
    .await;
    assert!(job["lastError"].as_str().unwrap().contains("unknown job kind"), "{job}");
    assert_eq!(job["attempts"], 1, "not retried");
}
