//! A local PostgreSQL cluster for running without `DATABASE_URL`.
//!
//! * [`LocalCluster::ensure_running`]: a persistent cluster in a data directory
//!   (e.g. `./.callsync/pgdata`) for `callsync serve`. Created on first use and
//!   deliberately left running when the process exits, so later runs reuse it.
//! * [`LocalCluster::start_temporary`]: a throwaway cluster for tests in a fresh
//!   temp directory. A detached watchdog shell stops it and deletes the directory
//!   once this process exits, because test binaries exit without dropping statics.
//!
//! Uses the machine's server binaries (`initdb`, `pg_ctl`, `postgres`). They refuse
//! to run as root, so when we are root they run as the `postgres` OS user (via
//! `runuser`, else `su`) and the data directory is handed over to that user.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

/// Server settings for `callsync serve`.
const PERSISTENT_SETTINGS: &str = "-c max_connections=200";
/// Tests run many servers in parallel, each with a pool, and never need durability.
const TEMPORARY_SETTINGS: &str = "-c max_connections=300 -c fsync=off \
    -c synchronous_commit=off -c full_page_writes=off";
/// How long to wait for the server to accept TCP connections after `pg_ctl -w`.
const TCP_WAIT: Duration = Duration::from_secs(10);
/// The postmaster may lose the race for the port we picked; retry with a new one.
const START_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under \
         /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: `apt-get install postgresql`; \
         macOS: `brew install postgresql@16`) or set DATABASE_URL"
    )]
    BinariesNotFound,

    #[error(
        "running as root, which PostgreSQL refuses, and there is no `postgres` OS user to run \
         it as; install the `postgres` user (Debian/Ubuntu: `apt-get install postgresql` creates \
         it), run as a non-root user, or set DATABASE_URL"
    )]
    NoPostgresUser,

    #[error(
        "running as root, which PostgreSQL refuses, and neither `runuser` nor `su` is available \
         to run it as the `postgres` user; install util-linux, run as a non-root user, or set \
         DATABASE_URL"
    )]
    NoUserSwitch,

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("`{command}` failed ({status}):\n{output}")]
    CommandFailed { command: String, status: String, output: String },

    #[error("PostgreSQL in {data_dir} failed to start: {reason}\n--- end of {log} ---\n{log_tail}")]
    StartFailed { data_dir: PathBuf, reason: String, log: PathBuf, log_tail: String },

    #[error(
        "PostgreSQL in {data_dir} is running but did not accept connections on 127.0.0.1:{port} \
         within {}s; check {data_dir}/server.log, or stop it (`pg_ctl stop -D {data_dir}`, as the \
         `postgres` user if you are root) and retry",
        TCP_WAIT.as_secs()
    )]
    NotAccepting { data_dir: PathBuf, port: u16 },

    #[error(
        "cannot read the port of the running PostgreSQL from {path}: {reason}; stop it \
         (`pg_ctl stop -D {data_dir}`, as the `postgres` user if you are root) and retry"
    )]
    BadPidFile { path: PathBuf, data_dir: PathBuf, reason: String },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// A running local PostgreSQL server listening on 127.0.0.1, superuser `postgres`,
/// trust authentication.
#[derive(Debug)]
pub struct LocalCluster {
    pg: Pg,
    data_dir: PathBuf,
    port: u16,
    /// Directories this call made traversable (o+x) for the `postgres` user (root only).
    made_traversable: Vec<PathBuf>,
    /// Set for throwaway clusters: stopped and deleted on drop.
    temp: Option<TempDir>,
}

#[derive(Debug)]
struct TempDir {
    root: PathBuf,
    watchdog: Option<Child>,
}

impl LocalCluster {
    /// Persistent cluster in `data_dir`: initdb on first use, start if not running, reuse if running.
    ///
    /// The server is left running when this value is dropped or the process exits.
    pub fn ensure_running(data_dir: &Path) -> Result<LocalCluster, ClusterError> {
        let pg = Pg::detect()?;
        fs::create_dir_all(data_dir).map_err(io_err(format!("cannot create {}", data_dir.display())))?;
        // Absolute, because it is passed to the server and used as its socket directory.
        let data_dir =
            fs::canonicalize(data_dir).map_err(io_err(format!("cannot resolve {}", data_dir.display())))?;
        let made_traversable = pg.make_accessible(&data_dir)?;

        if !data_dir.join("PG_VERSION").exists() {
            pg.prepare_dir(&data_dir)?;
            pg.initdb(&data_dir, false)?;
        }

        let mut cluster = LocalCluster { pg, data_dir, port: 0, made_traversable, temp: None };
        if cluster.data_dir.join("postmaster.pid").exists() && cluster.pg.is_running(&cluster.data_dir)? {
            cluster.port = read_port(&cluster.data_dir)?;
            match wait_for_tcp(&cluster.data_dir, cluster.port) {
                Ok(()) => return Ok(cluster),
                // It was shutting down (or was a not-yet-reaped zombie); start it below.
                Err(_) if !cluster.pg.is_running(&cluster.data_dir)? => {}
                Err(e) => return Err(e),
            }
        }
        // A stale postmaster.pid (server gone) is handled by `pg_ctl start` itself.
        cluster.port = cluster.pg.start(&cluster.data_dir, PERSISTENT_SETTINGS)?;
        Ok(cluster)
    }

