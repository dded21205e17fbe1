//! Durable background jobs: rows that survive a restart, claimed by one worker at a time,
//! retried with backoff a bounded number of times, visible through `job(id)`.

use chrono::{DateTime, Duration, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::schema::jobs;
use super::StoreError;
use crate::domain::jobs::JobStatus;

pub const BUILD_SCHEDULES: &str = "BUILD_SCHEDULES";
/// Customers per job: a job is one transaction.
pub const CUSTOMERS_PER_JOB: usize = 500;
/// A job that has failed this many times stops: FAILED, with its last error.
pub const MAX_ATTEMPTS: i32 = 5;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = jobs, check_for_backend(Pg))]
pub struct JobRow {
    pub id: i64,
    pub company_id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    /// A [`JobStatus`] code.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub total: i32,
    pub done: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Enqueues building the schedules of `customer_ids`, due at `now`; returns the jobs' ids.
pub fn enqueue_build_schedules(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<_> = customer_ids
        .chunks(CUSTOMERS_PER_JOB)
        .map(|chunk| {
            (
                jobs::company_id.eq(company_id),
                jobs::kind.eq(BUILD_SCHEDULES),
                jobs::status.eq(JobStatus::Pending.as_str()),
                jobs::payload.eq(json!({"customerIds": chunk})),
                jobs::total.eq(chunk.len() as i32),
                // The caller's clock, the one jobs are claimed by (not the database's).
                jobs::run_after.eq(now),
                jobs::created_at.eq(now),
                jobs::updated_at.eq(now),
            )
        })
        .collect();
    Ok(diesel::insert_into(jobs::table).values(rows).returning(jobs::id).get_results(conn)?)
}

/// How long a RUNNING job may go without its row lock before it counts as abandoned: the gap
/// between the claim's commit and the run taking the lock.
const CLAIM_GRACE: i64 = 5;

/// Claims the next due job: it is RUNNING, one more attempt. The run then holds the job's row
/// lock ([`lock_for_run`]) until it ends; a RUNNING job whose row is not locked was abandoned
/// (its worker died and Postgres released the lock) and is claimed again at once, not after a
/// lease. `lease` only delays a claim that never took the lock.
pub fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<JobRow>, StoreError> {
    let due = jobs::status.eq(JobStatus::Pending.as_str()).and(jobs::run_after.le(now));
    let abandoned = jobs::status
        .eq(JobStatus::Running.as_str())
        .and(jobs::updated_at.le(now - Duration::seconds(CLAIM_GRACE)));
    let job: Option<(Uuid, i64)> = jobs::table
        .filter(due.or(abandoned))
        .order(jobs::id.asc())
        .select((jobs::company_id, jobs::id))
        .limit(1)
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?;
    let Some(key) = job else { return Ok(None) };
    Ok(Some(
        diesel::update(jobs::table.find(key))
            .set((
                jobs::status.eq(JobStatus::Running.as_str()),
                jobs::run_after.eq(now + lease),
                jobs::attempts.eq(jobs::attempts + 1),
                jobs::updated_at.eq(now),
            ))
            .returning(JobRow::as_returning())
            .get_result(conn)?,
    ))
}

/// Takes the job's row lock for its run, if the claim (`attempts`) is still ours; otherwise
/// another worker claimed it since, and this run must not happen.
pub fn lock_for_run(conn: &mut PgConnection, job: &JobRow) -> Result<bool, StoreError> {
    Ok(jobs::table
        .filter(jobs::company_id.eq(job.company_id))
        .filter(jobs::id.eq(job.id))
        .filter(jobs::attempts.eq(job.attempts))
        .filter(jobs::status.eq(JobStatus::Running.as_str()))
        .select(jobs::id)
        .for_update()
        .skip_locked()
        .first::<i64>(conn)
        .optional()?
        .is_some())
}

/// Marks the job done, every item with it.
pub fn mark_done(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(jobs::table.find((company_id, id)))
        .set((
            jobs::status.eq(JobStatus::Done.as_str()),
            jobs::done.eq(jobs::total),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed run: retried after `retry_in`, or FAILED for good when `retry_in` is None.
pub fn record_failure(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: i64,
    error: &str,
    retry_in: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (status, run_after) = match retry_in {
        Some(delay) => (JobStatus::Pending, now + delay),
        None => (JobStatus::Failed, now),
    };
    diesel::update(jobs::table.find((company_id, id)))
        .set((
            jobs::status.eq(status.as_str()),
            jobs::run_after.eq(run_after),
            jobs::last_error.eq(error),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The company's job `id`.
pub fn get(conn: &mut PgConnection, company_id: Uuid, id: i64) -> Result<Option<JobRow>, StoreError> {
    Ok(jobs::table
        .filter(jobs::company_id.eq(company_id))
        .filter(jobs::id.eq(id))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?)
}
