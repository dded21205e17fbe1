//! Postgres through Diesel: the only place SQL lives. Every function takes the tenant's
//! `company_id` and filters on it; every write runs inside one transaction (see [`Db::write`]).

pub mod api_keys;
pub mod audit;
pub mod bulk;
pub mod call_handoff;
pub mod calls;
pub mod companies;
pub mod consents;
pub mod contact_history;
pub mod customer_list;
pub mod customers;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod loans;
pub mod schedules;
pub mod schema;
pub mod suppressed;
pub mod task_dialing;
pub mod tasks;

use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use thiserror::Error;

use crate::domain::ValidationError;

pub type PgPool = Pool<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Serialises migrations across instances starting at once (an arbitrary, fixed key).
const MIGRATION_LOCK_KEY: i64 = 0x00ca_115e_u64 as i64;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("database error: {0}")]
    Database(DieselError),
    /// A statement ran past the connection's `statement_timeout` and Postgres cancelled it
    /// (its transaction rolled back): the limit, in milliseconds, when known.
    #[error("a database statement ran past its time limit and was cancelled; nothing was changed. Retry shortly, or ask for less (fewer aliases, a narrower filter)")]
    TimedOut,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// One company's share of the database calls stayed full: that company should slow down.
    #[error(
        "this company already has {0} database calls running or waiting on this instance; retry in a second"
    )]
    CompanyBusy(usize),
    /// Every connection is in use and the queue for one is full: retry shortly.
    #[error("the service is busy: {0} database calls are running or waiting; retry shortly")]
    Busy(usize),
    #[error("migration failed: {0}")]
    Migration(String),
}

/// Postgres cancels a statement past `statement_timeout` with SQLSTATE 57014 and this primary
/// message; Diesel keeps no SQLSTATE, so the message tells it apart (Postgres sends it in
/// English unless the server's `lc_messages` says otherwise).
const STATEMENT_TIMEOUT_MESSAGE: &str = "canceling statement due to statement timeout";

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains(STATEMENT_TIMEOUT_MESSAGE) =>
            {
                StoreError::TimedOut
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        StoreError::Conflict { field: field.to_string(), message: message.into() }
    }
}

/// Whether a Diesel error is the unique violation of the named constraint or index.
pub(crate) fn is_unique_violation(err: &DieselError, constraint: &str) -> bool {
    matches!(err, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some(constraint))
}

/// The pool plus the rule that blocking Diesel work never runs on an async worker thread.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    /// Blocking database calls made (for metrics, and to prove batching in tests).
    calls: std::sync::Arc<std::sync::atomic::AtomicU64>,
    on_commit: Option<CommitHook>,
    /// Bounds the database calls running or waiting for a connection (each holds a blocking
    /// thread): a caller beyond it waits at most `gate_wait`, then gets [`StoreError::Busy`].
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    /// Each company's share of the gate (the request path's handle only): a company's calls
    /// take a place among its own first, so one tenant never fills the gate's queue.
    company_calls: Option<std::sync::Arc<CompanyCalls>>,
    /// The company this handle's calls are made for, when not the running task's (see
    /// [`as_company`]): a DataLoader's or an export's task of its own.
    company: Option<uuid::Uuid>,
    gate_size: usize,
    gate_wait: Duration,
    /// "Now" for every use-case that runs through this handle (settable in tests).
    clock: crate::clock::Clock,
}

/// Called after each committed write transaction (the event hub's wake-up).
pub type CommitHook = std::sync::Arc<dyn Fn() + Send + Sync>;

impl Db {
    pub fn new(pool: PgPool) -> Self {
        // Four calls per connection may run or wait; past that, callers queue (without a thread).
        let gate_size = pool.max_size() as usize * 4;
        Db {
            pool,
            calls: Default::default(),
            on_commit: None,
            gate: std::sync::Arc::new(tokio::sync::Semaphore::new(gate_size)),
            company_calls: None,
            company: None,
            gate_size,
            gate_wait: Duration::from_secs(5),
            clock: crate::clock::Clock::system(),
        }
    }

    /// The same pool with at most `per_company` database calls of one company running or
    /// waiting for a connection; a company's call beyond it waits (without a thread) at most
    /// the gate's wait for one of its own to finish, then gets [`StoreError::CompanyBusy`].
    pub fn with_company_share(self, share: CompanyShare) -> Self {
        Db { company_calls: Some(std::sync::Arc::new(CompanyCalls::new(share))), ..self }
    }

    /// The same handle, its calls counted in no company's share: the door's own work for a
    /// request (reading who its API key is) is no company's doing.
    pub fn unshared(&self) -> Db {
        Db { company_calls: None, ..self.clone() }
    }

