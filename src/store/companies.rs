//! Companies (tenants) and their settings (their API keys are in `api_keys`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schedules::ScheduleRow;
use super::schema::{companies, schedules};
use super::StoreError;
use crate::domain::calling_rules::{self, StateRule};
use crate::domain::company::CompanySettingsPatch;
use crate::domain::customer::{Campaign, CustomerField};
use crate::domain::{Patch, StoredSecret};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = companies, check_for_backend(diesel::pg::Pg))]
pub struct CompanyRow {
    pub id: Uuid,
    pub name: String,
    pub calls_per_second_limit: i32,
    pub call_webhook_url: Option<String>,
    pub lms_base_url: Option<String>,
    pub state_rules: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub queued_call_ttl_seconds: i32,
}

/// A new company with default settings (no key: `app::company::create` issues its first).
pub fn insert_company(
    conn: &mut PgConnection,
    name: &str,
    now: DateTime<Utc>,
) -> Result<CompanyRow, StoreError> {
    Ok(diesel::insert_into(companies::table)
        .values((companies::name.eq(name), companies::created_at.eq(now), companies::updated_at.eq(now)))
        .returning(CompanyRow::as_returning())
        .get_result(conn)?)
}

pub fn get_company(conn: &mut PgConnection, company_id: Uuid) -> Result<Option<CompanyRow>, StoreError> {
    Ok(companies::table.find(company_id).select(CompanyRow::as_select()).first(conn).optional()?)
}

/// The oldest company with this name (the local demo company, found again on a restart).
pub fn company_named(conn: &mut PgConnection, name: &str) -> Result<Option<Uuid>, StoreError> {
    Ok(companies::table
        .filter(companies::name.eq(name))
        .order(companies::created_at.asc())
        .select(companies::id)
        .first(conn)
        .optional()?)
}

pub fn count_companies(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(companies::table.count().get_result(conn)?)
}

/// The company's task types: the task types of its (not deleted) schedules, sorted.
pub fn task_types(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<String>, StoreError> {
    Ok(schedules::table
        .filter(schedules::company_id.eq(company_id))
        .filter(schedules::deleted_at.is_null())
        .select(schedules::task_type)
        .order(schedules::task_type.asc())
        .load(conn)?)
}

/// The company's campaigns: each live schedule's task type and the fields its customers need.
pub fn campaigns(conn: &mut PgConnection, company_id: Uuid) -> Result<Vec<Campaign>, StoreError> {
    let rows: Vec<(String, Vec<String>)> = schedules::table
        .filter(schedules::company_id.eq(company_id))
        .filter(schedules::deleted_at.is_null())
        .select((schedules::task_type, schedules::required_customer_fields))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(task_type, codes)| Campaign {
            task_type,
            required: codes.iter().filter_map(|c| CustomerField::from_code(c)).collect(),
        })
        .collect())
}

/// Writes the changes; the secrets arrive sealed (`crate::secrets`), never as plain text.
pub fn update_settings(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: &CompanySettingsPatch<StoredSecret>,
    now: DateTime<Utc>,
) -> Result<CompanyRow, StoreError> {
    #[derive(AsChangeset)]
    #[diesel(table_name = companies)]
    struct Changes<'a> {
        name: Option<&'a str>,
        calls_per_second_limit: Option<i32>,
        queued_call_ttl_seconds: Option<i32>,
        call_webhook_url: Option<Option<&'a str>>,
        lms_base_url: Option<Option<&'a str>>,
        lms_api_key: Option<Option<&'a str>>,
        call_webhook_secret: Option<Option<&'a str>>,
        state_rules: Option<&'a serde_json::Value>,
        updated_at: DateTime<Utc>,
    }
    fn nullable(p: &Patch<String>) -> Option<Option<&str>> {
        match p {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(v) => Some(Some(v.as_str())),
        }
    }
    fn stored(p: &Patch<StoredSecret>) -> Option<Option<&str>> {
        match p {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(v) => Some(Some(v.as_column())),
        }
    }
    let changes = Changes {
        name: patch.name.as_deref(),
        calls_per_second_limit: patch.calls_per_second_limit,
        queued_call_ttl_seconds: patch.queued_call_ttl_seconds,
        call_webhook_url: nullable(&patch.call_webhook_url),
        lms_base_url: nullable(&patch.lms_base_url),
        lms_api_key: stored(&patch.lms_api_key),
        call_webhook_secret: stored(&patch.call_webhook_secret),
        state_rules: patch.state_rules.as_ref(),
        updated_at: now,
    };
    diesel::update(companies::table.find(company_id))
        .set(&changes)
        .returning(CompanyRow::as_returning())
        .get_result(conn)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// Whether the company has a webhook secret (the secret itself never leaves the store here).
pub fn has_webhook_secret(conn: &mut PgConnection, company_id: Uuid) -> Result<bool, StoreError> {
    let secret: Option<String> =
        companies::table.find(company_id).select(companies::call_webhook_secret).first(conn)?;
    Ok(secret.is_some())
}

/// The company's LMS base URL and API key (as stored: sealed, or legacy plain text).
pub fn lms_settings(
    conn: &mut PgConnection,
    company_id: Uuid,
) -> Result<(Option<String>, Option<StoredSecret>), StoreError> {
    let (url, key): (Option<String>, Option<String>) = companies::table
        .find(company_id)
        .select((companies::lms_base_url, companies::lms_api_key))
        .first(conn)?;
    Ok((url, key.map(StoredSecret::from_column)))
}

/// The company's overrides of the built-in state calling rules.
/// A company's live schedules and its state-rule overrides, in one query: what every contact
/// decision of the company needs besides the callee (a sync reads it once, not three times).
pub fn terms(
    conn: &mut PgConnection,
    company_id: Uuid,
) -> Result<(Vec<ScheduleRow>, StateRuleOverrides), StoreError> {
    // Typed (no SQL text), so Diesel keeps the statement prepared.
    let rules = companies::table
        .filter(companies::id.eq(schedules::company_id))
        .select(companies::state_rules)
        .single_value();
    let rows: Vec<(ScheduleRow, Option<serde_json::Value>)> = schedules::table
        .filter(schedules::company_id.eq(company_id))
        .filter(schedules::deleted_at.is_null())
        .select((ScheduleRow::as_select(), rules))
        .load(conn)?;
    let Some((_, Some(stored))) = rows.first() else {
        // No schedule: only the rules are left to read.
        return Ok((Vec::new(), state_rule_overrides(conn, company_id)?));
    };
    // Validated when written; a row that no longer parses is an error, never silently ignored.
    let overrides = calling_rules::validate_overrides(stored)?;
    Ok((rows.into_iter().map(|(schedule, _)| schedule).collect(), overrides))
}

/// A company's state-rule overrides, by state.
pub type StateRuleOverrides = BTreeMap<String, Vec<StateRule>>;

pub fn state_rule_overrides(
    conn: &mut PgConnection,
    company_id: Uuid,
) -> Result<StateRuleOverrides, StoreError> {
    let stored: serde_json::Value =
        companies::table.find(company_id).select(companies::state_rules).first(conn)?;
    // Validated when written; a row that no longer parses is an error, never silently ignored.
    Ok(calling_rules::validate_overrides(&stored)?)
}
