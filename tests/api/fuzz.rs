//! Fuzzing over HTTP: generated GraphQL documents and variables (wrong types, huge strings,
//! deep nesting, unicode, nulls, numbers at the edges) against every query and mutation of the
//! real server. Nothing may panic or answer 5xx, every refusal carries a code, and a refused
//! mutation writes nothing. `FUZZ_CASES` sets the number of cases (CI runs a short version).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

use crate::harness::TestApp;

/// A root field: (operation, field, [(argument, GraphQL type)]).
type RootField = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

const FIELDS: &[RootField] = &[
    ("mutation", "createCustomer", &[("input", "CustomerInput!")]),
    ("mutation", "upsertCustomer", &[("input", "CustomerInput!"), ("matchOn", "CustomerKey")]),
    ("mutation", "syncCustomerSchedule", &[("input", "CustomerInput!")]),
    ("mutation", "bulkAddCustomers", &[("input", "BulkAddCustomersInput!")]),
    ("mutation", "createSchedule", &[("input", "ScheduleInput!")]),
    ("mutation", "updateSchedule", &[("id", "ID!"), ("input", "ScheduleInput!")]),
    ("mutation", "deleteSchedule", &[("id", "ID!")]),
    ("mutation", "makeCall", &[("input", "MakeCallInput!")]),
    ("mutation", "reportCallStatus", &[("input", "ReportCallStatusInput!")]),
    ("mutation", "recordCallAttempts", &[("attempts", "[CallAttemptInput!]!")]),
    ("mutation", "addSuppressedNumbers", &[("phoneNumbers", "[String!]!")]),
    ("mutation", "removeSuppressedNumbers", &[("phoneNumbers", "[String!]!")]),
    ("mutation", "updateCompanySettings", &[("input", "CompanySettingsInput!")]),
    ("query", "customer", &[("id", "ID!")]),
    ("query", "customerByPhone", &[("phoneNumber", "String!")]),
    ("query", "customers", &[("filter", "CustomerFilter"), ("first", "Int"), ("after", "String")]),
    ("query", "schedule", &[("id", "ID!")]),
    ("query", "schedules", &[("filter", "ScheduleFilter"), ("first", "Int"), ("after", "String")]),
    ("query", "task", &[("id", "ID!")]),
    ("query", "tasks", &[("filter", "TaskFilter"), ("first", "Int"), ("after", "String")]),
    ("query", "call", &[("id", "ID!")]),
    ("query", "calls", &[("filter", "CallFilter"), ("first", "Int"), ("after", "String")]),
    (
        "query",
        "callEligibility",
        &[("customerId", "ID"), ("phoneNumber", "String"), ("scheduleId", "ID"), ("at", "DateTime")],
    ),
    ("query", "job", &[("id", "ID!")]),
];

/// Field names the input objects have (any of them may be sent, with any value).
const INPUT_KEYS: &[&str] = &[
    "id",
    "firstName",
    "lastName",
    "email",
    "birthday",
    "ssnLastFour",
    "phoneNumber",
    "timezone",
    "taskType",
    "streetAddress1",
    "city",
    "state",
    "zipCode",
    "doNotCall",
    "isTest",
    "externalMetadata",
    "loans",
    "sync",
    "scheduleId",
    "records",
    "initiateCall",
    "callConfig",
    "useWorkflow",
    "name",
    "paused",
    "timeZone",
    "callingHoursStart",
    "callingHoursEnd",
    "cadence",
    "maxAttemptsPer7Days",
    "customerId",
    "to",
    "data",
    "callId",
    "status",
    "occurredAt",
    "durationSeconds",
    "callsPerSecondLimit",
    "callWebhookUrl",
    "lmsBaseUrl",
    "search",
    "createdAtFrom",
    "scheduledFrom",
    "agentId",
    "dayOffset",
    "localTime",
    "unknownField",
];

fn edge_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("")),
        Just(json!(true)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(2147483648u64)),
        Just(json!("2026-02-30")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("+1 (310) 555-1234")),
        Just(json!("America/New_York")),
        Just(json!("COMPLETED")),
        Just(json!("00000000-0000-0000-0000-000000000000")),
        Just(json!("Ω≈ç√∫˜µ≤≥÷ 😀 \u{0} \u{202e} 𝕏")),
        Just(json!("x".repeat(100_000))),
        Just(json!("'; DROP TABLE customers; --")),
        "[ -~]{0,40}".prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
    ]
}

fn deep(depth: usize) -> Value {
    (0..depth).fold(json!("bottom"), |inner, _| json!({ "a": [inner] }))
}

fn edge_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![4 => edge_scalar(), 1 => (1usize..200).prop_map(deep)];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(proptest::sample::select(INPUT_KEYS), inner, 0..8).prop_map(
                |m| { Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>()) }
            ),
        ]
    })
}

