//! Calls: makeCall with its guards, status reports with the task following, the dialer's
//! claims, webhook hand-off bookkeeping, and the queries.

use chrono::{DateTime, Duration, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::customers::{self, CustomerRow};
use super::events::{self, record_task_events};
use super::schedules::{self, ScheduleRow};
use super::schema::{calls, companies, customers as customers_table, schedules as schedules_table, tasks};
use super::tasks::TaskRow;
use super::{companies as company_store, suppressed, Page, PageRequest, StoreError, TimeCursor};
use crate::domain::calling_rules::StateRuleTable;
use crate::domain::calls::{quiet_period_moves, task_status_for, transition, CallStatus, Transition};
use crate::domain::schedule::parse_hhmm;
use crate::domain::schedule_builder::{calling_window, SkipReason};
use crate::domain::ValidationError;

pub const CALL_CREATED: &str = "CALL_CREATED";
pub const CALL_STATUS_CHANGED: &str = "CALL_STATUS_CHANGED";
pub const TASK_RESCHEDULED: &str = "TASK_RESCHEDULED";
/// The same number is never dialled twice within this long.
pub const REDIAL_GUARD: Duration = Duration::seconds(30);

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = calls, check_for_backend(Pg))]
pub struct CallRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub customer_id: Option<i64>,
    pub schedule_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub to_number: String,
    pub status: String,
    pub agent_id: Option<String>,
    pub disposition: Option<String>,
    pub duration_seconds: Option<i32>,
    pub data: Option<Value>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a call event carries: the call right after the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEventPayload {
    pub call: CallRow,
    pub customer_ref: Option<String>,
    pub previous_status: Option<String>,
}

fn record_call_event(
    conn: &mut PgConnection,
    call: &CallRow,
    kind: &str,
    previous: Option<&str>,
) -> Result<(), StoreError> {
    let customer_ref: Option<String> = match call.customer_id {
        Some(id) => {
            customers_table::table.find(id).select(customers_table::external_id).first(conn).optional()?
        }
        None => None,
    };
    let payload = json!({"call": call, "customerRef": customer_ref, "previousStatus": previous});
    diesel::insert_into(super::schema::events::table)
        .values((
            super::schema::events::company_id.eq(call.company_id),
            super::schema::events::kind.eq(kind),
            super::schema::events::payload.eq(payload),
        ))
        .execute(conn)?;
    Ok(())
}

/// Serialises dialling decisions of one company (rate limit, redial guard) across instances.
fn lock_company_dialing(conn: &mut PgConnection, company_id: Uuid) -> Result<(), StoreError> {
    // Two-key form: 7 namespaces callsync's dialling locks; hash collisions only over-serialise.
    diesel::sql_query("SELECT pg_advisory_xact_lock(7, hashtext($1::text))")
        .bind::<SqlUuid, _>(company_id)
        .execute(conn)?;
    Ok(())
}

/// Whether the company may start another call now under its calls-per-second limit.
fn under_rate_limit(conn: &mut PgConnection, company_id: Uuid, limit: i32) -> Result<bool, StoreError> {
    let recent: i64 = calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(sql::<Bool>("calls.created_at > clock_timestamp() - interval '1 second'"))
        .count()
        .get_result(conn)?;
    Ok(recent < i64::from(limit))
}

fn recently_dialled(conn: &mut PgConnection, company_id: Uuid, number: &str) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        calls::table
            .filter(calls::company_id.eq(company_id))
            .filter(calls::to_number.eq(number))
            .filter(sql::<Bool>("calls.created_at > clock_timestamp() - interval '30 seconds'")),
    ))
    .get_result(conn)?)
}

/// A call to place now.
pub struct CallRequest {
    pub customer_external_id: Option<String>,
    pub schedule_id: Option<Uuid>,
    pub to: Option<String>,
    pub data: Option<Value>,
    pub agent_id: Option<String>,
}