    /// A cluster to be, in a new temp dir (its data directory not yet created), with the
    /// watchdog that removes it when this process exits.
    fn in_temp_dir() -> Result<LocalCluster, ClusterError> {
        let pg = Pg::detect()?;
        let root = create_temp_root()?;
        let data_dir = root.join("data");
        // Arm the watchdog first so nothing leaks if this process dies mid-setup.
        let watchdog = match spawn_watchdog(&pg, &root, &data_dir) {
            Ok(child) => child,
            Err(e) => {
                let _ = fs::remove_dir_all(&root);
                return Err(e);
            }
        };
        // From here on, Drop cleans up if a later step fails.
        let cluster = LocalCluster {
            pg,
            data_dir,
            port: 0,
            made_traversable: Vec::new(),
            temp: Some(TempDir { root: root.clone(), watchdog: Some(watchdog) }),
        };
        cluster.pg.make_accessible(&root)?;
        cluster.pg.prepare_dir(&root)?;
        Ok(cluster)
    }

    /// Throwaway cluster in a new temp dir; stopped and removed when this process exits (watchdog) or when dropped.
    pub fn start_temporary() -> Result<LocalCluster, ClusterError> {
        let mut cluster = LocalCluster::in_temp_dir()?;
        fs::create_dir(&cluster.data_dir)
            .map_err(io_err(format!("cannot create {}", cluster.data_dir.display())))?;
        cluster.pg.prepare_dir(&cluster.data_dir)?;
        cluster.pg.initdb(&cluster.data_dir, true)?;
        cluster.port = cluster.pg.start(&cluster.data_dir, TEMPORARY_SETTINGS)?;
        Ok(cluster)
    }

    /// A throwaway streaming standby of this cluster (tests of the read replica): a base
    /// backup taken with `pg_basebackup -R` (so it follows this cluster over streaming
    /// replication) into a temp dir of its own, started on a free port; stopped and removed
    /// when dropped or when this process exits, as [`LocalCluster::start_temporary`]'s.
    pub fn start_standby(&self) -> Result<LocalCluster, ClusterError> {
        let mut standby = LocalCluster::in_temp_dir()?;
        let args: Vec<OsString> = vec![
            "-D".into(),
            standby.data_dir.clone().into(),
            "-R".into(),
            "-X".into(),
            "stream".into(),
            // Not the default spread checkpoint: the backup starts at once.
            "--checkpoint=fast".into(),
            "--no-sync".into(),
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string().into(),
            "-U".into(),
            "postgres".into(),
        ];
        standby.pg.run_ok("pg_basebackup", args)?;
        // The primary's server.log came along in the backup: the standby's starts empty.
        let _ = fs::remove_file(standby.data_dir.join("server.log"));
        standby.port = standby.pg.start(&standby.data_dir, TEMPORARY_SETTINGS)?;
        Ok(standby)
    }

    /// Stops the server at once, without a shutdown checkpoint (as a crash would).
    pub fn stop_immediately(&self) -> Result<(), ClusterError> {
        self.pg.stop(&self.data_dir, "immediate")
    }

    /// Directories made traversable (o+x) for the `postgres` user when this cluster was found
    /// or created as root: the caller says so, since it changes the machine.
    pub fn made_traversable(&self) -> &[PathBuf] {
        &self.made_traversable
    }

    /// What is at `data_dir`, without starting anything.
    pub fn status(data_dir: &Path) -> Result<ClusterStatus, ClusterError> {
        let data_dir = fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        if !data_dir.join("PG_VERSION").exists() {
            return Ok(ClusterStatus { data_dir, state: ClusterState::Missing });
        }
        let pg = Pg::detect()?;
        let state = if data_dir.join("postmaster.pid").exists() && pg.is_running(&data_dir)? {
            ClusterState::Running { port: read_port(&data_dir)? }
        } else {
            ClusterState::Stopped
        };
        Ok(ClusterStatus { data_dir, state })
    }

