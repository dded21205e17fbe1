//! Tests of [`super`] (customer).

use super::*;

#[test]
fn only_phone_like_terms_match_by_digits() {
    assert_eq!(phone_search_digits("(310) 555-12").as_deref(), Some("31055512"));
    assert_eq!(phone_search_digits("+1 310.555").as_deref(), Some("1310555"));
    assert_eq!(phone_search_digits("zz-4k9m2x7q"), None);
    assert_eq!(phone_search_digits("ada42"), None);
    assert_eq!(phone_search_digits("12"), None);
}
use proptest::prelude::*;
use serde_json::json;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn task_types() -> Vec<String> {
    vec!["collections".to_string(), "reminder".to_string()]
}

fn campaigns() -> Vec<Campaign> {
    vec![
        Campaign { task_type: "collections".into(), required: CustomerField::default_required() },
        Campaign {
            task_type: "reminder".into(),
            required: vec![CustomerField::FirstName, CustomerField::PhoneNumber],
        },
    ]
}

fn rules(campaigns: &[Campaign]) -> CustomerRules<'_> {
    CustomerRules { today: today(), now: today().and_hms_opt(12, 0, 0).unwrap().and_utc(), campaigns }
}

pub fn full_patch() -> CustomerPatch {
    CustomerPatch {
        external_id: "cust-1".into(),
        first_name: Patch::Set("Ada".into()),
        last_name: Patch::Set("Lovelace".into()),
        email: Patch::Set("ada@example.com".into()),
        birthday: Patch::Set("1990-12-10".into()),
        ssn_last_four: Patch::Set("1234".into()),
        phone_number: Patch::Set("(310) 555-1234".into()),
        timezone: Patch::Set("America/Los_Angeles".into()),
        task_type: Patch::Set("collections".into()),
        street_address1: Patch::Set("1 Main St".into()),
        street_address2: Patch::Keep,
        city: Patch::Set("Los Angeles".into()),
        state: Patch::Set("ca".into()),
        zip_code: Patch::Set("90001".into()),
        do_not_call: Patch::Keep,
        is_test: Patch::Keep,
        external_metadata: Patch::Set(json!({"a": 1})),
        contact_optional: false,
        ..Default::default()
    }
}

#[test]
fn a_new_number_forgets_the_old_line_type_and_times_replace_as_a_whole() {
    let mut patch = full_patch();
    patch.phone_line_type = Patch::Set("landline".into());
    patch.inconvenient_times = Patch::Set(vec![RawTimeRange {
        days: vec!["MON".into()],
        start: "09:00".into(),
        end: "12:00".into(),
    }]);
    let stored = create(&patch).unwrap();
    assert_eq!(stored.phone_line_type, Some(LineType::Landline));
    assert_eq!(stored.inconvenient_times.len(), 1);
    let campaigns = campaigns();
    let same_number = CustomerPatch {
        external_id: "cust-1".into(),
        city: Patch::Set("Pasadena".into()),
        ..Default::default()
    };
    let kept = apply_patch(Some(&stored), &same_number, &rules(&campaigns), TaskTypeRule::Required).unwrap();
    assert_eq!((kept.phone_line_type, kept.inconvenient_times.len()), (Some(LineType::Landline), 1));
    let new_number = CustomerPatch {
        external_id: "cust-1".into(),
        phone_number: Patch::Set("(310) 555-9999".into()),
        inconvenient_times: Patch::Clear,
        ..Default::default()
    };
    let moved = apply_patch(Some(&stored), &new_number, &rules(&campaigns), TaskTypeRule::Required).unwrap();
    assert_eq!((moved.phone_line_type, moved.inconvenient_times.len()), (None, 0));
    let bad = CustomerPatch { phone_line_type: Patch::Set("FAX".into()), ..full_patch() };
    assert_eq!(create(&bad).unwrap_err().field, "phoneLineType");
}

