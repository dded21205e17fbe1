//! One contact policy for every path that dials, end to end: makeCall, bulk initiateCall, the
//! dialer, reportCallStatus and the builder refuse or move what any of them would refuse;
//! callEligibility says so in advance; recordCallAttempts feeds the caps; Do Not Call takes
//! effect at once. Every instant is fixed (the server's clock is set), never the wall clock.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::harness::{assert_error, customer_at, utc, Place, TestApp, CREATE_CUSTOMER};

/// Albany: New York State, outside New York City (whose 2 calls a week are tests/api/localities.rs').
const NEW_YORK: Place = ("America/New_York", "NY", "12207", "+15185550100");
const BOSTON: Place = ("America/New_York", "MA", "02108", "+16175550100");
const LOS_ANGELES: Place = ("America/Los_Angeles", "CA", "90001", "+13105550100");
/// Pensacola is in Florida's Central part; the customer says New York's zone.
const PENSACOLA_EASTERN: Place = ("America/New_York", "FL", "32501", "+18505550100");
/// A New York customer whose cell number is from Los Angeles.
const NEW_YORK_WITH_LA_CELL: Place = ("America/New_York", "NY", "10001", "+13105550199");

/// A "collections" schedule with `cadence` (default: the product's) and a high rate limit.
async fn schedule(app: &TestApp, cadence: Option<Value>) -> String {
    let mut input = json!({"name": "Collections", "taskType": "collections", "timeZone": "America/New_York"});
    if let Some(c) = cadence {
        input["cadence"] = c;
    }
    let id = app
        .gql_ok(
            "mutation($input: ScheduleInput!) { createSchedule(input: $input) { id } }",
            json!({"input": input}),
        )
        .await["createSchedule"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok("mutation { updateCompanySettings(input: {callsPerSecondLimit: 1000}) { id } }", json!({}))
        .await;
    id
}

async fn create(app: &TestApp, id: &str, place: Place) {
    app.gql_ok(CREATE_CUSTOMER, json!({"input": customer_at(id, place)})).await;
}

const MAKE_CALL: &str =
    "mutation($input: MakeCallInput!) { makeCall(input: $input) { id status source to } }";
const REPORT: &str =
    "mutation($input: ReportCallStatusInput!) { reportCallStatus(input: $input) { id status version } }";
const ELIGIBILITY: &str = "query($c: ID, $p: String, $s: ID, $at: DateTime) {
    callEligibility(customerId: $c, phoneNumber: $p, scheduleId: $s, at: $at) {
      allowed code reason message nextAllowedAt zones attemptsLast7Days lastConversationAt } }";
const SYNC: &str = "mutation($input: CustomerInput!) { syncCustomerSchedule(input: $input) {
    tasksCreated skippedReason tasks { scheduledFor localScheduledFor } } }";
const RECORD: &str = "mutation($a: [CallAttemptInput!]!) { recordCallAttempts(attempts: $a) {
    recorded calls { id source status to customer { id } } } }";

async fn call_customer(app: &TestApp, id: &str) -> Value {
    app.gql(MAKE_CALL, json!({"input": {"customerId": id}})).await
}

async fn report(app: &TestApp, call: &str, status: &str) -> Value {
    app.gql_ok(REPORT, json!({"input": {"callId": call, "status": status}})).await
}

async fn eligibility(app: &TestApp, vars: Value) -> Value {
    app.gql_ok(ELIGIBILITY, vars).await["callEligibility"].clone()
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap_or_else(|| panic!("an instant, got {value}")).parse().unwrap()
}

#[track_caller]
fn assert_refused(body: &Value, code: &str, reason: Option<&str>) -> DateTime<Utc> {
    assert_error(body, code, None);
    let ext = &body["errors"][0]["extensions"];
    if let Some(reason) = reason {
        assert_eq!(ext["reason"], reason, "{body:#}");
    }
    at(&ext["nextAllowedAt"])
}

