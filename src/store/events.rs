//! The outbox: one row per task or call status change, written in the changing transaction,
//! and the reads that deliver them (see `crate::events`).

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::schema::events;
use super::tasks::TaskRow;
use super::StoreError;

pub const TASK_CREATED: &str = "TASK_CREATED";
pub const TASK_STATUS_CHANGED: &str = "TASK_STATUS_CHANGED";

/// Where an event stands in delivery order: `(seq, id)` (see the migration `event_order`).
pub type Position = (i64, i64);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub id: i64,
    /// The writing transaction (kept for diagnosis; delivery follows `seq`).
    pub tx_id: i64,
    pub company_id: Uuid,
    pub kind: String,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    /// Delivery order: the greater of the writing transaction's id and the snapshot's xmax
    /// when the event was written (see the migration `event_order`).
    pub seq: i64,
}

impl EventRow {
    pub fn position(&self) -> Position {
        (self.seq, self.id)
    }
}

/// What a task event carries: the task as it was right after the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEventPayload {
    pub task: TaskRow,
    /// The customer's external id at the time (for subscription filters).
    pub customer_ref: String,
    pub previous_status: Option<String>,
}

/// A task event's payload: [`TaskEventPayload`] as JSON.
pub fn task_payload(task: &TaskRow, customer_ref: &str, previous_status: Option<&str>) -> Value {
    json!({"task": task, "customerRef": customer_ref, "previousStatus": previous_status})
}

/// Records one event of `kind` per task; `tasks` pairs each task with its customer's external id.
pub fn record_task_events(
    conn: &mut PgConnection,
    company_id: Uuid,
    kind: &str,
    previous_status: Option<&str>,
    tasks: &[(&TaskRow, &str)],
) -> Result<(), StoreError> {
    if tasks.is_empty() {
        return Ok(());
    }
    let payloads: Vec<Value> =
        tasks.iter().map(|(task, customer_ref)| task_payload(task, customer_ref, previous_status)).collect();
    // Stamped with the change's own instant (the injected clock's), never the database's.
    let stamps: Vec<DateTime<Utc>> = tasks.iter().map(|(task, _)| task.updated_at).collect();
    // One statement text for any number of events (arrays, not a VALUES row each), so it is
    // prepared once per connection; WITH ORDINALITY keeps the events in the tasks' order.
    super::prepared::prepared(
        diesel::sql_query(
            "INSERT INTO events (company_id, kind, payload, created_at)
             SELECT $1, $2, payload, at FROM unnest($3::jsonb[], $4::timestamptz[]) WITH ORDINALITY AS e(payload, at, n)
             ORDER BY n",
        )
        .bind::<diesel::sql_types::Uuid, _>(company_id)
        .bind::<diesel::sql_types::Text, _>(kind)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Jsonb>, _>(payloads)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Timestamptz>, _>(stamps),
    )
    .execute(conn)?;
    Ok(())
}

type Condition = Box<dyn BoxableExpression<events::table, Pg, SqlType = Bool>>;

/// `seq < pg_snapshot_xmin(pg_current_snapshot())`: every transaction that could still write
/// an event with a smaller `seq` has finished, so nothing will ever appear before it in
/// delivery order.
fn settled() -> Condition {
    Box::new(sql::<Bool>("events.seq < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"))
}

/// After `position` in delivery order (a row comparison, so the (seq, id) index serves it).
fn after(position: Position) -> Condition {
    Box::new(
        sql::<Bool>("(events.seq, events.id) > (")
            .bind::<BigInt, _>(position.0)
            .sql(", ")
            .bind::<BigInt, _>(position.1)
            .sql(")"),
    )
}

