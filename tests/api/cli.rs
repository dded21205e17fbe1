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

/// `callsync serve` with no DATABASE_URL brings up its own cluster, migrates, prints a demo
/// key that works and where the dashboard is; as root, says plainly which directories it made
/// traversable. `callsync local status | psql | stop` manage that cluster, and a restart says how
/// to get another key for the demo company.
#[tokio::test]
async fn first_run_without_database_url_is_complete() {
    let dir = std::env::temp_dir().join(format!("callsync-first-run-{}", uuid::Uuid::new_v4().simple()));
    let root = unsafe { libc::geteuid() } == 0;
    // As root, a data directory under a private (0700) directory: the cluster's user cannot
    // reach it unless callsync changes that, and it must say so.
    let private = dir.join("private");
    std::fs::create_dir_all(&private).unwrap();
    if root {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let data_dir = private.join("data");
    let mut guard = FirstRun { child: None, data_dir: data_dir.clone(), dir: dir.clone() };

    let (port, lines) = guard.serve().await;
    let key =
        lines.iter().find_map(|l| l.trim().strip_prefix("apiKey:")).expect("the demo API key is printed");
    let key = key.split_whitespace().next().unwrap().to_string();
    let client = reqwest::Client::new();
    let body: Value = client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .header("X-API-Key", &key)
        .json(&json!({"query": "{ viewer { id name } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["viewer"]["name"], "Demo Company");
    let company = body["data"]["viewer"]["id"].as_str().unwrap().to_string();
    let text = lines.join("\n");
    assert!(text.contains(&format!("dashboard http://127.0.0.1:{port}/dashboard")), "{text}");
    assert_eq!(client.get(format!("http://127.0.0.1:{port}/dashboard")).send().await.unwrap().status(), 200);
    if root {
        assert!(text.contains("made traversable") && text.contains(&private.display().to_string()), "{text}");
    } else {
        assert!(!text.contains("made traversable"), "{text}");
    }

    // Without CALLSYNC_SECRET_KEY, the local cluster gets a key of its own beside its data,
    // readable by its owner only, so secrets can be stored (sealed) in development too.
    let key_file = data_dir.join("secret.key");
    assert!(text.contains(&format!("Secret key: generated {}", key_file.display())), "{text}");
    let generated = std::fs::read_to_string(&key_file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let stored: Value = client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .header("X-API-Key", &key)
        .json(&json!({"query": "mutation { updateCompanySettings(input: {lmsApiKey: \"dev-lms-key\"}) { id } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stored.get("errors").is_none(), "{stored}");

    // `local status` shows the port the server printed.
    let status = local(&data_dir, &["status", "--json"]);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["state"], "running");
    let pg_port = status["port"].as_u64().unwrap();
    assert!(text.contains(&format!("on 127.0.0.1:{pg_port}")), "{text}");
    // `local psql` opens the callsync database (arguments pass through).
    let names = local(&data_dir, &["psql", "--", "-tAc", "select name from companies"]);
    assert_eq!(names.trim(), "Demo Company");
    let sealed = local(&data_dir, &["psql", "--", "-tAc", "select lms_api_key from companies"]);
    assert!(sealed.trim().starts_with("enc:v1:") && !sealed.contains("dev-lms-key"), "{sealed}");

    // A restart says how to get a key for the demo company (the first is never shown again).
    guard.stop_server();
    let (_, lines) = guard.serve().await;
    let text = lines.join("\n");
    assert!(text.contains(&format!("callsync api-key create --company {company}")), "{text}");
    assert!(!text.contains("apiKey:"), "{text}");
    assert!(text.contains(&format!("Secret key: using {}", key_file.display())), "{text}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), generated, "the same key on every run");
    guard.stop_server();

    assert!(local(&data_dir, &["stop"]).contains("stopped"));
    let status: Value = serde_json::from_str(&local(&data_dir, &["status", "--json"])).unwrap();
    assert_eq!(status["state"], "stopped");
}

/// Runs `callsync local ARGS` on the cluster in `data_dir` (as `--data-dir` takes it: the
/// cluster is its `pgdata`), returns stdout.
fn local(data_dir: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = callsync();
    cmd.arg("local").arg(args[0]).arg("--data-dir").arg(data_dir).args(&args[1..]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "local {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `serve` on the local cluster in `data_dir`; stops the server and its cluster (which
/// outlives the server by design), even on failure.
struct FirstRun {
    child: Option<std::process::Child>,
    data_dir: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl FirstRun {
    /// Starts `serve` on a free port; returns the port and what it printed until it was ready.
    async fn serve(&mut self) -> (u16, Vec<String>) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = callsync()
            .args(["serve", "--no-dialer", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&self.data_dir)
            .env_remove("CALLSYNC_SECRET_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads stdout to the end, so the server never writes into a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        // The "listening" line comes last, once the server is bound.
        while !lines.iter().any(|l: &String| l.starts_with("callsync is listening")) {
            assert!(Instant::now() < deadline, "the server never said it listens: {lines:?}");
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                lines.push(line);
            }
        }
        let client = reqwest::Client::new();
        while !matches!(client.get(format!("http://127.0.0.1:{port}/readyz")).send().await, Ok(r) if r.status() == 200)
        {
            assert!(Instant::now() < deadline, "the server never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (port, lines)
    }

    fn stop_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for FirstRun {
    fn drop(&mut self) {
        self.stop_server();
        let pgdata = self.data_dir.join("pgdata");
        if pgdata.join("postmaster.pid").exists() {
            if let Ok(cluster) = callsync::pg_cluster::LocalCluster::ensure_running(&pgdata) {
                let _ = cluster.stop();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn api_key_list_and_revoke_commands() {
    let app = TestApp::spawn().await;
    let company = app.company_id.to_string();
    let run = |args: &[&str]| callsync().args(args).env("DATABASE_URL", &app.db.url).output().unwrap();
    let out = run(&["api-key", "create", "--company", &company, "--label", "viewer", "--scope", "READ_ONLY"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["scope"], "READ_ONLY");
    let viewer = created["apiKey"].as_str().unwrap().to_string();

    let out = run(&["api-key", "list", "--company", &company]);
    assert!(out.status.success());
    let listed: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed.len(), 2);
    // Found by label: the CLI stamps the machine's date, the test company the test's instant,
    // so their order depends on the day the suite runs.
    let labelled = |label: &str| listed.iter().find(|k| k["label"] == label).unwrap();
    assert_eq!(labelled("viewer")["prefix"], &viewer[..12]);
    assert_eq!(labelled("viewer")["scope"], "READ_ONLY");
    assert!(listed.iter().all(|k| !k.to_string().contains(&viewer) && k["revokedAt"].is_null()));

    // The operator may revoke the company's last FULL key (the API may not).
    let initial = labelled("initial")["id"].as_str().unwrap();
    let out = run(&["api-key", "revoke", initial]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let revoked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(revoked["revokedAt"].is_string(), "{revoked}");
    crate::harness::eventually("the revoked key refused", || async {
        let body = app.gql("{ viewer { id } }", json!({})).await;
        (body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED").then_some(())
    })
    .await;
    // The trail names the command, with no key.
    let trail = app
        .gql_as(Some(&viewer), "{ auditLog { nodes { apiKeyId operation entityType entityId } } }", json!({}))
        .await;
    let nodes = trail["data"]["auditLog"]["nodes"].as_array().unwrap();
    let revoke = nodes.iter().find(|n| n["operation"] == "cli api-key revoke").expect("the revocation");
    assert_eq!(revoke["entityId"], initial, "{trail}");
    assert!(revoke["apiKeyId"].is_null());
    assert!(nodes.iter().any(|n| n["operation"] == "cli api-key create"), "{trail}");

    for (args, says) in [
        (vec!["api-key", "revoke", "00000000-0000-0000-0000-000000000000"], "no API key"),
        (vec!["api-key", "revoke", "nope"], "not an id"),
        (vec!["api-key", "create", "--company", &company, "--scope", "ADMIN"], "--scope"),
    ] {
        let out = run(&args);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