#[tokio::test]
async fn an_eighth_call_in_seven_days_is_refused_whatever_the_path() {
    // Wednesday 2026-11-25 10:00 in New York: one call a day for seven days.
    let app = TestApp::spawn_at(utc("2026-11-25T15:00:00Z")).await;
    schedule(&app, None).await;
    create(&app, "c-1", NEW_YORK).await;
    for day in 0..7 {
        app.clock.set(utc("2026-11-25T15:00:00Z") + Duration::days(day));
        let body = call_customer(&app, "c-1").await;
        let call = body["data"]["makeCall"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("day {day}: {body:#}"))
            .to_string();
        report(&app, &call, "NO_ANSWER").await;
    }
    // Tuesday 12-01 16:00: the 8th within 7 consecutive days.
    app.clock.set(utc("2026-12-01T21:00:00Z"));
    let body = call_customer(&app, "c-1").await;
    let next = assert_refused(&body, "CONTACT_LIMIT", Some("WEEKLY_CAP"));
    // 11-25's call leaves the 7 days on Wednesday 12-02, at the window's opening.
    assert_eq!(next, utc("2026-12-02T13:00:00Z"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 7, "the refusal wrote nothing");
    let e = eligibility(&app, json!({"c": "c-1"})).await;
    assert_eq!(
        (e["allowed"].clone(), e["code"].clone(), e["attemptsLast7Days"].clone()),
        (json!(false), json!("CONTACT_LIMIT"), json!(7))
    );
    // The builder counts the same calls: nothing planned before 12-02.
    let synced = app.gql_ok(SYNC, json!({"input": customer_at("c-1", NEW_YORK)})).await;
    for task in synced["syncCustomerSchedule"]["tasks"].as_array().unwrap() {
        assert!(at(&task["scheduledFor"]) >= next, "{task}");
    }
    // On 12-02 the call goes through.
    app.clock.set(next);
    let body = call_customer(&app, "c-1").await;
    assert_eq!(body["data"]["makeCall"]["status"], "QUEUED", "{body:#}");
}

#[tokio::test]
async fn a_conversation_yesterday_blocks_makecall_and_the_builder_until_the_eighth_day() {
    // Monday 2026-11-30 11:00 New York: a conversation.
    let app = TestApp::spawn_at(utc("2026-11-30T16:00:00Z")).await;
    let cadence = json!([{"dayOffset": 1, "localTime": "10:00"}, {"dayOffset": 2, "localTime": "10:00"}, {"dayOffset": 4, "localTime": "10:00"}]);
    schedule(&app, Some(cadence)).await;
    create(&app, "c-1", NEW_YORK).await;
    let call = call_customer(&app, "c-1").await["data"]["makeCall"]["id"].as_str().unwrap().to_string();
    report(&app, &call, "COMPLETED").await;
    // Tuesday: no call, and the first allowed instant is Tuesday 12-08 08:00 (D+8).
    app.clock.set(utc("2026-12-01T16:00:00Z"));
    let next =
        assert_refused(&call_customer(&app, "c-1").await, "CONTACT_LIMIT", Some("CONVERSATION_QUIET_PERIOD"));
    assert_eq!(next, utc("2026-12-08T13:00:00Z"));
    let e = eligibility(&app, json!({"c": "c-1"})).await;
    assert_eq!(e["reason"], "CONVERSATION_QUIET_PERIOD");
    assert_eq!(at(&e["nextAllowedAt"]), next);
    assert!(at(&e["lastConversationAt"]) >= utc("2026-11-30T16:00:00Z"));
    // The quiet period's first allowed day, asked in advance.
    let e = eligibility(&app, json!({"c": "c-1", "at": "2026-12-08T12:59:00Z"})).await;
    assert_eq!((e["allowed"].clone(), at(&e["nextAllowedAt"])), (json!(false), next));
    let e = eligibility(&app, json!({"c": "c-1", "at": "2026-12-08T13:00:00Z"})).await;
    assert_eq!(e["allowed"], true);
    // A sync plans nothing before D+8, and keeps the cadence's spacing after it.
    let synced = app.gql_ok(SYNC, json!({"input": customer_at("c-1", NEW_YORK)})).await;
    let tasks: Vec<DateTime<Utc>> = synced["syncCustomerSchedule"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| at(&t["scheduledFor"]))
        .collect();
    assert_eq!(
        tasks,
        [utc("2026-12-08T15:00:00Z"), utc("2026-12-09T15:00:00Z"), utc("2026-12-11T15:00:00Z")]
    );
}

#[tokio::test]
async fn a_guam_number_is_called_in_guam_time_not_the_schedule_zone() {
    // 2026-12-01 18:17 UTC = 13:17 in New York, 04:17 (12-02) in Guam.
    let app = TestApp::spawn_at(utc("2026-12-01T18:17:00Z")).await;
    let schedule_id = schedule(&app, None).await;
    crate::harness::record_consent(&app, "+16715550100", false).await;
    crate::harness::record_consent(&app, "+18085550100", false).await;
    let body =
        app.gql(MAKE_CALL, json!({"input": {"scheduleId": schedule_id, "to": "+1 671 555 0100"}})).await;
    let next = assert_refused(&body, "OUTSIDE_CALLING_HOURS", None);
    assert_eq!(body["errors"][0]["extensions"]["zones"], json!(["Pacific/Guam"]));
    assert_eq!(next, utc("2026-12-01T22:00:00Z"), "08:00 ChST");
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);
    // A one-off Hawaii number, asked for a fixed future instant: 07:30 HST is closed.
    let e = eligibility(&app, json!({"p": "(808) 555-0100", "s": schedule_id, "at": "2026-12-03T17:30:00Z"}))
        .await;
    assert_eq!((e["allowed"].clone(), e["code"].clone()), (json!(false), json!("OUTSIDE_CALLING_HOURS")));
    assert_eq!(e["zones"], json!(["Pacific/Honolulu"]));
    assert_eq!(at(&e["nextAllowedAt"]), utc("2026-12-03T18:00:00Z"));
}