/// makeCall: resolves the callee, applies every guard, and queues the call.
pub fn make_call(
    conn: &mut PgConnection,
    company_id: Uuid,
    request: &CallRequest,
    now: DateTime<Utc>,
) -> Result<CallRow, StoreError> {
    let (customer, schedule, number) = match (&request.customer_external_id, request.schedule_id) {
        (Some(external_id), _) => {
            let customer =
                customers::by_external_id(conn, company_id, external_id)?.ok_or(StoreError::NotFound)?;
            let schedule = match &customer.task_type {
                Some(t) => schedules::by_task_type(conn, company_id, t)?,
                None => None,
            }
            .ok_or_else(|| ValidationError::new("customerId", "the customer's task type has no schedule"))?;
            let number = customer
                .phone_number
                .clone()
                .ok_or_else(|| ValidationError::new("customerId", "the customer has no phone number"))?;
            (Some(customer), schedule, number)
        }
        (None, Some(schedule_id)) => {
            let schedule = schedules::get(conn, company_id, schedule_id)?.ok_or(StoreError::NotFound)?;
            let raw = request.to.as_deref().ok_or_else(|| ValidationError::required("to"))?;
            let number = crate::domain::customer::normalize_phone("to", raw)?;
            let customer = customers::by_phone(conn, company_id, &number)?;
            (customer, schedule, number)
        }
        (None, None) => {
            return Err(ValidationError::new("customerId", "give customerId, or scheduleId and to").into())
        }
    };
    let dial = Dial {
        customer: customer.as_ref(),
        schedule: &schedule,
        number: &number,
        task: None,
        agent_id: request.agent_id.as_deref(),
        data: request.data.as_ref(),
        enforce_rate_limit: true,
    };
    queue_call(conn, company_id, &dial, now)
}

/// A call about to be queued: who, through which schedule, for which task.
pub struct Dial<'a> {
    pub customer: Option<&'a CustomerRow>,
    pub schedule: &'a ScheduleRow,
    pub number: &'a str,
    pub task: Option<&'a TaskRow>,
    pub agent_id: Option<&'a str>,
    pub data: Option<&'a Value>,
    /// False for bulk calls: the limit paces their hand-off instead of refusing them.
    pub enforce_rate_limit: bool,
}

/// makeCall's guards, shared by makeCall, the dialer and bulk imports; queues the call when
/// they all pass.
pub fn queue_call(
    conn: &mut PgConnection,
    company_id: Uuid,
    dial: &Dial<'_>,
    now: DateTime<Utc>,
) -> Result<CallRow, StoreError> {
    let Dial { customer, schedule, number, task, agent_id, data, enforce_rate_limit } = *dial;
    if schedule.paused {
        return Err(StoreError::SchedulePaused);
    }
    if schedule.use_do_not_call {
        if customer.is_some_and(|c| c.do_not_call) {
            return Err(StoreError::DoNotCall);
        }
        if suppressed::is_suppressed(conn, company_id, number)? {
            return Err(StoreError::DoNotCallNumber(
                "this number is on the company's Do-Not-Call list".into(),
            ));
        }
    }
    check_calling_hours(conn, company_id, customer, schedule, now)?;
    lock_company_dialing(conn, company_id)?;
    let limit: i32 =
        companies::table.find(company_id).select(companies::calls_per_second_limit).first(conn)?;
    if enforce_rate_limit && !under_rate_limit(conn, company_id, limit)? {
        let message = format!("the company's limit of {limit} calls per second is reached; retry shortly");
        return Err(StoreError::RateLimited(message));
    }
    if recently_dialled(conn, company_id, number)? {
        return Err(StoreError::RecentlyDialed);
    }
    let webhook: Option<String> =
        companies::table.find(company_id).select(companies::call_webhook_url).first(conn)?;
    let call: CallRow = diesel::insert_into(calls::table)
        .values((
            calls::company_id.eq(company_id),
            calls::customer_id.eq(customer.map(|c| c.id)),
            calls::schedule_id.eq(schedule.id),
            calls::task_id.eq(task.map(|t| t.id)),
            calls::to_number.eq(number),
            calls::status.eq(CallStatus::Queued.as_str()),
            calls::agent_id.eq(agent_id),
            calls::data.eq(data),
            calls::webhook_next_at.eq(webhook.map(|_| now)),
        ))
        .returning(CallRow::as_returning())
        .get_result(conn)?;
    diesel::update(schedules_table::table.find(schedule.id))
        .set((
            schedules_table::calls_count.eq(schedules_table::calls_count + 1),
            schedules_table::last_call_at.eq(now),
        ))
        .execute(conn)?;
    record_call_event(conn, &call, CALL_CREATED, None)?;
    Ok(call)
}

