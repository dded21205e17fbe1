//! The contact policy: may this callee be called at this instant? If not, why not, and when is
//! the earliest instant at which every rule allows it?
//!
//! One policy decides every path that dials (makeCall, bulk calls, the dialer), the schedule
//! builder and `callEligibility`. It is pure: the caller loads the contact history and passes
//! `now`. Rules, in the order a refusal reports them (README, "How callsync decides"):
//!
//! 1. the schedule is paused (`SCHEDULE_PAUSED`, never);
//! 2. Do Not Call: the customer's flag, or the number on the company's list while the schedule
//!    uses it (`DO_NOT_CALL`, never);
//! 3. the callee's location is known: at least one candidate zone (`OUTSIDE_CALLING_HOURS`,
//!    never);
//! 4. the calling window (schedule hours ∩ 08:00–21:00 ∩ the state's hours, Sundays and
//!    holidays where the state bans them, less the consumer's inconvenient times) in **every**
//!    candidate zone — Reg F 1006.6(b)(1) (`OUTSIDE_CALLING_HOURS`, reason `INCONVENIENT_TIME`
//!    where only the consumer's times refuse);
//! 5. the quiet period after a conversation: none on local days D+1…D+7 (Reg F 1006.14(b))
//!    (`CONTACT_LIMIT` / `CONVERSATION_QUIET_PERIOD`);
//! 6. at most 7 attempts (or fewer: schedule, state) in any 7 consecutive local days
//!    (`CONTACT_LIMIT` / `WEEKLY_CAP`);
//! 7. a state's cap per rolling 24 hours (`CONTACT_LIMIT` / `DAILY_CAP`);
//! 8. the same number not within 30 seconds (`RECENTLY_DIALED`);
//! 9. 30 minutes between two attempts to one person (`CONTACT_LIMIT` / `MIN_GAP`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

pub use super::callee::{Callee, ConsentLevel, LineType, Location, LANDLINE_CAP, LANDLINE_CAP_DAYS};
use super::calling_rules::{local_instant, CallingWindow, StateRuleTable};
use super::calling_rules::{FEDERAL_EARLIEST, FEDERAL_LATEST};
pub use super::refusal::{LimitReason, Refusal, RefusalCode};

/// Reg F 12 CFR 1006.14(b)(2)(i): more than 7 calls within 7 consecutive days is presumed
/// harassment, whatever a schedule allows.
pub const REG_F_WEEKLY_CAP: u32 = 7;
/// Reg F 1006.14(b)(2)(ii): no call within 7 days after a conversation (its day is day 1 of
/// the count; the contract forbids local days D+1…D+7, so calls resume on D+8).
pub const QUIET_DAYS: i64 = 7;
/// Two attempts to one person are never closer than this (quick repeats can be harassment).
pub const MIN_GAP: Duration = Duration::minutes(30);
/// One number is never dialled twice within this long.
pub const REDIAL_GUARD: Duration = Duration::seconds(30);
/// No answer is searched (and nothing planned) further out than this.
pub const HORIZON: Duration = Duration::days(400);

/// What a schedule says about calling.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleTerms {
    pub paused: bool,
    /// Minutes after local midnight, `[start, end)`.
    pub calling_hours: (u32, u32),
    pub max_attempts_per_7_days: u32,
    pub quiet_period_after_conversation: bool,
    pub use_do_not_call: bool,
    /// The zone for a callee nothing else locates.
    pub time_zone: Option<Tz>,
    /// `leadDuplicateTimeframeSeconds`: a number this schedule dialled less long ago than this
    /// is not dialled again through it.
    pub lead_duplicate_timeframe: Option<Duration>,
    /// What the calls are for: state rules apply to the purposes their laws cover.
    pub purpose: super::schedule::CallPurpose,
}

impl ScheduleTerms {
    /// The widest terms the law allows: 08:00–21:00, 7 attempts a week, the quiet period and
    /// Do Not Call on, nothing paused (a schedule's defaults).
    pub fn federal() -> ScheduleTerms {
        ScheduleTerms {
            paused: false,
            calling_hours: (FEDERAL_EARLIEST, FEDERAL_LATEST),
            max_attempts_per_7_days: REG_F_WEEKLY_CAP,
            quiet_period_after_conversation: true,
            use_do_not_call: true,
            time_zone: None,
            lead_duplicate_timeframe: None,
            purpose: super::schedule::CallPurpose::Collection,
        }
    }
}

