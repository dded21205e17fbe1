//! The outbox: one row per task or call status change, written in the changing transaction.

use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::schema::events;
use super::tasks::TaskRow;
use super::StoreError;

pub const TASK_CREATED: &str = "TASK_CREATED";
pub const TASK_STATUS_CHANGED: &str = "TASK_STATUS_CHANGED";

/// Records that each task `(id, customer_id, schedule_id)` moved from `previous` to `status`.
pub fn tasks_status_changed(
    conn: &mut PgConnection,
    company_id: Uuid,
    tasks: &[(Uuid, i64, Uuid)],
    previous: &str,
    status: &str,
) -> Result<(), StoreError> {
    if tasks.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = tasks
        .iter()
        .map(|(task_id, customer_id, schedule_id)| {
            (
                events::company_id.eq(company_id),
                events::kind.eq(TASK_STATUS_CHANGED),
                events::payload.eq(json!({
                    "taskId": task_id,
                    "customerId": customer_id,
                    "scheduleId": schedule_id,
                    "status": status,
                    "previousStatus": previous,
                })),
            )
        })
        .collect();
    diesel::insert_into(events::table).values(rows).execute(conn)?;
    Ok(())
}

/// Records that each task was created (status PENDING).
pub fn tasks_created(conn: &mut PgConnection, company_id: Uuid, tasks: &[TaskRow]) -> Result<(), StoreError> {
    if tasks.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = tasks
        .iter()
        .map(|t| {
            (
                events::company_id.eq(company_id),
                events::kind.eq(TASK_CREATED),
                events::payload.eq(json!({
                    "taskId": t.id,
                    "customerId": t.customer_id,
                    "scheduleId": t.schedule_id,
                    "status": t.status,
                    "previousStatus": null,
                })),
            )
        })
        .collect();
    diesel::insert_into(events::table).values(rows).execute(conn)?;
    Ok(())
}
