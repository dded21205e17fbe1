//! syncCustomerSchedule: upsert the customer, apply Do-Not-Call, cancel the pending tasks and
//! plan new ones, all in the caller's single transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::customers::{self, CustomerRow, MatchOn};
use super::schedules::ScheduleRow;
use super::tasks::{self, NewTask, TaskRow};
use super::{companies, schedules, suppressed, StoreError};
use crate::domain::calling_rules::StateRuleTable;
use crate::domain::customer::CustomerPatch;
use crate::domain::schedule::parse_hhmm;
use crate::domain::schedule_builder::{self, BuildInput, PlannedTask, SkipReason};
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
    let (planned, skipped, zone) = plan(&customer, &schedule, is_suppressed, &prior, &rules, now)?;
    let new_tasks: Vec<NewTask> =
        planned.iter().map(|t| NewTask { attempt: t.attempt, scheduled_for: t.scheduled_for }).collect();
    let tasks = tasks::insert_pending(conn, &customer, &schedule, &zone, &new_tasks)?;
    Ok(SyncOutcome { customer, created, existing_tasks_removed, tasks, skipped })
}

/// The builder's plan for one customer under `schedule`: tasks, why none, and the zone.
fn plan(
    customer: &CustomerRow,
    schedule: &ScheduleRow,
    is_suppressed: bool,
    prior: &[DateTime<Utc>],
    rules: &StateRuleTable,
    now: DateTime<Utc>,
) -> Result<(Vec<PlannedTask>, Option<SyncSkip>, String), StoreError> {
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
        rules,
        prior_attempts: prior,
        now,
    };
    Ok(match schedule_builder::build(&input) {
        Ok(plan) => (plan.tasks, None, plan.zone.name().to_string()),
        Err(reason) => (Vec::new(), Some(SyncSkip::Builder(reason)), String::new()),
    })
}

/// [`rebuild_schedule`] for many customers at once, set-wise: a handful of statements for the
/// whole set instead of a handful per customer. Locks the customers (in id order, so concurrent
/// callers cannot deadlock). Returns the number of tasks created.
pub fn rebuild_schedules(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let customers = customers::lock_many(conn, company_id, customer_ids)?;
    let ids: Vec<i64> = customers.iter().map(|c| c.id).collect();
    let refs: HashMap<i64, &str> = customers.iter().map(|c| (c.id, c.external_id.as_str())).collect();
    tasks::cancel_pending_for_customers(conn, company_id, &ids, &refs, now)?;
    let schedules: HashMap<String, ScheduleRow> =
        schedules::live_schedules(conn, company_id)?.into_iter().map(|s| (s.task_type.clone(), s)).collect();
    let phones: Vec<String> = customers.iter().filter_map(|c| c.phone_number.clone()).collect();
    let suppressed: HashSet<String> = suppressed::which_suppressed(conn, company_id, &phones)?;
    let mut prior: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
    for (customer_id, at) in tasks::prior_attempts_of(conn, company_id, &ids, now - Duration::days(8))? {
        prior.entry(customer_id).or_default().push(at);
    }
    let rules = StateRuleTable::with_overrides(&companies::state_rule_overrides(conn, company_id)?);
    let mut rows = Vec::new();
    for customer in &customers {
        let Some(schedule) = customer.task_type.as_ref().and_then(|t| schedules.get(t)) else { continue };
        let is_suppressed = schedule.use_do_not_call
            && customer.phone_number.as_ref().is_some_and(|p| suppressed.contains(p));
        let customer_prior = prior.get(&customer.id).map_or(&[][..], Vec::as_slice);
        let (planned, _, zone) = plan(customer, schedule, is_suppressed, customer_prior, &rules, now)?;
        rows.extend(planned.into_iter().map(|t| tasks::NewTaskRow {
            customer_id: customer.id,
            schedule_id: schedule.id,
            task_type: schedule.task_type.clone(),
            time_zone: zone.clone(),
            attempt: t.attempt,
            scheduled_for: t.scheduled_for,
        }));
    }
    tasks::insert_pending_many(conn, company_id, &rows, &refs)
}
