//! Each company's share of this instance: at most `per_company` of its requests run at once
//! (GraphQL and REST; WebSocket connections are not requests). A company past its share waits
//! a moment for one of its own requests to finish, then gets `RATE_LIMITED` with `retryAfter`;
//! other companies never wait for it, so one tenant's flood cannot take the service from the
//! rest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::error::ApiError;
use super::error::RETRY_AFTER_SECONDS;
use super::writes::Door;
use super::AppState;

/// Requests of one company running at once on one instance, by default.
pub const DEFAULT_PER_COMPANY: usize = 16;
/// How long a request past its company's share waits for a turn before it is refused.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// The running requests of every company seen, each bounded by its own semaphore.
pub struct CompanyShares {
    per_company: usize,
    wait: Duration,
    companies: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

impl CompanyShares {
    pub fn new(per_company: usize, wait: Duration) -> Self {
        CompanyShares { per_company: per_company.max(1), wait, companies: Mutex::default() }
    }

    /// A turn for one of `company`'s requests, or None once its share stayed full for `wait`.
    async fn enter(&self, company: Uuid) -> Option<OwnedSemaphorePermit> {
        let share = {
            let mut companies = self.companies.lock().unwrap_or_else(|e| e.into_inner());
            companies.entry(company).or_insert_with(|| Arc::new(Semaphore::new(self.per_company))).clone()
        };
        tokio::time::timeout(self.wait, share.acquire_owned()).await.ok()?.ok()
    }
}

/// Runs an authenticated GraphQL or REST request within its company's share.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let key = super::api_key(req.request());
    let (true, Some(state), Some(key)) = (super::is_api_request(&req), state, key) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // An unknown key (or a failed lookup) is the handler's to answer, in its door's shape.
    let Ok(Some(caller)) = state.authenticate(&key).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(_turn) = state.shares().enter(caller.company_id).await else {
        let error = ApiError::RateLimited(format!(
            "this company already has {} requests running on this instance; retry in {RETRY_AFTER_SECONDS} s",
            state.shares().per_company
        ));
        let door = Door::of(req.request());
        return Ok(req.into_response(door.error(StatusCode::TOO_MANY_REQUESTS, &error)));
    };
    // Its database calls count in its company's share of them too (see `Db::with_company_share`).
    Ok(crate::store::as_company(caller.company_id, next.call(req)).await?.map_into_boxed_body())
}
