//! The company's Do-Not-Call list: adding numbers stops contact with them at once (pending
//! tasks of every customer with one of them, queued calls to them), removing lifts only the
//! list's entry (a consumer's own opt-out stays).

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::customers::{stop_contact, StopReason};
use super::AppError;
use crate::domain::customer::normalize_phone;
use crate::domain::ValidationError;
use crate::store::suppressed;

/// Most numbers per request.
pub const MAX_NUMBERS: usize = 10_000;

/// The numbers as E.164, sorted and without duplicates; one invalid number refuses them all
/// (BAD_USER_INPUT naming `phoneNumbers`).
pub fn normalize_all(numbers: &[String]) -> Result<Vec<String>, ValidationError> {
    if numbers.len() > MAX_NUMBERS {
        return Err(ValidationError::new("phoneNumbers", format!("at most {MAX_NUMBERS} numbers per call")));
    }
    let mut out = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            normalize_phone("phoneNumbers", n).map_err(|_| {
                ValidationError::new("phoneNumbers", format!("phoneNumbers[{i}] is not a valid phone number"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// addSuppressedNumbers: adds the numbers (returns how many were new) and, in the same
/// transaction, cancels the pending tasks of customers with them and the queued calls to them
/// not yet handed to a provider, each with an event.
pub fn add(
    conn: &mut PgConnection,
    company_id: Uuid,
    numbers: &[String],
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let added = suppressed::add(conn, company_id, numbers, now)?;
    stop_contact(conn, company_id, &[], numbers, StopReason::DoNotCall, now)?;
    Ok(added)
}

/// removeSuppressedNumbers: removes the company's entries (returns how many were on the list).
pub fn remove(conn: &mut PgConnection, company_id: Uuid, numbers: &[String]) -> Result<i64, AppError> {
    Ok(suppressed::remove(conn, company_id, numbers)?)
}
