//! Hand-off: the moment a provider gets a QUEUED call (its webhook delivery is sent, a pulling
//! provider claims it, or the first report arrives for a call never handed over). The contact
//! policy decides again then, with the whole history at that instant: a call allowed when it
//! was queued may have become one the law forbids (the window closed, a conversation was
//! recorded, the number was marked Do Not Call). A refused call is cancelled, with its reason
//! and an event, and never sent. A call that waited past its expiry is cancelled too.
//!
//! Locks, always in this order, as every other path that dials: the customer's row, the
//! company's dialling lock, then the call's row.

use chrono::{DateTime, Duration, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::contact::{self, DecideRequest};
use super::AppError;
use crate::domain::contact_policy::{LineType, Refusal};
use crate::store::calls::{self as store, CallRow, WebhookDelivery};
use crate::store::customers::{self, CustomerRow};
use crate::store::schedules;

/// `cancelReason` of a call that waited past its `expiresAt`.
pub const EXPIRED: &str = "EXPIRED";
/// `cancelReason` of a call cancelled on request (cancelCommunications, a deleted schedule).
pub const REQUESTED: &str = "REQUESTED";

/// What the policy says at hand-off.
#[derive(Debug, Clone)]
pub enum Verdict {
    Go,
    Refused(Refusal),
    /// Past `expiresAt`.
    Expired,
    /// Its schedule was deleted since.
    ScheduleDeleted,
}

impl Verdict {
    /// The cancellation this verdict calls for: (`cancelReason`, message); None for Go.
    fn cancellation(&self) -> Option<(String, String)> {
        match self {
            Verdict::Go => None,
            Verdict::Refused(r) => Some((r.code.as_str().to_string(), r.message.clone())),
            Verdict::Expired => Some((EXPIRED.into(), "it waited past its expiry for a provider".into())),
            Verdict::ScheduleDeleted => Some((REQUESTED.into(), "its schedule was deleted".into())),
        }
    }
}

/// Decides a locked QUEUED call again at `at` (the caller holds the customer's row and the
/// company's dialling lock). The call's own attempt is not in its history.
pub fn decide(
    conn: &mut PgConnection,
    call: &CallRow,
    customer: Option<&CustomerRow>,
    at: DateTime<Utc>,
) -> Result<Verdict, AppError> {
    let customers: Vec<CustomerRow> = customer.into_iter().cloned().collect();
    Ok(decide_many(conn, call.company_id, std::slice::from_ref(call), &customers, at)?.remove(0))
}

/// [`decide`] for several locked calls of one company at once (see [`contact::decide`]).
pub fn decide_many(
    conn: &mut PgConnection,
    company_id: Uuid,
    calls: &[CallRow],
    customers: &[CustomerRow],
    at: DateTime<Utc>,
) -> Result<Vec<Verdict>, AppError> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    // Live schedules only: a deleted one is not among them.
    let schedules = schedules::live_schedules(conn, company_id)?;
    let mut verdicts: Vec<Option<Verdict>> = Vec::with_capacity(calls.len());
    let mut requests = Vec::new();
    for call in calls {
        let schedule = schedules.iter().find(|s| Some(s.id) == call.schedule_id);
        verdicts.push(match schedule {
            _ if call.expires_at.is_some_and(|expiry| at >= expiry) => Some(Verdict::Expired),
            None => Some(Verdict::ScheduleDeleted),
            Some(schedule) => {
                requests.push(DecideRequest {
                    customer: call.customer_id.and_then(|id| customers.iter().find(|c| c.id == id)),
                    number: &call.to_number,
                    schedule,
                    own_attempt: Some(call.created_at),
                    line: call.line_type.as_deref().and_then(LineType::from_code),
                });
                None
            }
        });
    }
    let mut decided =
        contact::decide(conn, company_id, &requests, at, contact::HistoryWindow::dialling(at))?.into_iter();
    Ok(verdicts
        .into_iter()
        .map(|v| {
            v.unwrap_or_else(|| match decided.next().map(|d| d.verdict) {
                Some(Ok(())) => Verdict::Go,
                Some(Err(refusal)) => Verdict::Refused(refusal),
                None => Verdict::ScheduleDeleted,
            })
        })
        .collect())
}

/// Cancels the call for what `verdict` says; returns the cancelled call (None for Go).
pub fn cancel_for(
    conn: &mut PgConnection,
    call: &CallRow,
    verdict: &Verdict,
    now: DateTime<Utc>,
) -> Result<Option<CallRow>, AppError> {
    let Some((reason, message)) = verdict.cancellation() else { return Ok(None) };
    Ok(Some(store::cancel_call(conn, call, &reason, &message, now)?))
}

