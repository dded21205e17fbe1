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

use super::calling_rules::{local_instant, parse_zone, CallingWindow, StateRuleTable};
use super::calling_rules::{FEDERAL_EARLIEST, FEDERAL_LATEST};
use super::consumer::TimeRange;
use super::location;

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

/// The location signals of a callee, as stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Location<'a> {
    /// The customer's IANA zone.
    pub timezone: Option<&'a str>,
    pub zip_code: Option<&'a str>,
    /// The address state.
    pub state: Option<&'a str>,
    /// E.164.
    pub phone_number: Option<&'a str>,
}

impl Location<'_> {
    /// Every zone the callee may be in: the customer's zone, its ZIP code's zones (every zone
    /// of the address state when the ZIP is unknown to callsync's data), and the zones of the
    /// phone's area code (none for a non-geographic or non-US number). No duplicates.
    pub fn candidate_zones(&self) -> Vec<Tz> {
        let mut zones: Vec<Tz> = Vec::new();
        let mut add = |more: &[Tz]| {
            for z in more {
                if !zones.contains(z) {
                    zones.push(*z);
                }
            }
        };
        if let Some(tz) = self.timezone.and_then(parse_zone) {
            add(&[tz]);
        }
        match self.zip_code.and_then(location::zip_zones) {
            Some(zip) => add(zip),
            None => add(self.state.map_or(&[][..], location::state_zones)),
        }
        if let Some(area) = self.phone_number.and_then(location::area_code_zones) {
            add(area);
        }
        zones
    }

    /// Every jurisdiction whose rules may bind a call to the callee: the address state, the ZIP
    /// code's state and the phone's area code's state, and the locality (`NY-NYC`) of a New
    /// York City ZIP or area code, without duplicates (a New York address with a 617 cell is
    /// under Massachusetts' rules too; a 718 cell under New York City's).
    pub fn candidate_states(&self) -> Vec<String> {
        let mut states: Vec<String> = Vec::new();
        let signals = [
            self.state.map(|s| s.trim().to_ascii_uppercase()),
            self.zip_code.and_then(location::zip_state).map(str::to_string),
            self.phone_number.and_then(location::area_code_state).map(str::to_string),
            self.zip_code.and_then(location::zip_locality).map(str::to_string),
            self.phone_number.and_then(location::area_code_locality).map(str::to_string),
        ];
        for state in signals.into_iter().flatten() {
            if !state.is_empty() && !states.contains(&state) {
                states.push(state);
            }
        }
        states
    }
}

/// Who is called: where they may be, and whether they may be called at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Callee {
    /// Candidate zones; empty when nothing says where the callee is.
    pub zones: Vec<Tz>,
    /// The zone whose calendar days count caps and the quiet period (the customer's zone).
    pub calendar: Option<Tz>,
    /// Every state the callee may be in (address, ZIP code, area code), and a locality such as
    /// `NY-NYC` (New York City) the ZIP or area code points to: each one's rules apply, the
    /// strictest of each rule winning.
    pub states: Vec<String>,
    pub do_not_call: bool,
    /// The number is on the company's Do-Not-Call list.
    pub suppressed: bool,
    /// Another of the company's customer records with this number is marked Do Not Call: the
    /// mark belongs to the number, whatever record or one-off call reaches it.
    pub number_do_not_call: bool,
    /// The consumer, on a call, opted out or said the number is not theirs: the number is
    /// suppressed whatever a schedule's `useDoNotCall` says.
    pub consumer_suppressed: bool,
    /// A contact hold on the customer (attorney, cease request, dispute…).
    pub contact_hold: bool,
    /// The unrevoked consent on file for the number.
    pub consent: ConsentLevel,
    /// What kind of line the number is (unknown is treated as a cell: consent is required).
    pub line: LineType,
    /// Weekly local ranges the consumer said are inconvenient (Reg F 12 CFR 1006.6(b)(1)).
    pub inconvenient: Vec<TimeRange>,
}

/// The kind of line a number is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineType {
    Wireless,
    /// A residential line: without consent, at most 3 artificial-voice calls in 30 days
    /// (47 CFR 64.1200(a)(3)(ii)).
    Landline,
    Voip,
    #[default]
    Unknown,
}

impl LineType {
    pub fn code(self) -> &'static str {
        match self {
            LineType::Wireless => "WIRELESS",
            LineType::Landline => "LANDLINE",
            LineType::Voip => "VOIP",
            LineType::Unknown => "UNKNOWN",
        }
    }

    pub fn from_code(code: &str) -> Option<LineType> {
        [LineType::Wireless, LineType::Landline, LineType::Voip, LineType::Unknown]
            .into_iter()
            .find(|l| l.code() == code)
    }
}

/// Landline calls without consent: at most this many (47 CFR 64.1200(a)(3)(ii))…
pub const LANDLINE_CAP: u32 = 3;
/// …in this many consecutive local days.
pub const LANDLINE_CAP_DAYS: i64 = 30;

/// How strong the consent on file for a number is (TCPA 47 CFR 64.1200(a)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConsentLevel {
    /// None, or only revoked ones.
    None,
    /// Prior express consent (a customer's own number has it by default).
    #[default]
    Express,
    /// Prior express written consent (telemarketing needs it).
    Written,
}

