//! The read replica (`DATABASE_READ_URL`): a streaming standby that the reads which may be a
//! moment stale (lists, searches, counts, exports) go to, while everything else stays on the
//! primary.
//!
//! * Lag: a thread of its own compares the primary's flushed WAL position with what the
//!   replica has replayed, every [`ReplicaConfig::check_every`]. The lag is how long the replica
//!   has been behind a primary position it has not replayed yet (an idle primary never looks
//!   lagged). A replica that cannot be reached, or lags more than [`ReplicaConfig::max_lag`], is
//!   skipped (reads go to the primary) until a check finds it healthy again.
//! * Read-your-writes: after each committed write on the request path, the primary's WAL
//!   insert position (read on the same connection, right after the commit) is remembered for
//!   the API key that wrote, in this instance's memory, and handed to the request's
//!   [`ReadSession`] (the door returns it as `Callsync-Write-Position`). A stale-tolerant read
//!   goes to the replica only once the replica has replayed the reader's position (its own key's
//!   last write on this instance, and a `Callsync-Read-After` it sent): when the last check says
//!   it has not, the read asks the replica itself, waiting at most [`READ_AFTER_WAIT`], and else
//!   reads from the primary.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, PooledConnection};
use uuid::Uuid;

use super::{PgPool, StoreError};

/// Replica lag past which reads skip the replica, unless configured.
pub const DEFAULT_MAX_REPLICA_LAG: Duration = Duration::from_millis(5_000);
/// How often the replica's lag is measured, unless configured.
pub const DEFAULT_CHECK_EVERY: Duration = Duration::from_millis(250);
/// How long a read waits for the replica to replay its client's last write before it reads
/// from the primary instead.
pub const READ_AFTER_WAIT: Duration = Duration::from_millis(50);
/// How often a read waiting for the replica asks it again.
const READ_AFTER_POLL: Duration = Duration::from_millis(5);
/// A replica connection that cannot be had within this is given up for the primary.
const CONNECT_WAIT: Duration = Duration::from_secs(1);
/// Clients whose last write is remembered, at most; past it, the oldest positions fold into a
/// floor that every reader waits for (stricter, never weaker).
const CLIENTS_REMEMBERED: usize = 100_000;

/// A position in the primary's write-ahead log (Postgres' `pg_lsn`, written `16/B374D848`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// `X/Y`, both hexadecimal, as Postgres writes a `pg_lsn`.
    pub fn parse(text: &str) -> Option<Lsn> {
        let (high, low) = text.trim().split_once('/')?;
        let high = u32::from_str_radix(high, 16).ok()?;
        let low = u32::from_str_radix(low, 16).ok()?;
        Some(Lsn((u64::from(high) << 32) | u64::from(low)))
    }
}

impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Where the replica is and how much it may lag.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    pub url: String,
    pub max_lag: Duration,
    pub check_every: Duration,
}

impl ReplicaConfig {
    pub fn new(url: impl Into<String>, max_lag: Duration) -> Self {
        ReplicaConfig { url: url.into(), max_lag, check_every: DEFAULT_CHECK_EVERY }
    }
}

/// What one request (or WebSocket connection) reads after, and the position its own writes
/// reached (set by the HTTP door around each authenticated request; see [`in_session`]).
#[derive(Debug, Default)]
pub struct ReadSession {
    /// The API key making the request (a WebSocket's is known once its `connection_init` is).
    client: std::sync::OnceLock<Uuid>,
    /// A position the client saw elsewhere (`Callsync-Read-After`).
    read_after: Option<Lsn>,
    /// The highest position the request's writes committed at (0: none yet).
    wrote: AtomicU64,
}

impl ReadSession {
    pub fn new(client: Option<Uuid>, read_after: Option<Lsn>) -> Arc<ReadSession> {
        let session = ReadSession { read_after, ..ReadSession::default() };
        if let Some(client) = client {
            session.identify(client);
        }
        Arc::new(session)
    }

    /// The API key the session's reads and writes are made for, once known (the first stays).
    pub fn identify(&self, client: Uuid) {
        let _ = self.client.set(client);
    }

    fn client(&self) -> Option<Uuid> {
        self.client.get().copied()
    }

    /// The position this request's writes committed at, when it wrote.
    pub fn wrote(&self) -> Option<Lsn> {
        Some(Lsn(self.wrote.load(Ordering::SeqCst))).filter(|lsn| lsn.0 > 0)
    }
}

