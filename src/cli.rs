//! The `callsync` command line: serve, migrate, company create, api-key create, schema.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use diesel::Connection;
use serde_json::json;
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::{self, Database};
use crate::dialer::DialerConfig;
use crate::events::HubConfig;
use crate::secrets::{SecretKey, Secrets};
use crate::store::{self, companies};

#[derive(Parser, Debug)]
#[command(name = "callsync", version, about = "Customers and compliant call schedules for AI voice agents")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Postgres URL. Without it, a local cluster is started under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the local cluster lives when there is no DATABASE_URL.
    #[arg(long, env = "CALLSYNC_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

/// `callsync serve`. The two secrets, `CALLSYNC_SECRET_KEY` and `CALLSYNC_METRICS_TOKEN`, are
/// read from the environment only: a flag would show them in `ps`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CALLSYNC_BIND", default_value = config::DEFAULT_BIND)]
    bind: String,
    /// Database connections per instance, the background workers' reserved ones included.
    #[arg(long, env = "CALLSYNC_DB_POOL_SIZE", default_value_t = store::DEFAULT_POOL_SIZE, value_parser = clap::value_parser!(u32).range(2..))]
    pool_size: u32,
    /// Of the pool's connections, reserved for the dialer, webhook delivery and jobs: requests
    /// use the others, so a flood of requests never stops the background work.
    #[arg(long, env = "CALLSYNC_DB_BACKGROUND_CONNECTIONS", default_value_t = store::DEFAULT_BACKGROUND_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..))]
    background_connections: u32,
    /// One company's database calls running or waiting for a connection at once on this
    /// instance (default: half the request path's connections); past it (after a 5 s wait)
    /// that company's call gets RATE_LIMITED while others are unaffected.
    #[arg(long, env = "CALLSYNC_COMPANY_DB_CALLS", value_parser = clap::value_parser!(u32).range(1..))]
    company_db_calls: Option<u32>,
    /// The same while another company is busy on this instance too (default: a third of
    /// company-db-calls): a flood keeps its full share only while nobody else needs it.
    #[arg(long, env = "CALLSYNC_COMPANY_DB_CALLS_CONTENDED", value_parser = clap::value_parser!(u32).range(1..))]
    company_db_calls_contended: Option<u32>,
    /// A statement of the request path running longer than this (milliseconds) is cancelled:
    /// the request gets SERVICE_BUSY and its transaction rolls back. 0: no limit.
    #[arg(long, env = "CALLSYNC_STATEMENT_TIMEOUT_MS", default_value_t = store::DEFAULT_STATEMENT_TIMEOUT.as_millis() as u64)]
    statement_timeout_ms: u64,
    /// The same limit for the background workers' statements (jobs rebuild schedules in bulk).
    #[arg(long, env = "CALLSYNC_BACKGROUND_STATEMENT_TIMEOUT_MS", default_value_t = store::DEFAULT_BACKGROUND_STATEMENT_TIMEOUT.as_millis() as u64)]
    background_statement_timeout_ms: u64,
    /// A read replica of DATABASE_URL's server (a streaming standby): lists, searches, counts
    /// and exports read there while it keeps up; everything else stays on the primary.
    #[arg(long, env = "DATABASE_READ_URL", hide_env_values = true)]
    database_read_url: Option<String>,
    /// Replica lag (milliseconds) past which reads skip the replica for the primary, until it
    /// catches up.
    #[arg(long, env = "CALLSYNC_MAX_REPLICA_LAG_MS", default_value_t = store::replica::DEFAULT_MAX_REPLICA_LAG.as_millis() as u64)]
    max_replica_lag_ms: u64,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "CALLSYNC_WORKERS")]
    workers: Option<usize>,
    /// Do not run the dialer worker in this instance.
    #[arg(long, env = "CALLSYNC_NO_DIALER")]
    no_dialer: bool,
    /// Demo call provider: walk calls through RINGING, IN_PROGRESS, COMPLETED.
    #[arg(long)]
    simulate_calls: bool,
    /// Calls with no final status after this many minutes are marked FAILED.
    #[arg(long, env = "CALLSYNC_STUCK_CALL_MINUTES", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    stuck_call_minutes: u32,
    /// Let lmsBaseUrl and callWebhookUrl reach loopback and private addresses (development
    /// and tests only: in production a tenant could reach the service's own network).
    #[arg(long, env = "CALLSYNC_ALLOW_PRIVATE_NETWORK", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    allow_private_network: bool,
    /// Requests of one company running at once on this instance; past it (after a 5 s wait)
    /// that company gets RATE_LIMITED while others are unaffected.
    #[arg(long, env = "CALLSYNC_COMPANY_CONCURRENCY", default_value_t = crate::http::DEFAULT_COMPANY_CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    company_concurrency: u32,
    /// Days events are kept for subscribers resuming with afterEventId.
    #[arg(long, env = "CALLSYNC_EVENT_RETENTION_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
    event_retention_days: u32,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP and WebSocket.
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Companies (tenants).
    Company {
        #[command(subcommand)]
        command: CompanyCommand,
    },
    /// API keys.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// The local Postgres cluster that `serve` starts when there is no DATABASE_URL.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum LocalCommand {
    /// Whether it runs, on which port, and its URL.
    Status {
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "CALLSYNC_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Stop it (as the `postgres` user when run as root); `serve` starts it again.
    Stop {
        #[arg(long, env = "CALLSYNC_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Open psql on its `callsync` database (extra arguments go to psql, e.g. `-- -c 'select 1'`).
    Psql {
        #[arg(long, env = "CALLSYNC_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CompanyCommand {
    /// Create a company and its first API key; prints {"companyId","apiKey"}.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create another API key for a company; prints {"apiKey", "id", "scope"} (the key once).
    Create {
        #[arg(long)]
        company: String,
        #[arg(long)]
        label: Option<String>,
        /// FULL, READ_ONLY (no writes) or NO_PII (no SSN digits, birthday or email in answers).
        #[arg(long, default_value = "FULL")]
        scope: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print a company's keys, one JSON object per line (never a secret).
    List {
        #[arg(long)]
        company: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a key by its id: it stops working on every instance within 2 seconds.
    Revoke {
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

pub fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Local { command } => local(command),
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Migrate { db } => {
            let database = Database::resolve(db.database_url, &db.data_dir)?;
            let applied = migrate(&database.url)?;
            eprintln!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Command::Company { command: CompanyCommand::Create { name, db } } => {
            let name = crate::domain::required_text("name", &name, 200)?;
            let database = Database::resolve(db.database_url, &db.data_dir)?;
            migrate(&database.url)?;
            let mut conn = diesel::PgConnection::establish(&database.url)?;
            let (company, key) =
                conn.transaction(|conn| crate::app::company::create(conn, &name, Clock::system().now()))?;
            println!("{}", json!({"companyId": company.id.to_string(), "apiKey": key.api_key}));
            Ok(())
        }
        Command::ApiKey { command } => api_key(command),
        Command::Serve(args) => serve(args),
    }
}

/// `callsync api-key create | list | revoke`: the operator's side of key management. Changes
/// are in the company's audit trail as the operator's (no key), operation `cli api-key …`.
fn api_key(command: ApiKeyCommand) -> CliResult {
    use crate::app::keys::{self, Revoker};
    use crate::domain::keys::KeyScope;
    use crate::store::api_keys::{self, ApiKeyRow};
    use crate::store::audit::{self, AuditContext};
    let parse_id = |what: &str, raw: &str| {
        Uuid::parse_str(raw.trim()).map_err(|_| format!("{what} {raw:?} is not an id"))
    };
    let describe = |key: &ApiKeyRow| {
        json!({
            "id": key.id.to_string(), "label": key.label, "prefix": key.prefix, "scope": key.scope,
            "createdAt": key.created_at.to_rfc3339(),
            "lastUsedAt": key.last_used_at.map(|t| t.to_rfc3339()),
            "revokedAt": key.revoked_at.map(|t| t.to_rfc3339()),
        })
    };
    let connect = |db: DbArgs| -> Result<diesel::PgConnection, Box<dyn std::error::Error>> {
        let database = Database::resolve(db.database_url, &db.data_dir)?;
        migrate(&database.url)?;
        Ok(diesel::PgConnection::establish(&database.url)?)
    };
    let operator = |company_id, operation: &str| AuditContext {
        company_id,
        api_key_id: None,
        operation: format!("cli api-key {operation}"),
    };
    let now = Clock::system().now();
    match command {
        ApiKeyCommand::Create { company, label, scope, db } => {
            let company_id = parse_id("--company", &company)?;
            let scope = KeyScope::parse(scope.trim())
                .ok_or_else(|| format!("--scope {scope:?} is not one of FULL, READ_ONLY, NO_PII"))?;
            let mut conn = connect(db)?;
            let (row, key) = conn.transaction(|conn| {
                audit::mark(conn, &operator(company_id, "create"), now)?;
                keys::create(conn, company_id, label.as_deref(), scope, now)
            })?;
            println!("{}", json!({"apiKey": key.api_key, "id": row.id.to_string(), "scope": row.scope}));
        }
        ApiKeyCommand::List { company, db } => {
            let company_id = parse_id("--company", &company)?;
            let mut conn = connect(db)?;
            for key in api_keys::list(&mut conn, company_id)? {
                println!("{}", describe(&key));
            }
        }
        ApiKeyCommand::Revoke { id, db } => {
            let key_id = parse_id("the key id", &id)?;
            let mut conn = connect(db)?;
            let company_id = api_keys::company_of(&mut conn, key_id)?
                .ok_or_else(|| format!("no API key with id {key_id}"))?;
            let key = conn.transaction(|conn| {
                audit::mark(conn, &operator(company_id, "revoke"), now)?;
                keys::revoke(conn, company_id, key_id, Revoker::Operator, now)
            })?;
            println!("{}", describe(&key));
        }
    }
    Ok(())
}

/// `callsync local status | stop | psql`: the local cluster under `DATA_DIR/pgdata`.
fn local(command: LocalCommand) -> CliResult {
    use crate::pg_cluster::{ClusterState, LocalCluster};
    match command {
        LocalCommand::Status { json, data_dir } => {
            let status = LocalCluster::status(&data_dir.join("pgdata"))?;
            let (state, port) = match status.state {
                ClusterState::Missing => ("missing", None),
                ClusterState::Stopped => ("stopped", None),
                ClusterState::Running { port } => ("running", Some(port)),
            };
            let url = port.map(|p| format!("postgres://postgres@127.0.0.1:{p}/{}", config::LOCAL_DATABASE));
            if json {
                let line = json!({"dataDir": status.data_dir, "state": state, "port": port, "url": url});
                println!("{line}");
                return Ok(());
            }
            println!("data directory: {}", status.data_dir.display());
            match (state, port, url) {
                ("running", Some(port), Some(url)) => {
                    println!("state:          running");
                    println!("port:           {port}");
                    println!("url:            {url}");
                    println!("psql:           callsync local psql");
                }
                ("stopped", ..) => println!("state:          stopped (`callsync serve` starts it)"),
                _ => println!("state:          no cluster here yet (`callsync serve` creates one)"),
            }
            Ok(())
        }
        LocalCommand::Stop { data_dir } => {
            if LocalCluster::stop_at(&data_dir.join("pgdata"))? {
                println!("stopped the local cluster in {}", data_dir.join("pgdata").display());
            } else {
                println!("the local cluster in {} is not running", data_dir.join("pgdata").display());
            }
            Ok(())
        }
        LocalCommand::Psql { data_dir, args } => {
            let status = LocalCluster::status(&data_dir.join("pgdata"))?;
            let ClusterState::Running { port } = status.state else {
                return Err(format!(
                    "the local cluster in {} is not running; `callsync serve` starts it",
                    status.data_dir.display()
                )
                .into());
            };
            // TCP with trust authentication as the `postgres` role: works for root too.
            let mut psql = std::process::Command::new(LocalCluster::psql_binary()?);
            psql.args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                config::LOCAL_DATABASE,
            ]);
            psql.args(args);
            use std::os::unix::process::CommandExt;
            Err(format!("cannot run psql: {}", psql.exec()).into())
        }
    }
}

fn migrate(url: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut conn = diesel::PgConnection::establish(url)?;
    Ok(store::run_migrations(&mut conn)?)
}

fn serve(args: ServeArgs) -> CliResult {
    let ServeArgs {
        bind,
        pool_size,
        background_connections,
        company_db_calls,
        company_db_calls_contended,
        statement_timeout_ms,
        background_statement_timeout_ms,
        database_read_url,
        max_replica_lag_ms,
        workers,
        no_dialer,
        simulate_calls,
        stuck_call_minutes,
        allow_private_network,
        event_retention_days,
        company_concurrency,
        db,
    } = args;
    // Read first: a malformed key stops `serve` before anything starts.
    let secret_key = env_value(crate::secrets::KEY_VARIABLE).map(|v| SecretKey::parse(&v)).transpose()?;
    let metrics_token = env_value(METRICS_TOKEN_VARIABLE).map(crate::domain::Secret::new);
    let network = crate::net::NetworkPolicy { allow_private: allow_private_network };
    let database = Database::resolve(db.database_url, &db.data_dir)?;
    if let Some(cluster) = &database.local_cluster {
        tracing::info!(data_dir = %cluster.data_dir().display(), port = cluster.port(), "using the local Postgres cluster");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "Local Postgres: {} on 127.0.0.1:{} (`callsync local status | stop | psql`)",
            cluster.data_dir().display(),
            cluster.port()
        );
        if !cluster.made_traversable().is_empty() {
            let dirs: Vec<String> =
                cluster.made_traversable().iter().map(|d| d.display().to_string()).collect();
            let _ = writeln!(
                out,
                "Running as root: PostgreSQL refuses root, so the local cluster runs as the `postgres` user. \
                 To let it reach its data directory, these directories were made traversable by others \
                 (o+x: enter, not list): {}. To avoid this, set CALLSYNC_DATA_DIR to a directory the \
                 `postgres` user can reach (e.g. /var/lib/callsync).",
                dirs.join(", ")
            );
            tracing::warn!(directories = %dirs.join(", "), "made directories traversable for the postgres user");
        }
    }
    let secrets = Secrets::new(match (secret_key, &database.local_cluster) {
        (Some(key), _) => Some(key),
        // Development on the local cluster: a key of its own, kept beside its data.
        (None, Some(_)) => {
            let (key, path, created) = config::local_secret_key(&db.data_dir)?;
            let verb = if created { "generated" } else { "using" };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "Secret key: {verb} {} (encrypts companies' lmsApiKey and callWebhookSecret; CALLSYNC_SECRET_KEY overrides it)",
                path.display()
            );
            Some(key)
        }
        (None, None) => {
            tracing::warn!(
                "CALLSYNC_SECRET_KEY is not set: lmsApiKey and callWebhookSecret cannot be stored, and \
                 those stored encrypted cannot be read (plain-text ones from before still can); cursors, \
                 event ids and job ids are valid on this instance until it stops"
            );
            None
        }
    });
    if metrics_token.is_none() {
        tracing::info!("CALLSYNC_METRICS_TOKEN is not set: /metrics is open to anyone who reaches the port");
    }
    let dialer = (!no_dialer).then(|| {
        let mut config = DialerConfig {
            simulate_calls,
            stuck_after: std::time::Duration::from_secs(u64::from(stuck_call_minutes) * 60),
            ..DialerConfig::default()
        };
        config.webhook.network = network;
        config.webhook.secrets = secrets.clone();
        config
    });
    let pool_config = store::PoolConfig {
        size: pool_size,
        background: background_connections,
        company_calls: company_db_calls,
        company_calls_contended: company_db_calls_contended,
        statement_timeout: std::time::Duration::from_millis(statement_timeout_ms),
        background_statement_timeout: std::time::Duration::from_millis(background_statement_timeout_ms),
    };
    // Before anything starts: a split that leaves a side without a connection stops `serve`.
    pool_config.check()?;
    let applied = migrate(&database.url)?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "migrations applied");
    }
    let pools = store::ServerPools::connect(&database.url, &pool_config)?;
    let pools = match database_read_url.filter(|url| !url.trim().is_empty()) {
        Some(url) => {
            let max_lag = std::time::Duration::from_millis(max_replica_lag_ms);
            tracing::info!(
                max_lag_ms = max_replica_lag_ms,
                "lists, searches, counts and exports read from the read replica while it keeps up"
            );
            pools.with_replica(&database.url, &store::ReplicaConfig::new(url, max_lag), &pool_config)?
        }
        None => pools,
    };
    if database.local_cluster.is_some() {
        create_demo_company(&pools.requests, &bind)?;
    }
    let listener = TcpListener::bind(&bind).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    actix_web::rt::System::new().block_on(async move {
        let hub = HubConfig {
            retention: std::time::Duration::from_secs(u64::from(event_retention_days) * 24 * 3600),
            ..HubConfig::default()
        };
        let options = crate::http::AppOptions {
            network,
            secrets,
            metrics_token,
            company_concurrency: Some(company_concurrency as usize),
            ..Default::default()
        };
        let state = crate::http::AppState::with_options(pools, &database.url, hub, options);
        let _dialer = dialer.map(|config| {
            tracing::info!(simulate = config.simulate_calls, "dialer worker running");
            crate::dialer::spawn(state.background_db().clone(), config, state.work_signal().clone())
        });
        let (server, addr) = crate::http::serve(listener, state, workers)?;
        tracing::info!(%addr, "callsync listening: GraphiQL at http://{addr}/, API at http://{addr}/graphql, dashboard at http://{addr}/dashboard");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "callsync is listening: dashboard http://{addr}/dashboard · GraphiQL http://{addr}/ · API http://{addr}/graphql");
        let _ = out.flush();
        drop(out);
        server.await
    })?;
    Ok(())
}