/// Everything known about past and planned contact with one person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactHistory {
    /// Calls by every path (not cancelled ones) and attempts recorded from outside.
    pub attempts: Vec<DateTime<Utc>>,
    /// Planned attempts (pending tasks): the builder counts them, dialling does not.
    pub planned: Vec<DateTime<Utc>>,
    /// When the latest conversation (a COMPLETED call) ended.
    pub last_conversation: Option<DateTime<Utc>>,
    /// Calls to this number through the schedule deciding (its lead-duplicate timeframe).
    pub dialled_by_schedule: Vec<DateTime<Utc>>,
}

/// The time-dependent rules, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Window,
    QuietPeriod,
    WeeklyCap,
    DailyCap,
    LandlineCap,
    Redial,
    LeadDuplicate,
    Gap,
}

/// The rules in force for one callee under one schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactPolicy {
    paused: bool,
    window: CallingWindow,
    calendar: Tz,
    per_7_days: u32,
    per_24_hours: Option<u32>,
    /// Set for a landline without consent: its calls in any 30 consecutive local days.
    landline_cap: Option<u32>,
    quiet_period: bool,
    lead_duplicate: Option<Duration>,
}

fn zone_names(zones: &[Tz]) -> Vec<String> {
    zones.iter().map(|z| z.name().to_string()).collect()
}

impl ContactPolicy {
    /// The policy for `callee` under `schedule`, or the refusal that holds at any time (Do Not
    /// Call, suppressed, unknown location, windows that never overlap). A paused schedule is
    /// not refused here: plans are made while paused, only dialling waits ([`Self::decide`]).
    pub fn new(schedule: &ScheduleTerms, callee: &Callee, rules: &StateRuleTable) -> Result<Self, Refusal> {
        let never = |code, message: &str, zones: &[Tz]| Refusal {
            code,
            reason: None,
            message: message.to_string(),
            next_allowed_at: None,
            zones: zone_names(zones),
        };
        let mut zones = callee.zones.clone();
        if zones.is_empty() {
            zones.extend(schedule.time_zone);
        }
        // The customer's own flag always holds; the company list when the schedule uses it.
        if callee.do_not_call {
            let message = "the customer is on the Do-Not-Call list";
            return Err(never(RefusalCode::DoNotCall, message, &zones));
        }
        if callee.number_do_not_call {
            let message = "this number is marked Do Not Call on another of the company's customer records";
            return Err(never(RefusalCode::DoNotCall, message, &zones));
        }
        if callee.consumer_suppressed {
            let message = "the consumer asked not to be called at this number, or said it is not theirs (an outcome reported on a call); no schedule may call it";
            return Err(never(RefusalCode::DoNotCall, message, &zones));
        }
        if callee.suppressed && schedule.use_do_not_call {
            let message = "this number is on the company's Do-Not-Call list";
            return Err(never(RefusalCode::DoNotCall, message, &zones));
        }
        if callee.contact_hold {
            let message =
                "the customer is on a contact hold (attorney, cease request or dispute) until it is released";
            return Err(never(RefusalCode::ContactHold, message, &zones));
        }
        // An AI voice is an artificial voice (FCC 24-17): a call needs prior express consent,
        // a telemarketing call prior express written consent (47 CFR 64.1200(a)(1)-(3)).
        let needed = match schedule.purpose {
            super::schedule::CallPurpose::Telemarketing => ConsentLevel::Written,
            _ => ConsentLevel::Express,
        };
        // Without consent, a landline may still get a few non-telemarketing calls.
        let landline_cap =
            (callee.consent < needed && callee.line == LineType::Landline && needed == ConsentLevel::Express)
                .then_some(LANDLINE_CAP);
        if callee.consent < needed && landline_cap.is_none() {
            let message = if needed == ConsentLevel::Written {
                "a telemarketing call by an AI voice needs unrevoked prior express written consent for this number (47 CFR 64.1200(a)(2)); record it with recordConsent"
            } else {
                "a call by an AI voice needs unrevoked prior express consent for this number (TCPA, FCC 24-17); record it with recordConsent or pass consent with the call"
            };
            return Err(never(RefusalCode::NoConsent, message, &zones));
        }
        let Some(calendar) = callee.calendar.or_else(|| zones.first().copied()) else {
            let message = "the callee's time zone is unknown (no customer zone, ZIP, state or geographic area code, and no schedule timeZone); refusing rather than guessing";
            return Err(never(RefusalCode::OutsideCallingHours, message, &zones));
        };
        let rule = rules.effective_for_purpose(&callee.states, schedule.purpose.code());
        // Two weeks always hold an opening unless the zones' windows are disjoint (or the
        // consumer's inconvenient times fill them).
        let probe = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        let open = schedule.calling_hours.0.max(FEDERAL_EARLIEST).max(rule.earliest);
        let close = schedule.calling_hours.1.min(FEDERAL_LATEST).min(rule.latest);
        let window = CallingWindow {
            zones,
            open,
            close,
            no_sunday: rule.no_sunday,
            holidays: rule.holidays,
            inconvenient: callee.inconvenient.clone(),
        };
        let no_window = || {
            let hours_only = CallingWindow { inconvenient: Vec::new(), ..window.clone() };
            if open < close && hours_only.next_allowed(probe, probe + Duration::days(14)).is_some() {
                let message = "the times the consumer said are inconvenient cover the whole calling window";
                let refusal = never(RefusalCode::OutsideCallingHours, message, &window.zones);
                return Refusal { reason: Some(LimitReason::InconvenientTime), ..refusal };
            }
            let message = "the calling windows of the callee's possible locations never overlap";
            never(RefusalCode::OutsideCallingHours, message, &window.zones)
        };
        if open >= close {
            return Err(no_window());
        }
        if window.next_allowed(probe, probe + Duration::days(14)).is_none() {
            return Err(no_window());
        }
        let per_7_days =
            [Some(REG_F_WEEKLY_CAP), Some(schedule.max_attempts_per_7_days.max(1)), rule.max_per_7_days]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(REG_F_WEEKLY_CAP);
        Ok(ContactPolicy {
            paused: schedule.paused,
            window,
            calendar,
            per_7_days,
            per_24_hours: rule.max_per_24_hours,
            landline_cap,
            quiet_period: schedule.quiet_period_after_conversation,
            lead_duplicate: schedule.lead_duplicate_timeframe.filter(|d| *d > Duration::zero()),
        })
    }

