//! Tasks: the planned call attempts of a customer's schedule.

use crate::domain::tasks::TaskStatus;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::customers::CustomerRow;
use super::schedules::ScheduleRow;
use super::schema::{customers, tasks};
use super::{events, Page, PageRequest, StoreError, TimeCursor};

const PENDING: &str = TaskStatus::Pending.as_str();
const CANCELLED: &str = TaskStatus::Cancelled.as_str();

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Serialize, Deserialize)]
#[diesel(table_name = tasks, check_for_backend(Pg))]
pub struct TaskRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub customer_id: i64,
    pub schedule_id: Uuid,
    pub task_type: String,
    pub status: String,
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 1 when created, +1 with every change.
    #[serde(default = "super::calls::first_version")]
    pub version: i32,
}

impl TaskRow {
    /// `scheduled_for` in the zone the task was built in, with its offset (RFC 3339).
    pub fn local_scheduled_for(&self) -> String {
        match crate::domain::calling_rules::parse_zone(&self.time_zone) {
            Some(tz) => self.scheduled_for.with_timezone(&tz).to_rfc3339(),
            None => self.scheduled_for.to_rfc3339(),
        }
    }
}

pub fn get(conn: &mut PgConnection, company_id: Uuid, id: Uuid) -> Result<Option<TaskRow>, StoreError> {
    Ok(tasks::table
        .filter(tasks::company_id.eq(company_id))
        .filter(tasks::id.eq(id))
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_ids(conn: &mut PgConnection, company_id: Uuid, ids: &[Uuid]) -> Result<Vec<TaskRow>, StoreError> {
    Ok(tasks::table
        .filter(tasks::company_id.eq(company_id))
        .filter(tasks::id.eq_any(ids))
        .select(TaskRow::as_select())
        .load(conn)?)
}

/// Which pending tasks to cancel.
enum PendingOf<'a> {
    Customers(&'a [i64]),
    Schedule(Uuid),
}

/// Cancels the company's PENDING tasks `of` these customers or this schedule, each with its
/// event (naming the customer by `refs`, else by its external id read here); returns them.
fn cancel_pending(
    conn: &mut PgConnection,
    company_id: Uuid,
    of: PendingOf<'_>,
    refs: Option<&std::collections::HashMap<i64, &str>>,
    now: DateTime<Utc>,
) -> Result<Vec<TaskRow>, StoreError> {
    let pending = tasks::table.filter(tasks::company_id.eq(company_id)).filter(tasks::status.eq(PENDING));
    let cancel =
        (tasks::status.eq(CANCELLED), tasks::updated_at.eq(now), tasks::version.eq(tasks::version + 1));
    let cancelled: Vec<TaskRow> = match of {
        // A constant changeset: the statement's text is fixed, keep it prepared (a sync runs it).
        PendingOf::Customers(ids) => super::prepared::prepared(
            diesel::update(pending.filter(tasks::customer_id.eq_any(ids)))
                .set(cancel)
                .returning(TaskRow::as_returning()),
        )
        .get_results(conn)?,
        PendingOf::Schedule(id) => diesel::update(pending.filter(tasks::schedule_id.eq(id)))
            .set(cancel)
            .returning(TaskRow::as_returning())
            .get_results(conn)?,
    };
    let read: std::collections::HashMap<i64, String> = match refs {
        Some(_) => Default::default(),
        None => {
            let ids: Vec<i64> = cancelled.iter().map(|t| t.customer_id).collect();
            customers::table
                .filter(customers::company_id.eq(company_id))
                .filter(customers::id.eq_any(&ids))
                .select((customers::id, customers::external_id))
                .load(conn)?
                .into_iter()
                .collect()
        }
    };
    let reference = |id: i64| match refs {
        Some(refs) => refs.get(&id).copied().unwrap_or(""),
        None => read.get(&id).map_or("", String::as_str),
    };
    let with_ref: Vec<_> = cancelled.iter().map(|t| (t, reference(t.customer_id))).collect();
    for chunk in with_ref.chunks(5000) {
        events::record_task_events(conn, company_id, events::TASK_STATUS_CHANGED, Some(PENDING), chunk)?;
    }
    Ok(cancelled)
}

/// Cancels every pending task of the customer, with an event each; returns them.
pub fn cancel_pending_for_customer(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_id: i64,
    customer_ref: &str,
    now: DateTime<Utc>,
) -> Result<Vec<TaskRow>, StoreError> {
    let refs = std::collections::HashMap::from([(customer_id, customer_ref)]);
    cancel_pending(conn, company_id, PendingOf::Customers(&[customer_id]), Some(&refs), now)
}

/// Cancels every pending task of these customers, with an event each.
pub fn cancel_pending_for_customers(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    refs: &std::collections::HashMap<i64, &str>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(cancel_pending(conn, company_id, PendingOf::Customers(customer_ids), Some(refs), now)?.len())
}

/// Cancels the schedule's PENDING tasks, each with its event; returns how many.
pub fn cancel_pending_for_schedule(
    conn: &mut PgConnection,
    company_id: Uuid,
    schedule_id: Uuid,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(cancel_pending(conn, company_id, PendingOf::Schedule(schedule_id), None, now)?.len())
}

/// A task of any customer to insert.
pub struct NewTaskRow {
    pub customer_id: i64,
    pub schedule_id: Uuid,
    pub task_type: String,
    pub time_zone: String,
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
}

/// Inserts pending tasks of many customers (a statement per 5,000) with a CREATED event each;
/// returns how many.
pub fn insert_pending_many(
    conn: &mut PgConnection,
    company_id: Uuid,
    new_tasks: &[NewTaskRow],
    refs: &std::collections::HashMap<i64, &str>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    for chunk in new_tasks.chunks(5000) {
        let rows: Vec<TaskRow> = chunk
            .iter()
            .map(|t| TaskRow {
                id: Uuid::new_v4(),
                company_id,
                customer_id: t.customer_id,
                schedule_id: t.schedule_id,
                task_type: t.task_type.clone(),
                status: PENDING.to_string(),
                attempt: t.attempt,
                scheduled_for: t.scheduled_for,
                time_zone: t.time_zone.clone(),
                created_at: now,
                updated_at: now,
                version: 1,
            })
            .collect();
        let customer_refs: Vec<&str> =
            rows.iter().map(|t| refs.get(&t.customer_id).copied().unwrap_or("")).collect();
        insert_with_events(conn, company_id, &rows, &customer_refs)?;
    }
    Ok(new_tasks.len())
}

/// A task to insert.
pub struct NewTask {
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
}

/// Inserts pending tasks for the customer with a CREATED event each (one statement).
pub fn insert_pending(
    conn: &mut PgConnection,
    customer: &CustomerRow,
    schedule: &ScheduleRow,
    time_zone: &str,
    new_tasks: &[NewTask],
    now: DateTime<Utc>,
) -> Result<Vec<TaskRow>, StoreError> {
    let mut rows: Vec<TaskRow> = new_tasks
        .iter()
        .map(|t| TaskRow {
            id: Uuid::new_v4(),
            company_id: customer.company_id,
            customer_id: customer.id,
            schedule_id: schedule.id,
            task_type: schedule.task_type.clone(),
            status: PENDING.to_string(),
            attempt: t.attempt,
            scheduled_for: t.scheduled_for,
            time_zone: time_zone.to_string(),
            created_at: now,
            updated_at: now,
            version: 1,
        })
        .collect();
    rows.sort_by_key(|t| (t.scheduled_for, t.attempt));
    let refs = vec![customer.external_id.as_str(); rows.len()];
    insert_with_events(conn, customer.company_id, &rows, &refs)?;
    Ok(rows)
}

/// Inserts new tasks, each with its TASK_CREATED event (`customer_refs[i]` is the external id of
/// task i's customer), in one statement: its text is the same for any number of rows, and one
/// round trip writes both tables.
fn insert_with_events(
    conn: &mut PgConnection,
    company_id: Uuid,
    rows: &[TaskRow],
    customer_refs: &[&str],
) -> Result<(), StoreError> {
    use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Text};
    if rows.is_empty() {
        return Ok(());
    }
    let payloads: Vec<serde_json::Value> = rows
        .iter()
        .zip(customer_refs)
        .map(|(task, customer_ref)| events::task_payload(task, customer_ref, None))
        .collect();
    let column = |f: fn(&TaskRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let statement = diesel::sql_query(
        "WITH inserted AS (
           INSERT INTO tasks (id, company_id, customer_id, schedule_id, task_type, status, attempt,
                              scheduled_for, time_zone, created_at, updated_at, version)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::text[], $6::text[],
                                $7::int4[], $8::timestamptz[], $9::text[], $10::timestamptz[],
                                $11::timestamptz[], $12::int4[]))
         INSERT INTO events (company_id, kind, payload, created_at)
         SELECT $13, $14, payload, at FROM unnest($15::jsonb[], $11::timestamptz[]) WITH ORDINALITY AS e(payload, at, n)
         ORDER BY n",
    )
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|t| t.id).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|t| t.company_id).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|t| t.customer_id).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|t| t.schedule_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(column(|t| t.task_type.clone()))
    .bind::<Array<Text>, _>(column(|t| t.status.clone()))
    .bind::<Array<Integer>, _>(rows.iter().map(|t| t.attempt).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(rows.iter().map(|t| t.scheduled_for).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(column(|t| t.time_zone.clone()))
    .bind::<Array<Timestamptz>, _>(rows.iter().map(|t| t.created_at).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(rows.iter().map(|t| t.updated_at).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(rows.iter().map(|t| t.version).collect::<Vec<_>>())
    .bind::<SqlUuid, _>(company_id)
    .bind::<Text, _>(events::TASK_CREATED)
    .bind::<Array<Jsonb>, _>(payloads);
    // Constant text for any number of tasks (arrays): prepared once per connection.
    super::prepared::prepared(statement).execute(conn)?;
    Ok(())
}

/// Pending task counts per schedule.
pub fn pending_counts(
    conn: &mut PgConnection,
    company_id: Uuid,
    schedule_ids: &[Uuid],
) -> Result<HashMap<Uuid, i64>, StoreError> {
    let rows: Vec<(Uuid, i64)> = tasks::table
        .filter(tasks::company_id.eq(company_id))
        .filter(tasks::schedule_id.eq_any(schedule_ids))
        .filter(tasks::status.eq(PENDING))
        .group_by(tasks::schedule_id)
        .select((tasks::schedule_id, diesel::dsl::count_star()))
        .load(conn)?;
    let mut counts: HashMap<Uuid, i64> = schedule_ids.iter().map(|id| (*id, 0)).collect();
    counts.extend(rows);
    Ok(counts)
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// The customer's external id (the integration's).
    pub customer_external_id: Option<String>,
    /// The customer's row id (for `Customer.tasks`).
    pub customer_id: Option<i64>,
    pub schedule_id: Option<Uuid>,
    pub statuses: Option<Vec<String>>,
    pub scheduled_from: Option<DateTime<Utc>>,
    pub scheduled_to: Option<DateTime<Utc>>,
}

fn filtered<'a>(company_id: Uuid, f: &'a TaskFilter) -> tasks::BoxedQuery<'a, Pg> {
    let mut q = tasks::table.filter(tasks::company_id.eq(company_id)).into_boxed();
    if let Some(external_id) = &f.customer_external_id {
        let customer = customers::table
            .filter(customers::company_id.eq(company_id))
            .filter(customers::external_id.eq(external_id))
            .select(customers::id)
            .single_value();
        q = q.filter(tasks::customer_id.nullable().eq(customer));
    }
    if let Some(id) = f.customer_id {
        q = q.filter(tasks::customer_id.eq(id));
    }
    if let Some(id) = f.schedule_id {
        q = q.filter(tasks::schedule_id.eq(id));
    }
    if let Some(statuses) = &f.statuses {
        q = q.filter(tasks::status.eq_any(statuses));
    }
    if let Some(from) = f.scheduled_from {
        q = q.filter(tasks::scheduled_for.ge(from));
    }
    if let Some(to) = f.scheduled_to {
        q = q.filter(tasks::scheduled_for.lt(to));
    }
    q
}

/// A page of tasks ordered by `scheduled_for` (then id).
pub fn list(
    conn: &mut PgConnection,
    company_id: Uuid,
    filter: &TaskFilter,
    page: &PageRequest<(), TimeCursor>,
) -> Result<Page<TaskRow>, StoreError> {
    let total_count =
        if page.with_total { Some(filtered(company_id, filter).count().get_result(conn)?) } else { None };
    let mut q = filtered(company_id, filter);
    if let Some(c) = &page.after {
        q = q.filter(
            sql::<Bool>("(tasks.scheduled_for, tasks.id) > (")
                .bind::<Timestamptz, _>(c.at()?)
                .sql(", ")
                .bind::<SqlUuid, _>(c.id())
                .sql(")"),
        );
    }
    let mut rows: Vec<TaskRow> = q
        .order((tasks::scheduled_for.asc(), tasks::id.asc()))
        .limit(page.first + 1)
        .select(TaskRow::as_select())
        .load(conn)?;
    let has_next_page = rows.len() as i64 > page.first;
    rows.truncate(page.first as usize);
    let rows =
        rows.into_iter().map(|row| (TimeCursor::new(row.scheduled_for, row.id).encode(), row)).collect();
    Ok(Page { rows, has_next_page, total_count })
}

/// The first `first + 1` tasks (by `scheduled_for`, then id) of each of these customers, with
/// these statuses if given: the first page of `Customer.tasks` for a whole list, one query.
pub fn first_pages(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    statuses: Option<&[String]>,
    first: i64,
) -> Result<Vec<TaskRow>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT id, company_id, customer_id, schedule_id, task_type, status, attempt, scheduled_for, time_zone,
                created_at, updated_at, version
           FROM (SELECT t.*, row_number() OVER (PARTITION BY customer_id ORDER BY scheduled_for, id) AS rn
                   FROM tasks t
                  WHERE company_id = $1 AND customer_id = ANY($2) AND ($3 OR status = ANY($4))) page
          WHERE rn <= $5
          ORDER BY customer_id, scheduled_for, id",
    )
    .bind::<SqlUuid, _>(company_id)
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(customer_ids)
    .bind::<Bool, _>(statuses.is_none())
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(statuses.unwrap_or(&[]))
    .bind::<diesel::sql_types::BigInt, _>(first + 1)
    .load(conn)?)
}
