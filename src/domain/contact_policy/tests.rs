//! Tests of [`super`] (contact_policy).

use super::*;
use crate::domain::consumer::TimeRange;
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
    let location =
        Location { timezone: Some(tz), zip_code: Some(zip), state: Some(state), phone_number: Some(phone) };
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
            format!("2026-{}T15:00:00Z", ["11-25", "11-26", "11-27", "11-28", "11-29", "11-30", "12-01"][d])
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
    assert_eq!((r.code, r.next_allowed_at), (RefusalCode::RecentlyDialed, Some(utc("2026-12-01T15:30:00Z"))));
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
    assert_eq!((r.code, r.next_allowed_at), (RefusalCode::RecentlyDialed, Some(utc("2026-12-01T17:00:00Z"))));
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

mod properties;
