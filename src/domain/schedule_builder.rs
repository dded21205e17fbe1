//! The schedule builder: a customer's call tasks from the schedule's cadence, the calling
//! window (schedule hours ∩ federal hours ∩ state rules, in every zone the consumer may be in),
//! and the frequency caps. Pure: `now` and everything else is passed in.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::calling_rules::{local_instant, parse_zone, state_zones, CallingWindow, StateRuleTable};
use super::calling_rules::{FEDERAL_EARLIEST, FEDERAL_LATEST};
use super::schedule::{parse_hhmm, CadenceStep};

/// Two attempts are never closer than this (Reg F: quick repeated attempts can be harassment).
pub const MIN_GAP: Duration = Duration::minutes(30);
/// Nothing is planned further out than this.
pub const HORIZON_DAYS: i64 = 400;

/// Everything the builder needs to know.
#[derive(Debug, Clone)]
pub struct BuildInput<'a> {
    pub cadence: &'a [CadenceStep],
    /// The schedule's hours, minutes after local midnight, `[start, end)`.
    pub calling_hours: (u32, u32),
    pub max_attempts_per_7_days: u32,
    pub timezone: Option<&'a str>,
    pub state: Option<&'a str>,
    pub has_phone: bool,
    pub do_not_call: bool,
    pub suppressed: bool,
    pub rules: &'a StateRuleTable,
    /// Attempts already made (they count toward the caps).
    pub prior_attempts: &'a [DateTime<Utc>],
    pub now: DateTime<Utc>,
}

/// Why a customer gets no tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    DoNotCall,
    SuppressedNumber,
    MissingPhoneNumber,
    MissingTimezone,
    /// The calling windows of the consumer's possible locations never overlap.
    NoCallingWindow,
    /// Every cadence step is already past.
    NoFutureSteps,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    /// 1-based position in the plan.
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The customer's zone, for local renderings.
    pub zone: Tz,
    /// Every zone the window was evaluated in (more than one for a conflicting location).
    pub window: CallingWindow,
    pub tasks: Vec<PlannedTask>,
}

/// The frequency caps in force for one customer.
#[derive(Debug, Clone)]
struct Caps {
    zone: Tz,
    per_7_days: u32,
    per_24_hours: Option<u32>,
}

impl Caps {
    /// If `t` would break a cap given the `placed` attempts (sorted, all at or before `t`),
    /// the earliest instant worth trying instead.
    fn next_candidate(
        &self,
        placed: &[DateTime<Utc>],
        t: DateTime<Utc>,
        local_minutes: u32,
    ) -> Option<DateTime<Utc>> {
        let day = |x: DateTime<Utc>| x.with_timezone(&self.zone).date_naive();
        let count_in = |last: NaiveDate| {
            let first = last - Duration::days(6);
            placed.iter().filter(|p| (first..=last).contains(&day(**p))).count() as u32
        };
        let d = day(t);
        if count_in(d) >= self.per_7_days {
            // Reg F counts 7 consecutive calendar days: move to the first day the cap allows.
            let mut next = d.succ_opt()?;
            while count_in(next) >= self.per_7_days {
                next = next.succ_opt()?;
            }
            return Some(local_instant(self.zone, next, local_minutes).max(t));
        }
        if let Some(cap) = self.per_24_hours {
            let recent: Vec<_> = placed.iter().filter(|p| **p > t - Duration::hours(24)).collect();
            if recent.len() as u32 >= cap {
                return Some(*recent[recent.len() - cap as usize] + Duration::hours(24));
            }
        }
        None
    }
}

/// The calling window for a consumer in `timezone` with an address in `state`, under the
/// schedule's `hours`, or why there is none.
pub fn calling_window(
    hours: (u32, u32),
    timezone: Option<&str>,
    state: Option<&str>,
    rules: &StateRuleTable,
) -> Result<(Tz, CallingWindow), SkipReason> {
    let zone = timezone.and_then(parse_zone).ok_or(SkipReason::MissingTimezone)?;
    let rule = rules.effective(state);
    let mut zones = vec![zone];
    if let Some(state) = state {
        let candidates = state_zones(state);
        // Reg F 1006.6(b)(1)(i): with a conflicting location, a time must suit every one.
        if !candidates.is_empty() && !candidates.contains(&zone.name()) {
            zones.extend(candidates.iter().filter_map(|z| parse_zone(z)));
        }
    }
    let open = hours.0.max(FEDERAL_EARLIEST).max(rule.earliest);
    let close = hours.1.min(FEDERAL_LATEST).min(rule.latest);
    if open >= close {
        return Err(SkipReason::NoCallingWindow);
    }
    Ok((zone, CallingWindow { zones, open, close, no_sunday: rule.no_sunday, no_holidays: rule.no_holidays }))
}

