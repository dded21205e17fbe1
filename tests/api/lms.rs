//! LMS enrichment (`sync: true`) against a real local HTTP server standing in for the LMS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{assert_error, TestApp, CREATE_CUSTOMER};

/// What the fake LMS saw: (path, Authorization header).
pub(crate) type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

pub(crate) struct Lms {
    pub url: String,
    pub seen: Seen,
    /// Closed when the stand-in is dropped: "slow" requests wait for it.
    release: Arc<tokio::sync::Semaphore>,
    _handle: actix_web::dev::ServerHandle,
}

impl Drop for Lms {
    fn drop(&mut self) {
        self.release.close();
    }
}

/// Ids starting "known" exist; "unknown" are 404; "down" answer 500; "slow" answer only once
/// the stand-in is dropped (after any timeout).
pub(crate) async fn lms() -> Lms {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let seen: Seen = Arc::default();
    let recorded = seen.clone();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let held = release.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let (recorded, held) = (recorded.clone(), held.clone());
        App::new().route(
            "/api/customers/{tail:.*}",
            web::get().to(move |req: HttpRequest| {
                let (recorded, held) = (recorded.clone(), held.clone());
                async move {
                    let path = req.path().to_string();
                    let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_string());
                    recorded.lock().unwrap().push((path.clone(), auth));
                    let tail = path.trim_start_matches("/api/customers/");
                    let (id, loans) = match tail.strip_suffix("/loans") {
                        Some(id) => (id.to_string(), true),
                        None => (tail.to_string(), false),
                    };
                    if id.starts_with("slow") {
                        let _ = held.acquire().await;
                    }
                    if id.starts_with("down") {
                        return HttpResponse::InternalServerError().finish();
                    }
                    if id.starts_with("unknown") {
                        return HttpResponse::NotFound().finish();
                    }
                    if loans {
                        return HttpResponse::Ok().json(json!([
                            {"loanId": "L1", "amount": 1000.0, "installmentAmount": 100.0, "periodMonths": 10,
                             "currentInstallment": 2, "dueDate": "2026-12-01", "paymentStatus": "late"},
                            {"loanId": "L2", "amount": 2000.0},
                            {"loanId": "L3", "amount": 3000.0}
                        ]));
                    }
                    HttpResponse::Ok().json(json!({
                        "firstName": "FromLms", "lastName": "Lovelace", "email": "lms@example.com",
                        "birthday": "1980-05-05", "phoneNumber": "+1 212 555 0142", "timezone": "America/New_York",
                        "streetAddress1": "2 Broadway", "city": "New York", "state": "NY", "zipCode": "10004",
                        "externalMetadata": {"lmsScore": 7}
                    }))
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Lms { url, seen, release, _handle: handle }
}

async fn app_with_lms(lms: &Lms, key: Option<&str>) -> TestApp {
    with_lms(TestApp::spawn().await, lms, key).await
}

/// `app`'s company enriched from `lms`, with a collections schedule.
pub(crate) async fn with_lms(app: TestApp, lms: &Lms, key: Option<&str>) -> TestApp {
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"C\", taskType: \"collections\"}) { id } }",
        json!({}),
    )
    .await;
    app.gql_ok(
        "mutation($url: String!, $key: String) { updateCompanySettings(input: {lmsBaseUrl: $url, lmsApiKey: $key}) { lmsBaseUrl } }",
        json!({"url": lms.url, "key": key}),
    )
    .await;
    app
}

const CUSTOMER: &str = "{ id firstName lastName email phoneNumber timezone externalMetadata
    loans { loanId amount installmentAmount periodMonths currentInstallment dueDate paymentStatus } }";

#[tokio::test]
async fn the_request_wins_the_lms_fills_in_and_loans_are_kept() {
    let lms = lms().await;
    let app = app_with_lms(&lms, Some("lms-secret")).await;
    let q = format!("mutation($i: CustomerInput!) {{ createCustomer(input: $i) {CUSTOMER} }}");
    let created = app
        .gql_ok(
            &q,
            json!({"i": {"id": "known-1", "sync": true, "firstName": "FromRequest", "taskType": "collections",
                                 "loanIds": ["L1"], "loanId": "L3",
                                 "loans": [{"loanId": "L3", "amount": 3333.0}]}}),
        )
        .await;
    let c = &created["createCustomer"];
    assert_eq!(c["firstName"], "FromRequest");
    assert_eq!(c["lastName"], "Lovelace");
    assert_eq!(c["phoneNumber"], "+12125550142");
    assert_eq!(c["externalMetadata"], json!({"lmsScore": 7}));
    assert_eq!(
        c["loans"],
        json!([
            {"loanId": "L1", "amount": 1000.0, "installmentAmount": 100.0, "periodMonths": 10, "currentInstallment": 2,
             "dueDate": "2026-12-01", "paymentStatus": "late"},
            {"loanId": "L3", "amount": 3333.0, "installmentAmount": null, "periodMonths": null, "currentInstallment": null,
             "dueDate": null, "paymentStatus": null}
        ])
    );
    let seen = lms.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["/api/customers/known-1", "/api/customers/known-1/loans"]
    );
    assert!(seen.iter().all(|s| s.1.as_deref() == Some("Bearer lms-secret")));
    // The key is stored but never readable.
    let body = app.gql("{ viewer { lmsApiKey } }", json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", None);
}

/// `loanIds` takes numbers as the vendors send them (`[123, 456]`), compared as their decimal
/// text with the LMS's loan ids.
#[tokio::test]
async fn loan_ids_may_be_numbers() {
    let lms = lms().await;
    let app = app_with_lms(&lms, None).await;
    let q = format!("mutation($i: CustomerInput!) {{ createCustomer(input: $i) {CUSTOMER} }}");
    let created = app
        .gql_ok(
            &q,
            json!({"i": {"id": "known-1", "sync": true, "taskType": "collections", "loanIds": [123, "L2"]}}),
        )
        .await;
    let loans = created["createCustomer"]["loans"].as_array().unwrap();
    assert_eq!(loans.iter().map(|l| l["loanId"].as_str().unwrap()).collect::<Vec<_>>(), ["L2"]);
}

#[tokio::test]
async fn an_lms_unknown_customer_still_missing_contact_is_saved_without_a_schedule() {
    let lms = lms().await;
    let app = app_with_lms(&lms, None).await;
    let sync = "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { scheduleCreated skippedReason customer { id phoneNumber } } }";
    let body = app
        .gql_ok(sync, json!({"i": {"id": "unknown-1", "sync": true, "firstName": "A", "lastName": "B", "email": "a@b.co",
                                 "birthday": "1980-01-01", "taskType": "collections", "streetAddress1": "1 St",
                                 "city": "X", "state": "NY", "zipCode": "10001"}}))
        .await;
    let p = &body["syncCustomerSchedule"];
    assert_eq!(p["scheduleCreated"], false);
    assert_eq!(p["skippedReason"], "MISSING_PHONE_NUMBER");
    assert_eq!(p["customer"]["phoneNumber"], Value::Null);
    assert!(lms.seen.lock().unwrap().iter().all(|s| s.1.is_none()), "no key, no Authorization header");
    // Other required fields still are: missing after enrichment is an error.
    let body = app
        .gql(
            sync,
            json!({"i": {"id": "unknown-2", "sync": true, "firstName": "A", "taskType": "collections"}}),
        )
        .await;
    assert_error(&body, "BAD_USER_INPUT", Some("lastName"));
}

#[tokio::test]
async fn an_lms_that_fails_or_is_slow_is_unavailable_and_nothing_is_written() {
    let lms = lms().await;
    // The LMS's "slow" answers wait for the end of the test: only the timeout ends the request.
    // Production's is 5 s; this server's is shorter, so the test takes no 5 s.
    assert_eq!(callsync::lms::TIMEOUT, Duration::from_secs(5));
    let app = with_lms(TestApp::spawn_with_lms_timeout(Duration::from_secs(1)).await, &lms, None).await;
    for id in ["down-1", "slow-1"] {
        let body = app.gql(CREATE_CUSTOMER, json!({"input": {"id": id, "sync": true}})).await;
        assert_error(&body, "LMS_UNAVAILABLE", None);
    }
    // Refused connections too.
    app.gql_ok(
        "mutation { updateCompanySettings(input: {lmsBaseUrl: \"http://127.0.0.1:9\"}) { id } }",
        json!({}),
    )
    .await;
    let body = app.gql(CREATE_CUSTOMER, json!({"input": {"id": "known-2", "sync": true}})).await;
    assert_error(&body, "LMS_UNAVAILABLE", None);
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 0);
}

#[tokio::test]
async fn without_sync_the_lms_is_never_called() {
    let lms = lms().await;
    let app = app_with_lms(&lms, None).await;
    let mut input = crate::harness::customer_input("known-9");
    input["loans"] = json!([{"loanId": "INLINE", "amount": 5.0}]);
    input["loanIds"] = json!(["L1"]);
    app.gql_ok(CREATE_CUSTOMER, json!({"input": input})).await;
    assert!(lms.seen.lock().unwrap().is_empty());
    let c = app.gql_ok("{ customer(id: \"known-9\") { firstName loans { loanId } } }", json!({})).await;
    assert_eq!(c["customer"], json!({"firstName": "Ada", "loans": [{"loanId": "INLINE"}]}));
    let bad = app
        .gql(CREATE_CUSTOMER, json!({"input": {"id": "x", "loans": [{"loanId": "B", "amount": -1.0}]}}))
        .await;
    assert_error(&bad, "BAD_USER_INPUT", Some("loans.0"));
    // sync without an LMS configured is a clear input error.
    let other = app.new_company("No LMS").1;
    let body = app.gql_as(Some(&other), CREATE_CUSTOMER, json!({"input": {"id": "y", "sync": true}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("sync"));
}
