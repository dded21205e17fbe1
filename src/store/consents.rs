//! Consent per number: recorded, revoked, and the one on file.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{consents, customers};
use super::StoreError;

pub const PRIOR_EXPRESS: &str = "PRIOR_EXPRESS";
pub const PRIOR_EXPRESS_WRITTEN: &str = "PRIOR_EXPRESS_WRITTEN";
pub const PROVIDED_BY_CONSUMER: &str = "PROVIDED_BY_CONSUMER";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = consents, check_for_backend(diesel::pg::Pg))]
pub struct ConsentRow {
    pub phone_number: String,
    pub consent_type: String,
    pub source: String,
    pub evidence: Option<String>,
    pub obtained_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A consent to record.
pub struct NewConsent<'a> {
    pub consent_type: &'a str,
    pub source: &'a str,
    pub evidence: Option<&'a str>,
    pub obtained_at: DateTime<Utc>,
}

/// The consent on file for each of `numbers` that has any row: its strongest unrevoked one
/// (written over express, then the latest), else the latest revoked one.
pub fn on_file(
    conn: &mut PgConnection,
    company_id: Uuid,
    numbers: &[String],
) -> Result<Vec<ConsentRow>, StoreError> {
    let mut rows: Vec<ConsentRow> = consents::table
        .filter(consents::company_id.eq(company_id))
        .filter(consents::phone_number.eq_any(numbers))
        .select(ConsentRow::as_select())
        .load(conn)?;
    rows.sort_by_key(|r| {
        let unrevoked = r.revoked_at.is_none();
        let written = r.consent_type == PRIOR_EXPRESS_WRITTEN;
        let latest = r.revoked_at.unwrap_or(r.obtained_at);
        (r.phone_number.clone(), std::cmp::Reverse((unrevoked, written, latest)))
    });
    rows.dedup_by(|b, a| a.phone_number == b.phone_number);
    Ok(rows)
}

/// The default consent of a customer's own number with no row: PRIOR_EXPRESS from
/// PROVIDED_BY_CONSUMER, obtained when the first customer record with it was created.
pub fn default_for(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
) -> Result<Option<ConsentRow>, StoreError> {
    let first: Option<DateTime<Utc>> = customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::phone_number.eq(number))
        .select(diesel::dsl::min(customers::created_at))
        .first(conn)?;
    Ok(first.map(|obtained_at| ConsentRow {
        phone_number: number.to_string(),
        consent_type: PRIOR_EXPRESS.into(),
        source: PROVIDED_BY_CONSUMER.into(),
        evidence: None,
        obtained_at,
        revoked_at: None,
    }))
}

pub fn record(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
    consent: &NewConsent<'_>,
    now: DateTime<Utc>,
) -> Result<ConsentRow, StoreError> {
    Ok(diesel::insert_into(consents::table)
        .values((
            consents::company_id.eq(company_id),
            consents::phone_number.eq(number),
            consents::consent_type.eq(consent.consent_type),
            consents::source.eq(consent.source),
            consents::evidence.eq(consent.evidence),
            consents::obtained_at.eq(consent.obtained_at),
            consents::created_at.eq(now),
        ))
        .returning(ConsentRow::as_returning())
        .get_result(conn)?)
}

/// Revokes every unrevoked consent of the number; returns how many.
pub fn revoke(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        consents::table
            .filter(consents::company_id.eq(company_id))
            .filter(consents::phone_number.eq(number))
            .filter(consents::revoked_at.is_null()),
    )
    .set(consents::revoked_at.eq(now))
    .execute(conn)?)
}
