//! What the consumer's record says about calling them, given with the customer: the line type
//! (a landline without consent has a small allowance, an unknown line is a cell), consent
//! given with the input, and times the consumer said are inconvenient (Reg F 1006.6(b)(1)):
//! refused with their reason, planned around, and every bad value refused with nothing written.

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::harness::{assert_error, create_schedule, customer_at, TestApp};

/// Denver: one zone, no state rules; TEST_START (Tuesday 2026-12-01 17:00Z) is 10:00 there.
const DENVER: (&str, &str, &str, &str) = ("America/Denver", "CO", "80202", "+17205550100");
const SYNC: &str = "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) {
    tasksCreated skippedReason tasks { scheduledFor } } }";
const UPSERT: &str = "mutation($i: CustomerInput!) { upsertCustomer(input: $i) { created } }";
const FACTS: &str = "query($id: ID!) { customer(id: $id) {
    phoneNumber phoneLineType inconvenientTimes { days start end } consent { type source evidence } } }";
const ELIGIBILITY: &str = "query($c: ID, $at: DateTime) { callEligibility(customerId: $c, at: $at) {
    allowed code reason nextAllowedAt } }";
const MAKE_CALL: &str = "mutation($i: MakeCallInput!) { makeCall(input: $i) { id } }";

fn with(mut input: Value, key: &str, value: Value) -> Value {
    input[key] = value;
    input
}

fn tuesday_mornings() -> Value {
    json!([{"days": ["TUE", "WED"], "start": "09:00", "end": "12:00"}])
}

#[tokio::test]
async fn the_facts_are_kept_with_the_customer_and_a_new_number_forgets_its_line_type() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let mut input = with(customer_at("f-1", DENVER), "phoneLineType", json!("LANDLINE"));
    input["inconvenientTimes"] = tuesday_mornings();
    input["consent"] = json!({"type": "PRIOR_EXPRESS_WRITTEN", "source": "SIGNED_AGREEMENT",
        "evidence": "contract-7", "obtainedAt": "2026-11-01T00:00:00Z"});
    app.gql_ok(SYNC, json!({"i": input})).await;
    let stored = app.gql_ok(FACTS, json!({"id": "f-1"})).await["customer"].clone();
    assert_eq!(stored["phoneLineType"], "LANDLINE");
    assert_eq!(
        stored["inconvenientTimes"],
        json!([{"days": ["TUE", "WED"], "start": "09:00", "end": "12:00"}])
    );
    assert_eq!(
        stored["consent"],
        json!({"type": "PRIOR_EXPRESS_WRITTEN", "source": "SIGNED_AGREEMENT", "evidence": "contract-7"})
    );
    // An input without them keeps them.
    app.gql_ok(UPSERT, json!({"i": {"id": "f-1", "city": "Boulder"}})).await;
    let kept = app.gql_ok(FACTS, json!({"id": "f-1"})).await["customer"].clone();
    assert_eq!(
        (kept["phoneLineType"].clone(), kept["inconvenientTimes"].clone()),
        (json!("LANDLINE"), tuesday_mornings())
    );
    // A new number is not the old one's line: UNKNOWN again (treated as a cell); null clears
    // the times.
    let moved = json!({"id": "f-1", "phoneNumber": "+17205550199", "inconvenientTimes": null});
    app.gql_ok(UPSERT, json!({"i": moved})).await;
    let moved = app.gql_ok(FACTS, json!({"id": "f-1"})).await["customer"].clone();
    assert_eq!(
        (moved["phoneLineType"].clone(), moved["inconvenientTimes"].clone()),
        (json!("UNKNOWN"), json!([]))
    );
    // The new number has the default consent of a number given with a customer.
    assert_eq!(moved["consent"]["source"], "PROVIDED_BY_CONSUMER");
}

