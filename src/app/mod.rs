//! The use-cases: each owns its transaction (the caller runs it in one, e.g. with
//! [`crate::store::Db::transaction`]), loads what the contact policy needs with few queries,
//! asks the policy, and writes. Every door (GraphQL, REST, the dialer, background jobs) calls
//! these. The errors of the business ([`AppError`]) live here; the doors map them.
//!
//! - [`contact`]: the policy's inputs (schedule terms, callee, state rules, contact history).
//! - [`calls`]: makeCall, reportCallStatus, recordCallAttempts, callEligibility.
//! - [`company`]: the company settings use-case (updateCompanySettings).
//! - [`customer_writes`]: create and upsert one customer (identity by id or phone).
//! - [`customers`]: syncCustomerSchedule, rebuilding schedules set-wise, Do Not Call at once.
//! - [`bulk`]: the calls of a bulk import.
//! - [`schedules`]: create, update and delete a schedule.
//! - [`keys`]: issue, list and revoke API keys.
//! - [`dialer`]: dial the next due task, fail stuck calls, webhook outcomes, background jobs.

pub mod bulk;
pub mod calls;
pub mod company;
pub mod consent;
pub mod contact;
pub mod customer_writes;
pub mod customers;
pub mod dialer;
pub mod handoff;
pub mod keys;
pub mod schedules;
pub mod suppression;

use thiserror::Error;

use crate::domain::contact_policy::Refusal;
use crate::domain::ValidationError;
use crate::store::StoreError;

/// Why a use-case did not do what was asked.
#[derive(Debug, Error)]
pub enum AppError {
    /// What the request names does not exist (for the key's company): a customer, a schedule…
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The contact policy refused the call (its code, reason and next allowed instant).
    #[error("{}", .0.message)]
    Refused(Refusal),
    #[error("{0}")]
    RateLimited(String),
    /// The company's LMS could not be reached or answered badly.
    #[error("{0}")]
    LmsUnavailable(String),
    #[error("{0}")]
    InvalidTransition(String),
    /// The customer is on the Do-Not-Call list and the sync did not clear it.
    #[error("the customer is on the Do-Not-Call list; send doNotCall: false to clear it")]
    DoNotCall,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationError> for AppError {
    fn from(e: ValidationError) -> Self {
        AppError::Store(StoreError::Invalid(e))
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        AppError::Store(e.into())
    }
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        AppError::Refused(r)
    }
}
