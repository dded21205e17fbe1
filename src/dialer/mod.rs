//! The dialer worker (runs inside `serve`): turns due tasks into calls and hands them to the
//! company's call provider.
//!
//! Each round asks the dial use-case ([`crate::app::dialer`]) for due PENDING tasks, one at a
//! time (claimed with `FOR UPDATE SKIP LOCKED`, so several instances never dial one task
//! twice); the use-case decides each through the contact policy at dial time (a task now
//! outside the window moves to the next opening; a stopped customer's task is cancelled),
//! paces companies at their calls-per-second limit, and queues the call. Queued calls are
//! decided again when a provider gets them, and expire at the end of their window. Providers: a signed webhook to the
//! company's `callWebhookUrl` (retried with backoff), none (calls wait QUEUED for an external
//! dialer), or `--simulate-calls`. Calls with no final status after a while are failed.

pub mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use crate::app::calls::{report_status, StatusReport};
use crate::app::dialer::{self as use_case, DialOutcome};
use crate::app::AppError;
use crate::domain::calls::CallStatus;
use crate::store::{jobs, Db};

#[derive(Debug, Clone)]
pub struct DialerConfig {
    /// How often to look for due tasks and deliveries.
    pub interval: Duration,
    /// A call with no final status after this long is marked FAILED.
    pub stuck_after: Duration,
    /// Walk calls through RINGING → IN_PROGRESS → COMPLETED (a demo provider).
    pub simulate_calls: bool,
    pub webhook: webhook::WebhookConfig,
}

impl Default for DialerConfig {
    fn default() -> Self {
        DialerConfig {
            interval: Duration::from_secs(1),
            stuck_after: Duration::from_secs(2 * 3600),
            simulate_calls: false,
            webhook: webhook::WebhookConfig::default(),
        }
    }
}

/// Most tasks dialled by one instance in one round.
const ROUND_LIMIT: usize = 200;

/// Wakes the worker before its next round (e.g. when a bulk import queued jobs).
#[derive(Clone, Default)]
pub struct WorkSignal(pub std::sync::Arc<tokio::sync::Notify>);

impl WorkSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs the worker until the returned handle is aborted or the process ends: dialling,
/// webhook delivery, two job runners and the stuck-call sweep, each a task of its own, so a
/// slow receiver or a long job never holds up the others.
pub fn spawn(db: Db, config: DialerConfig, signal: WorkSignal) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut workers = tokio::task::JoinSet::new();
        workers.spawn(dial_loop(db.clone(), config.clone()));
        workers.spawn(webhook_loop(db.clone(), config.clone()));
        // Two job runners: jobs are independent (SKIP LOCKED splits them) and each is mostly
        // waiting on Postgres.
        for _ in 0..2 {
            workers.spawn(job_loop(db.clone(), config.interval, signal.clone()));
        }
        workers.spawn(expiry_loop(db.clone()));
        workers.spawn(stuck_loop(db, config));
        // Dropping the set (when this task is aborted) aborts every worker.
        while workers.join_next().await.is_some() {}
    })
}

async fn dial_loop(db: Db, config: DialerConfig) {
    let mut backoff = Backoff::default();
    loop {
        if let Err(e) = dial_round_with(&db, &config, &mut backoff).await {
            tracing::warn!(error = %e, "dialer round failed");
        }
        tokio::time::sleep(config.interval).await;
    }
}

async fn webhook_loop(db: Db, config: DialerConfig) {
    let client = webhook::client(&config.webhook);
    loop {
        if let Err(e) = webhook::deliver_due(&db, &client, &config.webhook).await {
            tracing::warn!(error = %e, "webhook round failed");
        }
        tokio::time::sleep(config.interval).await;
    }
}