/// Refuses a call outside the calling window at the callee: the customer's zone, else the
/// schedule's; with neither, the zone is unknown and the call is refused (never guessed).
fn check_calling_hours(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer: Option<&CustomerRow>,
    schedule: &ScheduleRow,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let zone = customer.and_then(|c| c.timezone.clone()).or_else(|| schedule.time_zone.clone());
    let Some(zone) = zone else {
        return Err(StoreError::OutsideCallingHours(
            "the callee's time zone is unknown (no customer zone, no schedule timeZone); refusing rather than guessing"
                .into(),
        ));
    };
    let rules = StateRuleTable::with_overrides(&company_store::state_rule_overrides(conn, company_id)?);
    let hours = (
        parse_hhmm("callingHoursStart", &schedule.calling_hours_start)?.0,
        parse_hhmm("callingHoursEnd", &schedule.calling_hours_end)?.0,
    );
    let state = customer.and_then(|c| c.state.as_deref());
    match calling_window(hours, Some(&zone), state, &rules) {
        Ok((_, window)) if window.allows(now) => Ok(()),
        Ok(_) | Err(SkipReason::NoCallingWindow) => Err(StoreError::OutsideCallingHours(format!(
            "outside calling hours at the callee ({zone}, state {})",
            state.unwrap_or("unknown")
        ))),
        Err(_) => Err(StoreError::OutsideCallingHours("the callee's time zone is not valid".into())),
    }
}

/// A status report from the dialer or the agent platform.
pub struct StatusReport {
    pub status: CallStatus,
    pub disposition: Option<String>,
    pub duration_seconds: Option<i32>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Moves a call forward (idempotently), with its event; the task follows; a completed call
/// starts the Reg F quiet period when the schedule asks for it.
pub fn report_status(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
    report: &StatusReport,
    now: DateTime<Utc>,
) -> Result<CallRow, StoreError> {
    let call: CallRow = calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::id.eq(call_id))
        .select(CallRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound)?;
    let from = CallStatus::parse(&call.status).unwrap_or(CallStatus::Queued);
    match transition(from, report.status) {
        Transition::Unchanged => return Ok(call),
        Transition::Invalid => {
            return Err(StoreError::InvalidTransition(format!(
                "a {} call cannot become {}",
                from.as_str(),
                report.status.as_str()
            )))
        }
        Transition::Advance => {}
    }
    if report.duration_seconds.is_some_and(|d| d < 0) {
        return Err(ValidationError::new("durationSeconds", "durationSeconds must be zero or more").into());
    }
    let at = report.occurred_at.unwrap_or(now);
    let started_at = match report.status {
        CallStatus::InProgress => Some(at),
        _ => call.started_at,
    };
    let ended_at = if report.status.is_final() { Some(at) } else { None };
    let updated: CallRow = diesel::update(calls::table.find(call.id))
        .set((
            calls::status.eq(report.status.as_str()),
            calls::disposition.eq(report.disposition.as_deref().or(call.disposition.as_deref())),
            calls::duration_seconds.eq(report.duration_seconds.or(call.duration_seconds)),
            calls::started_at.eq(started_at),
            calls::ended_at.eq(ended_at),
            calls::updated_at.eq(now),
        ))
        .returning(CallRow::as_returning())
        .get_result(conn)?;
    record_call_event(conn, &updated, CALL_STATUS_CHANGED, Some(from.as_str()))?;
    if let (Some(task_id), Some(task_status)) = (updated.task_id, task_status_for(report.status)) {
        set_task_status(conn, company_id, task_id, task_status, now)?;
    }
    if report.status == CallStatus::Completed {
        start_quiet_period(conn, &updated, at, now)?;
    }
    Ok(updated)
}