#[tokio::test]
async fn an_inconvenient_time_is_refused_with_its_reason_and_the_plan_goes_around_it() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let input = with(customer_at("f-2", DENVER), "inconvenientTimes", tuesday_mornings());
    let synced = app.gql_ok(SYNC, json!({"i": input})).await["syncCustomerSchedule"].clone();
    let denver: Tz = "America/Denver".parse().unwrap();
    let tasks = synced["tasks"].as_array().unwrap();
    assert!(!tasks.is_empty(), "{synced}");
    for task in tasks {
        let local =
            task["scheduledFor"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap().with_timezone(&denver);
        let weekday = chrono::Datelike::weekday(&local);
        let in_range =
            matches!(weekday, chrono::Weekday::Tue | chrono::Weekday::Wed) && (9..12).contains(&local.hour());
        assert!(!in_range, "a task at {local} is in the consumer's inconvenient time");
    }
    // Now (Tuesday 10:00 local) is inside the range: refused, with the range's end next.
    let now = app.gql_ok(ELIGIBILITY, json!({"c": "f-2"})).await["callEligibility"].clone();
    assert_eq!(
        now,
        json!({"allowed": false, "code": "OUTSIDE_CALLING_HOURS", "reason": "INCONVENIENT_TIME",
               "nextAllowedAt": "2026-12-01T19:00:00+00:00"})
    );
    let refused = app.gql(MAKE_CALL, json!({"i": {"customerId": "f-2"}})).await;
    assert_error(&refused, "OUTSIDE_CALLING_HOURS", None);
    assert_eq!(refused["errors"][0]["extensions"]["reason"], "INCONVENIENT_TIME", "{refused}");
    // Clearing the times allows the call.
    app.gql_ok(UPSERT, json!({"i": {"id": "f-2", "inconvenientTimes": []}})).await;
    app.gql_ok(MAKE_CALL, json!({"i": {"customerId": "f-2"}})).await;
}

#[tokio::test]
async fn a_landline_without_consent_gets_its_allowance_and_a_cell_gets_none() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 100}) { id } }", json!({}))
        .await;
    let landline = with(customer_at("home", DENVER), "phoneLineType", json!("LANDLINE"));
    app.gql_ok(UPSERT, json!({"i": landline})).await;
    let cell = with(
        customer_at("cell", ("America/Denver", "CO", "80202", "+17205550111")),
        "phoneLineType",
        json!("WIRELESS"),
    );
    app.gql_ok(UPSERT, json!({"i": cell})).await;
    for number in ["+17205550100", "+17205550111"] {
        app.gql_ok(
            "mutation($p: String!) { revokeConsent(phoneNumber: $p) { revokedAt } }",
            json!({"p": number}),
        )
        .await;
    }
    assert_error(&app.gql(MAKE_CALL, json!({"i": {"customerId": "cell"}})).await, "NO_CONSENT", None);
    // The landline: 3 calls in 30 days, a day apart; the fourth is LANDLINE_CAP.
    for _ in 0..3 {
        app.gql_ok(MAKE_CALL, json!({"i": {"customerId": "home"}})).await;
        app.clock.advance(chrono::Duration::days(1));
    }
    let fourth = app.gql(MAKE_CALL, json!({"i": {"customerId": "home"}})).await;
    assert_error(&fourth, "CONTACT_LIMIT", None);
    assert_eq!(fourth["errors"][0]["extensions"]["reason"], "LANDLINE_CAP", "{fourth}");
    // Two weeks on, past the caps' 7 days and the quiet period's 8, the 30 days still hold: a
    // landline's history reaches that far back.
    app.clock.advance(chrono::Duration::days(12));
    let later = app.gql(MAKE_CALL, json!({"i": {"customerId": "home"}})).await;
    assert_eq!(later["errors"][0]["extensions"]["reason"], "LANDLINE_CAP", "{later}");
}

