//! Configuration from the environment, with command-line flags overriding (see `cli`).

use std::path::{Path, PathBuf};

use crate::pg_cluster::{ClusterError, LocalCluster};
use crate::secrets::{SecretKey, SecretsError};
use crate::store::{self, StoreError};

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = ".callsync";
/// The database `serve` creates on its own local cluster.
pub const LOCAL_DATABASE: &str = "callsync";

/// The local cluster's secret key, beside its `pgdata/` (`serve` without `DATABASE_URL` and
/// without `CALLSYNC_SECRET_KEY`).
pub const LOCAL_SECRET_KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not start the local Postgres cluster: {0}")]
    Cluster(#[from] ClusterError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{}: {source}", path.display())]
    SecretKeyFile { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    SecretKey { path: PathBuf, source: SecretsError },
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

/// The local cluster's key, from `data_dir/secret.key`, generated (readable by its owner only)
/// on first use: (key, its file, whether it was just generated). Losing the file loses the
/// secrets stored with it, as losing `pgdata/` loses the data.
pub fn local_secret_key(data_dir: &Path) -> Result<(SecretKey, PathBuf, bool), ConfigError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(LOCAL_SECRET_KEY_FILE);
    let file_error = |source| ConfigError::SecretKeyFile { path: path.clone(), source };
    let read = |path: &Path| -> Result<SecretKey, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(file_error)?;
        SecretKey::parse(&text).map_err(|source| ConfigError::SecretKey { path: path.to_path_buf(), source })
    };
    if path.exists() {
        return Ok((read(&path)?, path, false));
    }
    let key = SecretKey::generate();
    let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path);
    match created {
        Ok(mut file) => {
            writeln!(file, "{}", key.to_base64()).and_then(|()| file.sync_all()).map_err(file_error)?;
            Ok((key, path, true))
        }
        // Another instance made it first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((read(&path)?, path, false)),
        Err(e) => Err(file_error(e)),
    }
}
