//! Tests of [`super`] (location).

use super::*;
use proptest::prelude::*;

fn tz(name: &str) -> Tz {
    calling_rules::parse_zone(name).unwrap_or_else(|| panic!("{name}"))
}

fn names(zones: &[Tz]) -> Vec<&'static str> {
    zones.iter().map(|zone| zone.name()).collect()
}

fn zip(zip: &str) -> Vec<&'static str> {
    names(zip_zones(zip).unwrap_or_else(|| panic!("no zones for ZIP {zip}")))
}

fn area(npa: &str) -> Vec<&'static str> {
    let number = format!("+1{npa}5550123");
    names(area_code_zones(&number).unwrap_or_else(|| panic!("no zones for area code {npa}")))
}

fn area_state(npa: &str) -> Option<&'static str> {
    area_code_state(&format!("+1{npa}5550123"))
}

#[test]
fn every_row_parses_into_valid_zones() {
    for (file, csv) in [("zip3_zones.csv", ZIP_CSV), ("area_codes.csv", AREA_CODE_CSV)] {
        let rows = parse_rows(file, csv);
        assert!(!rows.is_empty(), "{file}");
        for (key, zones, state) in rows {
            assert!(!zones.is_empty(), "{file} {key}");
            assert!([3, 5].contains(&key.len()), "{file} {key}");
            assert_eq!(state.len(), 2, "{file} {key}");
            for zone in zones {
                // A real IANA zone that round-trips by name.
                assert_eq!(tz(zone.name()), zone, "{file} {key}");
            }
        }
    }
    // Building the tables checks for duplicate keys and key lengths.
    let tables = tables();
    assert!(tables.zip3.keys().all(|key| key.len() == 3));
    assert!(tables.zip5.keys().all(|key| key.len() == 5));
}

#[test]
fn tables_are_large_enough() {
    let tables = tables();
    assert!(tables.zip3.len() >= 880, "{} ZIP prefixes", tables.zip3.len());
    assert!(tables.area_codes.len() >= 300, "{} area codes", tables.area_codes.len());
}

#[test]
fn every_state_and_territory_is_covered() {
    let tables = tables();
    for code in us_states::CODES.iter().copied().filter(|code| *code != "UM") {
        assert!(!state_zones(code).is_empty(), "{code}");
        assert!(tables.area_codes.values().any(|place| place.state == code), "no area code for {code}");
        let in_zips = tables.zip3.values().chain(tables.zip5.values()).any(|place| place.state == code);
        assert!(in_zips, "no ZIP for {code}");
    }
}

#[test]
fn zip_spot_checks() {
    assert_eq!(zip("10001"), ["America/New_York"]);
    assert_eq!(zip_state("10001"), Some("NY"));
    assert!(zip("32501").contains(&"America/Chicago"), "Pensacola");
    assert_eq!(zip_state("32501"), Some("FL"));
    let panama_city = zip("32401");
    assert!(panama_city.contains(&"America/Chicago") && panama_city.contains(&"America/New_York"));
    assert_eq!(zip("33101"), ["America/New_York"], "Miami");
    assert_eq!(zip("79901"), ["America/Denver"], "El Paso");
    assert_eq!(zip("88510"), ["America/Denver"], "El Paso PO boxes");
    assert!(zip("79855").contains(&"America/Denver") && zip("79855").contains(&"America/Chicago"));
    assert_eq!(zip("96701"), ["Pacific/Honolulu"]);
    assert_eq!(zip("96813"), ["Pacific/Honolulu"]);
    assert_eq!(zip_state("96813"), Some("HI"));
    assert!(zip("96910").contains(&"Pacific/Guam"));
    assert_eq!(zip_state("96910"), Some("GU"));
    assert_eq!(zip("96950"), ["Pacific/Saipan"]);
    assert_eq!(zip_state("96950"), Some("MP"));
    assert_eq!(zip("96799"), ["Pacific/Pago_Pago"]);
    assert_eq!(zip_state("96799"), Some("AS"));
    for pr in ["00601", "00725", "00901"] {
        assert_eq!(zip(pr), ["America/Puerto_Rico"], "{pr}");
        assert_eq!(zip_state(pr), Some("PR"), "{pr}");
    }
    assert_eq!(zip("00802"), ["America/St_Thomas"]);
    assert_eq!(zip_state("00802"), Some("VI"));
    for alaska in ["99501", "99603", "99701", "99801", "99901"] {
        assert_eq!(zip_state(alaska), Some("AK"), "{alaska}");
        assert!(zip(alaska).iter().any(|zone| zone.starts_with("America/")), "{alaska}");
    }
    assert!(zip("99546").contains(&"America/Adak"));
    assert!(zip("83814").contains(&"America/Los_Angeles"), "Coeur d'Alene");
    assert!(zip("97914").contains(&"America/Boise"), "Ontario, OR");
    assert!(zip("49858").contains(&"America/Menominee"));
    assert!(zip("86515").contains(&"America/Denver"), "Navajo Nation");
    assert!(zip("86515").contains(&"America/Phoenix"));
    assert!(zip("89883").contains(&"America/Denver"), "West Wendover");
    assert!(zip("36867").contains(&"America/New_York"), "Phenix City keeps Eastern time");
    assert_eq!(zip("90210"), ["America/Los_Angeles"]);
    assert_eq!(zip("60601"), ["America/Chicago"]);
}