impl Callee {
    /// A customer: zones from every location signal; state rules of the address state.
    pub fn customer(location: &Location<'_>, do_not_call: bool, suppressed: bool) -> Callee {
        let zones = location.candidate_zones();
        let calendar = location.timezone.and_then(parse_zone).or_else(|| zones.first().copied());
        Callee::located(zones, calendar, location.candidate_states(), do_not_call, suppressed)
    }

    /// Where the callee is and its own marks; the number's other facts (marks through other
    /// records, the consumer's words, a hold, consent, line) are the caller's to set.
    fn located(
        zones: Vec<Tz>,
        calendar: Option<Tz>,
        states: Vec<String>,
        do_not_call: bool,
        suppressed: bool,
    ) -> Callee {
        Callee {
            zones,
            calendar,
            states,
            do_not_call,
            suppressed,
            number_do_not_call: false,
            consumer_suppressed: false,
            contact_hold: false,
            consent: ConsentLevel::Express,
            line: LineType::Unknown,
            inconvenient: Vec::new(),
        }
    }

    /// The same callee, its number marked Do Not Call (or not) through another record.
    pub fn with_number_do_not_call(mut self, marked: bool) -> Callee {
        self.number_do_not_call = marked;
        self
    }

    /// A number that is no customer's: its area code's zones and state.
    pub fn one_off(phone_number: &str, suppressed: bool) -> Callee {
        let zones = location::area_code_zones(phone_number).map(<[Tz]>::to_vec).unwrap_or_default();
        let states = [location::area_code_state(phone_number), location::area_code_locality(phone_number)]
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect();
        let calendar = zones.first().copied();
        Callee::located(zones, calendar, states, false, suppressed)
    }
}

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

/// The error code a refusal maps to (API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
    SchedulePaused,
    DoNotCall,
    OutsideCallingHours,
    ContactLimit,
    RecentlyDialed,
    /// FDCPA 805(a)(2), 805(c): an attorney, a request to cease, a dispute.
    ContactHold,
    /// No unrevoked consent of the kind the call's purpose needs.
    NoConsent,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::SchedulePaused => "SCHEDULE_PAUSED",
            RefusalCode::DoNotCall => "DO_NOT_CALL",
            RefusalCode::OutsideCallingHours => "OUTSIDE_CALLING_HOURS",
            RefusalCode::ContactLimit => "CONTACT_LIMIT",
            RefusalCode::RecentlyDialed => "RECENTLY_DIALED",
            RefusalCode::ContactHold => "CONTACT_HOLD",
            RefusalCode::NoConsent => "NO_CONSENT",
        }
    }
}

/// Which frequency rule a `CONTACT_LIMIT` refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    WeeklyCap,
    DailyCap,
    ConversationQuietPeriod,
    MinGap,
    /// 3 calls in 30 days to a landline without consent.
    LandlineCap,
    /// With `OUTSIDE_CALLING_HOURS`: a time the consumer said is inconvenient.
    InconvenientTime,
}

impl LimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::WeeklyCap => "WEEKLY_CAP",
            LimitReason::DailyCap => "DAILY_CAP",
            LimitReason::ConversationQuietPeriod => "CONVERSATION_QUIET_PERIOD",
            LimitReason::MinGap => "MIN_GAP",
            LimitReason::LandlineCap => "LANDLINE_CAP",
            LimitReason::InconvenientTime => "INCONVENIENT_TIME",
        }
    }
}

/// Why a call may not be placed now, and the earliest instant it may (None: no time will do).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: RefusalCode,
    pub reason: Option<LimitReason>,
    pub message: String,
    pub next_allowed_at: Option<DateTime<Utc>>,
    /// The candidate zones considered (IANA names).
    pub zones: Vec<String>,
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
mod tests {
    use super::*;
    use crate::domain::schedule::CallPurpose;
    use chrono::{Datelike, DurationRound, Timelike, Weekday};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn terms() -> ScheduleTerms {
        ScheduleTerms::federal()
    }

    fn customer(tz: &str, zip: &str, state: &str, phone: &str) -> Callee {
        let location = Location {
            timezone: Some(tz),
            zip_code: Some(zip),
            state: Some(state),
            phone_number: Some(phone),
        };
        Callee::customer(&location, false, false)
    }

    /// Albany: New York State's rules, not New York City's (see `new_york_city`).
    fn new_york() -> Callee {
        customer("America/New_York", "12207", "NY", "+15185550100")
    }

    fn policy(callee: &Callee) -> ContactPolicy {
        ContactPolicy::new(&terms(), callee, StateRuleTable::builtin()).unwrap()
    }

    fn history(attempts: &[&str]) -> ContactHistory {
        ContactHistory { attempts: attempts.iter().map(|a| utc(a)).collect(), ..Default::default() }
    }

    #[track_caller]
    fn refused(policy: &ContactPolicy, h: &ContactHistory, at: &str) -> Refusal {
        policy.decide(h, utc(at)).expect_err("refused")
    }

