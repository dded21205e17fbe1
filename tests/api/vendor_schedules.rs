//! Issue 20: the schedules vendor's door exactly as its page shows. The page's own example
//! (Basic auth, `page=1&order=created_at`), `serializer` (`schedule`, `schedule_grid`),
//! `columns`, `created_at_from` / `_to` as `2016-01-01 12:25:15 -0500`, `paused` as 1/0,
//! true/false, yes/no, on/off, `lead_duplicate_timeframe`, `GET …/new` as a record, and the
//! vendor's parameters callsync has no counterpart for (`offer_id`, `lead_token`, some `order`
//! values) refused by name. Bad input on every endpoint is a 4xx naming the field, and writes
//! nothing.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{rest_request, TestApp};

/// Sends `body` (None: no body) to `path` with `auth` as the Authorization header (None: the
/// app's key as `X-API-Key`); returns the status and the JSON answer.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    auth: Option<&str>,
) -> (StatusCode, Value) {
    match auth {
        Some(auth) => rest_request(app, method, path, body, Some(&[("Authorization", auth)])).await,
        None => rest_request(app, method, path, body, None).await,
    }
}

async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    send(app, method, path, body, None).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, "POST", path, Some(body)).await
}

async fn put(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, "PUT", path, Some(body)).await
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    call(app, "GET", path, None).await
}

#[track_caller]
fn assert_rest_error(answer: &(StatusCode, Value), status: StatusCode, code: &str, field: Option<&str>) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body:#}");
    assert_eq!(body["error"]["code"], code, "{body:#}");
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body:#}");
    }
}

