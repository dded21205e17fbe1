//! The dialer's use-cases: dial the next due task through the contact policy, hand-off
//! outcomes, stuck calls, and the background jobs the worker runs.

use crate::domain::tasks::TaskStatus;

use chrono::{DateTime, Duration, Utc};
use diesel::{Connection, PgConnection};
use uuid::Uuid;

use super::calls::{report_status, StatusReport};
use super::contact::{self, DecideRequest};
use super::AppError;
use crate::domain::calls::{CallSource, CallStatus};
use crate::store::calls::{self as store, CallRow, NewCall};
use crate::store::jobs::{self, JobRow};
use crate::store::tasks::TaskRow;
use crate::store::{customers, schedules, StoreError};

/// What the dialer did with one due task.
#[derive(Debug, Clone)]
pub enum DialOutcome {
    /// No due task was free to claim.
    Idle,
    /// The call is queued for the company's provider (the task is IN_PROGRESS).
    Queued(Box<CallRow>),
    /// Cancelled: no time will do (Do Not Call, no phone, no calling window).
    Cancelled,
    /// Moved to the earliest instant the contact policy allows, with a RESCHEDULED event.
    Rescheduled(DateTime<Utc>),
    /// The company is at its calls-per-second limit: left due for the next round.
    Paced(Uuid),
    /// Another transaction holds the task's customer (a sync, a Do Not Call): left due.
    Busy(Uuid),
    /// Dialling this task failed unexpectedly; nothing was written for it. The worker backs it
    /// off alone, and the round goes on with the others.
    Failed { task_id: Uuid, error: String },
}

/// Claims one due task (skipping ones another worker holds) and dials it if the contact
/// policy allows it now; a refused task is never dialled: it moves to the policy's next
/// allowed instant, or is cancelled when no time will do. `skip_companies` lists companies
/// already at their rate limit this round; `skip_tasks`, tasks backing off after a failure.
pub fn dial_next_due(
    conn: &mut PgConnection,
    skip_companies: &[Uuid],
    skip_tasks: &[Uuid],
    now: DateTime<Utc>,
) -> Result<DialOutcome, AppError> {
    let Some(task) = store::claim_due_task(conn, skip_companies, skip_tasks, now)? else {
        return Ok(DialOutcome::Idle);
    };
    // A savepoint: an unexpected error undoes this task's writes only, and is reported.
    let task_id = task.id;
    match conn.transaction(|conn| dial_task(conn, task, now)) {
        Ok(outcome) => Ok(outcome),
        Err(error) => Ok(DialOutcome::Failed { task_id, error: error.to_string() }),
    }
}

/// Dials a claimed task if the contact policy allows it now (see [`dial_next_due`]).
fn dial_task(conn: &mut PgConnection, task: TaskRow, now: DateTime<Utc>) -> Result<DialOutcome, AppError> {
    let company_id = task.company_id;
    let cancel = |conn: &mut PgConnection| -> Result<DialOutcome, AppError> {
        store::set_task_status(conn, company_id, task.id, TaskStatus::Cancelled, now)?;
        Ok(DialOutcome::Cancelled)
    };
    // The locks first, in the order every dialling path takes them: the customer's row, then
    // the company's dialling lock; everything the policy reads comes after.
    // The claimed task's row is held already: waiting here for a sync that holds the customer
    // and wants the task would deadlock, so a busy customer's task waits for the next round.
    let Some(customer) = customers::try_lock(conn, company_id, task.customer_id)? else {
        return Ok(DialOutcome::Busy(task.id));
    };
    store::lock_company_dialing(conn, company_id)?;
    let schedule =
        schedules::by_ids(conn, company_id, &[task.schedule_id])?.pop().ok_or(StoreError::NotFound)?;
    let Some(number) = customer.phone_number.clone() else { return cancel(conn) };
    let request = DecideRequest {
        customer: Some(&customer),
        number: &number,
        schedule: &schedule,
        own_attempt: None,
        line: None,
    };
    let decision =
        contact::decide(conn, company_id, &[request], now, contact::HistoryWindow::dialling(now))?.remove(0);
    let Ok(policy) = decision.policy else { return cancel(conn) };
    if let Err(refusal) = decision.verdict {
        return match refusal.next_allowed_at {
            Some(at) => {
                store::reschedule_task(conn, &task, at, now)?;
                Ok(DialOutcome::Rescheduled(at))
            }
            None => cancel(conn),
        };
    }
    let dialing = store::dialing_state(conn, company_id, now)?;
    if dialing.at_limit() {
        return Ok(DialOutcome::Paced(company_id));
    }
    let mut call = NewCall::queued(&schedule, Some(&customer), &number, CallSource::Scheduled, now);
    call.task_id = Some(task.id);
    call.hand_off = dialing.has_webhook;
    call.expires_at = Some(policy.expiry(now, dialing.queued_call_ttl));
    let call = store::insert_calls(conn, &[call], now)?.remove(0);
    store::set_task_status(conn, company_id, task.id, TaskStatus::InProgress, now)?;
    Ok(DialOutcome::Queued(Box::new(call)))
}