#[tokio::test]
async fn every_candidate_zone_must_be_open() {
    let app = TestApp::spawn().await;
    let schedule_id = schedule(&app, None).await;
    create(&app, "ny-la", NEW_YORK_WITH_LA_CELL).await;
    create(&app, "pensacola", PENSACOLA_EASTERN).await;
    // 2026-12-03 09:00 in New York is 06:00 in Los Angeles.
    let e = eligibility(&app, json!({"c": "ny-la", "at": "2026-12-03T14:00:00Z"})).await;
    assert_eq!(e["zones"], json!(["America/New_York", "America/Los_Angeles"]));
    assert_eq!(e["allowed"], false);
    assert_eq!(at(&e["nextAllowedAt"]), utc("2026-12-03T16:00:00Z"), "08:00 in Los Angeles");
    // 08:30 in New York is 07:30 in Pensacola (Central), the ZIP's zone.
    let e = eligibility(&app, json!({"c": "pensacola", "at": "2026-12-03T13:30:00Z"})).await;
    let zones: Vec<&str> = e["zones"].as_array().unwrap().iter().map(|z| z.as_str().unwrap()).collect();
    assert!(zones.contains(&"America/New_York") && zones.contains(&"America/Chicago"), "{zones:?}");
    assert_eq!(at(&e["nextAllowedAt"]), utc("2026-12-03T14:00:00Z"), "08:00 in Pensacola");
    // 19:30 Eastern is 18:30 Central, but Florida's own rules end calls at 20:00: open.
    let e = eligibility(&app, json!({"c": "pensacola", "at": "2026-12-04T00:30:00Z"})).await;
    assert_eq!(e["allowed"], true);
    // The same number through the schedule (one-off form) is the customer: same zones.
    let e =
        eligibility(&app, json!({"p": "+13105550199", "s": schedule_id, "at": "2026-12-03T14:00:00Z"})).await;
    assert_eq!(e["zones"], json!(["America/New_York", "America/Los_Angeles"]));
}

#[tokio::test]
async fn massachusetts_allows_two_calls_in_seven_days() {
    let app = TestApp::spawn().await;
    schedule(&app, None).await;
    create(&app, "ma", BOSTON).await;
    for hours in [0, 3] {
        app.clock.set(utc("2026-12-01T15:00:00Z") + Duration::hours(hours));
        let body = call_customer(&app, "ma").await;
        assert_eq!(body["data"]["makeCall"]["status"], "QUEUED", "{body:#}");
    }
    let e = eligibility(&app, json!({"c": "ma", "at": "2026-12-04T15:00:00Z"})).await;
    assert_eq!((e["code"].clone(), e["reason"].clone()), (json!("CONTACT_LIMIT"), json!("WEEKLY_CAP")));
    assert_eq!(at(&e["nextAllowedAt"]), utc("2026-12-08T13:00:00Z"), "12-01 leaves the 7 days on 12-08");
    assert_eq!(e["attemptsLast7Days"], 2);
}

#[tokio::test]
async fn the_dialer_never_dials_what_the_policy_refuses() {
    use callsync::dialer::{dial_round, DialerConfig};
    let app = TestApp::spawn().await;
    schedule(&app, None).await;
    create(&app, "c-1", NEW_YORK).await;
    create(&app, "talked", LOS_ANGELES).await;
    // An overdue backlog for one person: five tasks due in the last hour.
    let now = app.clock.now();
    app.count(&format!(
        "WITH ins AS (INSERT INTO tasks (company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone, created_at, updated_at)
         SELECT c.company_id, c.id, s.id, 'collections', 'PENDING', d, '{0}'::timestamptz - d * interval '10 minutes', c.timezone, '{0}', '{0}'
         FROM customers c JOIN schedules s ON s.company_id = c.company_id, generate_series(1, 5) d RETURNING 1)
         SELECT count(*) AS n FROM ins",
        now.to_rfc3339()
    ));
    // "talked" had a conversation an hour ago, recorded from another dialer.
    app.gql_ok(RECORD, json!({"a": [{"customerId": "talked", "occurredAt": (now - Duration::hours(1)).to_rfc3339(), "status": "COMPLETED"}]}))
        .await;
    let placed = dial_round(&app.store, &DialerConfig::default()).await.unwrap();
    assert_eq!(placed.len(), 1, "one call for c-1; the others wait 30 minutes; talked is quiet");
    let pending = app
        .gql_ok(
            "{ tasks(filter: {status: [PENDING]}, first: 20) { nodes { scheduledFor customer { id } } } }",
            json!({}),
        )
        .await;
    let nodes = pending["tasks"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 9, "nothing dropped: 4 of c-1 and 5 of talked moved");
    for node in nodes {
        let when = at(&node["scheduledFor"]);
        match node["customer"]["id"].as_str().unwrap() {
            "c-1" => assert!(when >= now + Duration::minutes(30) - Duration::seconds(5), "{node}"),
            _ => assert!(when >= utc("2026-12-09T16:00:00Z"), "quiet until D+8 08:00 PT: {node}"),
        }
    }
    assert!(app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_RESCHEDULED'") >= 8);
    // Rounds later in the same half hour dial nothing more.
    assert!(dial_round(&app.store, &DialerConfig::default()).await.unwrap().is_empty());
    let sources = app.gql_ok("{ calls { nodes { source task { id } } } }", json!({})).await;
    let kinds: Vec<&str> =
        sources["calls"]["nodes"].as_array().unwrap().iter().map(|c| c["source"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "SCHEDULED").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "EXTERNAL").count(), 1);
}

