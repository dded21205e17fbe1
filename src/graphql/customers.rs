//! Customers: queries, createCustomer, upsertCustomer.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::calls::{call_page, Call, CallConnection, LineType};
use super::error::{ApiError, GqlResult};
use super::loaders::{CustomerCallsKey, CustomerTasksKey, LoansKey};
use super::scalars::Date;
use super::tasks::{statuses, task_page, Task, TaskConnection, TaskStatus};
use super::{db, page_size, tenant, wants_total, OrderDirection, TotalCount};
use crate::app::customers::SyncSkip;
use crate::domain::customer::{self};
use crate::domain::schedule_builder::SkipReason;
use crate::store::calls::CallFilter;
use crate::store::customers::{self as store, CustomerCursor, CustomerOrder, CustomerRow};
use crate::store::loans::LoanRow;
use crate::store::tasks::TaskFilter;
use crate::store::{PageRequest, TimeCursor};

pub use super::customer_input::{
    CustomerFilter, CustomerInput, CustomerKey, CustomerOrderField, LoanInput, TimeRange, TimeRangeInput,
    Weekday,
};

pub struct Customer(pub CustomerRow);

/// A lender's customer (the consumer callsync calls), identified by the integration's own id.
#[Object]
impl Customer {
    /// The integration's own reference id.
    async fn id(&self) -> ID {
        ID(self.0.external_id.clone())
    }
    /// Given name.
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }
    /// Family name.
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }
    /// E-mail address.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.email.as_deref().filter(|_| super::sees_pii(ctx))
    }
    /// Date of birth (`YYYY-MM-DD`).
    async fn birthday(&self, ctx: &Context<'_>) -> Option<Date> {
        self.0.birthday.map(Date::from).filter(|_| super::sees_pii(ctx))
    }
    /// The last 4 digits of the social security number.
    async fn ssn_last_four(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.ssn_last_four.as_deref().filter(|_| super::sees_pii(ctx))
    }
    /// E.164, e.g. "+13105551234".
    async fn phone_number(&self) -> Option<&str> {
        self.0.phone_number.as_deref()
    }
    /// IANA time zone name.
    async fn timezone(&self) -> Option<&str> {
        self.0.timezone.as_deref()
    }
    /// True when `timezone` was not given but inferred from the ZIP code, else from an area
    /// code with a single zone (the contact policy still checks every zone the location allows).
    async fn timezone_inferred(&self) -> bool {
        self.0.timezone_inferred
    }
    /// First line of the postal address.
    async fn street_address1(&self) -> Option<&str> {
        self.0.street_address1.as_deref()
    }
    /// Second line of the postal address (apartment, suite…).
    async fn street_address2(&self) -> Option<&str> {
        self.0.street_address2.as_deref()
    }
    /// City of the postal address.
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    /// US state, DC or territory code of the address, e.g. "CA"; its calling rules apply.
    async fn state(&self) -> Option<&str> {
        self.0.state.as_deref()
    }
    /// ZIP code: 5 digits or ZIP+4.
    async fn zip_code(&self) -> Option<&str> {
        self.0.zip_code.as_deref()
    }
    /// The schedule (campaign) the customer belongs to, by its `taskType`; null: none, so no
    /// tasks.
    async fn task_type(&self) -> Option<&str> {
        self.0.task_type.as_deref()
    }
    /// Do Not Call: the customer's number may not be called by any record or path of the
    /// company (DO_NOT_CALL), and its pending tasks and queued calls were cancelled.
    async fn do_not_call(&self) -> bool {
        self.0.do_not_call
    }
    /// The consent on file for the customer's number (see `consent(phoneNumber)`).
    async fn consent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<super::consent::Consent>> {
        super::consent::of_customer(ctx, self.0.company_id, self.0.phone_number.clone()).await
    }
    /// What line the number is on: UNKNOWN (treated as a cell) until an integration says,
    /// and again when the number changes.
    async fn phone_line_type(&self) -> LineType {
        LineType::of(self.0.line_type().unwrap_or_default())
    }
    /// Customer-local weekly ranges the consumer said are inconvenient: no call in them.
    async fn inconvenient_times(&self) -> Vec<TimeRange> {
        self.0.inconvenient_times().into_iter().map(TimeRange::from).collect()
    }
    /// A contact hold: no path calls the customer until `releaseContactHold`.
    async fn contact_hold(&self) -> Option<ContactHold> {
        let reason = match self.0.contact_hold_reason.as_deref()? {
            "ATTORNEY_REPRESENTED" => ContactHoldReason::AttorneyRepresented,
            "CEASE_REQUESTED" => ContactHoldReason::CeaseRequested,
            "DISPUTE" => ContactHoldReason::Dispute,
            _ => ContactHoldReason::Other,
        };
        Some(ContactHold {
            reason,
            since: self.0.contact_hold_since.unwrap_or(self.0.updated_at),
            note: self.0.contact_hold_note.clone(),
        })
    }
    /// A test customer (kept apart from real ones in lists by the `isTest` filter).
    async fn is_test(&self) -> bool {
        self.0.is_test
    }
    /// A link to the customer's picture.
    async fn picture_url(&self) -> Option<&str> {
        self.0.picture_url.as_deref()
    }
    /// The integration's own JSON object, stored and returned as given.
    async fn external_metadata(&self) -> Option<Json<Value>> {
        self.0.external_metadata.clone().map(Json)
    }
    /// The customer's tasks, ordered by `scheduledFor`.
    #[graphql(complexity = "super::connection_cost(first, child_complexity)")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only tasks in one of these statuses; all when omitted.")] status: Option<
            Vec<TaskStatus>,
        >,
        #[graphql(desc = "Page size, 0 to 500 (default 50; BAD_USER_INPUT otherwise).")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, as it came (opaque: an altered or foreign cursor is BAD_USER_INPUT)."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<TaskConnection> {
        let statuses = statuses(status);
        // A list's first pages come from one query for all its customers (no query per parent).
        if after.is_none() && !wants_total(ctx) {
            let first = page_size(first).gql()?;
            let key = CustomerTasksKey { customer_id: self.0.id, statuses, first };
            let rows = super::loaders(ctx)?.load_one(key).await.gql()?.unwrap_or_default();
            let cursors = super::cursors(ctx, "tasks")?;
            return Ok(first_page(
                rows,
                first,
                |t| cursors.seal(&TimeCursor::new(t.scheduled_for, t.id).encode()),
                Task,
            ));
        }
        let filter = TaskFilter { customer_id: Some(self.0.id), statuses, ..Default::default() };
        task_page(ctx, filter, first, after).await
    }
    /// The customer's loans (stored inline or from the LMS).
    async fn loans(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Loan>> {
        let rows = super::loaders(ctx)?.load_one(LoansKey(self.0.id)).await.gql()?;
        Ok(rows.unwrap_or_default().into_iter().map(Loan).collect())
    }
    /// The customer's calls, newest first.
    #[graphql(complexity = "super::connection_cost(first, child_complexity)")]
    async fn calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 500 (default 50; BAD_USER_INPUT otherwise).")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, as it came (opaque: an altered or foreign cursor is BAD_USER_INPUT)."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<CallConnection> {
        if after.is_none() && !wants_total(ctx) {
            let first = page_size(first).gql()?;
            let key = CustomerCallsKey { customer_id: self.0.id, first };
            let rows = super::loaders(ctx)?.load_one(key).await.gql()?.unwrap_or_default();
            let cursors = super::cursors(ctx, "calls")?;
            return Ok(first_page(
                rows,
                first,
                |c| cursors.seal(&TimeCursor::new(c.created_at, c.id).encode()),
                Call,
            ));
        }
        let filter = CallFilter { customer_id: Some(self.0.id), ..Default::default() };
        call_page(ctx, filter, first, after).await
    }
    /// When the customer was created in callsync.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the customer last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct Loan(pub LoanRow);

/// A loan of the customer, stored inline with the customer or fetched from the company's LMS.
#[Object]
impl Loan {
    /// The loan's id in the lender's systems.
    async fn loan_id(&self) -> ID {
        ID(self.0.loan_id.clone())
    }
    /// The principal, in the loan's currency.
    async fn amount(&self) -> Option<f64> {
        self.0.amount
    }
    /// One installment's amount, in the loan's currency.
    async fn installment_amount(&self) -> Option<f64> {
        self.0.installment_amount
    }
    /// The loan's term, in months.
    async fn period_months(&self) -> Option<i32> {
        self.0.period_months
    }
    /// The number of the installment now due (1-based).
    async fn current_installment(&self) -> Option<i32> {
        self.0.current_installment
    }
    /// When the current installment is due (`YYYY-MM-DD`).
    async fn due_date(&self) -> Option<Date> {
        self.0.due_date.map(Date::from)
    }
    /// The lender's payment status, as given (free text).
    async fn payment_status(&self) -> Option<&str> {
        self.0.payment_status.as_deref()
    }
}

/// Why a customer is on a contact hold.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ContactHoldReason {
    /// FDCPA 805(a)(2): the consumer is represented by an attorney.
    AttorneyRepresented,
    /// FDCPA 805(c): the consumer asked the collector to cease communication.
    CeaseRequested,
    /// The consumer disputes the debt.
    Dispute,
    /// Any other reason; say which in the note.
    Other,
}

