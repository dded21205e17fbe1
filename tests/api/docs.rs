//! The documentation's examples work: every `sh` block of docs/migrating.md runs, in order and
//! in one shell (so `SCHEDULE_ID` carries over), against a real server.

use std::process::Command;

use crate::harness::TestApp;

/// The fenced blocks of `markdown` whose info string is exactly `lang`.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, fence) if fence.starts_with("```") && fence[3..].trim() == lang => {
                current = Some(String::new())
            }
            (Some(_), "```") => found.extend(current.take()),
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    found
}

#[tokio::test]
async fn the_migration_guides_curl_examples_work() {
    let app = TestApp::spawn().await;
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/migrating.md")).unwrap();
    let examples = blocks(&guide, "sh");
    assert!(examples.len() >= 10, "the guide's examples were not found");
    let script: String = examples
        .iter()
        .enumerate()
        .map(|(i, block)| format!("echo '--- example {}' >&2\n{block}", i + 1))
        .collect();
    let app_url = app.base_url.clone();
    let key = app.api_key.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("CALLSYNC_URL", app_url)
            .env("CALLSYNC_KEY", key)
            .output()
            .expect("bash runs")
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "an example failed:\n{stderr}\n--- output so far:\n{stdout}");
    // GraphQL answers errors with 200: none may appear either.
    assert!(!stdout.contains("\"errors\":[{\"message\""), "an example's GraphQL request failed:\n{stdout}");
    // What the guide promises happened.
    assert_eq!(app.count("SELECT count(*) AS n FROM customers WHERE external_id IN ('cust-1001', 'cust-1002', 'bulk-1', 'bulk-2')"), 4);
    assert_eq!(app.count("SELECT count(*) AS n FROM customers WHERE phone_number = '+12125550142'"), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM calls WHERE status = 'QUEUED'"), 2);
    assert_eq!(app.count("SELECT count(*) AS n FROM schedules WHERE deleted_at IS NOT NULL"), 1);
}

/// The README's walkthrough: each `gql '…'` request and the answer shown under it (`# …`), run
/// at three hours of the day (a server clock at each), so its expected outputs hold at any hour.
#[tokio::test]
async fn the_readmes_walkthrough_answers_as_shown_at_any_hour() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let walkthrough = &readme[readme.find("## A first walkthrough").unwrap()..];
    let block = blocks(walkthrough, "sh").into_iter().next().expect("the walkthrough's commands");
    let steps = walkthrough_steps(&block);
    assert_eq!(steps.len(), 5, "{steps:#?}");
    // Night in the US, the hour no US zone may be called, and a US afternoon (all in December).
    for start in ["2026-12-01T07:30:00Z", "2026-12-01T11:30:00Z", "2026-12-01T21:00:00Z"] {
        let app = TestApp::spawn_at(crate::harness::utc(start)).await;
        for (request, expected) in &steps {
            let body: serde_json::Value =
                serde_json::from_str(request).unwrap_or_else(|e| panic!("{e}: {request}"));
            let answer = app.post_graphql(Some(&app.api_key), &body).await;
            assert!(
                matches(expected, &answer),
                "at {start}, {request}\nexpected {expected}\n     got {answer}"
            );
        }
    }
}

/// (request body, expected answer) for each `gql '…'` of the block.
fn walkthrough_steps(block: &str) -> Vec<(String, serde_json::Value)> {
    let mut steps = Vec::new();
    let mut lines = block.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("gql '") else { continue };
        let mut request = rest.to_string();
        while !request.trim_end().ends_with('\'') {
            request.push('\n');
            request.push_str(lines.next().expect("the request's closing quote"));
        }
        let request = request.trim_end().trim_end_matches('\'').to_string();
        let mut expected = String::new();
        let answer = loop {
            let line = lines.next().expect("an expected answer under the request");
            expected.push_str(line.trim_start_matches('#').trim());
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&expected) {
                break value;
            }
        };
        steps.push((request, answer));
    }
    steps
}

/// Whether `actual` is `expected`, where an expected string with `<placeholder>`s matches any
/// text in their place (e.g. "<tomorrow>T10:00:00-08:00").
fn matches(expected: &serde_json::Value, actual: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (expected, actual) {
        (Value::String(e), Value::String(a)) if e.contains('<') => {
            let parts: Vec<&str> = e.split(['<', '>']).step_by(2).collect();
            let mut rest = a.as_str();
            parts.iter().enumerate().all(|(i, part)| match rest.find(part) {
                Some(at) if i > 0 || at == 0 => {
                    rest = &rest[at + part.len()..];
                    true
                }
                _ => false,
            }) && (parts.last().is_some_and(|p| p.is_empty()) || rest.is_empty())
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len() && e.iter().all(|(k, v)| a.get(k).is_some_and(|x| matches(v, x)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| matches(x, y))
        }
        _ => expected == actual,
    }
}
