//! When a consumer may be called: the federal window, the built-in state rules
//! (`state_rules.json`, each row citing its source), company overrides, and the calling window
//! evaluated in one or several time zones.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::consumer::TimeRange;
use super::holidays::Calendars;
use super::schedule::parse_hhmm;
use super::{us_states, ValidationError};

/// FDCPA 15 U.S.C. 1692c(a)(1) and TCPA 47 CFR 64.1200(c)(1): after 08:00 and before 21:00 at
/// the consumer's location. Minutes after local midnight; the end is exclusive.
pub const FEDERAL_EARLIEST: u32 = 8 * 60;
pub const FEDERAL_LATEST: u32 = 21 * 60;

/// Jurisdictions below a state with rules of their own, each named `STATE-PLACE`: a row or an
/// override names one like a state (New York City's DCWP rules, 6 RCNY 5-77: `NY-NYC`).
pub const LOCALITIES: &[&str] = &["NY-NYC"];

/// A state code or a [`LOCALITIES`] code, normalized (`"ny-nyc"` -> `"NY-NYC"`).
pub fn jurisdiction_code(value: &str) -> Option<&'static str> {
    us_states::normalize(value).or_else(|| {
        let upper = value.trim().to_ascii_uppercase();
        LOCALITIES.iter().copied().find(|code| *code == upper)
    })
}

/// One row of the state table: a restriction with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateRule {
    /// The state or locality code (in `state_rules.json`; in overrides the map key says it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// "HH:MM": no call before this local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest: Option<String>,
    /// "HH:MM": no call at or after this local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    #[serde(default)]
    pub no_sunday: bool,
    /// No calls on the state's legal holidays: its own calendar where callsync has one
    /// (`holidays.rs`: AL, LA), else the federal holidays.
    #[serde(default)]
    pub no_holidays: bool,
    /// At most this many calls in any 7 consecutive local calendar days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_7_days: Option<u32>,
    /// At most this many calls in any rolling 24 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_24_hours: Option<u32>,
    /// "collections", "telemarketing" or "all": which calls the law addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Where the rule comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Call purposes (`COLLECTION`, `INFORMATIONAL`, `TELEMARKETING`) the law clearly does not
    /// cover; empty: it applies to every purpose (where the law is unclear, the rule applies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_for: Vec<String>,
}

/// All rows for one state combined, strictest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveRule {
    pub earliest: u32,
    pub latest: u32,
    pub no_sunday: bool,
    /// The holiday calendars whose days are banned (each `noHolidays` row's state's own).
    pub holidays: Calendars,
    pub max_per_7_days: Option<u32>,
    pub max_per_24_hours: Option<u32>,
}

impl EffectiveRule {
    /// Each rule at the stricter of the two.
    pub fn stricter(&self, other: &EffectiveRule) -> EffectiveRule {
        EffectiveRule {
            earliest: self.earliest.max(other.earliest),
            latest: self.latest.min(other.latest),
            no_sunday: self.no_sunday || other.no_sunday,
            holidays: self.holidays.union(other.holidays),
            max_per_7_days: min_opt(self.max_per_7_days, other.max_per_7_days),
            max_per_24_hours: min_opt(self.max_per_24_hours, other.max_per_24_hours),
        }
    }

    /// Whether every rule of `self` is at least as strict as `other`'s.
    pub fn at_least_as_strict_as(&self, other: &EffectiveRule) -> bool {
        self.stricter(other) == *self
    }
}

impl Default for EffectiveRule {
    fn default() -> Self {
        EffectiveRule {
            earliest: FEDERAL_EARLIEST,
            latest: FEDERAL_LATEST,
            no_sunday: false,
            holidays: Calendars::NONE,
            max_per_7_days: None,
            max_per_24_hours: None,
        }
    }
}

/// The state rules in force for a company: the built-in table with the company's overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRuleTable {
    rows: BTreeMap<String, Vec<StateRule>>,
}