/// The customer's row, locked (the first lock of the order), if the call has a customer.
fn lock_customer(
    conn: &mut PgConnection,
    company_id: Uuid,
    customer_id: Option<i64>,
) -> Result<Option<CustomerRow>, AppError> {
    Ok(match customer_id {
        Some(id) => customers::lock_many(conn, company_id, &[id])?.pop(),
        None => None,
    })
}

/// One step of webhook delivery (no Debug: a delivery carries the webhook's secret).
pub enum WebhookStep {
    /// Nothing is due.
    Idle,
    /// Another instance took the call meanwhile, or the webhook was removed: look again.
    Skipped,
    /// The policy refused the call now (or it expired): cancelled, not sent.
    Cancelled(Box<CallRow>),
    Deliver(Box<WebhookDelivery>),
}

/// Takes the next call due for webhook delivery, decides it again now, and leases it for
/// sending (or cancels it). One call per transaction, so no transaction holds two companies'
/// dialling locks.
pub fn next_webhook(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease: Duration,
    busy: &[Uuid],
) -> Result<WebhookStep, AppError> {
    let Some((call_id, company_id, customer_id)) = store::next_due_webhook(conn, now, busy)? else {
        return Ok(WebhookStep::Idle);
    };
    let customer = lock_customer(conn, company_id, customer_id)?;
    store::lock_company_dialing(conn, company_id)?;
    let Some(call) = store::lock_due_webhook(conn, company_id, call_id, now)? else {
        return Ok(WebhookStep::Skipped);
    };
    let verdict = decide(conn, &call, customer.as_ref(), now)?;
    if let Some(cancelled) = cancel_for(conn, &call, &verdict, now)? {
        return Ok(WebhookStep::Cancelled(Box::new(cancelled)));
    }
    Ok(match store::lease_webhook(conn, call, now, lease)? {
        Some(delivery) => WebhookStep::Deliver(Box::new(delivery)),
        None => WebhookStep::Skipped,
    })
}

/// Most calls one claimCalls hands over.
pub const MAX_CLAIM: i64 = 100;

/// claimCalls: hands up to `limit` of the company's QUEUED calls, oldest first, to a provider
/// that pulls; each is decided again now, and refused (or expired) ones are cancelled and left
/// out. Concurrent claims never return the same call.
pub fn claim_calls(
    conn: &mut PgConnection,
    company_id: Uuid,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<CallRow>, AppError> {
    if !(1..=MAX_CLAIM).contains(&limit) {
        let message = format!("limit must be between 1 and {MAX_CLAIM}");
        return Err(crate::domain::ValidationError::new("limit", message).into());
    }
    // Room for the refused ones: the policy may cancel some of the oldest.
    let candidates = store::claimable(conn, company_id, now, limit * 2)?;
    let mut customer_ids: Vec<i64> = candidates.iter().filter_map(|(_, c)| *c).collect();
    customer_ids.sort_unstable();
    customer_ids.dedup();
    let customers = customers::lock_many(conn, company_id, &customer_ids)?;
    store::lock_company_dialing(conn, company_id)?;
    let ids: Vec<Uuid> = candidates.iter().map(|(id, _)| *id).collect();
    let locked = store::lock_claimable(conn, company_id, &ids, now)?;
    let verdicts = decide_many(conn, company_id, &locked, &customers, now)?;
    let mut allowed = Vec::new();
    for (call, verdict) in locked.iter().zip(&verdicts) {
        if cancel_for(conn, call, verdict, now)?.is_none() && (allowed.len() as i64) < limit {
            allowed.push(call.id);
        }
    }
    Ok(store::mark_claimed(conn, company_id, &allowed, now)?)
}

/// Cancels QUEUED calls that waited past their expiry (at most `limit`); returns how many.
pub fn expire_waiting(conn: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> Result<usize, AppError> {
    let expired = store::expired(conn, now, limit)?;
    // Customers' rows first, in id order, as every path that locks several.
    let mut customer_ids: Vec<(Uuid, i64)> =
        expired.iter().filter_map(|(_, co, cu)| cu.map(|cu| (*co, cu))).collect();
    customer_ids.sort_unstable_by_key(|(_, id)| *id);
    for (company_id, customer_id) in customer_ids {
        customers::lock_many(conn, company_id, &[customer_id])?;
    }
    let mut cancelled = 0;
    for (call_id, company_id, _) in expired {
        if let Some(call) = store::lock_expired(conn, company_id, call_id, now)? {
            cancel_for(conn, &call, &Verdict::Expired, now)?;
            cancelled += 1;
        }
    }
    Ok(cancelled)
}
