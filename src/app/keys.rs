//! API keys: issue, list, revoke (createApiKey, apiKeys, revokeApiKey, `callsync api-key`).

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rand::RngCore;
use uuid::Uuid;

use super::AppError;
use crate::domain::keys::{self, IssuedKey, KeyScope};
use crate::store::api_keys::{self, ApiKeyRow};
use crate::store::StoreError;

/// Who revokes: a tenant through the API may not lock itself out; the operator may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoker {
    Tenant,
    Operator,
}

/// Issues a key for the company, in the caller's transaction: 256 bits from the operating
/// system's generator, returned once, stored as a hash.
pub fn create(
    conn: &mut PgConnection,
    company_id: Uuid,
    label: Option<&str>,
    scope: KeyScope,
    now: DateTime<Utc>,
) -> Result<(ApiKeyRow, IssuedKey), AppError> {
    let label = keys::label(label)?;
    let mut random = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let key = IssuedKey::from_random(random);
    let row =
        api_keys::insert(conn, company_id, &key, label.as_deref(), scope, now).map_err(|e| match e {
            StoreError::NotFound => AppError::NotFound("company"),
            other => other.into(),
        })?;
    Ok((row, key))
}

/// Revokes one of the company's keys (a key already revoked is returned as it is). Through the
/// API, the company's last unrevoked FULL key cannot be revoked: nothing could then create
/// another, and only the operator could let the company back in.
pub fn revoke(
    conn: &mut PgConnection,
    company_id: Uuid,
    key_id: Uuid,
    revoker: Revoker,
    now: DateTime<Utc>,
) -> Result<ApiKeyRow, AppError> {
    api_keys::lock_company_keys(conn, company_id).map_err(|e| match e {
        StoreError::NotFound => AppError::NotFound("company"),
        other => other.into(),
    })?;
    let key = api_keys::lock(conn, company_id, key_id)?.ok_or(AppError::NotFound("API key"))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    if revoker == Revoker::Tenant
        && key.scope() == KeyScope::Full
        && api_keys::active_full_keys(conn, company_id)? <= 1
    {
        return Err(StoreError::conflict(
            "id",
            "this is the company's last FULL key: create another before revoking it",
        )
        .into());
    }
    Ok(api_keys::revoke(conn, key.id, now)?)
}
