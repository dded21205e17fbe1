//! Property: the policy agrees with an independent reading of every rule.

use super::*;

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
    let location =
        Location { timezone: Some(tz), zip_code: Some(zip), state: Some(state), phone_number: Some(phone) };
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
            let n = all.iter().filter(|a| (first..=first + Duration::days(29)).contains(&day(**a))).count();
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
