//! `job(id)`: the background work a request started (a bulk import's schedules).

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::error::GqlResult;
use super::{db, secrets, tenant};
use crate::domain::jobs::JobStatus as Domain;
use crate::store::jobs::{self as store, JobRow};

/// Where a background job stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for a worker (also between failed attempts).
    Pending,
    /// A worker is on it.
    Running,
    /// Finished: every item is done.
    Done,
    /// Stopped after its attempts were spent (or its kind is unknown): see lastError.
    Failed,
}

impl From<Domain> for JobStatus {
    fn from(status: Domain) -> Self {
        match status {
            Domain::Pending => JobStatus::Pending,
            Domain::Running => JobStatus::Running,
            Domain::Done => JobStatus::Done,
            Domain::Failed => JobStatus::Failed,
        }
    }
}

/// Background work a request started, e.g. the schedules of a bulk import's customers.
#[derive(SimpleObject)]
pub struct Job {
    /// Pass to `job(id)` to follow it. Opaque: do not parse or compare it.
    id: ID,
    /// What it does: BUILD_SCHEDULES (a bulk import's schedules, up to 500 customers a job).
    kind: String,
    /// PENDING, RUNNING, DONE or FAILED.
    status: JobStatus,
    /// Attempts started so far; a job is FAILED after 5.
    attempts: i32,
    /// The error of the last failed attempt.
    last_error: Option<String>,
    /// Items (customers) the job covers.
    total: i32,
    /// Items finished so far (`done` of `total`).
    done: i32,
    /// When the request started it.
    created_at: DateTime<Utc>,
    /// When its status or progress last changed.
    updated_at: DateTime<Utc>,
}

impl Job {
    /// The job as the client sees it, its id as `id` (sealed for the company).
    fn of(row: JobRow, id: String) -> Self {
        // The table's check constraint admits only the four codes.
        let status = Domain::from_code(&row.status).unwrap_or(Domain::Pending).into();
        Job {
            id: ID(id),
            kind: row.kind,
            status,
            attempts: row.attempts,
            last_error: row.last_error,
            total: row.total,
            done: row.done,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// One of the company's jobs (null for another company's or an unknown id).
    async fn job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A job id, as in `jobIds`.")] id: ID,
    ) -> async_graphql::Result<Option<Job>> {
        let company_id = tenant(ctx)?;
        // Another company's id, or any other text, names no job of this company.
        let Some(job) = secrets(ctx).ids().job(company_id, &id) else { return Ok(None) };
        // A client that saw its job finish lists what the job built, even from the replica.
        let row = db(ctx).read_seen(move |conn| store::get(conn, company_id, job)).await.gql()?;
        Ok(row.map(|row| Job::of(row, id.0)))
    }
}
