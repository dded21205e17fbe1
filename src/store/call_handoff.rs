//! Handing calls to providers: webhook deliveries due and leased, calls a provider may claim,
//! hand-offs marked, expiry of calls that waited too long.

use crate::domain::tasks::TaskStatus;

use chrono::{DateTime, Duration, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Timestamptz, Uuid as SqlUuid};
use serde_json::{json, Value};
use uuid::Uuid;

use super::customers::{self};
use super::schema::{calls, companies};
use super::StoreError;

use super::calls::*;

/// A call whose hand-off to the company's webhook is due.
pub struct WebhookDelivery {
    pub call: CallRow,
    pub attempt: i32,
    pub url: String,
    /// The signing secret as stored (sealed, or legacy plain text).
    pub secret: Option<crate::domain::StoredSecret>,
    pub body: Value,
}

/// Leases one due webhook delivery for `lease` (another worker skips it meanwhile).
/// `busy` lists companies that already have their share of deliveries in flight.
/// A condition on a call row.
type Condition = Box<dyn BoxableExpression<calls::table, Pg, SqlType = Bool>>;

fn under_rate(now: DateTime<Utc>) -> Condition {
    // Paced: a company's deliveries never exceed its calls per second (calls queued in bulk are
    // paced here rather than refused).
    Box::new(
        sql::<Bool>(
            "(SELECT count(*) FROM calls sent WHERE sent.company_id = calls.company_id
                AND sent.webhook_sent_at > ",
        )
        .bind::<Timestamptz, _>(now - Duration::seconds(1))
        .sql(") < (SELECT calls_per_second_limit FROM companies WHERE companies.id = calls.company_id)"),
    )
}

/// Due for a webhook delivery attempt now, within the company's pace. Only a call still
/// waiting is handed over (a cancelled or failed one never is).
fn due_for_webhook(now: DateTime<Utc>) -> Condition {
    Box::new(
        calls::webhook_next_at.le(now).assume_not_null().and(calls::status.eq("QUEUED")).and(under_rate(now)),
    )
}

/// The next call due for webhook delivery (not locked: the caller locks its customer first):
/// (call, company, customer).
pub fn next_due_webhook(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    busy: &[Uuid],
) -> Result<Option<(Uuid, Uuid, Option<i64>)>, StoreError> {
    Ok(calls::table
        .filter(due_for_webhook(now))
        .filter(diesel::dsl::not(calls::company_id.eq_any(busy)))
        .order(calls::webhook_next_at.asc())
        .select((calls::id, calls::company_id, calls::customer_id))
        .first(conn)
        .optional()?)
}

/// Locks the call if it still meets `condition`; None when it no longer does, or when another
/// instance holds it (skipped, not waited for).
fn lock_if(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
    condition: Condition,
) -> Result<Option<CallRow>, StoreError> {
    Ok(calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::id.eq(call_id))
        .filter(condition)
        .select(CallRow::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?)
}