tokio::task_local! {
    static SESSION: Arc<ReadSession>;
}

/// Runs `work` with its reads and writes counted as `session`'s.
pub async fn in_session<F: std::future::Future>(session: Arc<ReadSession>, work: F) -> F::Output {
    SESSION.scope(session, work).await
}

/// The running task's session, if a door set one (an export takes it to its own task).
pub fn current_session() -> Option<Arc<ReadSession>> {
    SESSION.try_with(Arc::clone).ok()
}

/// The replica: its pool, what the last check found, and the clients' last writes.
pub struct Replica {
    pool: RwLock<PgPool>,
    url: String,
    statement_timeout: Duration,
    max_lag: Duration,
    /// Whether stale-tolerant reads go to it now.
    in_use: AtomicBool,
    /// The highest position it is known to have replayed.
    replayed: AtomicU64,
    health: Mutex<Health>,
    written: Mutex<Written>,
    reads_on_replica: AtomicU64,
    reads_on_primary: AtomicU64,
}

/// What the last check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// No check has finished yet.
    Unknown,
    Down,
    Up {
        lag: Duration,
    },
}

#[derive(Default)]
struct Written {
    by_client: HashMap<Uuid, Lsn>,
    /// Clients whose last write's position could not be read: they read from the primary until
    /// a check reads the primary's position after that instant (which is past the write).
    unknown: HashMap<Uuid, Instant>,
    /// Every reader waits for this (positions folded in when too many clients were remembered).
    floor: Lsn,
}

/// Where a stale-tolerant read runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Primary,
    /// On the replica, once it has replayed this position (None: the last check says it has).
    Replica(Option<Lsn>),
}

/// What `/readyz` and `/metrics` say of the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// None until the first check finishes.
    pub up: Option<bool>,
    pub lag: Option<Duration>,
    pub in_use: bool,
    pub max_lag: Duration,
    pub reads_on_replica: u64,
    pub reads_on_primary: u64,
}

impl Replica {
    /// A lazy pool on `config.url` (statements bounded as the request path's) and the thread
    /// that measures its lag against `primary_url`; the thread ends with the last handle.
    pub fn start(
        primary_url: &str,
        config: &ReplicaConfig,
        size: u32,
        statement_timeout: Duration,
    ) -> Result<Arc<Replica>, StoreError> {
        let pool = replica_pool(&config.url, size, statement_timeout)?;
        let replica = Arc::new(Replica {
            pool: RwLock::new(pool),
            url: config.url.clone(),
            statement_timeout,
            max_lag: config.max_lag,
            in_use: AtomicBool::new(false),
            replayed: AtomicU64::new(0),
            health: Mutex::new(Health::Unknown),
            written: Mutex::default(),
            reads_on_replica: AtomicU64::new(0),
            reads_on_primary: AtomicU64::new(0),
        });
        let watched = Arc::downgrade(&replica);
        let (primary, standby, every) =
            (with_connect_timeout(primary_url), with_connect_timeout(&config.url), config.check_every);
        std::thread::Builder::new()
            .name("callsync-replica-lag".into())
            .spawn(move || watch(watched, primary, standby, every))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the replica lag check: {e}")))?;
        Ok(replica)
    }

    pub fn status(&self) -> ReplicaStatus {
        let health = *self.health.lock().unwrap_or_else(|e| e.into_inner());
        let (up, lag) = match health {
            Health::Unknown => (None, None),
            Health::Down => (Some(false), None),
            Health::Up { lag } => (Some(true), Some(lag)),
        };
        ReplicaStatus {
            up,
            lag,
            in_use: self.in_use.load(Ordering::SeqCst),
            max_lag: self.max_lag,
            reads_on_replica: self.reads_on_replica.load(Ordering::Relaxed),
            reads_on_primary: self.reads_on_primary.load(Ordering::Relaxed),
        }
    }