    #[test]
    fn the_window_opens_at_eight_and_closes_at_nine_local() {
        let p = policy(&new_york());
        let h = ContactHistory::default();
        // Tuesday 2026-12-01: 07:59 EST.
        let r = refused(&p, &h, "2026-12-01T12:59:00Z");
        assert_eq!(
            (r.code, r.next_allowed_at),
            (RefusalCode::OutsideCallingHours, Some(utc("2026-12-01T13:00:00Z")))
        );
        assert!(p.decide(&h, utc("2026-12-01T13:00:00Z")).is_ok());
        assert!(p.decide(&h, utc("2026-12-02T01:59:00Z")).is_ok()); // 20:59
        let r = refused(&p, &h, "2026-12-02T02:00:00Z"); // 21:00
        assert_eq!(r.next_allowed_at, Some(utc("2026-12-02T13:00:00Z")));
        assert_eq!(r.zones, ["America/New_York"]);
    }

    #[test]
    fn the_states_of_the_address_zip_and_area_code_all_apply() {
        // A New York address with a Boston (617) cell: Massachusetts' 2 calls in 7 days.
        let callee = customer("America/New_York", "10001", "NY", "+16175550100");
        assert_eq!(callee.states, ["NY", "MA", "NY-NYC"]);
        assert_eq!(policy(&callee).weekly_cap(), 2);
        // No address state: the ZIP's and the area code's.
        let location = Location {
            timezone: Some("America/New_York"),
            zip_code: Some("02108"),
            state: None,
            phone_number: Some("+12125550100"),
        };
        let callee = Callee::customer(&location, false, false);
        assert_eq!(callee.states, ["MA", "NY", "NY-NYC"]);
        assert_eq!(policy(&callee).weekly_cap(), 2);
    }

    #[test]
    fn an_alabama_state_holiday_is_closed_for_every_purpose() {
        // Confederate Memorial Day (Ala. Code 1-3-8), Monday 2027-04-26, 12:00 CDT in Birmingham:
        // no federal holiday, but Alabama's row bans the state's own holidays.
        let mut callee = customer("America/Chicago", "35203", "AL", "+12055550100");
        callee.consent = ConsentLevel::Written;
        let h = ContactHistory::default();
        for purpose in [CallPurpose::Collection, CallPurpose::Informational, CallPurpose::Telemarketing] {
            let mut terms = terms();
            terms.purpose = purpose;
            let p = ContactPolicy::new(&terms, &callee, StateRuleTable::builtin()).unwrap();
            let r = refused(&p, &h, "2027-04-26T17:00:00Z");
            assert_eq!(r.code, RefusalCode::OutsideCallingHours, "{purpose:?}");
            assert!(r.message.contains("a legal holiday (AL)"), "{}", r.message);
            // Tuesday 08:00 CDT.
            assert_eq!(r.next_allowed_at, Some(utc("2027-04-27T13:00:00Z")), "{purpose:?}");
        }
        // The same instant in Georgia is an ordinary Monday.
        let georgia = policy(&customer("America/New_York", "30303", "GA", "+14045550100"));
        assert!(georgia.decide(&h, utc("2027-04-26T17:00:00Z")).is_ok());
        // A Georgia address with an Alabama cell: Alabama's holidays too (its local date).
        let both = policy(&customer("America/New_York", "30303", "GA", "+12055550100"));
        assert_eq!(refused(&both, &h, "2027-04-26T17:00:00Z").code, RefusalCode::OutsideCallingHours);
    }

    #[test]
    fn louisiana_and_alabama_holidays_add_up() {
        // An Alabama address with a New Orleans cell on Good Friday 2027 (Louisiana's holiday,
        // not Alabama's): closed, and Saturday too (a legal holiday in Orleans Parish), Sunday
        // (both rows) and so Monday 08:00 CDT.
        let callee = customer("America/Chicago", "35203", "AL", "+15045550100");
        let r = refused(&policy(&callee), &ContactHistory::default(), "2027-03-26T17:00:00Z");
        assert_eq!(r.code, RefusalCode::OutsideCallingHours);
        assert_eq!(r.next_allowed_at, Some(utc("2027-03-29T13:00:00Z")));
    }

    #[test]
    fn new_york_city_allows_two_collection_calls_in_seven_days() {
        // Park Slope, Brooklyn (11215) with an upstate cell: New York City's DCWP rule.
        let brooklyn = customer("America/New_York", "11215", "NY", "+13155550100");
        assert_eq!(brooklyn.states, ["NY", "NY-NYC"]);
        let p = policy(&brooklyn);
        assert_eq!(p.weekly_cap(), 2);
        let h = history(&["2026-11-30T15:00:00Z", "2026-12-01T15:00:00Z"]);
        let r = refused(&p, &h, "2026-12-02T17:00:00Z");
        assert_eq!((r.code, r.reason), (RefusalCode::ContactLimit, Some(LimitReason::WeeklyCap)));
        // The Monday call drops out of the 7 days on the next Monday, 08:00 EST.
        assert_eq!(r.next_allowed_at, Some(utc("2026-12-07T13:00:00Z")));
        // An Albany address with a 718 cell, and a one-off 718 number: the city's too.
        assert_eq!(customer("America/New_York", "12207", "NY", "+17185550100").states, ["NY", "NY-NYC"]);
        assert_eq!(Callee::one_off("+17185550100", false).states, ["NY", "NY-NYC"]);
        assert_eq!(policy(&Callee::one_off("+19175550100", false)).weekly_cap(), 2);
        // Albany with an upstate cell: New York State only, Reg F's 7.
        assert_eq!(policy(&new_york()).weekly_cap(), 7);
        // The city's rule is about collecting debts: not telemarketing.
        let mut terms = terms();
        terms.purpose = CallPurpose::Telemarketing;
        let mut callee = brooklyn.clone();
        callee.consent = ConsentLevel::Written;
        assert_eq!(ContactPolicy::new(&terms, &callee, StateRuleTable::builtin()).unwrap().weekly_cap(), 7);
    }

