//! A company's settings: what updateCompanySettings may change, and the rules that hold across
//! fields (validated field by field in `domain::company`).

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::AppError;
use crate::domain::company::CompanySettingsPatch;
use crate::domain::keys::{IssuedKey, KeyScope};
use crate::domain::ValidationError;
use crate::secrets::Secrets;
use crate::store::companies::{self, CompanyRow};

/// A new company and its first key (FULL, labelled "initial"), in the caller's transaction:
/// `callsync company create`, the local demo company, tests and benchmarks.
pub fn create(
    conn: &mut PgConnection,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(CompanyRow, IssuedKey), AppError> {
    let company = companies::insert_company(conn, name, now)?;
    let (_, key) = super::keys::create(conn, company.id, Some("initial"), KeyScope::Full, now)?;
    Ok((company, key))
}

/// updateCompanySettings, in the caller's transaction: seals the secrets it sets (refused,
/// naming the field, when the server has no key: nothing is written), writes the changes, then
/// refuses (rolling them back) a webhook URL without a secret: deliveries are always signed.
pub fn update_settings(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: CompanySettingsPatch,
    secrets: &Secrets,
    now: DateTime<Utc>,
) -> Result<CompanyRow, AppError> {
    let sealed = patch.seal_secrets(|field, secret| {
        let name = field.input_name();
        secrets
            .seal(company_id, field, &secret)
            .map_err(|e| ValidationError::new(name, format!("{name} cannot be stored: {e}")))
    })?;
    let row = companies::update_settings(conn, company_id, &sealed, now)?;
    if row.call_webhook_url.is_some() && !companies::has_webhook_secret(conn, company_id)? {
        let message = "callWebhookSecret is required with callWebhookUrl: deliveries are signed with it";
        return Err(ValidationError::new("callWebhookSecret", message).into());
    }
    Ok(row)
}