async fn job_loop(db: Db, interval: Duration, signal: WorkSignal) {
    loop {
        if let Err(e) = run_jobs(&db).await {
            tracing::warn!(error = %e, "job round failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = signal.0.notified() => {}
        }
    }
}

/// Cancels QUEUED calls past their expiry, every second (so at most a few seconds late).
async fn expiry_loop(db: Db) {
    loop {
        match expire_waiting(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(calls = n, "expired calls cancelled"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One expiry sweep: every QUEUED call past its `expiresAt` that no provider has is cancelled
/// with reason EXPIRED (500 a transaction); returns how many.
pub async fn expire_waiting(db: &Db) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        let now = db.now();
        let n = db.transaction(move |conn| crate::app::handoff::expire_waiting(conn, now, 500)).await?;
        total += n;
        if n < 500 {
            return Ok(total);
        }
    }
}

async fn stuck_loop(db: Db, config: DialerConfig) {
    let after = chrono::Duration::from_std(config.stuck_after).unwrap_or(chrono::Duration::hours(2));
    loop {
        let now = db.now();
        match db.transaction(move |conn| use_case::fail_stuck(conn, after, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(calls = n, "stuck calls marked FAILED"),
            Err(e) => tracing::warn!(error = %e, "stuck-call check failed"),
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

/// Tasks whose dialling failed unexpectedly, skipped until their backoff (2 s doubling, at
/// most 10 minutes) ends, so one bad task never blocks the ones behind it.
#[derive(Default)]
pub struct Backoff(HashMap<Uuid, (u32, std::time::Instant)>);

impl Backoff {
    fn failed(&mut self, task: Uuid) {
        let failures = self.0.get(&task).map_or(0, |(n, _)| *n) + 1;
        let delay = Duration::from_secs(2u64 << failures.min(8)).min(Duration::from_secs(600));
        self.0.insert(task, (failures, std::time::Instant::now() + delay));
    }

    fn waiting(&mut self) -> Vec<Uuid> {
        let now = std::time::Instant::now();
        self.0.retain(|_, (failures, until)| *until > now || *failures < 16);
        self.0.iter().filter(|(_, (_, until))| *until > now).map(|(task, _)| *task).collect()
    }
}

/// Dials due tasks until none is left (or the round's limit); returns the calls placed.
pub async fn dial_round(db: &Db, config: &DialerConfig) -> Result<Vec<Uuid>, AppError> {
    dial_round_with(db, config, &mut Backoff::default()).await
}

async fn dial_round_with(
    db: &Db,
    config: &DialerConfig,
    backoff: &mut Backoff,
) -> Result<Vec<Uuid>, AppError> {
    let mut paced: Vec<Uuid> = Vec::new();
    let mut busy: Vec<Uuid> = Vec::new();
    let mut placed = Vec::new();
    for _ in 0..ROUND_LIMIT {
        let (skip_companies, mut skip_tasks) = (paced.clone(), backoff.waiting());
        skip_tasks.extend(&busy);
        let now = db.now();
        let outcome = db
            .transaction(move |conn| use_case::dial_next_due(conn, &skip_companies, &skip_tasks, now))
            .await?;
        match outcome {
            DialOutcome::Idle => break,
            DialOutcome::Queued(call) => {
                placed.push(call.id);
                if config.simulate_calls {
                    simulate(db.clone(), call.company_id, call.id);
                }
            }
            DialOutcome::Paced(company) => paced.push(company),
            DialOutcome::Busy(task) => busy.push(task),
            DialOutcome::Failed { task_id, error } => {
                tracing::warn!(task = %task_id, error = %error, "dialling a task failed; it backs off");
                backoff.failed(task_id);
            }
            DialOutcome::Cancelled | DialOutcome::Rescheduled(_) => {}
        }
    }
    Ok(placed)
}

/// Runs due background jobs (e.g. a bulk import's schedules); returns how many finished. A
/// failing job is retried with backoff, then FAILED with its error; it never blocks the others.
pub async fn run_jobs(db: &Db) -> Result<usize, AppError> {
    let mut done = 0;
    for _ in 0..ROUND_LIMIT {
        let lease = chrono::Duration::minutes(5);
        let now = db.now();
        let Some(job) = db.write(move |conn| jobs::claim(conn, now, lease)).await? else { break };
        let (company_id, id, attempts) = (job.company_id, job.id, job.attempts);
        let outcome = match use_case::JobKind::parse(&job) {
            // Not retried: another attempt would not know the kind either.
            Err(unknown) => Err((unknown, None)),
            Ok(kind) => {
                let now = db.now();
                db.transaction(move |conn| use_case::run_job(conn, &job, &kind, now))
                    .await
                    .map_err(|e| (e.to_string(), use_case::job_retry(attempts)))
            }
        };
        match outcome {
            Ok(()) => done += 1,
            Err((message, retry_in)) => {
                tracing::warn!(job = id, attempts, error = %message, retried = retry_in.is_some(), "job failed");
                let now = db.now();
                db.write(move |conn| jobs::record_failure(conn, company_id, id, &message, retry_in, now))
                    .await?;
            }
        }
    }
    Ok(done)
}

/// The demo provider: a short, successful call (ringing after 1 s, answered 2 s later,
/// completed 4 s after that).
pub fn simulate(db: Db, company_id: Uuid, call_id: Uuid) {
    simulate_paced(db, company_id, call_id, Duration::from_secs(1));
}

/// [`simulate`] with each pause `unit` long instead of a second (tests need no real seconds).
pub fn simulate_paced(db: Db, company_id: Uuid, call_id: Uuid, unit: Duration) {
    tokio::spawn(async move {
        for (delay, status) in
            [(1, CallStatus::Ringing), (2, CallStatus::InProgress), (4, CallStatus::Completed)]
        {
            tokio::time::sleep(unit * delay).await;
            let report = StatusReport {
                status,
                disposition: (status == CallStatus::Completed).then(|| "simulated".to_string()),
                duration_seconds: (status == CallStatus::Completed).then_some(4),
                occurred_at: None,
                // The simulation stands in for a provider.
                from_provider: true,
                outcome: None,
            };
            let now = db.now();
            let result =
                db.transaction(move |conn| report_status(conn, company_id, call_id, &report, now)).await;
            if let Err(e) = result {
                tracing::info!(error = %e, "simulated call stopped");
                return;
            }
        }
    });
}