    #[test]
    fn a_queued_call_expires_at_its_ttl_or_when_the_window_closes() {
        let p = policy(&new_york());
        let ttl = Duration::seconds(900);
        // 12:00 in New York: fifteen minutes.
        assert_eq!(p.expiry(utc("2026-12-01T17:00:00Z"), ttl), utc("2026-12-01T17:15:00Z"));
        // 20:55: the window closes at 21:00, before the TTL runs out.
        assert_eq!(p.expiry(utc("2026-12-02T01:55:30Z"), ttl), utc("2026-12-02T02:00:00Z"));
        // A New York address with a Los Angeles cell closes with New York's 21:00.
        let both = policy(&customer("America/New_York", "10001", "NY", "+13105550100"));
        assert_eq!(both.expiry(utc("2026-12-02T01:50:00Z"), ttl), utc("2026-12-02T02:00:00Z"));
    }

    #[test]
    fn conflicting_timezone_and_area_code_use_the_overlap() {
        // A New York address and zone with a Los Angeles cell number: 08:00 PT = 11:00 ET.
        let p = policy(&customer("America/New_York", "10001", "NY", "+13105550100"));
        assert_eq!(p.zone_names(), ["America/New_York", "America/Los_Angeles"]);
        let r = refused(&p, &ContactHistory::default(), "2026-12-01T14:00:00Z"); // 09:00 ET, 06:00 PT
        assert_eq!(r.code, RefusalCode::OutsideCallingHours);
        assert_eq!(r.next_allowed_at, Some(utc("2026-12-01T16:00:00Z")));
    }

    #[test]
    fn a_one_off_number_is_located_by_its_area_code() {
        // Guam (+1 671) at 04:17 local, whatever the schedule's zone says.
        let callee = Callee::one_off("+16715550100", false);
        let mut t = terms();
        t.time_zone = Some(chrono_tz::America::New_York);
        let p = ContactPolicy::new(&t, &callee, StateRuleTable::builtin()).unwrap();
        assert_eq!(p.zone_names(), ["Pacific/Guam"]);
        let r = p.decide(&ContactHistory::default(), utc("2026-12-01T18:17:00Z")).unwrap_err();
        assert_eq!(r.code, RefusalCode::OutsideCallingHours);
        assert_eq!(r.next_allowed_at, Some(utc("2026-12-01T22:00:00Z"))); // 08:00 ChST
                                                                          // A number nothing locates falls back on the schedule's zone, else is refused.
        let unknown = Callee::one_off("+442071234567", false);
        let p = ContactPolicy::new(&t, &unknown, StateRuleTable::builtin()).unwrap();
        assert_eq!(p.zone_names(), ["America/New_York"]);
        let r = ContactPolicy::new(&terms(), &unknown, StateRuleTable::builtin()).unwrap_err();
        assert_eq!((r.code, r.next_allowed_at), (RefusalCode::OutsideCallingHours, None));
    }

    #[test]
    fn an_eighth_attempt_in_seven_days_waits_for_the_oldest_to_drop_out() {
        let p = policy(&new_york());
        // Seven calls, one a day, Wednesday 11-25 to Tuesday 12-01, 10:00 EST.
        let days: Vec<String> = (0..7)
            .map(|d| {
                format!(
                    "2026-{}T15:00:00Z",
                    ["11-25", "11-26", "11-27", "11-28", "11-29", "11-30", "12-01"][d]
                )
            })
            .collect();
        let h = history(&days.iter().map(String::as_str).collect::<Vec<_>>());
        let r = refused(&p, &h, "2026-12-01T20:00:00Z");
        assert_eq!((r.code, r.reason), (RefusalCode::ContactLimit, Some(LimitReason::WeeklyCap)));
        // 11-25 leaves the window of 7 days on 12-02: its opening.
        assert_eq!(r.next_allowed_at, Some(utc("2026-12-02T13:00:00Z")));
        assert_eq!(p.attempts_in_week_ending(&h, utc("2026-12-01T20:00:00Z")), 7);
    }