    /// Stops the cluster at `data_dir` if it runs (as the `postgres` user when root).
    /// Returns whether it was running.
    pub fn stop_at(data_dir: &Path) -> Result<bool, ClusterError> {
        let status = LocalCluster::status(data_dir)?;
        if !matches!(status.state, ClusterState::Running { .. }) {
            return Ok(false);
        }
        Pg::detect()?.stop(&status.data_dir, "fast")?;
        Ok(true)
    }

    /// The `psql` next to the server binaries (or on PATH).
    pub fn psql_binary() -> Result<PathBuf, ClusterError> {
        let bundled = find_bin_dir().map(|dir| dir.join("psql")).filter(|p| is_executable(p));
        Ok(bundled.unwrap_or_else(|| PathBuf::from("psql")))
    }

    /// postgres://postgres@127.0.0.1:{port}/{database}
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the server (fast shutdown: disconnects clients, then checkpoints).
    /// Does nothing if it is not running.
    pub fn stop(&self) -> Result<(), ClusterError> {
        self.pg.stop(&self.data_dir, "fast")
    }

    /// Stops the server and starts it again on the same port (fault-injection tests).
    pub fn restart(&self) -> Result<(), ClusterError> {
        self.stop()?;
        let settings = if self.temp.is_some() { TEMPORARY_SETTINGS } else { PERSISTENT_SETTINGS };
        self.pg.start_on(&self.data_dir, settings, Some(self.port))?;
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // Persistent clusters stay up between runs by design.
        let Some(temp) = self.temp.as_mut() else {
            return;
        };
        // Best effort: the watchdog retries both steps when the process exits.
        let _ = self.pg.stop(&self.data_dir, "immediate");
        let _ = fs::remove_dir_all(&temp.root);
        if let Some(mut watchdog) = temp.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// What `callsync local status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    pub data_dir: PathBuf,
    pub state: ClusterState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// No cluster was ever created there.
    Missing,
    Stopped,
    Running {
        port: u16,
    },
}

/// The server binaries and how to invoke them.
#[derive(Debug)]
struct Pg {
    bin_dir: PathBuf,
    /// `Some` when we are root and must run them as the `postgres` user.
    as_user: Option<PostgresUser>,
}

#[derive(Debug)]
struct PostgresUser {
    uid: u32,
    gid: u32,
    switch: UserSwitch,
}

#[derive(Debug)]
enum UserSwitch {
    Runuser(PathBuf),
    Su(PathBuf),
}

impl Pg {
    fn detect() -> Result<Pg, ClusterError> {
        let bin_dir = find_bin_dir().ok_or(ClusterError::BinariesNotFound)?;
        let as_user = if effective_uid() == Some(0) { Some(PostgresUser::detect()?) } else { None };
        Ok(Pg { bin_dir, as_user })
    }

    /// The full command line for `tool args`, wrapped to run as `postgres` if needed.
    fn argv(&self, tool: &str, args: Vec<OsString>) -> Vec<OsString> {
        let mut cmd: Vec<OsString> = vec![self.bin_dir.join(tool).into()];
        cmd.extend(args);
        match self.as_user.as_ref().map(|u| &u.switch) {
            None => cmd,
            Some(UserSwitch::Runuser(runuser)) => {
                let mut wrapped: Vec<OsString> =
                    vec![runuser.into(), "-u".into(), "postgres".into(), "--".into()];
                wrapped.extend(cmd);
                wrapped
            }
            Some(UserSwitch::Su(su)) => {
                let script = cmd.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(OsStr::new(" "));
                vec![su.into(), "-s".into(), "/bin/sh".into(), "postgres".into(), "-c".into(), script]
            }
        }
    }

    fn run(&self, tool: &str, args: Vec<OsString>) -> Result<Output, ClusterError> {
        exec(&self.argv(tool, args))
    }

    /// Like [`Pg::run`], but a non-zero exit is an error carrying the output.
    fn run_ok(&self, tool: &str, args: Vec<OsString>) -> Result<Output, ClusterError> {
        let argv = self.argv(tool, args);
        let out = exec(&argv)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(ClusterError::CommandFailed {
                command: display_argv(&argv),
                status: out.status.to_string(),
                output: combined_output(&out),
            })
        }
    }

