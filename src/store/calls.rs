//! Calls: rows, inserts with their events, status updates, lists. SQL only: the rules live in
//! `crate::domain` and the use-cases in `crate::app`. The company's dialling lock and pace are
//! in `dialing`, the hand-off to providers in `call_handoff`, contact histories in
//! `contact_history`.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::customers::CustomerRow;
use super::schedules::ScheduleRow;
use super::schema::{calls, customers as customers_table, schedules as schedules_table};
use super::{Page, PageRequest, StoreError, TimeCursor};
use crate::domain::calls::{CallSource, CallStatus};

pub use super::call_handoff::*;
pub use super::contact_history::*;
pub use super::task_dialing::*;

pub use super::dialing::{dialing_state, dialled_by_schedule, lock_company_dialing, DialingState};

pub const CALL_CREATED: &str = "CALL_CREATED";
pub const CALL_STATUS_CHANGED: &str = "CALL_STATUS_CHANGED";
pub const TASK_RESCHEDULED: &str = "TASK_RESCHEDULED";

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Serialize, Deserialize)]
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
    /// When the attempt was made (for a recorded external attempt: when it happened).
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// MAKE_CALL, SCHEDULED, BULK or EXTERNAL.
    #[serde(default = "make_call_source")]
    pub source: String,
    /// 1 when created, +1 with every change.
    #[serde(default = "first_version")]
    pub version: i32,
    #[serde(default)]
    pub disposition_id: Option<String>,
    /// A QUEUED call stops waiting then (cancelled with reason EXPIRED).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When a provider got it: webhook delivered, claimed, or its first report.
    #[serde(default)]
    pub handed_off_at: Option<DateTime<Utc>>,
    /// Why a CANCELLED call was cancelled: EXPIRED, REQUESTED, or a refusal's code.
    #[serde(default)]
    pub cancel_reason: Option<String>,
    /// The kind of line, when the caller said (WIRELESS, LANDLINE, VOIP, UNKNOWN).
    #[serde(default)]
    pub line_type: Option<String>,
}

fn make_call_source() -> String {
    "MAKE_CALL".into()
}

pub(crate) fn first_version() -> i32 {
    1
}

/// What a call event carries: the call right after the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEventPayload {
    pub call: CallRow,
    pub customer_ref: Option<String>,
    pub previous_status: Option<String>,
}

/// A call event's payload: [`CallEventPayload`] as JSON.
pub fn call_payload(call: &CallRow, customer_ref: Option<&str>, previous_status: Option<&str>) -> Value {
    json!({"call": call, "customerRef": customer_ref, "previousStatus": previous_status})
}

/// Records one event of `kind` per call; `with_refs` pairs each call with its customer's
/// external id (None for a one-off call).
pub fn record_call_events(
    conn: &mut PgConnection,
    kind: &str,
    with_refs: &[(&CallRow, Option<&str>, Option<&str>)],
) -> Result<(), StoreError> {
    for chunk in with_refs.chunks(5000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(call, customer_ref, previous)| {
                let payload = call_payload(call, *customer_ref, *previous);
                (
                    super::schema::events::company_id.eq(call.company_id),
                    super::schema::events::kind.eq(kind),
                    super::schema::events::payload.eq(payload),
                    // The change's own instant (the injected clock's), never the database's.
                    super::schema::events::created_at.eq(call.updated_at),
                )
            })
            .collect();
        diesel::insert_into(super::schema::events::table).values(rows).execute(conn)?;
    }
    Ok(())
}

/// Records the status change of one call from `previous`, with its customer's external id.
pub(super) fn record_status_changed(
    conn: &mut PgConnection,
    updated: &CallRow,
    previous: &str,
) -> Result<(), StoreError> {
    let customer_ref = customer_ref_of(conn, updated.company_id, updated.customer_id)?;
    record_call_events(conn, CALL_STATUS_CHANGED, &[(updated, customer_ref.as_deref(), Some(previous))])
}