    #[test]
    fn massachusetts_allows_two_calls_per_seven_days() {
        let p = policy(&customer("America/New_York", "02108", "MA", "+16175550100"));
        let h = history(&["2026-11-30T15:00:00Z", "2026-12-01T15:00:00Z"]);
        let r = refused(&p, &h, "2026-12-02T15:00:00Z");
        assert_eq!(r.reason, Some(LimitReason::WeeklyCap));
        // 11-30 drops out on 12-07.
        assert_eq!(r.next_allowed_at, Some(utc("2026-12-07T13:00:00Z")));
    }

    #[test]
    fn the_quiet_period_ends_on_the_eighth_day() {
        let p = policy(&new_york());
        // A conversation on Tuesday 12-01 at 10:00 EST: quiet through Tuesday 12-08.
        let h = ContactHistory {
            attempts: vec![utc("2026-12-01T15:00:00Z")],
            last_conversation: Some(utc("2026-12-01T15:05:00Z")),
            ..Default::default()
        };
        for at in ["2026-12-01T19:00:00Z", "2026-12-02T15:00:00Z", "2026-12-09T01:00:00Z"] {
            let r = refused(&p, &h, at);
            assert_eq!(r.reason, Some(LimitReason::ConversationQuietPeriod), "{at}");
            assert_eq!(r.next_allowed_at, Some(utc("2026-12-09T13:00:00Z")), "{at}");
        }
        assert!(p.decide(&h, utc("2026-12-09T13:00:00Z")).is_ok());
        let mut off = terms();
        off.quiet_period_after_conversation = false;
        let p = ContactPolicy::new(&off, &new_york(), StateRuleTable::builtin()).unwrap();
        assert!(p.decide(&h, utc("2026-12-02T15:00:00Z")).is_ok());
    }

    #[test]
    fn thirty_seconds_between_dials_and_thirty_minutes_between_attempts() {
        let p = policy(&new_york());
        let h = history(&["2026-12-01T15:00:00Z"]);
        let r = refused(&p, &h, "2026-12-01T15:00:10Z");
        assert_eq!(
            (r.code, r.next_allowed_at),
            (RefusalCode::RecentlyDialed, Some(utc("2026-12-01T15:30:00Z")))
        );
        let r = refused(&p, &h, "2026-12-01T15:10:00Z");
        assert_eq!((r.code, r.reason), (RefusalCode::ContactLimit, Some(LimitReason::MinGap)));
        assert_eq!(r.next_allowed_at, Some(utc("2026-12-01T15:30:00Z")));
        assert!(p.decide(&h, utc("2026-12-01T15:30:00Z")).is_ok());
    }

    #[test]
    fn a_schedule_does_not_redial_a_number_within_its_lead_duplicate_timeframe() {
        let mut t = terms();
        t.lead_duplicate_timeframe = Some(Duration::hours(2));
        let p = ContactPolicy::new(&t, &new_york(), StateRuleTable::builtin()).unwrap();
        // Dialled at 15:00 through this schedule (and so also an attempt).
        let mut h = history(&["2026-12-01T15:00:00Z"]);
        h.dialled_by_schedule = vec![utc("2026-12-01T15:00:00Z")];
        let r = refused(&p, &h, "2026-12-01T16:00:00Z");
        assert_eq!(
            (r.code, r.next_allowed_at),
            (RefusalCode::RecentlyDialed, Some(utc("2026-12-01T17:00:00Z")))
        );
        assert!(p.decide(&h, utc("2026-12-01T17:00:00Z")).is_ok());
        // Another schedule's dial is only an attempt: the 30-minute gap applies, not the timeframe.
        h.dialled_by_schedule.clear();
        assert!(p.decide(&h, utc("2026-12-01T16:00:00Z")).is_ok());
    }

    #[test]
    fn florida_three_per_24_hours() {
        let p = policy(&customer("America/New_York", "33101", "FL", "+13055550100"));
        let h = history(&["2026-12-01T14:00:00Z", "2026-12-01T16:00:00Z", "2026-12-01T18:00:00Z"]);
        let r = refused(&p, &h, "2026-12-01T20:00:00Z");
        assert_eq!(r.reason, Some(LimitReason::DailyCap));
        assert_eq!(r.next_allowed_at, Some(utc("2026-12-02T14:00:00Z")));
    }

    #[test]
    fn do_not_call_and_pause_have_no_next_time() {
        let mut dnc = new_york();
        dnc.do_not_call = true;
        let r = ContactPolicy::new(&terms(), &dnc, StateRuleTable::builtin()).unwrap_err();
        assert_eq!((r.code, r.next_allowed_at), (RefusalCode::DoNotCall, None));
        let mut suppressed = new_york();
        suppressed.suppressed = true;
        assert_eq!(
            ContactPolicy::new(&terms(), &suppressed, StateRuleTable::builtin()).unwrap_err().code,
            RefusalCode::DoNotCall
        );
        let mut no_dnc = terms();
        no_dnc.use_do_not_call = false;
        assert!(ContactPolicy::new(&no_dnc, &suppressed, StateRuleTable::builtin()).is_ok());
        let mut paused = terms();
        paused.paused = true;
        let p = ContactPolicy::new(&paused, &new_york(), StateRuleTable::builtin()).unwrap();
        let r = p.decide(&ContactHistory::default(), utc("2026-12-01T17:00:00Z")).unwrap_err();
        assert_eq!((r.code, r.next_allowed_at), (RefusalCode::SchedulePaused, None));
    }