    /// The candidate zones, each of which must be inside the window.
    pub fn zones(&self) -> &[Tz] {
        &self.window.zones
    }

    pub fn zone_names(&self) -> Vec<String> {
        zone_names(&self.window.zones)
    }

    /// The zone whose calendar days count caps and the quiet period.
    pub fn calendar(&self) -> Tz {
        self.calendar
    }

    pub fn window(&self) -> &CallingWindow {
        &self.window
    }

    /// When a call decided at `decided` stops waiting for a provider: `ttl` later, or sooner
    /// when the calling window closes in one of the callee's zones (a call allowed at 20:55
    /// may not ring at 21:00).
    pub fn expiry(&self, decided: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
        let limit = decided + ttl;
        self.window.closes_after(decided, limit).unwrap_or(limit)
    }

    /// The most attempts in any 7 consecutive local days (what tests read of the rules).
    #[cfg(test)]
    pub fn weekly_cap(&self) -> u32 {
        self.per_7_days
    }

    fn day(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.calendar).date_naive()
    }

    /// The local midnight starting `day`.
    fn day_start(&self, day: NaiveDate) -> DateTime<Utc> {
        local_instant(self.calendar, day, 0)
    }

    /// When the quiet period of the last conversation ends (calls resume on local day D+8).
    pub fn quiet_period_end(&self, history: &ContactHistory) -> Option<DateTime<Utc>> {
        let conversation = history.last_conversation.filter(|_| self.quiet_period)?;
        Some(self.day_start(self.day(conversation) + Duration::days(QUIET_DAYS + 1)))
    }

    /// Attempts (made and planned) on the 7 local days ending with `at`'s day.
    pub fn attempts_in_week_ending(&self, history: &ContactHistory, at: DateTime<Utc>) -> usize {
        let last = self.day(at);
        let first = last - Duration::days(6);
        history.attempts.iter().filter(|a| (first..=last).contains(&self.day(**a))).count()
    }

    /// The first rule `t` breaks, with the earliest instant that rule alone could allow
    /// (None: never). Each such instant is a lower bound: nothing before it passes that rule.
    fn violation(&self, history: &ContactHistory, t: DateTime<Utc>) -> Option<(Rule, Option<DateTime<Utc>>)> {
        if !self.window.allows(t) {
            return Some((Rule::Window, self.window.next_allowed(t, t + HORIZON)));
        }
        if let (Some(conversation), Some(end)) = (history.last_conversation, self.quiet_period_end(history)) {
            if t >= conversation && t < end {
                return Some((Rule::QuietPeriod, Some(end)));
            }
        }
        let all: Vec<DateTime<Utc>> = {
            let mut all: Vec<_> = history.attempts.iter().chain(&history.planned).copied().collect();
            all.sort();
            all
        };
        if let Some(escape) = self.weekly_cap_escape(&all, t) {
            return Some((Rule::WeeklyCap, escape));
        }
        if let Some(cap) = self.per_24_hours {
            // cap + 1 attempts (t among them) may not fit in less than 24 hours.
            let cap = cap as usize;
            let escape = all
                .windows(cap)
                .filter(|block| {
                    let (first, last) = (block[0], block[cap - 1]);
                    last - first < Duration::hours(24)
                        && t > last - Duration::hours(24)
                        && t < first + Duration::hours(24)
                })
                .map(|block| block[0] + Duration::hours(24))
                .max();
            if escape.is_some() {
                return Some((Rule::DailyCap, escape));
            }
        }
        if let Some(cap) = self.landline_cap {
            if let Some(escape) = self.cap_escape(&all, t, LANDLINE_CAP_DAYS, cap) {
                return Some((Rule::LandlineCap, escape));
            }
        }
        let near = |list: &[DateTime<Utc>], gap: Duration| {
            list.iter().filter(|a| (t - **a).abs() < gap).map(|a| *a + gap).max()
        };
        if let Some(escape) = near(&history.attempts, REDIAL_GUARD) {
            return Some((Rule::Redial, Some(escape)));
        }
        if let Some(escape) = self.lead_duplicate.and_then(|d| near(&history.dialled_by_schedule, d)) {
            return Some((Rule::LeadDuplicate, Some(escape)));
        }
        if let Some(escape) = near(&all, MIN_GAP) {
            return Some((Rule::Gap, Some(escape)));
        }
        None
    }

    /// With `all` attempts (sorted), whether a new one at `t` would put more than the cap in
    /// some 7 consecutive local days; if so, the first local day (its midnight) that would not.
    fn weekly_cap_escape(&self, all: &[DateTime<Utc>], t: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        self.cap_escape(all, t, 7, self.per_7_days)
    }

    /// With `all` attempts (sorted), whether a new one at `t` would put `cap` or more before it
    /// in some `days` consecutive local days; if so, the first local day (its midnight) that
    /// would not.
    fn cap_escape(
        &self,
        all: &[DateTime<Utc>],
        t: DateTime<Utc>,
        days: i64,
        cap: u32,
    ) -> Option<Option<DateTime<Utc>>> {
        let mut per_day: BTreeMap<NaiveDate, u32> = BTreeMap::new();
        for a in all {
            *per_day.entry(self.day(*a)).or_default() += 1;
        }
        let in_days =
            |first: NaiveDate, last: NaiveDate| per_day.range(first..=last).map(|(_, n)| n).sum::<u32>();
        let full = |day: NaiveDate| {
            (0..days).any(|k| {
                let first = day - Duration::days(days - 1 - k);
                in_days(first, first + Duration::days(days - 1)) >= cap
            })
        };
        let day = self.day(t);
        if !full(day) {
            return None;
        }
        let last_day = day + Duration::days(HORIZON.num_days());
        let mut next = day.succ_opt()?;
        while full(next) {
            if next > last_day {
                return Some(None);
            }
            next = next.succ_opt()?;
        }
        Some(Some(self.day_start(next)))
    }

    /// Whether every time rule allows a call at `t` (pause and Do Not Call aside).
    pub fn allows(&self, history: &ContactHistory, t: DateTime<Utc>) -> bool {
        self.violation(history, t).is_none()
    }

    /// The earliest instant at or after `from` that every time rule allows, within the horizon.
    pub fn next_allowed(&self, history: &ContactHistory, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = from + HORIZON;
        let mut t = from;
        while t <= horizon {
            match self.violation(history, t) {
                None => return Some(t),
                Some((_, None)) => return None,
                Some((_, Some(escape))) => t = escape.max(t + Duration::seconds(1)),
            }
        }
        None
    }

    /// May a call be placed at `at`?
    pub fn decide(&self, history: &ContactHistory, at: DateTime<Utc>) -> Result<(), Refusal> {
        if self.paused {
            return Err(Refusal {
                code: RefusalCode::SchedulePaused,
                reason: None,
                message: "the schedule is paused".into(),
                next_allowed_at: None,
                zones: self.zone_names(),
            });
        }
        let Some((rule, _)) = self.violation(history, at) else { return Ok(()) };
        let next_allowed_at = self.next_allowed(history, at);
        let (code, reason, message) = match rule {
            Rule::Window if self.window.hours_allow(at) => (
                RefusalCode::OutsideCallingHours,
                Some(LimitReason::InconvenientTime),
                "the consumer said this time is inconvenient (Reg F 12 CFR 1006.6(b)(1)); nextAllowedAt is after it".to_string(),
            ),
            Rule::Window => (
                RefusalCode::OutsideCallingHours,
                None,
                match self.window.banned_day(at) {
                    Some(day) => format!(
                        "no calls on {day} in at least one of the callee's possible time zones ({})",
                        self.zone_names().join(", ")
                    ),
                    None => format!(
                        "outside calling hours in at least one of the callee's possible time zones ({})",
                        self.zone_names().join(", ")
                    ),
                },
            ),
            Rule::QuietPeriod => (
                RefusalCode::ContactLimit,
                Some(LimitReason::ConversationQuietPeriod),
                "no calls for 7 days after a conversation (Reg F 12 CFR 1006.14(b))".to_string(),
            ),
            Rule::WeeklyCap => (
                RefusalCode::ContactLimit,
                Some(LimitReason::WeeklyCap),
                format!("at most {} attempts in 7 consecutive days", self.per_7_days),
            ),
            Rule::DailyCap => (
                RefusalCode::ContactLimit,
                Some(LimitReason::DailyCap),
                format!(
                    "at most {} attempts in 24 hours under the state's rules",
                    self.per_24_hours.unwrap_or(0)
                ),
            ),
            Rule::LandlineCap => (
                RefusalCode::ContactLimit,
                Some(LimitReason::LandlineCap),
                format!(
                    "without consent, at most {LANDLINE_CAP} calls by an artificial voice to a landline in {LANDLINE_CAP_DAYS} days (47 CFR 64.1200(a)(3)(ii)); record consent to call more"
                ),
            ),
            Rule::Redial => (
                RefusalCode::RecentlyDialed,
                None,
                "this number was dialled less than 30 seconds ago".to_string(),
            ),
            Rule::LeadDuplicate => (
                RefusalCode::RecentlyDialed,
                None,
                format!(
                    "this schedule dialled this number less than {} seconds ago (its leadDuplicateTimeframeSeconds)",
                    self.lead_duplicate.map_or(0, |d| d.num_seconds())
                ),
            ),
            Rule::Gap => (
                RefusalCode::ContactLimit,
                Some(LimitReason::MinGap),
                "at least 30 minutes between two attempts to one person".to_string(),
            ),
        };
        Err(Refusal { code, reason, message, next_allowed_at, zones: self.zone_names() })
    }

    /// Places planned attempts (each a nominal instant, in order) one after another through the
    /// policy: each lands at the first allowed instant at or after its nominal time and at
    /// least [`MIN_GAP`] after the one before, counting the history and the ones already
    /// placed. A step moved to a later local day keeps its local time of day where allowed.
    /// A conversation's quiet period pauses the plan: the steps from the first one inside it
    /// move back together by the days needed, keeping their spacing (never stacked on one day).
    /// None for a step no time will do (and every step after it).
    pub fn place(&self, history: &ContactHistory, nominal: &[DateTime<Utc>]) -> Vec<Option<DateTime<Utc>>> {
        let mut history = history.clone();
        let quiet = history.last_conversation.zip(self.quiet_period_end(&history));
        let mut shift = Duration::zero();
        let mut previous: Option<DateTime<Utc>> = None;
        let mut out = Vec::with_capacity(nominal.len());
        for at in nominal {
            let local = at.with_timezone(&self.calendar);
            let shifted = |shift: Duration| {
                local_instant(self.calendar, local.date_naive() + shift, minutes_of(&local))
            };
            let mut from = shifted(shift);
            if let Some((conversation, end)) = quiet {
                if from >= conversation && from < end {
                    shift += Duration::days((self.day(end) - self.day(from)).num_days());
                    from = shifted(shift);
                }
            }
            if let Some(p) = previous {
                from = from.max(p + MIN_GAP);
            }
            let Some(mut t) = self.next_allowed(&history, from) else {
                out.resize(nominal.len(), None);
                return out;
            };
            if self.day(t) > self.day(from) {
                let same_time = local_instant(self.calendar, self.day(t), minutes_of(&local));
                if same_time > t && self.allows(&history, same_time) {
                    t = same_time;
                }
            }
            history.planned.push(t);
            previous = Some(t);
            out.push(Some(t));
        }
        out
    }
}

fn minutes_of(local: &DateTime<Tz>) -> u32 {
    use chrono::Timelike;
    local.hour() * 60 + local.minute()
}

#[cfg(test)]
mod tests;
