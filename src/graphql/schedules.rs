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

/// One step of a schedule's cadence: a call `dayOffset` days after the sync, at `localTime`.
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

/// A call schedule (a campaign): the cadence and calling rules for the customers of its
/// `taskType`.
#[Object]
impl Schedule {
    /// The schedule's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Free text for people.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The key customers name in `taskType` to belong to this schedule; unique per company.
    async fn task_type(&self) -> &str {
        &self.0.task_type
    }
    /// A paused schedule places no calls (makeCall is SCHEDULE_PAUSED; the dialer waits).
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
    /// Honour the company's suppressed list (source COMPANY); consumer opt-outs and wrong
    /// numbers bind every schedule regardless.
    async fn use_do_not_call(&self) -> bool {
        self.0.use_do_not_call
    }
    /// What the calls are for: state rules apply to the purposes their laws cover.
    async fn purpose(&self) -> CallPurpose {
        self.0.purpose().into()
    }
    /// Reg F: after a completed call, the customer's next 7 days of pending tasks move past it.
    async fn quiet_period_after_conversation(&self) -> bool {
        self.0.quiet_period_after_conversation
    }
    /// The steps a sync plans, one task each.
    async fn cadence(&self) -> Vec<CadenceStep> {
        self.0.cadence().into_iter().map(CadenceStep::from).collect()
    }
    /// Most calls to a customer in any 7 consecutive local days (Reg F allows 7).
    #[graphql(name = "maxAttemptsPer7Days")]
    async fn max_attempts_per_7_days(&self) -> i32 {
        self.0.max_attempts_per_7_days
    }
    /// The integration's own sort key for listing schedules (`orderBy: SORTABLE_ORDER`).
    async fn sortable_order(&self) -> Option<f64> {
        self.0.sortable_order
    }
    /// In seconds: a number this schedule dialled that recently is refused (RECENTLY_DIALED);
    /// null: no such window.
    async fn lead_duplicate_timeframe_seconds(&self) -> Option<i32> {
        self.0.lead_duplicate_timeframe_seconds
    }
    /// The fields a customer of this campaign must have (checked on every path that writes one).
    async fn required_customer_fields(&self) -> Vec<CustomerField> {
        self.0.required_fields().into_iter().map(CustomerField::from).collect()
    }
    /// Calls placed through this schedule so far.
    async fn calls_count(&self) -> i32 {
        self.0.calls_count
    }
    /// When the latest call through this schedule was placed.
    async fn last_call_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_call_at
    }
    /// Tasks of this schedule still PENDING.
    async fn pending_tasks_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let count = loaders(ctx)?.load_one(PendingTasksKey(self.0.id)).await.gql()?;
        Ok(count.unwrap_or(0))
    }
    /// When the schedule was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When its settings last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One cadence step: a call `dayOffset` days after the sync, at `localTime`.
#[derive(InputObject, Clone)]
pub struct CadenceStepInput {
    /// Days after the customer's local today, 0 to 365.
    day_offset: i32,
    /// "HH:MM", customer-local; moved to the calling window's next opening when outside it.
    local_time: String,
}

