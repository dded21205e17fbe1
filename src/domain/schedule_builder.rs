//! The schedule builder: a customer's call tasks from the schedule's cadence, placed through
//! the contact policy (the calling window in every candidate zone, the quiet period after a
//! conversation, the caps and the gap, counting every prior attempt), so a plan never holds a
//! task the dialer would refuse. Pure: `now` and everything else is passed in.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::calling_rules::{local_instant, StateRuleTable};
use super::contact_policy::{Callee, ContactHistory, ContactPolicy, Refusal, RefusalCode, ScheduleTerms};
use super::schedule::{parse_hhmm, CadenceStep};

pub use super::contact_policy::MIN_GAP;

/// Everything the builder needs to know.
#[derive(Debug, Clone)]
pub struct BuildInput<'a> {
    pub cadence: &'a [CadenceStep],
    pub schedule: &'a ScheduleTerms,
    pub callee: &'a Callee,
    pub has_phone: bool,
    /// The customer has a (valid) timezone of its own: required for a schedule.
    pub has_timezone: bool,
    pub rules: &'a StateRuleTable,
    /// Calls already made and planned tasks kept (they count toward the caps and the gap).
    pub history: &'a ContactHistory,
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
    /// The customer is on a contact hold.
    ContactHold,
    /// No unrevoked consent of the kind the schedule's purpose needs.
    NoConsent,
}

impl SkipReason {
    /// The reason a policy that refuses at any time gives the builder.
    fn from_refusal(refusal: &Refusal, callee: &Callee) -> SkipReason {
        match refusal.code {
            RefusalCode::DoNotCall if callee.do_not_call || callee.number_do_not_call => {
                SkipReason::DoNotCall
            }
            RefusalCode::DoNotCall => SkipReason::SuppressedNumber,
            RefusalCode::ContactHold => SkipReason::ContactHold,
            RefusalCode::NoConsent => SkipReason::NoConsent,
            _ if refusal.zones.is_empty() => SkipReason::MissingTimezone,
            _ => SkipReason::NoCallingWindow,
        }
    }
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
    /// The policy the plan was placed through.
    pub policy: ContactPolicy,
    pub tasks: Vec<PlannedTask>,
}

