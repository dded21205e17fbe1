//! What every write through HTTP passes before its handler (POST /graphql and every REST door
//! that is not a GET; a GET /graphql runs no mutation): a READ_ONLY key's REST write is refused (`FORBIDDEN`, 403; GraphQL
//! mutations are refused per field, see `graphql::mutation_guard`), an `Idempotency-Key` gets
//! the first answer back instead of a second write, and a REST write runs as an audited actor.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use async_graphql::ErrorExtensions;

use super::error::ApiError;
use super::graphql_http::AsItWillRun;
use super::graphql_media::MediaType;
use super::AppState;
use crate::domain::keys;
use crate::store::api_keys::KeyIdentity;
use crate::store::audit::{self, AuditContext};
use crate::store::idempotency::{self, Claim, StoredAnswer};

/// How long a retry waits for the first request with its key to answer.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(25);
/// Header set on an answer that is a stored first answer.
pub const REPLAYED: &str = "idempotent-replayed";

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let caller = match (state.as_ref(), super::api_key(req.request())) {
        (Some(state), Some(key)) => state.authenticate(&key).await.ok().flatten(),
        _ => None,
    };
    // No key, or an unknown one: the handler answers UNAUTHENTICATED in its own door's shape.
    let (Some(state), Some(caller)) = (state, caller) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let door = Door::of(req.request());
    let route =
        req.request().resource_map().match_pattern(req.path()).unwrap_or_else(|| req.path().to_string());
    let operation = format!("{} {route}", req.method());
    if door == Door::Rest && !caller.scope.may_write() {
        let error =
            ApiError::Forbidden(format!("this API key is {}: it may not change data", caller.scope.as_str()));
        return Ok(req.into_response(door.error(StatusCode::FORBIDDEN, &error)));
    }
    let Some(raw_key) =
        req.headers().get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{0}").to_string())
    else {
        return run(req, next, door, caller, operation).await;
    };
    if let Err(invalid) = keys::idempotency_key(&raw_key) {
        return Ok(req.into_response(door.error(StatusCode::BAD_REQUEST, &invalid.into())));
    }
    let body = req.extract::<web::Bytes>().await?;
    req.set_payload(body.clone().into());
    // A GraphQL request as it will run: a persisted query's document comes from the cache.
    let as_run = match door {
        Door::GraphQl(_) => AsItWillRun::of(&body, state.persisted(), caller.company_id),
        Door::Rest => None,
    };
    if door.is_graphql() && !as_run.as_ref().is_some_and(AsItWillRun::has_mutation) {
        return run(req, next, door, caller, operation).await; // a read writes nothing to repeat
    }
    let request_hash = {
        let mut hash = Sha256::new();
        hash.update(req.method().as_str());
        hash.update(b" ");
        hash.update(req.uri().to_string());
        hash.update(b"\n");
        hash.update(as_run.and_then(|r| r.canonical).as_deref().unwrap_or(&body));
        hash.finalize().to_vec()
    };
    let company = caller.company_id;
    let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
        let (key, hash, now) = (raw_key.clone(), request_hash.clone(), state.db().now());
        let claim = state.db().write(move |conn| idempotency::claim(conn, company, &key, &hash, now)).await;
        match claim {
            Ok(Claim::Claimed) => break,
            Ok(Claim::Answered(answer)) => return Ok(req.into_response(replay(answer))),
            Ok(Claim::OtherRequest) => {
                let error = ApiError::IdempotencyKeyReused(
                    "this Idempotency-Key was used with another request (method, path or body)".into(),
                );
                return Ok(req.into_response(door.error(StatusCode::CONFLICT, &error)));
            }
            Ok(Claim::InFlight) if tokio::time::Instant::now() < deadline => tokio::time::sleep(POLL).await,
            Ok(Claim::InFlight) => {
                let error = ApiError::Conflict {
                    field: "Idempotency-Key".into(),
                    message: "a request with this Idempotency-Key is still running; retry later".into(),
                };
                return Ok(req.into_response(door.error(StatusCode::CONFLICT, &error)));
            }
            Err(e) => {
                let error = ApiError::from(e);
                return Ok(req.into_response(door.error(StatusCode::SERVICE_UNAVAILABLE, &error)));
            }
        }
    }
    let response = run(req, next, door, caller, operation).await;
    let (request, answer) = match response {
        Ok(response) => {
            let (request, response) = response.into_parts();
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = actix_web::body::to_bytes(response.into_body())
                .await
                .map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))?;
            (request, StoredAnswer { status: status.as_u16(), content_type, body: body.to_vec() })
        }
        Err(e) => {
            let key = raw_key.clone();
            let _ = state.db().write(move |conn| idempotency::release(conn, company, &key)).await;
            return Err(e);
        }
    };
    let key = raw_key.clone();
    let stored = if passing_failure(&answer) {
        // A retry should run again: nothing was written, and the cause may have gone.
        state.db().write(move |conn| idempotency::release(conn, company, &key)).await
    } else {
        let kept = answer.clone();
        state.db().write(move |conn| idempotency::complete(conn, company, &key, &kept)).await
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "an idempotency answer could not be stored");
    }
    Ok(ServiceResponse::new(request, answer_response(&answer, false)))
}