/// Plans the customer's tasks. The same input on the same local day gives the same instants.
pub fn build(input: &BuildInput<'_>) -> Result<Plan, SkipReason> {
    if input.do_not_call {
        return Err(SkipReason::DoNotCall);
    }
    if input.suppressed {
        return Err(SkipReason::SuppressedNumber);
    }
    if !input.has_phone {
        return Err(SkipReason::MissingPhoneNumber);
    }
    let (zone, window) = calling_window(input.calling_hours, input.timezone, input.state, input.rules)?;
    let now = input.now;
    let horizon = now + Duration::days(HORIZON_DAYS);
    if window.next_allowed(now, now + Duration::days(14)).is_none() {
        return Err(SkipReason::NoCallingWindow);
    }
    let rule = input.rules.effective(input.state);
    let caps = Caps {
        zone,
        per_7_days: rule
            .max_per_7_days
            .map_or(input.max_attempts_per_7_days, |c| c.min(input.max_attempts_per_7_days)),
        per_24_hours: rule.max_per_24_hours,
    };

    let mut placed: Vec<DateTime<Utc>> = input.prior_attempts.iter().copied().filter(|p| *p <= now).collect();
    placed.sort();
    let today = now.with_timezone(&zone).date_naive();
    let mut tasks = Vec::new();
    'steps: for step in input.cadence {
        let Ok((minutes, _)) = parse_hhmm("localTime", &step.local_time) else {
            continue;
        };
        let Some(date) = today.checked_add_signed(Duration::days(i64::from(step.day_offset))) else {
            continue;
        };
        let nominal = local_instant(zone, date, minutes);
        if nominal <= now {
            continue; // already past: dropped, never squeezed in later the same day
        }
        let mut t = nominal;
        loop {
            let Some(open) = window.next_allowed(t, horizon) else {
                break 'steps;
            };
            t = open;
            if let Some(last) = placed.last() {
                if t < *last + MIN_GAP {
                    t = *last + MIN_GAP;
                    continue;
                }
            }
            match caps.next_candidate(&placed, t, minutes) {
                Some(later) => t = later,
                None => break,
            }
        }
        placed.push(t);
        tasks.push(PlannedTask { attempt: tasks.len() as i32 + 1, scheduled_for: t });
    }
    if tasks.is_empty() {
        return Err(SkipReason::NoFutureSteps);
    }
    Ok(Plan { zone, window, tasks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn steps(spec: &[(i32, &str)]) -> Vec<CadenceStep> {
        spec.iter().map(|(d, t)| CadenceStep { day_offset: *d, local_time: t.to_string() }).collect()
    }

    fn input<'a>(
        cadence: &'a [CadenceStep],
        tz: &'a str,
        state: Option<&'a str>,
        now: &str,
    ) -> BuildInput<'a> {
        BuildInput {
            cadence,
            calling_hours: (8 * 60, 21 * 60),
            max_attempts_per_7_days: 7,
            timezone: Some(tz),
            state,
            has_phone: true,
            do_not_call: false,
            suppressed: false,
            rules: StateRuleTable::builtin(),
            prior_attempts: &[],
            now: utc(now),
        }
    }

    /// The planned instants, rendered in the customer's zone.
    fn local(plan: &Plan) -> Vec<String> {
        plan.tasks.iter().map(|t| t.scheduled_for.with_timezone(&plan.zone).to_rfc3339()).collect()
    }

    #[test]
    fn new_york_steps_land_at_their_local_times() {
        let cadence = steps(&[(0, "10:00"), (1, "14:00"), (3, "09:30")]);
        // Monday 2026-11-23 08:00 EST.
        let plan = build(&input(&cadence, "America/New_York", Some("NY"), "2026-11-23T13:00:00Z")).unwrap();
        assert_eq!(
            local(&plan),
            ["2026-11-23T10:00:00-05:00", "2026-11-24T14:00:00-05:00", "2026-11-26T09:30:00-05:00"]
        );
        assert_eq!(plan.tasks.iter().map(|t| t.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn past_steps_are_dropped_and_late_ones_move_to_the_next_opening() {
        let cadence = steps(&[(0, "09:00"), (0, "22:30"), (1, "06:00"), (2, "12:00")]);
        // 2026-11-23 11:00 EST: 09:00 is past; 22:30 -> tomorrow 08:00; 06:00 tomorrow -> 08:30 (gap).
        let plan = build(&input(&cadence, "America/New_York", Some("NY"), "2026-11-23T16:00:00Z")).unwrap();
        assert_eq!(
            local(&plan),
            ["2026-11-24T08:00:00-05:00", "2026-11-24T08:30:00-05:00", "2026-11-25T12:00:00-05:00"]
        );
    }

    #[test]
    fn honolulu_kathmandu_st_johns_lord_howe_and_arizona() {
        // "now" is 06:00 local on 2026-11-23 in each zone: step 0 (07:00) moves to the 08:00 opening.
        let cadence = steps(&[(0, "07:00"), (1, "20:30"), (2, "12:15")]);
        let cases = [
            ("Pacific/Honolulu", Some("HI"), "-10:00"),
            ("Asia/Kathmandu", None, "+05:45"),
            ("America/St_Johns", None, "-03:30"),
            // Lord Howe is on its 30-minute DST (+11:00) in November.
            ("Australia/Lord_Howe", None, "+11:00"),
            ("America/Phoenix", Some("AZ"), "-07:00"),
        ];
        for (tz, state, offset) in cases {
            let zone: Tz = tz.parse().unwrap();
            let now =
                local_instant(zone, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), 6 * 60).to_rfc3339();
            let plan = build(&input(&cadence, tz, state, &now)).unwrap();
            let expected: Vec<String> = ["2026-11-23T08:00:00", "2026-11-24T20:30:00", "2026-11-25T12:15:00"]
                .iter()
                .map(|t| format!("{t}{offset}"))
                .collect();
            assert_eq!(local(&plan), expected, "{tz}");
        }
    }

    #[test]
    fn dst_transition_days() {
        // New York springs forward on 2026-03-08: 02:30 does not exist; the window opens at 08:00 EDT.
        let cadence = steps(&[(0, "02:30"), (0, "08:00"), (1, "08:00")]);
        let plan = build(&input(&cadence, "America/New_York", Some("NY"), "2026-03-08T05:00:00Z")).unwrap();
        assert_eq!(
            local(&plan),
            ["2026-03-08T08:00:00-04:00", "2026-03-08T08:30:00-04:00", "2026-03-09T08:00:00-04:00"]
        );
        // And falls back on 2026-11-01: the day has 25 hours but 10:00 is still 10:00.
        let cadence = steps(&[(0, "10:00"), (1, "10:00")]);
        let plan = build(&input(&cadence, "America/New_York", Some("NY"), "2026-11-01T04:30:00Z")).unwrap();
        assert_eq!(local(&plan), ["2026-11-01T10:00:00-05:00", "2026-11-02T10:00:00-05:00"]);
        // Lord Howe moves 30 minutes on 2026-10-04 (02:00 -> 02:30).
        let cadence = steps(&[(0, "09:00")]);
        let plan = build(&input(&cadence, "Australia/Lord_Howe", None, "2026-10-03T14:00:00Z")).unwrap();
        assert_eq!(local(&plan), ["2026-10-04T09:00:00+11:00"]);
    }

    #[test]
    fn weekly_caps_move_steps_to_the_first_day_allowed() {
        // Massachusetts: 2 calls per 7 consecutive days.
        let cadence = steps(&[(0, "10:00"), (1, "10:00"), (2, "10:00"), (3, "10:00")]);
        let plan = build(&input(&cadence, "America/New_York", Some("MA"), "2026-11-23T13:00:00Z")).unwrap();
        assert_eq!(
            local(&plan),
            [
                "2026-11-23T10:00:00-05:00",
                "2026-11-24T10:00:00-05:00",
                "2026-11-30T10:00:00-05:00",
                "2026-12-01T10:00:00-05:00"
            ]
        );
        // The schedule's own cap, with two attempts already made this week.
        let mut i = input(&cadence, "America/New_York", Some("NY"), "2026-11-23T13:00:00Z");
        i.max_attempts_per_7_days = 3;
        let prior = [utc("2026-11-20T15:00:00Z"), utc("2026-11-21T15:00:00Z")];
        i.prior_attempts = &prior;
        let plan = build(&i).unwrap();
        assert_eq!(local(&plan)[..2], ["2026-11-23T10:00:00-05:00", "2026-11-27T10:00:00-05:00"]);
    }

    #[test]
    fn daily_caps_and_state_hours() {
        // Florida: 3 per 24 h and 08:00-20:00.
        let cadence = steps(&[(0, "09:00"), (0, "11:00"), (0, "13:00"), (0, "19:30"), (0, "20:30")]);
        let plan = build(&input(&cadence, "America/New_York", Some("FL"), "2026-11-23T13:00:00Z")).unwrap();
        assert_eq!(
            local(&plan),
            [
                "2026-11-23T09:00:00-05:00",
                "2026-11-23T11:00:00-05:00",
                "2026-11-23T13:00:00-05:00",
                "2026-11-24T09:00:00-05:00",
                "2026-11-24T11:00:00-05:00"
            ]
        );
        // Texas (telemarketing rows apply by default): not before 09:00.
        let cadence = steps(&[(1, "08:15")]);
        let plan = build(&input(&cadence, "America/Chicago", Some("TX"), "2026-11-23T13:00:00Z")).unwrap();
        assert_eq!(local(&plan), ["2026-11-24T09:00:00-06:00"]);
    }

    #[test]
    fn no_sunday_states_skip_to_monday() {
        // Alabama: Saturday 2026-11-21 19:00 -> 20:00 closes, Sunday is out -> Monday 08:00.
        let cadence = steps(&[(0, "20:15")]);
        let plan = build(&input(&cadence, "America/Chicago", Some("AL"), "2026-11-21T18:00:00Z")).unwrap();
        assert_eq!(local(&plan), ["2026-11-23T08:00:00-06:00"]);
    }

    #[test]
    fn conflicting_location_uses_the_overlap() {
        // A Los Angeles number with a New York address: 08:00-21:00 in both = 08:00-18:00 PT.
        let cadence = steps(&[(1, "07:00"), (1, "19:00")]);
        let plan =
            build(&input(&cadence, "America/Los_Angeles", Some("NY"), "2026-11-23T13:00:00Z")).unwrap();
        assert_eq!(plan.window.zones.len(), 2);
        assert_eq!(local(&plan), ["2026-11-24T08:00:00-08:00", "2026-11-25T08:00:00-08:00"]);
    }

    #[test]
    fn no_overlap_means_no_tasks() {
        let cadence = steps(&[(1, "10:00")]);
        let mut i = input(&cadence, "Europe/London", Some("HI"), "2026-11-23T13:00:00Z");
        i.calling_hours = (9 * 60, 12 * 60);
        assert_eq!(build(&i).unwrap_err(), SkipReason::NoCallingWindow);
    }

    #[test]
    fn reasons_for_no_tasks() {
        let cadence = steps(&[(1, "10:00")]);
        let base = input(&cadence, "America/New_York", Some("NY"), "2026-11-23T13:00:00Z");
        assert_eq!(
            build(&BuildInput { do_not_call: true, ..base.clone() }).unwrap_err(),
            SkipReason::DoNotCall
        );
        assert_eq!(
            build(&BuildInput { suppressed: true, ..base.clone() }).unwrap_err(),
            SkipReason::SuppressedNumber
        );
        assert_eq!(
            build(&BuildInput { has_phone: false, ..base.clone() }).unwrap_err(),
            SkipReason::MissingPhoneNumber
        );
        assert_eq!(
            build(&BuildInput { timezone: None, ..base.clone() }).unwrap_err(),
            SkipReason::MissingTimezone
        );
        let past = steps(&[(0, "07:00")]);
        let all_past = BuildInput { cadence: &past, ..base.clone() };
        assert_eq!(build(&all_past).unwrap_err(), SkipReason::NoFutureSteps);
        let narrow = BuildInput { calling_hours: (21 * 60, 22 * 60), ..base };
        assert_eq!(build(&narrow).unwrap_err(), SkipReason::NoCallingWindow);
    }

    #[test]
    fn the_same_input_on_the_same_local_day_gives_the_same_instants() {
        let cadence = steps(&[(0, "18:00"), (1, "10:00"), (4, "12:00")]);
        let a = build(&input(&cadence, "America/Denver", Some("CO"), "2026-11-23T15:00:00Z")).unwrap();
        let b = build(&input(&cadence, "America/Denver", Some("CO"), "2026-11-23T22:00:00Z")).unwrap();
        assert_eq!(a.tasks, b.tasks);
    }

    const ZONES: &[&str] = &[
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Europe/London",
        "Pacific/Chatham",
        "Asia/Tokyo",
        "America/Adak",
    ];
    const STATES: &[Option<&str>] = &[
        None,
        Some("NY"),
        Some("CA"),
        Some("TX"),
        Some("FL"),
        Some("MA"),
        Some("WA"),
        Some("AL"),
        Some("AZ"),
        Some("HI"),
        Some("IN"),
        Some("AK"),
    ];
    /// DST transition instants (UTC) that random "now"s cluster around.
    const TRANSITIONS: &[&str] = &[
        "2026-03-08T07:00:00Z",
        "2026-11-01T06:00:00Z",
        "2026-03-29T01:00:00Z",
        "2026-10-04T15:30:00Z",
        "2026-04-04T15:00:00Z",
        "2026-09-27T14:00:00Z",
        "2027-03-14T07:00:00Z",
    ];

    fn arb_now() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            (0i64..2 * 365 * 24 * 60).prop_map(|m| utc("2026-01-01T00:00:00Z") + Duration::minutes(m)),
            (0..TRANSITIONS.len(), -3 * 24 * 60i64..3 * 24 * 60)
                .prop_map(|(i, m)| utc(TRANSITIONS[i]) + Duration::minutes(m)),
        ]
    }

    fn arb_cadence() -> impl Strategy<Value = Vec<CadenceStep>> {
        proptest::collection::btree_set(
            (0i32..21, 0u32..24, prop_oneof![Just(0u32), Just(15), Just(30), Just(45), 0u32..60]),
            1..12,
        )
        .prop_map(|set| {
            set.into_iter()
                .map(|(d, h, m)| CadenceStep { day_offset: d, local_time: format!("{h:02}:{m:02}") })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn every_task_is_future_legal_and_within_every_cap(
            zone in 0..ZONES.len(),
            state in 0..STATES.len(),
            now in arb_now(),
            cadence in arb_cadence(),
            (start, len) in (0u32..20 * 60, 30u32..16 * 60),
            max_attempts in 1u32..8,
            prior_hours in proptest::collection::vec(1i64..7 * 24, 0..6),
        ) {
            let prior: Vec<_> = prior_hours.iter().map(|h| now - Duration::hours(*h)).collect();
            let input = BuildInput {
                cadence: &cadence,
                calling_hours: (start, (start + len).min(24 * 60 - 1)),
                max_attempts_per_7_days: max_attempts,
                timezone: Some(ZONES[zone]),
                state: STATES[state],
                has_phone: true,
                do_not_call: false,
                suppressed: false,
                rules: StateRuleTable::builtin(),
                prior_attempts: &prior,
                now,
            };
            let Ok(plan) = build(&input) else { return Ok(()) };
            let rule = input.rules.effective(input.state);
            let open = input.calling_hours.0.max(8 * 60).max(rule.earliest);
            let close = input.calling_hours.1.min(21 * 60).min(rule.latest);
            let customer_zone: Tz = ZONES[zone].parse().unwrap();
            let mut zones = vec![customer_zone];
            if let Some(s) = input.state {
                let cands = state_zones(s);
                if !cands.is_empty() && !cands.contains(&ZONES[zone]) {
                    zones.extend(cands.iter().map(|z| z.parse::<Tz>().unwrap()));
                }
            }
            let mut all: Vec<DateTime<Utc>> = prior.clone();
            for (i, task) in plan.tasks.iter().enumerate() {
                let t = task.scheduled_for;
                prop_assert!(t > now, "task {t} not after now {now}");
                prop_assert_eq!(task.attempt, i as i32 + 1);
                // Inside the window in every possible zone (recomputed independently here).
                for z in &zones {
                    let local = t.with_timezone(z);
                    let minute = local.hour() * 60 + local.minute();
                    prop_assert!(minute >= open && minute < close, "{t} is {local} in {z}, window {open}..{close}");
                    if rule.no_sunday {
                        prop_assert!(local.weekday() != Weekday::Sun);
                    }
                    if rule.no_holidays {
                        prop_assert!(!crate::domain::holidays::is_federal_holiday(local.date_naive()));
                    }
                }
                if i > 0 {
                    prop_assert!(t >= plan.tasks[i - 1].scheduled_for + MIN_GAP);
                }
                all.push(t);
            }
            // Caps over every 7 consecutive local days and every 24 hours, prior attempts included.
            let cap7 = rule.max_per_7_days.map_or(max_attempts, |c| c.min(max_attempts));
            let days: Vec<NaiveDate> = all.iter().map(|t| t.with_timezone(&customer_zone).date_naive()).collect();
            for task in &plan.tasks {
                let d = task.scheduled_for.with_timezone(&customer_zone).date_naive();
                for k in 0..7 {
                    let first = d - Duration::days(6 - k);
                    let last = first + Duration::days(6);
                    let n = days.iter().filter(|x| (first..=last).contains(x)).count() as u32;
                    prop_assert!(n <= cap7, "{n} calls in {first}..{last}, cap {cap7}");
                }
                if let Some(cap) = rule.max_per_24_hours {
                    let t = task.scheduled_for;
                    let n = all.iter().filter(|x| **x > t - Duration::hours(24) && **x <= t).count() as u32;
                    prop_assert!(n <= cap, "{n} calls in 24 h before {t}");
                }
            }
        }
    }
}