fn customer_ref(conn: &mut PgConnection, customer_id: i64) -> Result<String, StoreError> {
    Ok(customers_table::table.find(customer_id).select(customers_table::external_id).first(conn)?)
}

/// Sets a task's status (if it changes), with its event.
pub fn set_task_status(
    conn: &mut PgConnection,
    company_id: Uuid,
    task_id: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(task) = tasks::table
        .filter(tasks::company_id.eq(company_id))
        .filter(tasks::id.eq(task_id))
        .select(TaskRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
    else {
        return Ok(());
    };
    if task.status == status {
        return Ok(());
    }
    let updated: TaskRow = diesel::update(tasks::table.find(task.id))
        .set((tasks::status.eq(status), tasks::updated_at.eq(now)))
        .returning(TaskRow::as_returning())
        .get_result(conn)?;
    let reference = customer_ref(conn, updated.customer_id)?;
    record_task_events(
        conn,
        company_id,
        events::TASK_STATUS_CHANGED,
        Some(&task.status),
        &[(&updated, &reference)],
    )
}

/// Moves the task to `at`, with a RESCHEDULED event.
pub fn reschedule_task(
    conn: &mut PgConnection,
    task: &TaskRow,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let updated: TaskRow = diesel::update(tasks::table.find(task.id))
        .set((tasks::scheduled_for.eq(at), tasks::updated_at.eq(now)))
        .returning(TaskRow::as_returning())
        .get_result(conn)?;
    let reference = customer_ref(conn, updated.customer_id)?;
    record_task_events(conn, task.company_id, TASK_RESCHEDULED, Some(&task.status), &[(&updated, &reference)])
}

/// Reg F: after a conversation, the customer's pending tasks in the next 7 days move past it.
fn start_quiet_period(
    conn: &mut PgConnection,
    call: &CallRow,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(customer_id) = call.customer_id else { return Ok(()) };
    let schedule = match call.schedule_id {
        Some(id) => schedules::by_ids(conn, call.company_id, &[id])?.pop(),
        None => None,
    };
    // A one-off call has no schedule: the federal rule applies as the default.
    if schedule.as_ref().is_some_and(|s| !s.quiet_period_after_conversation) {
        return Ok(());
    }
    let customer: CustomerRow =
        customers::by_ids(conn, call.company_id, &[customer_id])?.pop().ok_or(StoreError::NotFound)?;
    let pending: Vec<TaskRow> = tasks::table
        .filter(tasks::company_id.eq(call.company_id))
        .filter(tasks::customer_id.eq(customer_id))
        .filter(tasks::status.eq("PENDING"))
        .filter(tasks::scheduled_for.lt(at + Duration::days(8)))
        .order(tasks::scheduled_for.asc())
        .select(TaskRow::as_select())
        .for_update()
        .load(conn)?;
    if pending.is_empty() {
        return Ok(());
    }
    let rules = StateRuleTable::with_overrides(&company_store::state_rule_overrides(conn, call.company_id)?);
    let hours = match &schedule {
        Some(s) => (
            parse_hhmm("callingHoursStart", &s.calling_hours_start)?.0,
            parse_hhmm("callingHoursEnd", &s.calling_hours_end)?.0,
        ),
        None => (8 * 60, 21 * 60),
    };
    let Ok((zone, window)) =
        calling_window(hours, customer.timezone.as_deref(), customer.state.as_deref(), &rules)
    else {
        return Ok(());
    };
    let instants: Vec<_> = pending.iter().map(|t| t.scheduled_for).collect();
    for (task, moved) in pending.iter().zip(quiet_period_moves(at, zone, &window, &instants)) {
        if let Some(new_at) = moved {
            reschedule_task(conn, task, new_at, now)?;
        }
    }
    Ok(())
}

pub fn get(conn: &mut PgConnection, company_id: Uuid, id: Uuid) -> Result<Option<CallRow>, StoreError> {
    Ok(calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::id.eq(id))
        .select(CallRow::as_select())
        .first(conn)
        .optional()?)
}

