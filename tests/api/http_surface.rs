//! The HTTP surface: health, readiness, metrics, GraphiQL, auth, limits.

use serde_json::json;

use crate::harness::{assert_error, TestApp};

#[tokio::test]
async fn health_readiness_graphiql_and_metrics() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    let graphiql = app.get("/").await;
    assert_eq!(graphiql.status(), 200);
    let page = graphiql.text().await.unwrap();
    assert!(page.to_lowercase().contains("graphiql"));
    assert_pages_assets_are_local(&app, &page).await;
    let dashboard = app.get("/dashboard").await;
    assert_eq!(dashboard.status(), 200);
    assert_pages_assets_are_local(&app, &dashboard.text().await.unwrap()).await;

    app.gql_ok("{ viewer { id } }", json!({})).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"callsync_graphql_requests_total{operation="query viewer",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("callsync_graphql_request_duration_seconds_bucket"), "{metrics}");
    assert!(metrics.contains("callsync_db_pool_connections"), "{metrics}");
}

/// With `CALLSYNC_METRICS_TOKEN` set, `/metrics` answers only `Authorization: Bearer TOKEN`
/// (without it, as above, it is open); the other endpoints are unchanged.
#[tokio::test]
async fn metrics_need_the_bearer_token_when_one_is_set() {
    let token = "metrics-token-5b1e";
    let app = TestApp::spawn_configured(crate::harness::utc(crate::harness::TEST_START), |options| {
        options.metrics_token = Some(callsync::domain::Secret::new(token))
    })
    .await;
    let metrics = |auth: Option<String>| {
        let request = app.client.get(format!("{}/metrics", app.base_url));
        let request = match auth {
            Some(value) => request.header("Authorization", value),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    let refused = metrics(None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
    assert!(!refused.text().await.unwrap().contains("callsync_"), "no metric in a refusal");
    let wrong = [
        format!("Bearer {token}x"),
        format!("Bearer {}", &token[..token.len() - 1]),
        format!("Basic {token}"),
        token.to_string(),
        format!("Bearer {}", app.api_key),
    ];
    for auth in wrong {
        assert_eq!(metrics(Some(auth.clone())).await.status(), 401, "{auth}");
    }
    for auth in [format!("Bearer {token}"), format!("bearer  {token} ")] {
        let answer = metrics(Some(auth.clone())).await;
        assert_eq!(answer.status(), 200, "{auth}");
        assert!(answer.text().await.unwrap().contains("callsync_db_pool_connections"));
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.gql_ok("{ viewer { id } }", json!({})).await;
}

/// Every script and stylesheet a page loads is served by callsync itself (the page works
/// offline): no other host is named, and each asset answers 200 with its type.
pub async fn assert_pages_assets_are_local(app: &TestApp, page: &str) {
    for attr in ["src=\"", "href=\""] {
        for part in page.split(attr).skip(1) {
            let target = &part[..part.find('"').unwrap()];
            assert!(target.starts_with('/') && !target.starts_with("//"), "a non-local asset: {target}");
            let asset = app.get(target).await;
            assert_eq!(asset.status(), 200, "{target}");
            let kind = asset.headers()["content-type"].to_str().unwrap().to_string();
            assert!(
                kind.starts_with("text/javascript")
                    || kind.starts_with("text/css")
                    || kind.starts_with("image/"),
                "{target}: {kind}"
            );
        }
    }
    assert!(!page.contains("https://") && !page.contains("http://"), "the page names another host");
}

#[tokio::test]
async fn readiness_fails_while_the_database_is_gone() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.gql_ok("{ viewer { id } }", json!({})).await; // the key is now cached
                                                      // Drop the database under the running server (terminating its connections).
    {
        use diesel::{Connection, RunQueryDsl};
        let mut admin = diesel::PgConnection::establish(crate::harness::admin_url()).unwrap();
        diesel::sql_query(format!("DROP DATABASE \"{}\" WITH (FORCE)", app.db.name))
            .execute(&mut admin)
            .unwrap();
    }
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
    // A request that reaches the store fails as INTERNAL, with nothing of the database in it.
    let body = app.gql("{ customers { totalCount } }", json!({})).await;
    assert_error(&body, "INTERNAL", None);
    assert_eq!(body["errors"][0]["message"], "internal error");
}

#[tokio::test]
async fn api_keys_are_required_and_checked() {
    let app = TestApp::spawn().await;
    let missing = app.gql_as(None, "{ viewer { id } }", json!({})).await;
    assert_error(&missing, "UNAUTHENTICATED", None);
    let unknown = app.gql_as(Some("csk_not_a_key"), "{ viewer { id } }", json!({})).await;
    assert_error(&unknown, "UNAUTHENTICATED", None);

    let bearer: serde_json::Value = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("Authorization", format!("Bearer {}", app.api_key))
        .json(&json!({"query": "{ viewer { id name } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bearer["data"]["viewer"]["id"], app.company_id.to_string());
    assert_eq!(bearer["data"]["viewer"]["name"], "Acme");

    // Basic, with the key as the password (the user name is ignored); a malformed one is no key.
    let basic = |value: String| {
        let (client, url) = (app.client.clone(), format!("{}/graphql", app.base_url));
        async move {
            client
                .post(url)
                .header("Authorization", value)
                .json(&json!({"query": "{ viewer { id } }"}))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    use base64::Engine;
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let ok = basic(format!("Basic {}", encode(&format!("anything:{}", app.api_key)))).await;
    assert_eq!(ok["data"]["viewer"]["id"], app.company_id.to_string(), "{ok}");
    for bad in [
        format!("Basic {}", encode("anything:csk_not_a_key")),
        format!("Basic {}", encode(&app.api_key)),
        format!("Basic {}", encode(&format!("{}:", app.api_key))),
        "Basic not base64!".to_string(),
        format!("Digest {}", app.api_key),
    ] {
        assert_error(&basic(bad).await, "UNAUTHENTICATED", None);
    }

    // The schema itself is public: introspection needs no key.
    let intro = app.gql_as(None, "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(intro["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let app = TestApp::spawn().await;
    let not_json = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let body: serde_json::Value = not_json.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let unknown_field = app.gql("{ viewer { nope } }", json!({})).await;
    assert_error(&unknown_field, "BAD_USER_INPUT", None);

    // Reported by the variable's check and by the connection's cost (which reads `first`):
    // every error is the client's input.
    let wrong_type =
        app.gql("query($n: Int) { customers(first: $n) { totalCount } }", json!({"n": "ten"})).await;
    let errors = wrong_type["errors"].as_array().expect("errors");
    assert!(!errors.is_empty() && wrong_type["data"].is_null(), "{wrong_type}");
    for e in errors {
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{wrong_type}");
    }
}

#[tokio::test]
async fn depth_and_body_size_are_limited() {
    let app = TestApp::spawn().await;
    let mut deep = String::from("__typename");
    for _ in 0..20 {
        deep = format!("ofType {{ {deep} }}");
    }
    let deep_query = format!("{{ __type(name: \"Query\") {{ fields {{ type {{ {deep} }} }} }} }}");
    let body = app.gql(&deep_query, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{body}");

    let wide: String = (0..201).map(|i| format!("f{i}: scheduleDefaults {{ paused }} ")).collect();
    let body = app.gql(&format!("{{ {wide} }}"), json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("at most 200 aliases"), "{body}");
    let costly: String =
        (0..150).map(|i| format!("f{i}: customers(first: 500) {{ nodes {{ id firstName }} }} ")).collect();
    let body = app.gql(&format!("{{ {costly} }}"), json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{body}");

    // 17 MiB is over the 16 MiB limit.
    let big = "x".repeat(17 * 1024 * 1024);
    let sent = app
        .client
        .post(format!("{}/graphql", app.base_url))
        .header("X-API-Key", &app.api_key)
        .json(&json!({"query": "{ viewer { id } }", "variables": {"pad": big}}))
        .send()
        .await;
    // The server answers 413 as soon as the limit is passed and closes the connection; a client
    // still writing the rest may see that as a broken pipe instead of reading the answer.
    match sent {
        Ok(resp) => assert_eq!(resp.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }

    // ~10 MiB (the size of a 10,000-record bulk request) is accepted.
    let fits = "x".repeat(10 * 1024 * 1024);
    let ok = app.gql_ok("{ viewer { id } }", json!({"pad": fits})).await;
    assert_eq!(ok["viewer"]["id"], app.company_id.to_string());
}