impl ContactHoldReason {
    pub(crate) fn code(self) -> &'static str {
        match self {
            ContactHoldReason::AttorneyRepresented => "ATTORNEY_REPRESENTED",
            ContactHoldReason::CeaseRequested => "CEASE_REQUESTED",
            ContactHoldReason::Dispute => "DISPUTE",
            ContactHoldReason::Other => "OTHER",
        }
    }
}

/// A hold on all contact with a customer, until `releaseContactHold`.
#[derive(SimpleObject)]
pub struct ContactHold {
    /// Why the customer is held.
    reason: ContactHoldReason,
    /// When the hold was placed (placing it again keeps this).
    since: DateTime<Utc>,
    /// Free text, at most 2,000 characters.
    note: Option<String>,
}

pub(crate) fn not_found_customer(e: crate::app::AppError) -> ApiError {
    match e {
        crate::app::AppError::Store(crate::store::StoreError::NotFound) => ApiError::NotFound("customer"),
        other => other.into(),
    }
}

/// Why a sync built no tasks.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleSkipReason {
    /// The customer's task type has no schedule.
    NoSchedule,
    /// The customer, or another record with its number, is marked Do Not Call.
    DoNotCall,
    /// The number is on the company's Do-Not-Call list (and the schedule uses it).
    SuppressedNumber,
    /// The customer has no phone number.
    MissingPhoneNumber,
    /// The customer has no time zone, given or inferred.
    MissingTimezone,
    /// The calling windows of the consumer's possible locations never overlap.
    NoCallingWindow,
    /// Every cadence step is already past.
    NoFutureSteps,
    /// The customer is on a contact hold.
    ContactHold,
    /// No unrevoked consent of the kind the schedule's purpose needs for the number.
    NoConsent,
}