#[test]
fn new_york_city_zips_and_area_codes() {
    for zip in [
        "10001",
        "10282",
        "10301",
        "10314",
        "10451",
        "10475",
        "11201",
        "11256",
        "11004",
        "11101",
        "11354",
        "11432",
        "11691",
        "11697",
        "11215-1234",
    ] {
        assert_eq!(zip_locality(zip), Some(NEW_YORK_CITY), "{zip}");
        assert_eq!(zip_state(zip), Some("NY"), "{zip}");
    }
    // Westchester, Long Island (Nassau 115, Suffolk 117), Yonkers, Jersey City, Albany.
    for zip in ["10701", "10601", "11501", "11701", "07302", "12207", "1120", "abcde"] {
        assert_eq!(zip_locality(zip), None, "{zip}");
    }
    for number in [
        "+12125550100",
        "+16465550100",
        "+13325550100",
        "+17185550100",
        "+13475550100",
        "+19295550100",
        "+19175550100",
    ] {
        assert_eq!(area_code_locality(number), Some(NEW_YORK_CITY), "{number}");
        assert_eq!(area_code_state(number), Some("NY"), "{number}");
    }
    for number in
        ["+15165550100", "+19145550100", "+16315550100", "+12015550100", "+6421255501", "212-555-0100"]
    {
        assert_eq!(area_code_locality(number), None, "{number}");
    }
}

#[test]
fn zip_formats_and_unknowns() {
    assert_eq!(zip_zones("32501-1234"), zip_zones("32501"));
    assert_eq!(zip_zones("325011234"), zip_zones("32501"));
    assert_eq!(zip_zones(" 32501 "), zip_zones("32501"));
    assert_eq!(zip_state("32501-1234"), Some("FL"));
    for bad in ["", "325", "3250", "325012", "32501-", "32501-12", "3250a", "ABCDE", "32501 1234", "١٢٣٤٥"]
    {
        assert_eq!(zip_zones(bad), None, "{bad:?}");
        assert_eq!(zip_state(bad), None, "{bad:?}");
    }
    // Unused prefixes and military mail have no zone.
    for unknown in ["00001", "21301", "52901", "09001", "34001", "96201", "96601"] {
        assert_eq!(zip_zones(unknown), None, "{unknown}");
        assert_eq!(zip_state(unknown), None, "{unknown}");
    }
}

#[test]
fn area_code_spot_checks() {
    let panhandle = area("850");
    assert!(panhandle.contains(&"America/Chicago") && panhandle.contains(&"America/New_York"));
    assert_eq!(area_state("850"), Some("FL"));
    assert_eq!(area("671"), ["Pacific/Guam"]);
    assert_eq!(area_state("671"), Some("GU"));
    assert_eq!(area("808"), ["Pacific/Honolulu"]);
    assert_eq!(area_state("808"), Some("HI"));
    assert_eq!(area("212"), ["America/New_York"]);
    assert_eq!(area_state("212"), Some("NY"));
    assert_eq!(area("310"), ["America/Los_Angeles"]);
    assert_eq!(area_state("310"), Some("CA"));
    assert_eq!(area("670"), ["Pacific/Saipan"]);
    assert_eq!(area("684"), ["Pacific/Pago_Pago"]);
    assert_eq!(area("340"), ["America/St_Thomas"]);
    assert_eq!(area("787"), ["America/Puerto_Rico"]);
    assert_eq!(area("939"), ["America/Puerto_Rico"]);
    assert!(area("915").contains(&"America/Denver"));
    assert!(area("270").contains(&"America/Chicago") && area("270").contains(&"America/New_York"));
    assert!(area("208").contains(&"America/Boise") && area("208").contains(&"America/Los_Angeles"));
    assert!(area("541").contains(&"America/Boise") && area("541").contains(&"America/Los_Angeles"));
    assert!(area("605").contains(&"America/Chicago") && area("605").contains(&"America/Denver"));
    assert!(area("701").contains(&"America/Chicago") && area("701").contains(&"America/Denver"));
    assert!(area("906").contains(&"America/Menominee"));
    assert!(area("928").contains(&"America/Denver") && area("928").contains(&"America/Phoenix"));
    assert!(area("907").contains(&"America/Anchorage") && area("907").contains(&"America/Adak"));
    // Overlays share the zones of the code they overlay.
    assert_eq!(area("448"), area("850"));
    assert_eq!(area("364"), area("270"));
    assert_eq!(area("986"), area("208"));
}

