//! Idempotency keys: a write's first answer, kept so that a retry gets it back.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::schema::idempotency_keys;
use super::StoreError;

/// How long a first answer is kept (and a key stays bound to its request).
pub const RETENTION: Duration = Duration::hours(24);
/// A claim whose request has not answered in this long is taken to be lost (its instance died
/// mid-request) and may be claimed again.
pub const ABANDONED_AFTER: Duration = Duration::minutes(5);

/// A first answer as it was sent.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What a request finds when it presents its key.
#[derive(Debug)]
pub enum Claim {
    /// The key is new (or expired): this request runs and its answer will be stored.
    Claimed,
    /// A request with the same key and body is running now.
    InFlight,
    /// The same key and body answered before: here is that answer.
    Answered(StoredAnswer),
    /// The key was used with another request.
    OtherRequest,
}

/// Claims `key` for a request whose method, path and body hash to `request_hash`.
pub fn claim(
    conn: &mut PgConnection,
    company_id: Uuid,
    key: &str,
    request_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Claim, StoreError> {
    let claimed = diesel::sql_query(
        "INSERT INTO idempotency_keys (company_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (company_id, key) DO UPDATE SET request_hash = excluded.request_hash, status = NULL, \
             content_type = NULL, body = NULL, created_at = excluded.created_at \
         WHERE idempotency_keys.created_at < $5 \
            OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < $6)",
    )
    .bind::<SqlUuid, _>(company_id)
    .bind::<Text, _>(key)
    .bind::<Bytea, _>(request_hash)
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now - RETENTION)
    .bind::<Timestamptz, _>(now - ABANDONED_AFTER)
    .execute(conn)?;
    if claimed == 1 {
        return Ok(Claim::Claimed);
    }
    let (hash, status, content_type, body): (Vec<u8>, Option<i16>, Option<String>, Option<Vec<u8>>) =
        idempotency_keys::table
            .find((company_id, key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::status,
                idempotency_keys::content_type,
                idempotency_keys::body,
            ))
            .first(conn)?;
    Ok(match status {
        _ if hash != request_hash => Claim::OtherRequest,
        None => Claim::InFlight,
        Some(status) => Claim::Answered(StoredAnswer {
            status: status as u16,
            content_type,
            body: body.unwrap_or_default(),
        }),
    })
}

/// Stores the claimed request's answer.
pub fn complete(
    conn: &mut PgConnection,
    company_id: Uuid,
    key: &str,
    answer: &StoredAnswer,
) -> Result<(), StoreError> {
    diesel::update(idempotency_keys::table.find((company_id, key)))
        .set((
            idempotency_keys::status.eq(answer.status as i16),
            idempotency_keys::content_type.eq(&answer.content_type),
            idempotency_keys::body.eq(&answer.body),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives a claim up (its request failed for a passing reason): a retry runs afresh.
pub fn release(conn: &mut PgConnection, company_id: Uuid, key: &str) -> Result<(), StoreError> {
    diesel::delete(idempotency_keys::table.find((company_id, key)))
        .filter(idempotency_keys::status.is_null())
        .execute(conn)?;
    Ok(())
}

/// Deletes answers older than the retention; returns how many.
pub fn prune(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(now - RETENTION)))
        .execute(conn)?)
}
