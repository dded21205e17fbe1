//! What integrations send about a customer (CustomerInput, its loans and the consumer's
//! inconvenient times) and how a list of customers is asked for (filter, order).

use async_graphql::{Context, Enum, InputObject, Json, MaybeUndefined, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::calls::LineType;
use super::consent::ConsentInput;
use super::error::{ApiError, GqlResult};
use super::scalars::Date;
use super::{db, patch};
use crate::app::customers::{self as use_case, CustomerSubmission, PreparedCustomer};
use crate::domain::consumer::{self, RawTimeRange};
use crate::domain::customer::{self, CustomerPatch};
use crate::domain::lms::LoanRecord;
use crate::domain::Patch;
use crate::lms::LmsClient;

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
        let lms = ctx.data_unchecked::<LmsClient>();
        use_case::prepare(db(ctx), lms, super::secrets(ctx), company_id, submission).await.gql()
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
    pub(crate) is_test: Option<bool>,
    /// true: only Do Not Call customers; false: only those without the mark.
    pub(crate) do_not_call: Option<bool>,
    /// true: only customers on a contact hold; false: only those without one.
    pub(crate) contact_hold: Option<bool>,
    /// Only customers of this task type (schedule).
    pub(crate) task_type: Option<String>,
    /// Only customers whose address is in this state (code, e.g. "NY").
    pub(crate) state: Option<String>,
    /// Case-insensitive substring of the id, first or last name, e-mail or phone number.
    pub(crate) search: Option<String>,
    /// Inclusive.
    pub(crate) created_at_from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub(crate) created_at_to: Option<DateTime<Utc>>,
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
