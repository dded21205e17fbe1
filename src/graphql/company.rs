//! `viewer`, `updateCompanySettings`, and the Company type.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, ID};
use chrono::{DateTime, Utc};

use super::error::GqlResult;
use super::{db, patch, tenant};
use crate::domain::company::validate_settings;
use crate::store::companies::{self, CompanyRow};
use crate::store::StoreError;

pub struct Company(pub CompanyRow);

#[Object]
impl Company {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The task types of the company's schedules: the valid `taskType` values for customers.
    async fn task_types(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        let company_id = self.0.id;
        db(ctx)
            .read(move |conn| companies::task_types(conn, company_id))
            .await
            .gql()
    }
    async fn calls_per_second_limit(&self) -> i32 {
        self.0.calls_per_second_limit
    }
    async fn call_webhook_url(&self) -> Option<&str> {
        self.0.call_webhook_url.as_deref()
    }
    async fn lms_base_url(&self) -> Option<&str> {
        self.0.lms_base_url.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Company settings; omitted fields keep their value, null clears an optional one.
#[derive(InputObject)]
pub struct CompanySettingsInput {
    name: MaybeUndefined<String>,
    calls_per_second_limit: MaybeUndefined<i32>,
    call_webhook_url: MaybeUndefined<String>,
    lms_base_url: MaybeUndefined<String>,
    /// Stored for the LMS connector; never returned by any query.
    lms_api_key: MaybeUndefined<String>,
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
}

#[derive(Default)]
pub struct CompanyMutation;

#[Object]
impl CompanyMutation {
    async fn update_company_settings(
        &self,
        ctx: &Context<'_>,
        input: CompanySettingsInput,
    ) -> async_graphql::Result<Company> {
        let company_id = tenant(ctx)?;
        let changes = validate_settings(
            patch(input.name),
            patch(input.calls_per_second_limit),
            patch(input.call_webhook_url),
            patch(input.lms_base_url),
            patch(input.lms_api_key),
        )
        .gql()?;
        let row = db(ctx)
            .write(move |conn| companies::update_settings(conn, company_id, &changes))
            .await
            .gql()?;
        Ok(Company(row))
    }
}
