//! US federal legal public holidays (5 U.S.C. 6103), with their observed weekdays: the
//! "holidays" of state rules that forbid calls on them. State-only holidays can be added by a
//! company override of the state's rule.

use chrono::{Datelike, NaiveDate, Weekday};

/// The `n`-th (1-based) `weekday` of `month`, or the last one when `n` is 0.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    if n == 0 {
        let next_month = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .expect("valid date");
        let mut d = next_month.pred_opt().expect("valid date");
        while d.weekday() != weekday {
            d = d.pred_opt().expect("valid date");
        }
        return d;
    }
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8).expect("valid date")
}

/// The federal holidays of `year`: the days themselves and, for fixed dates on a weekend, the
/// Friday or Monday on which they are observed.
pub fn federal_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m, d| NaiveDate::from_ymd_opt(year, m, d).expect("valid date");
    let mut days = vec![
        nth_weekday(year, 1, Weekday::Mon, 3),  // Martin Luther King Jr. Day
        nth_weekday(year, 2, Weekday::Mon, 3),  // Washington's Birthday
        nth_weekday(year, 5, Weekday::Mon, 0),  // Memorial Day
        nth_weekday(year, 9, Weekday::Mon, 1),  // Labor Day
        nth_weekday(year, 10, Weekday::Mon, 2), // Columbus Day
        nth_weekday(year, 11, Weekday::Thu, 4), // Thanksgiving Day
    ];
    for day in [fixed(1, 1), fixed(6, 19), fixed(7, 4), fixed(11, 11), fixed(12, 25)] {
        days.push(day);
        match day.weekday() {
            Weekday::Sat => days.push(day.pred_opt().expect("valid date")),
            Weekday::Sun => days.push(day.succ_opt().expect("valid date")),
            _ => {}
        }
    }
    // New Year's Day of next year observed on this year's Dec 31.
    if fixed(12, 31).weekday() == Weekday::Fri {
        days.push(fixed(12, 31));
    }
    days.sort();
    days
}

pub fn is_federal_holiday(date: NaiveDate) -> bool {
    federal_holidays(date.year()).contains(&date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn known_2026_holidays() {
        for day in [
            d(2026, 1, 1),
            d(2026, 1, 19),
            d(2026, 2, 16),
            d(2026, 5, 25),
            d(2026, 6, 19),
            d(2026, 7, 3), // July 4th is a Saturday: observed Friday
            d(2026, 7, 4),
            d(2026, 9, 7),
            d(2026, 10, 12),
            d(2026, 11, 11),
            d(2026, 11, 26),
            d(2026, 12, 25),
        ] {
            assert!(is_federal_holiday(day), "{day}");
        }
        assert!(!is_federal_holiday(d(2026, 11, 23)));
        assert!(is_federal_holiday(d(2027, 12, 31)), "New Year 2028 is a Saturday");
    }
}