/// Bearer token for `/metrics`; unset (or blank), `/metrics` is open.
pub const METRICS_TOKEN_VARIABLE: &str = "CALLSYNC_METRICS_TOKEN";

/// An environment variable's value; unset and blank are the same.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// On a fresh local cluster, a company to try things with; its key is printed once. On later
/// runs, how to get another key for it (keys are stored hashed: the first cannot be shown again).
fn create_demo_company(pool: &store::PgPool, bind: &str) -> CliResult {
    let mut conn = pool.get()?;
    let created = conn.transaction(|conn| {
        if companies::count_companies(conn)? > 0 {
            return Ok::<_, crate::app::AppError>(None);
        }
        crate::app::company::create(conn, "Demo Company", Clock::system().now()).map(Some)
    })?;
    // Written with writeln!: a closed stdout must not take the server down.
    let mut out = std::io::stdout().lock();
    match created {
        Some((company, key)) => {
            let _ = writeln!(out, "Created a demo company on the local database.");
            let _ = writeln!(out, "  companyId: {}", company.id);
            let _ = writeln!(out, "  apiKey:    {}   (shown once; keep it)", key.api_key);
            let _ = writeln!(
                out,
                "Try: curl -s http://{bind}/graphql -H 'X-API-Key: {}' -H 'Content-Type: application/json' -d '{{\"query\":\"{{ viewer {{ id name }} }}\"}}'",
                key.api_key
            );
        }
        None => {
            if let Some(company) = companies::company_named(&mut conn, "Demo Company")? {
                let _ = writeln!(
                    out,
                    "The demo company exists (companyId {}). Its first key was shown once;",
                    company
                );
                let _ = writeln!(out, "  for another: callsync api-key create --company {company}");
            }
        }
    }
    let _ = out.flush();
    Ok(())
}