    /// The same handle, its calls counted in `company`'s share wherever they run.
    pub fn for_company(&self, company: uuid::Uuid) -> Db {
        Db { company: Some(company), ..self.clone() }
    }

    /// The same pool with at most `size` database calls running or waiting for a connection,
    /// and callers beyond it waiting at most `wait`.
    pub fn with_gate(self, size: usize, wait: Duration) -> Self {
        Db {
            gate: std::sync::Arc::new(tokio::sync::Semaphore::new(size.max(1))),
            gate_size: size.max(1),
            gate_wait: wait,
            ..self
        }
    }

    /// The same pool, reading time from `clock`.
    pub fn with_clock(self, clock: crate::clock::Clock) -> Self {
        Db { clock, ..self }
    }

    pub fn clock(&self) -> &crate::clock::Clock {
        &self.clock
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The same pool, calling `hook` after every committed write.
    pub fn with_commit_hook(self, hook: CommitHook) -> Self {
        Db { on_commit: Some(hook), ..self }
    }

    /// How many blocking database calls (each one checkout of a connection) were made.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f` in one transaction on a blocking thread: it all commits or none of it does.
    /// Inside [`audit::audited`], the transaction records its changes as that actor's.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let actor = audit::current().map(|context| (context, self.now()));
        let result = self
            .blocking(move |conn| {
                conn.transaction(|conn| {
                    if let Some((context, at)) = &actor {
                        audit::mark(conn, context, *at)?;
                    }
                    f(conn)
                })
            })
            .await;
        if let (Ok(_), Some(hook)) = (&result, &self.on_commit) {
            hook();
        }
        result
    }

    /// [`Db::write`] for a use-case with an error type of its own.
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + From<DieselError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let permit = self.permit().await.map_err(E::from)?;
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let actor = audit::current().map(|context| (context, self.now()));
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut pooled = pool.get().map_err(|e| E::from(StoreError::Unavailable(e.to_string())))?;
            let conn: &mut PgConnection = &mut pooled;
            conn.transaction(|conn| {
                if let Some((context, at)) = &actor {
                    audit::mark(conn, context, *at)?;
                }
                f(conn)
            })
        })
        .await
        .map_err(|e| E::from(StoreError::Unavailable(format!("database task failed: {e}"))))?;
        if let (Ok(_), Some(hook)) = (&result, &self.on_commit) {
            hook();
        }
        result
    }

    /// Runs read-only `f` on a blocking thread, without the cost of a transaction.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(f).await
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let permit = self.permit().await?;
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }

    /// A place among the database calls allowed to run or wait for a connection: first among
    /// the company's own (when the handle has shares and the call is a company's), then in the
    /// gate. Queued calls wait in order, so a company's flood waits behind its own share and
    /// another company's call finds the gate's queue no longer than the shares in use.
    async fn permit(&self) -> Result<Permit, StoreError> {
        let share = match (&self.company_calls, self.company.or_else(current_company)) {
            (Some(calls), Some(company)) => Some(calls.enter(company, self.gate_wait).await?),
            _ => None,
        };
        match tokio::time::timeout(self.gate_wait, self.gate.clone().acquire_owned()).await {
            Ok(Ok(gate)) => Ok(Permit { _share: share, _gate: gate }),
            _ => Err(StoreError::Busy(self.gate_size)),
        }
    }
}

/// Held while a database call runs or waits for a connection.
struct Permit {
    _share: Option<CompanyPermit>,
    _gate: tokio::sync::OwnedSemaphorePermit,
}

/// How long a company counts as busy after its last database call began or ended.
const BUSY_FOR: Duration = Duration::from_secs(1);

/// Each company's database calls running or waiting for a connection. A company alone on the
/// instance may run `alone` at once; while another company is busy too (it made a call within
/// [`BUSY_FOR`]), each runs at most `contended`: the database's CPU is what a flood takes from
/// the others, so a flooding tenant keeps its full share only while nobody else needs it.
struct CompanyCalls {
    alone: usize,
    contended: usize,
    companies: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, Usage>>,
}

struct Usage {
    running: usize,
    last: std::time::Instant,
    /// Wakes the company's waiting calls one at a time, in order, as its calls end.
    freed: std::sync::Arc<tokio::sync::Notify>,
}

/// One of a company's calls; gives its place back when dropped.
struct CompanyPermit {
    calls: std::sync::Arc<CompanyCalls>,
    company: uuid::Uuid,
}

