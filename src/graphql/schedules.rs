//! Schedules: queries, defaults, create/update/delete.

use crate::app::schedules as use_case;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{ApiError, GqlResult};
use super::loaders::PendingTasksKey;
use super::{db, loaders, page_size, patch, tenant, wants_total, OrderDirection, TotalCount};
use crate::domain::customer::CustomerField as DomainField;
use crate::domain::schedule::{self, CadenceStep as DomainStep, CallPurpose as DomainPurpose, SchedulePatch};
use crate::store::schedules::{self as store, ScheduleOrder, ScheduleRow};
use crate::store::PageRequest;

pub struct Schedule(pub ScheduleRow);

#[derive(SimpleObject, Clone)]
pub struct CadenceStep {
    /// Days after the customer's local today.
    day_offset: i32,
    /// "HH:MM", customer-local.
    local_time: String,
}

impl From<DomainStep> for CadenceStep {
    fn from(s: DomainStep) -> Self {
        CadenceStep { day_offset: s.day_offset, local_time: s.local_time }
    }
}

#[Object]
impl Schedule {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn task_type(&self) -> &str {
        &self.0.task_type
    }
    async fn paused(&self) -> bool {
        self.0.paused
    }
    /// Default zone for numbers dialled with no customer zone.
    async fn time_zone(&self) -> Option<&str> {
        self.0.time_zone.as_deref()
    }
    /// "HH:MM", customer-local.
    async fn calling_hours_start(&self) -> &str {
        &self.0.calling_hours_start
    }
    /// "HH:MM", customer-local.
    async fn calling_hours_end(&self) -> &str {
        &self.0.calling_hours_end
    }
    async fn use_do_not_call(&self) -> bool {
        self.0.use_do_not_call
    }
    /// What the calls are for: state rules apply to the purposes their laws cover.
    async fn purpose(&self) -> CallPurpose {
        match self.0.purpose() {
            DomainPurpose::Collection => CallPurpose::Collection,
            DomainPurpose::Informational => CallPurpose::Informational,
            DomainPurpose::Telemarketing => CallPurpose::Telemarketing,
        }
    }
    /// Reg F: after a completed call, the customer's next 7 days of pending tasks move past it.
    async fn quiet_period_after_conversation(&self) -> bool {
        self.0.quiet_period_after_conversation
    }
    async fn cadence(&self) -> Vec<CadenceStep> {
        self.0.cadence().into_iter().map(CadenceStep::from).collect()
    }
    #[graphql(name = "maxAttemptsPer7Days")]
    async fn max_attempts_per_7_days(&self) -> i32 {
        self.0.max_attempts_per_7_days
    }
    async fn sortable_order(&self) -> Option<f64> {
        self.0.sortable_order
    }
    async fn lead_duplicate_timeframe_seconds(&self) -> Option<i32> {
        self.0.lead_duplicate_timeframe_seconds
    }
    /// The fields a customer of this campaign must have (checked on every path that writes one).
    async fn required_customer_fields(&self) -> Vec<CustomerField> {
        self.0.required_fields().into_iter().map(CustomerField::from).collect()
    }
    async fn calls_count(&self) -> i32 {
        self.0.calls_count
    }
    async fn last_call_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_call_at
    }
    async fn pending_tasks_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let count = loaders(ctx)?.load_one(PendingTasksKey(self.0.id)).await.gql()?;
        Ok(count.unwrap_or(0))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(InputObject, Clone)]
pub struct CadenceStepInput {
    day_offset: i32,
    local_time: String,
}

/// Schedule settings. createSchedule needs `name` and `taskType` and fills the rest from
/// `scheduleDefaults`; updateSchedule keeps omitted fields, and null clears an optional one.
#[derive(InputObject)]
pub struct ScheduleInput {
    /// What the calls are for (default COLLECTION). A COLLECTION schedule keeps
    /// quietPeriodAfterConversation on.
    purpose: MaybeUndefined<CallPurpose>,
    name: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    task_type: MaybeUndefined<String>,
    paused: MaybeUndefined<bool>,
    time_zone: MaybeUndefined<String>,
    calling_hours_start: MaybeUndefined<String>,
    calling_hours_end: MaybeUndefined<String>,
    use_do_not_call: MaybeUndefined<bool>,
    /// Default true.
    quiet_period_after_conversation: MaybeUndefined<bool>,
    cadence: MaybeUndefined<Vec<CadenceStepInput>>,
    #[graphql(name = "maxAttemptsPer7Days")]
    max_attempts_per_7_days: MaybeUndefined<i32>,
    sortable_order: MaybeUndefined<f64>,
    lead_duplicate_timeframe_seconds: MaybeUndefined<i32>,
    /// Default: every field createCustomer has always required (all but ssnLastFour).
    required_customer_fields: MaybeUndefined<Vec<CustomerField>>,
}

