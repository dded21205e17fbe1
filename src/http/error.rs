//! The error every door answers with (GraphQL's `extensions.code`, REST's `error.code` and
//! status): the use-cases' errors mapped once, whichever door asked.

use crate::app::AppError;
use crate::domain::contact_policy::Refusal;
use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid API key is required (X-API-Key header or Authorization: Bearer)")]
    Unauthenticated,
    /// The key's scope does not allow this (a READ_ONLY key's write).
    #[error("{0}")]
    Forbidden(String),
    /// An Idempotency-Key already used with another request.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error("{0}")]
    BadUserInput(ValidationError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("{0}")]
    DoNotCall(String),
    /// The contact policy refused a call: its code, and when it would allow one.
    #[error("{}", .0.message)]
    Refused(Refusal),
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{0}")]
    LmsUnavailable(String),
    #[error("{0}")]
    Busy(String),
    /// A persisted query's hash that this server does not hold (Apollo's APQ): the client sends
    /// the document with it. The message is the one Apollo clients look for.
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    #[error("internal error")]
    Internal,
}

/// How long a client told `RATE_LIMITED` should wait before it retries (`retryAfter`, REST's
/// `Retry-After`): the shares it ran into free up as its own calls finish, within moments.
pub const RETRY_AFTER_SECONDS: u64 = 1;

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::IdempotencyKeyReused(_) => "IDEMPOTENCY_KEY_REUSED",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::DoNotCall(_) => "DO_NOT_CALL",
            ApiError::Refused(refusal) => refusal.code.as_str(),
            ApiError::RateLimited(_) => "RATE_LIMITED",
            ApiError::InvalidTransition(_) => "INVALID_TRANSITION",
            ApiError::LmsUnavailable(_) => "LMS_UNAVAILABLE",
            ApiError::Busy(_) => "SERVICE_BUSY",
            ApiError::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ApiError::Internal => "INTERNAL",
        }
    }

    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadUserInput(ValidationError::new(field, message))
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::BadUserInput(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("record"),
            StoreError::Conflict { field, message } => ApiError::Conflict { field, message },
            StoreError::Invalid(v) => ApiError::BadUserInput(v),
            e @ StoreError::Busy(_) => ApiError::Busy(e.to_string()),
            e @ StoreError::CompanyBusy(_) => ApiError::RateLimited(e.to_string()),
            // No values: the request id on the request's log line says whose it was.
            e @ StoreError::TimedOut => {
                tracing::warn!("a database statement ran past statement_timeout and was cancelled");
                ApiError::Busy(e.to_string())
            }
            // Logged with the database's message only: Postgres keeps row values in the detail.
            other => {
                tracing::error!(error = %other, "request failed inside the store");
                ApiError::Internal
            }
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound(what) => ApiError::NotFound(what),
            AppError::Refused(refusal) => ApiError::Refused(refusal),
            AppError::RateLimited(m) => ApiError::RateLimited(m),
            AppError::LmsUnavailable(m) => ApiError::LmsUnavailable(m),
            AppError::InvalidTransition(m) => ApiError::InvalidTransition(m),
            e @ AppError::DoNotCall => ApiError::DoNotCall(e.to_string()),
            AppError::Store(e) => e.into(),
        }
    }
}

/// DataLoader errors are shared between the fields that asked for the same key.
impl From<std::sync::Arc<StoreError>> for ApiError {
    fn from(e: std::sync::Arc<StoreError>) -> Self {
        match std::sync::Arc::try_unwrap(e) {
            Ok(e) => e.into(),
            // Shared or not, a full queue or a cancelled statement says the same to each field.
            Err(shared) if matches!(*shared, StoreError::Busy(_) | StoreError::TimedOut) => {
                ApiError::Busy(shared.to_string())
            }
            Err(shared) if matches!(*shared, StoreError::CompanyBusy(_)) => {
                ApiError::RateLimited(shared.to_string())
            }
            Err(shared) => {
                tracing::error!(error = %shared, "batched load failed inside the store");
                ApiError::Internal
            }
        }
    }
}