    /// Hands a directory we created to the `postgres` user (no-op when not root).
    fn prepare_dir(&self, dir: &Path) -> Result<(), ClusterError> {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("cannot chmod {}", dir.display())))?;
        if let Some(user) = &self.as_user {
            std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
                .map_err(io_err(format!("cannot chown {} to postgres", dir.display())))?;
        }
        Ok(())
    }

    /// When root, makes every ancestor of `dir` traversable (o+x: enter, not list) so the
    /// `postgres` user can reach it (e.g. a project under /root), and returns the ones it
    /// changed, for the caller to say so. No-op when not root.
    fn make_accessible(&self, dir: &Path) -> Result<Vec<PathBuf>, ClusterError> {
        let mut changed = Vec::new();
        if self.as_user.is_none() {
            return Ok(changed);
        }
        for ancestor in dir.ancestors().skip(1) {
            let mode = fs::metadata(ancestor)
                .map_err(io_err(format!("cannot stat {}", ancestor.display())))?
                .permissions()
                .mode();
            if mode & 0o001 == 0 {
                fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001)).map_err(io_err(
                    format!("cannot make {} traversable for the postgres user", ancestor.display()),
                ))?;
                changed.push(ancestor.to_path_buf());
            }
        }
        Ok(changed)
    }

    fn initdb(&self, data_dir: &Path, temporary: bool) -> Result<(), ClusterError> {
        let args = |locale: &str| {
            let mut args: Vec<OsString> = vec![
                "-D".into(),
                data_dir.into(),
                "-U".into(),
                "postgres".into(),
                "--auth=trust".into(),
                "-E".into(),
                "UTF8".into(),
                locale.into(),
            ];
            if temporary {
                args.push("--no-sync".into());
            }
            args
        };
        match self.run_ok("initdb", args("--locale=C.UTF-8")) {
            // C.UTF-8 is missing on some systems (older macOS, minimal images).
            Err(ClusterError::CommandFailed { output, .. }) if output.contains("locale") => {
                self.run_ok("initdb", args("--no-locale")).map(drop)
            }
            other => other.map(drop),
        }
    }

    fn is_running(&self, data_dir: &Path) -> Result<bool, ClusterError> {
        // Exit 0: running; 3: not running; 4: not a data directory.
        let out = self.run("pg_ctl", vec!["status".into(), "-D".into(), data_dir.into()])?;
        Ok(out.status.success())
    }

    /// Starts the server on a free port and returns that port.
    fn start(&self, data_dir: &Path, settings: &str) -> Result<u16, ClusterError> {
        self.start_on(data_dir, settings, None)
    }

    /// Starts the server on `port`, or on a free one.
    fn start_on(&self, data_dir: &Path, settings: &str, port: Option<u16>) -> Result<u16, ClusterError> {
        let log = data_dir.join("server.log");
        let mut attempt = 1;
        loop {
            let port = match port {
                Some(p) => p,
                None => free_port()?,
            };
            let log_start = fs::metadata(&log).map_or(0, |m| m.len());
            // `-o` is passed through a shell by pg_ctl, hence the quoting.
            let mut opts = OsString::from(format!("-p {port} -h 127.0.0.1 -k "));
            opts.push(socket_dir(data_dir));
            opts.push(format!(" {settings}"));
            let out = self.run(
                "pg_ctl",
                vec![
                    "start".into(),
                    "-w".into(),
                    "-D".into(),
                    data_dir.into(),
                    "-l".into(),
                    log.clone().into(),
                    "-o".into(),
                    opts,
                ],
            )?;
            if out.status.success() {
                wait_for_tcp(data_dir, port)?;
                return Ok(port);
            }
            let log_tail = read_tail(&log, log_start, 30);
            if attempt < START_ATTEMPTS && log_tail.contains("Address already in use") {
                attempt += 1;
                continue;
            }
            return Err(ClusterError::StartFailed {
                data_dir: data_dir.to_path_buf(),
                reason: combined_output(&out),
                log,
                log_tail,
            });
        }
    }

    fn stop(&self, data_dir: &Path, mode: &str) -> Result<(), ClusterError> {
        if !data_dir.join("postmaster.pid").exists() {
            return Ok(());
        }
        let args = vec!["stop".into(), "-w".into(), "-m".into(), mode.into(), "-D".into(), data_dir.into()];
        self.run_ok("pg_ctl", args).map(drop)
    }
}

impl PostgresUser {
    fn detect() -> Result<PostgresUser, ClusterError> {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
            String::from_utf8(out.stdout).ok()?.trim().parse().ok()
        };
        let (Some(uid), Some(gid)) = (id("-u"), id("-g")) else {
            return Err(ClusterError::NoPostgresUser);
        };
        let switch = if let Some(runuser) = find_program("runuser") {
            UserSwitch::Runuser(runuser)
        } else if let Some(su) = find_program("su") {
            UserSwitch::Su(su)
        } else {
            return Err(ClusterError::NoUserSwitch);
        };
        Ok(PostgresUser { uid, gid, switch })
    }
}

mod tools;
use tools::*;
