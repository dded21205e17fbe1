//! Candidate time zones of a US consumer from location signals: the ZIP code's 3-digit prefix,
//! the phone number's area code, the state.
//!
//! Each signal gives a *set* of zones, every zone the signal may stand for (the Florida panhandle
//! prefix 324 is both Central and Eastern, area code 850 likewise). How the sets are combined is
//! left to the caller; a call is compliant only if it is legal in every candidate zone.
//!
//! The data lives in two CSV files next to this module, each citing its sources in its header:
//! - `data/zip3_zones.csv`: `prefix,zone1;zone2;...,STATE`, one row per 3-digit ZIP prefix in
//!   use (military APO/FPO prefixes are left out: unknown), plus a few 5-digit rows for ZIPs that
//!   lie in another state or territory than the rest of their prefix (e.g. `96799` American
//!   Samoa inside Hawaii's `967`); a 5-digit row wins over its prefix's row.
//! - `data/area_codes.csv`: `npa,zone1;zone2;...,STATE`, geographic NANP area codes of the US and
//!   its territories only; toll-free, other non-geographic, Canadian and Caribbean codes are
//!   absent, i.e. unknown.
//!
//! Both files are compiled in and parsed once. Unknown or malformed input gives `None` (or an
//! empty slice): no zone from that signal.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono_tz::Tz;

use super::{calling_rules, us_states};

const ZIP_CSV: &str = include_str!("data/zip3_zones.csv");
const AREA_CODE_CSV: &str = include_str!("data/area_codes.csv");

/// One data row: the zones of a place and its state or territory code.
#[derive(Debug)]
struct Place {
    zones: Vec<Tz>,
    state: &'static str,
}

struct Tables {
    /// 3-digit ZIP prefix -> place.
    zip3: HashMap<&'static str, Place>,
    /// 5-digit ZIPs that override their prefix (another state or territory).
    zip5: HashMap<&'static str, Place>,
    /// Area code (3 digits) -> place.
    area_codes: HashMap<&'static str, Place>,
    /// State code -> every zone of the state (see [`state_zones`]).
    states: HashMap<&'static str, Vec<Tz>>,
}

/// One parsed CSV line: key, zones, state.
type Row = (&'static str, Vec<Tz>, &'static str);

/// Parses the rows of one of the data files. The files are compiled in and checked by the tests,
/// so a malformed row is a bug in the data: panic rather than silently lose a zone.
fn parse_rows(file: &str, csv: &'static str) -> Vec<Row> {
    csv.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
        .map(|(index, line)| match parse_row(line.trim()) {
            Ok(row) => row,
            Err(error) => panic!("{file} line {}: {error}: {line:?}", index + 1),
        })
        .collect()
}

fn parse_row(line: &'static str) -> Result<Row, String> {
    let fields: Vec<&'static str> = line.split(',').map(str::trim).collect();
    let [key, zones, state] = fields[..] else {
        return Err(format!("expected 3 fields, found {}", fields.len()));
    };
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("key {key:?} is not all digits"));
    }
    if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("state {state:?} is not a 2-letter code"));
    }
    let mut parsed = Vec::new();
    for name in zones.split(';').map(str::trim) {
        let zone = calling_rules::parse_zone(name).ok_or_else(|| format!("unknown time zone {name:?}"))?;
        if !parsed.contains(&zone) {
            parsed.push(zone);
        }
    }
    Ok((key, parsed, state))
}

/// Adds `zones` to `into`, keeping the order and skipping ones already there.
fn add_zones(into: &mut Vec<Tz>, zones: impl IntoIterator<Item = Tz>) {
    for zone in zones {
        if !into.contains(&zone) {
            into.push(zone);
        }
    }
}

fn insert_unique(map: &mut HashMap<&'static str, Place>, file: &str, row: Row) {
    let (key, zones, state) = row;
    if map.insert(key, Place { zones, state }).is_some() {
        panic!("{file}: duplicate key {key}");
    }
}