/// Plans the customer's tasks. The same input on the same local day gives the same instants.
pub fn build(input: &BuildInput<'_>) -> Result<Plan, SkipReason> {
    let callee = input.callee;
    if callee.do_not_call || callee.number_do_not_call {
        return Err(SkipReason::DoNotCall);
    }
    if callee.consumer_suppressed || (callee.suppressed && input.schedule.use_do_not_call) {
        return Err(SkipReason::SuppressedNumber);
    }
    if callee.contact_hold {
        return Err(SkipReason::ContactHold);
    }
    if !input.has_phone {
        return Err(SkipReason::MissingPhoneNumber);
    }
    if !input.has_timezone {
        return Err(SkipReason::MissingTimezone);
    }
    let policy = ContactPolicy::new(input.schedule, callee, input.rules)
        .map_err(|refusal| SkipReason::from_refusal(&refusal, callee))?;
    let zone = policy.calendar();
    let now = input.now;
    let today = now.with_timezone(&zone).date_naive();
    // Steps already past are dropped, never squeezed in later the same day.
    let nominal: Vec<DateTime<Utc>> = input
        .cadence
        .iter()
        .filter_map(|step| {
            let (minutes, _) = parse_hhmm("localTime", &step.local_time).ok()?;
            let date = today.checked_add_signed(Duration::days(i64::from(step.day_offset)))?;
            Some(local_instant(zone, date, minutes))
        })
        .filter(|t| *t > now)
        .collect();
    let tasks: Vec<PlannedTask> = policy
        .place(input.history, &nominal)
        .into_iter()
        .map_while(|t| t)
        .enumerate()
        .map(|(i, scheduled_for)| PlannedTask { attempt: i as i32 + 1, scheduled_for })
        .collect();
    if tasks.is_empty() {
        return Err(SkipReason::NoFutureSteps);
    }
    Ok(Plan { zone, policy, tasks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact_policy::Location;
    use chrono::{Datelike, NaiveDate, Timelike, Weekday};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn steps(spec: &[(i32, &str)]) -> Vec<CadenceStep> {
        spec.iter().map(|(d, t)| CadenceStep { day_offset: *d, local_time: t.to_string() }).collect()
    }

    /// A customer and schedule to build for; `build()` assembles the builder's input.
    #[derive(Clone)]
    struct Case<'a> {
        cadence: &'a [CadenceStep],
        terms: ScheduleTerms,
        timezone: Option<&'a str>,
        state: Option<&'a str>,
        zip: Option<&'a str>,
        do_not_call: bool,
        suppressed: bool,
        has_phone: bool,
        prior: Vec<DateTime<Utc>>,
        conversation: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    }

    fn terms() -> ScheduleTerms {
        ScheduleTerms::federal()
    }

    /// A ZIP code in `tz` for the states the tests use (so only the zone and state matter).
    fn zip_for(tz: &str, state: Option<&str>) -> Option<&'static str> {
        Some(match (state?, tz) {
            ("NY", "America/New_York") => "12207", // Albany: not New York City's rules
            ("MA", "America/New_York") => "02108",
            ("FL", "America/New_York") => "33101",
            ("TX", "America/Chicago") => "75201",
            ("AL", "America/Chicago") => "35203",
            ("CO", "America/Denver") => "80202",
            ("HI", "Pacific/Honolulu") => "96813",
            ("AZ", "America/Phoenix") => "85004",
            ("NY", _) => "12207",
            _ => return None,
        })
    }

    fn input<'a>(cadence: &'a [CadenceStep], tz: &'a str, state: Option<&'a str>, now: &str) -> Case<'a> {
        Case {
            cadence,
            terms: terms(),
            timezone: Some(tz),
            state,
            zip: zip_for(tz, state),
            do_not_call: false,
            suppressed: false,
            has_phone: true,
            prior: Vec::new(),
            conversation: None,
            now: utc(now),
        }
    }

    impl Case<'_> {
        fn build(&self) -> Result<Plan, SkipReason> {
            let location = Location {
                timezone: self.timezone,
                zip_code: self.zip,
                state: self.state,
                phone_number: None,
            };
            let mut callee = Callee::customer(&location, self.do_not_call, self.suppressed);
            // Written consent on file: every purpose may call (the consent rule has its own tests).
            callee.consent = crate::domain::contact_policy::ConsentLevel::Written;
            let history = ContactHistory {
                attempts: self.prior.clone(),
                planned: Vec::new(),
                last_conversation: self.conversation,
                ..Default::default()
            };
            build(&BuildInput {
                cadence: self.cadence,
                schedule: &self.terms,
                callee: &callee,
                has_phone: self.has_phone,
                has_timezone: self.timezone.and_then(crate::domain::calling_rules::parse_zone).is_some(),
                rules: StateRuleTable::builtin(),
                history: &history,
                now: self.now,
            })
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
        let plan = input(&cadence, "America/New_York", Some("NY"), "2026-11-23T13:00:00Z").build().unwrap();
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
        let plan = input(&cadence, "America/New_York", Some("NY"), "2026-11-23T16:00:00Z").build().unwrap();
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
            let plan = input(&cadence, tz, state, &now).build().unwrap();
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
        let plan = input(&cadence, "America/New_York", Some("NY"), "2026-03-08T05:00:00Z").build().unwrap();
        assert_eq!(
            local(&plan),
            ["2026-03-08T08:00:00-04:00", "2026-03-08T08:30:00-04:00", "2026-03-09T08:00:00-04:00"]
        );
        // And falls back on 2026-11-01: the day has 25 hours but 10:00 is still 10:00.
        let cadence = steps(&[(0, "10:00"), (1, "10:00")]);
        let plan = input(&cadence, "America/New_York", Some("NY"), "2026-11-01T04:30:00Z").build().unwrap();
        assert_eq!(local(&plan), ["2026-11-01T10:00:00-05:00", "2026-11-02T10:00:00-05:00"]);
        // Lord Howe moves 30 minutes on 2026-10-04 (02:00 -> 02:30).
        let cadence = steps(&[(0, "09:00")]);
        let plan = input(&cadence, "Australia/Lord_Howe", None, "2026-10-03T14:00:00Z").build().unwrap();
        assert_eq!(local(&plan), ["2026-10-04T09:00:00+11:00"]);
    }

    #[test]
    fn weekly_caps_move_steps_to_the_first_day_allowed() {
        // Massachusetts: 2 calls per 7 consecutive days.
        let cadence = steps(&[(0, "10:00"), (1, "10:00"), (2, "10:00"), (3, "10:00")]);
        let plan = input(&cadence, "America/New_York", Some("MA"), "2026-11-23T13:00:00Z").build().unwrap();
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
        i.terms.max_attempts_per_7_days = 3;
        let prior = [utc("2026-11-20T15:00:00Z"), utc("2026-11-21T15:00:00Z")];
        i.prior = prior.to_vec();
        let plan = i.build().unwrap();
        assert_eq!(local(&plan)[..2], ["2026-11-23T10:00:00-05:00", "2026-11-27T10:00:00-05:00"]);
    }

    #[test]
    fn daily_caps_and_state_hours() {
        // Florida: 3 per 24 h and 08:00-20:00.
        let cadence = steps(&[(0, "09:00"), (0, "11:00"), (0, "13:00"), (0, "19:30"), (0, "20:30")]);
        let plan = input(&cadence, "America/New_York", Some("FL"), "2026-11-23T13:00:00Z").build().unwrap();
        assert_eq!(
            local(&plan),
            [
                "2026-11-23T09:00:00-05:00",
                "2026-11-23T11:00:00-05:00",
                "2026-11-23T13:00:00-05:00",
                // 24 hours after 09:00 the 19:30 step fits again, at its own local time...
                "2026-11-24T19:30:00-05:00",
                // ...and the 20:30 step, 30 minutes later, is past Florida's 20:00: next morning.
                "2026-11-25T08:00:00-05:00"
            ]
        );
        // Texas' 9:00 start is a telemarketing law that excludes debt collection: a collection
        // schedule keeps 08:15, a telemarketing one waits for 09:00.
        let cadence = steps(&[(1, "08:15")]);
        let plan = input(&cadence, "America/Chicago", Some("TX"), "2026-11-23T13:00:00Z").build().unwrap();
        assert_eq!(local(&plan), ["2026-11-24T08:15:00-06:00"]);
        let mut sales = input(&cadence, "America/Chicago", Some("TX"), "2026-11-23T13:00:00Z");
        sales.terms.purpose = crate::domain::schedule::CallPurpose::Telemarketing;
        assert_eq!(local(&sales.build().unwrap()), ["2026-11-24T09:00:00-06:00"]);
    }

    #[test]
    fn no_sunday_states_skip_to_monday() {
        // Alabama: Saturday 2026-11-21 19:00 -> 20:00 closes, Sunday is out -> Monday 08:00.
        let cadence = steps(&[(0, "20:15")]);
        let plan = input(&cadence, "America/Chicago", Some("AL"), "2026-11-21T18:00:00Z").build().unwrap();
        assert_eq!(local(&plan), ["2026-11-23T08:00:00-06:00"]);
    }

    #[test]
    fn conflicting_location_uses_the_overlap() {
        // A Los Angeles number with a New York address: 08:00-21:00 in both = 08:00-18:00 PT.
        let cadence = steps(&[(1, "07:00"), (1, "19:00")]);
        let plan =
            input(&cadence, "America/Los_Angeles", Some("NY"), "2026-11-23T13:00:00Z").build().unwrap();
        assert_eq!(plan.policy.zones().len(), 2);
        assert_eq!(local(&plan), ["2026-11-24T08:00:00-08:00", "2026-11-25T08:00:00-08:00"]);
    }

    #[test]
    fn no_overlap_means_no_tasks() {
        let cadence = steps(&[(1, "10:00")]);
        let mut i = input(&cadence, "Europe/London", Some("HI"), "2026-11-23T13:00:00Z");
        i.terms.calling_hours = (9 * 60, 12 * 60);
        assert_eq!(i.build().unwrap_err(), SkipReason::NoCallingWindow);
    }

    #[test]
    fn reasons_for_no_tasks() {
        let cadence = steps(&[(1, "10:00")]);
        let base = input(&cadence, "America/New_York", Some("NY"), "2026-11-23T13:00:00Z");
        assert_eq!(Case { do_not_call: true, ..base.clone() }.build().unwrap_err(), SkipReason::DoNotCall);
        assert_eq!(
            Case { suppressed: true, ..base.clone() }.build().unwrap_err(),
            SkipReason::SuppressedNumber
        );
        assert_eq!(
            Case { has_phone: false, ..base.clone() }.build().unwrap_err(),
            SkipReason::MissingPhoneNumber
        );
        assert_eq!(Case { timezone: None, ..base.clone() }.build().unwrap_err(), SkipReason::MissingTimezone);
        let past = steps(&[(0, "07:00")]);
        let all_past = Case { cadence: &past, ..base.clone() };
        assert_eq!(all_past.build().unwrap_err(), SkipReason::NoFutureSteps);
        let mut narrow = base;
        narrow.terms.calling_hours = (21 * 60, 22 * 60);
        assert_eq!(narrow.build().unwrap_err(), SkipReason::NoCallingWindow);
    }

    #[test]
    fn the_same_input_on_the_same_local_day_gives_the_same_instants() {
        let cadence = steps(&[(0, "18:00"), (1, "10:00"), (4, "12:00")]);
        let a = input(&cadence, "America/Denver", Some("CO"), "2026-11-23T15:00:00Z").build().unwrap();
        let b = input(&cadence, "America/Denver", Some("CO"), "2026-11-23T22:00:00Z").build().unwrap();
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
            let mut case = input(&cadence, ZONES[zone], STATES[state], "2026-01-01T00:00:00Z");
            case.now = now;
            case.terms.calling_hours = (start, (start + len).min(24 * 60 - 1));
            case.terms.max_attempts_per_7_days = max_attempts;
            case.prior = prior.clone();
            let Ok(plan) = case.build() else { return Ok(()) };
            let states: Vec<String> = case.state.map(str::to_string).into_iter().collect();
            let rule = StateRuleTable::builtin().effective_for_purpose(&states, case.terms.purpose.code());
            let open = case.terms.calling_hours.0.max(8 * 60).max(rule.earliest);
            let close = case.terms.calling_hours.1.min(21 * 60).min(rule.latest);
            let customer_zone: Tz = ZONES[zone].parse().unwrap();
            let location = Location { timezone: case.timezone, zip_code: case.zip, state: case.state, phone_number: None };
            let zones = location.candidate_zones();
            prop_assert!(zones.contains(&customer_zone));
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
                    prop_assert!(!rule.holidays.contains(local.date_naive()), "{t} is a holiday in {z}");
                }
                if i > 0 {
                    prop_assert!(t >= plan.tasks[i - 1].scheduled_for + MIN_GAP);
                }
                all.push(t);
            }
            // Caps over every 7 consecutive local days and every 24 hours, prior attempts included.
            let cap7 = rule.max_per_7_days.map_or(max_attempts, |c| c.min(max_attempts)).min(7);
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