/// The latest call of each task.
pub fn latest_for_tasks(
    conn: &mut PgConnection,
    company_id: Uuid,
    task_ids: &[Uuid],
) -> Result<Vec<CallRow>, StoreError> {
    Ok(calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::task_id.eq_any(task_ids))
        .order((calls::task_id.asc(), calls::created_at.desc()))
        .distinct_on(calls::task_id)
        .select(CallRow::as_select())
        .load(conn)?)
}

#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub customer_id: Option<String>,
    pub customer_row_id: Option<i64>,
    pub schedule_id: Option<Uuid>,
    pub statuses: Option<Vec<String>>,
}

fn filtered<'a>(company_id: Uuid, f: &'a CallFilter) -> calls::BoxedQuery<'a, Pg> {
    let mut q = calls::table.filter(calls::company_id.eq(company_id)).into_boxed();
    if let Some(external_id) = &f.customer_id {
        let customer = customers_table::table
            .filter(customers_table::company_id.eq(company_id))
            .filter(customers_table::external_id.eq(external_id))
            .select(customers_table::id)
            .single_value();
        q = q.filter(calls::customer_id.eq(customer));
    }
    if let Some(id) = f.customer_row_id {
        q = q.filter(calls::customer_id.eq(id));
    }
    if let Some(id) = f.schedule_id {
        q = q.filter(calls::schedule_id.eq(id));
    }
    if let Some(statuses) = &f.statuses {
        q = q.filter(calls::status.eq_any(statuses));
    }
    q
}

/// A page of calls, newest first.
pub fn list(
    conn: &mut PgConnection,
    company_id: Uuid,
    filter: &CallFilter,
    page: &PageRequest<(), TimeCursor>,
) -> Result<Page<CallRow>, StoreError> {
    let total_count =
        if page.with_total { Some(filtered(company_id, filter).count().get_result(conn)?) } else { None };
    let mut q = filtered(company_id, filter);
    if let Some(c) = &page.after {
        q = q.filter(
            sql::<Bool>("(calls.created_at, calls.id) < (")
                .bind::<Timestamptz, _>(c.at()?)
                .sql(", ")
                .bind::<SqlUuid, _>(c.id())
                .sql(")"),
        );
    }
    let mut rows: Vec<CallRow> = q
        .order((calls::created_at.desc(), calls::id.desc()))
        .limit(page.first + 1)
        .select(CallRow::as_select())
        .load(conn)?;
    let has_next_page = rows.len() as i64 > page.first;
    rows.truncate(page.first as usize);
    let rows = rows.into_iter().map(|row| (TimeCursor::new(row.created_at, row.id).encode(), row)).collect();
    Ok(Page { rows, has_next_page, total_count })
}

/// What the dialer did with one due task.
#[derive(Debug, Clone)]
pub enum DialOutcome {
    /// No due task was free to claim.
    Idle,
    Dialled(Box<CallRow>),
    /// Cancelled: the customer is DNC or can no longer be called.
    Cancelled,
    /// Moved to a later time (outside the window now, or dialled moments ago).
    Rescheduled,
    /// The company is at its calls-per-second limit: left due for the next round.
    Paced(Uuid),
}

