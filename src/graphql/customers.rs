//! Customers: queries, createCustomer, upsertCustomer.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, InputObject, Json, MaybeUndefined, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::calls::{call_page, Call, CallConnection, LineType};
use super::consent::ConsentInput;
use super::error::{ApiError, GqlResult};
use super::loaders::{CustomerCallsKey, CustomerTasksKey, LoansKey};
use super::scalars::Date;
use super::tasks::{statuses, task_page, Task, TaskConnection, TaskStatus};
use super::{db, now, page_size, patch, tenant, today, wants_total, OrderDirection, TotalCount};
use crate::app::customer_writes::MatchOn;
use crate::app::customers::{self as use_case, CustomerSubmission, PreparedCustomer, SyncSkip};
use crate::domain::consumer::{self, RawTimeRange};
use crate::domain::customer::{self, CustomerPatch};
use crate::domain::lms::LoanRecord;
use crate::domain::schedule_builder::SkipReason;
use crate::domain::Patch;
use crate::lms::LmsClient;
use crate::store::calls::CallFilter;
use crate::store::customers::{self as store, CustomerCursor, CustomerOrder, CustomerRow};
use crate::store::loans::LoanRow;
use crate::store::tasks::TaskFilter;
use crate::store::{PageRequest, TimeCursor};

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
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    /// Date of birth (`YYYY-MM-DD`).
    async fn birthday(&self) -> Option<Date> {
        self.0.birthday.map(Date::from)
    }
    /// The last 4 digits of the social security number.
    async fn ssn_last_four(&self) -> Option<&str> {
        self.0.ssn_last_four.as_deref()
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
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<TaskConnection> {
        let statuses = statuses(status);
        // A list's first pages come from one query for all its customers (no query per parent).
        if after.is_none() && !wants_total(ctx) {
            let first = page_size(first).gql()?;
            let key = CustomerTasksKey { customer_id: self.0.id, statuses, first };
            let rows = super::loaders(ctx)?.load_one(key).await.gql()?.unwrap_or_default();
            return Ok(first_page(rows, first, |t| TimeCursor::new(t.scheduled_for, t.id), Task));
        }
        let filter = TaskFilter { customer_row_id: Some(self.0.id), statuses, ..Default::default() };
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
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<CallConnection> {
        if after.is_none() && !wants_total(ctx) {
            let first = page_size(first).gql()?;
            let key = CustomerCallsKey { customer_id: self.0.id, first };
            let rows = super::loaders(ctx)?.load_one(key).await.gql()?.unwrap_or_default();
            return Ok(first_page(rows, first, |c| TimeCursor::new(c.created_at, c.id), Call));
        }
        let filter = CallFilter { customer_row_id: Some(self.0.id), ..Default::default() };
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

/// A customer as an integration sends it. On update, an omitted field keeps its value and an
/// explicit null clears it.
#[derive(InputObject)]
pub struct CustomerInput {
    /// The integration's own reference id. createCustomer requires it; elsewhere, without one
    /// the customer is matched on its phone number (phone as identity), and a new one gets a
    /// generated id (`cus_…`).
    id: Option<ID>,
    /// Given name.
    first_name: MaybeUndefined<String>,
    /// Family name.
    last_name: MaybeUndefined<String>,
    /// A valid e-mail address.
    email: MaybeUndefined<String>,
    /// A real past date, `YYYY-MM-DD`.
    birthday: MaybeUndefined<Date>,
    /// Exactly 4 digits.
    ssn_last_four: MaybeUndefined<String>,
    /// Any valid number; without a country code it is read as US. Stored as E.164.
    phone_number: MaybeUndefined<String>,
    /// IANA time zone name, e.g. America/New_York.
    timezone: MaybeUndefined<String>,
    /// One of the company's schedules' task types.
    task_type: MaybeUndefined<String>,
    /// First line of the postal address.
    street_address1: MaybeUndefined<String>,
    /// Second line of the postal address.
    street_address2: MaybeUndefined<String>,
    /// City of the postal address.
    city: MaybeUndefined<String>,
    /// US state, DC or territory code.
    state: MaybeUndefined<String>,
    /// 5 digits or ZIP+4.
    zip_code: MaybeUndefined<String>,
    /// true marks the number Do Not Call and cancels its pending tasks and queued calls. On a
    /// sync of a DNC customer, omitted or true is DO_NOT_CALL; false clears the mark.
    do_not_call: MaybeUndefined<bool>,
    /// A test customer (default false; omitted on a re-import keeps the stored value).
    is_test: MaybeUndefined<bool>,
    /// Alias of isTest.
    test: MaybeUndefined<bool>,
    /// A JSON object of at most 64 KiB; merged key by key on update.
    external_metadata: MaybeUndefined<Json<Value>>,
    /// A link to the customer's picture (http or https, at most 2,048 characters).
    picture_url: MaybeUndefined<String>,
    /// What line the number is on (default UNKNOWN, treated as a cell). A new number without
    /// one is UNKNOWN again.
    phone_line_type: MaybeUndefined<LineType>,
    /// Consent for this input's number, recorded with the customer (without it, a number given
    /// with a customer has PRIOR_EXPRESS consent PROVIDED_BY_CONSUMER, unless revoked).
    consent: Option<ConsentInput>,
    /// Customer-local weekly ranges the consumer said are inconvenient; replaces the stored
    /// ones (null or [] clears them).
    inconvenient_times: MaybeUndefined<Vec<TimeRangeInput>>,
    /// With sync: the loan the customer is enriched for.
    loan_id: Option<String>,
    /// With sync: keep only these of the LMS's loans (strings or numbers, as vendors send them).
    loan_ids: Option<Vec<ID>>,
    /// Fill the fields this input omits from the company's LMS first (phone and timezone may
    /// then stay missing: the customer is saved without a schedule).
    sync: Option<bool>,
    /// Loans to store with the customer (they win over the LMS's of the same loanId).
    loans: Option<Vec<LoanInput>>,
}

/// A day of the week.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    fn of(day: chrono::Weekday) -> Weekday {
        use chrono::Weekday as W;
        match day {
            W::Mon => Weekday::Mon,
            W::Tue => Weekday::Tue,
            W::Wed => Weekday::Wed,
            W::Thu => Weekday::Thu,
            W::Fri => Weekday::Fri,
            W::Sat => Weekday::Sat,
            W::Sun => Weekday::Sun,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Weekday::Mon => "MON",
            Weekday::Tue => "TUE",
            Weekday::Wed => "WED",
            Weekday::Thu => "THU",
            Weekday::Fri => "FRI",
            Weekday::Sat => "SAT",
            Weekday::Sun => "SUN",
        }
    }
}

/// A weekly customer-local range: `start` inclusive, `end` exclusive ("HH:MM"; "24:00" is
/// midnight).
#[derive(SimpleObject)]
pub struct TimeRange {
    /// The weekdays the range applies to.
    days: Vec<Weekday>,
    /// "HH:MM", customer-local, inclusive.
    start: String,
    /// "HH:MM", customer-local, exclusive ("24:00" is midnight).
    end: String,
}

impl From<consumer::TimeRange> for TimeRange {
    fn from(range: consumer::TimeRange) -> Self {
        TimeRange {
            days: range.days.iter().map(|d| Weekday::of(*d)).collect(),
            start: range.start_text(),
            end: range.end_text(),
        }
    }
}

/// A weekly customer-local range: `start` inclusive, `end` exclusive and after `start`
/// ("HH:MM"; "24:00" is midnight). An overnight block is two ranges.
#[derive(InputObject, Clone)]
pub struct TimeRangeInput {
    /// The weekdays the range applies to (at least one).
    days: Vec<Weekday>,
    /// "HH:MM", customer-local, inclusive.
    start: String,
    /// "HH:MM", customer-local, exclusive and after `start` ("24:00" is midnight).
    end: String,
}

impl TimeRangeInput {
    fn raw(self) -> RawTimeRange {
        RawTimeRange {
            days: self.days.iter().map(|d| d.code().to_string()).collect(),
            start: self.start,
            end: self.end,
        }
    }
}

/// A loan to store with the customer.
#[derive(InputObject, Clone)]
pub struct LoanInput {
    /// The loan's id in the lender's systems (a string or a number).
    loan_id: ID,
    /// The principal, in the loan's currency.
    amount: Option<f64>,
    /// One installment's amount, in the loan's currency.
    installment_amount: Option<f64>,
    /// The loan's term, in months.
    period_months: Option<i32>,
    /// The number of the installment now due (1-based).
    current_installment: Option<i32>,
    /// When the current installment is due, `YYYY-MM-DD`.
    due_date: Option<Date>,
    /// The lender's payment status (free text).
    payment_status: Option<String>,
}

impl LoanInput {
    /// The loans of an input, checked by the rules every door shares.
    fn records(loans: Vec<LoanInput>) -> Result<Vec<LoanRecord>, ApiError> {
        loans
            .into_iter()
            .enumerate()
            .map(|(i, loan)| {
                let input = crate::domain::lms::LoanInput {
                    loan_id: Some(loan.loan_id.0),
                    amount: loan.amount,
                    installment_amount: loan.installment_amount,
                    period_months: loan.period_months,
                    current_installment: loan.current_installment,
                    due_date: loan.due_date.map(|d| d.0),
                    payment_status: loan.payment_status,
                };
                Ok(input.record(&format!("loans.{i}"))?)
            })
            .collect()
    }
}

impl CustomerInput {
    /// Validates the loans and, with `sync: true`, enriches from the company's LMS
    /// ([`use_case::prepare`]).
    pub async fn prepare(
        self,
        ctx: &Context<'_>,
        company_id: uuid::Uuid,
    ) -> async_graphql::Result<PreparedCustomer> {
        let sync = self.sync == Some(true);
        let loan_ids: Option<Vec<String>> =
            self.loan_ids.as_ref().map(|ids| ids.iter().map(|id| id.to_string()).collect());
        let loan_id = self.loan_id.clone();
        let loans = LoanInput::records(self.loans.clone().unwrap_or_default()).gql()?;
        let patch = self.into_patch().gql()?;
        let submission = CustomerSubmission { patch, loans, sync, loan_ids, loan_id };
        use_case::prepare(db(ctx), ctx.data_unchecked::<LmsClient>(), company_id, submission).await.gql()
    }
}

impl CustomerInput {
    /// Takes the inline loans out of the input, validated.
    pub fn take_loans(&mut self) -> Result<Vec<LoanRecord>, ApiError> {
        LoanInput::records(self.loans.take().unwrap_or_default())
    }

    pub fn id_text(&self) -> Option<String> {
        self.id.as_ref().map(|id| id.0.clone())
    }

    pub fn into_patch(self) -> Result<CustomerPatch, ApiError> {
        Ok(CustomerPatch {
            external_id: customer::external_id_of(self.id.map_or(Patch::Keep, |id| Patch::Set(id.0)))?,
            is_test: customer::is_test_of(patch(self.is_test), patch(self.test))?,
            picture_url: patch(self.picture_url),
            first_name: patch(self.first_name),
            last_name: patch(self.last_name),
            email: patch(self.email),
            birthday: patch(self.birthday).map(|d| d.0),
            ssn_last_four: patch(self.ssn_last_four),
            phone_number: patch(self.phone_number),
            timezone: patch(self.timezone),
            task_type: patch(self.task_type),
            street_address1: patch(self.street_address1),
            street_address2: patch(self.street_address2),
            city: patch(self.city),
            state: patch(self.state),
            zip_code: patch(self.zip_code),
            do_not_call: patch(self.do_not_call),
            external_metadata: patch(self.external_metadata).map(|j| j.0),
            phone_line_type: patch(self.phone_line_type).map(|l| l.domain().code().to_string()),
            inconvenient_times: patch(self.inconvenient_times)
                .map(|ranges| ranges.into_iter().map(TimeRangeInput::raw).collect()),
            consent: self.consent.as_ref().map(ConsentInput::given),
            contact_optional: false,
        })
    }
}

/// Which customers to list; omitted fields do not filter.
#[derive(InputObject, Default)]
pub struct CustomerFilter {
    /// true: only test customers; false: only real ones.
    is_test: Option<bool>,
    /// true: only Do Not Call customers; false: only those without the mark.
    do_not_call: Option<bool>,
    /// true: only customers on a contact hold; false: only those without one.
    contact_hold: Option<bool>,
    /// Only customers of this task type (schedule).
    task_type: Option<String>,
    /// Only customers whose address is in this state (code, e.g. "NY").
    state: Option<String>,
    /// Case-insensitive substring of the id, first or last name, e-mail or phone number.
    search: Option<String>,
    /// Inclusive.
    created_at_from: Option<DateTime<Utc>>,
    /// Exclusive.
    created_at_to: Option<DateTime<Utc>>,
}

/// What a customer list is sorted by.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum CustomerOrderField {
    #[default]
    /// When the customer was created (the default).
    CreatedAt,
    /// When the customer last changed.
    UpdatedAt,
    /// Family name.
    LastName,
    /// The integration's id.
    Id,
}

