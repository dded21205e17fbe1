//! Company secrets at rest (`lmsApiKey`, `callWebhookSecret`): sealed with the server's
//! `CALLSYNC_SECRET_KEY`, never in the database as plain text, and still used where they are
//! needed (the LMS's `Authorization`, the webhook's signature). A server without a key refuses
//! to store one; a server that cannot read one fails that company's LMS and webhook, clearly.

use callsync::dialer::webhook::{self, WebhookConfig};
use callsync::secrets::{SecretKey, Secrets};
use serde_json::{json, Value};

use crate::calls::receiver;
use crate::harness::{
    assert_error, create_schedule, customer_input, utc, webhook_config, TestApp, CREATE_CUSTOMER, TEST_START,
};
use crate::lms::lms;

const SETTINGS: &str =
    "mutation($input: CompanySettingsInput!) { updateCompanySettings(input: $input) { name lmsBaseUrl callWebhookUrl } }";
const LMS_KEY: &str = "lms-key-7f3a9c";
const WEBHOOK_SECRET: &str = "whsec-0123456789abcdef";

/// The two secret columns as Postgres holds them.
fn stored_secrets(app: &TestApp) -> (Option<String>, Option<String>) {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        lms_api_key: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        call_webhook_secret: Option<String>,
    }
    let query =
        format!("SELECT lms_api_key, call_webhook_secret FROM companies WHERE id = '{}'", app.company_id);
    let row: Row = diesel::sql_query(query).get_result(&mut app.db.connect()).unwrap();
    (row.lms_api_key, row.call_webhook_secret)
}

/// A customer in Los Angeles (callable at the tests' start) and the settings pointing at `lms`
/// and `hook` with both secrets.
async fn company_with_secrets(app: &TestApp, lms_url: &str, hook_url: &str) {
    create_schedule(app, "collections").await;
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_input("c-1")})).await;
    let input = json!({"lmsBaseUrl": lms_url, "lmsApiKey": LMS_KEY, "callWebhookUrl": hook_url,
                       "callWebhookSecret": WEBHOOK_SECRET, "callsPerSecondLimit": 100});
    app.gql_ok(SETTINGS, json!({"input": input})).await;
}

/// A `sync: true` create for an id the stand-in LMS knows (it fills in the rest).
fn synced(id: &str) -> Value {
    json!({"input": {"id": id, "sync": true, "taskType": "collections"}})
}

async fn queue_call(app: &TestApp) {
    app.gql_ok("mutation { makeCall(input: {customerId: \"c-1\"}) { id } }", json!({})).await;
}

/// Every request the receiver got carries a signature that verifies under `secret`.
fn assert_signed_with(requests: &[(actix_web::http::header::HeaderMap, String)], secret: &str) {
    assert!(!requests.is_empty());
    for (headers, body) in requests {
        let timestamp: i64 = headers.get("x-callsync-timestamp").unwrap().to_str().unwrap().parse().unwrap();
        let signature = headers.get("x-callsync-signature").unwrap().to_str().unwrap();
        assert_eq!(signature, webhook::signature(secret, timestamp, body.as_bytes()));
    }
}

#[tokio::test]
async fn secrets_are_stored_sealed_and_still_authenticate_and_sign() {
    let app = TestApp::spawn().await;
    let (lms, hook) = (lms().await, receiver(0).await);
    company_with_secrets(&app, &lms.url, &hook.url).await;

    // In the database: sealed, with no trace of either secret anywhere in the row.
    let (lms_key, webhook_secret) = stored_secrets(&app);
    for sealed in [lms_key.unwrap(), webhook_secret.unwrap()] {
        assert!(sealed.starts_with("enc:v1:"), "{sealed}");
    }
    let plain = format!(
        "SELECT count(*) AS n FROM companies WHERE companies::text LIKE '%{LMS_KEY}%' OR companies::text LIKE '%{WEBHOOK_SECRET}%'"
    );
    assert_eq!(app.count(&plain), 0);

    // The LMS gets the key itself.
    app.gql_ok(CREATE_CUSTOMER, synced("known-1")).await;
    let seen = lms.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|(_, auth)| auth.as_deref() == Some(&format!("Bearer {LMS_KEY}"))), "{seen:?}");

    // The webhook receiver verifies the signature with the secret itself.
    queue_call(&app).await;
    let config = webhook_config();
    webhook::deliver_due(&app.store, &webhook::client(&config), &config).await.unwrap();
    let requests = hook.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_signed_with(&requests, WEBHOOK_SECRET);
}

