//! `job(id)`: the background work a request started (a bulk import's schedules).

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::error::GqlResult;
use super::{db, tenant};
use crate::store::jobs::{self as store, JobRow};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    /// Stopped after its attempts were spent (or its kind is unknown): see lastError.
    Failed,
}

#[derive(SimpleObject)]
pub struct Job {
    id: ID,
    kind: String,
    status: JobStatus,
    attempts: i32,
    last_error: Option<String>,
    /// Items (customers) the job covers.
    total: i32,
    done: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        let status = match row.status.as_str() {
            "RUNNING" => JobStatus::Running,
            "DONE" => JobStatus::Done,
            "FAILED" => JobStatus::Failed,
            _ => JobStatus::Pending,
        };
        Job {
            id: ID(row.id.to_string()),
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
    async fn job(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Job>> {
        let company_id = tenant(ctx)?;
        let Ok(id) = id.parse::<i64>() else { return Ok(None) };
        Ok(db(ctx).read(move |conn| store::get(conn, company_id, id)).await.gql()?.map(Job::from))
    }
}
