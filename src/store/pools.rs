//! The connection pools: a server instance's two (the request path's, under a statement
//! timeout, and the background workers' reserved one) and the plain pool of the CLI, migrations
//! and benchmarks' setup.

use std::sync::Arc;
use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};

use super::company_share::CompanyShare;
use super::replica::{Replica, ReplicaConfig};
use super::{PgPool, StoreError};

/// A connection pool with no statement timeout (lazy: many test servers can share one
/// Postgres): for the CLI, migrations, seeding and benchmarks' own setup. A server's pools are
/// [`ServerPools`].
pub fn connect_pool(database_url: &str, max_size: u32) -> Result<PgPool, StoreError> {
    build_pool(database_url, max_size, None)
}

pub(super) fn build_pool(
    database_url: &str,
    max_size: u32,
    statement_timeout: Option<Duration>,
) -> Result<PgPool, StoreError> {
    let manager = ConnectionManager::<PgConnection>::new(database_url);
    let builder = Pool::builder()
        .max_size(max_size.max(1))
        // Connections open on demand and close when idle, so an idle server holds few.
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(10))
        // No `SELECT 1` on every checkout (a round trip per database call): a connection the
        // server closed fails the call that uses it, and `Db` then evicts it (`evict_if_dead`).
        .test_on_check_out(false);
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

/// A server instance's two pools: the request path's and the background workers' reserved one
/// (and, when configured, the read replica's).
#[derive(Clone)]
pub struct ServerPools {
    pub requests: PgPool,
    pub background: PgPool,
    /// One company's share of the request path's database calls.
    pub company_share: CompanyShare,
    /// `DATABASE_READ_URL`: where the request path's stale-tolerant reads go while it keeps up.
    pub replica: Option<Arc<Replica>>,
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
            replica: None,
        })
    }

    /// The same pools plus the read replica's (as many connections as the request path, under
    /// the same statement timeout) and its lag check against `database_url`.
    pub fn with_replica(
        self,
        database_url: &str,
        replica: &ReplicaConfig,
        config: &PoolConfig,
    ) -> Result<ServerPools, StoreError> {
        let replica =
            Replica::start(database_url, replica, config.request_connections(), config.statement_timeout)?;
        Ok(ServerPools { replica: Some(replica), ..self })
    }
}