impl Drop for CompanyPermit {
    fn drop(&mut self) {
        let mut companies = self.calls.companies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(usage) = companies.get_mut(&self.company) {
            usage.running = usage.running.saturating_sub(1);
            usage.last = std::time::Instant::now();
            usage.freed.notify_one();
        }
    }
}

/// One company's database calls at once: alone on the instance, and beside another busy one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompanyShare {
    pub alone: usize,
    pub contended: usize,
}

impl CompanyCalls {
    fn new(share: CompanyShare) -> Self {
        let alone = share.alone.max(1);
        CompanyCalls { alone, contended: share.contended.clamp(1, alone), companies: Default::default() }
    }

    async fn enter(
        self: &std::sync::Arc<Self>,
        company: uuid::Uuid,
        wait: Duration,
    ) -> Result<CompanyPermit, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = {
                let mut companies = self.companies.lock().unwrap_or_else(|e| e.into_inner());
                let now = std::time::Instant::now();
                let busy = |usage: &Usage| usage.running > 0 || now.duration_since(usage.last) < BUSY_FOR;
                companies.retain(|_, usage| busy(usage));
                let others = companies.iter().any(|(other, usage)| *other != company && busy(usage));
                let share = if others { self.contended } else { self.alone };
                let usage = companies.entry(company).or_insert_with(|| Usage {
                    running: 0,
                    last: now,
                    freed: Default::default(),
                });
                usage.last = now;
                if usage.running < share {
                    usage.running += 1;
                    return Ok(CompanyPermit { calls: self.clone(), company });
                }
                usage.freed.clone()
            };
            // A call that ended since the lock was released left its notification stored.
            if tokio::time::timeout_at(deadline, freed.notified()).await.is_err() {
                return Err(StoreError::CompanyBusy(self.alone));
            }
        }
    }
}

tokio::task_local! {
    static COMPANY: uuid::Uuid;
}

/// Runs `work` with its database calls counted in `company`'s share (the HTTP door wraps
/// every authenticated request in it).
pub async fn as_company<F: std::future::Future>(company: uuid::Uuid, work: F) -> F::Output {
    COMPANY.scope(company, work).await
}

/// The company the running task works for, if a door said.
pub fn current_company() -> Option<uuid::Uuid> {
    COMPANY.try_with(|company| *company).ok()
}

/// A connection pool with no statement timeout (lazy: many test servers can share one
/// Postgres): for the CLI, migrations, seeding and benchmarks' own setup. A server's pools are
/// [`ServerPools`].
pub fn connect_pool(database_url: &str, max_size: u32) -> Result<PgPool, StoreError> {
    build_pool(database_url, max_size, None)
}

fn build_pool(
    database_url: &str,
    max_size: u32,
    statement_timeout: Option<Duration>,
) -> Result<PgPool, StoreError> {
    let manager = ConnectionManager::<PgConnection>::new(database_url);
    let builder = Pool::builder()
        .max_size(max_size.max(1))
        // Connections open on demand and close when idle, so an idle server holds few.
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(10));
    let builder = match statement_timeout {
        Some(limit) => builder.connection_customizer(Box::new(StatementTimeout(limit))),
        None => builder,
    };
    builder.build(manager).map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Sets `statement_timeout` on each connection as the pool opens it (once per connection, not
/// per checkout). Zero is Postgres' "no limit".
#[derive(Debug, Clone, Copy)]
struct StatementTimeout(Duration);

impl diesel::r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for StatementTimeout {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        diesel::sql_query(format!("SET statement_timeout = {}", self.0.as_millis()))
            .execute(conn)
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How a server instance connects: `size` connections in all, `background` of them a pool of
/// their own for the background workers (the dialer, webhook delivery, job runners and
/// sweeps), so a tenant flooding the request path can hold at most `size - background`.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub size: u32,
    pub background: u32,
    /// One company's database calls running or waiting for a connection at once (the request
    /// path's) while no other company is busy; None: half the request path's connections.
    pub company_calls: Option<u32>,
    /// The same while another company is busy too; None: a third of `company_calls`.
    pub company_calls_contended: Option<u32>,
    /// Bounds each statement of the request path (GraphQL, REST, exports, subscriptions).
    pub statement_timeout: Duration,
    /// Bounds each statement of the background workers: a job rebuilds up to 500 customers'
    /// schedules in one transaction, so their limit is their own (and longer by default).
    pub background_statement_timeout: Duration,
}

/// Database connections per instance, unless configured.
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// Of them, reserved for the background workers.
pub const DEFAULT_BACKGROUND_CONNECTIONS: u32 = 4;
/// A statement of the request path is cancelled after this long.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// A statement of the background workers is cancelled after this long.
pub const DEFAULT_BACKGROUND_STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            size: DEFAULT_POOL_SIZE,
            background: DEFAULT_BACKGROUND_CONNECTIONS,
            company_calls: None,
            company_calls_contended: None,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            background_statement_timeout: DEFAULT_BACKGROUND_STATEMENT_TIMEOUT,
        }
    }
}