#[tokio::test]
async fn tasks_moved_out_of_a_quiet_period_respect_the_caps_and_the_gap() {
    // Tuesday 2026-12-01 10:00 Boston: seven daily steps, Massachusetts' 2 per 7 days.
    let app = TestApp::spawn_at(utc("2026-12-01T15:00:00Z")).await;
    let cadence: Vec<Value> = (1..=7).map(|d| json!({"dayOffset": d, "localTime": "10:00"})).collect();
    schedule(&app, Some(json!(cadence))).await;
    let mut input = customer_at("ma", BOSTON);
    let planned = app.gql_ok(SYNC, json!({"input": input.clone()})).await;
    assert!(planned["syncCustomerSchedule"]["tasksCreated"].as_i64().unwrap() >= 2);
    let call = call_customer(&app, "ma").await["data"]["makeCall"]["id"].as_str().unwrap().to_string();
    report(&app, &call, "COMPLETED").await;
    let tasks = app
        .gql_ok("{ tasks(filter: {status: [PENDING]}, first: 50) { nodes { scheduledFor } } }", json!({}))
        .await;
    let mut instants: Vec<DateTime<Utc>> =
        tasks["tasks"]["nodes"].as_array().unwrap().iter().map(|t| at(&t["scheduledFor"])).collect();
    instants.sort();
    let zone: Tz = "America/New_York".parse().unwrap();
    let day = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
    let mut all = instants.clone();
    all.push(utc("2026-12-01T15:00:00Z"));
    for t in &instants {
        assert!(day(*t) >= day(utc("2026-12-09T15:00:00Z")), "{t} is inside the quiet period");
        for k in 0..7 {
            let first = day(*t) - Duration::days(6 - k);
            let n = all.iter().filter(|a| (first..=first + Duration::days(6)).contains(&day(**a))).count();
            assert!(n <= 2, "{n} attempts in the 7 days from {first}");
        }
    }
    for pair in instants.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::minutes(30));
    }
    // A later sync plans the same way.
    input["firstName"] = json!("Ada B.");
    let synced = app.gql_ok(SYNC, json!({"input": input})).await;
    for task in synced["syncCustomerSchedule"]["tasks"].as_array().unwrap() {
        assert!(day(at(&task["scheduledFor"])) >= day(utc("2026-12-09T15:00:00Z")), "{task}");
    }
}

#[tokio::test]
async fn bulk_calls_are_decided_by_the_same_policy_and_counted_per_code() {
    let app = TestApp::spawn().await;
    let schedule_id = schedule(&app, None).await;
    let mut talked = customer_at("talked", NEW_YORK);
    talked["phoneNumber"] = json!("+12125550111");
    let mut dnc = customer_at("dnc", NEW_YORK);
    dnc["phoneNumber"] = json!("+12125550112");
    dnc["doNotCall"] = json!(true);
    let records = json!([
        customer_at("ok", NEW_YORK),
        customer_at("closed", ("Pacific/Guam", "GU", "96910", "+16715550100")),
        talked,
        dnc
    ]);
    // "talked" had a conversation yesterday.
    create(&app, "talked", ("America/New_York", "NY", "10001", "+12125550111")).await;
    app.gql_ok(RECORD, json!({"a": [{"customerId": "talked", "occurredAt": (app.clock.now() - Duration::days(1)).to_rfc3339(), "status": "COMPLETED"}]}))
        .await;
    let body = app
        .gql_ok(
            "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) {
                callResults { initiated failed batches refused { code count } } } }",
            json!({"input": {"scheduleId": schedule_id, "records": records, "initiateCall": true,
                             "callConfig": {"agentId": "agent-1", "dispositionId": "disp-9"}}}),
        )
        .await;
    let results = &body["bulkAddCustomers"]["callResults"];
    assert_eq!(results["initiated"], 1, "{body:#}");
    assert_eq!(results["failed"], 3);
    let mut refused: Vec<(String, i64)> = results["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["code"].as_str().unwrap().to_string(), r["count"].as_i64().unwrap()))
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            ("CONTACT_LIMIT".to_string(), 1),
            ("DO_NOT_CALL".to_string(), 1),
            ("OUTSIDE_CALLING_HOURS".to_string(), 1)
        ]
    );
    let calls = app.gql_ok("{ calls(filter: {status: [QUEUED]}) { nodes { source dispositionId version customer { id } } } }", json!({})).await;
    assert_eq!(
        calls["calls"]["nodes"],
        json!([{"source": "BULK", "dispositionId": "disp-9", "version": 1, "customer": {"id": "ok"}}])
    );
}

#[tokio::test]
async fn do_not_call_cancels_pending_tasks_and_queued_calls_at_once() {
    let app = TestApp::spawn().await;
    schedule(&app, None).await;
    let input = customer_at("c-1", NEW_YORK);
    app.gql_ok(SYNC, json!({"input": input.clone()})).await;
    let queued = call_customer(&app, "c-1").await["data"]["makeCall"]["id"].as_str().unwrap().to_string();
    let pending = app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'");
    assert!(pending > 0);
    app.gql_ok(
        "mutation { upsertCustomer(input: {id: \"c-1\", doNotCall: true}) { customer { doNotCall } } }",
        json!({}),
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 0);
    let call =
        app.gql_ok("query($id: ID!) { call(id: $id) { status version } }", json!({"id": queued})).await;
    assert_eq!(call["call"], json!({"status": "CANCELLED", "version": 2}));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM events WHERE kind = 'TASK_STATUS_CHANGED' AND payload->'task'->>'status' = 'CANCELLED'"),
        pending
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM events WHERE kind = 'CALL_STATUS_CHANGED' AND payload->'call'->>'status' = 'CANCELLED'"), 1);

    // The company list: another customer's pending tasks and queued call go too.
    app.clock.advance(Duration::minutes(31));
    app.gql_ok(SYNC, json!({"input": customer_at("c-2", LOS_ANGELES)})).await;
    let queued = call_customer(&app, "c-2").await["data"]["makeCall"]["id"].as_str().unwrap().to_string();
    let added =
        app.gql_ok("mutation { addSuppressedNumbers(phoneNumbers: [\"(310) 555-0100\"]) }", json!({})).await;
    assert_eq!(added["addSuppressedNumbers"], 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 0);
    let call = app.gql_ok("query($id: ID!) { call(id: $id) { status } }", json!({"id": queued})).await;
    assert_eq!(call["call"]["status"], "CANCELLED");
}