#[tokio::test]
async fn plain_text_secrets_from_before_still_work_and_are_sealed_when_written_again() {
    let app = TestApp::spawn().await;
    let (lms, hook) = (lms().await, receiver(0).await);
    company_with_secrets(&app, &lms.url, &hook.url).await;
    app.execute(&format!(
        "UPDATE companies SET lms_api_key = 'legacy-lms-key', call_webhook_secret = 'legacy-0123456789abcdef' WHERE id = '{}'",
        app.company_id
    ));

    app.gql_ok(CREATE_CUSTOMER, synced("known-1")).await;
    assert!(lms
        .seen
        .lock()
        .unwrap()
        .iter()
        .all(|(_, auth)| auth.as_deref() == Some("Bearer legacy-lms-key")));
    queue_call(&app).await;
    let config = webhook_config();
    webhook::deliver_due(&app.store, &webhook::client(&config), &config).await.unwrap();
    assert_signed_with(&hook.requests.lock().unwrap(), "legacy-0123456789abcdef");

    // Written again: sealed; the one not written stays as it was until it is.
    app.gql_ok(SETTINGS, json!({"input": {"lmsApiKey": "new-lms-key"}})).await;
    let (lms_key, webhook_secret) = stored_secrets(&app);
    assert!(lms_key.unwrap().starts_with("enc:v1:"));
    assert_eq!(webhook_secret.as_deref(), Some("legacy-0123456789abcdef"));
}

#[tokio::test]
async fn a_server_without_a_key_refuses_to_store_secrets_and_writes_nothing() {
    let app =
        TestApp::spawn_configured(utc(TEST_START), |options| options.secrets = Secrets::default()).await;
    let cases = [
        (
            "lmsApiKey",
            json!({"name": "Renamed", "lmsBaseUrl": "https://lms.example.com", "lmsApiKey": LMS_KEY}),
        ),
        (
            "callWebhookSecret",
            json!({"name": "Renamed", "callWebhookUrl": "https://hooks.example.com/calls", "callWebhookSecret": WEBHOOK_SECRET}),
        ),
    ];
    for (field, input) in cases {
        let body = app.gql(SETTINGS, json!({"input": input})).await;
        assert_error(&body, "BAD_USER_INPUT", Some(field));
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(field) && message.contains("no CALLSYNC_SECRET_KEY"), "{message}");
    }
    let viewer = app.gql_ok("{ viewer { name lmsBaseUrl callWebhookUrl } }", json!({})).await;
    assert_eq!(
        viewer["viewer"],
        json!({"name": "Acme", "lmsBaseUrl": null, "callWebhookUrl": null}),
        "nothing written"
    );
    assert_eq!(stored_secrets(&app), (None, None));

    // Everything else still works without a key, clearing a secret included.
    let cleared = app
        .gql_ok(
            SETTINGS,
            json!({"input": {"name": "Renamed", "lmsBaseUrl": "https://lms.example.com", "lmsApiKey": null}}),
        )
        .await;
    assert_eq!(cleared["updateCompanySettings"]["name"], "Renamed");
}

#[tokio::test]
async fn a_secret_this_server_cannot_read_fails_that_companys_lms_and_webhook_clearly() {
    let app = TestApp::spawn().await;
    let (lms, hook) = (lms().await, receiver(0).await);
    company_with_secrets(&app, &lms.url, &hook.url).await;
    let keyless = Secrets::default();
    let other_key = Secrets::new(Some(SecretKey::generate()));

    // The LMS: LMS_UNAVAILABLE saying why, nothing sent, nothing written; the instance serves on.
    for (secrets, why) in
        [(keyless.clone(), "no CALLSYNC_SECRET_KEY"), (other_key.clone(), "does not decrypt")]
    {
        let instance =
            app.another_instance_with(callsync::http::AppOptions { secrets, ..app.options.clone() });
        let body: Value = app
            .client
            .post(format!("{}/graphql", instance.base_url))
            .header("X-API-Key", &app.api_key)
            .json(&json!({"query": CREATE_CUSTOMER, "variables": synced("known-1")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_error(&body, "LMS_UNAVAILABLE", None);
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("lmsApiKey") && message.contains(why), "{message}");
        let ready = app.client.get(format!("{}/readyz", instance.base_url)).send().await.unwrap();
        assert_eq!(ready.status(), 200);
    }
    assert!(lms.seen.lock().unwrap().is_empty());
    assert_eq!(app.count("SELECT count(*) AS n FROM customers WHERE external_id = 'known-1'"), 0);

    // The webhook: the attempt fails before anything is sent (never unsigned) and says why;
    // a round with the right key then delivers it.
    queue_call(&app).await;
    for secrets in [keyless, other_key] {
        let config = WebhookConfig { secrets, ..webhook_config() };
        webhook::deliver_due(&app.store, &webhook::client(&config), &config).await.unwrap();
        app.clock.advance(chrono::Duration::minutes(1));
    }
    assert!(hook.requests.lock().unwrap().is_empty());
    let failed = "SELECT count(*) AS n FROM calls WHERE status = 'QUEUED' AND webhook_attempts = 2
                  AND webhook_last_error LIKE '%callWebhookSecret cannot be read%'";
    assert_eq!(app.count(failed), 1);
    let config = webhook_config();
    webhook::deliver_due(&app.store, &webhook::client(&config), &config).await.unwrap();
    assert_signed_with(&hook.requests.lock().unwrap(), WEBHOOK_SECRET);
}