/// A request: (document, variables), well-formed or not.
fn request() -> impl Strategy<Value = (String, Value)> {
    let typed = (0..FIELDS.len(), proptest::collection::vec(edge_value(), 4), any::<bool>()).prop_map(
        |(i, values, with_variables)| {
            let (operation, field, args) = FIELDS[i];
            let declared: Vec<String> = args.iter().map(|(name, ty)| format!("${name}: {ty}")).collect();
            let passed: Vec<String> = args.iter().map(|(name, _)| format!("{name}: ${name}")).collect();
            let mut variables = Map::new();
            for ((name, _), value) in args.iter().zip(values) {
                variables.insert(name.to_string(), value);
            }
            let selection = if operation == "query" && field.ends_with('s') && field != "customerByPhone" {
                "{ totalCount nodes { id } }"
            } else if field.ends_with("Numbers") {
                ""
            } else {
                "{ __typename }"
            };
            let doc = if args.is_empty() {
                format!("{operation} {{ {field} {selection} }}")
            } else {
                format!(
                    "{operation}({}) {{ {field}({}) {selection} }}",
                    declared.join(", "),
                    passed.join(", ")
                )
            };
            (doc, if with_variables { Value::Object(variables) } else { json!({"junk": [1, {"x": null}]}) })
        },
    );
    let garbage = prop_oneof![
        "[{}()\\[\\]:$!@#a-zA-Z0-9 ,\"\\\\]{0,200}".prop_map(|s| (s, json!({}))),
        (1usize..5000)
            .prop_map(|n| (format!("{}{}", "{ customers { nodes ".repeat(n), "}".repeat(n)), json!({}))),
        (0..FIELDS.len()).prop_map(|i| (format!("{{ {} }}", FIELDS[i].1), json!(null))),
        Just(("subscription { taskEvents { eventId } }".to_string(), json!({}))),
        Just(("query { viewer { id } } query { viewer { name } }".to_string(), json!({}))),
    ];
    prop_oneof![4 => typed, 1 => garbage]
}

/// Row counts of every table a mutation could write.
fn snapshot(app: &TestApp) -> Vec<i64> {
    ["customers", "schedules", "tasks", "calls", "suppressed_numbers", "loans", "jobs", "events"]
        .iter()
        .map(|table| app.count(&format!("SELECT count(*) AS n FROM {table}")))
        .collect()
}

#[test]
fn generated_requests_never_crash_and_refusals_write_nothing() {
    let cases: u32 = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = runtime.block_on(TestApp::spawn());
    runtime.block_on(async {
        app.gql_ok(
            "mutation { createSchedule(input: {name: \"C\", taskType: \"collections\"}) { id } }",
            json!({}),
        )
        .await;
        app.gql_ok(crate::harness::CREATE_CUSTOMER, json!({"input": crate::harness::customer_input("c-1")}))
            .await;
    });
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let counts = std::cell::Cell::new((0usize, 0usize, 0usize));
    let result = runner.run(&request(), |(document, variables)| {
        let before = snapshot(&app);
        let response = runtime.block_on(async {
            app.client
                .post(format!("{}/graphql", app.base_url))
                .header("X-API-Key", &app.api_key)
                .json(&json!({"query": document, "variables": variables}))
                .send()
                .await
        });
        let response = response.map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
        let status = response.status();
        prop_assert!(status.as_u16() < 500, "{status} for {document}");
        let body: Value = runtime
            .block_on(response.json())
            .map_err(|e| TestCaseError::fail(format!("not JSON ({status}): {e} for {document}")))?;
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        for e in &errors {
            prop_assert!(e["extensions"]["code"].is_string(), "an error without a code: {e} for {document}");
            prop_assert!(e["extensions"]["code"] != "INTERNAL", "INTERNAL for {document}: {body}");
        }
        let refused_mutation = document.starts_with("mutation") && !errors.is_empty();
        if refused_mutation {
            prop_assert_eq!(&before, &snapshot(&app), "a refused mutation wrote: {} {}", document, body);
        }
        let (refused, answered, other) = counts.get();
        counts.set(match (refused_mutation, errors.is_empty()) {
            (true, _) => (refused + 1, answered, other),
            (false, true) => (refused, answered + 1, other),
            (false, false) => (refused, answered, other + 1),
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (refused, answered, other) = counts.get();
    eprintln!(
        "fuzz: {cases} cases: {refused} refused mutations, {answered} answered, {other} other refusals"
    );
    runtime.block_on(async {
        assert_eq!(app.get("/healthz").await.status(), 200);
        app.gql_ok("{ viewer { id } }", json!({})).await;
    });
}
