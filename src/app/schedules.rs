//! Schedules: create, update and delete, for every door. The settings' rules are the domain's
//! (`schedule::apply_patch`); deleting a schedule stops its plans at once.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::AppError;
use crate::domain::schedule::{self, SchedulePatch};
use crate::store::schedules::{self as store, ScheduleRow};
use crate::store::tasks;

/// createSchedule: the input over the defaults; a live schedule of the same task type is a
/// conflict.
pub fn create(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: &SchedulePatch,
    now: DateTime<Utc>,
) -> Result<ScheduleRow, AppError> {
    let settings = schedule::apply_patch(None, patch)?;
    Ok(store::insert(conn, company_id, &settings, now)?)
}

/// updateSchedule: the fields the input carries, over the locked schedule. Its tasks stay as
/// planned until the next sync.
pub fn update(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: Uuid,
    patch: &SchedulePatch,
    now: DateTime<Utc>,
) -> Result<ScheduleRow, AppError> {
    let existing = store::lock(conn, company_id, id)?.ok_or(AppError::NotFound("schedule"))?;
    let settings = schedule::apply_patch(Some(&existing.settings()), patch)?;
    Ok(store::update(conn, company_id, id, &settings, now)?)
}

/// deleteSchedule: hides the schedule (freeing its task type) and cancels its pending tasks,
/// each with an event. Returns the number of tasks cancelled.
pub fn delete(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    if !store::hide(conn, company_id, id, now)? {
        return Err(AppError::NotFound("schedule"));
    }
    Ok(tasks::cancel_pending_for_schedule(conn, company_id, id, now)? as i64)
}