/// Claims one due task (skipping ones another worker holds) and dials it through every guard,
/// in the caller's transaction. `skip` lists companies already at their rate limit this round.
pub fn dial_next_due(
    conn: &mut PgConnection,
    skip: &[Uuid],
    now: DateTime<Utc>,
) -> Result<DialOutcome, StoreError> {
    let task: Option<TaskRow> = tasks::table
        .inner_join(schedules_table::table)
        .filter(tasks::status.eq("PENDING"))
        .filter(tasks::scheduled_for.le(now))
        .filter(schedules_table::paused.eq(false))
        .filter(schedules_table::deleted_at.is_null())
        .filter(diesel::dsl::not(tasks::company_id.eq_any(skip)))
        .order(tasks::scheduled_for.asc())
        .select(TaskRow::as_select())
        .limit(1)
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?;
    let Some(task) = task else { return Ok(DialOutcome::Idle) };
    let company_id = task.company_id;
    let customer =
        customers::by_ids(conn, company_id, &[task.customer_id])?.pop().ok_or(StoreError::NotFound)?;
    let schedule =
        schedules::by_ids(conn, company_id, &[task.schedule_id])?.pop().ok_or(StoreError::NotFound)?;
    let Some(number) = customer.phone_number.clone() else {
        set_task_status(conn, company_id, task.id, "CANCELLED", now)?;
        return Ok(DialOutcome::Cancelled);
    };
    let dial = Dial {
        customer: Some(&customer),
        schedule: &schedule,
        number: &number,
        task: Some(&task),
        agent_id: None,
        data: None,
        enforce_rate_limit: true,
    };
    match queue_call(conn, company_id, &dial, now) {
        Ok(call) => {
            set_task_status(conn, company_id, task.id, "IN_PROGRESS", now)?;
            Ok(DialOutcome::Dialled(Box::new(call)))
        }
        Err(StoreError::DoNotCall | StoreError::DoNotCallNumber(_)) => {
            set_task_status(conn, company_id, task.id, "CANCELLED", now)?;
            Ok(DialOutcome::Cancelled)
        }
        Err(StoreError::OutsideCallingHours(_)) => {
            // Rules may have changed since planning: move to the next opening, never drop.
            let rules =
                StateRuleTable::with_overrides(&company_store::state_rule_overrides(conn, company_id)?);
            let hours = (
                parse_hhmm("callingHoursStart", &schedule.calling_hours_start)?.0,
                parse_hhmm("callingHoursEnd", &schedule.calling_hours_end)?.0,
            );
            let next = calling_window(hours, customer.timezone.as_deref(), customer.state.as_deref(), &rules)
                .ok()
                .and_then(|(_, w)| w.next_allowed(now, now + Duration::days(30)));
            match next {
                Some(at) => {
                    reschedule_task(conn, &task, at, now)?;
                    Ok(DialOutcome::Rescheduled)
                }
                None => {
                    set_task_status(conn, company_id, task.id, "CANCELLED", now)?;
                    Ok(DialOutcome::Cancelled)
                }
            }
        }
        Err(StoreError::RecentlyDialed) => {
            reschedule_task(conn, &task, now + REDIAL_GUARD, now)?;
            Ok(DialOutcome::Rescheduled)
        }
        Err(StoreError::RateLimited(_)) => Ok(DialOutcome::Paced(company_id)),
        Err(other) => Err(other),
    }
}

/// A call whose hand-off to the company's webhook is due.
pub struct WebhookDelivery {
    pub call: CallRow,
    pub attempt: i32,
    pub url: String,
    pub secret: Option<String>,
    pub body: Value,
}

