//! Tests of [`super`] (calling_rules).

use super::*;
use serde_json::json;

#[test]
fn builtin_table_parses_and_every_row_cites_a_source() {
    let table = StateRuleTable::builtin();
    assert!(table.rows().count() >= 10);
    for (state, row) in table.rows() {
        assert_eq!(jurisdiction_code(state), Some(state), "{state}");
        assert!(row.source.as_deref().is_some_and(|s| s.contains("http")), "{state} has no source");
    }
}

#[test]
fn effective_rules_take_the_strictest_row() {
    let table = StateRuleTable::builtin();
    let wa = table.effective(Some("WA"));
    assert_eq!((wa.earliest, wa.latest, wa.max_per_7_days), (8 * 60, 20 * 60, Some(3)));
    let ma = table.effective(Some("MA"));
    assert_eq!((ma.earliest, ma.latest, ma.max_per_7_days), (8 * 60, 21 * 60, Some(2)));
    assert_eq!(table.effective(Some("NY")), EffectiveRule::default());
    assert_eq!(table.effective(None), EffectiveRule::default());
    let tx = table.effective(Some("TX"));
    assert_eq!(tx.earliest, 9 * 60);
}

#[test]
fn overrides_replace_whole_states_and_may_only_tighten_the_law() {
    let overrides = validate_overrides(&json!({
        "NY": [{"maxPer7Days": 2, "source": "6 RCNY 5-77"}],
        "ma": [{"maxPer7Days": 1, "latest": "20:00", "source": "house rule"}],
    }))
    .unwrap();
    let table = StateRuleTable::with_overrides(&overrides);
    assert_eq!(table.effective(Some("NY")).max_per_7_days, Some(2));
    let ma = table.effective(Some("MA"));
    assert_eq!((ma.max_per_7_days, ma.latest), (Some(1), 20 * 60));
    // Removing or loosening a statutory rule is refused, naming the rule and its source.
    for (loosening, names) in [
        (json!({"MA": []}), "maxPer7Days 2"),
        (json!({"MA": [{"maxPer7Days": 3}]}), "maxPer7Days 2"),
        (json!({"FL": [{"maxPer24Hours": 3}]}), "latest 20:00"),
        (json!({"AL": [{"latest": "20:00", "noHolidays": true}]}), "noSunday"),
    ] {
        let error = validate_overrides(&loosening).unwrap_err();
        assert_eq!(error.field, "stateRules");
        assert!(error.message.contains(names), "{loosening}: {}", error.message);
        assert!(error.message.contains("Ala. Code") || !names.contains("noSunday"), "{}", error.message);
    }
    // Overrides stored before the floor was enforced cannot lift it either.
    let legacy = BTreeMap::from([("MA".to_string(), Vec::new())]);
    assert_eq!(StateRuleTable::with_overrides(&legacy).effective(Some("MA")).max_per_7_days, Some(2));
}

#[test]
fn no_holidays_bans_the_states_own_calendar() {
    let table = StateRuleTable::builtin();
    assert_eq!(table.effective(Some("AL")).holidays, Calendars::ALABAMA);
    assert_eq!(table.effective(Some("LA")).holidays, Calendars::LOUISIANA);
    assert_eq!(table.effective(Some("MS")).holidays, Calendars::NONE);
    let both = table.effective_for(&["AL".to_string(), "LA".to_string(), "NY".to_string()]);
    assert_eq!(both.holidays, Calendars::ALABAMA.union(Calendars::LOUISIANA));
    assert!(both.at_least_as_strict_as(&table.effective(Some("AL"))));
    assert!(!table.effective(Some("AL")).at_least_as_strict_as(&both));
    // A state without a calendar of its own: the federal holidays.
    let ny = validate_overrides(&json!({"NY": [{"noHolidays": true, "source": "house rule"}]})).unwrap();
    let ny = StateRuleTable::with_overrides(&ny);
    assert_eq!(ny.effective(Some("NY")).holidays, Calendars::FEDERAL);
    // Restating Alabama's row keeps its own calendar, so it meets the floor; dropping
    // noHolidays does not.
    let restated = json!({"AL": [{"latest": "20:00", "noSunday": true, "noHolidays": true}]});
    let restated = StateRuleTable::with_overrides(&validate_overrides(&restated).unwrap());
    assert_eq!(restated.effective(Some("AL")).holidays, Calendars::ALABAMA);
    let error = validate_overrides(&json!({"AL": [{"latest": "20:00", "noSunday": true}]})).unwrap_err();
    assert!(error.message.contains("noHolidays"), "{}", error.message);
}