#[tokio::test]
async fn recorded_attempts_count_and_bad_ones_write_nothing() {
    let app = TestApp::spawn().await;
    schedule(&app, None).await;
    create(&app, "ma", BOSTON).await;
    let now = app.clock.now();
    let two = json!([
        {"customerId": "ma", "occurredAt": (now - Duration::hours(30)).to_rfc3339(), "status": "NO_ANSWER", "agentId": "human-1"},
        {"phoneNumber": "(617) 555-0100", "occurredAt": (now - Duration::hours(5)).to_rfc3339(), "status": "VOICEMAIL", "durationSeconds": 20}
    ]);
    let recorded = app.gql_ok(RECORD, json!({"a": two})).await["recordCallAttempts"].clone();
    assert_eq!(recorded["recorded"], 2);
    for call in recorded["calls"].as_array().unwrap() {
        assert_eq!(
            (call["source"].clone(), call["customer"]["id"].clone()),
            (json!("EXTERNAL"), json!("ma"))
        );
    }
    // Massachusetts' 2 per 7 days is reached by attempts made elsewhere.
    assert_refused(&call_customer(&app, "ma").await, "CONTACT_LIMIT", Some("WEEKLY_CAP"));

    let bad_cases = [
        (
            json!({"customerId": "ma", "occurredAt": (now + Duration::hours(1)).to_rfc3339(), "status": "BUSY"}),
            "attempts.1.occurredAt",
        ),
        (
            json!({"customerId": "ma", "occurredAt": (now - Duration::days(401)).to_rfc3339(), "status": "BUSY"}),
            "attempts.1.occurredAt",
        ),
        (
            json!({"customerId": "ma", "occurredAt": now.to_rfc3339(), "status": "QUEUED"}),
            "attempts.1.status",
        ),
        (
            json!({"customerId": "ma", "occurredAt": now.to_rfc3339(), "status": "CANCELLED"}),
            "attempts.1.status",
        ),
        (
            json!({"phoneNumber": "12", "occurredAt": now.to_rfc3339(), "status": "BUSY"}),
            "attempts.1.phoneNumber",
        ),
        (json!({"occurredAt": now.to_rfc3339(), "status": "BUSY"}), "attempts.1.customerId"),
        (
            json!({"customerId": "ma", "occurredAt": now.to_rfc3339(), "status": "BUSY", "durationSeconds": -1}),
            "attempts.1.durationSeconds",
        ),
    ];
    let good =
        json!({"customerId": "ma", "occurredAt": (now - Duration::hours(1)).to_rfc3339(), "status": "BUSY"});
    for (bad, field) in bad_cases {
        let body = app.gql(RECORD, json!({"a": [good.clone(), bad]})).await;
        assert_error(&body, "BAD_USER_INPUT", Some(field));
    }
    let unknown = json!({"customerId": "nobody", "occurredAt": now.to_rfc3339(), "status": "BUSY"});
    assert_error(&app.gql(RECORD, json!({"a": [good.clone(), unknown]})).await, "NOT_FOUND", None);
    let too_many: Vec<Value> = (0..1001).map(|_| good.clone()).collect();
    assert_error(&app.gql(RECORD, json!({"a": too_many})).await, "BAD_USER_INPUT", Some("attempts"));
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 2, "every bad request wrote nothing");

    // Another company cannot record against this one's customer, nor ask about it.
    let (_, other_key) = app.new_company("Other");
    let body = app.gql_as(Some(&other_key), RECORD, json!({"a": [good]})).await;
    assert_error(&body, "NOT_FOUND", None);
    let body = app.gql_as(Some(&other_key), ELIGIBILITY, json!({"c": "ma"})).await;
    assert_error(&body, "NOT_FOUND", None);
    // callEligibility refuses a past instant.
    let body = app.gql(ELIGIBILITY, json!({"c": "ma", "at": (now - Duration::hours(2)).to_rfc3339()})).await;
    assert_error(&body, "BAD_USER_INPUT", Some("at"));
}

#[tokio::test]
async fn makecall_after_calls_from_other_paths_respects_the_gap() {
    let app = TestApp::spawn().await;
    schedule(&app, None).await;
    create(&app, "c-1", NEW_YORK).await;
    let now = app.clock.now();
    app.gql_ok(RECORD, json!({"a": [{"customerId": "c-1", "occurredAt": (now - Duration::minutes(10)).to_rfc3339(), "status": "NO_ANSWER"}]}))
        .await;
    let next = assert_refused(&call_customer(&app, "c-1").await, "CONTACT_LIMIT", Some("MIN_GAP"));
    assert!((next - (now + Duration::minutes(20))).num_seconds().abs() <= 1, "{next}");
}