#[test]
fn lms_enrichment_may_leave_phone_and_timezone_missing_but_nothing_else() {
    let mut patch = full_patch();
    patch.phone_number = Patch::Keep;
    patch.timezone = Patch::Keep;
    assert_eq!(create(&patch).unwrap_err().field, "phoneNumber");
    patch.contact_optional = true;
    assert!(create(&patch).is_ok());
    patch.city = Patch::Keep;
    assert_eq!(create(&patch).unwrap_err().field, "city");
}

fn create(patch: &CustomerPatch) -> Result<CustomerRecord, ValidationError> {
    apply_patch(None, patch, &rules(&campaigns()), TaskTypeRule::Required)
}

fn field_of(result: Result<CustomerRecord, ValidationError>) -> String {
    result.expect_err("should be rejected").field
}

#[test]
fn a_full_valid_customer_is_normalised() {
    let record = create(&full_patch()).unwrap();
    assert_eq!(record.phone_number.as_deref(), Some("+13105551234"));
    assert_eq!(record.state.as_deref(), Some("CA"));
    assert_eq!(record.birthday, NaiveDate::from_ymd_opt(1990, 12, 10));
    assert!(!record.do_not_call);
}

#[test]
fn each_required_field_missing_is_named() {
    let order = [
        "firstName",
        "lastName",
        "email",
        "birthday",
        "phoneNumber",
        "timezone",
        "taskType",
        "streetAddress1",
        "city",
        "state",
        "zipCode",
    ];
    for field in order {
        let mut patch = full_patch();
        match field {
            "firstName" => patch.first_name = Patch::Keep,
            "lastName" => patch.last_name = Patch::Keep,
            "email" => patch.email = Patch::Keep,
            "birthday" => patch.birthday = Patch::Keep,
            "phoneNumber" => patch.phone_number = Patch::Keep,
            "timezone" => patch.timezone = Patch::Keep,
            "taskType" => patch.task_type = Patch::Keep,
            "streetAddress1" => patch.street_address1 = Patch::Keep,
            "city" => patch.city = Patch::Keep,
            "state" => patch.state = Patch::Keep,
            "zipCode" => patch.zip_code = Patch::Keep,
            _ => unreachable!(),
        }
        assert_eq!(field_of(create(&patch)), field);
    }
}

#[test]
fn bad_values_are_named() {
    type Mutate = Box<dyn Fn(&mut CustomerPatch)>;
    let cases: Vec<(&str, Mutate)> = vec![
        ("id", Box::new(|p| p.external_id = "  ".into())),
        ("firstName", Box::new(|p| p.first_name = Patch::Set(" ".into()))),
        ("email", Box::new(|p| p.email = Patch::Set("not-an-email".into()))),
        ("birthday", Box::new(|p| p.birthday = Patch::Set("1990-02-30".into()))),
        ("birthday", Box::new(|p| p.birthday = Patch::Set("2030-01-01".into()))),
        ("birthday", Box::new(|p| p.birthday = Patch::Set("1990/01/01".into()))),
        ("ssnLastFour", Box::new(|p| p.ssn_last_four = Patch::Set("12a4".into()))),
        ("ssnLastFour", Box::new(|p| p.ssn_last_four = Patch::Set("12345".into()))),
        ("phoneNumber", Box::new(|p| p.phone_number = Patch::Set("555".into()))),
        ("phoneNumber", Box::new(|p| p.phone_number = Patch::Set("+1 000 000 0000".into()))),
        ("timezone", Box::new(|p| p.timezone = Patch::Set("Mars/Olympus".into()))),
        ("taskType", Box::new(|p| p.task_type = Patch::Set("sales".into()))),
        ("state", Box::new(|p| p.state = Patch::Set("XX".into()))),
        ("zipCode", Box::new(|p| p.zip_code = Patch::Set("1234".into()))),
        ("zipCode", Box::new(|p| p.zip_code = Patch::Set("12345-67".into()))),
        ("externalMetadata", Box::new(|p| p.external_metadata = Patch::Set(json!([1, 2])))),
        (
            "externalMetadata",
            Box::new(|p| p.external_metadata = Patch::Set(json!({"big": "x".repeat(70_000)}))),
        ),
    ];
    for (field, mutate) in cases {
        let mut patch = full_patch();
        mutate(&mut patch);
        assert_eq!(field_of(create(&patch)), field);
    }
}