fn min_opt(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl StateRuleTable {
    /// The table shipped in `state_rules.json`.
    pub fn builtin() -> &'static StateRuleTable {
        static TABLE: OnceLock<StateRuleTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            let rows: Vec<StateRule> =
                serde_json::from_str(include_str!("state_rules.json")).expect("state_rules.json is valid");
            let mut by_state: BTreeMap<String, Vec<StateRule>> = BTreeMap::new();
            for row in rows {
                let state = row.state.clone().expect("every built-in row names its state");
                by_state.entry(state).or_default().push(row);
            }
            StateRuleTable { rows: by_state }
        })
    }

    /// The built-in table with `overrides` (see [`validate_overrides`]) replacing whole states.
    /// The law is a floor: a built-in row that the overrides do not cover at least as strictly
    /// (overrides stored before the floor was enforced) stays in force beside them.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<StateRule>>) -> StateRuleTable {
        let mut table = Self::builtin().clone();
        for (state, rows) in overrides {
            let mut rows = rows.clone();
            let replaced = StateRuleTable { rows: BTreeMap::from([(state.clone(), rows.clone())]) };
            let effective = replaced.effective(Some(state));
            for statutory in Self::builtin().rows.get(state).into_iter().flatten() {
                if !effective.at_least_as_strict_as(&row_rule(statutory)) {
                    rows.push(statutory.clone());
                }
            }
            table.rows.insert(state.clone(), rows);
        }
        table
    }

    /// Every row in force, by state.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &StateRule)> {
        self.rows.iter().flat_map(|(state, rows)| rows.iter().map(move |r| (state.as_str(), r)))
    }

    /// The rules of every state in `states` at once: for each rule the strictest wins.
    pub fn effective_for(&self, states: &[String]) -> EffectiveRule {
        states
            .iter()
            .fold(EffectiveRule::default(), |rule, state| rule.stricter(&self.effective(Some(state))))
    }

    /// [`Self::effective_for`] for calls of `purpose` (its code): rows whose law does not cover
    /// the purpose are left out.
    pub fn effective_for_purpose(&self, states: &[String], purpose: &str) -> EffectiveRule {
        let covered = StateRuleTable {
            rows: states
                .iter()
                .filter_map(|s| self.rows.get(s).map(|rows| (s.clone(), rows)))
                .map(|(s, rows)| {
                    (s, rows.iter().filter(|r| !r.not_for.iter().any(|p| p == purpose)).cloned().collect())
                })
                .collect(),
        };
        covered.effective_for(states)
    }

    pub fn effective(&self, state: Option<&str>) -> EffectiveRule {
        let mut rule = EffectiveRule::default();
        let Some((state, rows)) = state.and_then(|s| self.rows.get(s).map(|rows| (s, rows))) else {
            return rule;
        };
        for row in rows {
            if let Some((m, _)) = row.earliest.as_deref().and_then(|t| parse_hhmm("earliest", t).ok()) {
                rule.earliest = rule.earliest.max(m);
            }
            if let Some((m, _)) = row.latest.as_deref().and_then(|t| parse_hhmm("latest", t).ok()) {
                rule.latest = rule.latest.min(m);
            }
            rule.no_sunday |= row.no_sunday;
            if row.no_holidays {
                rule.holidays = rule.holidays.union(Calendars::of_state(state));
            }
            rule.max_per_7_days = min_opt(rule.max_per_7_days, row.max_per_7_days);
            rule.max_per_24_hours = min_opt(rule.max_per_24_hours, row.max_per_24_hours);
        }
        rule
    }
}

/// Checks a company's `stateRules` override: `{"FL": [], "MA": [{"maxPer7Days": 3, ...}]}`.
/// Each listed state's rows replace the built-in ones (an empty list lifts them).
pub fn validate_overrides(value: &Value) -> Result<BTreeMap<String, Vec<StateRule>>, ValidationError> {
    let err = |m: String| ValidationError::new("stateRules", m);
    let Value::Object(map) = value else {
        return Err(err("stateRules must be an object of state code to a list of rules".into()));
    };
    let mut out = BTreeMap::new();
    for (key, rows) in map {
        let state = jurisdiction_code(key)
            .ok_or_else(|| err(format!("{key:?} is not a US state code (nor a locality: {LOCALITIES:?})")))?;
        let mut rows: Vec<StateRule> =
            serde_json::from_value(rows.clone()).map_err(|e| err(format!("stateRules.{state}: {e}")))?;
        for row in &mut rows {
            row.state = Some(state.to_string());
            if row.source.as_deref().is_some_and(|s| s.chars().count() > super::MAX_TEXT_LEN) {
                let max = super::MAX_TEXT_LEN;
                return Err(err(format!("stateRules.{state}: source must be at most {max} characters")));
            }
            let earliest = match &row.earliest {
                Some(t) => {
                    parse_hhmm("stateRules", t)
                        .map_err(|_| err(format!("stateRules.{state}: earliest must be HH:MM")))?
                        .0
                }
                None => FEDERAL_EARLIEST,
            };
            let latest = match &row.latest {
                Some(t) => {
                    parse_hhmm("stateRules", t)
                        .map_err(|_| err(format!("stateRules.{state}: latest must be HH:MM")))?
                        .0
                }
                None => FEDERAL_LATEST,
            };
            if earliest >= latest {
                return Err(err(format!("stateRules.{state}: earliest must be before latest")));
            }
            if row.max_per_7_days == Some(0) || row.max_per_24_hours == Some(0) {
                return Err(err(format!("stateRules.{state}: caps must be at least 1")));
            }
        }
        statutory_floor(state, &rows).map_err(err)?;
        out.insert(state.to_string(), rows);
    }
    Ok(out)
}

