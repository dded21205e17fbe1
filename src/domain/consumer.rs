//! What the consumer gave or told: consent for a number (with its evidence) and the times they
//! said are inconvenient. Validated here, once, for every door.

use chrono::{DateTime, Duration, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::schedule::parse_hhmm;
use super::ValidationError;

/// Consent types, strongest last (`ConsentType` in the API).
pub const CONSENT_TYPES: [&str; 2] = ["PRIOR_EXPRESS", "PRIOR_EXPRESS_WRITTEN"];
/// Where a consent came from (`ConsentSource`).
pub const CONSENT_SOURCES: [&str; 5] =
    ["PROVIDED_BY_CONSUMER", "WEB_FORM", "RECORDED_CALL", "SIGNED_AGREEMENT", "OTHER"];
/// Most characters of a consent's `evidence` (a certificate URL, a recording id…).
pub const MAX_EVIDENCE: usize = 2000;
/// Most inconvenient-time ranges on one customer.
pub const MAX_TIME_RANGES: usize = 50;

/// A consent as given with a request (recordConsent, makeCall, a customer input).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentGiven {
    pub consent_type: &'static str,
    pub source: &'static str,
    pub evidence: Option<String>,
    pub obtained_at: DateTime<Utc>,
}

impl ConsentGiven {
    /// A consent read from raw codes (REST bodies); an unknown code is BAD_USER_INPUT naming
    /// `field`.type / .source.
    pub fn from_codes(
        field: &str,
        consent_type: &str,
        source: &str,
        evidence: Option<String>,
        obtained_at: DateTime<Utc>,
    ) -> Result<ConsentGiven, ValidationError> {
        let pick = |list: &[&'static str], value: &str, name: &str| {
            list.iter().copied().find(|c| c.eq_ignore_ascii_case(value.trim())).ok_or_else(|| {
                ValidationError::new(format!("{field}.{name}"), format!("must be one of {}", list.join(", ")))
            })
        };
        Ok(ConsentGiven {
            consent_type: pick(&CONSENT_TYPES, consent_type, "type")?,
            source: pick(&CONSENT_SOURCES, source, "source")?,
            evidence,
            obtained_at,
        })
    }

    /// The consent as it may be recorded at `now`: obtained in the future (beyond a minute of
    /// clock skew) or evidence over [`MAX_EVIDENCE`] characters is BAD_USER_INPUT naming
    /// `field`.obtainedAt / .evidence. Blank evidence is none.
    pub fn validated(&self, field: &str, now: DateTime<Utc>) -> Result<ConsentGiven, ValidationError> {
        if self.obtained_at > now + Duration::minutes(1) {
            let message = "obtainedAt must not be in the future";
            return Err(ValidationError::new(format!("{field}.obtainedAt"), message));
        }
        let evidence = self.evidence.as_deref().map(str::trim).filter(|e| !e.is_empty());
        if evidence.is_some_and(|e| e.chars().count() > MAX_EVIDENCE) {
            let message = format!("evidence must be at most {MAX_EVIDENCE} characters");
            return Err(ValidationError::new(format!("{field}.evidence"), message));
        }
        Ok(ConsentGiven { evidence: evidence.map(str::to_string), ..self.clone() })
    }
}

/// A weekly block of customer-local time the consumer named as inconvenient (Reg F 12 CFR
/// 1006.6(b)(1)): on each of `days`, from `start` (inclusive) to `end` (exclusive), in minutes
/// after local midnight; `end` may be 1440 (midnight). An overnight block is two ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTimeRange", into = "RawTimeRange")]
pub struct TimeRange {
    pub days: Vec<Weekday>,
    pub start: u32,
    pub end: u32,
}

/// A time range as given and as stored: day codes and "HH:MM" times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawTimeRange {
    pub days: Vec<String>,
    pub start: String,
    pub end: String,
}

const DAY_CODES: [(&str, Weekday); 7] = [
    ("MON", Weekday::Mon),
    ("TUE", Weekday::Tue),
    ("WED", Weekday::Wed),
    ("THU", Weekday::Thu),
    ("FRI", Weekday::Fri),
    ("SAT", Weekday::Sat),
    ("SUN", Weekday::Sun),
];

