//! Rules below and beside the federal ones, end to end: a state's own holiday calendar
//! (Alabama's Confederate Memorial Day, Louisiana's Good Friday) and New York City's DCWP
//! frequency cap (6 RCNY 5-77) for a consumer who may be in the city. Every instant is fixed
//! (the server's clock is set), never the wall clock.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::harness::{assert_error, customer_at, utc, Place, TestApp, CREATE_CUSTOMER};

/// Birmingham, Alabama.
const BIRMINGHAM: Place = ("America/Chicago", "AL", "35203", "+12055550100");
/// New Orleans, Louisiana.
const NEW_ORLEANS: Place = ("America/Chicago", "LA", "70112", "+15045550100");
/// Park Slope, Brooklyn, with an upstate (Syracuse) cell: only the ZIP says New York City.
const BROOKLYN: Place = ("America/New_York", "NY", "11215", "+13155550100");
/// A Jersey City address with a 718 cell: only the area code says New York City.
const JERSEY_CITY_718: Place = ("America/New_York", "NJ", "07302", "+17185550100");

const ELIGIBILITY: &str = "query($c: ID, $at: DateTime) {
    callEligibility(customerId: $c, at: $at) {
      allowed code reason message nextAllowedAt zones attemptsLast7Days } }";
const MAKE_CALL: &str = "mutation($input: MakeCallInput!) { makeCall(input: $input) { id status } }";
const RECORD: &str = "mutation($a: [CallAttemptInput!]!) { recordCallAttempts(attempts: $a) { recorded } }";
const UPDATE_RULES: &str =
    "mutation($r: JSON) { updateCompanySettings(input: {stateRules: $r}) { stateRules } }";

async fn setup(app: &TestApp, customers: &[(&str, Place)]) {
    app.gql_ok(
        "mutation($input: ScheduleInput!) { createSchedule(input: $input) { id } }",
        json!({"input": {"name": "Collections", "taskType": "collections", "timeZone": "America/Chicago"}}),
    )
    .await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 1000}) { id } }", json!({}))
        .await;
    for (id, place) in customers {
        app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_at(id, *place)})).await;
    }
}

async fn eligibility(app: &TestApp, customer: &str, at: &str) -> Value {
    app.gql_ok(ELIGIBILITY, json!({"c": customer, "at": at})).await["callEligibility"].clone()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap_or_else(|| panic!("an instant, got {value}")).parse().unwrap()
}

#[tokio::test]
async fn alabamas_confederate_memorial_day_is_closed_until_the_next_morning() {
    // Monday 2027-04-26 is Confederate Memorial Day (Ala. Code 1-3-8), no federal holiday.
    let app = TestApp::spawn_at(utc("2027-04-26T15:00:00Z")).await;
    setup(&app, &[("al", BIRMINGHAM)]).await;
    // 12:00 CDT.
    let e = eligibility(&app, "al", "2027-04-26T17:00:00Z").await;
    assert_eq!(
        (e["allowed"].clone(), e["code"].clone()),
        (json!(false), json!("OUTSIDE_CALLING_HOURS")),
        "{e:#}"
    );
    assert_eq!(instant(&e["nextAllowedAt"]), utc("2027-04-27T13:00:00Z"), "Tuesday 08:00 CDT: {e:#}");
    assert!(e["message"].as_str().unwrap().contains("a legal holiday (AL)"), "{e:#}");
    // makeCall at noon says the same.
    app.clock.set(utc("2027-04-26T17:00:00Z"));
    let body = app.gql(MAKE_CALL, json!({"input": {"customerId": "al"}})).await;
    assert_error(&body, "OUTSIDE_CALLING_HOURS", None);
    assert_eq!(instant(&body["errors"][0]["extensions"]["nextAllowedAt"]), utc("2027-04-27T13:00:00Z"));
    // The next morning the call goes out.
    app.clock.set(utc("2027-04-27T15:00:00Z"));
    let body = app.gql_ok(MAKE_CALL, json!({"input": {"customerId": "al"}})).await;
    assert_eq!(body["makeCall"]["status"], "QUEUED", "{body:#}");
}

