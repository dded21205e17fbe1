//! GraphQL over HTTP to the letter of the specification (the GraphQL-over-HTTP draft, as
//! graphql-http's `auditServer` checks it; `scripts/graphql-http-audit` runs that audit itself):
//! the media types and their status codes, what a POST must carry, GET for queries, and
//! automatic persisted queries. Every check is a real request to the real server.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::{assert_error, TestApp, WsClient, CREATE_SCHEDULE, TRANSPORT_WS};

const SPEC: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// An answer as a client sees it.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// A request error in the specification's type: 400 and no `data` entry, with the code.
    fn assert_never_ran(&self, code: &str) {
        assert_eq!(self.status, 400, "{}", self.body);
        assert!(self.content_type().starts_with(SPEC), "{}", self.content_type());
        assert!(self.body.get("data").is_none(), "no data entry: {}", self.body);
        assert_eq!(self.body["errors"][0]["extensions"]["code"], code, "{}", self.body);
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("a request to /graphql");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let bytes = response.bytes().await.expect("a body");
    let text = std::str::from_utf8(&bytes).expect("an answer in UTF-8");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(text).expect("a JSON answer") };
    Answer { status, headers, body }
}

/// A POST with the test company's key, JSON declared, `Accept` as given (None: no header).
fn post(app: &TestApp, accept: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
    let request = app.client.post(format!("{}/graphql", app.base_url)).header("X-API-Key", &app.api_key);
    let request = request.header("Content-Type", JSON).body(body.to_string());
    match accept {
        Some(accept) => request.header("Accept", accept),
        None => request,
    }
}

/// A GET with these URL parameters and `key` (None: no key).
fn get(
    app: &TestApp,
    key: Option<&str>,
    accept: Option<&str>,
    params: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let url = url::Url::parse_with_params(&format!("{}/graphql", app.base_url), params).unwrap();
    let request = app.client.get(url.as_str());
    let request = match key {
        Some(key) => request.header("X-API-Key", key),
        None => request,
    };
    match accept {
        Some(accept) => request.header("Accept", accept),
        None => request,
    }
}