impl From<SyncSkip> for ScheduleSkipReason {
    fn from(skip: SyncSkip) -> Self {
        match skip {
            SyncSkip::NoSchedule => Self::NoSchedule,
            SyncSkip::Builder(SkipReason::DoNotCall) => Self::DoNotCall,
            SyncSkip::Builder(SkipReason::SuppressedNumber) => Self::SuppressedNumber,
            SyncSkip::Builder(SkipReason::MissingPhoneNumber) => Self::MissingPhoneNumber,
            SyncSkip::Builder(SkipReason::MissingTimezone) => Self::MissingTimezone,
            SyncSkip::Builder(SkipReason::NoCallingWindow) => Self::NoCallingWindow,
            SyncSkip::Builder(SkipReason::NoFutureSteps) => Self::NoFutureSteps,
            SyncSkip::Builder(SkipReason::ContactHold) => Self::ContactHold,
            SyncSkip::Builder(SkipReason::NoConsent) => Self::NoConsent,
        }
    }
}

pub type CustomerConnection = Connection<String, Customer, CustomerCounts>;

/// The counts on a customer list.
#[derive(SimpleObject)]
pub struct CustomerCounts {
    /// How many customers match the filter, across all pages: exact, so it costs a count of
    /// every match (tens of milliseconds per million).
    pub total_count: i64,
    /// How many customers match the filter, cheaply: exact when at most 1,000 do; above that
    /// the database's estimate from its statistics (never below 1,001), which may be off by
    /// tens of percent. A value of 1,000 or less is always exact.
    pub total_count_estimate: i64,
}