/// Schedule settings. createSchedule needs `name` and `taskType` and fills the rest from
/// `scheduleDefaults`; updateSchedule keeps omitted fields, and null clears an optional one.
#[derive(InputObject)]
pub struct ScheduleInput {
    /// What the calls are for (default COLLECTION). A COLLECTION schedule keeps
    /// quietPeriodAfterConversation on.
    purpose: MaybeUndefined<CallPurpose>,
    /// Display name, 1 to 200 characters; required on create.
    name: MaybeUndefined<String>,
    /// Free text, at most 2,000 characters.
    description: MaybeUndefined<String>,
    /// The key customers name to belong to the schedule, at most 64 characters; required on
    /// create and new to the company (CONFLICT otherwise).
    task_type: MaybeUndefined<String>,
    /// Default false.
    paused: MaybeUndefined<bool>,
    /// IANA time zone name for numbers dialled with no customer zone.
    time_zone: MaybeUndefined<String>,
    /// "HH:MM", customer-local (default "08:00"); before callingHoursEnd. The law's hours
    /// still apply inside it.
    calling_hours_start: MaybeUndefined<String>,
    /// "HH:MM", customer-local, exclusive (default "21:00").
    calling_hours_end: MaybeUndefined<String>,
    /// Honour the company's suppressed list (default true).
    use_do_not_call: MaybeUndefined<bool>,
    /// Default true.
    quiet_period_after_conversation: MaybeUndefined<bool>,
    /// 1 to 100 steps (default: days 0, 1, 3 and 7).
    cadence: MaybeUndefined<Vec<CadenceStepInput>>,
    /// 1 to 100 (default 7).
    #[graphql(name = "maxAttemptsPer7Days")]
    max_attempts_per_7_days: MaybeUndefined<i32>,
    /// Any finite number: the integration's sort key.
    sortable_order: MaybeUndefined<f64>,
    /// Seconds, 0 or more: refuse redialling a number this schedule dialled that recently
    /// (RECENTLY_DIALED).
    lead_duplicate_timeframe_seconds: MaybeUndefined<i32>,
    /// Default: every field createCustomer has always required (all but ssnLastFour).
    required_customer_fields: MaybeUndefined<Vec<CustomerField>>,
}

/// A customer field a campaign may require.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "DomainField")]
pub enum CustomerField {
    /// `firstName`.
    FirstName,
    /// `lastName`.
    LastName,
    /// `email`.
    Email,
    /// `birthday`.
    Birthday,
    /// `ssnLastFour`.
    SsnLastFour,
    /// `phoneNumber`.
    PhoneNumber,
    /// `timezone` (when not required, a missing one is inferred where possible).
    Timezone,
    /// `streetAddress1`.
    #[graphql(name = "STREET_ADDRESS1")]
    StreetAddress1,
    /// `city`.
    City,
    /// `state`.
    State,
    /// `zipCode`.
    ZipCode,
}

/// What a schedule's calls are for.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "DomainPurpose")]
pub enum CallPurpose {
    /// Collecting a debt (FDCPA, Reg F).
    Collection,
    /// Servicing and reminders: no payment asked, nothing sold.
    Informational,
    /// Selling (TCPA telemarketing rules).
    Telemarketing,
}

