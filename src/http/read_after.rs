//! Read-your-writes across the read replica (only when the instance has one): every
//! authenticated GraphQL, REST or export request runs in a [`ReadSession`] of its API key, so
//! its stale-tolerant reads wait for the key's last write on this instance and for the position
//! it sends in `Callsync-Read-After`; a request that wrote answers with its position in
//! `Callsync-Write-Position`, for a client that spreads its requests over instances.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use super::error::ApiError;
use super::writes::Door;
use super::AppState;
use crate::domain::ValidationError;
use crate::store::replica::{self, Lsn, ReadSession};

/// Sent back: the WAL position a request's writes committed at.
pub const WRITE_POSITION: &str = "callsync-write-position";
/// Sent by a client: read only data that includes this position (from `Callsync-Write-Position`).
pub const READ_AFTER: &str = "callsync-read-after";

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (true, Some(state)) = (super::is_api_request(&req), state) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if state.db().replica().is_none() {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let read_after = match req.headers().get(READ_AFTER) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(Lsn::parse) {
            Some(lsn) => Some(lsn),
            None => {
                let invalid = ValidationError::new(
                    "Callsync-Read-After",
                    "Callsync-Read-After must be a Callsync-Write-Position as the service sent it (like 16/B374D848)",
                );
                let door = Door::of(req.request());
                return Ok(req.into_response(door.error(StatusCode::BAD_REQUEST, &ApiError::from(invalid))));
            }
        },
    };
    // An unknown key writes nothing: its request is the handler's to refuse.
    let client = match super::api_key(req.request()) {
        Some(key) => state.authenticate(&key).await.ok().flatten().map(|caller| caller.key_id),
        None => None,
    };
    let session = ReadSession::new(client, read_after);
    let mut response = replica::in_session(session.clone(), next.call(req)).await?.map_into_boxed_body();
    if let Some(position) = session.wrote() {
        if let Ok(value) = HeaderValue::from_str(&position.to_string()) {
            response.headers_mut().insert(HeaderName::from_static(WRITE_POSITION), value);
        }
    }
    Ok(response)
}
