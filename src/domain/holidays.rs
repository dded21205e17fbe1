//! Legal holidays: the US federal legal public holidays (5 U.S.C. 6103) and the statutory
//! calendars of the states whose rules forbid calls on *state* holidays (Alabama, Louisiana).
//!
//! A rule row with `noHolidays` bans its own state's calendar ([`Calendars::of_state`]); a state
//! without a calendar of its own here gets the federal one. Each state calendar also contains
//! every federal day (fail closed: a federal day the state may keep by proclamation, e.g.
//! Juneteenth, is banned too). A day the statute makes a holiday only in some counties or
//! parishes is banned statewide, since callsync cannot place a consumer inside a state that
//! precisely. docs/COMPLIANCE.md lists every day with its citation.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

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
    with_weekend_observance(
        &mut days,
        &[fixed(1, 1), fixed(6, 19), fixed(7, 4), fixed(11, 11), fixed(12, 25)],
    );
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

/// Easter Sunday of `year` (Gregorian; the anonymous algorithm of Meeus/Jones/Butcher).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("valid date")
}

/// Mardi Gras (Shrove Tuesday): 47 days before Easter.
pub fn mardi_gras(year: i32) -> NaiveDate {
    easter(year) - Duration::days(47)
}

/// Good Friday: 2 days before Easter.
pub fn good_friday(year: i32) -> NaiveDate {
    easter(year) - Duration::days(2)
}

/// `days` with, for each fixed date falling on a weekend, the Friday before (Saturday) or the
/// Monday after (Sunday) added, the day itself kept.
fn with_weekend_observance(days: &mut Vec<NaiveDate>, fixed: &[NaiveDate]) {
    for day in fixed {
        days.push(*day);
        match day.weekday() {
            Weekday::Sat => days.push(*day - Duration::days(1)),
            Weekday::Sun => days.push(*day + Duration::days(1)),
            _ => {}
        }
    }
}

/// Alabama's holidays of `year` (Ala. Code 1-3-8) beside the federal ones: Robert E. Lee's
/// birthday (3rd Monday of January, with Dr. King's), Thomas Jefferson's (3rd Monday of February,
/// with Washington's), Confederate Memorial Day (4th Monday of April), Jefferson Davis' birthday
/// (1st Monday of June), Columbus Day, Fraternal Day and American Indian Heritage Day (2nd Monday
/// of October), Thanksgiving (the day the Governor designates; the 4th Thursday of November is
/// taken), Mardi Gras (a holiday in Mobile and Baldwin counties only: banned statewide), and the
/// fixed dates with the statute's rule that a holiday on Sunday is kept the next day, on Saturday
/// the day before.
pub fn alabama_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m, d| NaiveDate::from_ymd_opt(year, m, d).expect("valid date");
    let mut days = federal_holidays(year);
    days.extend([
        nth_weekday(year, 1, Weekday::Mon, 3), // Robert E. Lee / Dr. Martin Luther King Jr.
        nth_weekday(year, 2, Weekday::Mon, 3), // George Washington / Thomas Jefferson
        mardi_gras(year),                      // Mobile and Baldwin counties: statewide here
        nth_weekday(year, 4, Weekday::Mon, 4), // Confederate Memorial Day
        nth_weekday(year, 5, Weekday::Mon, 0), // National Memorial Day
        nth_weekday(year, 6, Weekday::Mon, 1), // Jefferson Davis' birthday
        nth_weekday(year, 9, Weekday::Mon, 1), // Labor Day
        nth_weekday(year, 10, Weekday::Mon, 2), // Columbus / Fraternal / American Indian Heritage
        nth_weekday(year, 11, Weekday::Thu, 4), // Thanksgiving
    ]);
    with_weekend_observance(&mut days, &[fixed(1, 1), fixed(7, 4), fixed(11, 11), fixed(12, 25)]);
    days.sort();
    days.dedup();
    days
}

