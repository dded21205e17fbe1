//! Company settings and the company-wide Do-Not-Call list.

use serde_json::{json, Value};

use crate::harness::{assert_error, TestApp};

const UPDATE: &str = "mutation($input: CompanySettingsInput!) { updateCompanySettings(input: $input) {
    id name callsPerSecondLimit callWebhookUrl lmsBaseUrl } }";

#[tokio::test]
async fn settings_update_validates_and_keeps_omitted_fields() {
    let app = TestApp::spawn().await;
    let data = app
        .gql_ok(
            UPDATE,
            json!({"input": {"name": "Acme Collections", "callsPerSecondLimit": 20,
                             "callWebhookUrl": "https://agent.example.com/calls", "callWebhookSecret": "0123456789abcdef",
                             "lmsBaseUrl": "http://127.0.0.1:9/lms/",
                             "lmsApiKey": "secret-lms-key"}}),
        )
        .await;
    let c = &data["updateCompanySettings"];
    assert_eq!(c["name"], "Acme Collections");
    assert_eq!(c["callsPerSecondLimit"], 20);
    assert_eq!(c["lmsBaseUrl"], "http://127.0.0.1:9/lms");

    let data = app.gql_ok(UPDATE, json!({"input": {"callWebhookUrl": null}})).await;
    assert_eq!(data["updateCompanySettings"]["callWebhookUrl"], Value::Null);
    assert_eq!(data["updateCompanySettings"]["callsPerSecondLimit"], 20);

    for (field, value) in [
        ("name", json!("")),
        ("name", Value::Null),
        ("callsPerSecondLimit", json!(0)),
        ("callsPerSecondLimit", json!(5000)),
        ("callWebhookUrl", json!("ftp://example.com")),
        ("lmsBaseUrl", json!("not a url")),
        ("callWebhookSecret", json!("short")),
    ] {
        let body = app.gql(UPDATE, json!({"input": {field: value, "callsPerSecondLimit": if field == "callsPerSecondLimit" { value.clone() } else { json!(7) }}})).await;
        assert_error(&body, "BAD_USER_INPUT", Some(field));
    }
    // Deliveries are signed: a webhook URL needs a secret (this company's was cleared above).
    let other = app.new_company("No secret").1;
    let body =
        app.gql_as(Some(&other), UPDATE, json!({"input": {"callWebhookUrl": "https://x.example.com"}})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("callWebhookSecret"));
    let viewer = app.gql_ok("{ viewer { name callsPerSecondLimit } }", json!({})).await;
    assert_eq!(viewer["viewer"], json!({"name": "Acme Collections", "callsPerSecondLimit": 20}));
}

#[tokio::test]
async fn the_lms_api_key_is_never_returned() {
    let app = TestApp::spawn().await;
    app.gql_ok(UPDATE, json!({"input": {"lmsApiKey": "secret-lms-key"}})).await;
    // Stored, sealed (tests/api/secrets.rs covers the sealing).
    assert_eq!(app.count("SELECT count(*) AS n FROM companies WHERE lms_api_key LIKE 'enc:v1:%'"), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM companies WHERE companies::text LIKE '%secret-lms-key%'"),
        0
    );
    let fields = app.gql_ok("{ __type(name: \"Company\") { fields { name } } }", json!({})).await;
    let names: Vec<&str> =
        fields["__type"]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(!names.iter().any(|n| n.to_lowercase().contains("apikey")), "{names:?}");
    let body = app.gql("{ viewer { lmsApiKey } }", json!({})).await;
    assert_error(&body, "BAD_USER_INPUT", None);
}

#[tokio::test]
async fn suppressed_numbers_are_normalised_counted_and_all_or_nothing() {
    let app = TestApp::spawn().await;
    let add = "mutation($n: [String!]!) { addSuppressedNumbers(phoneNumbers: $n) }";
    let remove = "mutation($n: [String!]!) { removeSuppressedNumbers(phoneNumbers: $n) }";
    let data = app.gql_ok(add, json!({"n": ["(310) 555-1234", "+13105551234", "212-555-0199"]})).await;
    assert_eq!(data["addSuppressedNumbers"], 2);
    let data = app.gql_ok(add, json!({"n": ["+1 212 555 0199"]})).await;
    assert_eq!(data["addSuppressedNumbers"], 0);

    let body = app.gql(add, json!({"n": ["+14155550100", "12"]})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("phoneNumbers"));
    assert_eq!(app.count("SELECT count(*) AS n FROM suppressed_numbers"), 2);

    let data = app.gql_ok(remove, json!({"n": ["310.555.1234", "+14155550100"]})).await;
    assert_eq!(data["removeSuppressedNumbers"], 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM suppressed_numbers WHERE phone_number = '+12125550199'"),
        1
    );
}
