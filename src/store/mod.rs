//! Postgres through Diesel: the only place SQL lives. Every function takes the tenant's
//! `company_id` and filters on it; every write runs inside one transaction (see [`Db::write`]).

pub mod api_keys;
pub mod audit;
pub mod bulk;
pub mod call_handoff;
pub mod calls;
pub mod companies;
mod company_share;
pub mod consents;
pub mod contact_history;
pub mod customer_list;
pub mod customers;
pub mod dialing;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod loans;
mod pools;
mod prepared;
pub mod replica;
pub mod schedules;
pub mod schema;
pub mod suppressed;
pub mod task_dialing;
pub mod tasks;

pub use company_share::{as_company, current_company, CompanyShare};
use company_share::{CompanyCalls, CompanyPermit};
pub use pools::{
    connect_pool, PoolConfig, ServerPools, DEFAULT_BACKGROUND_CONNECTIONS,
    DEFAULT_BACKGROUND_STATEMENT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_STATEMENT_TIMEOUT,
};
pub use replica::{Replica, ReplicaConfig, ReplicaStatus};

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

/// The tables that are not a company's, each with why: distributed by company with Citus,
/// these would be reference tables (a copy on every node). Every other table is a tenant's:
/// it has `company_id`, and each of its primary and unique keys and its foreign keys to other
/// tenant tables include it (`tests/api/distribution.rs` reads the catalog; `docs/scaling.md`).
pub const REFERENCE_TABLES: &[(&str, &str)] = &[
    (
        "companies",
        "the tenants themselves: its id is the distribution value, and every tenant table's \
         foreign key to it must resolve on the node that holds the tenant's rows",
    ),
    (
        "api_keys",
        "a request's key is looked up by its hash before its company is known; few rows, \
         rarely written (a key's last use at most once a minute per instance)",
    ),
];

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
    /// The read replica that [`Db::read_stale`] may use (the request path's handle only).
    replica: Option<std::sync::Arc<Replica>>,
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
            replica: None,
        }
    }

    /// The same pool, its stale-tolerant reads ([`Db::read_stale`]) on `replica` while it keeps
    /// up, and each committed write's WAL position remembered for read-your-writes.
    pub fn with_replica(self, replica: std::sync::Arc<Replica>) -> Self {
        Db { replica: Some(replica), ..self }
    }

    pub fn replica(&self) -> Option<&std::sync::Arc<Replica>> {
        self.replica.as_ref()
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
        let track = self.replica.is_some();
        let result = self
            .blocking(move |conn| {
                let value = conn.transaction(|conn| {
                    if let Some((context, at)) = &actor {
                        audit::mark(conn, context, *at)?;
                    }
                    f(conn)
                })?;
                Ok((value, track.then(|| replica::write_position(conn).ok())))
            })
            .await;
        self.committed(result)
    }

    /// After a write transaction: its position remembered for read-your-writes, the hook called.
    fn committed<T, E>(&self, result: Result<(T, Option<Option<replica::Lsn>>), E>) -> Result<T, E> {
        let value = self.noted(result)?;
        if let Some(hook) = &self.on_commit {
            hook();
        }
        Ok(value)
    }

    /// A position read after a call, remembered as the calling client's (see [`replica`]).
    fn noted<T, E>(&self, result: Result<(T, Option<Option<replica::Lsn>>), E>) -> Result<T, E> {
        let (value, position) = result?;
        if let (Some(replica), Some(position)) = (&self.replica, position) {
            replica.wrote(replica::current_session().as_deref(), position);
        }
        Ok(value)
    }

    /// Runs read-only `f` on the primary as [`Db::read`] does; with a read replica, the
    /// primary's position after it counts as the client's own write, so what `f` saw of work
    /// done in the background (a job DONE) the client's stale-tolerant reads see too.
    pub async fn read_seen<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let track = self.replica.is_some();
        let result = self
            .blocking(move |conn| {
                let value = f(conn)?;
                Ok((value, track.then(|| replica::write_position(conn).ok())))
            })
            .await;
        self.noted(result)
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
        let track = self.replica.is_some();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut pooled = pool.get().map_err(|e| E::from(StoreError::Unavailable(e.to_string())))?;
            let conn: &mut PgConnection = &mut pooled;
            let result = conn.transaction(|conn| {
                if let Some((context, at)) = &actor {
                    audit::mark(conn, context, *at)?;
                }
                f(conn)
            });
            if result.is_err() {
                evict_if_dead(conn);
            }
            let value = result?;
            Ok((value, track.then(|| replica::write_position(conn).ok())))
        })
        .await
        .map_err(|e| E::from(StoreError::Unavailable(format!("database task failed: {e}"))))?;
        self.committed(result)
    }

    /// Runs read-only `f` on a blocking thread, without the cost of a transaction.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(f).await
    }

    /// Runs read-only `f` as [`Db::read`] does, on the read replica when there is one in use
    /// and it has replayed the calling client's writes (see [`replica`]), else on the primary.
    /// Only for reads that may be a moment stale: lists, searches, counts, exports.
    pub async fn read_stale<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(replica) = self.replica.clone() else {
            return self.blocking(f).await;
        };
        let replica::Route::Replica(needed) = replica.route(replica::current_session().as_deref()) else {
            replica.on_primary::<()>();
            return self.blocking(f).await;
        };
        let pool = self.pool.clone();
        let permit = self.permit().await?;
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if let Some(mut conn) = replica.connection(needed) {
                let result = f(&mut conn);
                if result.is_err() && evict_if_dead(&mut conn) {
                    replica.lost();
                }
                return result;
            }
            on_pool(&pool, f)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
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
            on_pool(&pool, f)
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

/// After a call failed: a connection that no longer answers (the server restarted or closed it)
/// is marked broken, so the pool drops it instead of lending it again. Checkouts are not tested
/// (that would be a round trip per call); failures are rare, so only they pay for the check.
/// Returns whether it was dead.
fn evict_if_dead(conn: &mut PgConnection) -> bool {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let dead = diesel::sql_query("SELECT 1").execute(conn).is_err();
    if dead {
        AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
    }
    dead
}

/// Runs `f` on a connection of `pool` (on the calling, blocking, thread); a connection the
/// failure shows to be dead is dropped from the pool.
fn on_pool<T>(
    pool: &PgPool,
    f: impl FnOnce(&mut PgConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut conn = pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let result = f(&mut conn);
    if result.is_err() {
        evict_if_dead(&mut conn);
    }
    result
}

/// Held while a database call runs or waits for a connection.
struct Permit {
    _share: Option<CompanyPermit>,
    _gate: tokio::sync::OwnedSemaphorePermit,
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