#[test]
fn unknown_task_type_lists_the_valid_ones() {
    let mut patch = full_patch();
    patch.task_type = Patch::Set("sales".into());
    let err = create(&patch).unwrap_err();
    assert_eq!(err.valid_task_types, Some(task_types()));
}

#[test]
fn phone_numbers_are_e164() {
    for (raw, e164) in [
        ("3105551234", "+13105551234"),
        ("+1 (310) 555-1234", "+13105551234"),
        ("+44 20 7946 0958", "+442079460958"),
    ] {
        assert_eq!(normalize_phone("phoneNumber", raw).unwrap(), e164);
    }
}

#[test]
fn update_keeps_absent_fields_and_merges_metadata() {
    let first = create(&full_patch()).unwrap();
    let update = CustomerPatch {
        external_id: "cust-1".into(),
        first_name: Patch::Set("Augusta".into()),
        email: Patch::Set("augusta@example.com".into()),
        external_metadata: Patch::Set(json!({"b": 2, "a": 3})),
        ..Default::default()
    };
    let campaigns = campaigns();
    let second = apply_patch(Some(&first), &update, &rules(&campaigns), TaskTypeRule::Required).unwrap();
    assert_eq!(second.first_name.as_deref(), Some("Augusta"));
    assert_eq!(second.email.as_deref(), Some("augusta@example.com"));
    assert_eq!(second.last_name, first.last_name);
    assert_eq!(second.phone_number, first.phone_number);
    assert_eq!(Value::Object(second.external_metadata.unwrap()), json!({"a": 3, "b": 2}));
}

#[test]
fn update_may_clear_optional_but_not_required_fields() {
    let mut patch = full_patch();
    patch.street_address2 = Patch::Set("Apt 4".into());
    let first = create(&patch).unwrap();
    let campaigns = campaigns();
    let rules = rules(&campaigns);
    let clear_optional = CustomerPatch {
        external_id: "cust-1".into(),
        street_address2: Patch::Clear,
        ssn_last_four: Patch::Clear,
        external_metadata: Patch::Clear,
        ..Default::default()
    };
    let second = apply_patch(Some(&first), &clear_optional, &rules, TaskTypeRule::Required).unwrap();
    assert_eq!(second.street_address2, None);
    assert_eq!(second.ssn_last_four, None);
    assert_eq!(second.external_metadata, None);

    let clear_required =
        CustomerPatch { external_id: "cust-1".into(), city: Patch::Clear, ..Default::default() };
    let err = apply_patch(Some(&first), &clear_required, &rules, TaskTypeRule::Required).unwrap_err();
    assert_eq!(err.field, "city");
}

/// What the bulk vendor accepts: names, a phone and a loan, nothing else.
fn names_and_phone(id: &str) -> CustomerPatch {
    CustomerPatch {
        external_id: id.into(),
        first_name: Patch::Set("Ada".into()),
        last_name: Patch::Set("Lovelace".into()),
        phone_number: Patch::Set("(310) 555-1234".into()),
        ..Default::default()
    }
}

#[test]
fn a_campaign_requires_only_its_own_fields() {
    let campaigns = campaigns();
    let mut patch = names_and_phone("r-1");
    patch.task_type = Patch::Set("reminder".into());
    let record = apply_patch(None, &patch, &rules(&campaigns), TaskTypeRule::Required).unwrap();
    assert_eq!(record.email, None);
    patch.first_name = Patch::Keep;
    let err = apply_patch(None, &patch, &rules(&campaigns), TaskTypeRule::Required).unwrap_err();
    assert_eq!(err.field, "firstName");
    // The default campaign still requires what createCustomer always did.
    patch = names_and_phone("r-1");
    patch.task_type = Patch::Set("collections".into());
    let err = apply_patch(None, &patch, &rules(&campaigns), TaskTypeRule::Required).unwrap_err();
    assert_eq!(err.field, "email");
}

