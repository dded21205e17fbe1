//! Who is called: where the callee may be (candidate zones and states from every location
//! signal), the marks on them and their number (Do Not Call, the consumer's own words, a hold),
//! the consent on file and the kind of line. What the contact policy decides about.

use chrono_tz::Tz;

use super::calling_rules::parse_zone;
use super::consumer::TimeRange;
use super::location;

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
