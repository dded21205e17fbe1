//! The HTTP edge: POST and GET /graphql, the GraphQL WebSocket, GraphiQL, health, readiness,
//! metrics.

mod assets;
pub mod error;
mod graphql_http;
mod graphql_media;
pub mod persisted;
pub mod read_after;
mod shares;
pub mod telemetry;
mod websocket;
mod writes;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{guard, web, App, HttpRequest, HttpResponse, HttpServer};

use crate::dialer::WorkSignal;
use crate::events::{EventHub, HubConfig};
use crate::graphql::CallsyncSchema;
use crate::metrics::{Metrics, MetricsExtension};
use crate::store::api_keys::{self, KeyIdentity};
use crate::store::{Db, ServerPools, StoreError};

/// One company's requests running at once on an instance, unless configured.
pub const DEFAULT_COMPANY_CONCURRENCY: u32 = shares::DEFAULT_PER_COMPANY as u32;

/// Largest request body: a 10,000-record bulk request fits with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How long a verified API key is trusted without asking the database again: a revoked key
/// stops working on every instance within this (API.md: within 2 s).
const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
const KEY_CACHE_MAX: usize = 10_000;

/// How an instance runs: where "now" comes from, where outbound requests may go, the key
/// company secrets are sealed with, and who may read `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    pub clock: crate::clock::Clock,
    pub network: crate::net::NetworkPolicy,
    /// `CALLSYNC_SECRET_KEY`; without it no new secret can be stored.
    pub secrets: crate::secrets::Secrets,
    /// `CALLSYNC_METRICS_TOKEN`: when set, `/metrics` needs `Authorization: Bearer TOKEN`.
    pub metrics_token: Option<crate::domain::Secret>,
    /// How long an LMS request may take; None: [`crate::lms::TIMEOUT`] (tests shorten it).
    pub lms_timeout: Option<Duration>,
    /// `CALLSYNC_COMPANY_CONCURRENCY`: one company's requests running at once on this instance;
    /// None: [`shares::DEFAULT_PER_COMPANY`].
    pub company_concurrency: Option<usize>,
}

/// Everything the handlers share; built once and cloned into every worker.
#[derive(Clone)]
pub struct AppState {
    schema: CallsyncSchema,
    db: Db,
    /// The background workers' handle, on their reserved pool (see [`ServerPools`]).
    background: Db,
    work: WorkSignal,
    metrics: Arc<Metrics>,
    keys: Arc<KeyCache>,
    lms: crate::lms::LmsClient,
    secrets: crate::secrets::Secrets,
    metrics_token: Option<crate::domain::Secret>,
    shares: Arc<shares::CompanyShares>,
    /// The automatic persisted queries' documents, per company.
    persisted: Arc<persisted::PersistedQueries>,
}

/// Verified keys (by SHA-256) and who they are, trusted for [`KEY_CACHE_TTL`] of the
/// instance's clock (so a test that freezes its clock also freezes what is cached).
#[derive(Default)]
struct KeyCache(Mutex<HashMap<Vec<u8>, VerifiedKey>>);

/// Who a key is, and when (the instance's clock) that was read.
type VerifiedKey = (KeyIdentity, DateTime<Utc>);

impl KeyCache {
    fn get(&self, hash: &[u8], now: DateTime<Utc>) -> Option<KeyIdentity> {
        let ttl = chrono::Duration::from_std(KEY_CACHE_TTL).unwrap_or_default();
        let keys = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A clock set back makes an entry look younger than it is: asked again.
        keys.get(hash).filter(|(_, at)| *at <= now && now - *at < ttl).map(|(key, _)| *key)
    }

    fn insert(&self, hash: Vec<u8>, key: KeyIdentity, now: DateTime<Utc>) {
        let mut keys = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= KEY_CACHE_MAX {
            keys.clear();
        }
        keys.insert(hash, (key, now));
    }
}

impl AppState {
    /// Starts this instance's event hub on `database_url` and builds the schema once.
    pub fn new(pools: ServerPools, database_url: &str, hub_config: HubConfig) -> Self {
        Self::with_options(pools, database_url, hub_config, AppOptions::default())
    }