/// What cancelling a call writes besides the next version: CANCELLED for `cancel_reason`,
/// ended now, and no webhook attempt left.
#[derive(AsChangeset)]
#[diesel(table_name = calls, treat_none_as_null = true)]
pub(super) struct Cancellation<'a> {
    status: &'static str,
    cancel_reason: &'a str,
    disposition: &'a str,
    ended_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    webhook_next_at: Option<DateTime<Utc>>,
}

impl<'a> Cancellation<'a> {
    pub(super) fn new(reason: &'a str, disposition: &'a str, now: DateTime<Utc>) -> Self {
        Cancellation {
            status: CallStatus::Cancelled.as_str(),
            cancel_reason: reason,
            disposition,
            ended_at: now,
            updated_at: now,
            webhook_next_at: None,
        }
    }
}

pub(crate) fn customer_ref_of(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_id: Option<i64>,
) -> Result<Option<String>, StoreError> {
    match customer_id {
        Some(id) => Ok(customers_table::table
            .find((company_id, id))
            .select(customers_table::external_id)
            .first(conn)
            .optional()?),
        None => Ok(None),
    }
}

/// A call to insert.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub company_id: Uuid,
    pub customer_id: Option<i64>,
    /// The customer's external id, for the event.
    pub customer_ref: Option<String>,
    pub schedule_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub to_number: String,
    pub status: &'static str,
    pub source: &'static str,
    pub agent_id: Option<String>,
    pub disposition_id: Option<String>,
    pub data: Option<Value>,
    pub duration_seconds: Option<i32>,
    /// When the attempt is (or was) made.
    pub at: DateTime<Utc>,
    /// Set for a final status (a recorded attempt).
    pub ended_at: Option<DateTime<Utc>>,
    /// Queue the webhook hand-off.
    pub hand_off: bool,
    /// A QUEUED call's expiry (see `ContactPolicy::expiry`).
    pub expires_at: Option<DateTime<Utc>>,
    /// The kind of line, when the caller said.
    pub line_type: Option<&'static str>,
}

impl NewCall {
    /// A call to `number` through `schedule`, QUEUED at `at`; the caller sets what else applies
    /// (task, agent, data, hand-off).
    pub fn queued(
        schedule: &ScheduleRow,
        customer: Option<&CustomerRow>,
        number: &str,
        source: CallSource,
        at: DateTime<Utc>,
    ) -> NewCall {
        NewCall {
            company_id: schedule.company_id,
            customer_id: customer.map(|c| c.id),
            customer_ref: customer.map(|c| c.external_id.clone()),
            schedule_id: Some(schedule.id),
            task_id: None,
            to_number: number.to_string(),
            status: CallStatus::Queued.as_str(),
            source: source.as_str(),
            agent_id: None,
            disposition_id: None,
            data: None,
            duration_seconds: None,
            at,
            ended_at: None,
            hand_off: false,
            expires_at: None,
            line_type: None,
        }
    }
}