#[track_caller]
fn assert_bad(answer: &(StatusCode, Value), field: &str) {
    assert_rest_error(answer, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", Some(field));
}

/// The page's `Authorization: Basic BASE64_ENCODED_PUBLIC_KEY_AND_PRIVATE_KEY`: callsync's key
/// is the private key (the password); the public part is anything.
fn basic(app: &TestApp) -> String {
    let pair = format!("public-key:{}", app.api_key);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

async fn create(app: &TestApp, name: &str, task_type: &str) -> Value {
    let (status, body) = post(app, "/api/v1/schedules", json!({"name": name, "task_type": task_type})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn schedules(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM schedules WHERE deleted_at IS NULL")
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("an object").keys().cloned().collect();
    keys.sort();
    keys
}

fn names(page: &Value) -> Vec<String> {
    page["schedules"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

/// The page's example, unchanged but for its placeholders.
#[tokio::test]
async fn the_pages_list_example_answers_with_basic_auth() {
    let app = TestApp::spawn().await;
    for (i, name) in ["First", "Second", "Third"].iter().enumerate() {
        create(&app, name, &format!("t-{i}")).await;
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let (status, page) =
        send(&app, "GET", "/api/v1/schedules?page=1&order=created_at", None, Some(&basic(&app))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(names(&page), ["First", "Second", "Third"]);
    assert_eq!((page["page"].clone(), page["total_count"].clone()), (json!(1), json!(3)));
    // A wrong private key is refused.
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("public-key:wrong"));
    let answer = send(&app, "GET", "/api/v1/schedules?page=1&order=created_at", None, Some(&wrong)).await;
    assert_rest_error(&answer, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", None);
    // order_dir, fulltext and page as the page says.
    let (_, page) = get(&app, "/api/v1/schedules?page=1&order=created_at&order_dir=desc").await;
    assert_eq!(names(&page), ["Third", "Second", "First"]);
    let (_, page) = get(&app, "/api/v1/schedules?fulltext=sec").await;
    assert_eq!(names(&page), ["Second"]);
    let (_, page) = get(&app, "/api/v1/schedules?page=2&per_page=2&order=name").await;
    assert_eq!(names(&page), ["Third"]);
}

/// Every `order` value of the page callsync can sort by works; the others name `order` and
/// list the acceptable values.
#[tokio::test]
async fn the_pages_order_values_sort_or_are_refused_with_the_list() {
    let app = TestApp::spawn().await;
    create(&app, "B", "b").await;
    put(
        &app,
        &format!("/api/v1/schedules/{}", create(&app, "A", "a").await["id"].as_str().unwrap()),
        json!({"time_zone": "America/Chicago", "daylight_hours_open": "07:00", "sortable_order": 1}),
    )
    .await;
    for order in [
        "sortable_order",
        "name",
        "paused",
        "time_zone",
        "last_call_at",
        "calls_count",
        "created_at",
        "updated_at",
        "use_do_not_call",
        "daylight_hours_open",
        "daylight_hours_close",
        "task_type",
    ] {
        let (status, page) = get(&app, &format!("/api/v1/schedules?order={order}&order_dir=asc")).await;
        assert_eq!(status, StatusCode::OK, "{order}: {page}");
        assert_eq!(page["total_count"], 2, "{order}");
    }
    for order in ["sortable_order", "name", "time_zone", "daylight_hours_open"] {
        let (_, page) = get(&app, &format!("/api/v1/schedules?order={order}")).await;
        assert_eq!(names(&page), ["A", "B"], "{order}");
    }
    for order in [
        "offer_id",
        "leads_api_key",
        "schedule_type",
        "numbers_count",
        "instant_agent_dial_weight",
        "recent_calls_count",
        "use_machine_detection",
        "action_dial_skip_mobile",
        "off_hook_enabled",
        "real_time_priority",
        "dial_caller_name",
        "leads_sort_order_type",
        "checked_leads_agent_dial_actions_at",
        "checked_leads_no_match_actions_at",
        "color",
    ] {
        let answer = get(&app, &format!("/api/v1/schedules?order={order}")).await;
        assert_bad(&answer, "order");
        let message = answer.1["error"]["message"].as_str().unwrap();
        assert!(message.contains("sortable_order, name, paused"), "{message}");
    }
    let answer = get(&app, "/api/v1/schedules?order=offer_id").await;
    assert!(answer.1["error"]["message"].as_str().unwrap().contains("no offers"), "{:#}", answer.1);
    assert_bad(&get(&app, "/api/v1/schedules?order_dir=up").await, "order_dir");
    assert_bad(&get(&app, "/api/v1/schedules?page=first").await, "page");
}

/// `paused` as the page's literals, in JSON booleans, numbers and strings, in any case.
#[tokio::test]
async fn paused_takes_the_pages_boolean_literals() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!(true), true),
        (json!(false), false),
        (json!(1), true),
        (json!(0), false),
        (json!("1"), true),
        (json!("0"), false),
        (json!("true"), true),
        (json!("false"), false),
        (json!("yes"), true),
        (json!("no"), false),
        (json!("on"), true),
        (json!("off"), false),
        (json!("YES"), true),
        (json!(" Off "), false),
        (json!("True"), true),
    ];
    for (i, (literal, expected)) in cases.iter().enumerate() {
        let (status, created) = post(
            &app,
            "/api/v1/schedules",
            json!({"name": format!("S{i}"), "task_type": format!("s{i}"), "description": "d", "paused": literal}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{literal}: {created}");
        assert_eq!(created["paused"], *expected, "{literal}");
        let id = created["id"].as_str().unwrap();
        let (status, updated) =
            put(&app, &format!("/api/v1/schedules/{id}"), json!({"paused": literal})).await;
        assert_eq!((status, updated["paused"].clone()), (StatusCode::OK, json!(expected)), "{literal}");
        // The opposite, to see the update land.
        let (_, flipped) = put(&app, &format!("/api/v1/schedules/{id}"), json!({"paused": !expected})).await;
        assert_eq!(flipped["paused"], !expected);
    }
    // Blank leaves it as it is.
    let id = create(&app, "Blank", "blank").await["id"].as_str().unwrap().to_string();
    put(&app, &format!("/api/v1/schedules/{id}"), json!({"paused": "yes"})).await;
    let (status, same) = put(&app, &format!("/api/v1/schedules/{id}"), json!({"paused": ""})).await;
    assert_eq!((status, same["paused"].clone()), (StatusCode::OK, json!(true)));
    // The list filter takes them too.
    let (_, page) = get(&app, "/api/v1/schedules?paused=yes&per_page=100").await;
    let paused_now = app.count("SELECT count(*) AS n FROM schedules WHERE paused");
    assert_eq!(page["total_count"], paused_now);
    let (_, page) = get(&app, "/api/v1/schedules?paused=off&per_page=100").await;
    assert_eq!(page["total_count"], schedules(&app) - paused_now);
    // Anything else is a 400 naming paused, and writes nothing.
    let before = schedules(&app);
    for bad in [json!("maybe"), json!(2), json!(-1), json!(["yes"]), json!({"v": true}), json!("y e s")] {
        assert_bad(
            &put(&app, &format!("/api/v1/schedules/{id}"), json!({"paused": bad.clone()})).await,
            "paused",
        );
        assert_bad(
            &post(&app, "/api/v1/schedules", json!({"name": "X", "task_type": "x", "paused": bad})).await,
            "paused",
        );
    }
    assert_bad(&get(&app, "/api/v1/schedules?paused=maybe").await, "paused");
    assert_eq!(schedules(&app), before);
    let (_, still) = get(&app, &format!("/api/v1/schedules/{id}")).await;
    assert_eq!(still["paused"], true);
}

/// `serializer`: `schedule` (default, also blank) and `schedule_grid` (the same record plus
/// its foreign key `company_id`), on every endpoint that answers a schedule.
#[tokio::test]
async fn serializer_picks_the_record_shape_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let plain = create(&app, "Plain", "plain").await;
    let id = plain["id"].as_str().unwrap().to_string();
    assert!(plain.get("company_id").is_none(), "{plain:#}");
    let company = json!(app.company_id.to_string());

    let (_, show) = get(&app, &format!("/api/v1/schedules/{id}")).await;
    let (_, blank) = get(&app, &format!("/api/v1/schedules/{id}?serializer=")).await;
    let (_, named) = get(&app, &format!("/api/v1/schedules/{id}?serializer=schedule")).await;
    assert_eq!(show, blank);
    assert_eq!(show, named);
    let (status, grid) = get(&app, &format!("/api/v1/schedules/{id}?serializer=schedule_grid")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(grid["company_id"], company);
    let mut without = grid.clone();
    without.as_object_mut().unwrap().remove("company_id");
    assert_eq!(without, show, "schedule_grid differs from schedule only by company_id");

    let (_, page) = get(&app, "/api/v1/schedules?serializer=schedule_grid").await;
    assert_eq!(page["schedules"][0]["company_id"], company);
    let (_, new) = get(&app, "/api/v1/schedules/new?serializer=schedule_grid").await;
    assert_eq!(new["company_id"], company);
    let (status, created) = post(
        &app,
        "/api/v1/schedules",
        json!({"name": "Grid", "task_type": "grid", "serializer": "schedule_grid"}),
    )
    .await;
    assert_eq!((status, created["company_id"].clone()), (StatusCode::CREATED, company.clone()));
    let (status, created) = post(
        &app,
        "/api/v1/schedules?serializer=schedule_grid",
        json!({"name": "Grid 2", "task_type": "grid2"}),
    )
    .await;
    assert_eq!((status, created["company_id"].clone()), (StatusCode::CREATED, company.clone()));
    let (_, updated) =
        put(&app, &format!("/api/v1/schedules/{id}?serializer=schedule_grid"), json!({"description": "x"}))
            .await;
    assert_eq!(updated["company_id"], company);
    let (_, updated) =
        put(&app, &format!("/api/v1/schedules/{id}"), json!({"serializer": "schedule", "description": "y"}))
            .await;
    assert!(updated.get("company_id").is_none());
    let (status, deleted) = call(
        &app,
        "DELETE",
        &format!("/api/v1/schedules/{}?serializer=schedule_grid", created["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!((deleted["company_id"].clone(), deleted["name"].clone()), (company.clone(), json!("Grid 2")));
    assert_eq!(deleted["deleted_schedule_id"], created["id"]);

    // Anything else: 400 naming serializer, nothing written.
    let before = schedules(&app);
    let bad = "serializer=grid";
    assert_bad(&get(&app, &format!("/api/v1/schedules?{bad}")).await, "serializer");
    assert_bad(&get(&app, &format!("/api/v1/schedules/new?{bad}")).await, "serializer");
    assert_bad(&get(&app, &format!("/api/v1/schedules/{id}?{bad}")).await, "serializer");
    assert_bad(&get(&app, &format!("/api/v1/schedules.csv?{bad}")).await, "serializer");
    assert_bad(
        &post(&app, &format!("/api/v1/schedules?{bad}"), json!({"name": "N", "task_type": "n"})).await,
        "serializer",
    );
    assert_bad(
        &post(&app, "/api/v1/schedules", json!({"name": "N", "task_type": "n", "serializer": "csv"})).await,
        "serializer",
    );
    assert_bad(
        &post(
            &app,
            "/api/v1/schedules?serializer=schedule",
            json!({"name": "N", "task_type": "n", "serializer": "schedule_grid"}),
        )
        .await,
        "serializer",
    );
    assert_bad(
        &put(&app, &format!("/api/v1/schedules/{id}?{bad}"), json!({"description": "z"})).await,
        "serializer",
    );
    assert_bad(&call(&app, "DELETE", &format!("/api/v1/schedules/{id}?{bad}"), None).await, "serializer");
    assert_eq!(schedules(&app), before);
    let (_, kept) = get(&app, &format!("/api/v1/schedules/{id}")).await;
    assert_eq!(kept["description"], "y");
}

/// `columns` limits the keys; a column callsync has not is a 400 naming `columns` and listing
/// the acceptable ones.
#[tokio::test]
async fn columns_limit_the_keys_and_unknown_ones_are_named() {
    let app = TestApp::spawn().await;
    let created = create(&app, "Cols", "cols").await;
    let id = created["id"].as_str().unwrap().to_string();
    let vendor = "id,name,time_zone,use_do_not_call,paused,created_at,updated_at";
    let (_, page) = get(&app, &format!("/api/v1/schedules?columns={vendor}")).await;
    assert_eq!(
        keys(&page["schedules"][0]),
        ["created_at", "id", "name", "paused", "time_zone", "updated_at", "use_do_not_call"]
    );
    let more = "description,sortable_order,lead_duplicate_timeframe,daylight_hours_open,daylight_hours_close,calls_count,last_call_at,company_id";
    let (status, show) = get(&app, &format!("/api/v1/schedules/{id}?columns={more}")).await;
    assert_eq!(status, StatusCode::OK, "{show}");
    assert_eq!(
        keys(&show),
        [
            "calls_count",
            "company_id",
            "daylight_hours_close",
            "daylight_hours_open",
            "description",
            "last_call_at",
            "lead_duplicate_timeframe",
            "sortable_order"
        ]
    );
    let (_, new) = get(&app, "/api/v1/schedules/new?columns=id,paused").await;
    assert_eq!(new, json!({"id": null, "paused": false}));
    let (status, created) =
        post(&app, "/api/v1/schedules?columns=id,name", json!({"name": "C2", "task_type": "c2"})).await;
    assert_eq!((status, keys(&created)), (StatusCode::CREATED, vec!["id".to_string(), "name".to_string()]));
    let (_, updated) =
        put(&app, &format!("/api/v1/schedules/{id}"), json!({"paused": "on", "columns": ["paused"]})).await;
    assert_eq!(updated, json!({"paused": true}));
    let (_, updated) =
        put(&app, &format!("/api/v1/schedules/{id}"), json!({"paused": "off", "columns": "id, paused"}))
            .await;
    assert_eq!(updated, json!({"id": id, "paused": false}));
    // Blank is every key.
    let (_, all) = get(&app, &format!("/api/v1/schedules/{id}?columns=")).await;
    assert_eq!(keys(&all), keys(&get(&app, &format!("/api/v1/schedules/{id}")).await.1));

    let before = schedules(&app);
    for column in ["uuid", "offer_id", "lead_token", "leads_api_key", "numbers_count", "shoe_size"] {
        let answer = get(&app, &format!("/api/v1/schedules?columns=id,{column}")).await;
        assert_bad(&answer, "columns");
        let message = answer.1["error"]["message"].as_str().unwrap();
        assert!(message.contains(column) && message.contains("time_zone"), "{message}");
        assert_bad(&get(&app, &format!("/api/v1/schedules/{id}?columns={column}")).await, "columns");
        assert_bad(&get(&app, &format!("/api/v1/schedules/new?columns={column}")).await, "columns");
        assert_bad(
            &post(
                &app,
                &format!("/api/v1/schedules?columns={column}"),
                json!({"name": "N", "task_type": "n"}),
            )
            .await,
            "columns",
        );
        assert_bad(
            &put(
                &app,
                &format!("/api/v1/schedules/{id}"),
                json!({"description": "changed", "columns": column}),
            )
            .await,
            "columns",
        );
    }
    assert_bad(
        &post(&app, "/api/v1/schedules", json!({"name": "N", "task_type": "n", "columns": 5})).await,
        "columns",
    );
    assert_bad(&get(&app, "/api/v1/schedules.csv?columns=id").await, "columns");
    assert_eq!(schedules(&app), before);
    assert_eq!(get(&app, &format!("/api/v1/schedules/{id}")).await.1["description"], Value::Null);
}

/// `created_at_from` / `_to` in the page's format (and RFC 3339 still); bad is a 400 naming
/// the parameter.
#[tokio::test]
async fn created_at_takes_the_pages_date_format() {
    let app = TestApp::spawn().await;
    // The test clock starts at 2026-12-01T17:00:00Z = 12:00:00 -0500.
    create(&app, "Early", "early").await;
    app.clock.advance(chrono::Duration::hours(1));
    create(&app, "Late", "late").await;
    let list = |query: String| {
        let app = &app;
        async move {
            let (status, page) = get(app, &format!("/api/v1/schedules?order=created_at&{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            names(&page)
        }
    };
    assert_eq!(list("created_at_from=2026-12-01 12:30:00 -0500".into()).await, ["Late"]);
    assert_eq!(list("created_at_to=2026-12-01 12:30:00 -0500".into()).await, ["Early"]);
    assert_eq!(list("created_at_from=2016-01-01 12:25:15 -0500".into()).await, ["Early", "Late"]);
    assert_eq!(list("created_at_from=2026-12-01%2012%3A30%3A00%20-0500".into()).await, ["Late"]);
    // A + offset, escaped, or sent raw (a raw + arrives as a space).
    assert_eq!(list("created_at_from=2026-12-01 18:30:00 %2B0100".into()).await, ["Late"]);
    assert_eq!(list("created_at_from=2026-12-01 18:30:00 +0100".into()).await, ["Late"]);
    assert_eq!(list("created_at_to=2026-12-01T17:30:00Z".into()).await, ["Early"]);
    assert_eq!(list("created_at_from=2026-12-01T12:30:00-05:00".into()).await, ["Late"]);
    for (param, value) in [
        ("created_at_from", "2016-01-01"),
        ("created_at_from", "yesterday"),
        ("created_at_to", "2016-13-01 12:25:15 -0500"),
        ("created_at_to", "2016-01-01 12:25:15"),
    ] {
        assert_bad(&get(&app, &format!("/api/v1/schedules?{param}={value}")).await, param);
    }
}

/// `lead_duplicate_timeframe` as the vendor names it, beside callsync's
/// `lead_duplicate_timeframe_seconds`; both given is a 400 naming it.
#[tokio::test]
async fn lead_duplicate_timeframe_by_the_vendors_name() {
    let app = TestApp::spawn().await;
    let (status, created) = post(
        &app,
        "/api/v1/schedules",
        json!({"name": "Dup", "task_type": "dup", "lead_duplicate_timeframe": 3600}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["lead_duplicate_timeframe"].clone(), created["lead_duplicate_timeframe_seconds"].clone()),
        (json!(3600), json!(3600))
    );
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/schedules/{id}");
    let (_, updated) = put(&app, &path, json!({"lead_duplicate_timeframe": "7200"})).await;
    assert_eq!(updated["lead_duplicate_timeframe"], 7200);
    let (_, updated) = put(&app, &path, json!({"lead_duplicate_timeframe_seconds": 60})).await;
    assert_eq!(updated["lead_duplicate_timeframe"], 60);
    let (_, updated) = put(&app, &path, json!({"leadDuplicateTimeframe": 90, "sortable_order": "2.5"})).await;
    assert_eq!(
        (updated["lead_duplicate_timeframe"].clone(), updated["sortable_order"].clone()),
        (json!(90), json!(2.5))
    );
    // Blank clears (the page allows blank).
    let (_, updated) = put(&app, &path, json!({"lead_duplicate_timeframe": "", "sortable_order": ""})).await;
    assert_eq!(
        (updated["lead_duplicate_timeframe"].clone(), updated["sortable_order"].clone()),
        (Value::Null, Value::Null)
    );
    put(&app, &path, json!({"lead_duplicate_timeframe": 120})).await;
    for (body, field) in [
        (
            json!({"lead_duplicate_timeframe": 10, "lead_duplicate_timeframe_seconds": 10}),
            "lead_duplicate_timeframe",
        ),
        (json!({"lead_duplicate_timeframe": "an hour"}), "lead_duplicate_timeframe"),
        (json!({"lead_duplicate_timeframe": 1.5}), "lead_duplicate_timeframe"),
        (json!({"lead_duplicate_timeframe": -5}), "lead_duplicate_timeframe"),
        (json!({"lead_duplicate_timeframe_seconds": -5}), "lead_duplicate_timeframe_seconds"),
        (json!({"sortable_order": "first"}), "sortable_order"),
    ] {
        assert_bad(&put(&app, &path, body.clone()).await, field);
        let mut create_body = body;
        create_body["name"] = json!("New");
        create_body["task_type"] = json!("new");
        assert_bad(&post(&app, "/api/v1/schedules", create_body).await, field);
    }
    assert_eq!(schedules(&app), 1);
    assert_eq!(get(&app, &path).await.1["lead_duplicate_timeframe"], 120);
}

/// `GET /api/v1/schedules/new`: the record `GET …/{id}` answers, filled with the defaults, `id`
/// null, nothing saved.
#[tokio::test]
async fn new_answers_a_schedule_record_with_the_defaults() {
    let app = TestApp::spawn().await;
    let (status, new) = send(&app, "GET", "/api/v1/schedules/new", None, Some(&basic(&app))).await;
    assert_eq!(status, StatusCode::OK, "{new}");
    let created = create(&app, "Shown", "shown").await;
    let (_, show) = get(&app, &format!("/api/v1/schedules/{}", created["id"].as_str().unwrap())).await;
    assert_eq!(keys(&new), keys(&show));
    assert_eq!(new["id"], Value::Null);
    assert_eq!(new["created_at"], Value::Null);
    // The defaults are what a schedule created with only its name and task type gets.
    for key in keys(&show) {
        if !["id", "name", "task_type", "created_at", "updated_at"].contains(&key.as_str()) {
            assert_eq!(new[&key], show[&key], "{key}");
        }
    }
    assert_eq!(new["paused"], false);
    assert_eq!(new["calling_hours_start"], "08:00");
    assert_eq!(new["daylight_hours_open"], "08:00");
    assert_eq!(schedules(&app), 1);
    assert_bad(&get(&app, "/api/v1/schedules/new?colour=red").await, "colour");
}

/// `offer_id` and `lead_token`: callsync has neither; a non-blank value is a 400 naming it and
/// saying to use `schedule_id`. Blank (the page allows it) is accepted.
#[tokio::test]
async fn offer_id_and_lead_token_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let created = create(&app, "Offers", "offers").await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/schedules/{id}");
    for (key, value) in
        [("offer_id", json!(42)), ("offer_id", json!("offer-9")), ("lead_token", json!("tok"))]
    {
        let answer =
            post(&app, "/api/v1/schedules", json!({"name": "N", "task_type": "n", key: value.clone()})).await;
        assert_bad(&answer, key);
        assert!(answer.1["error"]["message"].as_str().unwrap().contains("schedule_id"), "{:#}", answer.1);
        assert_bad(&put(&app, &path, json!({"name": "Renamed", key: value.clone()})).await, key);
        let answer = post(
            &app,
            "/api/v1/schedules/make_call",
            json!({key: value, "to": "+12125550100", "data": {"traffic_source_id": 1}}),
        )
        .await;
        assert_bad(&answer, key);
        assert!(answer.1["error"]["message"].as_str().unwrap().contains("schedule_id"), "{:#}", answer.1);
    }
    assert_eq!(schedules(&app), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);
    assert_eq!(get(&app, &path).await.1["name"], "Offers");
    // The page's create and update bodies, with a blank offer.
    let (status, body) = post(
        &app,
        "/api/v1/schedules",
        json!({"name": "Page", "task_type": "page", "offer_id": "", "description": "From the page", "paused": "no"}),
    )
    .await;
    assert_eq!((status, body["paused"].clone()), (StatusCode::CREATED, json!(false)), "{body}");
    let (status, body) = put(
        &app,
        &path,
        json!({"name": "Offers 2", "offer_id": null, "description": "d", "paused": "yes", "sortable_order": 3,
               "lead_duplicate_timeframe": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["paused"].clone(), body["sortable_order"].clone()), (json!(true), json!(3.0)));
}

/// The vendor's customer (a lead), with every field createCustomer needs.
fn lead(id: &str) -> Value {
    json!({
        "id": id, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "birthday": "1985-12-10", "phone_number": "(212) 555-0100",
        "timezone": "America/New_York", "task_type": "collections", "street_address1": "1 Main St",
        "city": "New York", "state": "NY", "zip_code": "10001"
    })
}

/// make_call answers a serialized Call record; bad input names its field and places nothing.
#[tokio::test]
async fn make_call_returns_a_call_record() {
    let app = TestApp::spawn().await;
    let schedule = create(&app, "Collections", "collections").await["id"].as_str().unwrap().to_string();
    let (status, _) = post(&app, "/v1/customers", lead("lead-1")).await;
    assert_eq!(status, StatusCode::CREATED);
    for (body, field) in [
        (json!({"schedule_id": schedule}), "to"),
        (json!({"schedule_id": schedule, "to": "555"}), "to"),
        (json!({"lead_id": "lead-1", "data": "x"}), "data"),
        (json!({"lead_id": "lead-1", "serializer": "schedule"}), "serializer"),
    ] {
        assert_bad(&post(&app, "/api/v1/schedules/make_call", body).await, field);
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);
    let (status, call) = post(
        &app,
        "/api/v1/schedules/make_call",
        json!({"lead_id": "lead-1", "data": {"traffic_source_id": "ts-1"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    assert_eq!(
        (call["status"].clone(), call["to"].clone(), call["schedule_id"].clone(), call["lead_id"].clone()),
        (json!("QUEUED"), json!("+12125550100"), json!(schedule), json!("lead-1"))
    );
    assert!(call["id"].is_string(), "{call}");
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 1);
}

/// Bad input on every endpoint: a 4xx naming the field, nothing written.
#[tokio::test]
async fn bad_input_on_every_endpoint_names_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let created = create(&app, "Kept", "kept").await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/schedules/{id}");
    let snapshot = || {
        app.count("SELECT count(*) AS n FROM schedules WHERE name = 'Kept' AND NOT paused AND description IS NULL AND deleted_at IS NULL")
    };
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("GET", "/api/v1/schedules?per_page=0".into(), None, "per_page"),
        ("GET", "/api/v1/schedules?colour=red".into(), None, "colour"),
        ("GET", "/api/v1/schedules.csv?order=offer_id".into(), None, "order"),
        ("GET", format!("{path}?fields=id"), None, "fields"),
        ("POST", "/api/v1/schedules".into(), Some(json!({"name": "N"})), "task_type"),
        (
            "POST",
            "/api/v1/schedules".into(),
            Some(json!({"name": "N", "task_type": "n", "time_zone": "Mars/Olympus"})),
            "time_zone",
        ),
        (
            "POST",
            "/api/v1/schedules".into(),
            Some(json!({"name": "N", "task_type": "n", "use_do_not_call": "perhaps"})),
            "use_do_not_call",
        ),
        (
            "POST",
            "/api/v1/schedules".into(),
            Some(json!({"name": "N", "task_type": "n", "leads_api_key": "k"})),
            "leads_api_key",
        ),
        (
            "PUT",
            path.clone(),
            Some(json!({"paused": "yes", "daylight_hours_open": "25:00"})),
            "calling_hours_start",
        ),
        ("PUT", path.clone(), Some(json!({"paused": "yes", "name": null})), "name"),
        ("PUT", path.clone(), Some(json!({"paused": "yes", "description": "d", "offer_id": 7})), "offer_id"),
        ("DELETE", format!("{path}?columns=uuid"), None, "columns"),
        (
            "POST",
            "/api/v1/schedules/make_call".into(),
            Some(json!({"lead_token": "t", "to": "+12125550100"})),
            "lead_token",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = call(&app, method, &path, body).await;
        assert!(answer.0.is_client_error(), "{method} {path}: {:#}", answer.1);
        assert_bad(&answer, field);
    }
    assert_eq!(schedules(&app), 1);
    assert_eq!(snapshot(), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls"), 0);
    // Unknown or another company's: 404 on show, update and delete.
    let (_, other_key) = app.new_company("Other");
    let other = app
        .client
        .delete(format!("{}{path}", app.base_url))
        .header("X-API-Key", other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    for method in ["GET", "PUT", "DELETE"] {
        let body = (method == "PUT").then(|| json!({"paused": "no"}));
        let answer = call(&app, method, "/api/v1/schedules/00000000-0000-0000-0000-000000000000", body).await;
        assert_rest_error(&answer, StatusCode::NOT_FOUND, "NOT_FOUND", None);
    }
    assert_eq!(snapshot(), 1);
    let (status, deleted) = call(&app, "DELETE", &path, None).await;
    assert_eq!(
        (status, deleted["name"].clone(), deleted["tasks_cancelled"].clone()),
        (StatusCode::OK, json!("Kept"), json!(0))
    );
    assert_eq!(schedules(&app), 0);
}