/// One row's restrictions alone (its holidays those of the state it names).
fn row_rule(row: &StateRule) -> EffectiveRule {
    let state = row.state.clone().unwrap_or_default();
    let one = StateRuleTable { rows: BTreeMap::from([(state.clone(), vec![row.clone()])]) };
    one.effective(Some(&state))
}

/// An override may tighten a state's built-in statutory rules, never loosen or remove one:
/// the message names the first rule it would weaken, and its source.
fn statutory_floor(state: &str, rows: &[StateRule]) -> Result<(), String> {
    let replaced = StateRuleTable { rows: BTreeMap::from([(state.to_string(), rows.to_vec())]) };
    let effective = replaced.effective(Some(state));
    for statutory in StateRuleTable::builtin().rows.get(state).into_iter().flatten() {
        let floor = row_rule(statutory);
        if effective.at_least_as_strict_as(&floor) {
            continue;
        }
        let weakened = [
            (
                effective.earliest < floor.earliest,
                format!("earliest {}", statutory.earliest.as_deref().unwrap_or("")),
            ),
            (
                effective.latest > floor.latest,
                format!("latest {}", statutory.latest.as_deref().unwrap_or("")),
            ),
            (floor.no_sunday && !effective.no_sunday, "noSunday".to_string()),
            (!floor.holidays.is_subset_of(effective.holidays), "noHolidays".to_string()),
            (
                min_opt(effective.max_per_7_days, floor.max_per_7_days) != effective.max_per_7_days,
                format!("maxPer7Days {}", floor.max_per_7_days.unwrap_or(0)),
            ),
            (
                min_opt(effective.max_per_24_hours, floor.max_per_24_hours) != effective.max_per_24_hours,
                format!("maxPer24Hours {}", floor.max_per_24_hours.unwrap_or(0)),
            ),
        ];
        let rule = weakened.into_iter().find(|(weaker, _)| *weaker).map(|(_, r)| r).unwrap_or_default();
        return Err(format!(
            "stateRules.{state}: an override may tighten the built-in statutory rules, never loosen or remove one; it would weaken {rule} ({})",
            statutory.source.as_deref().unwrap_or("statutory rule")
        ));
    }
    Ok(())
}

/// Allowed calling time: each day `[open, close)` minutes local, in every zone at once, less
/// the weekly ranges the consumer named as inconvenient (also local in every candidate zone: a
/// consumer who may be in either zone is spared the range in both).
#[derive(Debug, Clone, PartialEq)]
pub struct CallingWindow {
    pub zones: Vec<Tz>,
    pub open: u32,
    pub close: u32,
    pub no_sunday: bool,
    /// Banned holidays, each on the local date in each zone.
    pub holidays: Calendars,
    pub inconvenient: Vec<TimeRange>,
}

impl CallingWindow {
    /// Whether `t` is inside the window in every zone.
    pub fn allows(&self, t: DateTime<Utc>) -> bool {
        self.zones.iter().all(|tz| self.allows_in(t, *tz))
    }

    fn day_allowed(&self, date: NaiveDate) -> bool {
        let banned_sunday = self.no_sunday && date.weekday() == Weekday::Sun;
        let banned_holiday = self.holidays.contains(date);
        !(banned_sunday || banned_holiday)
    }

    /// Why `t`'s local day is closed in some zone, if it is: `"a Sunday"` or the holiday
    /// calendars that ban it (`"a legal holiday (AL)"`).
    pub fn banned_day(&self, t: DateTime<Utc>) -> Option<String> {
        self.zones.iter().find_map(|tz| {
            let date = t.with_timezone(tz).date_naive();
            if self.no_sunday && date.weekday() == Weekday::Sun {
                return Some("a Sunday".to_string());
            }
            let banning = self.holidays.banning(date);
            (!banning.is_empty()).then(|| format!("a legal holiday ({})", banning.join(", ")))
        })
    }

