//! The company's dialling lock and pace: what every path that places a call takes and reads
//! before it decides (the contact policy itself is in `crate::domain`).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use uuid::Uuid;

use super::schema::{calls, companies};
use super::StoreError;
use crate::domain::calls::CallStatus;

/// Serialises the dialling decisions of one company (contact history, rate limit, redial
/// guard) across requests and instances: held until the transaction ends.
pub fn lock_company_dialing(conn: &mut PgConnection, company_id: Uuid) -> Result<(), StoreError> {
    // Two-key form: 7 namespaces callsync's dialling locks; hash collisions only over-serialise.
    diesel::sql_query("SELECT pg_advisory_xact_lock(7, hashtext($1::text))")
        .bind::<SqlUuid, _>(company_id)
        .execute(conn)?;
    Ok(())
}

/// When the schedule placed calls to each of `numbers` since `since` (cancelled ones aside):
/// what its `leadDuplicateTimeframeSeconds` looks at. One query for any number of numbers.
pub fn dialled_by_schedule(
    conn: &mut PgConnection,
    company_id: Uuid,
    schedule_id: Uuid,
    numbers: &[String],
    since: DateTime<Utc>,
) -> Result<std::collections::HashMap<String, Vec<DateTime<Utc>>>, StoreError> {
    let rows: Vec<(String, DateTime<Utc>)> = calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::schedule_id.eq(schedule_id))
        .filter(calls::to_number.eq_any(numbers))
        .filter(calls::created_at.ge(since))
        .filter(calls::status.ne(CallStatus::Cancelled.as_str()))
        .select((calls::to_number, calls::created_at))
        .load(conn)?;
    let mut by_number: std::collections::HashMap<String, Vec<DateTime<Utc>>> = Default::default();
    for (number, at) in rows {
        by_number.entry(number).or_default().push(at);
    }
    Ok(by_number)
}

/// What deciding a call needs of the company: its calls-per-second limit, how many calls it
/// started in the second before `now`, and whether it hands calls to a webhook (then new
/// calls wait for delivery).
pub struct DialingState {
    pub limit: i32,
    pub started_last_second: i64,
    pub has_webhook: bool,
    /// How long a QUEUED call may wait for a provider (`queuedCallTtlSeconds`).
    pub queued_call_ttl: Duration,
}

impl DialingState {
    pub fn at_limit(&self) -> bool {
        self.started_last_second >= i64::from(self.limit)
    }
}

pub fn dialing_state(
    conn: &mut PgConnection,
    company_id: Uuid,
    now: DateTime<Utc>,
) -> Result<DialingState, StoreError> {
    let (limit, webhook, ttl): (i32, Option<String>, i32) = companies::table
        .find(company_id)
        .select((
            companies::calls_per_second_limit,
            companies::call_webhook_url,
            companies::queued_call_ttl_seconds,
        ))
        .first(conn)?;
    let started_last_second: i64 = calls::table
        .filter(calls::company_id.eq(company_id))
        .filter(calls::source.ne("EXTERNAL"))
        // No upper bound: a request that read the clock before the lock must still see calls
        // placed by the requests that held the lock before it.
        .filter(calls::created_at.gt(now - Duration::seconds(1)))
        .count()
        .get_result(conn)?;
    Ok(DialingState {
        limit,
        started_last_second,
        has_webhook: webhook.is_some(),
        queued_call_ttl: Duration::seconds(ttl.into()),
    })
}