    #[test]
    fn a_quiet_period_pauses_a_plan_instead_of_stacking_it() {
        let p = policy(&new_york());
        let h = ContactHistory { last_conversation: Some(utc("2026-12-01T15:00:00Z")), ..Default::default() };
        // Steps on 12-02, 12-04, 12-06 and 12-10 at 10:00 EST move back together by 7 days.
        let steps =
            ["2026-12-02T15:00:00Z", "2026-12-04T15:00:00Z", "2026-12-06T15:00:00Z", "2026-12-10T15:00:00Z"];
        let placed = p.place(&h, &steps.map(utc));
        let expected =
            ["2026-12-09T15:00:00Z", "2026-12-11T15:00:00Z", "2026-12-13T15:00:00Z", "2026-12-17T15:00:00Z"];
        assert_eq!(placed, expected.map(|t| Some(utc(t))));
    }

    #[test]
    fn an_inconvenient_time_refuses_with_its_reason_and_the_next_instant_after_it() {
        let mut callee = customer("America/Denver", "80202", "CO", "+17205550100");
        // Mondays 09:00-12:00 and 12:00-13:30 local (two ranges back to back).
        callee.inconvenient = vec![
            TimeRange { days: vec![Weekday::Mon], start: 9 * 60, end: 12 * 60 },
            TimeRange { days: vec![Weekday::Mon, Weekday::Tue], start: 12 * 60, end: 13 * 60 + 30 },
        ];
        let policy = policy(&callee);
        let none = ContactHistory::default();
        // Monday 2026-12-07 10:00 MST = 17:00Z.
        let refusal = refused(&policy, &none, "2026-12-07T17:00:00Z");
        assert_eq!(refusal.code, RefusalCode::OutsideCallingHours);
        assert_eq!(refusal.reason, Some(LimitReason::InconvenientTime));
        assert_eq!(refusal.next_allowed_at, Some(utc("2026-12-07T20:30:00Z")));
        assert!(policy.decide(&none, utc("2026-12-07T15:59:00Z")).is_ok(), "08:59 is before the range");
        // Outside the hours, the hours are the reason.
        assert_eq!(refused(&policy, &none, "2026-12-07T13:00:00Z").reason, None);
        // The expiry of a call decided at 08:50 comes at 09:00, where the range begins.
        let decided = utc("2026-12-07T15:50:00Z");
        assert_eq!(policy.expiry(decided, Duration::minutes(30)), utc("2026-12-07T16:00:00Z"));
        // A week of ranges covering every hour leaves nothing: refused for good, with the reason.
        callee.inconvenient = vec![TimeRange {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            start: 0,
            end: 24 * 60,
        }];
        let never = ContactPolicy::new(&terms(), &callee, StateRuleTable::builtin()).unwrap_err();
        assert_eq!(
            (never.code, never.reason, never.next_allowed_at),
            (RefusalCode::OutsideCallingHours, Some(LimitReason::InconvenientTime), None)
        );
    }

    // ---- property: the policy agrees with an independent reading of every rule ----

    /// (timezone, zip, state, phone): consistent places and conflicting ones.
    const PLACES: &[(&str, &str, &str, &str)] = &[
        ("America/New_York", "10001", "NY", "+12125550100"),
        ("America/New_York", "10001", "NY", "+13105550100"),
        ("America/New_York", "32501", "FL", "+18505550100"),
        ("America/Chicago", "60601", "IL", "+13125550100"),
        ("America/Denver", "80202", "CO", "+17205550100"),
        ("America/Phoenix", "85004", "AZ", "+16025550100"),
        ("America/Los_Angeles", "90001", "CA", "+13105550100"),
        ("America/Los_Angeles", "02108", "MA", "+16175550100"),
        ("Pacific/Honolulu", "96813", "HI", "+18085550100"),
        ("Pacific/Guam", "96910", "GU", "+16715550100"),
        ("America/Anchorage", "99501", "AK", "+19075550100"),
        ("America/Chicago", "35203", "AL", "+12055550100"),
        ("America/Chicago", "70112", "LA", "+15045550100"),
        ("America/New_York", "11215", "NY", "+13155550100"),
        ("America/Indiana/Indianapolis", "46204", "IN", "+13175550100"),
        ("America/Chicago", "75201", "TX", "+12145550100"),
        ("Europe/London", "98101", "WA", "+442071234567"),
    ];
    const TRANSITIONS: &[&str] = &[
        "2026-03-08T07:00:00Z",
        "2026-11-01T06:00:00Z",
        "2027-03-14T07:00:00Z",
        "2026-12-01T13:00:00Z",
        "2026-12-02T02:00:00Z",
    ];

    fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            (0i64..400 * 24 * 60).prop_map(|m| utc("2026-06-01T00:00:00Z") + Duration::minutes(m)),
            (0..TRANSITIONS.len(), -2 * 24 * 60i64..2 * 24 * 60)
                .prop_map(|(i, m)| utc(TRANSITIONS[i]) + Duration::minutes(m)),
            // Window edges: whole hours and a minute either side.
            (0..TRANSITIONS.len(), -48i64..48, -1i64..=1)
                .prop_map(|(i, h, m)| utc(TRANSITIONS[i]) + Duration::hours(h) + Duration::minutes(m)),
        ]
    }

    /// Every rule read independently of the policy's code.
    fn independently_allowed(
        place: (&str, &str, &str, &str),
        terms: &ScheduleTerms,
        callee: &Callee,
        h: &ContactHistory,
        t: DateTime<Utc>,
    ) -> Result<(), String> {
        let (tz, zip, state, phone) = place;
        let location = Location {
            timezone: Some(tz),
            zip_code: Some(zip),
            state: Some(state),
            phone_number: Some(phone),
        };
        // New York City's rules (6 RCNY 5-77) where the ZIP or the area code is the city's.
        let nyc_zip = ["100", "101", "102", "103", "104", "110", "111", "112", "113", "114", "116"]
            .iter()
            .any(|p| zip.starts_with(p));
        let nyc_phone = ["212", "332", "347", "646", "718", "917", "929"]
            .iter()
            .any(|a| phone.strip_prefix("+1").is_some_and(|n| n.starts_with(a)));
        let mut jurisdictions = vec![state.to_string()];
        if nyc_zip || nyc_phone {
            jurisdictions.push("NY-NYC".to_string());
        }
        let rule = StateRuleTable::builtin().effective_for_purpose(&jurisdictions, "COLLECTION");
        let open = terms.calling_hours.0.max(8 * 60).max(rule.earliest);
        let close = terms.calling_hours.1.min(21 * 60).min(rule.latest);
        let zones = location.candidate_zones();
        if !zones.iter().any(|z| z.name() == tz) {
            return Err(format!("{tz} is not a candidate zone"));
        }
        for z in &zones {
            let local = t.with_timezone(z);
            let minute = local.hour() * 60 + local.minute();
            if minute < open || minute >= close {
                return Err(format!("{t} is {local} in {z}, outside {open}..{close}"));
            }
            if rule.no_sunday && local.weekday() == Weekday::Sun {
                return Err(format!("{t} is a Sunday in {z}"));
            }
            if rule.holidays.contains(local.date_naive()) {
                return Err(format!("{t} is a holiday in {z}"));
            }
            // Reg F 1006.6(b)(1): a time the consumer named, wherever they may be.
            for r in &callee.inconvenient {
                if r.days.contains(&local.weekday()) && minute >= r.start && minute < r.end {
                    return Err(format!("{t} is {local} in {z}, in the inconvenient range {r:?}"));
                }
            }
        }
        let home: Tz = tz.parse().unwrap();
        let day = |x: DateTime<Utc>| x.with_timezone(&home).date_naive();
        if let Some(c) = h.last_conversation.filter(|_| terms.quiet_period_after_conversation) {
            if t >= c && (day(t) - day(c)).num_days() <= QUIET_DAYS {
                return Err(format!("{t} is in the quiet period after {c}"));
            }
        }
        let cap = rule.max_per_7_days.unwrap_or(7).min(terms.max_attempts_per_7_days).min(7);
        let mut all: Vec<_> = h.attempts.iter().chain(&h.planned).copied().collect();
        all.push(t);
        for k in 0..7 {
            let first = day(t) - Duration::days(6 - k);
            let n = all.iter().filter(|a| (first..=first + Duration::days(6)).contains(&day(**a))).count();
            if n as u32 > cap {
                return Err(format!("{n} attempts in the 7 days from {first}, cap {cap}"));
            }
        }
        if let Some(cap24) = rule.max_per_24_hours {
            all.sort();
            for w in all.windows(cap24 as usize + 1) {
                if w.contains(&t) && w[w.len() - 1] - w[0] < Duration::hours(24) {
                    return Err(format!("{} attempts within 24 hours", w.len()));
                }
            }
        }
        // 47 CFR 64.1200(a)(3)(ii): a landline without consent, 3 calls in 30 local days.
        if callee.line == LineType::Landline && callee.consent == ConsentLevel::None {
            for k in 0..30 {
                let first = day(t) - Duration::days(29 - k);
                let n =
                    all.iter().filter(|a| (first..=first + Duration::days(29)).contains(&day(**a))).count();
                if n > 3 {
                    return Err(format!("{n} landline calls without consent in the 30 days from {first}"));
                }
            }
        }
        if let Some(a) = h.attempts.iter().chain(&h.planned).find(|a| (t - **a).abs() < MIN_GAP) {
            return Err(format!("{t} is within 30 minutes of {a}"));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn allowed_means_legal_and_next_allowed_is_the_earliest(
            place in 0..PLACES.len(),
            at in arb_instant(),
            attempt_minutes in proptest::collection::vec(1i64..9 * 24 * 60, 0..10),
            conversation in proptest::option::of(0usize..10),
            (start, len) in (0u32..20 * 60, 30u32..16 * 60),
            max_attempts in 1u32..9,
            quiet in any::<bool>(),
            inconvenient in proptest::collection::vec(
                (proptest::collection::vec(0usize..7, 1..4), 0u32..24 * 60, 1u32..10 * 60), 0..3),
            landline_without_consent in any::<bool>(),
        ) {
            let (tz, zip, state, phone) = PLACES[place];
            let mut callee = customer(tz, zip, state, phone);
            const DAYS: [Weekday; 7] =
                [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
            callee.inconvenient = inconvenient
                .iter()
                .map(|(days, start, len)| TimeRange {
                    days: days.iter().map(|d| DAYS[*d]).collect(),
                    start: *start,
                    end: (start + len).min(24 * 60),
                })
                .collect();
            if landline_without_consent {
                callee.line = LineType::Landline;
                callee.consent = ConsentLevel::None;
            }
            let mut terms = terms();
            terms.calling_hours = (start, (start + len).min(24 * 60 - 1));
            terms.max_attempts_per_7_days = max_attempts;
            terms.quiet_period_after_conversation = quiet;
            let Ok(policy) = ContactPolicy::new(&terms, &callee, StateRuleTable::builtin()) else { return Ok(()) };
            let mut attempts: Vec<_> = attempt_minutes.iter().map(|m| at - Duration::minutes(*m)).collect();
            attempts.sort();
            let last_conversation = conversation.and_then(|i| attempts.get(i).copied());
            let h = ContactHistory { attempts, last_conversation, ..Default::default() };
            match policy.decide(&h, at) {
                Ok(()) => {
                    if let Err(why) = independently_allowed(PLACES[place], &terms, &callee, &h, at) {
                        prop_assert!(false, "allowed at {at} but {why}");
                    }
                }
                Err(refusal) => {
                    prop_assert!(independently_allowed(PLACES[place], &terms, &callee, &h, at).is_err(), "refused at {at} ({refusal:?}) but every rule allows it");
                    if let Some(next) = refusal.next_allowed_at {
                        prop_assert!(next > at);
                        prop_assert!(policy.decide(&h, next).is_ok(), "next {next} is refused");
                        if let Err(why) = independently_allowed(PLACES[place], &terms, &callee, &h, next) {
                            prop_assert!(false, "next {next} breaks a rule: {why}");
                        }
                        // No earlier instant on the minute grid is allowed (the first 2 days of
                        // it: a landline's month-long wait would make the check the suite's
                        // slowest part and adds nothing the days before it do not show).
                        let mut m = at.duration_trunc(Duration::minutes(1)).unwrap() + Duration::minutes(1);
                        while m < next && m < at + Duration::days(2) {
                            prop_assert!(policy.decide(&h, m).is_err(), "{m} is allowed, before next {next}");
                            m += Duration::minutes(1);
                        }
                    }
                }
            }
        }

        /// The consumer's standing and the call's purpose, read independently of the code: a
        /// contact hold, a consumer's opt-out or too weak a consent refuses for good (no
        /// `nextAllowedAt`), in that order; otherwise they play no part in the decision.
        #[test]
        fn holds_consent_and_purpose_decide_as_the_law_reads(
            place in 0..PLACES.len(),
            at in arb_instant(),
            hold in any::<bool>(),
            opted_out in any::<bool>(),
            consent in 0u8..3,
            purpose in 0u8..3,
            landline in any::<bool>(),
        ) {
            let (tz, zip, state, phone) = PLACES[place];
            let mut callee = customer(tz, zip, state, phone);
            callee.contact_hold = hold;
            callee.consumer_suppressed = opted_out;
            callee.consent = [ConsentLevel::None, ConsentLevel::Express, ConsentLevel::Written][consent as usize];
            callee.line = if landline { LineType::Landline } else { LineType::Unknown };
            let mut terms = terms();
            terms.purpose = [CallPurpose::Collection, CallPurpose::Informational, CallPurpose::Telemarketing][purpose as usize];
            let needed = if terms.purpose == CallPurpose::Telemarketing { 2 } else { 1 };
            let expected = if opted_out {
                Some(RefusalCode::DoNotCall)
            } else if hold {
                Some(RefusalCode::ContactHold)
            } else if consent < needed && !(landline && needed == 1) {
                // A landline without consent may get a few calls (none here yet), but never
                // telemarketing ones.
                Some(RefusalCode::NoConsent)
            } else {
                None
            };
            let decided = ContactPolicy::new(&terms, &callee, StateRuleTable::builtin())
                .and_then(|policy| policy.decide(&ContactHistory::default(), at));
            match (expected, decided) {
                (Some(code), Err(refusal)) => {
                    prop_assert_eq!(refusal.code, code);
                    prop_assert_eq!(refusal.next_allowed_at, None);
                }
                (Some(code), Ok(())) => prop_assert!(false, "allowed, but {code:?} should refuse"),
                // Standing and consent allow it: any refusal is the window's, the location's or
                // a cap's, never one of these.
                (None, Err(refusal)) => prop_assert!(
                    ![RefusalCode::ContactHold, RefusalCode::NoConsent, RefusalCode::DoNotCall].contains(&refusal.code),
                    "{refusal:?}"
                ),
                (None, Ok(())) => {}
            }
        }
    }
}
