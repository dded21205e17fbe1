//! The audit trail: who changed what, and when.
//!
//! A door runs a change on behalf of an API key inside [`audited`]; every write transaction
//! started there (see `Db::write`) first tells Postgres who is acting (`callsync.audit`, a
//! transaction-local setting), and the `audit_changes` triggers (migration 000009) record each
//! changed customer, schedule, call, task, company, API key and consent in the same
//! transaction: a change that rolls back leaves no entry, and no write path can forget one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use uuid::Uuid;

use super::schema::audit_log;
use super::StoreError;

/// Who is acting, and through which operation (`createCustomer`, `POST /v1/customers`).
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub company_id: Uuid,
    /// None for an operator's command (the CLI).
    pub api_key_id: Option<Uuid>,
    pub operation: String,
}

tokio::task_local! {
    static ACTOR: AuditContext;
}

/// Runs `work` with every write transaction it starts recorded as `context`'s.
pub async fn audited<F: std::future::Future>(context: AuditContext, work: F) -> F::Output {
    ACTOR.scope(context, work).await
}

/// The context of the running task, if a door set one.
pub fn current() -> Option<AuditContext> {
    ACTOR.try_with(Clone::clone).ok()
}

/// Tells the triggers who acts in this transaction, and at which instant (the app's clock).
pub fn mark(
    conn: &mut PgConnection,
    context: &AuditContext,
    at: DateTime<Utc>,
) -> Result<(), diesel::result::Error> {
    let value = format!(
        "{}|{}|{}|{}",
        context.company_id,
        context.api_key_id.map(|id| id.to_string()).unwrap_or_default(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        context.operation,
    );
    super::prepared::prepared(
        diesel::sql_query("SELECT set_config('callsync.audit', $1, true)").bind::<Text, _>(value),
    )
    .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub api_key_id: Option<Uuid>,
    pub operation: String,
    pub entity_type: String,
    pub entity_id: String,
}

/// A page of the company's trail, newest first, after `(at, id)`, optionally of one entity.
pub fn page(
    conn: &mut PgConnection,
    company_id: Uuid,
    entity_id: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut query = audit_log::table
        .filter(audit_log::company_id.eq(company_id))
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .select(AuditRow::as_select())
        .into_boxed();
    if let Some(entity) = entity_id {
        query = query.filter(audit_log::entity_id.eq(entity.to_string()));
    }
    if let Some((at, id)) = after {
        query = query.filter(audit_log::at.lt(at).or(audit_log::at.eq(at).and(audit_log::id.lt(id))));
    }
    Ok(query.load(conn)?)
}