/// Locks the call if it is still due for delivery (skipped when another instance holds it).
pub fn lock_due_webhook(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<CallRow>, StoreError> {
    lock_if(conn, company_id, call_id, due_for_webhook(now))
}

/// Leases a locked call for delivery (other instances skip it until `now + lease`) and builds
/// what is sent; None when the company's webhook was removed since (the call then waits for an
/// external dialer).
pub fn lease_webhook(
    conn: &mut PgConnection,
    call: CallRow,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Option<WebhookDelivery>, StoreError> {
    let attempt: i32 = diesel::update(calls::table.find((call.company_id, call.id)))
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
        diesel::update(calls::table.find((call.company_id, call.id)))
            .set((
                calls::webhook_next_at.eq(None::<DateTime<Utc>>),
                calls::webhook_sent_at.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)?;
        return Ok(None);
    };
    let customer = match call.customer_id {
        Some(id) => customers::by_ids(conn, call.company_id, &[id])?.pop(),
        None => None,
    };
    let loans = match &customer {
        Some(c) => super::loans::for_customer(conn, c.company_id, c.id)?,
        None => Vec::new(),
    };
    let body = json!({
        "event": "call.queued",
        "call": {
            "id": call.id, "status": call.status, "to": call.to_number, "agentId": call.agent_id,
            "data": call.data, "scheduleId": call.schedule_id, "taskId": call.task_id, "createdAt": call.created_at,
            "expiresAt": call.expires_at,
        },
        "customer": customer.map(|c| json!({
            "id": c.external_id, "firstName": c.first_name, "lastName": c.last_name, "email": c.email,
            "phoneNumber": c.phone_number, "timezone": c.timezone, "state": c.state,
            "externalMetadata": c.external_metadata, "loans": loans,
        })),
    });
    let secret = secret.map(crate::domain::StoredSecret::from_column);
    Ok(Some(WebhookDelivery { call, attempt, url, secret, body }))
}

/// How many of the company's QUEUED calls wait for their webhook delivery (the hand-off queue
/// a new call joins at the back of).
pub fn waiting_for_webhook(conn: &mut PgConnection, company_id: Uuid) -> Result<i64, StoreError> {
    Ok(calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::status.eq("QUEUED"))
        .filter(calls::handed_off_at.is_null())
        .filter(calls::webhook_next_at.is_not_null())
        .count()
        .get_result(conn)?)
}

/// The company's oldest QUEUED calls no provider has yet (not claimed, delivered, or in a
/// delivery now), unlocked: (call, customer).
pub fn claimable(
    conn: &mut PgConnection,
    company_id: Uuid,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, Option<i64>)>, StoreError> {
    Ok(calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(waiting(now))
        .order((calls::created_at.asc(), calls::id.asc()))
        .select((calls::id, calls::customer_id))
        .limit(limit)
        .load(conn)?)
}

/// Locks those of `ids` still claimable, oldest first (skipping any another request holds).
pub fn lock_claimable(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<CallRow>, StoreError> {
    Ok(calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::id.eq_any(ids))
        .filter(waiting(now))
        .order((calls::created_at.asc(), calls::id.asc()))
        .select(CallRow::as_select())
        .for_update()
        .skip_locked()
        .load(conn)?)
}

/// QUEUED, no provider has it yet, and no webhook delivery of it is under way (leased, not yet
/// answered): a call still waiting for its hand-off.
fn waiting(now: DateTime<Utc>) -> Condition {
    Box::new(
        sql::<Bool>(
            "(calls.status = 'QUEUED' AND calls.handed_off_at IS NULL
              AND (calls.webhook_sent_at IS NULL OR calls.webhook_next_at IS NULL OR calls.webhook_next_at <= ",
        )
        .bind::<Timestamptz, _>(now)
        .sql("))"),
    )
}

/// Keeps what the consumer said on the call (`outcome`).
pub fn set_outcome(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
    outcome: &str,
) -> Result<(), StoreError> {
    diesel::update(calls::table.find((company_id, call_id))).set(calls::outcome.eq(outcome)).execute(conn)?;
    Ok(())
}

/// The provider reported the call first at `at`: that was its hand-off.
pub fn mark_handed_off(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(calls::table.find((company_id, call_id)))
        .set((calls::handed_off_at.eq(at), calls::webhook_next_at.eq(None::<DateTime<Utc>>)))
        .execute(conn)?;
    Ok(())
}

/// A pulling provider has these calls now: they stay QUEUED until it reports. Returned oldest
/// first.
pub fn mark_claimed(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<CallRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let of_company = calls::table.filter(calls::company_id.eq(company_id));
    let mut claimed: Vec<CallRow> = diesel::update(of_company.filter(calls::id.eq_any(ids)))
        .set((calls::handed_off_at.eq(now), calls::webhook_next_at.eq(None::<DateTime<Utc>>)))
        .returning(CallRow::as_returning())
        .get_results(conn)?;
    claimed.sort_by_key(|c| (c.created_at, c.id));
    Ok(claimed)
}

/// QUEUED calls past their expiry that no provider has, not in a delivery now, oldest expiry
/// first, unlocked: (call, company, customer).
pub fn expired(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid, Option<i64>)>, StoreError> {
    Ok(calls::table
        .filter(expired_waiting(now))
        .order(calls::expires_at.asc())
        .select((calls::id, calls::company_id, calls::customer_id))
        .limit(limit)
        .load(conn)?)
}

/// Locks the call if it is still an expired, waiting one (see [`expired`]).
pub fn lock_expired(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<CallRow>, StoreError> {
    lock_if(conn, company_id, call_id, expired_waiting(now))
}

/// Still waiting for its hand-off, and past its expiry.
fn expired_waiting(now: DateTime<Utc>) -> Condition {
    Box::new(waiting(now).and(calls::expires_at.assume_not_null().le(now)))
}

/// Cancels a locked QUEUED call for `reason` (EXPIRED, REQUESTED or a refusal's code), with its
/// event; its task, if any, is cancelled too. Nothing is sent for it afterwards.
pub fn cancel_call(
    conn: &mut PgConnection,
    call: &CallRow,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Result<CallRow, StoreError> {
    let disposition = format!("cancelled: {message}");
    let updated: CallRow = diesel::update(calls::table.find((call.company_id, call.id)))
        .set((Cancellation::new(reason, &disposition, now), calls::version.eq(calls::version + 1)))
        .returning(CallRow::as_returning())
        .get_result(conn)?;
    record_status_changed(conn, &updated, &call.status)?;
    if let Some(task_id) = updated.task_id {
        set_task_status(conn, updated.company_id, task_id, TaskStatus::Cancelled, now)?;
    }
    Ok(updated)
}

/// A delivery succeeded: nothing more to send.
/// The provider has the call from the moment it was sent.
pub fn webhook_delivered(conn: &mut PgConnection, company_id: Uuid, call_id: Uuid) -> Result<(), StoreError> {
    diesel::update(calls::table.find((company_id, call_id)))
        .set((
            calls::webhook_next_at.eq(None::<DateTime<Utc>>),
            calls::webhook_last_error.eq(None::<String>),
            calls::handed_off_at
                .eq(diesel::dsl::sql::<Nullable<Timestamptz>>("COALESCE(handed_off_at, webhook_sent_at)")),
        ))
        .execute(conn)?;
    Ok(())
}

/// A delivery failed: try again at `next_at`, or (None) give up.
pub fn webhook_failed(
    conn: &mut PgConnection,
    company_id: Uuid,
    call_id: Uuid,
    error: &str,
    next_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    // Not sent after all: no delivery is under way (the expiry sweep and Do Not Call see it
    // as waiting again).
    diesel::update(calls::table.find((company_id, call_id)))
        .set((
            calls::webhook_next_at.eq(next_at),
            calls::webhook_last_error.eq(error),
            calls::webhook_sent_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Calls with no final status that started before `before`: (call, company), at most 500.
pub fn stuck(conn: &mut PgConnection, before: DateTime<Utc>) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    Ok(calls::table
        .filter(calls::status.eq_any(crate::domain::calls::OPEN_STATUSES.map(|s| s.as_str())))
        .filter(calls::created_at.lt(before))
        .select((calls::id, calls::company_id))
        .limit(500)
        .load(conn)?)
}

/// The newest `first + 1` calls of each of these customers: the first page of
/// `Customer.calls` for a whole list, one query.
pub fn first_pages(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_ids: &[i64],
    first: i64,
) -> Result<Vec<CallRow>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT id, company_id, customer_id, schedule_id, task_id, to_number, status, agent_id, disposition,
                duration_seconds, data, started_at, ended_at, created_at, updated_at, source, version, disposition_id,
                expires_at, handed_off_at, cancel_reason, line_type
           FROM (SELECT c.*, row_number() OVER (PARTITION BY customer_id ORDER BY created_at DESC, id DESC) AS rn
                   FROM calls c
                  WHERE company_id = $1 AND customer_id = ANY($2)) page
          WHERE rn <= $3
          ORDER BY customer_id, created_at DESC, id DESC",
    )
    .bind::<SqlUuid, _>(company_id)
    .bind::<Array<BigInt>, _>(customer_ids)
    .bind::<BigInt, _>(first + 1)
    .load(conn)?)
}
