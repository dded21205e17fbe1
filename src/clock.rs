//! The one source of "now" for every use-case, the dialer and the GraphQL resolvers.
//!
//! In production it is the system clock. Tests start it at a fixed instant (a Tuesday noon in
//! New York, a DST day, 20:59 local…) so that nothing depends on the hour the suite runs at;
//! time then flows on from there, and a test can move it with [`Clock::set`] or
//! [`Clock::advance`], or stop it with [`Clock::freeze`] where requests must share one instant.
//! The server under test is still the real one: only its idea of "now" moves.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// A shared clock: the system time plus an offset (zero in production), or, once frozen, a
/// fixed instant (the offset then holds it, in microseconds since the epoch).
#[derive(Clone, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
    frozen: Arc<AtomicBool>,
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
        let micros = self.offset_micros.load(Ordering::SeqCst);
        if self.frozen.load(Ordering::SeqCst) {
            return DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
        }
        Utc::now() + Duration::microseconds(micros)
    }

    /// Stops the clock at its current reading: every "now" is that instant until it is set or
    /// advanced (which move the frozen instant). For tests whose requests must share one
    /// instant (a per-second limit), so that the machine's speed cannot change the outcome.
    pub fn freeze(&self) {
        let at = self.now();
        self.offset_micros.store(at.timestamp_micros(), Ordering::SeqCst);
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Today's date in UTC (for validation such as "a birthday is in the past").
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// From now on the clock reads `at` (and runs on from there).
    pub fn set(&self, at: DateTime<Utc>) {
        if self.frozen.load(Ordering::SeqCst) {
            self.offset_micros.store(at.timestamp_micros(), Ordering::SeqCst);
            return;
        }
        let offset = (at - Utc::now()).num_microseconds().unwrap_or(0);
        self.offset_micros.store(offset, Ordering::SeqCst);
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.offset_micros.fetch_add(by.num_microseconds().unwrap_or(0), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_stands_still_until_moved() {
        let start = DateTime::parse_from_rfc3339("2026-12-01T11:30:00Z").unwrap().with_timezone(&Utc);
        let clock = Clock::starting_at(start);
        clock.set(start);
        clock.freeze();
        let frozen = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), frozen);
        clock.advance(Duration::seconds(2));
        assert_eq!(clock.now(), frozen + Duration::seconds(2));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

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