    /// As [`AppState::new`], with a clock and network policy of the caller's.
    pub fn with_options(
        pools: ServerPools,
        database_url: &str,
        hub_config: HubConfig,
        options: AppOptions,
    ) -> Self {
        let AppOptions { clock, network, secrets, metrics_token, lms_timeout, company_concurrency } = options;
        let shares = Arc::new(shares::CompanyShares::new(
            company_concurrency.unwrap_or(shares::DEFAULT_PER_COMPANY),
            shares::DEFAULT_WAIT,
        ));
        let hub = EventHub::start(database_url, HubConfig { clock: clock.clone(), ..hub_config });
        let waker = hub.clone();
        let wake: crate::store::CommitHook = Arc::new(move || waker.wake());
        let db = Db::new(pools.requests)
            .with_company_share(pools.company_share)
            .with_clock(clock.clone())
            .with_commit_hook(wake.clone());
        let db = match pools.replica {
            Some(replica) => db.with_replica(replica),
            None => db,
        };
        // The dialer's and jobs' commits wake the hub too: their events reach subscribers at once.
        let background = Db::new(pools.background).with_clock(clock).with_commit_hook(wake);
        let metrics = Arc::new(Metrics::new(hub.clone()));
        let work = WorkSignal::default();
        let lms = crate::lms::LmsClient::new(network, lms_timeout.unwrap_or(crate::lms::TIMEOUT));
        let schema =
            crate::graphql::schema_builder(db.clone(), hub.clone(), network, secrets.clone(), lms.clone())
                .data(work.clone())
                .extension(MetricsExtension(metrics.clone()))
                .extension(graphql_http::MarkRan)
                .finish();
        let keys = Arc::new(KeyCache::default());
        let persisted = Arc::default();
        AppState {
            schema,
            db,
            background,
            work,
            metrics,
            keys,
            lms,
            secrets,
            metrics_token,
            shares,
            persisted,
        }
    }

    /// Wakes this instance's worker.
    pub fn work_signal(&self) -> &WorkSignal {
        &self.work
    }

    /// The instance's database handle for the request path (its commits wake the event hub).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The handle the background workers run on (the dialer, webhook delivery, jobs, sweeps):
    /// connections of its own, so a flood of requests never takes them.
    pub fn background_db(&self) -> &Db {
        &self.background
    }

    /// The LMS client the GraphQL door uses too (same network policy).
    pub fn lms(&self) -> &crate::lms::LmsClient {
        &self.lms
    }

    /// Each company's share of this instance's running requests.
    pub(crate) fn shares(&self) -> &shares::CompanyShares {
        &self.shares
    }

    /// The automatic persisted queries' documents.
    pub(crate) fn persisted(&self) -> &persisted::PersistedQueries {
        &self.persisted
    }

    /// Seals and opens company secrets (the same key the GraphQL door uses).
    pub fn secrets(&self) -> &crate::secrets::Secrets {
        &self.secrets
    }

    /// Who `api_key` is (its company and scope), from the cache or the database.
    pub(crate) async fn authenticate(&self, api_key: &str) -> Result<Option<KeyIdentity>, StoreError> {
        let hash = crate::domain::keys::hash(api_key);
        let now = self.db.now();
        if let Some(identity) = self.keys.get(&hash, now) {
            return Ok(Some(identity));
        }
        let key = api_key.to_string();
        let identity = self.db.unshared().read(move |conn| api_keys::identify(conn, &key, now)).await?;
        if let Some(identity) = identity {
            self.keys.insert(hash, identity, now);
        }
        Ok(identity)
    }
}

/// A plain HTTP request to the API (GraphQL, REST, exports), not a WebSocket upgrade (whose
/// session lives longer than a request and is handled in `websocket`).
pub(crate) fn is_api_request(req: &actix_web::dev::ServiceRequest) -> bool {
    let path = req.path();
    let api = path == "/graphql"
        || path.starts_with("/v1/")
        || path.starts_with("/api/")
        || path.starts_with("/export/");
    api && !req.headers().contains_key(actix_web::http::header::UPGRADE)
}

/// The API key of a request: `X-API-Key`, else `Authorization: Bearer KEY`, else
/// `Authorization: Basic base64(anything:KEY)` (the key as the password, as vendors' HTTP
/// clients send it). A malformed header is no key.
pub(crate) fn api_key(req: &HttpRequest) -> Option<String> {
    let headers = req.headers();
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = auth.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(token.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok()?;
        let (_, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
        return Some(password.trim().to_string()).filter(|p| !p.is_empty());
    }
    None
}

/// Postgres cannot store NUL in text (nor in jsonb): every door refuses it up front, so.
pub(crate) const NUL_MESSAGE: &str = "text may not contain NUL (\\u0000) characters";

/// Where in a JSON value a string (or an object key) holds a NUL character: `name`,
/// `records[2].city`; None when none does.
pub(crate) fn nul_path(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| nul_path(v).map(|p| format!("[{i}]{p}")))
        }
        Value::Object(map) => nul_path_in(map),
        _ => None,
    }
}

