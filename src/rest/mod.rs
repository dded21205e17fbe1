//! REST endpoints in the seed vendors' shapes (snake_case in, snake_case out), and the CSV
//! exports. A thin door: each handler reads the body, calls the same use-case as GraphQL, and
//! maps the outcome to a status code and `{"error": {code, message, field}}`. No rule lives here.

mod customer_view;
mod customers;
mod export;
mod fields;
mod schedule_view;
mod schedules;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::AppError;
use crate::domain::contact_policy::RefusalCode;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::store::api_keys::KeyIdentity;

/// Registers every REST and export route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/customers", web::post().to(customers::create))
        .route("/v1/customers/upsert", web::post().to(customers::upsert))
        .route("/v1/customers/add/bulk", web::post().to(customers::bulk))
        .route("/api/v1/customers/add/bulk", web::post().to(customers::bulk))
        .route("/v1/customers", web::get().to(customers::list))
        .route("/v1/customers/{id}", web::get().to(customers::show))
        .route("/v1/customer-schedule-sync", web::post().to(customers::sync))
        .route("/api/v1/schedules", web::get().to(schedules::list))
        .route("/api/v1/schedules.csv", web::get().to(schedules::list_csv))
        .route("/api/v1/schedules", web::post().to(schedules::create))
        .route("/api/v1/schedules/new", web::get().to(schedules::new))
        .route("/api/v1/schedules/make_call", web::post().to(schedules::make_call))
        .route("/api/v1/schedules/{id}", web::get().to(schedules::get))
        .route("/api/v1/schedules/{id}", web::put().to(schedules::update))
        .route("/api/v1/schedules/{id}", web::delete().to(schedules::delete))
        .route("/export/customers.csv", web::get().to(export::customers))
        .route("/export/schedules.csv", web::get().to(export::schedules))
        .route("/export/tasks.csv", web::get().to(export::tasks))
        .route("/export/calls.csv", web::get().to(export::calls));
}

/// An error answer: the GraphQL code, an HTTP status, and the snake_case field at fault.
#[derive(Debug)]
pub(crate) struct RestError {
    status: StatusCode,
    body: Value,
    /// The field is named exactly as the client sent it: no door renames it.
    field_as_sent: bool,
}

impl RestError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>, field: Option<String>) -> Self {
        RestError {
            status,
            body: json!({"error": {"code": code, "message": message.into(), "field": field}}),
            field_as_sent: false,
        }
    }

    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        RestError::new(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message, Some(field.to_string()))
    }

    /// A field named exactly as the client sent it (an unknown key): no door renames it.
    pub fn named_as_sent(mut self) -> Self {
        self.field_as_sent = true;
        self
    }

    pub fn not_found(what: &str) -> Self {
        RestError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("{what} not found"), None)
    }

    /// An API error as this door says it: the status for its code, and the input field in
    /// snake_case (or as `aliases` renames it: e.g. `externalMetadata` is `properties`).
    pub fn from_api(error: ApiError, aliases: &[(&str, &str)]) -> Self {
        let code = error.code();
        let status = match &error {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::IdempotencyKeyReused(_) => StatusCode::CONFLICT,
            ApiError::BadUserInput(_) | ApiError::DoNotCall(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::PersistedQueryNotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::InvalidTransition(_) => StatusCode::CONFLICT,
            ApiError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::LmsUnavailable(_) => StatusCode::BAD_GATEWAY,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let rename = |field: &str| {
            aliases
                .iter()
                .find(|(from, _)| *from == field)
                .map_or_else(|| snake_case(field), |(_, to)| to.to_string())
        };
        let (message, field) = match &error {
            ApiError::BadUserInput(v) => (v.message.clone(), Some(rename(&v.field))),
            ApiError::Conflict { field, message } => (message.clone(), Some(rename(field))),
            other => (other.to_string(), None),
        };
        let mut body = json!({"error": {"code": code, "message": message, "field": field}});
        let detail = &mut body["error"];
        if let ApiError::BadUserInput(v) = &error {
            if let Some(valid) = &v.valid_task_types {
                detail["valid_task_types"] = json!(valid);
            }
        }
        if let ApiError::RateLimited(_) = &error {
            detail["retry_after"] = json!(crate::http::error::RETRY_AFTER_SECONDS);
        }
        if let ApiError::Refused(refusal) = &error {
            if matches!(
                refusal.code,
                RefusalCode::OutsideCallingHours | RefusalCode::ContactLimit | RefusalCode::RecentlyDialed
            ) {
                detail["next_allowed_at"] = json!(refusal.next_allowed_at.map(|t| t.to_rfc3339()));
            }
            detail["reason"] = json!(refusal.reason.map(|r| r.as_str()));
            detail["zones"] = json!(refusal.zones);
        }
        RestError { status, body, field_as_sent: false }
    }

    pub fn from_app(error: AppError, aliases: &[(&str, &str)]) -> Self {
        RestError::from_api(error.into(), aliases)
    }

    /// (field, code, message), e.g. for a bulk record's error.
    pub fn parts(&self) -> (Option<String>, String, String) {
        let e = &self.body["error"];
        let text = |v: &Value| v.as_str().map(str::to_string);
        (text(&e["field"]), text(&e["code"]).unwrap_or_default(), text(&e["message"]).unwrap_or_default())
    }

    pub fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.insert_header((
                actix_web::http::header::RETRY_AFTER,
                crate::http::error::RETRY_AFTER_SECONDS,
            ));
        }
        response.json(&self.body)
    }
}