#[test]
fn a_customer_of_no_schedule_needs_only_a_phone_where_the_door_allows_it() {
    let campaigns = campaigns();
    let phone_only = CustomerPatch {
        external_id: "p-1".into(),
        phone_number: Patch::Set("+12125550100".into()),
        ..Default::default()
    };
    assert!(apply_patch(None, &phone_only, &rules(&campaigns), TaskTypeRule::Optional).is_ok());
    let err = apply_patch(None, &phone_only, &rules(&campaigns), TaskTypeRule::Required).unwrap_err();
    assert_eq!(err.field, "taskType");
    let nothing = CustomerPatch { external_id: "p-2".into(), ..Default::default() };
    let err = apply_patch(None, &nothing, &rules(&campaigns), TaskTypeRule::Optional).unwrap_err();
    assert_eq!(err.field, "phoneNumber");
}

#[test]
fn joining_a_campaign_needs_all_of_its_fields() {
    let campaigns = campaigns();
    let rules = rules(&campaigns);
    let mut patch = names_and_phone("r-1");
    patch.task_type = Patch::Set("reminder".into());
    let stored = apply_patch(None, &patch, &rules, TaskTypeRule::Required).unwrap();
    let move_to_collections = CustomerPatch {
        external_id: "r-1".into(),
        task_type: Patch::Set("collections".into()),
        ..Default::default()
    };
    let err = apply_patch(Some(&stored), &move_to_collections, &rules, TaskTypeRule::Required).unwrap_err();
    assert_eq!(err.field, "email");
    // Staying on its campaign, it may change other fields.
    let rename = CustomerPatch {
        external_id: "r-1".into(),
        last_name: Patch::Set("Byron".into()),
        ..Default::default()
    };
    assert!(apply_patch(Some(&stored), &rename, &rules, TaskTypeRule::Required).is_ok());
}

#[test]
fn a_missing_timezone_is_inferred_where_the_campaign_does_not_require_one() {
    let campaigns = campaigns();
    let rules = rules(&campaigns);
    // ZIP first: a Los Angeles ZIP on a New York number is Pacific.
    let mut patch = names_and_phone("t-1");
    patch.phone_number = Patch::Set("+12125550100".into());
    patch.zip_code = Patch::Set("90001".into());
    let record = apply_patch(None, &patch, &rules, TaskTypeRule::Optional).unwrap();
    assert_eq!(record.timezone.as_deref(), Some("America/Los_Angeles"));
    assert!(record.timezone_inferred);
    // Else the area code, when it has a single zone.
    patch.zip_code = Patch::Keep;
    let record = apply_patch(None, &patch, &rules, TaskTypeRule::Optional).unwrap();
    assert_eq!(record.timezone.as_deref(), Some("America/New_York"));
    // A new ZIP moves an inferred zone; a given zone is the customer's own.
    let moved = CustomerPatch {
        external_id: "t-1".into(),
        zip_code: Patch::Set("60601".into()),
        ..Default::default()
    };
    let record = apply_patch(Some(&record), &moved, &rules, TaskTypeRule::Optional).unwrap();
    assert_eq!((record.timezone.as_deref(), record.timezone_inferred), (Some("America/Chicago"), true));
    let given = CustomerPatch {
        external_id: "t-1".into(),
        timezone: Patch::Set("America/Denver".into()),
        ..Default::default()
    };
    let record = apply_patch(Some(&record), &given, &rules, TaskTypeRule::Optional).unwrap();
    assert_eq!((record.timezone.as_deref(), record.timezone_inferred), (Some("America/Denver"), false));
    let record = apply_patch(Some(&record), &moved, &rules, TaskTypeRule::Optional).unwrap();
    assert_eq!(record.timezone.as_deref(), Some("America/Denver"));
    // An area code of two zones (850: Central and Eastern) infers nothing.
    let mut split = names_and_phone("t-2");
    split.phone_number = Patch::Set("+18505551234".into());
    let record = apply_patch(None, &split, &rules, TaskTypeRule::Optional).unwrap();
    assert_eq!((record.timezone, record.timezone_inferred), (None, false));
    // A campaign that requires a timezone gets no inferred one.
    let mut full = full_patch();
    full.timezone = Patch::Keep;
    assert_eq!(field_of(create(&full)), "timezone");
}