    /// Whether `t` is inside the hours and days in every zone, inconvenient times aside: a
    /// refusal where this holds is the consumer's inconvenient time.
    pub fn hours_allow(&self, t: DateTime<Utc>) -> bool {
        self.zones.iter().all(|tz| self.hours_allow_in(t, *tz))
    }

    fn hours_allow_in(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        let local = t.with_timezone(&tz);
        let seconds = local.num_seconds_from_midnight();
        self.day_allowed(local.date_naive()) && seconds >= self.open * 60 && seconds < self.close * 60
    }

    /// The inconvenient range `t` falls in, in `tz`.
    fn inconvenient_in(&self, t: DateTime<Utc>, tz: Tz) -> Option<&TimeRange> {
        let local = t.with_timezone(&tz);
        let minute = local.num_seconds_from_midnight() / 60;
        self.inconvenient.iter().find(|r| r.contains(local.weekday(), minute))
    }

    fn allows_in(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        self.hours_allow_in(t, tz) && self.inconvenient_in(t, tz).is_none()
    }

    /// The first instant at or after `t` allowed in `tz` alone.
    fn next_in(&self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        if self.allows_in(t, tz) {
            return t;
        }
        let local = t.with_timezone(&tz);
        if self.hours_allow_in(t, tz) {
            // Inside the hours but in an inconvenient range: try again where it ends (another
            // range or the end of the day may follow; the caller looks again).
            let end = self.inconvenient_in(t, tz).map_or(self.close, |r| r.end);
            let date = local.date_naive();
            let resume = if end >= 24 * 60 {
                local_instant(tz, date.succ_opt().expect("date in range"), 0)
            } else {
                local_instant(tz, date, end)
            };
            // A repeated (DST) hour could map the end before `t`: always move forward.
            return resume.max(t + Duration::seconds(1));
        }
        let mut date = local.date_naive();
        if !(self.day_allowed(date) && local.num_seconds_from_midnight() < self.open * 60) {
            date = date.succ_opt().expect("date in range");
        }
        // Sundays and holidays never run more than a few days in a row.
        while !self.day_allowed(date) {
            date = date.succ_opt().expect("date in range");
        }
        local_instant(tz, date, self.open)
    }

    /// The first instant after `t`, up to `limit`, that the window refuses in some zone (None:
    /// open until `limit`). Every boundary of the window (its hours, local midnight) falls on a
    /// whole local minute, so whole minutes are the only instants to look at.
    pub fn closes_after(&self, t: DateTime<Utc>, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let whole_minute = t.timestamp().div_euclid(60) * 60;
        let mut at = DateTime::<Utc>::from_timestamp(whole_minute + 60, 0)?;
        while at <= limit {
            if !self.allows(at) {
                return Some(at);
            }
            at += chrono::Duration::minutes(1);
        }
        None
    }

    /// The first instant at or after `t` allowed in every zone, if there is one before `horizon`.
    pub fn next_allowed(&self, t: DateTime<Utc>, horizon: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = t;
        while t <= horizon {
            let next = self.zones.iter().map(|tz| self.next_in(t, *tz)).max().unwrap_or(t);
            if next == t {
                return Some(t);
            }
            t = next;
        }
        None
    }
}

/// The instant of local `minutes` after midnight on `date` in `tz`. A local time that a DST
/// change skips moves forward to the first instant that exists; an ambiguous one (the repeated
/// hour) takes the earlier instant.
pub fn local_instant(tz: Tz, date: NaiveDate, minutes: u32) -> DateTime<Utc> {
    let start = date.and_hms_opt(minutes / 60, minutes % 60, 0).expect("valid time");
    let mut naive = start;
    // Gaps are at most a few hours; walk forward minute by minute to the first that exists.
    for _ in 0..=24 * 60 {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => return earlier.with_timezone(&Utc),
            LocalResult::None => naive += Duration::minutes(1),
        }
    }
    // Unreachable for real zones; fall back to reading the local time as UTC offset-free.
    Utc.from_utc_datetime(&start)
}

pub fn parse_zone(name: &str) -> Option<Tz> {
    Tz::from_str(name).ok()
}

#[cfg(test)]
mod tests;