/// Inserts calls with a CALL_CREATED event each (one statement per 5,000: its text is the same
/// for any number of rows, and one round trip writes both tables), and counts them on their
/// schedules. Returns them in input order.
pub fn insert_calls(
    conn: &mut PgConnection,
    new_calls: &[NewCall],
    now: DateTime<Utc>,
) -> Result<Vec<CallRow>, StoreError> {
    use diesel::sql_types::{Integer, Jsonb};
    let out: Vec<CallRow> = new_calls
        .iter()
        .map(|c| CallRow {
            id: Uuid::new_v4(),
            company_id: c.company_id,
            customer_id: c.customer_id,
            schedule_id: c.schedule_id,
            task_id: c.task_id,
            to_number: c.to_number.clone(),
            status: c.status.to_string(),
            agent_id: c.agent_id.clone(),
            disposition: None,
            duration_seconds: c.duration_seconds,
            data: c.data.clone(),
            started_at: c.ended_at.map(|_| c.at),
            ended_at: c.ended_at,
            created_at: c.at,
            updated_at: now,
            source: c.source.to_string(),
            version: 1,
            disposition_id: c.disposition_id.clone(),
            expires_at: c.expires_at,
            handed_off_at: None,
            cancel_reason: None,
            line_type: c.line_type.map(str::to_string),
        })
        .collect();
    for (rows, calls) in out.chunks(5000).zip(new_calls.chunks(5000)) {
        let payloads: Vec<Value> = rows
            .iter()
            .zip(calls)
            .map(|(row, c)| call_payload(row, c.customer_ref.as_deref(), None))
            .collect();
        let column = |f: fn(&CallRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
        diesel::sql_query(
            "WITH inserted AS (
               INSERT INTO calls (id, company_id, customer_id, schedule_id, task_id, to_number, status, agent_id,
                                  duration_seconds, data, started_at, ended_at, created_at, updated_at, source,
                                  version, disposition_id, webhook_next_at, expires_at, line_type)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::uuid[], $6::text[],
                                    $7::text[], $8::text[], $9::int4[], $10::jsonb[], $11::timestamptz[],
                                    $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::text[],
                                    $16::int4[], $17::text[], $18::timestamptz[], $21::timestamptz[],
                                    $22::text[]))
             INSERT INTO events (company_id, kind, payload, created_at)
             SELECT company_id, $19, payload, at
             FROM unnest($2::uuid[], $20::jsonb[], $14::timestamptz[]) WITH ORDINALITY AS e(company_id, payload, at, n)
             ORDER BY n",
        )
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.company_id).collect::<Vec<_>>())
        .bind::<Array<Nullable<BigInt>>, _>(rows.iter().map(|r| r.customer_id).collect::<Vec<_>>())
        .bind::<Array<Nullable<SqlUuid>>, _>(rows.iter().map(|r| r.schedule_id).collect::<Vec<_>>())
        .bind::<Array<Nullable<SqlUuid>>, _>(rows.iter().map(|r| r.task_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.to_number.clone()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.status.clone()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(column(|r| r.agent_id.clone()))
        .bind::<Array<Nullable<Integer>>, _>(rows.iter().map(|r| r.duration_seconds).collect::<Vec<_>>())
        .bind::<Array<Nullable<Jsonb>>, _>(rows.iter().map(|r| r.data.clone()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(rows.iter().map(|r| r.started_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(rows.iter().map(|r| r.ended_at).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.source.clone()).collect::<Vec<_>>())
        .bind::<Array<Integer>, _>(rows.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(column(|r| r.disposition_id.clone()))
        .bind::<Array<Nullable<Timestamptz>>, _>(calls.iter().map(|c| c.hand_off.then_some(now)).collect::<Vec<_>>())
        .bind::<Text, _>(CALL_CREATED)
        .bind::<Array<Jsonb>, _>(payloads)
        .bind::<Array<Nullable<Timestamptz>>, _>(rows.iter().map(|r| r.expires_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(column(|r| r.line_type.clone()))
        .execute(conn)?;
    }
    let mut per_schedule: std::collections::BTreeMap<(Uuid, Uuid), (i32, DateTime<Utc>)> = Default::default();
    for c in new_calls {
        if let Some(id) = c.schedule_id {
            let entry = per_schedule.entry((c.company_id, id)).or_insert((0, c.at));
            entry.0 += 1;
            entry.1 = entry.1.max(c.at);
        }
    }
    for (key, (count, last)) in per_schedule {
        diesel::update(schedules_table::table.find(key))
            .set((
                schedules_table::calls_count.eq(schedules_table::calls_count + count),
                schedules_table::last_call_at.eq(sql::<Nullable<Timestamptz>>(
                    "GREATEST(schedules.last_call_at, ",
                )
                .bind::<Timestamptz, _>(last)
                .sql(")")),
            ))
            .execute(conn)?;
    }
    Ok(out)
}

/// A call status change to write.
pub struct StatusUpdate<'a> {
    pub status: &'a str,
    pub disposition: Option<&'a str>,
    pub duration_seconds: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Locks the company's call for a status change.
pub fn lock_call(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
) -> Result<Option<CallRow>, StoreError> {
    Ok(calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::id.eq(call_id))
        .select(CallRow::as_select())
        .for_update()
        .first(conn)
        .optional()?)
}

/// Writes a status change (the next version) with its event. A final status stops any
/// pending webhook hand-off.
pub fn update_status(
    conn: &mut PgConnection,
    call: &CallRow,
    update: &StatusUpdate<'_>,
    is_final: bool,
    now: DateTime<Utc>,
) -> Result<CallRow, StoreError> {
    let updated: CallRow = diesel::update(calls::table.find((call.company_id, call.id)))
        .set((
            calls::status.eq(update.status),
            calls::disposition.eq(update.disposition.or(call.disposition.as_deref())),
            calls::duration_seconds.eq(update.duration_seconds.or(call.duration_seconds)),
            calls::started_at.eq(update.started_at),
            calls::ended_at.eq(update.ended_at),
            calls::updated_at.eq(now),
            calls::version.eq(calls::version + 1),
        ))
        .returning(CallRow::as_returning())
        .get_result(conn)?;
    if is_final {
        diesel::update(calls::table.find((call.company_id, call.id)))
            .set(calls::webhook_next_at.eq(None::<DateTime<Utc>>))
            .execute(conn)?;
    }
    record_status_changed(conn, &updated, &call.status)?;
    Ok(updated)
}

/// Cancels the QUEUED calls not yet handed to a provider, of these customers or to these
/// numbers, each with its event; returns them.
pub fn cancel_queued(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    numbers: &[String],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<CallRow>, StoreError> {
    let cancelled: Vec<CallRow> = diesel::update(
        calls::table
            .filter(calls::company_id.eq(company_id))
            .filter(calls::status.eq("QUEUED"))
            .filter(calls::webhook_sent_at.is_null())
            .filter(calls::customer_id.eq_any(customer_ids).or(calls::to_number.eq_any(numbers))),
    )
    .set((
        Cancellation::new(
            reason,
            if reason == "REQUESTED" { "cancelled: on request" } else { "cancelled: Do Not Call" },
            now,
        ),
        calls::version.eq(calls::version + 1),
    ))
    .returning(CallRow::as_returning())
    .get_results(conn)?;
    let ids: Vec<i64> = cancelled.iter().filter_map(|c| c.customer_id).collect();
    let refs: std::collections::HashMap<i64, String> = customers_table::table
        .filter(customers_table::company_id.eq(company_id))
        .filter(customers_table::id.eq_any(&ids))
        .select((customers_table::id, customers_table::external_id))
        .load(conn)?
        .into_iter()
        .collect();
    let with_refs: Vec<_> = cancelled
        .iter()
        .map(|c| (c, c.customer_id.and_then(|id| refs.get(&id)).map(String::as_str), Some("QUEUED")))
        .collect();
    record_call_events(conn, CALL_STATUS_CHANGED, &with_refs)?;
    Ok(cancelled)
}

pub(crate) fn customer_ref(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_id: i64,
) -> Result<String, StoreError> {
    customer_ref_of(conn, company_id, Some(customer_id))?.ok_or(StoreError::NotFound)
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
    /// The customer's external id (the integration's).
    pub customer_external_id: Option<String>,
    /// The customer's row id (for `Customer.calls`).
    pub customer_id: Option<i64>,
    pub schedule_id: Option<Uuid>,
    pub statuses: Option<Vec<String>>,
}

fn filtered<'a>(company_id: Uuid, f: &'a CallFilter) -> calls::BoxedQuery<'a, Pg> {
    let mut q = calls::table.filter(calls::company_id.eq(company_id)).into_boxed();
    if let Some(external_id) = &f.customer_external_id {
        let customer = customers_table::table
            .filter(customers_table::company_id.eq(company_id))
            .filter(customers_table::external_id.eq(external_id))
            .select(customers_table::id)
            .single_value();
        q = q.filter(calls::customer_id.eq(customer));
    }
    if let Some(id) = f.customer_id {
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
