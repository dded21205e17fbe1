//! The customer mutations: create, upsert, sync, cancel communications, contact holds.

use async_graphql::{Context, Object, SimpleObject, ID};

use super::error::{ApiError, GqlResult};
use super::tasks::Task;
use super::{db, now, tenant, today};
use crate::app::customer_writes::MatchOn;
use crate::app::customers::{self as use_case};

use super::customers::*;

/// What upsertCustomer did.
#[derive(SimpleObject)]
pub struct UpsertCustomerPayload {
    /// The customer as stored now.
    customer: Customer,
    /// True when the customer was created (HTTP 201), false when updated (200).
    created: bool,
}

/// What syncCustomerSchedule did.
#[derive(SimpleObject)]
pub struct SyncCustomerSchedulePayload {
    /// The customer as stored now.
    customer: Customer,
    /// True when the customer was created by this sync.
    created: bool,
    /// True when tasks were planned; `skippedReason` says why not otherwise.
    schedule_created: bool,
    /// How many tasks were planned.
    tasks_created: i32,
    /// Pending tasks of the customer cancelled by this sync.
    existing_tasks_removed: i32,
    /// The new tasks, in order.
    tasks: Vec<Task>,
    /// Why no task was planned; null when tasks were.
    skipped_reason: Option<ScheduleSkipReason>,
}

/// What cancelCommunications cancelled.
#[derive(SimpleObject)]
pub struct CancelCommunicationsPayload {
    /// PENDING tasks cancelled.
    pub tasks_cancelled: i32,
    /// QUEUED calls not yet handed to a provider, cancelled (cancelReason REQUESTED).
    pub calls_cancelled: i32,
}

#[derive(Default)]
pub struct CustomerMutation;

#[Object]
impl CustomerMutation {
    /// Creates a customer; `CONFLICT` if the id exists. Every required field must be present.
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer; a missing or invalid field is BAD_USER_INPUT naming it.")]
        input: CustomerInput,
    ) -> async_graphql::Result<Customer> {
        let company_id = tenant(ctx)?;
        let prepared = input.prepare(ctx, company_id).await?;
        let now = now(ctx);
        let row = db(ctx)
            .transaction(move |conn| use_case::create_customer(conn, company_id, &prepared, now))
            .await
            .gql()?;
        Ok(Customer(row))
    }

    /// Holds the customer: every path refuses it (`CONTACT_HOLD`), a sync plans nothing
    /// (`skippedReason: CONTACT_HOLD`), and its pending tasks and queued calls are cancelled at
    /// once, with events. It stays across syncs, upserts and imports until released.
    async fn place_contact_hold(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer (the integration's id); NOT_FOUND if unknown.")] customer_id: ID,
        #[graphql(desc = "Why the customer is held.")] reason: ContactHoldReason,
        #[graphql(desc = "Free text, at most 2,000 characters (BAD_USER_INPUT otherwise).")] note: Option<
            String,
        >,
    ) -> async_graphql::Result<Customer> {
        let company_id = tenant(ctx)?;
        let now = now(ctx);
        let row = db(ctx)
            .transaction(move |conn| {
                use_case::place_contact_hold(
                    conn,
                    company_id,
                    &customer_id,
                    reason.code(),
                    note.as_deref(),
                    now,
                )
            })
            .await
            .map_err(not_found_customer)
            .gql()?;
        Ok(Customer(row))
    }

    /// Ends the customer's contact hold; a later sync plans again.
    async fn release_contact_hold(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer (the integration's id); NOT_FOUND if unknown.")] customer_id: ID,
    ) -> async_graphql::Result<Customer> {
        let company_id = tenant(ctx)?;
        let now = now(ctx);
        let row = db(ctx)
            .transaction(move |conn| use_case::release_contact_hold(conn, company_id, &customer_id, now))
            .await
            .map_err(not_found_customer)
            .gql()?;
        Ok(Customer(row))
    }

    /// Cancels the customer's PENDING tasks and its QUEUED calls not yet handed to a provider,
    /// each with an event. Do Not Call is unchanged: a later sync plans again.
    async fn cancel_communications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer (the integration's id); NOT_FOUND if unknown.")] customer_id: ID,
    ) -> async_graphql::Result<CancelCommunicationsPayload> {
        let company_id = tenant(ctx)?;
        let now = now(ctx);
        let (tasks, calls) = db(ctx)
            .transaction(move |conn| use_case::cancel_communications(conn, company_id, &customer_id, now))
            .await
            .map_err(|e| match e {
                crate::app::AppError::Store(crate::store::StoreError::NotFound) => {
                    ApiError::NotFound("customer")
                }
                other => other.into(),
            })
            .gql()?;
        Ok(CancelCommunicationsPayload { tasks_cancelled: tasks as i32, calls_cancelled: calls as i32 })
    }

    /// Creates the customer, or updates only the fields the input carries.
    async fn upsert_customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The fields to set; omitted ones keep their value, null clears.")]
        input: CustomerInput,
        #[graphql(
            default_with = "Some(CustomerKey::Id)",
            desc = "Find the customer by id or by phone number."
        )]
        match_on: Option<CustomerKey>,
    ) -> async_graphql::Result<UpsertCustomerPayload> {
        let company_id = tenant(ctx)?;
        let prepared = input.prepare(ctx, company_id).await?;
        let match_on = match match_on.unwrap_or_default() {
            CustomerKey::Id => MatchOn::Id,
            CustomerKey::PhoneNumber => MatchOn::PhoneNumber,
        };
        let now = now(ctx);
        let (row, created) = db(ctx)
            .transaction(move |conn| use_case::upsert_customer(conn, company_id, &prepared, match_on, now))
            .await
            .gql()?;
        Ok(UpsertCustomerPayload { customer: Customer(row), created })
    }

    /// Upserts the customer and rebuilds its call schedule in one transaction: cancels every
    /// pending task and plans the schedule's cadence inside the legal calling window.
    async fn sync_customer_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The customer; its taskType picks the schedule. Omitted optional fields keep their value."
        )]
        input: CustomerInput,
    ) -> async_graphql::Result<SyncCustomerSchedulePayload> {
        let company_id = tenant(ctx)?;
        let prepared = input.prepare(ctx, company_id).await?;
        let now = now(ctx);
        let today = today(ctx);
        let outcome = db(ctx)
            .transaction(move |conn| {
                use_case::sync_customer_schedule(conn, company_id, &prepared, now, today)
            })
            .await
            .gql()?;
        Ok(SyncCustomerSchedulePayload {
            customer: Customer(outcome.customer),
            created: outcome.created,
            schedule_created: !outcome.tasks.is_empty(),
            tasks_created: outcome.tasks.len() as i32,
            existing_tasks_removed: outcome.existing_tasks_removed as i32,
            tasks: outcome.tasks.into_iter().map(Task).collect(),
            skipped_reason: outcome.skipped.map(ScheduleSkipReason::from),
        })
    }
}
