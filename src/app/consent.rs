//! Consent per number: record it (with its evidence), revoke it (at once: the number's pending
//! tasks and queued calls are cancelled), and say what is on file.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::customers::{stop_contact, StopReason};
use super::AppError;
use crate::store::consents::{self, ConsentRow, NewConsent};
use crate::store::customers::CustomerRow;
use crate::store::StoreError;

pub use crate::domain::consumer::ConsentGiven;

/// Records a consent for `number` (E.164). Obtained in the future, or evidence over 2,000
/// characters, is BAD_USER_INPUT naming `field`.obtainedAt / .evidence; nothing is written.
pub fn record(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
    given: &ConsentGiven,
    field: &str,
    now: DateTime<Utc>,
) -> Result<ConsentRow, AppError> {
    let given = given.validated(field, now)?;
    let consent = NewConsent {
        consent_type: given.consent_type,
        source: given.source,
        evidence: given.evidence.as_deref(),
        obtained_at: given.obtained_at,
    };
    Ok(consents::record(conn, company_id, number, &consent, now)?)
}

/// The consent on file for `number`: the strongest unrevoked one, else the latest revoked one,
/// else the default of a customer's own number; None when there is none.
pub fn on_file(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
) -> Result<Option<ConsentRow>, StoreError> {
    match consents::on_file(conn, company_id, &[number.to_string()])?.pop() {
        Some(row) => Ok(Some(row)),
        None => consents::default_for(conn, company_id, number),
    }
}

/// The consent on file for the customer's number (None without a number).
pub fn on_file_for(
    conn: &mut PgConnection,
    customer: &CustomerRow,
) -> Result<Option<ConsentRow>, StoreError> {
    match &customer.phone_number {
        Some(number) => on_file(conn, customer.company_id, number),
        None => Ok(None),
    }
}

/// revokeConsent: every consent of the number is revoked now (a customer's default one too,
/// recorded as revoked so that sending the number again does not restore it), and its pending
/// tasks and queued calls are cancelled (cancelReason NO_CONSENT). NOT_FOUND if none is on file.
pub fn revoke(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
    now: DateTime<Utc>,
) -> Result<ConsentRow, AppError> {
    let revoked = consents::revoke(conn, company_id, number, now)?;
    if revoked == 0 && consents::on_file(conn, company_id, &[number.to_string()])?.is_empty() {
        let default = consents::default_for(conn, company_id, number)?.ok_or(StoreError::NotFound)?;
        let recorded = NewConsent {
            consent_type: consents::PRIOR_EXPRESS,
            source: consents::PROVIDED_BY_CONSUMER,
            evidence: None,
            obtained_at: default.obtained_at,
        };
        consents::record(conn, company_id, number, &recorded, now)?;
        consents::revoke(conn, company_id, number, now)?;
    }
    stop_contact(conn, company_id, &[], &[number.to_string()], StopReason::NoConsent, now)?;
    Ok(on_file(conn, company_id, number)?.ok_or(StoreError::NotFound)?)
}
