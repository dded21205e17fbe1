//! Configuration from the environment, with command-line flags overriding (see `cli`).

use std::path::Path;

use crate::pg_cluster::{ClusterError, LocalCluster};
use crate::store::{self, StoreError};

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = ".callsync";
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// The database `serve` creates on its own local cluster.
pub const LOCAL_DATABASE: &str = "callsync";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not start the local Postgres cluster: {0}")]
    Cluster(#[from] ClusterError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Where the data lives: the given `DATABASE_URL`, or a local cluster of our own.
pub struct Database {
    pub url: String,
    /// Set when we run on our own cluster (its server keeps running after we exit).
    pub local_cluster: Option<LocalCluster>,
}

impl Database {
    /// Uses `url` when given; otherwise starts (creating on first use) a cluster under
    /// `data_dir/pgdata` and its `callsync` database.
    pub fn resolve(url: Option<String>, data_dir: &Path) -> Result<Database, ConfigError> {
        if let Some(url) = url.filter(|u| !u.trim().is_empty()) {
            return Ok(Database { url, local_cluster: None });
        }
        let cluster = LocalCluster::ensure_running(&data_dir.join("pgdata"))?;
        store::create_database_if_missing(&cluster.url("postgres"), LOCAL_DATABASE)?;
        Ok(Database { url: cluster.url(LOCAL_DATABASE), local_cluster: Some(cluster) })
    }
}