#[test]
fn non_geographic_foreign_and_malformed_numbers_have_no_area_code_zone() {
    let non_geographic = [
        "500", "521", "522", "523", "524", "525", "526", "527", "528", "529", "532", "533", "544", "566",
        "577", "588", "600", "700", "710", "800", "833", "844", "855", "866", "877", "888", "900", "911",
        "411", "611",
    ];
    // Canada and the Caribbean nations of the NANP.
    let foreign = ["204", "416", "514", "604", "403", "902", "242", "246", "441", "809", "829", "876", "868"];
    for npa in non_geographic.iter().chain(&foreign) {
        assert_eq!(area_code_zones(&format!("+1{npa}5550123")), None, "{npa}");
        assert_eq!(area_state(npa), None, "{npa}");
    }
    for bad in [
        "+442079460000",
        "+4418505551234",
        "18505551234",
        "8505551234",
        "+1850555123",
        "+185055512345",
        "+1850555123a",
        "+1 850 555 1234",
        "",
        "+1",
    ] {
        assert_eq!(area_code_zones(bad), None, "{bad:?}");
        assert_eq!(area_code_state(bad), None, "{bad:?}");
    }
}

#[test]
fn area_code_and_zip_tables_agree_on_states() {
    for (npa, zip) in [
        ("212", "10001"),
        ("850", "32501"),
        ("305", "33101"),
        ("915", "79901"),
        ("808", "96813"),
        ("671", "96910"),
        ("670", "96950"),
        ("684", "96799"),
        ("787", "00901"),
        ("340", "00802"),
        ("907", "99501"),
        ("202", "20001"),
        ("270", "42101"),
        ("310", "90210"),
    ] {
        assert!(area_state(npa).is_some(), "{npa}");
        assert_eq!(area_state(npa), zip_state(zip), "{npa} vs {zip}");
    }
}

#[test]
fn state_zones_cover_every_row_of_both_tables() {
    for (file, csv) in [("zip3_zones.csv", ZIP_CSV), ("area_codes.csv", AREA_CODE_CSV)] {
        for (key, zones, state) in parse_rows(file, csv) {
            let all = state_zones(state);
            for zone in zones {
                assert!(all.contains(&zone), "{file} {key}: {} not in state_zones({state})", zone.name());
            }
        }
    }
}

#[test]
fn state_zones_extend_the_built_in_list() {
    for code in us_states::CODES {
        let built_in = base_state_zones(code);
        let zones = names(state_zones(code));
        assert!(zones.len() >= built_in.len(), "{code}");
        // The built-in list comes first, in its order.
        assert_eq!(&zones[..built_in.len()], built_in, "{code}");
    }
    assert_eq!(names(state_zones("ny")), ["America/New_York"]);
    assert_eq!(state_zones(" fl "), state_zones("FL"));
    assert!(names(state_zones("FL")).contains(&"America/Chicago"));
    assert_eq!(names(state_zones("GU")), ["Pacific/Guam"]);
    assert_eq!(names(state_zones("HI")), ["Pacific/Honolulu"]);
    for unknown in ["", "XX", "UM", "New York", "ON"] {
        assert!(state_zones(unknown).is_empty(), "{unknown:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,16}") {
        let _ = zip_zones(&s);
        let _ = zip_state(&s);
        let _ = area_code_zones(&s);
        let _ = area_code_state(&s);
        let _ = state_zones(&s);
    }

    #[test]
    fn any_known_zip_has_zones_in_its_state(zip in "[0-9]{5}") {
        if let (Some(zones), Some(state)) = (zip_zones(&zip), zip_state(&zip)) {
            let all = state_zones(state);
            prop_assert!(zones.iter().all(|zone| all.contains(zone)));
        }
    }
}
