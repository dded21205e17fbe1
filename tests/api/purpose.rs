//! What a schedule's calls are for: a collection schedule keeps Reg F's quiet period, and a
//! state rule applies to the purposes its law covers.

use serde_json::json;

use crate::harness::{assert_error, customer_at, utc, TestApp};

const CREATE: &str =
    "mutation($i: ScheduleInput!) { createSchedule(input: $i) { id purpose quietPeriodAfterConversation } }";

#[tokio::test]
async fn a_collection_schedule_keeps_the_quiet_period() {
    let app = TestApp::spawn().await;
    let created = app.gql_ok(CREATE, json!({"i": {"name": "Collections", "taskType": "collections"}})).await;
    assert_eq!(created["createSchedule"]["purpose"], "COLLECTION");
    let id = created["createSchedule"]["id"].clone();
    let off = "mutation($id: ID!, $i: ScheduleInput!) { updateSchedule(id: $id, input: $i) { purpose quietPeriodAfterConversation } }";
    let refused = app.gql(off, json!({"id": id, "i": {"quietPeriodAfterConversation": false}})).await;
    assert_error(&refused, "BAD_USER_INPUT", Some("quietPeriodAfterConversation"));
    let refused = app
        .gql(CREATE, json!({"i": {"name": "X", "taskType": "x", "purpose": "COLLECTION", "quietPeriodAfterConversation": false}}))
        .await;
    assert_error(&refused, "BAD_USER_INPUT", Some("quietPeriodAfterConversation"));
    assert_error(
        &app.gql(CREATE, json!({"i": {"name": "X", "taskType": "x", "purpose": "SURVEY"}})).await,
        "BAD_USER_INPUT",
        None,
    );
    // Nothing was written.
    assert_eq!(app.count("SELECT count(*) AS n FROM schedules"), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM schedules WHERE quiet_period_after_conversation"), 1);
    let informational = app
        .gql_ok(
            off,
            json!({"id": id, "i": {"purpose": "INFORMATIONAL", "quietPeriodAfterConversation": false}}),
        )
        .await;
    assert_eq!(
        informational["updateSchedule"],
        json!({"purpose": "INFORMATIONAL", "quietPeriodAfterConversation": false})
    );
    // Back to COLLECTION with the quiet period still off: refused, naming purpose.
    assert_error(
        &app.gql(off, json!({"id": id, "i": {"purpose": "COLLECTION"}})).await,
        "BAD_USER_INPUT",
        Some("purpose"),
    );
}

/// Texas' 9:00 start (Tex. Bus. & Com. Code 301.051) is a telemarketing law that excludes debt
/// collection: at 08:30 in Houston a collection call may be placed, a telemarketing call not.
#[tokio::test]
async fn a_state_rule_applies_to_the_purposes_its_law_covers() {
    // Tuesday 08:30 in Houston.
    let app = TestApp::spawn_at(utc("2026-12-01T14:30:00Z")).await;
    for (name, purpose) in [("collections", "COLLECTION"), ("sales", "TELEMARKETING")] {
        app.gql_ok(CREATE, json!({"i": {"name": name, "taskType": name, "purpose": purpose}})).await;
        let mut customer =
            customer_at(&format!("tx-{name}"), ("America/Chicago", "TX", "77002", "+17135550100"));
        customer["taskType"] = json!(name);
        customer["phoneNumber"] = json!(if name == "sales" { "+17135550101" } else { "+17135550100" });
        app.gql_ok(
            "mutation($i: CustomerInput!) { upsertCustomer(input: $i) { created } }",
            json!({"i": customer}),
        )
        .await;
    }
    // Telemarketing by an AI voice needs written consent.
    crate::harness::record_consent(&app, "+17135550101", true).await;
    let call = "mutation($c: ID!) { makeCall(input: {customerId: $c}) { id } }";
    app.gql_ok(call, json!({"c": "tx-collections"})).await;
    let refused = app.gql(call, json!({"c": "tx-sales"})).await;
    assert_error(&refused, "OUTSIDE_CALLING_HOURS", None);
    let next = refused["errors"][0]["extensions"]["nextAllowedAt"].as_str().unwrap();
    assert_eq!(utc(next), utc("2026-12-01T15:00:00Z"), "09:00 in Houston: {refused}");
}
