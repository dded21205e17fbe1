//! Request telemetry: every HTTP request runs in a `request` span carrying a request id (the
//! caller's `X-Request-Id` when it is a plain token, else a new one), the method and path (never
//! the query string: it may hold a search term or a phone number), and, once known, the
//! company id and the GraphQL operation (`query viewer`: the first root field, bounded by the
//! schema). The id is returned as `X-Request-Id` and in `INTERNAL` errors, so a user's report
//! can be matched to the log line; one line is logged per request when it ends.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The id of `req` (set by [`trace_requests`]).
pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.0.clone())
}

/// A caller's id is kept when it is 1–64 of `A-Za-z0-9._-` (nothing that could forge a log line).
fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?.trim();
    let plain = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    plain.then(|| value.to_string())
}

/// The middleware (`actix_web::middleware::from_fn(trace_requests)`).
pub async fn trace_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = incoming_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
        company_id = tracing::field::Empty,
        operation = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request finished");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

/// Records the authenticated company on the current request's span.
pub fn record_company(company_id: uuid::Uuid) {
    tracing::Span::current().record("company_id", tracing::field::display(company_id));
}

/// Records the GraphQL operation on the current request's span.
pub fn record_operation(operation: &str) {
    tracing::Span::current().record("operation", operation);
}