/// Louisiana's days of public rest and legal holidays of `year` (La. R.S. 1:55) beside the
/// federal ones: Battle of New Orleans (January 8), Mardi Gras, Good Friday, Huey P. Long Day
/// (August 30), All Saints' Day (November 1), Juneteenth Day (3rd Saturday of June, Act 128 of
/// 2021, with the Friday before on which state offices close), Inauguration Day in the city of
/// Baton Rouge (read as the Governor's: the 2nd Monday of January after each election, 2024,
/// 2028, ...), General Election Day in even years (reported, not read in the statute), and the
/// fixed dates kept on the Friday before or Monday after a weekend. Every Saturday is a legal
/// holiday in Orleans Parish, Baton Rouge and other parishes (1:55(A)(1)): see
/// [`louisiana_holiday`], which bans every Saturday statewide.
pub fn louisiana_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m, d| NaiveDate::from_ymd_opt(year, m, d).expect("valid date");
    let mut days = federal_holidays(year);
    let juneteenth_day = nth_weekday(year, 6, Weekday::Sat, 3);
    days.extend([
        nth_weekday(year, 1, Weekday::Mon, 3), // Dr. Martin Luther King, Jr.'s Birthday
        nth_weekday(year, 2, Weekday::Mon, 3), // Washington's Birthday and Presidents' Day
        mardi_gras(year),
        good_friday(year),
        nth_weekday(year, 5, Weekday::Mon, 0), // National Memorial Day
        juneteenth_day,
        juneteenth_day - Duration::days(1),
        nth_weekday(year, 9, Weekday::Mon, 1),  // Labor Day
        nth_weekday(year, 10, Weekday::Mon, 2), // Christopher Columbus Day
        nth_weekday(year, 11, Weekday::Thu, 4), // Thanksgiving Day
    ]);
    if year % 4 == 0 {
        days.push(nth_weekday(year, 1, Weekday::Mon, 2)); // Inauguration Day
    }
    if year % 2 == 0 {
        // General Election Day: the Tuesday after the first Monday of November.
        days.push(nth_weekday(year, 11, Weekday::Mon, 1) + Duration::days(1));
    }
    let statutory =
        [fixed(1, 1), fixed(1, 8), fixed(7, 4), fixed(8, 30), fixed(11, 1), fixed(11, 11), fixed(12, 25)];
    with_weekend_observance(&mut days, &statutory);
    days.sort();
    days.dedup();
    days
}

/// Whether `date` is a Louisiana legal holiday: a day of [`louisiana_holidays`] or a Saturday
/// (a legal holiday in some parishes; banned statewide).
pub fn louisiana_holiday(date: NaiveDate) -> bool {
    date.weekday() == Weekday::Sat || louisiana_holidays(date.year()).contains(&date)
}

pub fn alabama_holiday(date: NaiveDate) -> bool {
    alabama_holidays(date.year()).contains(&date)
}