/// A customer field a campaign may require.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum CustomerField {
    FirstName,
    LastName,
    Email,
    Birthday,
    SsnLastFour,
    PhoneNumber,
    Timezone,
    #[graphql(name = "STREET_ADDRESS1")]
    StreetAddress1,
    City,
    State,
    ZipCode,
}

impl From<DomainField> for CustomerField {
    fn from(f: DomainField) -> Self {
        match f {
            DomainField::FirstName => Self::FirstName,
            DomainField::LastName => Self::LastName,
            DomainField::Email => Self::Email,
            DomainField::Birthday => Self::Birthday,
            DomainField::SsnLastFour => Self::SsnLastFour,
            DomainField::PhoneNumber => Self::PhoneNumber,
            DomainField::Timezone => Self::Timezone,
            DomainField::StreetAddress1 => Self::StreetAddress1,
            DomainField::City => Self::City,
            DomainField::State => Self::State,
            DomainField::ZipCode => Self::ZipCode,
        }
    }
}

impl From<CustomerField> for DomainField {
    fn from(f: CustomerField) -> Self {
        match f {
            CustomerField::FirstName => Self::FirstName,
            CustomerField::LastName => Self::LastName,
            CustomerField::Email => Self::Email,
            CustomerField::Birthday => Self::Birthday,
            CustomerField::SsnLastFour => Self::SsnLastFour,
            CustomerField::PhoneNumber => Self::PhoneNumber,
            CustomerField::Timezone => Self::Timezone,
            CustomerField::StreetAddress1 => Self::StreetAddress1,
            CustomerField::City => Self::City,
            CustomerField::State => Self::State,
            CustomerField::ZipCode => Self::ZipCode,
        }
    }
}

/// What a schedule's calls are for.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum CallPurpose {
    /// Collecting a debt (FDCPA, Reg F).
    Collection,
    /// Servicing and reminders: no payment asked, nothing sold.
    Informational,
    /// Selling (TCPA telemarketing rules).
    Telemarketing,
}

impl CallPurpose {
    fn domain(self) -> DomainPurpose {
        match self {
            CallPurpose::Collection => DomainPurpose::Collection,
            CallPurpose::Informational => DomainPurpose::Informational,
            CallPurpose::Telemarketing => DomainPurpose::Telemarketing,
        }
    }
}

impl From<ScheduleInput> for SchedulePatch {
    fn from(i: ScheduleInput) -> Self {
        SchedulePatch {
            purpose: patch(i.purpose).map(CallPurpose::domain),
            name: patch(i.name),
            description: patch(i.description),
            task_type: patch(i.task_type),
            paused: patch(i.paused),
            time_zone: patch(i.time_zone),
            calling_hours_start: patch(i.calling_hours_start),
            calling_hours_end: patch(i.calling_hours_end),
            use_do_not_call: patch(i.use_do_not_call),
            quiet_period_after_conversation: patch(i.quiet_period_after_conversation),
            cadence: patch(i.cadence).map(|steps| {
                steps
                    .into_iter()
                    .map(|s| DomainStep { day_offset: s.day_offset, local_time: s.local_time })
                    .collect()
            }),
            max_attempts_per_7_days: patch(i.max_attempts_per_7_days),
            sortable_order: patch(i.sortable_order),
            lead_duplicate_timeframe_seconds: patch(i.lead_duplicate_timeframe_seconds),
            required_customer_fields: patch(i.required_customer_fields)
                .map(|fields| fields.into_iter().map(DomainField::from).collect()),
        }
    }
}

#[derive(SimpleObject)]
pub struct ScheduleDefaults {
    calling_hours_start: String,
    calling_hours_end: String,
    use_do_not_call: bool,
    cadence: Vec<CadenceStep>,
    #[graphql(name = "maxAttemptsPer7Days")]
    max_attempts_per_7_days: i32,
    paused: bool,
    required_customer_fields: Vec<CustomerField>,
}

#[derive(InputObject, Default)]
pub struct ScheduleFilter {
    /// Case-insensitive substring of the name or description.
    search: Option<String>,
    paused: Option<bool>,
    task_type: Option<String>,
    /// Inclusive.
    created_at_from: Option<DateTime<Utc>>,
    /// Exclusive.
    created_at_to: Option<DateTime<Utc>>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScheduleOrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
    TaskType,
    Paused,
    SortableOrder,
    CallsCount,
    LastCallAt,
}

#[derive(SimpleObject)]
pub struct DeleteSchedulePayload {
    deleted_schedule_id: ID,
    /// Pending tasks of the schedule that were cancelled.
    tasks_cancelled: i64,
}

pub type ScheduleConnection = Connection<String, Schedule, TotalCount>;

/// A schedule id from the API; anything that is not one of ours is simply not found.
fn schedule_id(id: &ID) -> Option<Uuid> {
    Uuid::parse_str(id.as_str()).ok()
}

#[derive(Default)]
pub struct ScheduleQuery;