    /// Remembers that `session`'s client wrote, committed at `position` (None: it could not be
    /// read, so the client reads from the primary until a check passes the write).
    pub(super) fn wrote(&self, session: Option<&ReadSession>, position: Option<Lsn>) {
        let Some(session) = session else { return };
        if let Some(lsn) = position {
            session.wrote.fetch_max(lsn.0, Ordering::SeqCst);
        }
        let Some(client) = session.client() else { return };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        match position {
            Some(lsn) => {
                if written.by_client.len() >= CLIENTS_REMEMBERED && !written.by_client.contains_key(&client) {
                    let replayed = Lsn(self.replayed.load(Ordering::SeqCst));
                    written.by_client.retain(|_, at| *at > replayed);
                    if written.by_client.len() >= CLIENTS_REMEMBERED {
                        let highest = written.by_client.drain().map(|(_, at)| at).max().unwrap_or_default();
                        written.floor = written.floor.max(highest);
                    }
                }
                let entry = written.by_client.entry(client).or_default();
                *entry = (*entry).max(lsn);
            }
            None => {
                written.unknown.insert(client, Instant::now());
            }
        }
    }

    /// Where a stale-tolerant read of `session`'s client runs.
    pub(super) fn route(&self, session: Option<&ReadSession>) -> Route {
        if !self.in_use.load(Ordering::SeqCst) {
            return Route::Primary;
        }
        let mut needed = session.and_then(|s| s.read_after).unwrap_or_default();
        {
            let written = self.written.lock().unwrap_or_else(|e| e.into_inner());
            needed = needed.max(written.floor);
            if let Some(client) = session.and_then(ReadSession::client) {
                if written.unknown.contains_key(&client) {
                    return Route::Primary;
                }
                needed = needed.max(written.by_client.get(&client).copied().unwrap_or_default());
            }
        }
        if needed.0 <= self.replayed.load(Ordering::SeqCst) {
            Route::Replica(None)
        } else {
            Route::Replica(Some(needed))
        }
    }

    /// A replica connection that has replayed `needed` (waiting at most [`READ_AFTER_WAIT`]),
    /// or None: the read then runs on the primary.
    pub(super) fn connection(
        &self,
        needed: Option<Lsn>,
    ) -> Option<PooledConnection<ConnectionManager<PgConnection>>> {
        let pool = self.pool.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Ok(mut conn) = pool.get_timeout(CONNECT_WAIT) else {
            self.lost();
            return self.on_primary();
        };
        if let Some(needed) = needed {
            let deadline = Instant::now() + READ_AFTER_WAIT;
            loop {
                match replayed_position(&mut conn) {
                    Ok(Some(at)) if at >= needed => {
                        self.replayed.fetch_max(at.0, Ordering::SeqCst);
                        break;
                    }
                    Ok(_) if Instant::now() < deadline => std::thread::sleep(READ_AFTER_POLL),
                    Ok(_) => return self.on_primary(),
                    Err(_) => {
                        super::evict_if_dead(&mut conn);
                        self.lost();
                        return self.on_primary();
                    }
                }
            }
        }
        self.reads_on_replica.fetch_add(1, Ordering::Relaxed);
        Some(conn)
    }

    /// Counts a stale-tolerant read that runs on the primary.
    pub(super) fn on_primary<T>(&self) -> Option<T> {
        self.reads_on_primary.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// A read found the replica unreachable: skip it until a check finds it up again.
    pub(super) fn lost(&self) {
        self.set_health(Health::Down);
    }

    fn set_health(&self, health: Health) {
        let usable = matches!(health, Health::Up { lag } if lag <= self.max_lag);
        let mut current = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let was_usable = self.in_use.swap(usable, Ordering::SeqCst);
        let was_down = *current == Health::Down;
        *current = health;
        drop(current);
        if usable && was_down {
            // Connections opened before it went down are dead: start afresh.
            if let Ok(pool) = replica_pool(&self.url, self.pool_size(), self.statement_timeout) {
                *self.pool.write().unwrap_or_else(|e| e.into_inner()) = pool;
            }
        }
        match (was_usable, usable, health) {
            (false, true, Health::Up { lag }) => {
                tracing::info!(
                    lag_ms = lag.as_millis() as u64,
                    "read replica in use for stale-tolerant reads"
                )
            }
            (true, false, Health::Down) => {
                tracing::warn!("read replica unreachable: reads go to the primary until it is back")
            }
            (true, false, Health::Up { lag }) => tracing::warn!(
                lag_ms = lag.as_millis() as u64,
                max_lag_ms = self.max_lag.as_millis() as u64,
                "read replica lags past its limit: reads go to the primary until it catches up"
            ),
            _ => {}
        }
    }

    fn pool_size(&self) -> u32 {
        self.pool.read().unwrap_or_else(|e| e.into_inner()).max_size()
    }

    /// After a check read the primary at `position` (the read began at `asked`): clients whose
    /// write position was unknown wait for it instead, and positions replayed are forgotten.
    fn checked(&self, asked: Instant, position: Lsn, replayed: Lsn) {
        self.replayed.fetch_max(replayed.0, Ordering::SeqCst);
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let resolved: Vec<Uuid> =
            written.unknown.iter().filter(|(_, at)| **at < asked).map(|(client, _)| *client).collect();
        for client in resolved {
            written.unknown.remove(&client);
            let entry = written.by_client.entry(client).or_default();
            *entry = (*entry).max(position);
        }
        let replayed = Lsn(self.replayed.load(Ordering::SeqCst));
        written.by_client.retain(|_, at| *at > replayed);
    }
}

fn replica_pool(url: &str, size: u32, statement_timeout: Duration) -> Result<PgPool, StoreError> {
    super::pools::build_pool(&with_connect_timeout(url), size, Some(statement_timeout))
}

/// `url` with libpq's `connect_timeout` (unless it has one): a replica behind a dead address
/// must not hold a read or the lag check for long.
fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout=2")
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    lsn: Option<String>,
}