fn build() -> Tables {
    let mut zip3 = HashMap::new();
    let mut zip5 = HashMap::new();
    for row in parse_rows("zip3_zones.csv", ZIP_CSV) {
        match row.0.len() {
            3 => insert_unique(&mut zip3, "zip3_zones.csv", row),
            5 => insert_unique(&mut zip5, "zip3_zones.csv", row),
            _ => panic!("zip3_zones.csv: key {} is neither a 3-digit prefix nor a ZIP", row.0),
        }
    }
    let mut area_codes = HashMap::new();
    for row in parse_rows("area_codes.csv", AREA_CODE_CSV) {
        if row.0.len() != 3 {
            panic!("area_codes.csv: key {} is not a 3-digit area code", row.0);
        }
        insert_unique(&mut area_codes, "area_codes.csv", row);
    }

    // Every zone of a state: the built-in list first (it keeps its order), then each zone that a
    // ZIP or an area code of the state has in the tables.
    let mut states: HashMap<&'static str, Vec<Tz>> = HashMap::new();
    let codes = us_states::CODES.iter().copied();
    let places = zip3.values().chain(zip5.values()).chain(area_codes.values());
    for code in codes.chain(places.clone().map(|place| place.state)) {
        if !states.contains_key(code) {
            let known = base_state_zones(code).iter().filter_map(|name| calling_rules::parse_zone(name));
            states.insert(code, known.collect());
        }
    }
    // Sorted so that the order of the extra zones does not depend on hash order.
    let mut places: Vec<&Place> = places.collect();
    places.sort_by_key(|place| (place.state, place.zones.iter().map(|zone| zone.name()).collect::<Vec<_>>()));
    for place in places {
        if let Some(zones) = states.get_mut(place.state) {
            add_zones(zones, place.zones.iter().copied());
        }
    }
    states.retain(|_, zones| !zones.is_empty());

    Tables { zip3, zip5, area_codes, states }
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build)
}

/// The 5 digits of a ZIP or ZIP+4 (`"32501"`, `"32501-1234"`, `"325011234"`), surrounding
/// whitespace allowed.
fn zip5_of(zip: &str) -> Option<&str> {
    let zip = zip.trim();
    let bytes = zip.as_bytes();
    let digits = |range: &[u8]| range.iter().all(u8::is_ascii_digit);
    let well_formed = match bytes.len() {
        5 => digits(bytes),
        9 => digits(bytes),
        10 => digits(&bytes[..5]) && bytes[5] == b'-' && digits(&bytes[6..]),
        _ => false,
    };
    well_formed.then(|| &zip[..5])
}

fn zip_place(zip: &str) -> Option<&'static Place> {
    let zip5 = zip5_of(zip)?;
    let tables = tables();
    tables.zip5.get(zip5).or_else(|| tables.zip3.get(&zip5[..3]))
}

/// The area code of a `+1` E.164 number (`"+18505551234"` -> `"850"`).
fn area_code_of(e164: &str) -> Option<&str> {
    let national = e164.trim().strip_prefix("+1")?;
    (national.len() == 10 && national.bytes().all(|b| b.is_ascii_digit())).then(|| &national[..3])
}

fn area_code_place(e164: &str) -> Option<&'static Place> {
    tables().area_codes.get(area_code_of(e164)?)
}

/// Every zone the ZIP's area may be in, by its 3-digit prefix (or the ZIP itself where it lies in
/// another state than its prefix). Accepts `"32501"`, `"32501-1234"` and `"325011234"`. `None`
/// for a malformed ZIP, an unused prefix or a military (APO/FPO/DPO) one.
pub fn zip_zones(zip: &str) -> Option<&'static [Tz]> {
    zip_place(zip).map(|place| place.zones.as_slice())
}

/// The state or territory code of the ZIP's prefix (see [`zip_zones`]), if known. ZIPs of the
/// freely associated states that share Guam's prefix give `"FM"`, `"MH"` or `"PW"`.
pub fn zip_state(zip: &str) -> Option<&'static str> {
    zip_place(zip).map(|place| place.state)
}

/// Every zone served by the area code of a `+1` E.164 number (`"+18505551234"` -> 850 -> Central
/// and Eastern). `None` for other country codes, malformed numbers, non-geographic codes
/// (toll-free, 5XX, 900, ...), Canadian and Caribbean codes and unknown codes.
pub fn area_code_zones(e164: &str) -> Option<&'static [Tz]> {
    area_code_place(e164).map(|place| place.zones.as_slice())
}

/// The state or territory code of the number's area code (see [`area_code_zones`]), if known.
pub fn area_code_state(e164: &str) -> Option<&'static str> {
    area_code_place(e164).map(|place| place.state)
}

/// New York City's locality code (its DCWP rules, 6 RCNY 5-77, bind collectors calling there).
pub const NEW_YORK_CITY: &str = "NY-NYC";

/// 3-digit ZIP prefixes of New York City's five boroughs: Manhattan 100-102, Staten Island 103,
/// the Bronx 104, Queens 110, 111, 113, 114 and 116, Brooklyn 112. Whole prefixes are taken,
/// so a few Nassau County ZIPs in 110 (Great Neck, Floral Park...) count as the city: the
/// stricter reading, since a consumer there may be held to the city's rules too.
const NYC_ZIP3: &[&str] = &["100", "101", "102", "103", "104", "110", "111", "112", "113", "114", "116"];

