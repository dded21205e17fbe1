//! Consent per number: an AI voice needs it (FCC 24-17), a customer's own number has it by
//! default, a one-off number needs it on file or with the call, and revocation is at once.

use serde_json::{json, Value};

use crate::harness::{assert_error, create_schedule, customer_at, TestApp};

const NEW_YORK: (&str, &str, &str, &str) = ("America/New_York", "NY", "10001", "+12125550100");
const CONSENT: &str = "query($p: String!) { consent(phoneNumber: $p) { phoneNumber type source evidence obtainedAt revokedAt } }";
const RECORD: &str = "mutation($p: String!, $c: ConsentInput!) { recordConsent(phoneNumber: $p, consent: $c) { type source revokedAt } }";
const REVOKE: &str = "mutation($p: String!) { revokeConsent(phoneNumber: $p) { type revokedAt } }";
const MAKE_CALL: &str = "mutation($i: MakeCallInput!) { makeCall(input: $i) { id } }";
const SYNC: &str =
    "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated skippedReason } }";

fn given(kind: &str) -> Value {
    json!({"type": kind, "source": "WEB_FORM", "evidence": "cert-42", "obtainedAt": "2026-11-30T12:00:00Z"})
}

#[tokio::test]
async fn a_one_off_number_needs_consent_on_file_or_with_the_call() {
    let app = TestApp::spawn().await;
    let schedule = create_schedule(&app, "collections").await;
    let to = "+1 212 555 0177";
    let refused = app.gql(MAKE_CALL, json!({"i": {"scheduleId": schedule, "to": to}})).await;
    assert_error(&refused, "NO_CONSENT", None);
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("recordConsent"), "{refused}");
    assert_eq!(app.gql_ok(CONSENT, json!({"p": to})).await["consent"], Value::Null);
    // Bad consent with the call: refused, nothing written (neither the call nor the consent).
    let mut future = given("PRIOR_EXPRESS");
    future["obtainedAt"] = json!("2027-01-01T00:00:00Z");
    let bad = app.gql(MAKE_CALL, json!({"i": {"scheduleId": schedule, "to": to, "consent": future}})).await;
    assert_error(&bad, "BAD_USER_INPUT", Some("consent.obtainedAt"));
    assert_eq!(app.count("SELECT count(*) AS n FROM consents"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);
    // With consent: placed, and the consent is on file with its evidence.
    app.gql_ok(
        MAKE_CALL,
        json!({"i": {"scheduleId": schedule, "to": to, "consent": given("PRIOR_EXPRESS")}}),
    )
    .await;
    let on_file = app.gql_ok(CONSENT, json!({"p": "(212) 555-0177"})).await["consent"].clone();
    assert_eq!(
        (on_file["type"].clone(), on_file["source"].clone(), on_file["evidence"].clone()),
        (json!("PRIOR_EXPRESS"), json!("WEB_FORM"), json!("cert-42"))
    );
}

#[tokio::test]
async fn a_revoked_consent_stops_the_number_at_once_and_a_sync_does_not_restore_it() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
    app.gql_ok(SYNC, json!({"i": customer_at("c-1", NEW_YORK)})).await;
    // The default for a number the customer gave.
    let default =
        app.gql_ok("{ customer(id: \"c-1\") { consent { type source revokedAt } } }", json!({})).await;
    assert_eq!(
        default["customer"]["consent"],
        json!({"type": "PRIOR_EXPRESS", "source": "PROVIDED_BY_CONSUMER", "revokedAt": null})
    );
    let queued = app.gql_ok(MAKE_CALL, json!({"i": {"customerId": "c-1"}})).await["makeCall"]["id"].clone();
    let revoked = app.gql_ok(REVOKE, json!({"p": "+12125550100"})).await;
    assert!(revoked["revokeConsent"]["revokedAt"].is_string(), "{revoked}");
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 0);
    let call =
        app.gql_ok("query($id: ID!) { call(id: $id) { status cancelReason } }", json!({"id": queued})).await;
    assert_eq!(call["call"], json!({"status": "CANCELLED", "cancelReason": "NO_CONSENT"}));
    app.clock.advance(chrono::Duration::hours(1));
    assert_error(&app.gql(MAKE_CALL, json!({"i": {"customerId": "c-1"}})).await, "NO_CONSENT", None);
    // Sending the number again with the customer does not restore it.
    let synced = app.gql_ok(SYNC, json!({"i": customer_at("c-1", NEW_YORK)})).await;
    assert_eq!(synced["syncCustomerSchedule"], json!({"tasksCreated": 0, "skippedReason": "NO_CONSENT"}));
    // A new consent does.
    app.gql_ok(RECORD, json!({"p": "+12125550100", "c": given("PRIOR_EXPRESS")})).await;
    app.gql_ok(MAKE_CALL, json!({"i": {"customerId": "c-1"}})).await;
}