impl From<AppError> for RestError {
    fn from(e: AppError) -> Self {
        RestError::from_app(e, &[])
    }
}

impl From<crate::store::StoreError> for RestError {
    fn from(e: crate::store::StoreError) -> Self {
        RestError::from_api(e.into(), &[])
    }
}

impl From<crate::domain::ValidationError> for RestError {
    fn from(e: crate::domain::ValidationError) -> Self {
        RestError::from_api(e.into(), &[])
    }
}

/// `firstName` → `first_name`, `streetAddress1` → `street_address1`.
pub fn snake_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `first_name` → `firstName`, `street_address1` → `streetAddress1`; dotted paths part by part
/// (`inconvenient_times.0.start` → `inconvenientTimes.0.start`).
pub fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        match c {
            '_' if !out.is_empty() && !out.ends_with('.') => upper = true,
            c if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// Which casing a door's vendor uses for its names (answers and error fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Casing {
    Snake,
    Camel,
}

impl Casing {
    pub fn name(self, field: &str) -> String {
        match self {
            Casing::Snake => snake_case(field),
            Casing::Camel => camel_case(field),
        }
    }

    /// The object's keys in this casing (values untouched: metadata keeps its own names).
    pub fn keys(self, map: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
        map.into_iter().map(|(k, v)| (self.name(&k), v)).collect()
    }
}

/// The company of the request's API key (the same headers as GraphQL).
pub(crate) async fn company(state: &AppState, req: &HttpRequest) -> Result<Uuid, RestError> {
    caller(state, req).await.map(|caller| caller.company_id)
}

/// Who the request's API key is: its company and scope.
pub(crate) async fn caller(state: &AppState, req: &HttpRequest) -> Result<KeyIdentity, RestError> {
    let unauthenticated = || RestError::from_api(ApiError::Unauthenticated, &[]);
    let key = crate::http::api_key(req).ok_or_else(unauthenticated)?;
    match state.authenticate(&key).await {
        Ok(Some(caller)) => {
            crate::http::telemetry::record_company(caller.company_id);
            Ok(caller)
        }
        Ok(None) => Err(unauthenticated()),
        Err(e) => {
            tracing::error!(error = %e, "API key lookup failed");
            Err(RestError::from_api(ApiError::Internal, &[]))
        }
    }
}

/// Turns a handler's outcome into the answer; an INTERNAL error carries the request's id (its
/// cause is only in the log, which the id finds).
pub(crate) fn answer(req: &HttpRequest, result: Result<HttpResponse, RestError>) -> HttpResponse {
    answer_as(req, None, result)
}

/// [`answer`] for a door whose vendor names every field in `casing`: an error names its field
/// so (errors are made in snake_case, as most vendors name fields).
pub(crate) fn answer_as(
    req: &HttpRequest,
    casing: Option<Casing>,
    result: Result<HttpResponse, RestError>,
) -> HttpResponse {
    result.unwrap_or_else(|mut e| {
        let renamed = casing
            .filter(|_| !e.field_as_sent)
            .and_then(|c| e.body["error"]["field"].as_str().map(|f| c.name(f)));
        if let Some(field) = renamed {
            e.body["error"]["field"] = json!(field);
        }
        if e.body["error"]["code"] == "INTERNAL" {
            if let Some(id) = crate::http::telemetry::request_id(req) {
                e.body["error"]["request_id"] = json!(id);
            }
        }
        e.response()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_names_are_snake_case() {
        assert_eq!(super::snake_case("streetAddress1"), "street_address1");
        assert_eq!(super::snake_case("maxAttemptsPer7Days"), "max_attempts_per7_days");
        assert_eq!(super::snake_case("id"), "id");
        assert_eq!(super::camel_case("street_address1"), "streetAddress1");
        assert_eq!(super::camel_case("inconvenient_times.0.start"), "inconvenientTimes.0.start");
        assert_eq!(super::camel_case("firstName"), "firstName");
        assert_eq!(super::camel_case("loans[0].due_date"), "loans[0].dueDate");
    }
}
