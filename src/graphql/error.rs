//! The API's errors as GraphQL says them: every one carries `extensions.code` (API.md), and
//! input errors the field. The error itself is the doors' shared one ([`crate::http::error`]).

use async_graphql::ErrorExtensions;

use crate::domain::contact_policy::RefusalCode;
pub use crate::http::error::ApiError;

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
                ApiError::RateLimited(_) => ext.set("retryAfter", crate::http::error::RETRY_AFTER_SECONDS),
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