impl PoolConfig {
    /// `size` connections, `background` of them reserved, default timeouts.
    pub fn sized(size: u32, background: u32) -> Self {
        PoolConfig { size, background, ..PoolConfig::default() }
    }

    /// The request path's connections.
    pub fn request_connections(&self) -> u32 {
        self.size.saturating_sub(self.background)
    }

    /// One company's share of the request path's database calls.
    pub fn company_share(&self) -> CompanyShare {
        let alone = self.company_calls.unwrap_or(self.request_connections() / 2).max(1);
        let contended = self.company_calls_contended.unwrap_or(alone / 3).clamp(1, alone);
        CompanyShare { alone: alone as usize, contended: contended as usize }
    }

    /// Refuses a split that leaves either side without a connection.
    pub fn check(&self) -> Result<(), String> {
        if self.background == 0 || self.background >= self.size {
            return Err(format!(
                "the pool's {} connections must leave at least one for requests and reserve at least one for background work (asked to reserve {})",
                self.size, self.background
            ));
        }
        Ok(())
    }
}

/// A server instance's two pools: the request path's and the background workers' reserved one.
#[derive(Clone)]
pub struct ServerPools {
    pub requests: PgPool,
    pub background: PgPool,
    /// One company's share of the request path's database calls.
    pub company_share: CompanyShare,
}

impl ServerPools {
    pub fn connect(database_url: &str, config: &PoolConfig) -> Result<ServerPools, StoreError> {
        config.check().map_err(StoreError::Unavailable)?;
        Ok(ServerPools {
            company_share: config.company_share(),
            requests: build_pool(database_url, config.request_connections(), Some(config.statement_timeout))?,
            background: build_pool(
                database_url,
                config.background,
                Some(config.background_statement_timeout),
            )?,
        })
    }
}

/// Applies pending migrations under an advisory lock; returns the versions applied.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect())
        .map_err(|e| StoreError::Migration(e.to_string()));
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)?;
    applied
}

/// Creates database `name` on the server at `admin_url` unless it exists.
pub fn create_database_if_missing(admin_url: &str, name: &str) -> Result<bool, StoreError> {
    let mut conn = PgConnection::establish(admin_url).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    let exists = diesel::sql_query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Found>(&mut conn)
        .optional()?
        .is_some();
    if exists {
        return Ok(false);
    }
    let quoted = name.replace('"', "\"\"");
    match diesel::sql_query(format!("CREATE DATABASE \"{quoted}\"")).execute(&mut conn) {
        Ok(_) => Ok(true),
        // Another process created it between the check and here.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Which page of a list: its order, direction, where it starts and how long it is.
#[derive(Debug, Clone)]
pub struct PageRequest<Order, Start> {
    pub order: Order,
    pub desc: bool,
    /// Where the page starts (a cursor or offset); `None` for the first page.
    pub after: Option<Start>,
    pub first: i64,
    /// Whether to count all matching rows (a second query).
    pub with_total: bool,
}

/// One page of a list: each row with its cursor.
pub struct Page<T> {
    pub rows: Vec<(String, T)>,
    pub has_next_page: bool,
    /// Counted only when asked for.
    pub total_count: Option<i64>,
}

/// A keyset cursor: after the row with this (time, id), the id a public UUID (a task's or a
/// call's). The payload is JSON; the door seals it (`crate::ids`) before a client sees it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TimeCursor {
    at: i64,
    id: uuid::Uuid,
}

impl TimeCursor {
    pub fn new(at: chrono::DateTime<chrono::Utc>, id: uuid::Uuid) -> Self {
        TimeCursor { at: at.timestamp_micros(), id }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Result<Self, ValidationError> {
        serde_json::from_str(text).map_err(|_| ValidationError::new("after", "invalid cursor"))
    }

    pub fn at(&self) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        chrono::DateTime::from_timestamp_micros(self.at)
            .ok_or_else(|| ValidationError::new("after", "invalid cursor").into())
    }

    pub fn id(&self) -> uuid::Uuid {
        self.id
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside an ILIKE pattern.
pub(crate) fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `SELECT 1`, for readiness checks.
pub fn ping(conn: &mut PgConnection) -> Result<(), StoreError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}
