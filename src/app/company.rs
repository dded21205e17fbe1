//! A company's settings: what updateCompanySettings may change, and the rules that hold across
//! fields (validated field by field in `domain::company`).

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::AppError;
use crate::domain::company::CompanySettingsPatch;
use crate::domain::ValidationError;
use crate::store::companies::{self, CompanyRow};

/// updateCompanySettings, in the caller's transaction: writes the changes, then refuses (rolling
/// them back) a webhook URL without a secret: deliveries are always signed.
pub fn update_settings(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: &CompanySettingsPatch,
    now: DateTime<Utc>,
) -> Result<CompanyRow, AppError> {
    let row = companies::update_settings(conn, company_id, patch, now)?;
    if row.call_webhook_url.is_some() && !companies::has_webhook_secret(conn, company_id)? {
        let message = "callWebhookSecret is required with callWebhookUrl: deliveries are signed with it";
        return Err(ValidationError::new("callWebhookSecret", message).into());
    }
    Ok(row)
}