/// A first page from `first + 1` loaded rows: the extra one only says there is more.
fn first_page<Row, Node: async_graphql::OutputType>(
    mut rows: Vec<Row>,
    first: i64,
    cursor: impl Fn(&Row) -> String,
    node: impl Fn(Row) -> Node,
) -> Connection<String, Node, TotalCount> {
    let has_next_page = rows.len() as i64 > first;
    rows.truncate(first as usize);
    let mut connection =
        Connection::with_additional_fields(false, has_next_page, TotalCount { total_count: 0 });
    connection.edges.extend(rows.into_iter().map(|row| Edge::new(cursor(&row), node(row))));
    connection
}

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// A customer by the integration's reference id.
    /// Null for an unknown id (or another company's customer).
    async fn customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The integration's reference id.")] id: ID,
    ) -> async_graphql::Result<Option<Customer>> {
        let company_id = tenant(ctx)?;
        let row = db(ctx).read(move |conn| store::by_external_id(conn, company_id, &id)).await.gql()?;
        Ok(row.map(Customer))
    }

    /// The customer with this phone number (any format; if several share it, the latest updated).
    async fn customer_by_phone(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The number, any format (read as US without a country code); BAD_USER_INPUT if invalid."
        )]
        phone_number: String,
    ) -> async_graphql::Result<Option<Customer>> {
        let company_id = tenant(ctx)?;
        let e164 = customer::normalize_phone("phoneNumber", &phone_number).gql()?;
        let row = db(ctx).read(move |conn| store::by_phone(conn, company_id, &e164)).await.gql()?;
        Ok(row.map(Customer))
    }

    /// The company's customers, one page at a time.
    #[graphql(complexity = "super::connection_cost(first, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which customers; all when omitted.")] filter: Option<CustomerFilter>,
        #[graphql(default_with = "Some(CustomerOrderField::CreatedAt)", desc = "The sort key.")]
        order_by: Option<CustomerOrderField>,
        #[graphql(default_with = "Some(OrderDirection::Asc)", desc = "Ascending or descending.")]
        order_direction: Option<OrderDirection>,
        #[graphql(desc = "Page size, 0 to 500 (default 50; BAD_USER_INPUT otherwise).")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, as it came (opaque: an altered or foreign cursor is BAD_USER_INPUT)."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<CustomerConnection> {
        let company_id = tenant(ctx)?;
        let first = page_size(first).gql()?;
        let order = match order_by.unwrap_or_default() {
            CustomerOrderField::CreatedAt => CustomerOrder::CreatedAt,
            CustomerOrderField::UpdatedAt => CustomerOrder::UpdatedAt,
            CustomerOrderField::LastName => CustomerOrder::LastName,
            CustomerOrderField::Id => CustomerOrder::Id,
        };
        let desc = order_direction == Some(OrderDirection::Desc);
        let cursors = super::cursors(ctx, "customers")?;
        let cursor = match cursors.open(after.as_deref()).gql()? {
            Some(payload) => Some(
                CustomerCursor::decode(&payload)
                    .ok_or_else(|| ApiError::bad_input("after", "invalid cursor"))
                    .gql()?,
            ),
            None => None,
        };
        let f = filter.unwrap_or_default();
        let filter = store::CustomerFilter {
            is_test: f.is_test,
            do_not_call: f.do_not_call,
            contact_hold: f.contact_hold,
            task_type: f.task_type,
            state: f.state,
            search: crate::domain::search_term("search", f.search).gql()?,
            created_at_from: f.created_at_from,
            created_at_to: f.created_at_to,
        };
        let request = PageRequest { order, desc, after: cursor, first, with_total: wants_total(ctx) };
        let wants_estimate = ctx.look_ahead().field("totalCountEstimate").exists();
        // A list and its counts may be a moment stale: the read replica's, when in use.
        let (page, estimate) = db(ctx)
            .read_stale(move |conn| {
                let page = store::list(conn, company_id, &filter, &request)?;
                let estimate = if wants_estimate {
                    Some(store::estimate_count(conn, company_id, &filter)?)
                } else {
                    None
                };
                Ok((page, estimate))
            })
            .await
            .gql()?;
        let counts = CustomerCounts {
            total_count: page.total_count.unwrap_or(0),
            total_count_estimate: estimate.unwrap_or(0),
        };
        let ids: Vec<i64> = page.rows.iter().map(|(_, row)| row.id).collect();
        prefetch_first_pages(ctx, &ids).await?;
        let mut connection = Connection::with_additional_fields(after.is_some(), page.has_next_page, counts);
        connection.edges.extend(
            page.rows.into_iter().map(|(cursor, row)| Edge::new(cursors.seal(&cursor), Customer(row))),
        );
        Ok(connection)
    }
}

