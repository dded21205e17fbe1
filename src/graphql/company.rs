//! `viewer`, `updateCompanySettings`, and the Company type.

use async_graphql::{Context, InputObject, Json, MaybeUndefined, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::GqlResult;
use super::{db, network, patch, secrets, tenant};
use crate::domain::calling_rules::StateRuleTable;
use crate::domain::company::{validate_settings, CompanySettingsInput as RawSettings};
use crate::domain::Secret;
use crate::store::companies::{self, CompanyRow};
use crate::store::StoreError;

pub struct Company(pub CompanyRow);

/// A company (tenant): every API key belongs to one, and sees only its data.
#[Object]
impl Company {
    /// The company's id (as `callsync company create` printed it).
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The company's display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The task types of the company's schedules: the valid `taskType` values for customers.
    async fn task_types(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        let company_id = self.0.id;
        db(ctx).read(move |conn| companies::task_types(conn, company_id)).await.gql()
    }
    /// Most calls the company may start per second, on every path (default 5); a makeCall
    /// above it is RATE_LIMITED.
    async fn calls_per_second_limit(&self) -> i32 {
        self.0.calls_per_second_limit
    }
    /// How long a QUEUED call may wait for a provider (5 to 3,600 s; default 900).
    async fn queued_call_ttl_seconds(&self) -> i32 {
        self.0.queued_call_ttl_seconds
    }
    /// Where each QUEUED call is POSTed for a call provider to place (signed with the
    /// webhook secret); null when providers pull with `claimCalls`.
    async fn call_webhook_url(&self) -> Option<&str> {
        self.0.call_webhook_url.as_deref()
    }
    /// The loan management system that `sync: true` reads customers and loans from.
    async fn lms_base_url(&self) -> Option<&str> {
        self.0.lms_base_url.as_deref()
    }
    /// The company's overrides of the built-in state calling rules.
    async fn state_rules(&self) -> Json<Value> {
        Json(self.0.state_rules.clone())
    }
    /// When the company was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When its settings last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Company settings; omitted fields keep their value, null clears an optional one.
#[derive(InputObject)]
pub struct CompanySettingsInput {
    /// 1 to 200 characters; cannot be null.
    name: MaybeUndefined<String>,
    /// Most calls started per second, 1 to 1,000; cannot be null.
    calls_per_second_limit: MaybeUndefined<i32>,
    /// How long a QUEUED call may wait for a provider, 5 to 3,600 seconds.
    queued_call_ttl_seconds: MaybeUndefined<i32>,
    /// A public http(s) URL without credentials, query or fragment (BAD_USER_INPUT otherwise);
    /// needs callWebhookSecret. Null: no webhook (providers pull with claimCalls).
    call_webhook_url: MaybeUndefined<String>,
    /// The LMS's base URL: a public http(s) URL without credentials, query or fragment
    /// (BAD_USER_INPUT otherwise).
    lms_base_url: MaybeUndefined<String>,
    /// Stored encrypted for the LMS connector; never returned by any query. BAD_USER_INPUT when
    /// the server has no CALLSYNC_SECRET_KEY to encrypt it with.
    lms_api_key: MaybeUndefined<String>,
    /// Signs webhook deliveries (`X-Callsync-Signature: sha256=HMAC(secret, timestamp + "." + body)`);
    /// required with callWebhookUrl; stored encrypted, never returned by any query. BAD_USER_INPUT
    /// when the server has no CALLSYNC_SECRET_KEY to encrypt it with.
    call_webhook_secret: MaybeUndefined<String>,
    /// Overrides of the built-in state calling rules, by state code; each listed state's rules
    /// replace the built-in ones (an empty list lifts them). See `stateCallingRules`.
    /// Example: `{"FL": [], "NY": [{"maxPer7Days": 2, "source": "6 RCNY 5-77"}]}`. Null clears.
    state_rules: MaybeUndefined<Json<Value>>,
}

/// One state calling rule in force for the company.
#[derive(SimpleObject)]
pub struct StateCallingRule {
    /// The state (or locality) code the rule belongs to, e.g. "MA".
    state: String,
    /// "HH:MM": no call before this local time.
    earliest: Option<String>,
    /// "HH:MM": no call at or after this local time.
    latest: Option<String>,
    /// No calls on Sundays (customer-local).
    no_sunday: bool,
    /// No calls on the state's legal holidays (its own calendar where callsync has one, else
    /// the federal holidays).
    no_holidays: bool,
    /// At most this many calls in any 7 consecutive local calendar days.
    #[graphql(name = "maxPer7Days")]
    max_per_7_days: Option<i32>,
    /// At most this many calls in any rolling 24 hours.
    max_per_24_hours: Option<i32>,
    /// Which calls the law addresses: "collections", "telemarketing" or "all".
    scope: Option<String>,
    /// Where the rule comes from (statute or regulation).
    source: Option<String>,
    /// True when the row comes from the company's override, not the built-in table.
    overridden: bool,
}

#[derive(Default)]
pub struct CompanyQuery;

#[Object]
impl CompanyQuery {
    /// The company of the API key.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Company> {
        let company_id = tenant(ctx)?;
        let row = db(ctx)
            .read(move |conn| companies::get_company(conn, company_id)?.ok_or(StoreError::NotFound))
            .await
            .gql()?;
        Ok(Company(row))
    }

    /// The server's current instant: the clock every rule decides by. A client that shows
    /// relative times ("in 26 h", calls in the last minutes) measures from this, not from its
    /// own clock, which may differ.
    async fn server_time(&self, ctx: &Context<'_>) -> async_graphql::Result<chrono::DateTime<chrono::Utc>> {
        tenant(ctx)?;
        Ok(super::now(ctx))
    }

    /// The state calling rules in force for the company (built-in table plus overrides).
    async fn state_calling_rules(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StateCallingRule>> {
        let company_id = tenant(ctx)?;
        let overrides =
            db(ctx).read(move |conn| companies::state_rule_overrides(conn, company_id)).await.gql()?;
        let table = StateRuleTable::with_overrides(&overrides);
        Ok(table
            .rows()
            .map(|(state, row)| StateCallingRule {
                state: state.to_string(),
                earliest: row.earliest.clone(),
                latest: row.latest.clone(),
                no_sunday: row.no_sunday,
                no_holidays: row.no_holidays,
                max_per_7_days: row.max_per_7_days.map(|n| n as i32),
                max_per_24_hours: row.max_per_24_hours.map(|n| n as i32),
                scope: row.scope.clone(),
                source: row.source.clone(),
                overridden: overrides.contains_key(state),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct CompanyMutation;

#[Object]
impl CompanyMutation {
    /// Changes the company's settings: fields the input omits keep their value. An invalid
    /// value is BAD_USER_INPUT naming its field, and nothing changes.
    async fn update_company_settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The settings to change.")] input: CompanySettingsInput,
    ) -> async_graphql::Result<Company> {
        let company_id = tenant(ctx)?;
        let changes = validate_settings(
            RawSettings {
                name: patch(input.name),
                calls_per_second_limit: patch(input.calls_per_second_limit),
                queued_call_ttl_seconds: patch(input.queued_call_ttl_seconds),
                call_webhook_url: patch(input.call_webhook_url),
                lms_base_url: patch(input.lms_base_url),
                lms_api_key: patch(input.lms_api_key).map(Secret::new),
                call_webhook_secret: patch(input.call_webhook_secret).map(Secret::new),
                state_rules: patch(input.state_rules).map(|j| j.0),
            },
            network(ctx).allow_private,
        )
        .gql()?;
        let (now, secrets) = (super::now(ctx), secrets(ctx).clone());
        let row = db(ctx)
            .transaction(move |conn| {
                crate::app::company::update_settings(conn, company_id, changes, &secrets, now)
            })
            .await
            .gql()?;
        Ok(Company(row))
    }
}
