//! API keys: issued once, stored as a SHA-256 hash, scoped, revocable.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{api_keys, companies};
use super::StoreError;
use crate::domain::keys::{self, IssuedKey, KeyScope};

/// A key as the company may see it: never its secret.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub prefix: String,
    pub label: Option<String>,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    pub fn scope(&self) -> KeyScope {
        KeyScope::parse(&self.scope).unwrap_or(KeyScope::ReadOnly)
    }
}

/// Who a presented key is: its id, company and scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyIdentity {
    pub key_id: Uuid,
    pub company_id: Uuid,
    pub scope: KeyScope,
}

/// `last_used_at` is written at most this often per key (not once per request).
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

/// Stores an issued key (its hash and visible prefix) for an existing company (NotFound
/// otherwise).
pub fn insert(
    conn: &mut PgConnection,
    company_id: Uuid,
    key: &IssuedKey,
    label: Option<&str>,
    scope: KeyScope,
    now: DateTime<Utc>,
) -> Result<ApiKeyRow, StoreError> {
    let exists: Option<Uuid> =
        companies::table.find(company_id).select(companies::id).first(conn).optional()?;
    exists.ok_or(StoreError::NotFound)?;
    Ok(diesel::insert_into(api_keys::table)
        .values((
            api_keys::company_id.eq(company_id),
            api_keys::key_hash.eq(key.hash()),
            api_keys::prefix.eq(key.visible_prefix()),
            api_keys::label.eq(label),
            api_keys::scope.eq(scope.as_str()),
            api_keys::created_at.eq(now),
        ))
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)?)
}

/// The identity of a presented key, if it exists and is not revoked; marks it used (at most
/// once per [`LAST_USED_RESOLUTION`], outside any audited transaction).
pub fn identify(
    conn: &mut PgConnection,
    api_key: &str,
    now: DateTime<Utc>,
) -> Result<Option<KeyIdentity>, StoreError> {
    let found: Option<(Uuid, Uuid, String, Option<DateTime<Utc>>)> = api_keys::table
        .filter(api_keys::key_hash.eq(keys::hash(api_key)))
        .filter(api_keys::revoked_at.is_null())
        .select((api_keys::id, api_keys::company_id, api_keys::scope, api_keys::last_used_at))
        .first(conn)
        .optional()?;
    let Some((key_id, company_id, scope, last_used_at)) = found else {
        return Ok(None);
    };
    if last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION) {
        diesel::update(api_keys::table.find(key_id)).set(api_keys::last_used_at.eq(now)).execute(conn)?;
    }
    // An unknown scope (a newer version's) gets the narrowest one rather than everything.
    let scope = KeyScope::parse(&scope).unwrap_or(KeyScope::ReadOnly);
    Ok(Some(KeyIdentity { key_id, company_id, scope }))
}

/// The company's keys, newest first.
pub fn list(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::company_id.eq(company_id))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(ApiKeyRow::as_select())
        .load(conn)?)
}

/// The company a key (revoked or not) belongs to.
pub fn company_of(conn: &mut PgConnection, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    Ok(api_keys::table.find(id).select(api_keys::company_id).first(conn).optional()?)
}

/// One of the company's keys, locked for a change.
pub fn lock(conn: &mut PgConnection, company_id: Uuid, id: Uuid) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::company_id.eq(company_id))
        .filter(api_keys::id.eq(id))
        .select(ApiKeyRow::as_select())
        .for_update()
        .first(conn)
        .optional()?)
}

/// Locks the company's row, so that two revocations cannot both see the other key as the
/// last one left.
pub fn lock_company_keys(conn: &mut PgConnection, company_id: Uuid) -> Result<(), StoreError> {
    let company: Option<Uuid> =
        companies::table.find(company_id).select(companies::id).for_update().first(conn).optional()?;
    company.map(|_| ()).ok_or(StoreError::NotFound)
}

/// How many unrevoked FULL keys the company has.
pub fn active_full_keys(conn: &mut PgConnection, company_id: Uuid) -> Result<i64, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::company_id.eq(company_id))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::scope.eq(KeyScope::Full.as_str()))
        .count()
        .get_result(conn)?)
}

/// Marks the key revoked at `now`.
pub fn revoke(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<ApiKeyRow, StoreError> {
    Ok(diesel::update(api_keys::table.find(id))
        .set(api_keys::revoked_at.eq(now))
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)?)
}
