//! Schedule settings: defaults, validation, and how an update merges into a stored schedule.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::customer::CustomerField;
use super::{required_text, Patch, ValidationError};

/// One step of a cadence: `day_offset` days after the customer's local today, at `local_time`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CadenceStep {
    pub day_offset: i32,
    /// "HH:MM", customer-local.
    pub local_time: String,
}

/// A schedule's settings as stored.
/// What a schedule's calls are for: the law differs by purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CallPurpose {
    /// Collecting a debt (FDCPA, Reg F): the default.
    #[default]
    Collection,
    /// Servicing and reminders that ask for no payment and sell nothing.
    Informational,
    /// Selling: the TCPA's telemarketing rules.
    Telemarketing,
}

impl CallPurpose {
    pub fn code(self) -> &'static str {
        match self {
            CallPurpose::Collection => "COLLECTION",
            CallPurpose::Informational => "INFORMATIONAL",
            CallPurpose::Telemarketing => "TELEMARKETING",
        }
    }

    pub fn from_code(code: &str) -> Option<CallPurpose> {
        [CallPurpose::Collection, CallPurpose::Informational, CallPurpose::Telemarketing]
            .into_iter()
            .find(|p| p.code().eq_ignore_ascii_case(code.trim()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSettings {
    pub purpose: CallPurpose,
    pub name: String,
    pub description: Option<String>,
    pub task_type: String,
    pub paused: bool,
    pub time_zone: Option<String>,
    pub calling_hours_start: String,
    pub calling_hours_end: String,
    pub use_do_not_call: bool,
    /// Reg F: a completed call (a conversation) moves the customer's next 7 days of tasks past it.
    pub quiet_period_after_conversation: bool,
    pub cadence: Vec<CadenceStep>,
    pub max_attempts_per_7_days: i32,
    pub sortable_order: Option<f64>,
    pub lead_duplicate_timeframe_seconds: Option<i32>,
    /// The fields its customers must have (campaign-specific validation).
    pub required_customer_fields: Vec<CustomerField>,
}

/// A schedule input: absent keeps (or takes the default), null clears.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchedulePatch {
    pub purpose: Patch<CallPurpose>,
    pub name: Patch<String>,
    pub description: Patch<String>,
    pub task_type: Patch<String>,
    pub paused: Patch<bool>,
    pub time_zone: Patch<String>,
    pub calling_hours_start: Patch<String>,
    pub calling_hours_end: Patch<String>,
    pub use_do_not_call: Patch<bool>,
    pub quiet_period_after_conversation: Patch<bool>,
    pub cadence: Patch<Vec<CadenceStep>>,
    pub max_attempts_per_7_days: Patch<i32>,
    pub sortable_order: Patch<f64>,
    pub lead_duplicate_timeframe_seconds: Patch<i32>,
    pub required_customer_fields: Patch<Vec<CustomerField>>,
}

/// What createSchedule fills in when a field is omitted.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleDefaults {
    pub calling_hours_start: &'static str,
    pub calling_hours_end: &'static str,
    pub use_do_not_call: bool,
    pub cadence: Vec<CadenceStep>,
    /// Reg F 12 CFR 1006.14(b): more than 7 calls in 7 days is presumed harassment.
    pub max_attempts_per_7_days: i32,
    pub paused: bool,
}

pub fn defaults() -> ScheduleDefaults {
    let step = |day_offset, local_time: &str| CadenceStep { day_offset, local_time: local_time.to_string() };
    ScheduleDefaults {
        // FDCPA §1692c(a)(1): 08:00-21:00 at the consumer's location.
        calling_hours_start: "08:00",
        calling_hours_end: "21:00",
        use_do_not_call: true,
        cadence: vec![step(0, "10:00"), step(1, "14:00"), step(3, "11:00"), step(7, "16:00")],
        max_attempts_per_7_days: 7,
        paused: false,
    }
}

pub const MAX_CADENCE_STEPS: usize = 100;
pub const MAX_DAY_OFFSET: i32 = 365;
pub const MAX_ATTEMPTS_PER_7_DAYS: i32 = 100;
pub const MAX_TASK_TYPE_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_DESCRIPTION_LEN: usize = 2000;

/// A new schedule's settings before its input is applied: every default, with an empty name and
/// task type (both required on create). `GET /api/v1/schedules/new` shows these.
pub fn default_settings() -> ScheduleSettings {
    let d = defaults();
    ScheduleSettings {
        purpose: CallPurpose::Collection,
        name: String::new(),
        description: None,
        task_type: String::new(),
        paused: d.paused,
        time_zone: None,
        calling_hours_start: d.calling_hours_start.to_string(),
        calling_hours_end: d.calling_hours_end.to_string(),
        use_do_not_call: d.use_do_not_call,
        quiet_period_after_conversation: true,
        cadence: d.cadence,
        max_attempts_per_7_days: d.max_attempts_per_7_days,
        sortable_order: None,
        lead_duplicate_timeframe_seconds: None,
        required_customer_fields: CustomerField::default_required(),
    }
}

/// Applies `patch` to `existing` (None: a new schedule, omitted fields take the defaults).
pub fn apply_patch(
    existing: Option<&ScheduleSettings>,
    patch: &SchedulePatch,
) -> Result<ScheduleSettings, ValidationError> {
    let mut s = match existing {
        Some(existing) => existing.clone(),
        None => default_settings(),
    };

    // A non-null field: null is refused; on create, absent is refused where there is no default.
    fn not_null<T: Clone>(
        slot: &mut T,
        patch: &Patch<T>,
        field: &str,
        required_on_create: bool,
        is_new: bool,
    ) -> Result<bool, ValidationError> {
        match patch {
            Patch::Set(v) => {
                *slot = v.clone();
                Ok(true)
            }
            Patch::Clear => Err(ValidationError::new(field, format!("{field} cannot be null"))),
            Patch::Keep if required_on_create && is_new => Err(ValidationError::required(field)),
            Patch::Keep => Ok(false),
        }
    }
    let is_new = existing.is_none();

    if not_null(&mut s.name, &patch.name, "name", true, is_new)? {
        s.name = required_text("name", &s.name, MAX_NAME_LEN)?;
    }
    match &patch.description {
        Patch::Keep => {}
        Patch::Clear => s.description = None,
        Patch::Set(d) => {
            let trimmed = d.trim();
            if trimmed.chars().count() > MAX_DESCRIPTION_LEN {
                return Err(ValidationError::new(
                    "description",
                    format!("description must be at most {MAX_DESCRIPTION_LEN} characters"),
                ));
            }
            s.description = (!trimmed.is_empty()).then(|| trimmed.to_string());
        }
    }
    if not_null(&mut s.task_type, &patch.task_type, "taskType", true, is_new)? {
        s.task_type = required_text("taskType", &s.task_type, MAX_TASK_TYPE_LEN)?;
    }
    not_null(&mut s.paused, &patch.paused, "paused", false, is_new)?;
    match &patch.time_zone {
        Patch::Keep => {}
        Patch::Clear => s.time_zone = None,
        Patch::Set(tz) => {
            let parsed = chrono_tz::Tz::from_str(tz.trim()).map_err(|_| {
                ValidationError::new("timeZone", "must be an IANA time zone name such as America/Chicago")
            })?;
            s.time_zone = Some(parsed.name().to_string());
        }
    }
    if not_null(&mut s.calling_hours_start, &patch.calling_hours_start, "callingHoursStart", false, is_new)? {
        s.calling_hours_start = parse_hhmm("callingHoursStart", &s.calling_hours_start)?.1;
    }
    if not_null(&mut s.calling_hours_end, &patch.calling_hours_end, "callingHoursEnd", false, is_new)? {
        s.calling_hours_end = parse_hhmm("callingHoursEnd", &s.calling_hours_end)?.1;
    }
    // Compared on the merged result: an update may move one end only.
    let (start, _) = parse_hhmm("callingHoursStart", &s.calling_hours_start)?;
    let (end, _) = parse_hhmm("callingHoursEnd", &s.calling_hours_end)?;
    if start >= end {
        let field = if patch.calling_hours_end.is_keep() { "callingHoursStart" } else { "callingHoursEnd" };
        return Err(ValidationError::new(field, "callingHoursStart must be before callingHoursEnd"));
    }
    not_null(&mut s.use_do_not_call, &patch.use_do_not_call, "useDoNotCall", false, is_new)?;
    not_null(
        &mut s.quiet_period_after_conversation,
        &patch.quiet_period_after_conversation,
        "quietPeriodAfterConversation",
        false,
        is_new,
    )?;
    not_null(&mut s.purpose, &patch.purpose, "purpose", false, is_new)?;
    // Reg F 12 CFR 1006.14(b)(2)(ii): a collector waits 7 days after a conversation.
    if s.purpose == CallPurpose::Collection && !s.quiet_period_after_conversation {
        let field = if patch.quiet_period_after_conversation.is_keep() {
            "purpose"
        } else {
            "quietPeriodAfterConversation"
        };
        let message = "a COLLECTION schedule keeps quietPeriodAfterConversation on (Reg F 12 CFR 1006.14(b)); switch it off only for an INFORMATIONAL or TELEMARKETING purpose";
        return Err(ValidationError::new(field, message));
    }
    if not_null(&mut s.cadence, &patch.cadence, "cadence", false, is_new)? {
        s.cadence = validate_cadence(&s.cadence)?;
    }
    if not_null(
        &mut s.max_attempts_per_7_days,
        &patch.max_attempts_per_7_days,
        "maxAttemptsPer7Days",
        false,
        is_new,
    )? && !(1..=MAX_ATTEMPTS_PER_7_DAYS).contains(&s.max_attempts_per_7_days)
    {
        return Err(ValidationError::new(
            "maxAttemptsPer7Days",
            format!("maxAttemptsPer7Days must be between 1 and {MAX_ATTEMPTS_PER_7_DAYS}"),
        ));
    }
    match patch.sortable_order {
        Patch::Keep => {}
        Patch::Clear => s.sortable_order = None,
        Patch::Set(v) if v.is_finite() => s.sortable_order = Some(v),
        Patch::Set(_) => return Err(ValidationError::new("sortableOrder", "must be a finite number")),
    }
    match patch.lead_duplicate_timeframe_seconds {
        Patch::Keep => {}
        Patch::Clear => s.lead_duplicate_timeframe_seconds = None,
        Patch::Set(v) if v >= 0 => s.lead_duplicate_timeframe_seconds = Some(v),
        Patch::Set(_) => {
            return Err(ValidationError::new("leadDuplicateTimeframeSeconds", "must be zero or more seconds"))
        }
    }
    if not_null(
        &mut s.required_customer_fields,
        &patch.required_customer_fields,
        "requiredCustomerFields",
        false,
        is_new,
    )? {
        // A set: the order is the API's, each field once.
        s.required_customer_fields =
            CustomerField::ALL.into_iter().filter(|f| s.required_customer_fields.contains(f)).collect();
    }
    Ok(s)
}

/// Parses strict 24-hour "HH:MM": minutes since midnight and the canonical text.
pub fn parse_hhmm(field: &str, value: &str) -> Result<(u32, String), ValidationError> {
    let err = || ValidationError::new(field, "must be a 24-hour time as HH:MM, e.g. 09:30");
    let b = value.trim().as_bytes();
    if b.len() != 5 || b[2] != b':' || !b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit()) {
        return Err(err());
    }
    let hours = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
    let minutes = u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0');
    if hours > 23 || minutes > 59 {
        return Err(err());
    }
    Ok((hours * 60 + minutes, format!("{hours:02}:{minutes:02}")))
}