#[test]
fn new_york_city_is_a_locality_with_its_own_row() {
    let table = StateRuleTable::builtin();
    let nyc = table.effective(Some("NY-NYC"));
    assert_eq!((nyc.max_per_7_days, nyc.earliest, nyc.latest), (Some(2), FEDERAL_EARLIEST, FEDERAL_LATEST));
    let states = ["NY".to_string(), "NY-NYC".to_string()];
    assert_eq!(table.effective_for_purpose(&states, "COLLECTION").max_per_7_days, Some(2));
    assert_eq!(table.effective_for_purpose(&states, "INFORMATIONAL").max_per_7_days, Some(2));
    assert_eq!(table.effective_for_purpose(&states, "TELEMARKETING").max_per_7_days, None);
    // A company may tighten the city's rule, never loosen or lift it.
    let tighter = validate_overrides(&json!({"ny-nyc": [{"maxPer7Days": 1}]})).unwrap();
    assert_eq!(StateRuleTable::with_overrides(&tighter).effective(Some("NY-NYC")).max_per_7_days, Some(1));
    for loosening in [json!({"NY-NYC": []}), json!({"NY-NYC": [{"maxPer7Days": 3}]})] {
        let error = validate_overrides(&loosening).unwrap_err();
        assert!(
            error.message.contains("maxPer7Days 2") && error.message.contains("6 RCNY"),
            "{}",
            error.message
        );
    }
    assert!(validate_overrides(&json!({"NY-LA": []})).is_err());
}

#[test]
fn every_candidate_state_applies_and_the_strictest_wins() {
    let table = StateRuleTable::builtin();
    let both = table.effective_for(&["NY".to_string(), "MA".to_string()]);
    assert_eq!(both.max_per_7_days, Some(2));
    let fl_wa = table.effective_for(&["FL".to_string(), "WA".to_string()]);
    assert_eq!((fl_wa.latest, fl_wa.max_per_7_days, fl_wa.max_per_24_hours), (20 * 60, Some(3), Some(3)));
    assert_eq!(table.effective_for(&[]), EffectiveRule::default());
}

#[test]
fn bad_overrides_are_refused() {
    for bad in [
        json!([]),
        json!({"XX": []}),
        json!({"FL": {}}),
        json!({"FL": [{"earliest": "9am"}]}),
        json!({"FL": [{"earliest": "20:00", "latest": "09:00"}]}),
        json!({"FL": [{"maxPer7Days": 0}]}),
        json!({"FL": [{"unknown": true}]}),
    ] {
        assert_eq!(validate_overrides(&bad).unwrap_err().field, "stateRules", "{bad}");
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn dst_gaps_move_forward_and_repeats_take_the_earlier_instant() {
    let ny: Tz = "America/New_York".parse().unwrap();
    let spring = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
    assert_eq!(local_instant(ny, spring, 2 * 60 + 30), utc("2026-03-08T07:00:00Z")); // 03:00 EDT
    let fall = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    assert_eq!(local_instant(ny, fall, 60 + 30), utc("2026-11-01T05:30:00Z")); // 01:30 EDT
    let lord_howe: Tz = "Australia/Lord_Howe".parse().unwrap();
    // DST starts 2026-10-04 02:00 -> 02:30 (+10:30 -> +11).
    let start = NaiveDate::from_ymd_opt(2026, 10, 4).unwrap();
    assert_eq!(local_instant(lord_howe, start, 2 * 60 + 10), utc("2026-10-03T15:30:00Z"));
}

#[test]
fn overlap_of_two_zones() {
    let window = CallingWindow {
        zones: vec!["America/Los_Angeles".parse().unwrap(), "America/New_York".parse().unwrap()],
        open: FEDERAL_EARLIEST,
        close: FEDERAL_LATEST,
        no_sunday: false,
        holidays: Calendars::NONE,
        inconvenient: vec![],
    };
    // 06:00 PT is 09:00 ET: not yet 08:00 in LA.
    let t = utc("2026-11-24T14:00:00Z");
    assert!(!window.allows(t));
    assert_eq!(window.next_allowed(t, t + Duration::days(3)), Some(utc("2026-11-24T16:00:00Z")));
    // 18:30 PT is 21:30 ET: closed in New York until tomorrow's 08:00 PT.
    let late = utc("2026-11-25T02:30:00Z");
    assert_eq!(window.next_allowed(late, late + Duration::days(3)), Some(utc("2026-11-25T16:00:00Z")));
}

#[test]
fn no_overlap_gives_nothing() {
    let window = CallingWindow {
        zones: vec!["Europe/London".parse().unwrap(), "Pacific/Honolulu".parse().unwrap()],
        open: 9 * 60,
        close: 12 * 60,
        no_sunday: false,
        holidays: Calendars::NONE,
        inconvenient: vec![],
    };
    let t = utc("2026-11-24T00:00:00Z");
    assert_eq!(window.next_allowed(t, t + Duration::days(14)), None);
}

#[test]
fn sundays_and_holidays_are_skipped() {
    let window = CallingWindow {
        zones: vec!["America/Chicago".parse().unwrap()],
        open: FEDERAL_EARLIEST,
        close: 20 * 60,
        no_sunday: true,
        holidays: Calendars::FEDERAL,
        inconvenient: vec![],
    };
    // Saturday 2026-11-21 20:30 CST -> Sunday skipped -> Monday 08:00.
    let t = utc("2026-11-22T02:30:00Z");
    assert_eq!(window.next_allowed(t, t + Duration::days(14)), Some(utc("2026-11-23T14:00:00Z")));
    // Wednesday before Thanksgiving 21:00 -> Thursday is a holiday -> Friday 08:00.
    let t = utc("2026-11-26T03:00:00Z");
    assert_eq!(window.next_allowed(t, t + Duration::days(14)), Some(utc("2026-11-27T14:00:00Z")));
}