/// The handler, for a REST write as an audited actor (GraphQL audits per root field).
async fn run(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    door: Door,
    caller: KeyIdentity,
    operation: String,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if door.is_graphql() {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let context = AuditContext { company_id: caller.company_id, api_key_id: Some(caller.key_id), operation };
    Ok(audit::audited(context, next.call(req)).await?.map_into_boxed_body())
}

/// Which door a request came through: errors are said in its shape (GraphQL's in the media
/// type the request accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Door {
    GraphQl(MediaType),
    Rest,
}

impl Door {
    pub(super) fn of(req: &HttpRequest) -> Self {
        if req.path() == "/graphql" {
            Door::GraphQl(super::graphql_http::accepted(req).unwrap_or(MediaType::Json))
        } else {
            Door::Rest
        }
    }

    pub(super) fn is_graphql(self) -> bool {
        matches!(self, Door::GraphQl(_))
    }

    /// An error in the door's own shape: GraphQL's `errors[].extensions`, REST's `error`.
    pub(super) fn error(self, status: StatusCode, error: &ApiError) -> HttpResponse {
        if let Door::GraphQl(media) = self {
            // The GraphQL door's own conversion (`ErrorExtensions for ApiError`).
            return super::graphql_http::refusal(media, status, error.extend());
        }
        // REST names the field as the header is named (`Idempotency-Key`), not in snake_case as
        // `RestError::from_api` would.
        let field = match error {
            ApiError::BadUserInput(v) => Some(v.field.clone()),
            ApiError::Conflict { field, .. } => Some(field.clone()),
            _ => None,
        };
        let message = match error {
            ApiError::BadUserInput(v) => v.message.clone(),
            other => other.to_string(),
        };
        let mut body = json!({"error": {"code": error.code(), "message": message, "field": field}});
        let mut response = HttpResponse::build(status);
        if let ApiError::RateLimited(_) = error {
            body["error"]["retry_after"] = json!(super::error::RETRY_AFTER_SECONDS);
            response.insert_header((actix_web::http::header::RETRY_AFTER, super::error::RETRY_AFTER_SECONDS));
        }
        response.json(body)
    }
}

/// An answer a retry should not get back: the server failed, was busy or was rate-limited,
/// or the company's LMS was down — in GraphQL, said by the errors' codes; or nothing ran
/// because of how the request was sent (its Content-Type or Accept, a persisted query's
/// document not held), which the retry may have put right.
fn passing_failure(answer: &StoredAnswer) -> bool {
    const PASSING: [&str; 5] =
        ["INTERNAL", "SERVICE_BUSY", "RATE_LIMITED", "LMS_UNAVAILABLE", "PERSISTED_QUERY_NOT_FOUND"];
    if answer.status >= 500 || answer.status == 429 || answer.status == 406 || answer.status == 415 {
        return true;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else {
        return false;
    };
    let responses = match body {
        Value::Array(items) => items,
        single => vec![single],
    };
    responses.iter().filter_map(|r| r.get("errors").and_then(Value::as_array)).flatten().any(|e| {
        e.pointer("/extensions/code").and_then(Value::as_str).is_some_and(|code| PASSING.contains(&code))
    })
}

fn answer_response(answer: &StoredAnswer, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    if let Some(content_type) = &answer.content_type {
        response.insert_header((header::CONTENT_TYPE, content_type.as_str()));
    }
    if replayed {
        response.insert_header((REPLAYED, "true"));
    }
    response.body(answer.body.clone())
}

fn replay(answer: StoredAnswer) -> HttpResponse {
    answer_response(&answer, true)
}