/// Area codes serving New York City alone: 212, 646 and 332 (Manhattan), 718, 347 and 929 (the
/// other boroughs), 917 (the whole city). 516, 914 and others reach beyond it: not counted.
const NYC_AREA_CODES: &[&str] = &["212", "332", "347", "646", "718", "917", "929"];

/// The locality (below the state) a ZIP code lies in, if callsync has rules for one there:
/// `NY-NYC` for a New York City ZIP.
pub fn zip_locality(zip: &str) -> Option<&'static str> {
    let zip5 = zip5_of(zip)?;
    NYC_ZIP3.contains(&&zip5[..3]).then_some(NEW_YORK_CITY)
}

/// The locality a number's area code serves alone, if callsync has rules for one there:
/// `NY-NYC` for New York City's area codes.
pub fn area_code_locality(e164: &str) -> Option<&'static str> {
    NYC_AREA_CODES.contains(&area_code_of(e164)?).then_some(NEW_YORK_CITY)
}

/// The one zone a customer with no timezone of its own is in, if the location data says so:
/// the ZIP code's, when it has a single zone, else the area code's, when it has a single zone.
/// (The contact policy still checks every candidate zone; this only fills `timezone`.)
pub fn single_zone(zip: Option<&str>, e164: Option<&str>) -> Option<Tz> {
    let single = |zones: Option<&'static [Tz]>| match zones {
        Some([zone]) => Some(*zone),
        _ => None,
    };
    zip.and_then(|zip| single(zip_zones(zip))).or_else(|| e164.and_then(|n| single(area_code_zones(n))))
}

/// Every zone of a state or territory code (the 50 states, DC, PR, VI, GU, MP, AS; case and
/// surrounding whitespace ignored): the zones of its main time-zone areas plus every zone
/// any ZIP prefix or area code of the state has in the tables, so it is a superset of what
/// [`zip_zones`] and [`area_code_zones`] give for that state. Empty for an unknown code.
pub fn state_zones(state: &str) -> &'static [Tz] {
    let code = state.trim().to_ascii_uppercase();
    tables().states.get(code.as_str()).map_or(&[], Vec::as_slice)
}

/// The zones of each state by its main time-zone areas (the tables add the rest).
fn base_state_zones(state: &str) -> &'static [&'static str] {
    const ET: &str = "America/New_York";
    const CT: &str = "America/Chicago";
    const MT: &str = "America/Denver";
    const PT: &str = "America/Los_Angeles";
    match state {
        "CT" | "DE" | "DC" | "GA" | "ME" | "MD" | "MA" | "NH" | "NJ" | "NY" | "NC" | "PA" | "RI" | "SC"
        | "VT" | "VA" | "WV" => &[ET],
        "OH" => &[ET, "America/Detroit"],
        "AL" | "AR" | "IL" | "IA" | "LA" | "MN" | "MS" | "MO" | "OK" | "WI" => &[CT],
        "CO" | "MT" | "NM" | "UT" | "WY" => &[MT],
        "CA" | "WA" => &[PT],
        "NV" => &[PT, MT],
        "OR" => &[PT, "America/Boise"],
        "ID" => &["America/Boise", PT],
        "AZ" => &["America/Phoenix", MT],
        "FL" => &[ET, CT],
        "TN" => &[CT, ET],
        "KY" => &[ET, "America/Kentucky/Louisville", "America/Kentucky/Monticello", CT],
        "MI" => &["America/Detroit", ET, CT, "America/Menominee"],
        "IN" => &[
            "America/Indiana/Indianapolis",
            ET,
            CT,
            "America/Indiana/Knox",
            "America/Indiana/Marengo",
            "America/Indiana/Petersburg",
            "America/Indiana/Tell_City",
            "America/Indiana/Vevay",
            "America/Indiana/Vincennes",
            "America/Indiana/Winamac",
        ],
        "KS" | "NE" | "SD" => &[CT, MT],
        "ND" => &[
            CT,
            MT,
            "America/North_Dakota/Center",
            "America/North_Dakota/New_Salem",
            "America/North_Dakota/Beulah",
        ],
        "TX" => &[CT, MT],
        "AK" => &[
            "America/Anchorage",
            "America/Juneau",
            "America/Sitka",
            "America/Yakutat",
            "America/Nome",
            "America/Metlakatla",
            "America/Adak",
        ],
        "HI" => &["Pacific/Honolulu"],
        "PR" => &["America/Puerto_Rico"],
        "VI" => &["America/St_Thomas"],
        "GU" => &["Pacific/Guam"],
        "MP" => &["Pacific/Saipan"],
        "AS" => &["Pacific/Pago_Pago"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests;