#[test]
fn a_moved_customer_loses_an_inferred_zone_its_campaign_now_requires() {
    let mut campaigns = campaigns();
    let mut patch = names_and_phone("m-1");
    patch.task_type = Patch::Set("reminder".into());
    patch.zip_code = Patch::Set("90001".into());
    let stored = apply_patch(None, &patch, &rules(&campaigns), TaskTypeRule::Required).unwrap();
    assert!(stored.timezone_inferred);
    // The campaign starts requiring a timezone; the customer moves to Chicago.
    campaigns[1].required.push(CustomerField::Timezone);
    let moved = CustomerPatch {
        external_id: "m-1".into(),
        zip_code: Patch::Set("60601".into()),
        ..Default::default()
    };
    let err = apply_patch(Some(&stored), &moved, &rules(&campaigns), TaskTypeRule::Required).unwrap_err();
    assert_eq!(err.field, "timezone");
    // Giving the zone with the move is fine; an unrelated update never needs it.
    let mut with_zone = moved.clone();
    with_zone.timezone = Patch::Set("America/Chicago".into());
    assert!(apply_patch(Some(&stored), &with_zone, &rules(&campaigns), TaskTypeRule::Required).is_ok());
    let rename =
        CustomerPatch { external_id: "m-1".into(), last_name: Patch::Set("B".into()), ..Default::default() };
    assert!(apply_patch(Some(&stored), &rename, &rules(&campaigns), TaskTypeRule::Required).is_ok());
}

#[test]
fn a_patch_without_id_keeps_the_stored_customers_id() {
    let stored = create(&full_patch()).unwrap();
    let by_phone = CustomerPatch { city: Patch::Set("Pasadena".into()), ..Default::default() };
    let campaigns = campaigns();
    let record = apply_patch(Some(&stored), &by_phone, &rules(&campaigns), TaskTypeRule::Optional).unwrap();
    assert_eq!(record.external_id, "cust-1");
    assert_eq!(field_of(create(&by_phone)), "id");
}

proptest! {
    #[test]
    fn any_ten_digit_us_number_with_valid_area_code_normalises_to_e164(
        area in 201u32..990, exchange in 200u32..999, line in 0u32..10_000
    ) {
        let raw = format!("{area}{exchange}{line:04}");
        if let Ok(e164) = normalize_phone("phoneNumber", &raw) {
            prop_assert!(e164.starts_with('+'));
            prop_assert!(e164.len() <= 16);
            // Normalising is idempotent.
            prop_assert_eq!(normalize_phone("phoneNumber", &e164).unwrap(), e164.clone());
        }
    }

    #[test]
    fn zip_codes_accept_exactly_the_two_forms(s in "[0-9-]{0,11}") {
        let five = s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
        let plus4 = s.len() == 10 && s[..5].bytes().all(|b| b.is_ascii_digit())
            && &s[5..6] == "-" && s[6..].bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(validate_zip_code("zipCode", &s).is_ok(), five || plus4);
    }

    #[test]
    fn birthdays_must_be_real_past_dates(y in 1850i32..2100, m in 1u32..13, d in 1u32..32) {
        let raw = format!("{y:04}-{m:02}-{d:02}");
        let real = NaiveDate::from_ymd_opt(y, m, d);
        let ok = matches!(real, Some(date) if date < today() && y >= 1900);
        prop_assert_eq!(validate_birthday("birthday", &raw, today()).is_ok(), ok);
    }
}