impl From<ScheduleInput> for SchedulePatch {
    fn from(i: ScheduleInput) -> Self {
        SchedulePatch {
            purpose: patch(i.purpose).map(DomainPurpose::from),
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

/// The values createSchedule uses for omitted fields.
#[derive(SimpleObject)]
pub struct ScheduleDefaults {
    /// "HH:MM", customer-local.
    calling_hours_start: String,
    /// "HH:MM", customer-local.
    calling_hours_end: String,
    /// Whether the company's suppressed list is honoured.
    use_do_not_call: bool,
    /// The default cadence.
    cadence: Vec<CadenceStep>,
    /// The default weekly cap per customer.
    #[graphql(name = "maxAttemptsPer7Days")]
    max_attempts_per_7_days: i32,
    /// Whether a new schedule starts paused.
    paused: bool,
    /// The fields a customer must have by default.
    required_customer_fields: Vec<CustomerField>,
}

/// Which schedules to list; omitted fields do not filter.
#[derive(InputObject, Default)]
pub struct ScheduleFilter {
    /// Case-insensitive substring of the name or description.
    search: Option<String>,
    /// true: only paused schedules; false: only running ones.
    paused: Option<bool>,
    /// Only the schedule of this task type.
    task_type: Option<String>,
    /// Inclusive.
    created_at_from: Option<DateTime<Utc>>,
    /// Exclusive.
    created_at_to: Option<DateTime<Utc>>,
}

/// What a schedule list is sorted by.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScheduleOrderField {
    #[default]
    /// When the schedule was created (the default).
    CreatedAt,
    /// When it last changed.
    UpdatedAt,
    /// Its name.
    Name,
    /// Its task type.
    TaskType,
    /// Running first, then paused (ascending).
    Paused,
    /// The integration's `sortableOrder`.
    SortableOrder,
    /// Calls placed through it.
    CallsCount,
    /// Its latest call.
    LastCallAt,
}

/// What deleteSchedule did.
#[derive(SimpleObject)]
pub struct DeleteSchedulePayload {
    /// The id of the schedule deleted.
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
    /// A schedule by id; null for an unknown, deleted or another company's schedule.
    async fn schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The schedule's id.")] id: ID,
    ) -> async_graphql::Result<Option<Schedule>> {
        let company_id = tenant(ctx)?;
        let Some(id) = schedule_id(&id) else {
            return Ok(None);
        };
        let row = db(ctx).read(move |conn| store::get(conn, company_id, id)).await.gql()?;
        Ok(row.map(Schedule))
    }

    /// The company's schedules (deleted ones never appear), one page at a time.
    #[graphql(complexity = "super::connection_cost(first, child_complexity)")]
    async fn schedules(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which schedules; all when omitted.")] filter: Option<ScheduleFilter>,
        #[graphql(default_with = "Some(ScheduleOrderField::CreatedAt)", desc = "The sort key.")]
        order_by: Option<ScheduleOrderField>,
        #[graphql(default_with = "Some(OrderDirection::Asc)", desc = "Ascending or descending.")]
        order_direction: Option<OrderDirection>,
        #[graphql(desc = "Page size, 0 to 500 (default 50; BAD_USER_INPUT otherwise).")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, as it came (opaque: an altered or foreign cursor is BAD_USER_INPUT)."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<ScheduleConnection> {
        let company_id = tenant(ctx)?;
        let first = page_size(first).gql()?;
        let cursors = super::cursors(ctx, "schedules")?;
        let offset = match cursors.open(after.as_deref()).gql()? {
            Some(payload) => store::decode_offset_cursor(&payload).gql()?,
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
            search: crate::domain::search_term("search", f.search).gql()?,
            paused: f.paused,
            task_type: f.task_type,
            created_at_from: f.created_at_from,
            created_at_to: f.created_at_to,
        };
        let request = PageRequest { order, desc, after: Some(offset), first, with_total: wants_total(ctx) };
        let page =
            db(ctx).read_stale(move |conn| store::list(conn, company_id, &filter, &request)).await.gql()?;
        let mut connection = Connection::with_additional_fields(
            offset > 0,
            page.has_next_page,
            TotalCount { total_count: page.total_count.unwrap_or(0) },
        );
        connection.edges.extend(
            page.rows.into_iter().map(|(cursor, row)| Edge::new(cursors.seal(&cursor), Schedule(row))),
        );
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
            required_customer_fields: crate::domain::customer::CustomerField::default_required()
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
        #[graphql(
            desc = "The settings; `name` and `taskType` are required. An invalid one is BAD_USER_INPUT naming it."
        )]
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
        #[graphql(desc = "The schedule's id; NOT_FOUND if unknown or deleted.")] id: ID,
        #[graphql(desc = "The settings to change; an invalid one is BAD_USER_INPUT naming it.")]
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
        #[graphql(desc = "The schedule's id; NOT_FOUND if unknown or deleted.")] id: ID,
    ) -> async_graphql::Result<DeleteSchedulePayload> {
        let company_id = tenant(ctx)?;
        let uuid = schedule_id(&id).ok_or(ApiError::NotFound("schedule")).gql()?;
        let now = super::now(ctx);
        let tasks_cancelled =
            db(ctx).transaction(move |conn| use_case::delete(conn, company_id, uuid, now)).await.gql()?;
        Ok(DeleteSchedulePayload { deleted_schedule_id: id, tasks_cancelled })
    }
}
