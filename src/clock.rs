//! The one source of "now" for every use-case, the dialer and the GraphQL resolvers.
//!
//! In production it is the system clock. Tests start it at a fixed instant (a Tuesday noon in
//! New York, a DST day, 20:59 local…) so that nothing depends on the hour the suite runs at;
//! time then flows on from there, and a test can move it with [`Clock::set`] or
//! [`Clock::advance`]. The server under test is still the real one: only its idea of "now" moves.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// A shared clock: the system time plus an offset (zero in production).
#[derive(Clone, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now().to_rfc3339())
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that reads `start` now and runs on at the normal rate.
    pub fn starting_at(start: DateTime<Utc>) -> Clock {
        let clock = Clock::default();
        clock.set(start);
        clock
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::microseconds(self.offset_micros.load(Ordering::Relaxed))
    }

    /// Today's date in UTC (for validation such as "a birthday is in the past").
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// From now on the clock reads `at` (and runs on from there).
    pub fn set(&self, at: DateTime<Utc>) {
        let offset = (at - Utc::now()).num_microseconds().unwrap_or(0);
        self.offset_micros.store(offset, Ordering::Relaxed);
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.offset_micros.fetch_add(by.num_microseconds().unwrap_or(0), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_reads_the_instant_and_runs_on() {
        let start = DateTime::parse_from_rfc3339("2026-12-01T11:30:00Z").unwrap().with_timezone(&Utc);
        let clock = Clock::starting_at(start);
        let read = clock.now();
        assert!(read >= start && read < start + Duration::seconds(5));
        clock.advance(Duration::days(8));
        assert!(clock.now() >= start + Duration::days(8));
        assert_eq!(clock.clone().today(), clock.today());
    }
}
