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