#[tokio::test]
async fn telemarketing_needs_written_consent_and_an_opt_out_revokes_it() {
    let app = TestApp::spawn().await;
    app.gql_ok(
        "mutation { createSchedule(input: {name: \"Offers\", taskType: \"offers\", purpose: TELEMARKETING}) { id } }",
        json!({}),
    )
    .await;
    let mut customer = customer_at("t-1", NEW_YORK);
    customer["taskType"] = json!("offers");
    app.gql_ok(
        "mutation($i: CustomerInput!) { upsertCustomer(input: $i) { created } }",
        json!({"i": customer}),
    )
    .await;
    let refused = app.gql(MAKE_CALL, json!({"i": {"customerId": "t-1"}})).await;
    assert_error(&refused, "NO_CONSENT", None);
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("written"), "{refused}");
    app.gql_ok(RECORD, json!({"p": "+12125550100", "c": given("PRIOR_EXPRESS_WRITTEN")})).await;
    let call = app.gql_ok(MAKE_CALL, json!({"i": {"customerId": "t-1"}})).await["makeCall"]["id"].clone();
    // "Stop calling me": consent revoked and the number suppressed, in the report's transaction.
    app.gql_ok(
        "mutation($id: ID!) { reportCallStatus(input: {callId: $id, status: COMPLETED, outcome: OPT_OUT}) { id } }",
        json!({"id": call}),
    )
    .await;
    let on_file = app.gql_ok(CONSENT, json!({"p": "+12125550100"})).await;
    assert!(on_file["consent"]["revokedAt"].is_string(), "{on_file}");
}

#[tokio::test]
async fn bad_consent_input_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut future = given("PRIOR_EXPRESS");
    future["obtainedAt"] = json!("2030-01-01T00:00:00Z");
    assert_error(
        &app.gql(RECORD, json!({"p": "+12125550100", "c": future})).await,
        "BAD_USER_INPUT",
        Some("consent.obtainedAt"),
    );
    let mut long = given("PRIOR_EXPRESS");
    long["evidence"] = json!("x".repeat(2001));
    assert_error(
        &app.gql(RECORD, json!({"p": "+12125550100", "c": long})).await,
        "BAD_USER_INPUT",
        Some("consent.evidence"),
    );
    assert_error(
        &app.gql(RECORD, json!({"p": "+12125550100", "c": given("VERBAL")})).await,
        "BAD_USER_INPUT",
        None,
    );
    assert_error(
        &app.gql(RECORD, json!({"p": "12", "c": given("PRIOR_EXPRESS")})).await,
        "BAD_USER_INPUT",
        Some("phoneNumber"),
    );
    assert_error(&app.gql(REVOKE, json!({"p": "+12125550100"})).await, "NOT_FOUND", None);
    assert_eq!(app.count("SELECT count(*) AS n FROM consents"), 0);
    // Another company's consent is not this one's.
    app.gql_ok(RECORD, json!({"p": "+12125550100", "c": given("PRIOR_EXPRESS")})).await;
    let (_, other) = app.new_company("Other");
    let theirs = app.gql_as(Some(&other), CONSENT, json!({"p": "+12125550100"})).await;
    assert_eq!(theirs["data"]["consent"], Value::Null, "{theirs}");
}

/// 47 CFR 64.1200(a)(3)(ii): without consent, a residential landline may get 3 artificial-voice
/// calls in 30 days (not telemarketing); a cell or VoIP line gets none.
#[tokio::test]
async fn a_landline_without_consent_gets_three_calls_in_thirty_days() {
    let app = TestApp::spawn().await;
    let schedule = create_schedule(&app, "collections").await;
    // An Albany number: New York City's 2 calls a week would come first with a 212 one.
    let call = |line: &str| json!({"i": {"scheduleId": schedule, "to": "+15185550188", "lineType": line}});
    assert_error(&app.gql(MAKE_CALL, call("VOIP")).await, "NO_CONSENT", None);
    for _ in 0..3 {
        let id = app.gql_ok(MAKE_CALL, call("LANDLINE")).await["makeCall"]["id"].clone();
        // Handed over with the same fact (decided again as a landline), then no answer.
        let claimed = app.gql_ok("mutation { claimCalls(limit: 10) { id } }", json!({})).await;
        assert_eq!(claimed["claimCalls"][0]["id"], id, "{claimed}");
        app.gql_ok(
            "mutation($id: ID!) { reportCallStatus(input: {callId: $id, status: NO_ANSWER}) { id } }",
            json!({"id": id}),
        )
        .await;
        app.clock.advance(chrono::Duration::days(1));
    }
    let fourth = app.gql(MAKE_CALL, call("LANDLINE")).await;
    assert_error(&fourth, "CONTACT_LIMIT", None);
    assert_eq!(fourth["errors"][0]["extensions"]["reason"], "LANDLINE_CAP", "{fourth}");
    assert!(fourth["errors"][0]["extensions"]["nextAllowedAt"].is_string(), "{fourth}");
    // Telemarketing gets no landline allowance.
    let sales = app
        .gql_ok(
            "mutation { createSchedule(input: {name: \"Offers\", taskType: \"offers\", purpose: TELEMARKETING}) { id } }",
            json!({}),
        )
        .await["createSchedule"]["id"]
        .clone();
    let offer = app
        .gql(MAKE_CALL, json!({"i": {"scheduleId": sales, "to": "+15185550189", "lineType": "LANDLINE"}}))
        .await;
    assert_error(&offer, "NO_CONSENT", None);
}