#[tokio::test]
async fn louisianas_good_friday_moves_the_call_past_the_weekend() {
    // Good Friday 2027-03-26 (La. R.S. 1:55); Saturday is banned statewide (a legal holiday in
    // Orleans Parish and other parishes), Sunday by the row: Monday 08:00 CDT.
    let app = TestApp::spawn_at(utc("2027-03-26T15:00:00Z")).await;
    setup(&app, &[("la", NEW_ORLEANS), ("al", BIRMINGHAM)]).await;
    let e = eligibility(&app, "la", "2027-03-26T17:00:00Z").await;
    assert_eq!(e["code"], "OUTSIDE_CALLING_HOURS", "{e:#}");
    assert_eq!(instant(&e["nextAllowedAt"]), utc("2027-03-29T13:00:00Z"), "{e:#}");
    // Good Friday is no Alabama holiday.
    assert_eq!(eligibility(&app, "al", "2027-03-26T17:00:00Z").await["allowed"], true);
}

#[tokio::test]
async fn a_brooklyn_zip_gets_new_york_citys_two_calls_in_seven_days() {
    let app = TestApp::spawn_at(utc("2026-12-02T17:00:00Z")).await;
    setup(&app, &[("bk", BROOKLYN)]).await;
    let now = app.clock.now();
    let two = json!([
        {"customerId": "bk", "occurredAt": (now - Duration::hours(50)).to_rfc3339(), "status": "NO_ANSWER"},
        {"customerId": "bk", "occurredAt": (now - Duration::hours(26)).to_rfc3339(), "status": "VOICEMAIL"}
    ]);
    assert_eq!(app.gql_ok(RECORD, json!({"a": two})).await["recordCallAttempts"]["recorded"], 2);
    let e = eligibility(&app, "bk", "2026-12-02T17:00:00Z").await;
    assert_eq!(
        (e["code"].clone(), e["reason"].clone()),
        (json!("CONTACT_LIMIT"), json!("WEEKLY_CAP")),
        "{e:#}"
    );
    assert_eq!(e["attemptsLast7Days"], 2);
    // The Monday attempt (11-30) leaves the 7 days on the next Monday: 08:00 EST.
    assert_eq!(instant(&e["nextAllowedAt"]), utc("2026-12-07T13:00:00Z"), "{e:#}");
    let body = app.gql(MAKE_CALL, json!({"input": {"customerId": "bk"}})).await;
    assert_error(&body, "CONTACT_LIMIT", None);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "WEEKLY_CAP");
}

#[tokio::test]
async fn a_718_cell_brings_new_york_citys_cap_to_a_new_jersey_address() {
    let app = TestApp::spawn().await;
    setup(&app, &[("nj", JERSEY_CITY_718)]).await;
    for _ in 0..2 {
        let body = app.gql_ok(MAKE_CALL, json!({"input": {"customerId": "nj"}})).await;
        assert_eq!(body["makeCall"]["status"], "QUEUED", "{body:#}");
        app.clock.advance(Duration::hours(3));
    }
    let body = app.gql(MAKE_CALL, json!({"input": {"customerId": "nj"}})).await;
    assert_error(&body, "CONTACT_LIMIT", None);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "WEEKLY_CAP", "{body:#}");
}

#[tokio::test]
async fn new_york_citys_rule_is_listed_and_may_be_tightened_never_lifted() {
    let app = TestApp::spawn().await;
    let rules = app.gql_ok("{ stateCallingRules { state maxPer7Days source overridden } }", json!({})).await;
    let nyc: Vec<&Value> =
        rules["stateCallingRules"].as_array().unwrap().iter().filter(|r| r["state"] == "NY-NYC").collect();
    assert_eq!(nyc.len(), 1, "{rules:#}");
    assert_eq!(nyc[0]["maxPer7Days"], 2);
    assert!(nyc[0]["source"].as_str().unwrap().contains("6 RCNY 5-77"));
    for lifting in [json!({"NY-NYC": []}), json!({"NY-NYC": [{"maxPer7Days": 3}]})] {
        let body = app.gql(UPDATE_RULES, json!({"r": lifting})).await;
        assert_error(&body, "BAD_USER_INPUT", Some("stateRules"));
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("never loosen"), "{body}");
    }
    let tighter = app.gql_ok(UPDATE_RULES, json!({"r": {"ny-nyc": [{"maxPer7Days": 1}]}})).await;
    assert_eq!(tighter["updateCompanySettings"]["stateRules"]["NY-NYC"][0]["maxPer7Days"], 1);
}