#[Object]
impl ScheduleQuery {
    async fn schedule(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Schedule>> {
        let company_id = tenant(ctx)?;
        let Some(id) = schedule_id(&id) else {
            return Ok(None);
        };
        let row = db(ctx).read(move |conn| store::get(conn, company_id, id)).await.gql()?;
        Ok(row.map(Schedule))
    }

    #[graphql(complexity = "super::connection_cost(first, child_complexity)")]
    async fn schedules(
        &self,
        ctx: &Context<'_>,
        filter: Option<ScheduleFilter>,
        #[graphql(default_with = "Some(ScheduleOrderField::CreatedAt)")] order_by: Option<ScheduleOrderField>,
        #[graphql(default_with = "Some(OrderDirection::Asc)")] order_direction: Option<OrderDirection>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ScheduleConnection> {
        let company_id = tenant(ctx)?;
        let first = page_size(first).gql()?;
        let offset = match &after {
            Some(cursor) => store::decode_offset_cursor(cursor).gql()?,
            None => 0,
        };
        let order = match order_by.unwrap_or_default() {
            ScheduleOrderField::CreatedAt => ScheduleOrder::CreatedAt,
            ScheduleOrderField::UpdatedAt => ScheduleOrder::UpdatedAt,
            ScheduleOrderField::Name => ScheduleOrder::Name,
            ScheduleOrderField::TaskType => ScheduleOrder::TaskType,
            ScheduleOrderField::Paused => ScheduleOrder::Paused,
            ScheduleOrderField::SortableOrder => ScheduleOrder::SortableOrder,
            ScheduleOrderField::CallsCount => ScheduleOrder::CallsCount,
            ScheduleOrderField::LastCallAt => ScheduleOrder::LastCallAt,
        };
        let desc = order_direction == Some(OrderDirection::Desc);
        let f = filter.unwrap_or_default();
        let filter = store::ScheduleFilter {
            search: f.search,
            paused: f.paused,
            task_type: f.task_type,
            created_at_from: f.created_at_from,
            created_at_to: f.created_at_to,
        };
        let request = PageRequest { order, desc, after: Some(offset), first, with_total: wants_total(ctx) };
        let page = db(ctx).read(move |conn| store::list(conn, company_id, &filter, &request)).await.gql()?;
        let mut connection = Connection::with_additional_fields(
            offset > 0,
            page.has_next_page,
            TotalCount { total_count: page.total_count.unwrap_or(0) },
        );
        connection.edges.extend(page.rows.into_iter().map(|(cursor, row)| Edge::new(cursor, Schedule(row))));
        Ok(connection)
    }

    /// What createSchedule fills in when a field is omitted.
    async fn schedule_defaults(&self) -> ScheduleDefaults {
        let d = schedule::defaults();
        ScheduleDefaults {
            calling_hours_start: d.calling_hours_start.to_string(),
            calling_hours_end: d.calling_hours_end.to_string(),
            use_do_not_call: d.use_do_not_call,
            cadence: d.cadence.into_iter().map(CadenceStep::from).collect(),
            max_attempts_per_7_days: d.max_attempts_per_7_days,
            paused: d.paused,
            required_customer_fields: crate::domain::customer::CustomerField::DEFAULT_REQUIRED
                .into_iter()
                .map(CustomerField::from)
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct ScheduleMutation;

#[Object]
impl ScheduleMutation {
    /// Creates a schedule; its `taskType` must be new to the company (`CONFLICT` otherwise).
    async fn create_schedule(
        &self,
        ctx: &Context<'_>,
        input: ScheduleInput,
    ) -> async_graphql::Result<Schedule> {
        let company_id = tenant(ctx)?;
        let patch = SchedulePatch::from(input);
        let now = super::now(ctx);
        let row =
            db(ctx).transaction(move |conn| use_case::create(conn, company_id, &patch, now)).await.gql()?;
        Ok(Schedule(row))
    }

    /// Updates the fields the input carries. Existing tasks stay as they are until the next sync.
    async fn update_schedule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ScheduleInput,
    ) -> async_graphql::Result<Schedule> {
        let company_id = tenant(ctx)?;
        let id = schedule_id(&id).ok_or(ApiError::NotFound("schedule")).gql()?;
        let patch = SchedulePatch::from(input);
        let now = super::now(ctx);
        let row = db(ctx)
            .transaction(move |conn| use_case::update(conn, company_id, id, &patch, now))
            .await
            .gql()?;
        Ok(Schedule(row))
    }

    /// Hides the schedule, cancels its pending tasks and frees its task type.
    async fn delete_schedule(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteSchedulePayload> {
        let company_id = tenant(ctx)?;
        let uuid = schedule_id(&id).ok_or(ApiError::NotFound("schedule")).gql()?;
        let now = super::now(ctx);
        let tasks_cancelled =
            db(ctx).transaction(move |conn| use_case::delete(conn, company_id, uuid, now)).await.gql()?;
        Ok(DeleteSchedulePayload { deleted_schedule_id: id, tasks_cancelled })
    }
}