/// Records a hand-off's outcome: delivered (`error` None), retried at `retry_at`, or given up,
/// which fails the call.
pub fn webhook_outcome(
    conn: &mut PgConnection,
    call_id: Uuid,
    company_id: Uuid,
    error: Option<&str>,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(error) = error else {
        store::webhook_delivered(conn, company_id, call_id)?;
        return Ok(());
    };
    store::webhook_failed(conn, company_id, call_id, error, retry_at)?;
    if retry_at.is_none() {
        let report = StatusReport {
            status: CallStatus::Failed,
            disposition: Some(format!("webhook delivery failed: {error}")),
            duration_seconds: None,
            occurred_at: None,
            from_provider: false,
            outcome: None,
        };
        match report_status(conn, company_id, call_id, &report, now).and_then(|reported| reported) {
            Ok(_) | Err(AppError::InvalidTransition(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// Calls with no final status `after` they started are marked FAILED; returns how many.
pub fn fail_stuck(conn: &mut PgConnection, after: Duration, now: DateTime<Utc>) -> Result<usize, AppError> {
    let stuck = store::stuck(conn, now - after)?;
    let mut failed = 0;
    for (id, company_id) in &stuck {
        let report = StatusReport {
            status: CallStatus::Failed,
            disposition: Some("stuck: no final status reported in time".into()),
            duration_seconds: None,
            occurred_at: None,
            from_provider: false,
            outcome: None,
        };
        // Finalised concurrently since the list was read: nothing to do for that one.
        match report_status(conn, *company_id, *id, &report, now).and_then(|reported| reported) {
            Ok(_) => failed += 1,
            Err(AppError::InvalidTransition(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(failed)
}

/// What a job does, parsed from its row: a kind this version does not know is an error, never
/// silently done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    /// Build the schedules of a bulk import's customers.
    BuildSchedules { customer_ids: Vec<i64> },
}

impl JobKind {
    pub fn parse(job: &JobRow) -> Result<JobKind, String> {
        match job.kind.as_str() {
            jobs::BUILD_SCHEDULES => serde_json::from_value(job.payload["customerIds"].clone())
                .map(|customer_ids| JobKind::BuildSchedules { customer_ids })
                .map_err(|e| format!("a BUILD_SCHEDULES job needs customerIds: {e}")),
            other => Err(format!("unknown job kind {other:?}")),
        }
    }
}

/// Does a claimed job's work and marks it done, in the caller's transaction.
pub fn run_job(
    conn: &mut PgConnection,
    job: &JobRow,
    kind: &JobKind,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    // Held until this transaction ends: if this worker dies, the job is free for another.
    if !jobs::lock_for_run(conn, job)? {
        return Ok(());
    }
    match kind {
        JobKind::BuildSchedules { customer_ids } => {
            super::customers::rebuild_schedules(conn, job.company_id, customer_ids, now)?;
        }
    }
    jobs::mark_done(conn, job.company_id, job.id, now)?;
    Ok(())
}

/// After a failed run: when to try again (exponential, from 2 s), or None once the attempts
/// are spent.
pub fn job_retry(attempts: i32) -> Option<Duration> {
    (attempts < jobs::MAX_ATTEMPTS).then(|| Duration::seconds(2i64 << attempts.clamp(0, 10)))
}
