//! Durable background jobs: rows that survive a restart, claimed by one worker at a time.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::schema::jobs;
use super::StoreError;

pub const BUILD_SCHEDULES: &str = "BUILD_SCHEDULES";
/// Customers per job: a job is one transaction.
pub const CUSTOMERS_PER_JOB: usize = 500;

/// Enqueues building the schedules of `customer_ids`; returns how many jobs.
pub fn enqueue_build_schedules(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
) -> Result<usize, StoreError> {
    let rows: Vec<_> = customer_ids
        .chunks(CUSTOMERS_PER_JOB)
        .map(|chunk| {
            (
                jobs::company_id.eq(company_id),
                jobs::kind.eq(BUILD_SCHEDULES),
                jobs::payload.eq(json!({"customerIds": chunk})),
            )
        })
        .collect();
    Ok(diesel::insert_into(jobs::table).values(rows).execute(conn)?)
}

/// A claimed job.
pub struct Job {
    pub id: i64,
    pub company_id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
}

/// Claims the next due job for `lease` (others skip it meanwhile; if this worker dies, it is
/// due again after the lease). Run it with [`run`] in another transaction.
pub fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<Job>, StoreError> {
    let job: Option<(i64, Uuid, String, serde_json::Value)> = jobs::table
        .filter(jobs::status.eq("PENDING"))
        .filter(jobs::run_after.le(now))
        .order(jobs::id.asc())
        .select((jobs::id, jobs::company_id, jobs::kind, jobs::payload))
        .limit(1)
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?;
    let Some((id, company_id, kind, payload)) = job else { return Ok(None) };
    diesel::update(jobs::table.find(id))
        .set((
            jobs::run_after.eq(now + lease),
            jobs::attempts.eq(jobs::attempts + 1),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(Some(Job { id, company_id, kind, payload }))
}

/// Marks the job done.
pub fn mark_done(conn: &mut PgConnection, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(jobs::table.find(id))
        .set((jobs::status.eq("DONE"), jobs::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Notes why a run failed; the job is retried when its lease ends.
pub fn record_failure(conn: &mut PgConnection, id: i64, error: &str) -> Result<(), StoreError> {
    diesel::update(jobs::table.find(id)).set(jobs::last_error.eq(error)).execute(conn)?;
    Ok(())
}