/// How upsertCustomer finds the customer to update.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum CustomerKey {
    #[default]
    /// By `input.id` (the default).
    Id,
    /// By `input.phoneNumber`: the key that cannot change; without `id`, a new customer gets a
    /// generated one.
    PhoneNumber,
}

/// What upsertCustomer did.
#[derive(SimpleObject)]
pub struct UpsertCustomerPayload {
    /// The customer as stored now.
    customer: Customer,
    /// True when the customer was created (HTTP 201), false when updated (200).
    created: bool,
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
    fn code(self) -> &'static str {
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

fn not_found_customer(e: crate::app::AppError) -> ApiError {
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
    cursor: impl Fn(&Row) -> TimeCursor,
    node: impl Fn(Row) -> Node,
) -> Connection<String, Node, TotalCount> {
    let has_next_page = rows.len() as i64 > first;
    rows.truncate(first as usize);
    let mut connection =
        Connection::with_additional_fields(false, has_next_page, TotalCount { total_count: 0 });
    connection.edges.extend(rows.into_iter().map(|row| Edge::new(cursor(&row).encode(), node(row))));
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
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
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
        let cursor = match &after {
            Some(text) => Some(
                CustomerCursor::decode(text)
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
            search: f.search,
            created_at_from: f.created_at_from,
            created_at_to: f.created_at_to,
        };
        let request = PageRequest { order, desc, after: cursor, first, with_total: wants_total(ctx) };
        let wants_estimate = ctx.look_ahead().field("totalCountEstimate").exists();
        let (page, estimate) = db(ctx)
            .read(move |conn| {
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
        connection.edges.extend(page.rows.into_iter().map(|(cursor, row)| Edge::new(cursor, Customer(row))));
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