#[tokio::test]
async fn a_bulk_record_that_says_do_not_call_stops_contact_at_once() {
    let app = TestApp::spawn().await;
    let schedule_id = schedule(&app, None).await;
    let input = customer_at("c-1", NEW_YORK);
    app.gql_ok(SYNC, json!({"input": input.clone()})).await;
    let queued = call_customer(&app, "c-1").await["data"]["makeCall"]["id"].as_str().unwrap().to_string();
    let mut record = input;
    record["doNotCall"] = json!(true);
    app.gql_ok(
        "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { status } }",
        json!({"input": {"scheduleId": schedule_id, "records": [record]}}),
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'"), 0);
    let call = app.gql_ok("query($id: ID!) { call(id: $id) { status } }", json!({"id": queued})).await;
    assert_eq!(call["call"]["status"], "CANCELLED");
}

/// A call placed by callsync, and whether it broke a rule given what was known when it was placed.
fn check_call(call: &CallFact, known: &[&CallFact], customer: &Value) -> Result<(), String> {
    use callsync::domain::calling_rules::StateRuleTable;
    use callsync::domain::contact_policy::Location;
    use chrono::{Datelike, Timelike};
    let t = call.at;
    let state = customer["state"].as_str();
    let location = Location {
        timezone: customer["timezone"].as_str(),
        zip_code: customer["zipCode"].as_str(),
        state,
        phone_number: customer["phoneNumber"].as_str(),
    };
    // Every state the consumer may be in: address, ZIP, area code.
    let rule = StateRuleTable::builtin().effective_for(&location.candidate_states());
    let (open, close) = ((8 * 60u32).max(rule.earliest), (21 * 60u32).min(rule.latest));
    for zone in location.candidate_zones() {
        let local = t.with_timezone(&zone);
        let minute = local.hour() * 60 + local.minute();
        if minute < open || minute >= close {
            return Err(format!("{t} is {local} in {zone}"));
        }
        if rule.no_sunday && local.weekday() == chrono::Weekday::Sun {
            return Err(format!("{t} is a Sunday in {zone}"));
        }
    }
    let home: Tz = customer["timezone"].as_str().unwrap().parse().unwrap();
    let day = |x: DateTime<Utc>| x.with_timezone(&home).date_naive();
    let cap = rule.max_per_7_days.unwrap_or(7).min(7) as usize;
    for k in 0..7 {
        let first = day(t) - Duration::days(6 - k);
        let n = known.iter().filter(|a| (first..=first + Duration::days(6)).contains(&day(a.at))).count();
        if n + 1 > cap {
            return Err(format!("{t}: {} attempts in the 7 days from {first}, cap {cap}", n + 1));
        }
    }
    if let Some(cap24) = rule.max_per_24_hours {
        let n = known.iter().filter(|a| a.at > t - Duration::hours(24)).count();
        if n + 1 > cap24 as usize {
            return Err(format!("{t}: {} attempts in 24 hours", n + 1));
        }
    }
    for a in known {
        if (t - a.at).abs() < Duration::minutes(30) {
            return Err(format!("{t} is within 30 minutes of {}", a.at));
        }
        if let Some(conversation) = a.conversation_at {
            if t >= conversation && (day(t) - day(conversation)).num_days() <= 7 {
                return Err(format!("{t} is in the quiet period after {conversation}"));
            }
        }
    }
    Ok(())
}

/// One call as the checker needs it.
#[derive(Debug)]
struct CallFact {
    id: String,
    /// When a provider got it (claimed, delivered, first report).
    handed_off_at: Option<DateTime<Utc>>,
    customer: String,
    at: DateTime<Utc>,
    /// When callsync learned of it: its placement, or the recording of an external attempt.
    known_from: DateTime<Utc>,
    external: bool,
    cancelled: bool,
    /// When a conversation ended (COMPLETED).
    conversation_at: Option<DateTime<Utc>>,
}

#[tokio::test]
async fn random_sequences_across_paths_never_break_a_rule() {
    use callsync::dialer::{dial_round, DialerConfig};
    use rand::{Rng, SeedableRng};
    const GUAM: Place = ("Pacific/Guam", "GU", "96910", "+16715550100");
    // The last record shares the first one's number: a call to either is an attempt to both.
    let places = [NEW_YORK, BOSTON, PENSACOLA_EASTERN, NEW_YORK_WITH_LA_CELL, GUAM, LOS_ANGELES, NEW_YORK];
    let mut placed_total = 0;
    let mut handed_over_total = 0;
    let mut stops_total = 0;
    for seed in 0..6u64 {
        // The consumer's words arriving between operations: contact holds (by customer), and
        // opt-outs, wrong numbers and revoked consent (by number), each from the instant its
        // mutation answered until it was lifted (None: still in force).
        let mut holds: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
        let mut stopped_numbers: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
        let mut revoked: Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        // Starts on a Friday evening in New York, so the first days cross a weekend.
        let app =
            TestApp::spawn_at(utc("2026-12-04T23:40:00Z") + Duration::minutes(rng.gen_range(0..600))).await;
        let schedule_id = schedule(&app, None).await;
        let ids: Vec<String> = (0..places.len()).map(|i| format!("p-{i}")).collect();
        for (id, place) in ids.iter().zip(places) {
            create(&app, id, place).await;
        }
        for _ in 0..90 {
            let who = rng.gen_range(0..places.len());
            match rng.gen_range(0..16) {
                0 | 1 => {
                    call_customer(&app, &ids[who]).await;
                }
                2 => {
                    app.gql(SYNC, json!({"input": customer_at(&ids[who], places[who])})).await;
                }
                3 => {
                    let records: Vec<Value> = (0..places.len())
                        .filter(|_| rng.gen_bool(0.5))
                        .map(|i| customer_at(&ids[i], places[i]))
                        .collect();
                    app.gql(
                        "mutation($input: BulkAddCustomersInput!) { bulkAddCustomers(input: $input) { status } }",
                        json!({"input": {"scheduleId": schedule_id, "records": records, "initiateCall": true,
                                         "callConfig": {"agentId": "a"}}}),
                    )
                    .await;
                }
                4 => {
                    let status = ["COMPLETED", "NO_ANSWER", "BUSY", "VOICEMAIL"][rng.gen_range(0..4)];
                    let when = app.clock.now() - Duration::minutes(rng.gen_range(0..90));
                    app.gql(RECORD, json!({"a": [{"customerId": ids[who], "occurredAt": when.to_rfc3339(), "status": status}]}))
                        .await;
                }
                5 | 6 => {
                    let open = app
                        .gql_ok(
                            "{ calls(filter: {status: [QUEUED, RINGING, IN_PROGRESS]}) { nodes { id } } }",
                            json!({}),
                        )
                        .await;
                    if let Some(call) = open["calls"]["nodes"].as_array().unwrap().first() {
                        let status =
                            ["COMPLETED", "NO_ANSWER", "RINGING", "FAILED", "COMPLETED"][rng.gen_range(0..5)];
                        app.gql(REPORT, json!({"input": {"callId": call["id"], "status": status}})).await;
                    }
                }
                7 => {
                    dial_round(&app.store, &DialerConfig::default()).await.unwrap();
                }
                // A provider pulls, some time after the calls were queued: each is decided again.
                10 | 11 => {
                    app.clock.advance(Duration::minutes(rng.gen_range(0..40)));
                    app.gql_ok("mutation { claimCalls(limit: 3) { id } }", json!({})).await;
                }
                12 => {
                    app.clock.advance(Duration::minutes(rng.gen_range(0..20)));
                    callsync::dialer::expire_waiting(&app.store).await.unwrap();
                }
                // An attorney or a cease request: a hold, later perhaps released.
                13 if rng.gen_bool(0.5) => {
                    // Most holds are released again, so that calls go on around them.
                    let open = holds.iter().position(|(_, _, end)| end.is_none());
                    let already = holds.iter().any(|(c, _, end)| *c == ids[who] && end.is_none());
                    match open {
                        Some(i) if rng.gen_bool(0.7) => {
                            app.gql_ok(
                                "mutation($c: ID!) { releaseContactHold(customerId: $c) { id } }",
                                json!({"c": holds[i].0}),
                            )
                            .await;
                            holds[i].2 = Some(app.clock.now());
                        }
                        _ if already => {}
                        _ => {
                            app.gql_ok(
                                "mutation($c: ID!) { placeContactHold(customerId: $c, reason: CEASE_REQUESTED) { id } }",
                                json!({"c": ids[who]}),
                            )
                            .await;
                            holds.push((ids[who].clone(), app.clock.now(), None));
                        }
                    }
                }
                // "Stop calling me" or "wrong number", heard on an open call (rarely: each
                // stops a number for good).
                14 if rng.gen_bool(0.3) => {
                    let open = app
                        .gql_ok(
                            "{ calls(filter: {status: [QUEUED, RINGING, IN_PROGRESS]}) { nodes { id to } } }",
                            json!({}),
                        )
                        .await;
                    if let Some(call) = open["calls"]["nodes"].as_array().unwrap().first() {
                        let outcome = ["OPT_OUT", "WRONG_NUMBER"][rng.gen_range(0..2)];
                        let input = json!({"callId": call["id"], "status": "COMPLETED", "outcome": outcome});
                        if app.gql(REPORT, json!({"input": input})).await.get("errors").is_none() {
                            let number = call["to"].as_str().unwrap().to_string();
                            stopped_numbers.push((number, app.clock.now(), None));
                        }
                    }
                }
                // Consent revoked by other means, later perhaps recorded again.
                15 if rng.gen_bool(0.5) => {
                    let number = places[who].3.to_string();
                    let open = revoked.iter().position(|(_, _, end)| end.is_none());
                    let already = revoked.iter().any(|(n, _, end)| *n == number && end.is_none());
                    match open {
                        Some(i) if rng.gen_bool(0.7) => {
                            let number = revoked[i].0.clone();
                            let consent = json!({"type": "PRIOR_EXPRESS", "source": "RECORDED_CALL",
                                "obtainedAt": app.clock.now().to_rfc3339()});
                            app.gql_ok(
                                "mutation($p: String!, $c: ConsentInput!) { recordConsent(phoneNumber: $p, consent: $c) { type } }",
                                json!({"p": number, "c": consent}),
                            )
                            .await;
                            revoked[i].2 = Some(app.clock.now());
                        }
                        _ if already => {}
                        _ => {
                            app.gql_ok(
                                "mutation($p: String!) { revokeConsent(phoneNumber: $p) { type } }",
                                json!({"p": number}),
                            )
                            .await;
                            revoked.push((number, app.clock.now(), None));
                        }
                    }
                }
                _ => {
                    app.clock.advance(Duration::minutes(rng.gen_range(5..18 * 60)));
                    dial_round(&app.store, &DialerConfig::default()).await.unwrap();
                }
            }
        }
        stops_total += holds.len() + stopped_numbers.len() + revoked.len();
        // Every call callsync placed, checked against what it knew at that moment.
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            id: String,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
            handed_off_at: Option<DateTime<Utc>>,
            #[diesel(sql_type = diesel::sql_types::Text)]
            customer: String,
            #[diesel(sql_type = diesel::sql_types::Timestamptz)]
            created_at: DateTime<Utc>,
            #[diesel(sql_type = diesel::sql_types::Timestamptz)]
            updated_at: DateTime<Utc>,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
            ended_at: Option<DateTime<Utc>>,
            #[diesel(sql_type = diesel::sql_types::Text)]
            source: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            status: String,
        }
        let rows: Vec<Row> = {
            use diesel::RunQueryDsl;
            let mut conn = app.db.connect();
            diesel::sql_query(
                "SELECT c.id::text AS id, c.handed_off_at, cu.external_id AS customer, c.created_at, c.updated_at, c.ended_at, c.source, c.status
                 FROM calls c JOIN customers cu ON cu.id = c.customer_id ORDER BY c.created_at",
            )
            .load(&mut conn)
            .unwrap()
        };
        let facts: Vec<CallFact> = rows
            .iter()
            .map(|r| CallFact {
                id: r.id.clone(),
                handed_off_at: r.handed_off_at,
                customer: r.customer.clone(),
                at: r.created_at,
                known_from: if r.source == "EXTERNAL" { r.updated_at } else { r.created_at },
                external: r.source == "EXTERNAL",
                cancelled: r.status == "CANCELLED",
                conversation_at: (r.status == "COMPLETED").then(|| r.ended_at.unwrap_or(r.created_at)),
            })
            .collect();
        for call in facts.iter().filter(|c| !c.external && !c.cancelled) {
            let who = ids.iter().position(|id| *id == call.customer).unwrap();
            // The customer's own calls and every call to its number through another record.
            let number_of = |customer: &str| places[ids.iter().position(|id| id == customer).unwrap()].3;
            let same_person =
                |a: &CallFact| a.customer == call.customer || number_of(&a.customer) == places[who].3;
            // What callsync knew when it placed the call: earlier attempts, and conversations
            // already reported.
            let known: Vec<CallFact> = facts
                .iter()
                .filter(|a| same_person(a) && !a.cancelled && a.known_from < call.at)
                .map(|a| CallFact {
                    id: a.id.clone(),
                    customer: a.customer.clone(),
                    conversation_at: a.conversation_at.filter(|c| *c <= call.at),
                    ..*a
                })
                .collect();
            let known_refs: Vec<&CallFact> = known.iter().collect();
            let customer = customer_at(&call.customer, places[who]);
            // Nothing placed or handed over while a hold, an opt-out or a revocation stood.
            let within = |at: DateTime<Utc>, from: DateTime<Utc>, until: Option<DateTime<Utc>>| {
                at >= from && until.is_none_or(|u| at < u)
            };
            for at in std::iter::once(call.at).chain(call.handed_off_at) {
                let held =
                    holds.iter().find(|(c, from, until)| *c == call.customer && within(at, *from, *until));
                let number = places[who].3;
                let stopped = stopped_numbers.iter().find(|(n, from, _)| n == number && at >= *from);
                let unconsented =
                    revoked.iter().find(|(n, from, until)| n == number && within(at, *from, *until));
                if let Some(why) = held
                    .map(|h| format!("held {h:?}"))
                    .or(stopped.map(|s| format!("number stopped {s:?}")))
                    .or(unconsented.map(|r| format!("consent revoked {r:?}")))
                {
                    panic!(
                        "seed {seed}: call {} to {} at {at} while {why}\n{facts:#?}",
                        call.id, call.customer
                    );
                }
            }
            if let Err(why) = check_call(call, &known_refs, &customer) {
                panic!("seed {seed}: call to {} broke a rule: {why}\n{facts:#?}", call.customer);
            }
            placed_total += 1;
            // Handed over later: what callsync knew then must allow it too (the call itself aside).
            if let Some(handed_off) = call.handed_off_at.filter(|h| *h > call.at) {
                let known: Vec<CallFact> = facts
                    .iter()
                    .filter(|a| a.id != call.id && same_person(a) && !a.cancelled)
                    .filter(|a| a.known_from < handed_off)
                    .map(|a| CallFact {
                        id: a.id.clone(),
                        customer: a.customer.clone(),
                        conversation_at: a.conversation_at.filter(|c| *c <= handed_off),
                        ..*a
                    })
                    .collect();
                let known_refs: Vec<&CallFact> = known.iter().collect();
                let at_hand_off = CallFact {
                    id: call.id.clone(),
                    customer: call.customer.clone(),
                    at: handed_off,
                    ..*call
                };
                if let Err(why) = check_call(&at_hand_off, &known_refs, &customer) {
                    panic!(
                        "seed {seed}: call to {} handed over at {handed_off} broke a rule: {why}\n{facts:#?}",
                        call.customer
                    );
                }
                handed_over_total += 1;
            }
        }
    }
    eprintln!("{stops_total} holds, opt-outs and revocations arrived between the operations");
    eprintln!("{handed_over_total} of them handed over later, each checked again at that instant");
    eprintln!("{placed_total} calls placed by callsync, each checked");
    assert!(placed_total >= 10, "the sequences placed only {placed_total} calls: not a meaningful test");
}
