//! The API's errors: every one carries `extensions.code` (API.md), and input errors the field.

use async_graphql::ErrorExtensions;

use crate::app::AppError;
use crate::domain::contact_policy::{Refusal, RefusalCode};
use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid API key is required (X-API-Key header or Authorization: Bearer)")]
    Unauthenticated,
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
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::DoNotCall(_) => "DO_NOT_CALL",
            ApiError::Refused(refusal) => refusal.code.as_str(),
            ApiError::RateLimited(_) => "RATE_LIMITED",
            ApiError::InvalidTransition(_) => "INVALID_TRANSITION",
            ApiError::LmsUnavailable(_) => "LMS_UNAVAILABLE",
            ApiError::Busy(_) => "SERVICE_BUSY",
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
            Err(shared) => {
                tracing::error!(error = %shared, "batched load failed inside the store");
                ApiError::Internal
            }
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            ApiError::BadUserInput(v) => v.message.clone(),
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                ApiError::BadUserInput(v) => {
                    ext.set("field", v.field.as_str());
                    if let Some(valid) = &v.valid_task_types {
                        ext.set("validTaskTypes", valid.clone());
                    }
                }
                ApiError::Conflict { field, .. } => ext.set("field", field.as_str()),
                ApiError::Refused(refusal) => {
                    // Never for DNC or a paused schedule: no time will do.
                    if matches!(
                        refusal.code,
                        RefusalCode::OutsideCallingHours
                            | RefusalCode::ContactLimit
                            | RefusalCode::RecentlyDialed
                    ) {
                        ext.set("nextAllowedAt", refusal.next_allowed_at.map(|t| t.to_rfc3339()));
                    }
                    if refusal.code == RefusalCode::OutsideCallingHours {
                        ext.set("zones", refusal.zones.clone());
                    }
                    if let Some(reason) = refusal.reason {
                        ext.set("reason", reason.as_str());
                    }
                }
                _ => {}
            }
        })
    }
}

/// `?`-friendly conversion of layer errors into GraphQL errors with extensions.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> GqlResult<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().extend())
    }
}