/// Checks every step and returns the steps sorted by (dayOffset, localTime).
pub fn validate_cadence(steps: &[CadenceStep]) -> Result<Vec<CadenceStep>, ValidationError> {
    if steps.is_empty() {
        return Err(ValidationError::new("cadence", "cadence needs at least one step"));
    }
    if steps.len() > MAX_CADENCE_STEPS {
        return Err(ValidationError::new(
            "cadence",
            format!("cadence may have at most {MAX_CADENCE_STEPS} steps"),
        ));
    }
    let mut sorted = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        if !(0..=MAX_DAY_OFFSET).contains(&step.day_offset) {
            return Err(ValidationError::new(
                "cadence",
                format!("cadence[{i}].dayOffset must be between 0 and {MAX_DAY_OFFSET}"),
            ));
        }
        let (_, local_time) = parse_hhmm("cadence", &step.local_time).map_err(|_| {
            ValidationError::new("cadence", format!("cadence[{i}].localTime must be HH:MM (24-hour)"))
        })?;
        sorted.push(CadenceStep { day_offset: step.day_offset, local_time });
    }
    sorted.sort();
    if let Some(pair) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(ValidationError::new(
            "cadence",
            format!("cadence has the step day {} at {} twice", pair[0].day_offset, pair[0].local_time),
        ));
    }
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn new_patch() -> SchedulePatch {
        SchedulePatch {
            name: Patch::Set("Collections".into()),
            task_type: Patch::Set("collections".into()),
            ..Default::default()
        }
    }

    fn step(day_offset: i32, local_time: &str) -> CadenceStep {
        CadenceStep { day_offset, local_time: local_time.into() }
    }

    #[test]
    fn create_fills_defaults() {
        let s = apply_patch(None, &new_patch()).unwrap();
        let d = defaults();
        assert_eq!(s.calling_hours_start, "08:00");
        assert_eq!(s.calling_hours_end, "21:00");
        assert_eq!(s.cadence, d.cadence);
        assert_eq!(s.max_attempts_per_7_days, 7);
        assert!(s.use_do_not_call);
        assert!(!s.paused);
    }

    #[test]
    fn create_requires_name_and_task_type() {
        let mut p = new_patch();
        p.name = Patch::Keep;
        assert_eq!(apply_patch(None, &p).unwrap_err().field, "name");
        let mut p = new_patch();
        p.task_type = Patch::Set("  ".into());
        assert_eq!(apply_patch(None, &p).unwrap_err().field, "taskType");
    }

    #[test]
    fn bad_values_are_named() {
        type Mutate = Box<dyn Fn(&mut SchedulePatch)>;
        let cases: Vec<(&str, Mutate)> = vec![
            ("callingHoursStart", Box::new(|p| p.calling_hours_start = Patch::Set("8:00".into()))),
            ("callingHoursStart", Box::new(|p| p.calling_hours_start = Patch::Set("24:00".into()))),
            ("callingHoursEnd", Box::new(|p| p.calling_hours_end = Patch::Set("21:60".into()))),
            (
                "callingHoursEnd",
                Box::new(|p| {
                    p.calling_hours_start = Patch::Set("12:00".into());
                    p.calling_hours_end = Patch::Set("12:00".into());
                }),
            ),
            ("cadence", Box::new(|p| p.cadence = Patch::Set(vec![]))),
            ("cadence", Box::new(|p| p.cadence = Patch::Set(vec![step(-1, "10:00")]))),
            ("cadence", Box::new(|p| p.cadence = Patch::Set(vec![step(1, "25:00")]))),
            ("cadence", Box::new(|p| p.cadence = Patch::Set(vec![step(1, "10:00"), step(1, "10:00")]))),
            ("maxAttemptsPer7Days", Box::new(|p| p.max_attempts_per_7_days = Patch::Set(0))),
            ("timeZone", Box::new(|p| p.time_zone = Patch::Set("Nowhere/Land".into()))),
            (
                "leadDuplicateTimeframeSeconds",
                Box::new(|p| p.lead_duplicate_timeframe_seconds = Patch::Set(-1)),
            ),
            ("sortableOrder", Box::new(|p| p.sortable_order = Patch::Set(f64::NAN))),
            ("paused", Box::new(|p| p.paused = Patch::Clear)),
            ("name", Box::new(|p| p.name = Patch::Set("x".repeat(201)))),
        ];
        for (field, mutate) in cases {
            let mut p = new_patch();
            mutate(&mut p);
            assert_eq!(apply_patch(None, &p).unwrap_err().field, field, "{p:?}");
        }
    }

    #[test]
    fn cadence_is_sorted() {
        let mut p = new_patch();
        p.cadence = Patch::Set(vec![step(3, "09:00"), step(0, "17:00"), step(0, "09:30")]);
        let s = apply_patch(None, &p).unwrap();
        assert_eq!(s.cadence, vec![step(0, "09:30"), step(0, "17:00"), step(3, "09:00")]);
    }

    #[test]
    fn update_keeps_omitted_and_clears_null() {
        let mut p = new_patch();
        p.description = Patch::Set("first".into());
        p.time_zone = Patch::Set("America/Chicago".into());
        let created = apply_patch(None, &p).unwrap();
        let update = SchedulePatch {
            description: Patch::Clear,
            calling_hours_end: Patch::Set("20:00".into()),
            ..Default::default()
        };
        let updated = apply_patch(Some(&created), &update).unwrap();
        assert_eq!(updated.description, None);
        assert_eq!(updated.time_zone.as_deref(), Some("America/Chicago"));
        assert_eq!(updated.calling_hours_end, "20:00");
        assert_eq!(updated.name, created.name);
        // Moving the start past the stored end is caught on the merged result.
        let bad = SchedulePatch { calling_hours_start: Patch::Set("20:30".into()), ..Default::default() };
        assert_eq!(apply_patch(Some(&updated), &bad).unwrap_err().field, "callingHoursStart");
    }

    proptest! {
        #[test]
        fn hhmm_round_trips(h in 0u32..24, m in 0u32..60) {
            let text = format!("{h:02}:{m:02}");
            prop_assert_eq!(parse_hhmm("f", &text).unwrap(), (h * 60 + m, text.clone()));
        }

        #[test]
        fn valid_cadences_come_back_sorted_and_complete(
            steps in proptest::collection::btree_set((0i32..=365, 0u32..24, 0u32..60), 1..20)
        ) {
            let mut input: Vec<CadenceStep> = steps.iter()
                .map(|(d, h, m)| step(*d, &format!("{h:02}:{m:02}"))).collect();
            input.reverse();
            let out = validate_cadence(&input).unwrap();
            prop_assert_eq!(out.len(), input.len());
            prop_assert!(out.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
