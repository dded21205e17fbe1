//! The operations dashboard in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs) against the real server.
//! A key typed in the page, a sync and a makeCall appearing live, counts and the chart moving,
//! a server restart survived with the events written meanwhile shown, and a wrong key refused.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{create_schedule, customer_at, TestApp};

/// How long a change may take to show before the test gives up. A guard against hanging, not a
/// timing assertion: a busy machine must not fail the suite; the measured latency is printed
/// (`sync visible after …`) and the live path's speed is watched by the benchmarks.
const LIVE_WITHIN: Duration = Duration::from_secs(30);
/// For the browser to start, a page to load, a restarted server to be found again.
const SLOW: Duration = Duration::from_secs(30);

const NEW_YORK: (&str, &str, &str, &str) = ("America/New_York", "NY", "10001", "+12125550100");

/// A chromedriver process and one headless Chromium session, both ended on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Browser {
    async fn start() -> Browser {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromedriver is missing: apt-get install chromium chromium-driver (.ci/run does)");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // The browser keeps the machine's own clock even when the suite runs under libfaketime
        // (`scripts/test-dates`): the page must follow the server's clock, whatever its own says.
        let driver = Command::new(driver_path)
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            // Its own process group: dropping the browser ends Chromium too, even when a test
            // fails before it closes its session (a killed chromedriver leaves Chromium running).
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + SLOW;
        while !matches!(http.get(format!("{base}/status")).send().await, Ok(r) if r.status().is_success()) {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut browser = Browser { driver, base, session: String::new(), http };
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1440,900",
        ];
        let created = browser
            .command(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
                }}}),
            )
            .await;
        browser.session = created["sessionId"].as_str().expect("a WebDriver session").to_string();
        browser
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let answer: Value =
            request.send().await.expect("WebDriver request").json().await.expect("WebDriver JSON");
        assert!(answer["value"]["error"].is_null(), "WebDriver {method} {path}: {answer}");
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url})).await;
    }

    async fn run(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", json!({"script": script, "args": []})).await
    }

    async fn type_into(&self, css: &str, text: &str) {
        let found = self.command("POST", "/element", json!({"using": "css selector", "value": css})).await;
        let id = found["element-6066-11e4-a52e-4f735466cecf"].as_str().expect("element").to_string();
        self.command("POST", &format!("/element/{id}/value"), json!({"text": text})).await;
    }

    async fn click(&self, css: &str) {
        let found = self.command("POST", "/element", json!({"using": "css selector", "value": css})).await;
        let id = found["element-6066-11e4-a52e-4f735466cecf"].as_str().expect("element").to_string();
        self.command("POST", &format!("/element/{id}/click"), json!({})).await;
    }

    /// Polls `script` until it returns true; how long it took.
    async fn wait_for(&self, what: &str, script: &str, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.run(script).await == Value::Bool(true) {
                return started.elapsed();
            }
            if started.elapsed() > within {
                let state = self.run("return document.getElementById('state').textContent").await;
                let feed = self.run("return document.getElementById('feed').innerText").await;
                panic!("not within {within:?}: {what} (page state {state}, feed {feed})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let png = self.command("GET", "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn count_is(card: &str, n: i64) -> String {
    format!("return (document.getElementById('{card}') || {{dataset: {{}}}}).dataset.count === '{n}'")
}

fn feed_has(kind: &str, customer: &str) -> String {
    format!("return !!document.querySelector('#feed li[data-kind=\"{kind}\"][data-customer=\"{customer}\"]')")
}

const LIVE: &str = "return document.getElementById('state').dataset.state === 'live'";
const SYNC: &str = "mutation($i: CustomerInput!) { syncCustomerSchedule(input: $i) { tasksCreated } }";

#[tokio::test]
async fn the_dashboard_shows_api_changes_live_and_survives_a_restart() {
    let mut app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    let reminders = create_schedule(&app, "reminders").await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/dashboard", app.base_url)).await;

    // The key is typed in once; it is never in the URL.
    browser.type_into("#api-key", &app.api_key).await;
    browser.click("#connect").await;
    browser.wait_for("the page goes live", LIVE, SLOW).await;
    let url = browser.command("GET", "/url", Value::Null).await;
    assert!(!url.as_str().unwrap().contains(&app.api_key), "the key is not in the URL: {url}");
    browser.wait_for("counts start at zero", &count_is("count-task-PENDING", 0), SLOW).await;

    // A sync through the API: its tasks appear in the feed, the pending count moves.
    let planned = app.gql_ok(SYNC, json!({"i": customer_at("dash-1", NEW_YORK)})).await
        ["syncCustomerSchedule"]["tasksCreated"]
        .as_i64()
        .unwrap();
    assert!(planned > 0);
    let took = browser.wait_for("the sync's task events", &feed_has("TASK", "dash-1"), LIVE_WITHIN).await;
    browser.wait_for("the pending count", &count_is("count-task-PENDING", planned), LIVE_WITHIN).await;
    browser
        .wait_for("the next due tasks", "return document.querySelectorAll('#due tr').length > 0", LIVE_WITHIN)
        .await;
    println!("sync visible after {took:?}");
    // "In 26 h" is measured from the server's clock (the test server's is days from the
    // browser's): the first step of a fresh schedule is ahead, never "overdue".
    let due = browser.run("return document.querySelector('#due tr').cells[0].textContent").await;
    assert!(due.as_str().unwrap().starts_with("in "), "the next due task reads {due}");

    // A makeCall: the call appears, the queued count and the calls-per-minute chart move.
    app.gql_ok("mutation { makeCall(input: {customerId: \"dash-1\"}) { id } }", json!({})).await;
    let took = browser.wait_for("the call event", &feed_has("CALL", "dash-1"), LIVE_WITHIN).await;
    browser.wait_for("the queued count", &count_is("count-call-QUEUED", 1), LIVE_WITHIN).await;
    browser
        .wait_for("the chart", "return document.getElementById('chart').dataset.total === '1'", LIVE_WITHIN)
        .await;
    println!("makeCall visible after {took:?}");
    let masked = browser.run("return document.getElementById('feed').innerText").await;
    assert!(!masked.as_str().unwrap().contains("2125550100"), "numbers are masked on screen: {masked}");

    // The server goes away: the page says so. Meanwhile another instance writes.
    app.stop_server().await;
    browser
        .wait_for(
            "the page shows the drop",
            "return document.getElementById('state').dataset.state === 'reconnecting'",
            SLOW,
        )
        .await;
    let other = app.another_instance();
    let during = app
        .client
        .post(format!("{}/graphql", other.base_url))
        .header("X-API-Key", &app.api_key)
        .json(&json!({"query": SYNC, "variables": {"i": customer_at("dash-2", ("America/New_York", "NY", "10001", "+12125550101"))}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(during["errors"].is_null(), "{during}");
    drop(other);

    // Back up on the same address: the page resumes after its last event and shows the missed ones.
    app.restart_server().await;
    browser.wait_for("the page is live again", LIVE, SLOW).await;
    browser.wait_for("what happened while down", &feed_has("TASK", "dash-2"), SLOW).await;
    let pending = app.count("SELECT count(*) AS n FROM tasks WHERE status = 'PENDING'");
    assert!(pending > planned);
    browser.wait_for("the counts caught up", &count_is("count-task-PENDING", pending), SLOW).await;
    let duplicates = browser
        .run("const ids = [...document.querySelectorAll('#feed li')].map(li => li.dataset.eventId); return ids.length - new Set(ids).size")
        .await;
    assert_eq!(duplicates, json!(0), "no event shown twice");

    let png = browser.screenshot().await;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());

    // The schedule filter: another schedule's view has none of these tasks; back to all.
    let choose = |id: &str| {
        format!("const s = document.getElementById('schedule'); s.value = '{id}'; s.dispatchEvent(new Event('change')); return true")
    };
    browser.run(&choose(&reminders)).await;
    browser.wait_for("the filtered counts", &count_is("count-task-PENDING", 0), SLOW).await;
    browser.run(&choose("")).await;
    browser.wait_for("all schedules again", &count_is("count-task-PENDING", pending), SLOW).await;
    browser.wait_for("live after the filter change", LIVE, SLOW).await;

    // A wrong key gets a clear state, not a blank page.
    browser.click("#change-key").await;
    browser.type_into("#api-key", "not-a-key").await;
    browser.click("#connect").await;
    browser
        .wait_for(
            "the key is refused",
            "return document.getElementById('state').dataset.state === 'rejected'",
            SLOW,
        )
        .await;
    let message = browser.run("return document.getElementById('key-error').textContent").await;
    assert!(message.as_str().unwrap().contains("not accepted"), "{message}");

    // GraphiQL renders from the binary's own assets (nothing is fetched from elsewhere).
    browser.open(&format!("{}/", app.base_url)).await;
    browser
        .wait_for(
            "GraphiQL renders",
            "return !!document.querySelector('.graphiql-container .graphiql-editors')",
            SLOW,
        )
        .await;
    browser.command("DELETE", "", Value::Null).await;
}

#[tokio::test]
async fn the_dashboard_shows_contact_holds_and_the_numbers_consumers_stopped() {
    let app = TestApp::spawn().await;
    create_schedule(&app, "collections").await;
    app.gql_ok(SYNC, json!({"i": customer_at("words-1", NEW_YORK)})).await;
    let chicago = ("America/Chicago", "IL", "60601", "+13125550142");
    app.gql_ok(SYNC, json!({"i": customer_at("words-2", chicago)})).await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/dashboard", app.base_url)).await;
    browser.type_into("#api-key", &app.api_key).await;
    browser.click("#connect").await;
    browser.wait_for("the page goes live", LIVE, SLOW).await;
    browser.wait_for("no holds yet", "return !document.getElementById('holds-empty').hidden", SLOW).await;

    // "Stop calling me", heard on a call: the number shows as stopped by the consumer, masked.
    let call = app.gql_ok("mutation { makeCall(input: {customerId: \"words-1\"}) { id } }", json!({})).await
        ["makeCall"]["id"]
        .clone();
    app.gql_ok(
        "mutation($id: ID!) { reportCallStatus(input: {callId: $id, status: COMPLETED, outcome: OPT_OUT}) { id } }",
        json!({"id": call}),
    )
    .await;
    browser
        .wait_for(
            "the opt-out",
            "return document.querySelector('#stopped tr[data-source=\"CONSUMER_OPT_OUT\"]') !== null",
            LIVE_WITHIN,
        )
        .await;
    let stopped = browser.run("return document.getElementById('stopped').innerText").await;
    let stopped = stopped.as_str().unwrap();
    assert!(stopped.contains("opt-out on a call") && stopped.contains("0100"), "{stopped}");
    assert!(!stopped.contains("2125550100"), "numbers are masked on screen: {stopped}");

    // An attorney: the hold shows with its reason and the consent on file.
    app.gql_ok(
        "mutation { placeContactHold(customerId: \"words-2\", reason: ATTORNEY_REPRESENTED) { id } }",
        json!({}),
    )
    .await;
    browser
        .wait_for(
            "the hold",
            "return document.querySelector('#holds tr[data-customer=\"words-2\"]') !== null",
            LIVE_WITHIN,
        )
        .await;
    let hold =
        browser.run("return document.querySelector('#holds tr[data-customer=\"words-2\"]').innerText").await;
    let hold = hold.as_str().unwrap();
    assert!(hold.contains("attorney represented") && hold.contains("express"), "{hold}");
}
