//! State rules follow every state the consumer may be in, and a company can tighten the law
//! but never switch it off.

use serde_json::json;

use crate::harness::{assert_error, create_schedule, customer_at, TestApp};

const MAKE_CALL: &str = "mutation { makeCall(input: {customerId: \"ny-617\"}) { id } }";

#[tokio::test]
async fn a_new_york_address_with_a_boston_cell_gets_massachusetts_cap() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    // Tuesday 12:00 in New York; the number's area code is Boston's.
    let place = ("America/New_York", "NY", "10001", "+16175550100");
    app.gql_ok(
        "mutation($i: CustomerInput!) { upsertCustomer(input: $i) { created } }",
        json!({"i": customer_at("ny-617", place)}),
    )
    .await;
    app.gql_ok(MAKE_CALL, json!({})).await;
    app.clock.advance(chrono::Duration::days(1));
    app.gql_ok(MAKE_CALL, json!({})).await;
    app.clock.advance(chrono::Duration::days(1));
    let third = app.gql(MAKE_CALL, json!({})).await;
    assert_error(&third, "CONTACT_LIMIT", None);
    assert_eq!(third["errors"][0]["extensions"]["reason"], "WEEKLY_CAP", "{third}");
}

#[tokio::test]
async fn an_override_may_tighten_the_law_but_not_lift_it() {
    let app = TestApp::spawn().await;
    let update = "mutation($r: JSON) { updateCompanySettings(input: {stateRules: $r}) { stateRules } }";
    for lifting in
        [json!({"MA": []}), json!({"MA": [{"maxPer7Days": 5}]}), json!({"FL": [{"latest": "21:00"}]})]
    {
        let body = app.gql(update, json!({"r": lifting})).await;
        assert_error(&body, "BAD_USER_INPUT", Some("stateRules"));
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("never loosen"), "{body}");
    }
    // Nothing was written.
    let current = app.gql_ok("{ viewer { stateRules } }", json!({})).await;
    assert_eq!(current["viewer"]["stateRules"], json!({}));
    let tighter =
        app.gql_ok(update, json!({"r": {"MA": [{"maxPer7Days": 1, "source": "house rule"}]}})).await;
    assert_eq!(tighter["updateCompanySettings"]["stateRules"]["MA"][0]["maxPer7Days"], 1);
}
