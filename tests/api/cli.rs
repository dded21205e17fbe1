//! The `callsync` binary: schema export, companies and keys, migrations, and the first run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{database_url, TestApp};

fn callsync() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callsync"));
    cmd.env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    cmd
}

#[test]
fn committed_schema_matches_the_code() {
    let out = callsync().arg("schema").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        printed == committed,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[tokio::test]
async fn company_and_api_key_commands_print_working_keys() {
    let app = TestApp::spawn().await;
    let out = callsync()
        .args(["company", "create", "--name", "Beta Lending"])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let company_id = line["companyId"].as_str().unwrap().to_string();
    let key = line["apiKey"].as_str().unwrap().to_string();
    let viewer = app.gql_as(Some(&key), "{ viewer { id name } }", json!({})).await;
    assert_eq!(viewer["data"]["viewer"], json!({"id": company_id, "name": "Beta Lending"}));

    let out = callsync()
        .args(["api-key", "create", "--company", &company_id, "--label", "dialer"])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let second = line["apiKey"].as_str().unwrap();
    assert_ne!(second, key);
    let viewer = app.gql_as(Some(second), "{ viewer { id } }", json!({})).await;
    assert_eq!(viewer["data"]["viewer"]["id"], company_id);
    // Only hashes are stored.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM api_keys WHERE key_hash = convert_to('{second}', 'UTF8')"
        )),
        0
    );

    for bad in ["00000000-0000-0000-0000-000000000000", "nope"] {
        let out = callsync()
            .args(["api-key", "create", "--company", bad])
            .env("DATABASE_URL", &app.db.url)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("company"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn concurrent_migrations_are_safe() {
    let name = format!("callsync_test_{}", uuid::Uuid::new_v4().simple());
    callsync::store::create_database_if_missing(crate::harness::admin_url(), &name).unwrap();
    let url = database_url(&name);
    let children: Vec<_> = (0..3)
        .map(|_| callsync().arg("migrate").env("DATABASE_URL", &url).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let _cleanup = crate::harness::TestDatabase { name, url, admin: crate::harness::admin_url().to_string() };
}

/// `callsync serve` with no DATABASE_URL brings up its own cluster, migrates, and prints a
/// demo key that works.
#[tokio::test]
async fn first_run_without_database_url_is_complete() {
    let dir = std::env::temp_dir().join(format!("callsync-first-run-{}", uuid::Uuid::new_v4().simple()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = callsync()
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = FirstRun { child, dir: dir.clone() };
    let stdout = guard.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads stdout to the end, so the server never writes into a closed pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("apiKey:") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    let key = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the demo API key is printed");

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await;
        if matches!(&ready, Ok(r) if r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the server never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body: Value = client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .header("X-API-Key", &key)
        .json(&json!({"query": "{ viewer { name } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["viewer"]["name"], "Demo Company");
}

/// Stops the server and its cluster (which outlives the server by design), even on failure.
struct FirstRun {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Drop for FirstRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let pgdata = self.dir.join("pgdata");
        if pgdata.join("postmaster.pid").exists() {
            if let Ok(cluster) = callsync::pg_cluster::LocalCluster::ensure_running(&pgdata) {
                let _ = cluster.stop();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
