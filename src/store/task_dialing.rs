//! Tasks as the dialer moves them: status changes with their events, rescheduling, and the
//! claim of the next due task.

use crate::domain::tasks::TaskStatus;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::events::record_task_events;
use super::schema::{schedules as schedules_table, tasks};
use super::tasks::TaskRow;
use super::StoreError;

use super::calls::*;

/// Sets a task's status (if it changes; the next version), with its event.
pub fn set_task_status(
    conn: &mut PgConnection,
    company_id: Uuid,
    task_id: Uuid,
    status: TaskStatus,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let status = status.as_str();
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
    let updated: TaskRow = diesel::update(tasks::table.find((task.company_id, task.id)))
        .set((tasks::status.eq(status), tasks::updated_at.eq(now), tasks::version.eq(tasks::version + 1)))
        .returning(TaskRow::as_returning())
        .get_result(conn)?;
    let reference = customer_ref(conn, company_id, updated.customer_id)?;
    record_task_events(
        conn,
        company_id,
        super::events::TASK_STATUS_CHANGED,
        Some(&task.status),
        &[(&updated, &reference)],
    )
}

/// Moves the task to `at` (the next version), with a RESCHEDULED event.
pub fn reschedule_task(
    conn: &mut PgConnection,
    task: &TaskRow,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let updated: TaskRow = diesel::update(tasks::table.find((task.company_id, task.id)))
        .set((tasks::scheduled_for.eq(at), tasks::updated_at.eq(now), tasks::version.eq(tasks::version + 1)))
        .returning(TaskRow::as_returning())
        .get_result(conn)?;
    let reference = customer_ref(conn, task.company_id, updated.customer_id)?;
    record_task_events(conn, task.company_id, TASK_RESCHEDULED, Some(&task.status), &[(&updated, &reference)])
}

/// The customer's PENDING tasks scheduled at or after `from`, locked, in time order.
pub fn lock_pending_tasks(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_id: i64,
    from: DateTime<Utc>,
) -> Result<Vec<TaskRow>, StoreError> {
    Ok(tasks::table
        .filter(tasks::company_id.eq(company_id))
        .filter(tasks::customer_id.eq(customer_id))
        .filter(tasks::status.eq(TaskStatus::Pending.as_str()))
        .filter(tasks::scheduled_for.ge(from))
        .order((tasks::scheduled_for.asc(), tasks::id.asc()))
        .select(TaskRow::as_select())
        .for_update()
        .load(conn)?)
}

/// Claims one due PENDING task of a live, unpaused schedule (skipping ones another worker
/// holds, the companies in `skip_companies` and the tasks in `skip_tasks`), locked until the
/// transaction ends.
pub fn claim_due_task(
    conn: &mut PgConnection,
    skip_companies: &[Uuid],
    skip_tasks: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Option<TaskRow>, StoreError> {
    // The live schedules as a sub-select, not a join: `FOR UPDATE SKIP LOCKED` over a join locks
    // the schedule's row too, so a worker meeting a schedule another worker holds skipped the
    // task yet kept its lock, and the other worker's next claim found every such task held and
    // ended its round early. Schedule ids are unique across companies, and a task's schedule is
    // its company's (a composite foreign key).
    let live_schedules = schedules_table::table
        .filter(schedules_table::paused.eq(false))
        .filter(schedules_table::deleted_at.is_null())
        .select(schedules_table::id);
    Ok(tasks::table
        .filter(tasks::status.eq(TaskStatus::Pending.as_str()))
        .filter(tasks::scheduled_for.le(now))
        .filter(tasks::schedule_id.eq_any(live_schedules))
        .filter(diesel::dsl::not(tasks::company_id.eq_any(skip_companies)))
        .filter(diesel::dsl::not(tasks::id.eq_any(skip_tasks)))
        .order(tasks::scheduled_for.asc())
        .select(TaskRow::as_select())
        .limit(1)
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?)
}
