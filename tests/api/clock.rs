//! Every instant a rule compares comes from the service's injected clock: not the database's
//! `now()`, not the wall clock read somewhere else. A split between two clocks passes while the
//! test instant lies ahead of the real date and fails once the date passes it (main failed so
//! from 2026-12-02 on); these checks catch the class on any date. `.ci/run` also runs the whole
//! suite with the wall clock a year before and a year after today (`scripts/test-dates`).

use std::path::Path;

use crate::harness::TestDatabase;

/// A timestamp column with a default would let an insert that forgets its instant take the
/// database's clock instead of the service's.
#[test]
fn no_column_takes_the_databases_clock_by_default() {
    let database = TestDatabase::create();
    let mut conn = database.connect();
    #[derive(diesel::QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        default: String,
    }
    let with_clock_defaults: Vec<Column> = diesel::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT table_name || '.' || column_name AS name, column_default AS default
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
               AND column_default ~* '(now|current_timestamp|clock_timestamp|statement_timestamp|transaction_timestamp)'",
        ),
        &mut conn,
    )
    .unwrap();
    let named: Vec<String> =
        with_clock_defaults.iter().map(|c| format!("{} = {}", c.name, c.default)).collect();
    assert!(named.is_empty(), "columns defaulting to the database's clock: {named:?}");
}

/// The wall clock is read in `src/clock.rs` only; SQL never asks the database for "now".
#[test]
fn time_is_read_from_the_injected_clock_only() {
    let mut offenders = Vec::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    visit(&src, &mut |path, text| {
        let relative = path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let wall_clock =
                ["Utc::now(", "Local::now(", "SystemTime::now("].iter().any(|c| code.contains(c));
            // A unique temporary directory name, not an instant anything is compared with.
            let allowed = relative == "clock.rs"
                || (relative == "pg_cluster/tools.rs" && code.contains("subsec_nanos"));
            let sql_clock = asks_the_database_for_now(code);
            if (wall_clock && !allowed) || sql_clock {
                offenders.push(format!("src/{relative}:{}: {}", n + 1, line.trim()));
            }
        }
    });
    assert!(offenders.is_empty(), "clocks other than the injected one:\n{}", offenders.join("\n"));
}

/// `now()` as SQL (not `x.now()` or `Instant::now()`), `current_timestamp`, Diesel's `dsl::now`.
fn asks_the_database_for_now(code: &str) -> bool {
    let lower = code.to_lowercase();
    let bare_now = lower.match_indices("now()").any(|(i, _)| {
        !lower[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == ':')
    });
    bare_now || ["current_timestamp", "clock_timestamp(", "dsl::now"].iter().any(|c| lower.contains(c))
}

fn visit(dir: &Path, check: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, check);
        } else if path.extension().is_some_and(|e| e == "rs") {
            check(&path, &std::fs::read_to_string(&path).unwrap());
        }
    }
}
