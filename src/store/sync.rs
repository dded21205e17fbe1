//! syncCustomerSchedule: upsert the customer, apply Do-Not-Call, cancel the pending tasks and
//! plan new ones, all in the caller's single transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::customers::{self, CustomerRow, MatchOn};
use super::tasks::{self, NewTask, TaskRow};
use super::{companies, schedules, suppressed, StoreError};
use crate::domain::calling_rules::StateRuleTable;
use crate::domain::customer::CustomerPatch;
use crate::domain::schedule::parse_hhmm;
use crate::domain::schedule_builder::{self, BuildInput, SkipReason};
use crate::domain::Patch;

/// Why a sync built no tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncSkip {
    /// The customer's task type has no (live) schedule.
    NoSchedule,
    Builder(SkipReason),
}

pub struct SyncOutcome {
    pub customer: CustomerRow,
    pub created: bool,
    pub existing_tasks_removed: i64,
    pub tasks: Vec<TaskRow>,
    pub skipped: Option<SyncSkip>,
}

/// Runs the whole sync; call it inside one transaction. Concurrent syncs of one customer
/// serialise on the customer's row lock taken by the upsert.
pub fn sync_customer_schedule(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: &CustomerPatch,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<SyncOutcome, StoreError> {
    // API.md: a stored DNC customer is refused unless this sync clears the flag.
    let dnc_check = |stored: Option<&CustomerRow>| match stored {
        Some(c) if c.do_not_call && patch.do_not_call != Patch::Set(false) => Err(StoreError::DoNotCall),
        _ => Ok(()),
    };
    let (customer, created) =
        customers::upsert_checked(conn, company_id, patch, MatchOn::Id, today, dnc_check)?;
    rebuild_schedule(conn, customer, created, now)
}

/// Cancels the customer's pending tasks and plans its schedule anew (the customer's row must
/// be locked by the caller's transaction).
pub fn rebuild_schedule(
    conn: &mut PgConnection,
    customer: CustomerRow,
    created: bool,
    now: DateTime<Utc>,
) -> Result<SyncOutcome, StoreError> {
    let company_id = customer.company_id;
    let cancelled =
        tasks::cancel_pending_for_customer(conn, company_id, customer.id, &customer.external_id, now)?;
    let existing_tasks_removed = cancelled.len() as i64;

    let schedule = match &customer.task_type {
        Some(task_type) => schedules::by_task_type(conn, company_id, task_type)?,
        None => None,
    };
    let Some(schedule) = schedule else {
        return Ok(SyncOutcome {
            customer,
            created,
            existing_tasks_removed,
            tasks: Vec::new(),
            skipped: Some(SyncSkip::NoSchedule),
        });
    };
    let is_suppressed = match (&customer.phone_number, schedule.use_do_not_call) {
        (Some(phone), true) => suppressed::is_suppressed(conn, company_id, phone)?,
        _ => false,
    };
    let prior = tasks::prior_attempts(conn, company_id, customer.id, now - Duration::days(8))?;
    let rules = StateRuleTable::with_overrides(&companies::state_rule_overrides(conn, company_id)?);
    let cadence = schedule.cadence();
    let hours = (
        parse_hhmm("callingHoursStart", &schedule.calling_hours_start)?.0,
        parse_hhmm("callingHoursEnd", &schedule.calling_hours_end)?.0,
    );
    let input = BuildInput {
        cadence: &cadence,
        calling_hours: hours,
        max_attempts_per_7_days: schedule.max_attempts_per_7_days.max(1) as u32,
        timezone: customer.timezone.as_deref(),
        state: customer.state.as_deref(),
        has_phone: customer.phone_number.is_some(),
        // The customer's own flag always blocks; the company list only when the schedule uses it.
        do_not_call: customer.do_not_call,
        suppressed: is_suppressed,
        rules: &rules,
        prior_attempts: &prior,
        now,
    };
    let (planned, skipped, zone) = match schedule_builder::build(&input) {
        Ok(plan) => (plan.tasks, None, plan.zone.name().to_string()),
        Err(reason) => (Vec::new(), Some(SyncSkip::Builder(reason)), String::new()),
    };
    let new_tasks: Vec<NewTask> =
        planned.iter().map(|t| NewTask { attempt: t.attempt, scheduled_for: t.scheduled_for }).collect();
    let tasks = tasks::insert_pending(conn, &customer, &schedule, &zone, &new_tasks)?;
    Ok(SyncOutcome { customer, created, existing_tasks_removed, tasks, skipped })
}
