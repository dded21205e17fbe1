//! The operating-system side of a local cluster: finding Postgres' programs, temporary
//! directories, free ports, the watchdog that stops an orphaned server, running commands.

use super::*;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A directory holding `initdb`, `pg_ctl` and `postgres`: the one `initdb` on PATH
/// lives in, else the highest version in the usual package locations.
pub(super) fn find_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|t| is_executable(&dir.join(t)));
    // Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb):
    // the tools expect `postgres` next to their real location.
    let on_path = find_in_path("initdb")
        .and_then(|p| fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf));
    if let Some(dir) = on_path.filter(|d| complete(d)) {
        return Some(dir);
    }
    // (parent, entry-name prefix before the version): Debian/Ubuntu, PGDG RPMs, Homebrew.
    let layouts = [
        ("/usr/lib/postgresql", ""),
        ("/usr", "pgsql-"),
        ("/opt/homebrew/opt", "postgresql@"),
        ("/usr/local/opt", "postgresql@"),
    ];
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for (parent, prefix) in layouts {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(version) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
                continue;
            };
            let Ok(version) = version.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>() else {
                continue;
            };
            let dir = entry.path().join("bin");
            if complete(&dir) && best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, dir));
            }
        }
    }
    best.map(|(_, dir)| dir)
}

pub(super) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

/// Like [`find_in_path`], but also looks in sbin dirs, which a non-login PATH may lack.
pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    find_in_path(name).or_else(|| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|p| is_executable(p))
    })
}

pub(super) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The effective uid, from /proc (Linux) or `id -u` (elsewhere).
pub(super) fn effective_uid() -> Option<u32> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        // "Uid:\treal\teffective\tsaved\tfs"
        if let Some(line) = status.lines().find_map(|l| l.strip_prefix("Uid:")) {
            return line.split_whitespace().nth(1)?.parse().ok();
        }
    }
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

pub(super) fn create_temp_root() -> Result<PathBuf, ClusterError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name =
        format!("callsync-pg-{}-{}-{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed));
    let root = std::env::temp_dir().join(name);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&root)
        .map_err(io_err(format!("cannot create {}", root.display())))?;
    Ok(root)
}

/// Spawns a shell that waits for this process to exit, then stops the cluster in
/// `data_dir` and deletes `root`. It runs in its own process group so a Ctrl-C
/// aimed at the test run does not kill it before it has cleaned up.
pub(super) fn spawn_watchdog(pg: &Pg, root: &Path, data_dir: &Path) -> Result<Child, ClusterError> {
    const SCRIPT: &str = r#"
parent=$1 root=$2 data=$3
shift 3
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
# If pg_ctl could not stop it, SIGQUIT the postmaster (immediate shutdown).
if [ -f "$data/postmaster.pid" ]; then
    kill -QUIT "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null
    sleep 1
fi
rm -rf "$root"
"#;
    let stop = pg.argv(
        "pg_ctl",
        vec!["stop".into(), "-w".into(), "-m".into(), "immediate".into(), "-D".into(), data_dir.into()],
    );
    Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("callsync-pg-watchdog")
        .arg(std::process::id().to_string())
        .arg(root)
        .arg(data_dir)
        .args(stop)
        .current_dir("/")
        // Must not hold our stdout/stderr open, or whoever reads them would wait for it.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(io_err("cannot spawn the cleanup watchdog (/bin/sh)"))
}

/// The `-k` value: the data dir, shell-quoted. Unix socket paths are limited to
/// ~100 bytes, so for deep data dirs we disable the socket (we only use TCP).
pub(super) fn socket_dir(data_dir: &Path) -> OsString {
    const MAX_SOCKET_DIR: usize = 100 - ".s.PGSQL.65535".len() - 1;
    if data_dir.as_os_str().len() > MAX_SOCKET_DIR {
        OsString::from("''")
    } else {
        sh_quote(data_dir.as_os_str())
    }
}

pub(super) fn sh_quote(s: &OsStr) -> OsString {
    let mut out = vec![b'\''];
    for &b in s.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    OsString::from_vec(out)
}

/// A currently free port. Another process could take it before the server binds;
/// [`Pg::start`] retries in that case.
pub(super) fn free_port() -> Result<u16, ClusterError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io_err("cannot find a free TCP port on 127.0.0.1"))
}

pub(super) fn wait_for_tcp(data_dir: &Path, port: u16) -> Result<(), ClusterError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + TCP_WAIT;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(ClusterError::NotAccepting { data_dir: data_dir.to_path_buf(), port })
}

/// The port from line 4 of postmaster.pid.
pub(super) fn read_port(data_dir: &Path) -> Result<u16, ClusterError> {
    let path = data_dir.join("postmaster.pid");
    let bad = |reason: String| ClusterError::BadPidFile {
        path: path.clone(),
        data_dir: data_dir.to_path_buf(),
        reason,
    };
    let text = fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let line = text.lines().nth(3).ok_or_else(|| bad("it has no port line".into()))?;
    line.trim().parse().map_err(|_| bad(format!("invalid port {line:?}")))
}

/// The last `lines` lines of `path` written after byte `from`.
pub(super) fn read_tail(path: &Path, from: u64, lines: usize) -> String {
    let mut bytes = Vec::new();
    let read = fs::File::open(path).and_then(|mut f| {
        f.seek(SeekFrom::Start(from))?;
        f.read_to_end(&mut bytes)
    });
    if let Err(e) = read {
        return format!("(cannot read {}: {e})", path.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(super) fn combined_output(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        text = format!("{}\n{text}", stdout.trim()).trim().to_string();
    }
    text
}

pub(super) fn exec(argv: &[OsString]) -> Result<Output, ClusterError> {
    Command::new(&argv[0])
        .args(&argv[1..])
        // The `postgres` user may not be able to access our working directory.
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("cannot run `{}`", display_argv(argv))))
}

pub(super) fn display_argv(argv: &[OsString]) -> String {
    argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}
