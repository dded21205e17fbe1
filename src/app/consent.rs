//! Consent per number: record it (with its evidence), revoke it (at once: the number's pending
//! tasks and queued calls are cancelled), and say what is on file.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::customers::{stop_contact, StopReason};
use super::AppError;
use crate::domain::ValidationError;
use crate::store::consents::{self, ConsentRow, NewConsent};
use crate::store::StoreError;

/// A consent as given with a request.
#[derive(Debug, Clone)]
pub struct ConsentGiven {
    pub consent_type: &'static str,
    pub source: &'static str,
    pub evidence: Option<String>,
    pub obtained_at: DateTime<Utc>,
}

/// Most characters of `evidence` (a certificate URL, a recording id…).
pub const MAX_EVIDENCE: usize = 2000;

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
    if given.obtained_at > now + chrono::Duration::minutes(1) {
        let message = "obtainedAt must not be in the future";
        return Err(ValidationError::new(format!("{field}.obtainedAt"), message).into());
    }
    let evidence = given.evidence.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if evidence.is_some_and(|e| e.chars().count() > MAX_EVIDENCE) {
        let message = format!("evidence must be at most {MAX_EVIDENCE} characters");
        return Err(ValidationError::new(format!("{field}.evidence"), message).into());
    }
    let consent = NewConsent {
        consent_type: given.consent_type,
        source: given.source,
        evidence,
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