/// The primary's WAL insert position: right after a commit on this connection, it is past the
/// commit record (the write position may not be yet when `synchronous_commit` is off).
pub(super) fn write_position(conn: &mut PgConnection) -> Result<Lsn, StoreError> {
    let row = super::prepared::prepared(diesel::sql_query("SELECT pg_current_wal_insert_lsn()::text AS lsn"))
        .get_result::<Position>(conn)?;
    row.lsn.as_deref().and_then(Lsn::parse).ok_or_else(|| StoreError::Unavailable("no WAL position".into()))
}

/// What the primary has flushed (what its WAL senders send: all a standby can have received).
fn primary_position(conn: &mut PgConnection) -> Result<Option<Lsn>, StoreError> {
    let row =
        diesel::sql_query("SELECT pg_current_wal_flush_lsn()::text AS lsn").get_result::<Position>(conn)?;
    Ok(row.lsn.as_deref().and_then(Lsn::parse))
}

/// What the replica has replayed (a server not in recovery: what it has written).
fn replayed_position(conn: &mut PgConnection) -> Result<Option<Lsn>, StoreError> {
    let row = diesel::sql_query(
        "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn",
    )
    .get_result::<Position>(conn)?;
    Ok(row.lsn.as_deref().and_then(Lsn::parse))
}

/// The lag check's loop, until the replica's last handle is dropped.
fn watch(replica: Weak<Replica>, primary_url: String, replica_url: String, every: Duration) {
    let mut primary: Option<PgConnection> = None;
    let mut standby: Option<PgConnection> = None;
    let mut behind = Behind::default();
    loop {
        let Some(watched) = replica.upgrade() else { return };
        let asked = Instant::now();
        let position =
            connected(&mut primary, &primary_url).and_then(|conn| primary_position(conn).ok().flatten());
        if position.is_none() {
            // The primary did not answer: what the replica lags cannot be told; keep the last.
            primary = None;
        }
        let replayed = connected(&mut standby, &replica_url).map(replayed_position);
        match (position, replayed) {
            (Some(position), Some(Ok(Some(replayed)))) => {
                let lag = behind.lag(asked, position, replayed);
                watched.checked(asked, position, replayed);
                watched.set_health(Health::Up { lag });
            }
            (_, None | Some(Err(_)) | Some(Ok(None))) => {
                standby = None;
                behind = Behind::default();
                watched.set_health(Health::Down);
            }
            (None, _) => {}
        }
        drop(watched);
        std::thread::sleep(every);
    }
}

fn connected<'a>(conn: &'a mut Option<PgConnection>, url: &str) -> Option<&'a mut PgConnection> {
    if conn.is_none() {
        *conn = PgConnection::establish(url).ok();
    }
    conn.as_mut()
}

/// The primary positions the replica has not replayed yet, each with when it was first seen.
#[derive(Default)]
struct Behind(VecDeque<(Instant, Lsn)>);