/// Leases one due webhook delivery for `lease` (another worker skips it meanwhile).
pub fn lease_webhook(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<WebhookDelivery>, StoreError> {
    // Paced: a company's deliveries never exceed its calls per second (calls queued in bulk are
    // paced here rather than refused).
    let under_rate = sql::<Bool>(
        "(SELECT count(*) FROM calls sent WHERE sent.company_id = calls.company_id
            AND sent.webhook_sent_at > ",
    )
    .bind::<Timestamptz, _>(now - Duration::seconds(1))
    .sql(") < (SELECT calls_per_second_limit FROM companies WHERE companies.id = calls.company_id)");
    let call: Option<CallRow> = calls::table
        .filter(calls::webhook_next_at.le(now))
        .filter(under_rate)
        .order(calls::webhook_next_at.asc())
        .select(CallRow::as_select())
        .limit(1)
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?;
    let Some(call) = call else { return Ok(None) };
    let attempt: i32 = diesel::update(calls::table.find(call.id))
        .set((
            calls::webhook_next_at.eq(now + lease),
            calls::webhook_sent_at.eq(now),
            calls::webhook_attempts.eq(calls::webhook_attempts + 1),
        ))
        .returning(calls::webhook_attempts)
        .get_result(conn)?;
    let (url, secret): (Option<String>, Option<String>) = companies::table
        .find(call.company_id)
        .select((companies::call_webhook_url, companies::call_webhook_secret))
        .first(conn)?;
    let Some(url) = url else {
        // The webhook was removed since: the call waits for an external dialer.
        diesel::update(calls::table.find(call.id))
            .set(calls::webhook_next_at.eq(None::<DateTime<Utc>>))
            .execute(conn)?;
        return Ok(None);
    };
    let customer = match call.customer_id {
        Some(id) => customers::by_ids(conn, call.company_id, &[id])?.pop(),
        None => None,
    };
    let loans = match &customer {
        Some(c) => super::loans::for_customer(conn, c.id)?,
        None => Vec::new(),
    };
    let body = json!({
        "event": "call.queued",
        "call": {
            "id": call.id, "status": call.status, "to": call.to_number, "agentId": call.agent_id,
            "data": call.data, "scheduleId": call.schedule_id, "taskId": call.task_id, "createdAt": call.created_at,
        },
        "customer": customer.map(|c| json!({
            "id": c.external_id, "firstName": c.first_name, "lastName": c.last_name, "email": c.email,
            "phoneNumber": c.phone_number, "timezone": c.timezone, "state": c.state,
            "externalMetadata": c.external_metadata, "loans": loans,
        })),
    });
    Ok(Some(WebhookDelivery { call, attempt, url, secret, body }))
}

/// Records a delivery's outcome: done, or retried after `retry_in`, or given up (the call fails).
pub fn webhook_result(
    conn: &mut PgConnection,
    call_id: Uuid,
    error: Option<String>,
    retry_in: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    match (error, retry_in) {
        (None, _) => {
            diesel::update(calls::table.find(call_id))
                .set((
                    calls::webhook_next_at.eq(None::<DateTime<Utc>>),
                    calls::webhook_last_error.eq(None::<String>),
                ))
                .execute(conn)?;
        }
        (Some(e), Some(delay)) => {
            diesel::update(calls::table.find(call_id))
                .set((calls::webhook_next_at.eq(now + delay), calls::webhook_last_error.eq(e)))
                .execute(conn)?;
        }
        (Some(e), None) => {
            diesel::update(calls::table.find(call_id))
                .set((calls::webhook_next_at.eq(None::<DateTime<Utc>>), calls::webhook_last_error.eq(&e)))
                .execute(conn)?;
            let company_id: Uuid = calls::table.find(call_id).select(calls::company_id).first(conn)?;
            let report = StatusReport {
                status: CallStatus::Failed,
                disposition: Some(format!("webhook delivery failed: {e}")),
                duration_seconds: None,
                occurred_at: None,
            };
            match report_status(conn, company_id, call_id, &report, now) {
                Ok(_) | Err(StoreError::InvalidTransition(_)) => {}
                Err(other) => return Err(other),
            }
        }
    }
    Ok(())
}

/// Calls with no final status after `after` are marked FAILED; returns how many.
pub fn fail_stuck(conn: &mut PgConnection, after: Duration, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let stuck: Vec<(Uuid, Uuid)> = calls::table
        .filter(calls::status.eq_any(["QUEUED", "RINGING", "IN_PROGRESS"]))
        .filter(calls::created_at.lt(now - after))
        .select((calls::id, calls::company_id))
        .limit(500)
        .load(conn)?;
    for (id, company_id) in &stuck {
        let report = StatusReport {
            status: CallStatus::Failed,
            disposition: Some("stuck: no final status reported in time".into()),
            duration_seconds: None,
            occurred_at: None,
        };
        report_status(conn, *company_id, *id, &report, now)?;
    }
    Ok(stuck.len())
}