fn sha256(document: &str) -> String {
    hex::encode(Sha256::digest(document.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

#[tokio::test]
async fn the_answer_is_in_the_media_type_the_client_accepts() {
    let app = TestApp::spawn().await;
    let query = json!({"query": "{ viewer { id } }"});
    for (accept, expected) in [
        (Some(SPEC), SPEC),
        (Some("application/graphql-response+json, application/json;q=0.9"), SPEC),
        (Some(JSON), JSON),
        (Some("*/*"), JSON),
        (Some("application/*"), JSON),
        (Some("text/html,application/xhtml+xml,*/*;q=0.8"), JSON),
        (None, JSON),
    ] {
        let answer = send(post(&app, accept, &query)).await;
        assert_eq!(answer.status, 200, "{accept:?}: {}", answer.body);
        assert!(answer.content_type().starts_with(expected), "{accept:?}: {}", answer.content_type());
        assert_eq!(answer.body["data"]["viewer"]["id"], app.company_id.to_string());
        assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    }
    // application/json is exactly as it was: no parameters added.
    assert_eq!(send(post(&app, Some(JSON), &query)).await.content_type(), JSON);
    // Neither type acceptable: 406, said in JSON.
    for accept in ["text/html", "application/xml, text/plain;q=0.5", "application/json;q=0"] {
        let answer = send(post(&app, Some(accept), &query)).await;
        assert_eq!(answer.status, 406, "{accept}");
        assert_error(&answer.body, "BAD_USER_INPUT", Some("Accept"));
    }
    // A request in UTF-8 (charset named or not) is read as UTF-8, and so is the answer.
    let unicode = json!({"query": "{ __type(name: \"Run🏃Swim🏊\") { name } }"});
    let request = app.client.post(format!("{}/graphql", app.base_url)).header("X-API-Key", &app.api_key);
    let answer =
        send(request.header("Content-Type", "application/json; charset=utf-8").body(unicode.to_string()))
            .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_request_that_never_ran_is_400_without_data_in_the_specifications_type() {
    let app = TestApp::spawn().await;
    let requests = [
        ("parse", json!({"query": "{"})),
        ("validation", json!({"query": "{ viewer { nope } }"})),
        (
            "variable coercion",
            json!({"query": "query($n: Int) { customers(first: $n) { totalCount } }", "variables": {"n": "ten"}}),
        ),
        ("a missing variable", json!({"query": "query($n: Int!) { customers(first: $n) { totalCount } }"})),
        ("no operation to run", json!({"query": "query A { viewer { id } } query B { viewer { id } }"})),
        ("an unknown operation name", json!({"query": "query A { viewer { id } }", "operationName": "C"})),
        (
            "the shape limit",
            json!({"query": format!("{{ {} }}", (0..201).map(|i| format!("a{i}: viewer {{ id }}")).collect::<String>())}),
        ),
    ];
    for (what, body) in &requests {
        let answer = send(post(&app, Some(SPEC), body)).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        answer.assert_never_ran("BAD_USER_INPUT");
        // In application/json, as always: 200 with "data": null.
        let answer = send(post(&app, Some(JSON), body)).await;
        assert_eq!(answer.status, 200, "{what}");
        assert!(answer.body.get("data").is_some_and(Value::is_null), "{what}: {}", answer.body);
        assert_eq!(answer.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{what}");
    }
    // Once execution started it is 200 in either type, errors or not: here a field needs a key.
    let no_key = app.client.post(format!("{}/graphql", app.base_url)).header("Content-Type", JSON);
    let answer =
        send(no_key.header("Accept", SPEC).body(json!({"query": "{ viewer { id } }"}).to_string())).await;
    assert_eq!(answer.status, 200);
    assert!(answer.content_type().starts_with(SPEC));
    assert!(answer.body.get("data").is_some(), "execution started: data is there ({})", answer.body);
    assert_error(&answer.body, "UNAUTHENTICATED", None);

    // A batch is 200: each operation says for itself, one that never ran without data.
    let batch = json!([{"query": "{ viewer { id } }"}, {"query": "{"}]);
    let answer = send(post(&app, Some(SPEC), &batch)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body[0]["data"]["viewer"]["id"], app.company_id.to_string());
    assert!(answer.body[1].get("data").is_none(), "{}", answer.body);
    assert_eq!(answer.body[1]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_post_must_be_a_graphql_request_declared_json() {
    let app = TestApp::spawn().await;
    let query = json!({"query": "{ viewer { id } }"}).to_string();
    let url = format!("{}/graphql", app.base_url);
    // No Content-Type, or one that is not JSON in UTF-8: 415, nothing runs.
    for content_type in
        [None, Some("text/plain"), Some("application/graphql"), Some("application/json; charset=latin1")]
    {
        let request = app.client.post(&url).header("X-API-Key", &app.api_key).body(query.clone());
        let request = match content_type {
            Some(value) => request.header("Content-Type", value),
            None => request,
        };
        let answer = send(request).await;
        assert_eq!(answer.status, 415, "{content_type:?}");
        assert_error(&answer.body, "BAD_USER_INPUT", Some("Content-Type"));
    }
    // Not a GraphQL request: 400 in either type (the specification's: no data entry).
    let malformed = [
        "",
        "{ \"not a JSON",
        "{\"notquery\": \"{ viewer { id } }\"}",
        "{\"query\": {\"obj\": \"ect\"}}",
        "{\"query\": 0}",
        "{\"query\": [\"array\"]}",
        "{\"query\": \"{ viewer { id } }\", \"operationName\": false}",
        "{\"query\": \"{ viewer { id } }\", \"variables\": \"string\"}",
        "{\"query\": \"{ viewer { id } }\", \"variables\": [\"array\"]}",
        "{\"query\": \"{ viewer { id } }\", \"extensions\": 0}",
        "[]",
    ];
    for body in malformed {
        for accept in [JSON, SPEC] {
            let request =
                app.client.post(&url).header("X-API-Key", &app.api_key).header("Content-Type", JSON);
            let answer = send(request.header("Accept", accept).body(body)).await;
            assert_eq!(answer.status, 400, "{body} ({accept}): {}", answer.body);
            assert_eq!(answer.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
            assert_eq!(
                answer.body.get("data").is_none(),
                accept == SPEC,
                "{body} ({accept}): {}",
                answer.body
            );
        }
    }
    // null for each optional parameter, and maps for variables and extensions, are fine.
    for body in [
        json!({"query": "{ viewer { id } }", "variables": null, "operationName": null, "extensions": null}),
        json!({"query": "query Type($name: String!) { __type(name: $name) { name } }", "variables": {"name": "Query"}}),
        json!({"query": "query Q { viewer { id } }", "operationName": "Q", "extensions": {"some": "value"}}),
    ] {
        for accept in [JSON, SPEC] {
            let answer = send(post(&app, Some(accept), &body)).await;
            assert_eq!(answer.status, 200, "{body}");
            assert!(answer.body.get("errors").is_none(), "{body}: {}", answer.body);
        }
    }
}

#[tokio::test]
async fn get_runs_queries_with_the_posts_key_limits_and_telemetry() {
    let app = TestApp::spawn().await;
    let key = Some(app.api_key.as_str());
    let answer = send(get(&app, key, None, &[("query", "{ viewer { id } }")])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type(), JSON);
    assert_eq!(answer.body["data"]["viewer"]["id"], app.company_id.to_string());
    // One company's data: no shared cache keeps it.
    assert_eq!(answer.header("cache-control"), "private, no-store");
    assert!(answer.header("vary").contains("X-API-Key"), "{:?}", answer.headers);
    assert!(!answer.header("x-request-id").is_empty(), "telemetry as on POST");

    // operationName, URL-encoded JSON variables and extensions, in either type.
    let params = [
        (
            "query",
            "query Other { viewer { name } } query Type($name: String!) { __type(name: $name) { name } }",
        ),
        ("operationName", "Type"),
        ("variables", "{\"name\": \"Query\"}"),
        ("extensions", "{\"some\": \"value\"}"),
    ];
    for accept in [JSON, SPEC] {
        let answer = send(get(&app, key, Some(accept), &params)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.content_type().starts_with(accept));
        assert_eq!(answer.body, json!({"data": {"__type": {"name": "Query"}}}));
    }
    // The key is checked as on POST: none, or another company's, sees what a POST would.
    let answer = send(get(&app, None, None, &[("query", "{ viewer { id } }")])).await;
    assert_error(&answer.body, "UNAUTHENTICATED", None);
    let (other, other_key) = app.new_company("Other");
    let answer = send(get(&app, Some(&other_key), None, &[("query", "{ viewer { id } }")])).await;
    assert_eq!(answer.body["data"]["viewer"]["id"], other.to_string());
    // The shape limits hold on GET too.
    let wide: String = (0..201).map(|i| format!("a{i}: viewer {{ id }} ")).collect();
    let answer = send(get(&app, key, Some(SPEC), &[("query", &format!("{{ {wide} }}"))])).await;
    answer.assert_never_ran("BAD_USER_INPUT");
    assert!(answer.body["errors"][0]["message"].as_str().unwrap().contains("at most 200 aliases"));
    // A document that does not parse, or no query at all.
    send(get(&app, key, Some(SPEC), &[("query", "{")])).await.assert_never_ran("BAD_USER_INPUT");
    let answer = send(get(&app, key, None, &[("query", "{")])).await;
    assert_eq!(answer.status, 200);
    assert_error(&answer.body, "BAD_USER_INPUT", None);
    for params in
        [&[][..], &[("operationName", "Q")][..], &[("query", "{ viewer { id } }"), ("query", "{ a }")][..]]
    {
        let answer = send(get(&app, key, None, params)).await;
        assert_eq!(answer.status, 400, "{params:?}: {}", answer.body);
        assert_eq!(answer.header("cache-control"), "private, no-store");
    }
    let answer =
        send(get(&app, key, None, &[("query", "{ viewer { id } }"), ("variables", "not json")])).await;
    assert_eq!(answer.status, 400);
    assert_error(&answer.body, "BAD_USER_INPUT", Some("variables"));
    let answer = send(get(&app, key, Some("text/html"), &[("query", "{ viewer { id } }")])).await;
    assert_eq!(answer.status, 406);

    // Counted as any query.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"callsync_graphql_requests_total{operation="query viewer",outcome="ok"} 2"#),
        "{metrics}"
    );

    // The WebSocket upgrade on GET /graphql is the WebSocket's, as before.
    let mut ws = WsClient::connect(&app.ws_url(), TRANSPORT_WS, None).await;
    let ack = ws.init(json!({"apiKey": app.api_key})).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws.close().await;
}

#[tokio::test]
async fn a_mutation_over_get_is_405_and_runs_nothing() {
    let app = TestApp::spawn().await;
    let key = Some(app.api_key.as_str());
    let input = json!({"input": {"name": "Over GET", "taskType": "collections"}}).to_string();
    let schedules = || app.count("select count(*) as n from schedules");
    let before = schedules();
    for accept in [None, Some(SPEC)] {
        let answer = send(get(&app, key, accept, &[("query", CREATE_SCHEDULE), ("variables", &input)])).await;
        assert_eq!(answer.status, 405, "{}", answer.body);
        assert_eq!(answer.header("allow"), "POST");
        assert_error(&answer.body, "BAD_USER_INPUT", Some("query"));
    }
    // The operation that would run decides: the query of a document with both runs.
    let both = format!(
        "query Read {{ viewer {{ id }} }} {}",
        CREATE_SCHEDULE.replacen("mutation", "mutation Write", 1)
    );
    let write = [("query", both.as_str()), ("operationName", "Write"), ("variables", input.as_str())];
    assert_eq!(send(get(&app, key, None, &write)).await.status, 405);
    let read = [("query", both.as_str()), ("operationName", "Read")];
    assert_eq!(
        send(get(&app, key, None, &read)).await.body["data"]["viewer"]["id"],
        app.company_id.to_string()
    );
    assert_eq!(schedules(), before, "nothing written");
    // The same mutation over POST runs.
    let body = json!({"query": CREATE_SCHEDULE, "variables": serde_json::from_str::<Value>(&input).unwrap()});
    assert_eq!(send(post(&app, Some(SPEC), &body)).await.status, 200);
    assert_eq!(schedules(), before + 1);
}

#[tokio::test]
async fn automatic_persisted_queries_on_post_and_get() {
    let app = TestApp::spawn().await;
    let key = Some(app.api_key.as_str());
    let document = "query Viewer { viewer { id name } }";
    let hash = sha256(document);
    let hash_alone = json!({"extensions": persisted(&hash)});
    // Unknown: what Apollo clients look for, 200 in either type (they then send the document).
    for accept in [JSON, SPEC] {
        let answer = send(post(&app, Some(accept), &hash_alone)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["errors"][0]["message"], "PersistedQueryNotFound");
        assert_error(&answer.body, "PERSISTED_QUERY_NOT_FOUND", None);
        assert_eq!(answer.body.get("data").is_none(), accept == SPEC, "{}", answer.body);
    }
    // A document that does not hash to the hash sent with it is refused.
    let wrong = json!({"query": "{ viewer { id } }", "extensions": persisted(&hash)});
    let answer = send(post(&app, Some(SPEC), &wrong)).await;
    answer.assert_never_ran("BAD_USER_INPUT");
    assert_eq!(answer.body["errors"][0]["message"], "provided sha does not match query");
    assert_eq!(answer.body["errors"][0]["extensions"]["field"], "extensions.persistedQuery.sha256Hash");
    for bad in [json!({"version": 2, "sha256Hash": hash}), json!({"version": 1, "sha256Hash": "abc"})] {
        let answer = send(post(&app, Some(SPEC), &json!({"extensions": {"persistedQuery": bad}}))).await;
        answer.assert_never_ran("BAD_USER_INPUT");
    }
    // The hash with its document runs and is kept; then the hash alone runs, on POST and GET.
    let with_document = json!({"query": document, "extensions": persisted(&hash)});
    let answer = send(post(&app, Some(SPEC), &with_document)).await;
    assert_eq!(answer.body["data"]["viewer"]["name"], "Acme", "{}", answer.body);
    let answer = send(post(&app, Some(SPEC), &hash_alone)).await;
    assert_eq!(answer.body["data"]["viewer"]["name"], "Acme", "{}", answer.body);
    let extensions = persisted(&hash).to_string();
    let answer = send(get(&app, key, None, &[("extensions", &extensions)])).await;
    assert_eq!(answer.body["data"]["viewer"]["id"], app.company_id.to_string(), "{}", answer.body);
    // Kept for the company whose request sent it: another company (or no key) has to send it.
    let (_, other_key) = app.new_company("Other");
    let answer = send(get(&app, Some(&other_key), None, &[("extensions", &extensions)])).await;
    assert_error(&answer.body, "PERSISTED_QUERY_NOT_FOUND", None);
    let answer = send(get(&app, None, None, &[("extensions", &extensions)])).await;
    assert_error(&answer.body, "PERSISTED_QUERY_NOT_FOUND", None);

    // A document that fails validation is not kept.
    let invalid = "{ viewer { nope } }";
    let invalid_hash = sha256(invalid);
    let answer =
        send(post(&app, Some(SPEC), &json!({"query": invalid, "extensions": persisted(&invalid_hash)})))
            .await;
    answer.assert_never_ran("BAD_USER_INPUT");
    let answer = send(post(&app, None, &json!({"extensions": persisted(&invalid_hash)}))).await;
    assert_error(&answer.body, "PERSISTED_QUERY_NOT_FOUND", None);

    // A persisted mutation is still a mutation: 405 over GET, and it runs over POST.
    let schedules = || app.count("select count(*) as n from schedules");
    let before = schedules();
    let mutation_hash = sha256(CREATE_SCHEDULE);
    let variables = json!({"input": {"name": "Persisted", "taskType": "collections"}});
    let first =
        json!({"query": CREATE_SCHEDULE, "variables": variables, "extensions": persisted(&mutation_hash)});
    assert_eq!(send(post(&app, None, &first)).await.body["data"]["createSchedule"]["name"], "Persisted");
    assert_eq!(schedules(), before + 1);
    let over_get =
        [("variables", variables.to_string()), ("extensions", persisted(&mutation_hash).to_string())];
    let over_get: Vec<(&str, &str)> = over_get.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = send(get(&app, key, None, &over_get)).await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert_eq!(answer.header("allow"), "POST");
    assert_eq!(schedules(), before + 1, "nothing written over GET");
    let again = json!({"variables": {"input": {"name": "Again", "taskType": "renewals"}}, "extensions": persisted(&mutation_hash)});
    assert_eq!(send(post(&app, None, &again)).await.body["data"]["createSchedule"]["name"], "Again");
    assert_eq!(schedules(), before + 2);
}

#[tokio::test]
async fn a_persisted_mutation_retried_by_its_hash_is_the_same_idempotent_request() {
    let app = TestApp::spawn().await;
    let before = app.count("select count(*) as n from schedules");
    let hash = sha256(CREATE_SCHEDULE);
    let variables = json!({"input": {"name": "Once", "taskType": "collections"}});
    let with_key = |body: &Value| post(&app, None, body).header("Idempotency-Key", "persisted-1");
    // Apollo's link: the hash alone (unknown: nothing runs, nothing is kept for the key) ...
    let hash_alone = json!({"variables": variables, "extensions": persisted(&hash)});
    assert_error(&send(with_key(&hash_alone)).await.body, "PERSISTED_QUERY_NOT_FOUND", None);
    // ... then the document with it: it runs once ...
    let with_document =
        json!({"query": CREATE_SCHEDULE, "variables": variables, "extensions": persisted(&hash)});
    let first = send(with_key(&with_document)).await;
    assert_eq!(first.body["data"]["createSchedule"]["name"], "Once", "{}", first.body);
    // ... and a retry by the hash alone is the same request: the first answer, nothing written.
    let retry = send(with_key(&hash_alone)).await;
    assert_eq!(retry.header("idempotent-replayed"), "true", "{}", retry.body);
    assert_eq!(retry.body, first.body);
    assert_eq!(app.count("select count(*) as n from schedules"), before + 1);

    // A mutation refused for how it was sent (no Content-Type) keeps no answer for its key.
    let request = app.client.post(format!("{}/graphql", app.base_url)).header("X-API-Key", &app.api_key);
    let body =
        json!({"query": CREATE_SCHEDULE, "variables": {"input": {"name": "Typed", "taskType": "renewals"}}});
    let untyped = request.header("Idempotency-Key", "typed-1").body(body.to_string());
    assert_eq!(send(untyped).await.status, 415);
    let typed = send(post(&app, None, &body).header("Idempotency-Key", "typed-1")).await;
    assert_eq!(typed.body["data"]["createSchedule"]["name"], "Typed", "{}", typed.body);
}