/// Loads the first pages of tasks and of calls that the selection asks of every customer of a
/// page, one query each, into the request's DataLoader cache, so `Customer.tasks` and
/// `Customer.calls` find them there. Without it, resolving a long page (which yields, and may be
/// slow on a busy machine) would spread the same keys over several time-bounded batches.
async fn prefetch_first_pages(ctx: &Context<'_>, ids: &[i64]) -> async_graphql::Result<()> {
    use async_graphql::{InputType, Value as GqlValue};
    if ids.is_empty() {
        return Ok(());
    }
    let look = ctx.look_ahead();
    let fields = |name: &str| {
        let mut fields = look.field("nodes").field(name).selection_fields();
        fields.extend(look.field("edges").field("node").field(name).selection_fields());
        fields
    };
    // Only what the resolvers would load with the loader: first pages without totalCount.
    let first_page_args = |field: &async_graphql::SelectionField<'_>| {
        let args: std::collections::HashMap<String, GqlValue> =
            field.arguments().ok()?.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
        let after = args.get("after").is_some_and(|v| *v != GqlValue::Null);
        let total = field.selection_set().any(|f| f.name() == "totalCount");
        let first = <Option<i32>>::parse(args.get("first").cloned()).ok()?;
        let first = page_size(first).ok()?;
        (!after && !total).then_some((args, first))
    };
    let loaders = super::loaders(ctx)?;
    for field in fields("tasks") {
        let Some((args, first)) = first_page_args(&field) else { continue };
        let Ok(status) = <Option<Vec<TaskStatus>>>::parse(args.get("status").cloned()) else { continue };
        let statuses = statuses(status);
        let keys = ids.iter().map(|&customer_id| CustomerTasksKey {
            customer_id,
            statuses: statuses.clone(),
            first,
        });
        loaders.load_many(keys).await.gql()?;
    }
    for field in fields("calls") {
        let Some((_, first)) = first_page_args(&field) else { continue };
        loaders
            .load_many(ids.iter().map(|&customer_id| CustomerCallsKey { customer_id, first }))
            .await
            .gql()?;
    }
    Ok(())
}
