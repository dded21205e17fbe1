//! API keys (apiKeys, createApiKey, revokeApiKey) and the audit trail (auditLog).

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{ApiError, GqlResult};
use super::{db, tenant};
use crate::app::keys::{self as use_case, Revoker};
use crate::domain::keys::KeyScope;
use crate::store::api_keys::{self, ApiKeyRow};
use crate::store::audit::{self, AuditRow};

/// What a key may do.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyScope {
    /// Everything the company may do.
    Full,
    /// Queries and subscriptions only: every mutation (and REST write) is FORBIDDEN.
    ReadOnly,
    /// Everything, but `ssnLastFour`, `birthday` and `email` are null in answers and left out of
    /// exports.
    NoPii,
}

impl From<ApiKeyScope> for KeyScope {
    fn from(scope: ApiKeyScope) -> Self {
        match scope {
            ApiKeyScope::Full => KeyScope::Full,
            ApiKeyScope::ReadOnly => KeyScope::ReadOnly,
            ApiKeyScope::NoPii => KeyScope::NoPii,
        }
    }
}

impl From<KeyScope> for ApiKeyScope {
    fn from(scope: KeyScope) -> Self {
        match scope {
            KeyScope::Full => ApiKeyScope::Full,
            KeyScope::ReadOnly => ApiKeyScope::ReadOnly,
            KeyScope::NoPii => ApiKeyScope::NoPii,
        }
    }
}

/// One of the company's API keys (never its secret: only its first characters).
#[derive(SimpleObject)]
pub struct ApiKey {
    /// The key's id (for revokeApiKey and the audit trail's `apiKeyId`).
    id: ID,
    /// What the company calls it, if anything.
    label: Option<String>,
    /// The key's first 12 characters, to recognise it by.
    prefix: String,
    /// What the key may do.
    scope: ApiKeyScope,
    /// When it was issued.
    created_at: DateTime<Utc>,
    /// When it was last used, to the minute (recorded at most once a minute).
    last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; null while it works.
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        ApiKey {
            id: ID(row.id.to_string()),
            scope: row.scope().into(),
            label: row.label,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A new key: `apiKey` is the secret, shown this once and never again.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    /// The secret to send as `X-API-Key`. Store it now: callsync keeps only its hash.
    api_key: String,
    /// The key as `apiKeys` lists it.
    key: ApiKey,
}

/// One entity changed by one operation.
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// The entry's id.
    id: ID,
    /// When the change was made (the server's clock).
    at: DateTime<Utc>,
    /// The key that made it; null for the operator's command line.
    api_key_id: Option<ID>,
    /// The GraphQL root field (`createCustomer`), the REST route (`POST /v1/customers`), or
    /// the command (`cli api-key revoke`).
    operation: String,
    /// `customer`, `schedule`, `call`, `task`, `company`, `apiKey` or `consent`.
    entity_type: String,
    /// The entity's id as the API shows it (a customer's is the integration's own id).
    entity_id: String,
}

pub type AuditEntryConnection = Connection<String, AuditEntry>;

/// An audit cursor's payload (the entry's time and public id), before it is sealed.
fn encode_cursor(row: &AuditRow) -> String {
    format!("{}:{}", row.at.timestamp_micros(), row.id)
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || ApiError::bad_input("after", "after is not a cursor of auditLog");
    let (micros, id) = raw.split_once(':').ok_or_else(bad)?;
    let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

#[derive(Default)]
pub struct KeyQuery;

#[Object]
impl KeyQuery {
    /// The company's API keys, newest first, revoked ones included.
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let company_id = tenant(ctx)?;
        let rows = db(ctx).read(move |conn| api_keys::list(conn, company_id)).await.gql()?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    /// Who changed what in the company, newest first: one entry per entity a mutation or REST
    /// write changed, recorded in the same transaction as the change.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "Page size, 0 to 500 (BAD_USER_INPUT otherwise).")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, as it came (opaque: an altered or foreign cursor is BAD_USER_INPUT)."
        )]
        after: Option<String>,
        #[graphql(desc = "Only the entries of this entity (e.g. a customer's own id).")] entity_id: Option<
            String,
        >,
    ) -> async_graphql::Result<AuditEntryConnection> {
        let company_id = tenant(ctx)?;
        let first = super::page_size(first).gql()?;
        let cursors = super::cursors(ctx, "auditLog")?;
        let after = cursors.open(after.as_deref()).gql()?.as_deref().map(decode_cursor).transpose().gql()?;
        let mut rows = db(ctx)
            .read(move |conn| audit::page(conn, company_id, entity_id.as_deref(), after, first + 1))
            .await
            .gql()?;
        let has_next = rows.len() as i64 > first;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(rows.into_iter().map(|row| {
            Edge::new(
                cursors.seal(&encode_cursor(&row)),
                AuditEntry {
                    id: ID(row.id.to_string()),
                    at: row.at,
                    api_key_id: row.api_key_id.map(|id| ID(id.to_string())),
                    operation: row.operation,
                    entity_type: row.entity_type,
                    entity_id: row.entity_id,
                },
            )
        }));
        Ok(connection)
    }
}

#[derive(Default)]
pub struct KeyMutation;

#[Object]
impl KeyMutation {
    /// Issues another key for the company. The secret is in the answer only.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to call it (at most 200 characters).")] label: Option<String>,
        #[graphql(
            default_with = "Some(ApiKeyScope::Full)",
            desc = "What it may do; FULL when omitted or null."
        )]
        scope: Option<ApiKeyScope>,
    ) -> async_graphql::Result<CreatedApiKey> {
        let company_id = tenant(ctx)?;
        let scope = scope.unwrap_or(ApiKeyScope::Full);
        let now = super::now(ctx);
        let (row, issued) = db(ctx)
            .transaction(move |conn| use_case::create(conn, company_id, label.as_deref(), scope.into(), now))
            .await
            .gql()?;
        Ok(CreatedApiKey { api_key: issued.api_key, key: row.into() })
    }

    /// Revokes one of the company's keys: it fails (UNAUTHENTICATED) on every instance within
    /// 2 seconds. Revoking a revoked key returns it unchanged; the company's last FULL key
    /// cannot be revoked here (CONFLICT): create another first.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's id (from apiKeys); NOT_FOUND if not the company's.")] id: ID,
    ) -> async_graphql::Result<ApiKey> {
        let company_id = tenant(ctx)?;
        let key_id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("API key")).gql()?;
        let now = super::now(ctx);
        let row = db(ctx)
            .transaction(move |conn| use_case::revoke(conn, company_id, key_id, Revoker::Tenant, now))
            .await
            .gql()?;
        Ok(row.into())
    }
}