pub fn day_code(day: Weekday) -> &'static str {
    DAY_CODES.iter().find(|(_, d)| *d == day).map_or("MON", |(c, _)| c)
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl TimeRange {
    /// Whether local `minute` (after midnight) of a `day` falls in the range.
    pub fn contains(&self, day: Weekday, minute: u32) -> bool {
        self.days.contains(&day) && (self.start..self.end).contains(&minute)
    }

    pub fn start_text(&self) -> String {
        hhmm(self.start)
    }

    pub fn end_text(&self) -> String {
        hhmm(self.end)
    }

    /// One range as given, its errors naming `field` (`inconvenientTimes.N`).
    pub fn parse(field: &str, raw: &RawTimeRange) -> Result<TimeRange, ValidationError> {
        if raw.days.is_empty() {
            return Err(ValidationError::new(format!("{field}.days"), "days needs at least one weekday"));
        }
        let mut days = Vec::with_capacity(raw.days.len());
        for code in &raw.days {
            let day = DAY_CODES.iter().find(|(c, _)| c.eq_ignore_ascii_case(code.trim())).map(|(_, d)| *d);
            let day = day.ok_or_else(|| {
                ValidationError::new(
                    format!("{field}.days"),
                    "days must be of MON, TUE, WED, THU, FRI, SAT, SUN",
                )
            })?;
            if !days.contains(&day) {
                days.push(day);
            }
        }
        let start = parse_hhmm(&format!("{field}.start"), &raw.start)?.0;
        // "24:00" ends a range at midnight; any other hour past 23 is no time of day.
        let end = match raw.end.trim() {
            "24:00" => 24 * 60,
            text => parse_hhmm(&format!("{field}.end"), text)?.0,
        };
        if end <= start {
            let message = "end must be after start (an overnight block is two ranges)";
            return Err(ValidationError::new(format!("{field}.end"), message));
        }
        Ok(TimeRange { days, start, end })
    }

    /// A customer's `inconvenientTimes` as given, each error naming
    /// `inconvenientTimes.N.start|end|days`.
    pub fn parse_all(raw: &[RawTimeRange]) -> Result<Vec<TimeRange>, ValidationError> {
        if raw.len() > MAX_TIME_RANGES {
            let message = format!("at most {MAX_TIME_RANGES} ranges");
            return Err(ValidationError::new("inconvenientTimes", message));
        }
        raw.iter().enumerate().map(|(i, r)| TimeRange::parse(&format!("inconvenientTimes.{i}"), r)).collect()
    }
}

impl TryFrom<RawTimeRange> for TimeRange {
    type Error = ValidationError;

    fn try_from(raw: RawTimeRange) -> Result<Self, Self::Error> {
        TimeRange::parse("inconvenientTimes", &raw)
    }
}

impl From<TimeRange> for RawTimeRange {
    fn from(range: TimeRange) -> Self {
        RawTimeRange {
            days: range.days.iter().map(|d| day_code(*d).to_string()).collect(),
            start: range.start_text(),
            end: range.end_text(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(days: &[&str], start: &str, end: &str) -> RawTimeRange {
        RawTimeRange {
            days: days.iter().map(|d| d.to_string()).collect(),
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn ranges_are_checked_field_by_field() {
        let field =
            |r: RawTimeRange| TimeRange::parse_all(&[raw(&["MON"], "09:00", "10:00"), r]).unwrap_err().field;
        assert_eq!(field(raw(&["MON"], "25:00", "26:00")), "inconvenientTimes.1.start");
        assert_eq!(field(raw(&["MON"], "09:00", "25:00")), "inconvenientTimes.1.end");
        assert_eq!(field(raw(&["MON"], "10:00", "09:00")), "inconvenientTimes.1.end");
        assert_eq!(field(raw(&["MON"], "10:00", "10:00")), "inconvenientTimes.1.end");
        assert_eq!(field(raw(&["FUNDAY"], "09:00", "10:00")), "inconvenientTimes.1.days");
        assert_eq!(field(raw(&[], "09:00", "10:00")), "inconvenientTimes.1.days");
        let whole = TimeRange::parse("r", &raw(&["sun", "SUN"], "18:00", "24:00")).unwrap();
        assert_eq!(whole, TimeRange { days: vec![Weekday::Sun], start: 18 * 60, end: 24 * 60 });
        assert!(whole.contains(Weekday::Sun, 23 * 60 + 59) && !whole.contains(Weekday::Sun, 17 * 60));
    }

    #[test]
    fn a_range_round_trips_through_its_stored_form() {
        let range = TimeRange { days: vec![Weekday::Tue, Weekday::Thu], start: 540, end: 1440 };
        let json = serde_json::to_value(&range).unwrap();
        assert_eq!(json, serde_json::json!({"days": ["TUE", "THU"], "start": "09:00", "end": "24:00"}));
        assert_eq!(serde_json::from_value::<TimeRange>(json).unwrap(), range);
    }

    #[test]
    fn consent_in_the_future_or_with_long_evidence_is_refused() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let given = ConsentGiven::from_codes("consent", "prior_express", "WEB_FORM", None, now).unwrap();
        assert_eq!(given.consent_type, "PRIOR_EXPRESS");
        let future = ConsentGiven { obtained_at: now + Duration::hours(1), ..given.clone() };
        assert_eq!(future.validated("consent", now).unwrap_err().field, "consent.obtainedAt");
        let long = ConsentGiven { evidence: Some("x".repeat(MAX_EVIDENCE + 1)), ..given.clone() };
        assert_eq!(long.validated("consent", now).unwrap_err().field, "consent.evidence");
        let blank = ConsentGiven { evidence: Some("  ".into()), ..given.clone() };
        assert_eq!(blank.validated("consent", now).unwrap().evidence, None);
        let err = ConsentGiven::from_codes("consent", "VERBAL", "WEB_FORM", None, now).unwrap_err();
        assert_eq!(err.field, "consent.type");
    }
}