/// Events of every company after `position`, in delivery order, each with whether it is settled.
/// Settledness is monotonic in that order, so the caller delivers up to the first unsettled one.
/// Only the events of `wanted` companies carry their payload (the others' is JSON null): nobody
/// listens to them, and reading and parsing every payload would cost every write.
pub fn after_with_settled(
    conn: &mut PgConnection,
    position: Position,
    limit: i64,
    wanted: &[Uuid],
) -> Result<Vec<(EventRow, bool)>, StoreError> {
    let payload = sql::<diesel::sql_types::Jsonb>("CASE WHEN events.company_id = ANY(")
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(wanted.to_vec())
        .sql(") THEN events.payload ELSE 'null'::jsonb END");
    Ok(events::table
        .into_boxed()
        .filter(after(position))
        .order((events::seq.asc(), events::id.asc()))
        .limit(limit)
        .select((
            (
                events::id,
                events::tx_id,
                events::company_id,
                events::kind,
                payload,
                events::created_at,
                events::seq,
            ),
            sql::<Bool>("events.seq < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"),
        ))
        .load::<((i64, i64, Uuid, String, Value, DateTime<Utc>, i64), bool)>(conn)?
        .into_iter()
        .map(|((id, tx_id, company_id, kind, payload, created_at, seq), settled)| {
            (EventRow { id, tx_id, company_id, kind, payload, created_at, seq }, settled)
        })
        .collect())
}

/// Settled events of one company after `position`, of the given kinds, in delivery order.
pub fn company_settled_after(
    conn: &mut PgConnection,
    company_id: Uuid,
    kinds: &[&str],
    position: Position,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    Ok(events::table
        .into_boxed()
        .filter(events::company_id.eq(company_id))
        .filter(events::kind.eq_any(kinds))
        .filter(after(position))
        .filter(settled())
        .order((events::seq.asc(), events::id.asc()))
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?)
}

/// The position of the company's event `id`, if it is still retained.
pub fn position_of(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: i64,
) -> Result<Option<Position>, StoreError> {
    Ok(events::table
        .filter(events::company_id.eq(company_id))
        .filter(events::id.eq(id))
        .select((events::seq, events::id))
        .first(conn)
        .optional()?)
}

/// The position of the newest settled event (where a live-only reader starts).
pub fn settled_head(conn: &mut PgConnection) -> Result<Position, StoreError> {
    Ok(events::table
        .into_boxed()
        .filter(settled())
        .order((events::seq.desc(), events::id.desc()))
        .select((events::seq, events::id))
        .first(conn)
        .optional()?
        .unwrap_or((0, 0)))
}

/// The oldest transaction still running (every event of an older one is settled).
pub fn settled_horizon(conn: &mut PgConnection) -> Result<i64, StoreError> {
    #[derive(QueryableByName)]
    struct Horizon {
        #[diesel(sql_type = BigInt)]
        xmin: i64,
    }
    Ok(diesel::sql_query("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS xmin")
        .get_result::<Horizon>(conn)?
        .xmin)
}

/// Deletes events created before `cutoff`, `batch` at a time (each its own statement), at most
/// `max_batches`; returns how many, and whether older ones remain.
pub fn prune_before(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
    max_batches: usize,
) -> Result<(usize, bool), StoreError> {
    let mut total = 0;
    for _ in 0..max_batches {
        let n = prune(conn, cutoff, batch)?;
        total += n;
        if (n as i64) < batch {
            return Ok((total, false));
        }
    }
    Ok((total, true))
}

/// Deletes events created before `cutoff`, at most `batch` at a time; returns how many.
pub fn prune(conn: &mut PgConnection, cutoff: DateTime<Utc>, batch: i64) -> Result<usize, StoreError> {
    Ok(diesel::sql_query(
        // By the primary key (company_id, id), oldest first along events_created_at.
        "DELETE FROM events WHERE (company_id, id) IN
           (SELECT company_id, id FROM events WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(batch)
    .execute(conn)?)
}

/// A connection of its own that LISTENs on `channel`, with its backend pid (so its own NOTIFYs
/// can be told from other instances').
pub fn listen(url: &str, channel: &str) -> Result<(PgConnection, i32), StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let mut conn = <PgConnection as diesel::Connection>::establish(url)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    diesel::sql_query("SET application_name = 'callsync-events'").execute(&mut conn)?;
    diesel::sql_query(format!("LISTEN {channel}")).execute(&mut conn)?;
    let pid = diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Pid>(&mut conn)?.pid;
    Ok((conn, pid))
}

/// Wakes every instance LISTENing on `channel`.
pub fn notify(conn: &mut PgConnection, channel: &str) -> Result<(), StoreError> {
    diesel::sql_query(format!("NOTIFY {channel}")).execute(conn)?;
    Ok(())
}