impl Behind {
    /// How long the replica has been behind, as of `now`: since the oldest primary position
    /// seen that it has not replayed (zero once it replayed what the primary wrote).
    fn lag(&mut self, now: Instant, primary: Lsn, replayed: Lsn) -> Duration {
        if replayed >= primary {
            self.0.clear();
            return Duration::ZERO;
        }
        if self.0.back().is_none_or(|(_, last)| *last < primary) {
            self.0.push_back((now, primary));
        }
        while self.0.front().is_some_and(|(_, lsn)| *lsn <= replayed) {
            self.0.pop_front();
        }
        // Bounded: one entry per check while behind.
        while self.0.len() > 10_000 {
            self.0.remove(1);
        }
        self.0.front().map_or(Duration::ZERO, |(at, _)| now.saturating_duration_since(*at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_and_write_as_postgres_does() {
        let lsn = Lsn::parse("16/B374D848").unwrap();
        assert_eq!(lsn.0, (0x16 << 32) | 0xB374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!(Lsn::parse("0/0"), Some(Lsn(0)));
        assert!(Lsn::parse("16B374D848").is_none());
        assert!(Lsn::parse("x/1").is_none());
        assert!(Lsn::parse("1/100000000").is_none());
    }

    #[test]
    fn lag_is_how_long_the_replica_has_been_behind_a_position() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut behind = Behind::default();
        // An idle primary: the replica has replayed all of it.
        assert_eq!(behind.lag(at(0), Lsn(100), Lsn(100)), Duration::ZERO);
        // The primary moves on; the replica is behind from when that was seen.
        assert_eq!(behind.lag(at(250), Lsn(200), Lsn(100)), Duration::ZERO);
        assert_eq!(behind.lag(at(500), Lsn(300), Lsn(150)), Duration::from_millis(250));
        // It replayed 200 but not 300 (seen at 500).
        assert_eq!(behind.lag(at(750), Lsn(300), Lsn(250)), Duration::from_millis(250));
        assert_eq!(behind.lag(at(1000), Lsn(300), Lsn(300)), Duration::ZERO);
    }

    #[test]
    fn a_client_reads_the_replica_only_past_its_own_write() {
        // Not started: no pool is needed to decide a route.
        let replica = Replica {
            pool: RwLock::new(
                super::super::pools::build_pool("postgres://nowhere.invalid/x", 1, None).unwrap(),
            ),
            url: String::new(),
            statement_timeout: Duration::ZERO,
            max_lag: Duration::from_secs(5),
            in_use: AtomicBool::new(false),
            replayed: AtomicU64::new(0),
            health: Mutex::new(Health::Unknown),
            written: Mutex::default(),
            reads_on_replica: AtomicU64::new(0),
            reads_on_primary: AtomicU64::new(0),
        };
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mine = ReadSession::new(Some(me), None);
        let theirs = ReadSession::new(Some(other), None);
        assert_eq!(replica.route(Some(&mine)), Route::Primary, "not checked yet");
        replica.checked(Instant::now(), Lsn(100), Lsn(100));
        replica.set_health(Health::Up { lag: Duration::ZERO });
        assert_eq!(replica.route(Some(&mine)), Route::Replica(None));
        replica.wrote(Some(&mine), Some(Lsn(150)));
        assert_eq!(mine.wrote(), Some(Lsn(150)));
        assert_eq!(replica.route(Some(&mine)), Route::Replica(Some(Lsn(150))));
        assert_eq!(replica.route(Some(&theirs)), Route::Replica(None));
        let elsewhere = ReadSession::new(Some(other), Some(Lsn(160)));
        assert_eq!(replica.route(Some(&elsewhere)), Route::Replica(Some(Lsn(160))));
        // A write whose position is unknown: the primary until a check passes it.
        let asked_before = Instant::now();
        replica.wrote(Some(&theirs), None);
        assert_eq!(replica.route(Some(&theirs)), Route::Primary);
        replica.checked(asked_before, Lsn(170), Lsn(150));
        assert_eq!(replica.route(Some(&theirs)), Route::Primary, "the check began before the write");
        replica.checked(Instant::now(), Lsn(180), Lsn(150));
        assert_eq!(replica.route(Some(&theirs)), Route::Replica(Some(Lsn(180))));
        replica.checked(Instant::now(), Lsn(180), Lsn(180));
        assert_eq!(replica.route(Some(&mine)), Route::Replica(None));
        replica.set_health(Health::Up { lag: Duration::from_secs(6) });
        assert_eq!(replica.route(Some(&mine)), Route::Primary, "lagging past the limit");
    }
}