/// One calendar: its bit, its name, whether a date is one of its holidays.
type Calendar = (Calendars, &'static str, fn(NaiveDate) -> bool);

/// A set of holiday calendars whose days are all banned: the federal one and the states' own.
/// Small and `Copy`; the union of two sets is at least as strict as either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Calendars(u8);

impl Calendars {
    /// No holiday banned.
    pub const NONE: Calendars = Calendars(0);
    /// 5 U.S.C. 6103.
    pub const FEDERAL: Calendars = Calendars(1);
    /// Ala. Code 1-3-8 (federal days included).
    pub const ALABAMA: Calendars = Calendars(2);
    /// La. R.S. 1:55 (federal days included).
    pub const LOUISIANA: Calendars = Calendars(4);

    const ALL: [Calendar; 3] = [
        (Calendars::FEDERAL, "federal", is_federal_holiday),
        (Calendars::ALABAMA, "AL", alabama_holiday),
        (Calendars::LOUISIANA, "LA", louisiana_holiday),
    ];

    /// The holidays a `noHolidays` row of `jurisdiction` bans: its own state's calendar, or the
    /// federal one when callsync has none for it (a locality such as `NY-NYC` takes its
    /// state's).
    pub fn of_state(jurisdiction: &str) -> Calendars {
        let state = jurisdiction.split('-').next().unwrap_or_default().trim();
        match state.to_ascii_uppercase().as_str() {
            "AL" => Calendars::ALABAMA,
            "LA" => Calendars::LOUISIANA,
            _ => Calendars::FEDERAL,
        }
    }

    pub fn union(self, other: Calendars) -> Calendars {
        Calendars(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every calendar of `self` is in `other`.
    pub fn is_subset_of(self, other: Calendars) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether `date` is a holiday in any of the calendars.
    pub fn contains(self, date: NaiveDate) -> bool {
        Self::ALL.iter().any(|(calendar, _, holiday)| calendar.is_subset_of(self) && holiday(date))
    }

    /// The names of the calendars that make `date` a holiday.
    pub fn banning(self, date: NaiveDate) -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|(c, _, holiday)| c.is_subset_of(self) && holiday(date))
            .map(|(_, name, _)| *name)
            .collect()
    }

    /// The calendars' names (`federal`, `AL`, `LA`), for messages.
    pub fn names(self) -> Vec<&'static str> {
        Self::ALL.iter().filter(|(c, _, _)| c.is_subset_of(self)).map(|(_, name, _)| *name).collect()
    }
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

    #[test]
    fn easter_and_the_days_it_moves() {
        for (year, easter_day) in [
            (2024, d(2024, 3, 31)),
            (2025, d(2025, 4, 20)),
            (2026, d(2026, 4, 5)),
            (2027, d(2027, 3, 28)),
            (2038, d(2038, 4, 25)),
            (2285, d(2285, 3, 22)),
        ] {
            assert_eq!(easter(year), easter_day, "{year}");
        }
        assert_eq!(good_friday(2027), d(2027, 3, 26));
        assert_eq!(good_friday(2026), d(2026, 4, 3));
        assert_eq!(mardi_gras(2026), d(2026, 2, 17));
        assert_eq!(mardi_gras(2027), d(2027, 2, 9));
        assert_eq!(mardi_gras(2024), d(2024, 2, 13));
    }

    #[test]
    fn alabama_calendar() {
        for day in [
            d(2026, 4, 27), // Confederate Memorial Day
            d(2027, 4, 26),
            d(2026, 6, 1), // Jefferson Davis' birthday
            d(2027, 6, 7),
            d(2027, 2, 9),   // Mardi Gras (Mobile and Baldwin counties, banned statewide)
            d(2027, 1, 18),  // Robert E. Lee / Dr. King
            d(2027, 10, 11), // Columbus / Fraternal / American Indian Heritage Day
            d(2027, 6, 18),  // Juneteenth (federal) on a Saturday, observed Friday
            d(2026, 12, 25),
        ] {
            assert!(alabama_holiday(day), "{day}");
            assert!(Calendars::ALABAMA.contains(day), "{day}");
        }
        assert!(!is_federal_holiday(d(2027, 4, 26)));
        assert!(!alabama_holiday(d(2027, 4, 27)));
        assert!(!alabama_holiday(d(2027, 3, 26)), "Good Friday is no Alabama holiday");
    }

    #[test]
    fn louisiana_calendar() {
        for day in [
            d(2027, 3, 26), // Good Friday
            d(2026, 4, 3),
            d(2027, 2, 9), // Mardi Gras
            d(2026, 2, 17),
            d(2027, 1, 8),  // Battle of New Orleans (a Friday)
            d(2027, 8, 30), // Huey P. Long Day (a Monday)
            d(2026, 8, 31), // Huey P. Long Day 2026 is a Sunday: Monday
            d(2027, 11, 1), // All Saints' Day
            d(2028, 1, 10), // Inauguration Day
            d(2026, 11, 3), // General Election Day
            d(2027, 6, 18), // Friday before Juneteenth Day
            d(2027, 6, 5),  // every Saturday
        ] {
            assert!(louisiana_holiday(day), "{day}");
            assert!(Calendars::LOUISIANA.contains(day), "{day}");
        }
        assert!(!louisiana_holiday(d(2027, 4, 26)), "Confederate Memorial Day is Alabama's");
        assert!(!louisiana_holiday(d(2027, 3, 25)));
        assert!(!louisiana_holiday(d(2027, 11, 2)), "no election day in odd years");
    }

    #[test]
    fn calendars_combine_and_name_their_states() {
        assert_eq!(Calendars::of_state("AL"), Calendars::ALABAMA);
        assert_eq!(Calendars::of_state("la"), Calendars::LOUISIANA);
        assert_eq!(Calendars::of_state("NY"), Calendars::FEDERAL);
        assert_eq!(Calendars::of_state("NY-NYC"), Calendars::FEDERAL);
        let both = Calendars::ALABAMA.union(Calendars::LOUISIANA);
        assert!(both.contains(d(2027, 4, 26)) && both.contains(d(2027, 3, 26)));
        assert!(Calendars::ALABAMA.is_subset_of(both) && !both.is_subset_of(Calendars::ALABAMA));
        assert!(Calendars::NONE.is_subset_of(Calendars::NONE));
        assert!(!Calendars::NONE.contains(d(2026, 12, 25)));
        assert!(Calendars::FEDERAL.contains(d(2026, 12, 25)));
        assert!(!Calendars::FEDERAL.contains(d(2027, 4, 26)));
        assert_eq!(both.names(), ["AL", "LA"]);
        assert_eq!(both.banning(d(2027, 4, 26)), ["AL"]);
        assert_eq!(both.union(Calendars::FEDERAL).banning(d(2026, 12, 25)), ["federal", "AL", "LA"]);
        assert!(both.banning(d(2027, 4, 27)).is_empty());
    }
}
