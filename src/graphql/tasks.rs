//! Tasks: `task`, `tasks`, and the Task type.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::calls::Call;
use super::customers::Customer;
use super::error::{ApiError, GqlResult};
use super::loaders::{CallOfTaskKey, CustomerKey, PendingTasksKey, ScheduleKey};
use super::schedules::Schedule;
use super::{db, loaders, tenant, TotalCount};
use crate::store::tasks::{self as store, TaskRow};

/// Where a task stands; it follows its call.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::domain::tasks::TaskStatus")]
pub enum TaskStatus {
    /// Planned: the dialer calls at `scheduledFor` (or moves it when the policy refuses).
    Pending,
    /// The dialer placed its call; the call is under way.
    InProgress,
    /// Its call ended COMPLETED (a conversation).
    Completed,
    /// Its call ended NO_ANSWER, BUSY, VOICEMAIL or FAILED.
    Failed,
    /// Cancelled: by a later sync, Do Not Call, a contact hold, revoked consent,
    /// cancelCommunications, a deleted schedule, or no allowed time.
    Cancelled,
}

impl TaskStatus {
    pub fn as_db(self) -> &'static str {
        crate::domain::tasks::TaskStatus::from(self).as_str()
    }

    pub fn from_db(s: &str) -> Option<TaskStatus> {
        crate::domain::tasks::TaskStatus::from_code(s).map(Into::into)
    }
}

pub struct Task(pub TaskRow);

/// One planned call to a customer: a step of its schedule's cadence, at a set time.
#[Object]
impl Task {
    /// The task's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The customer to call.
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        let row = loaders(ctx)?.load_one(CustomerKey(self.0.customer_id)).await.gql()?;
        row.map(Customer).ok_or(ApiError::NotFound("customer")).gql()
    }
    /// The schedule that planned it.
    async fn schedule(&self, ctx: &Context<'_>) -> async_graphql::Result<Schedule> {
        let row = loaders(ctx)?.load_one(ScheduleKey(self.0.schedule_id)).await.gql()?;
        row.map(Schedule).ok_or(ApiError::NotFound("schedule")).gql()
    }
    /// The schedule's task type when the task was planned.
    async fn task_type(&self) -> &str {
        &self.0.task_type
    }
    /// Where the task stands.
    async fn status(&self) -> TaskStatus {
        TaskStatus::from_db(&self.0.status).unwrap_or(TaskStatus::Pending)
    }
    /// 1-based position in the customer's schedule.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// 1 when created, +1 with every change.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When the dialer calls (UTC); always inside the calling window and the caps.
    async fn scheduled_for(&self) -> DateTime<Utc> {
        self.0.scheduled_for
    }
    /// `scheduledFor` in the customer's time zone, with its offset (RFC 3339).
    async fn local_scheduled_for(&self) -> String {
        self.0.local_scheduled_for()
    }
    /// The latest call placed for this task.
    async fn call(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Call>> {
        Ok(loaders(ctx)?.load_one(CallOfTaskKey(self.0.id)).await.gql()?.map(Call))
    }
    /// The IANA zone the task was planned in.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    /// When the task was planned.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the task last changed (status or time).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Which tasks to list; omitted fields do not filter.
#[derive(InputObject, Default)]
pub struct TaskFilter {
    /// The customer's id (the integration's reference).
    customer_id: Option<ID>,
    /// Only tasks of this schedule.
    schedule_id: Option<ID>,
    /// Only tasks in one of these statuses.
    status: Option<Vec<TaskStatus>>,
    /// Inclusive.
    scheduled_from: Option<DateTime<Utc>>,
    /// Exclusive.
    scheduled_to: Option<DateTime<Utc>>,
}

pub type TaskConnection = Connection<String, Task, TotalCount>;

pub(crate) fn statuses(status: Option<Vec<TaskStatus>>) -> Option<Vec<String>> {
    status.map(|s| s.into_iter().map(|s| s.as_db().to_string()).collect())
}

/// One page of tasks for `filter`, as a connection.
pub(crate) async fn task_page(
    ctx: &Context<'_>,
    filter: store::TaskFilter,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<TaskConnection> {
    let company_id = tenant(ctx)?;
    let cursors = super::cursors(ctx, "tasks")?;
    let request = cursors.time_page(ctx, first, after.as_deref(), false)?;
    let page =
        db(ctx).read_stale(move |conn| store::list(conn, company_id, &filter, &request)).await.gql()?;
    prefetch_relations(ctx, page.rows.iter().map(|(_, row)| row)).await?;
    Ok(cursors.connection(after.is_some(), page, Task))
}

/// Loads the customers, schedules and pending counts a page's selection asks for, one batch
/// each, into the request's DataLoader cache. Without it, the resolution of a long list (which
/// yields every few dozen items) would spread the same keys over several batches.
async fn prefetch_relations<'a>(
    ctx: &Context<'_>,
    rows: impl Iterator<Item = &'a TaskRow> + Clone,
) -> async_graphql::Result<()> {
    let look = ctx.look_ahead();
    let selects = |path: &[&str]| {
        let in_nodes = path.iter().fold(look.field("nodes"), |l, f| l.field(f));
        let in_edges = path.iter().fold(look.field("edges").field("node"), |l, f| l.field(f));
        in_nodes.exists() || in_edges.exists()
    };
    let loaders = loaders(ctx)?;
    if selects(&["customer"]) {
        loaders.load_many(rows.clone().map(|r| CustomerKey(r.customer_id))).await.gql()?;
    }
    if selects(&["schedule"]) {
        loaders.load_many(rows.clone().map(|r| ScheduleKey(r.schedule_id))).await.gql()?;
    }
    if selects(&["schedule", "pendingTasksCount"]) {
        loaders.load_many(rows.map(|r| PendingTasksKey(r.schedule_id))).await.gql()?;
    }
    Ok(())
}

#[derive(Default)]
pub struct TaskQuery;

#[Object]
impl TaskQuery {
    /// A task by id; null for an unknown id or another company's task.
    async fn task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id.")] id: ID,
    ) -> async_graphql::Result<Option<Task>> {
        let company_id = tenant(ctx)?;
        let Ok(id) = Uuid::parse_str(id.as_str()) else {
            return Ok(None);
        };
        let row = db(ctx).read(move |conn| store::get(conn, company_id, id)).await.gql()?;
        Ok(row.map(Task))
    }

    /// Tasks ordered by `scheduledFor`.
    #[graphql(complexity = "super::connection_cost(first, child_complexity)")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which tasks; all when omitted.")] filter: Option<TaskFilter>,
        #[graphql(desc = "Page size, 0 to 500 (default 50; BAD_USER_INPUT otherwise).")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, as it came (opaque: an altered or foreign cursor is BAD_USER_INPUT)."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<TaskConnection> {
        let f = filter.unwrap_or_default();
        // An id that is not a schedule of ours matches nothing.
        let schedule_id =
            f.schedule_id.as_ref().map(|id| Uuid::parse_str(id.as_str()).unwrap_or(Uuid::nil()));
        let filter = store::TaskFilter {
            customer_external_id: f.customer_id.map(|id| id.0),
            customer_id: None,
            schedule_id,
            statuses: statuses(f.status),
            scheduled_from: f.scheduled_from,
            scheduled_to: f.scheduled_to,
        };
        task_page(ctx, filter, first, after).await
    }
}