/// [`nul_path`] of an object's keys and values.
pub(crate) fn nul_path_in(map: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    map.iter().find_map(|(k, v)| {
        if k.contains('\0') {
            return Some(format!(".{}", k.replace('\0', "")));
        }
        nul_path(v).map(|p| format!(".{k}{p}"))
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// 200 only while the primary answers (a replica never decides it: reads fall back to the
/// primary). The body's first line is the verdict; then one line for the primary and, when
/// configured, one for the replica.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let check = state.db.read(crate::store::ping);
    let (mut response, mut body) = match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(())) => (HttpResponse::Ok(), "ready\nprimary: up\n".to_string()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (HttpResponse::ServiceUnavailable(), "database unavailable\nprimary: down\n".to_string())
        }
        Err(_) => (HttpResponse::ServiceUnavailable(), "database timed out\nprimary: down\n".to_string()),
    };
    if let Some(replica) = state.db.replica() {
        body.push_str(&replica_line(&replica.status()));
    }
    response.content_type("text/plain").body(body)
}

/// `replica: up, lag 12 ms, in use` (or `skipped`, `down`, `checking`).
fn replica_line(status: &crate::store::ReplicaStatus) -> String {
    let use_ = if status.in_use { "in use" } else { "skipped" };
    match (status.up, status.lag) {
        (None, _) => "replica: checking, skipped\n".to_string(),
        (Some(false), _) | (Some(true), None) => format!("replica: down, {use_}\n"),
        (Some(true), Some(lag)) => format!(
            "replica: up, lag {} ms (limit {} ms), {use_}\n",
            lag.as_millis(),
            status.max_lag.as_millis()
        ),
    }
}

async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(token) = &state.metrics_token {
        if !bearer_matches(&req, token) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
                .content_type("text/plain")
                .body("/metrics needs Authorization: Bearer CALLSYNC_METRICS_TOKEN\n");
        }
    }
    let pool = state.db.pool();
    let mut body = state.metrics.render(&pool.state(), pool.max_size(), state.db.calls());
    if let Some(replica) = state.db.replica() {
        body.push_str(&crate::metrics::render_replica(&replica.status()));
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}

/// Whether the request carries `Authorization: Bearer TOKEN` with `expected`'s token. Compared
/// in constant time, on digests, so neither the token's bytes nor its length leak in timing.
fn bearer_matches(req: &HttpRequest, expected: &crate::domain::Secret) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let Some(auth) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = auth.trim().split_once(' ') else { return false };
    let given = Sha256::digest(token.trim().as_bytes());
    let wanted = Sha256::digest(expected.expose().as_bytes());
    scheme.eq_ignore_ascii_case("bearer") && bool::from(given.ct_eq(&wanted))
}

/// Binds the HTTP server to `listener`; the caller awaits (or spawns) the returned server.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    workers: usize,
) -> std::io::Result<(Server, SocketAddr)> {
    let addr = listener.local_addr()?;
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(writes::guard))
            // Outside `writes`: an idempotency claim is a write of the request's too.
            .wrap(actix_web::middleware::from_fn(read_after::guard))
            .wrap(actix_web::middleware::from_fn(shares::guard))
            .wrap(actix_web::middleware::from_fn(telemetry::trace_requests))
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route("/graphql", web::post().to(graphql_http::post))
            // A WebSocket upgrade (any request naming an Upgrade: the share guard leaves those
            // to the connection), else GraphQL over HTTP.
            .route(
                "/graphql",
                web::get()
                    .guard(guard::fn_guard(|ctx| ctx.head().headers().contains_key(header::UPGRADE)))
                    .to(websocket::graphql_ws),
            )
            .route("/graphql", web::get().to(graphql_http::get))
            .route("/", web::get().to(assets::graphiql))
            .route("/assets/{path:.*}", web::get().to(assets::asset))
            .route("/dashboard", web::get().to(assets::dashboard))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .configure(crate::rest::configure)
    })
    .workers(workers.max(1))
    .listen(listener)?
    .run();
    Ok((server, addr))
}
