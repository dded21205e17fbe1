//! Calls handed over per second: claimCalls' use-case with the re-decision (every call decided
//! again by the contact policy under the locks) against the same hand-off without it (the same
//! candidates, locks and UPDATE, no decision), alternating in the same run on the same durable
//! database. Target (issue 19): the re-decision costs at most 25%.
//!
//!   cargo run --release --example handoff_bench -- --calls 5000 --rounds 3

mod common;

use std::time::{Duration, Instant};

use callsync::app::handoff;
use callsync::store::{calls, customers};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use common::{BenchDb, CpuMeter};

/// Tuesday 12:00 in New York: inside every window, so every call is handed over.
fn decided_at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T17:00:00Z").unwrap().with_timezone(&Utc)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` New York customers, each with one QUEUED call made a minute before `now`.
fn queue_calls(conn: &mut PgConnection, company_id: Uuid, n: usize, now: DateTime<Utc>) {
    diesel::sql_query(
        "WITH c AS (
           INSERT INTO customers (company_id, external_id, first_name, last_name, phone_number, timezone,
                                  task_type, state, zip_code, created_at, updated_at)
           SELECT $1, 'h-' || g, 'Ada', 'Lovelace', '+1212' || lpad((5000000 + g)::text, 7, '0'),
                  'America/New_York', 'collections', 'NY', '10001', $2, $2
           FROM generate_series(1, $3::int) g
           RETURNING id, phone_number)
         INSERT INTO calls (company_id, customer_id, schedule_id, to_number, status, source, created_at,
                            updated_at, expires_at)
         SELECT $1, c.id, s.id, c.phone_number, 'QUEUED', 'MAKE_CALL', $2 - interval '1 minute',
                $2 - interval '1 minute', $2 + interval '1 hour'
         FROM c, schedules s WHERE s.company_id = $1",
    )
    .bind::<SqlUuid, _>(company_id)
    .bind::<Timestamptz, _>(now)
    .bind::<diesel::sql_types::Integer, _>(n as i32)
    .execute(conn)
    .expect("queue calls");
}

fn reset(conn: &mut PgConnection) {
    diesel::sql_query("UPDATE calls SET handed_off_at = NULL").execute(conn).expect("reset");
    diesel::sql_query("VACUUM ANALYZE calls").execute(conn).expect("vacuum");
}

/// Hands every call over, 100 a transaction; how long it took.
fn hand_over(
    conn: &mut PgConnection,
    company_id: Uuid,
    now: DateTime<Utc>,
    decide: bool,
) -> (usize, Duration) {
    let started = Instant::now();
    let mut total = 0;
    loop {
        let claimed = conn
            .transaction::<_, callsync::app::AppError, _>(|conn| {
                if decide {
                    return handoff::claim_calls(conn, company_id, 100, now);
                }
                // The same hand-off, without deciding: candidates, the locks, the UPDATE.
                let candidates = calls::claimable(conn, company_id, now, 200)?;
                let mut ids: Vec<i64> = candidates.iter().filter_map(|(_, c)| *c).collect();
                ids.sort_unstable();
                customers::lock_many(conn, company_id, &ids)?;
                calls::lock_company_dialing(conn, company_id)?;
                let call_ids: Vec<Uuid> = candidates.iter().map(|(id, _)| *id).collect();
                let locked = calls::lock_claimable(conn, company_id, &call_ids, now)?;
                let take: Vec<Uuid> = locked.iter().take(100).map(|c| c.id).collect();
                Ok(calls::mark_claimed(conn, company_id, &take, now)?)
            })
            .expect("hand over");
        if claimed.is_empty() {
            return (total, started.elapsed());
        }
        total += claimed.len();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let n = arg("--calls", 5000);
    let rounds = arg("--rounds", 3);
    let db = BenchDb::create();
    let (company_id, _) = db.company();
    let mut conn = PgConnection::establish(&db.url).expect("connect");
    let now = decided_at();
    queue_calls(&mut conn, company_id, n, now);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    // CPU per call handed over with the re-decision: (Postgres, this process = the use-case).
    let (mut postgres_cpu, mut app_cpu) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so neither always meets a warmer cache.
        for decide in if round % 2 == 0 { [false, true] } else { [true, false] } {
            reset(&mut conn);
            let meter = CpuMeter::start(None);
            let (handed, took) = hand_over(&mut conn, company_id, now, decide);
            if decide {
                let (_, postgres, app) = meter.per_op(handed as f64);
                postgres_cpu.push(postgres);
                app_cpu.push(app);
            }
            assert_eq!(handed, n, "every call is allowed and handed over");
            let rate = handed as f64 / took.as_secs_f64();
            if decide {
                with.push(rate)
            } else {
                without.push(rate)
            }
        }
    }
    let (with, without) = (median(with), median(without));
    let cost = 1.0 - with / without;
    println!("hand-off: {n} QUEUED calls claimed 100 a transaction, median of {rounds} rounds");
    println!("  without the re-decision: {without:.0} calls/s");
    println!("  with the re-decision:    {with:.0} calls/s");
    println!("  cost of the re-decision: {:.0}% (target <= 25%)", cost * 100.0);
    let (postgres_cpu, app_cpu) = (median(postgres_cpu), median(app_cpu));
    println!("  CPU per call with it: Postgres {postgres_cpu:.3} ms, use-case {app_cpu:.3} ms");
    println!("<!-- bench:handoff -->");
    println!("### Hand-off: calls handed over per second, with the re-decision against without\n");
    println!("| scenario | without | with | cost | target | ok |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| claimCalls, {n} calls, 100 a transaction | {without:.0}/s | {with:.0}/s | {:.0}% | <= 25% | {} |",
        cost * 100.0,
        if cost <= 0.25 { "yes" } else { "no" }
    );
    println!(
        "\nCPU per call handed over with the re-decision: Postgres {postgres_cpu:.3} ms, the use-case {app_cpu:.3} ms."
    );
    println!("<!-- /bench -->");
}