#[tokio::test]
async fn bad_facts_are_refused_naming_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let range = |start: &str, end: &str| json!([{"days": ["MON"], "start": "08:00", "end": "09:00"}, {"days": ["FRI"], "start": start, "end": end}]);
    let cases = [
        (
            with(customer_at("b", DENVER), "inconvenientTimes", range("25:00", "26:00")),
            "inconvenientTimes.1.start",
        ),
        (
            with(customer_at("b", DENVER), "inconvenientTimes", range("10:00", "25:00")),
            "inconvenientTimes.1.end",
        ),
        (
            with(customer_at("b", DENVER), "inconvenientTimes", range("12:00", "10:00")),
            "inconvenientTimes.1.end",
        ),
        (
            with(
                customer_at("b", DENVER),
                "consent",
                json!({"type": "PRIOR_EXPRESS", "source": "WEB_FORM",
                "obtainedAt": "2027-06-01T00:00:00Z"}),
            ),
            "consent.obtainedAt",
        ),
    ];
    for (input, field) in cases {
        for mutation in [SYNC, UPSERT] {
            assert_error(
                &app.gql(mutation, json!({"i": input.clone()})).await,
                "BAD_USER_INPUT",
                Some(field),
            );
        }
    }
    // An unknown enum value is refused before anything runs.
    let unknown =
        app.gql(SYNC, json!({"i": with(customer_at("b", DENVER), "phoneLineType", json!("FAX"))})).await;
    assert!(unknown["errors"][0]["message"].as_str().unwrap().contains("phoneLineType"), "{unknown}");
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{unknown}");
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM consents"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks"), 0);
}

#[tokio::test]
async fn a_bulk_import_carries_the_facts_keeps_them_when_silent_and_reports_bad_ones_per_record() {
    let app = TestApp::spawn().await;
    let schedule = create_schedule(&app, "collections").await;
    const BULK: &str = "mutation($i: BulkAddCustomersInput!) { bulkAddCustomers(input: $i) {
        status results { errors { index field code } } } }";
    let mut first = with(customer_at("k-1", DENVER), "phoneLineType", json!("LANDLINE"));
    first["consent"] =
        json!({"type": "PRIOR_EXPRESS_WRITTEN", "source": "WEB_FORM", "obtainedAt": "2026-11-01T00:00:00Z"});
    first["inconvenientTimes"] = tuesday_mornings();
    let bad = with(
        customer_at("k-2", ("America/Denver", "CO", "80202", "+17205550122")),
        "inconvenientTimes",
        json!([{"days": ["MON"], "start": "09:00", "end": "08:00"}]),
    );
    let report = app.gql_ok(BULK, json!({"i": {"scheduleId": schedule, "records": [first, bad]}})).await;
    assert_eq!(
        report["bulkAddCustomers"]["results"]["errors"],
        json!([{"index": 1, "field": "inconvenientTimes.0.end", "code": "BAD_USER_INPUT"}])
    );
    // Imported again without the facts: kept.
    let again = customer_at("k-1", DENVER);
    app.gql_ok(BULK, json!({"i": {"scheduleId": schedule, "records": [again]}})).await;
    let stored = app.gql_ok(FACTS, json!({"id": "k-1"})).await["customer"].clone();
    assert_eq!(stored["phoneLineType"], "LANDLINE");
    assert_eq!(stored["inconvenientTimes"], tuesday_mornings());
    assert_eq!(stored["consent"]["type"], "PRIOR_EXPRESS_WRITTEN");
    // With a new number: the line type is the new number's (unknown).
    let moved = customer_at("k-1", ("America/Denver", "CO", "80202", "+17205550133"));
    app.gql_ok(BULK, json!({"i": {"scheduleId": schedule, "records": [moved]}})).await;
    let stored = app.gql_ok(FACTS, json!({"id": "k-1"})).await["customer"].clone();
    assert_eq!(stored["phoneLineType"], "UNKNOWN");
    assert_eq!(app.count("SELECT count(*) AS n FROM customers"), 1);
}
