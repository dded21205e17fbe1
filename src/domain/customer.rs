//! Customer validation and normalisation: what createCustomer, upsertCustomer and
//! syncCustomerSchedule accept, and how a partial input merges into a stored customer.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::consumer::{ConsentGiven, RawTimeRange, TimeRange};
use super::contact_policy::LineType;
pub use super::customer_field::CustomerField;
use super::{location, required_text, us_states, Patch, ValidationError, MAX_TEXT_LEN};

/// Largest accepted `externalMetadata`, serialised.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// A customer's fields as stored: normalised (E.164 phone, upper-case state, trimmed text).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerRecord {
    pub external_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub ssn_last_four: Option<String>,
    pub phone_number: Option<String>,
    pub timezone: Option<String>,
    pub task_type: Option<String>,
    pub street_address1: Option<String>,
    pub street_address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub do_not_call: bool,
    pub is_test: bool,
    pub external_metadata: Option<Map<String, Value>>,
    /// The timezone was inferred from the ZIP code or area code, not given.
    pub timezone_inferred: bool,
    /// What line the number is on; None: unknown (treated as a cell). Back to unknown when the
    /// number changes without a new line type.
    pub phone_line_type: Option<LineType>,
    /// Customer-local weekly ranges the consumer said are inconvenient.
    pub inconvenient_times: Vec<TimeRange>,
    /// A consent given with this input for the customer's number (recorded with it; not a
    /// column of the customer).
    pub consent: Option<ConsentGiven>,
    /// A link to the customer's picture (http or https).
    pub picture_url: Option<String>,
}

/// A customer input as received: every field absent, null or a raw value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerPatch {
    pub external_id: String,
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub email: Patch<String>,
    /// Raw `YYYY-MM-DD`, parsed here so a bad date is a field error, not a parse failure.
    pub birthday: Patch<String>,
    pub ssn_last_four: Patch<String>,
    pub phone_number: Patch<String>,
    pub timezone: Patch<String>,
    pub task_type: Patch<String>,
    pub street_address1: Patch<String>,
    pub street_address2: Patch<String>,
    pub city: Patch<String>,
    pub state: Patch<String>,
    pub zip_code: Patch<String>,
    pub do_not_call: Patch<bool>,
    pub is_test: Patch<bool>,
    pub external_metadata: Patch<Value>,
    /// A `LineType` code.
    pub phone_line_type: Patch<String>,
    pub inconvenient_times: Patch<Vec<RawTimeRange>>,
    /// A consent for the input's number, recorded with the customer.
    pub consent: Option<ConsentGiven>,
    pub picture_url: Patch<String>,
    /// LMS enrichment (`sync: true`) may leave phone and timezone missing: the customer is saved
    /// and simply gets no schedule.
    pub contact_optional: bool,
}

/// A schedule as customer validation sees it: the task type it serves and the fields its
/// customers must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub task_type: String,
    pub required: Vec<CustomerField>,
}

/// Whether the door requires a task type: createCustomer, syncCustomerSchedule and bulk
/// records do; upsertCustomer accepts a customer of no schedule (it then needs only a phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskTypeRule {
    Required,
    Optional,
}

/// What the rules need to know beyond the input.
pub struct CustomerRules<'a> {
    /// Today's date (birthdays must be before it).
    pub today: NaiveDate,
    /// The instant of the write (a consent may not be obtained after it).
    pub now: DateTime<Utc>,
    /// The company's live schedules: their task types are the valid ones.
    pub campaigns: &'a [Campaign],
}

impl CustomerRules<'_> {
    fn campaign(&self, task_type: &str) -> Option<&Campaign> {
        self.campaigns.iter().find(|c| c.task_type == task_type)
    }

    fn task_types(&self) -> Vec<String> {
        self.campaigns.iter().map(|c| c.task_type.clone()).collect()
    }
}

/// What a customer of no schedule must have: a number to be reached at (its identity).
const NO_SCHEDULE_REQUIRED: &[CustomerField] = &[CustomerField::PhoneNumber];

/// Fields whose presence `syncCustomerSchedule` with LMS enrichment may forgo (no schedule is built).
const SCHEDULE_FIELDS: &[CustomerField] = &[CustomerField::PhoneNumber, CustomerField::Timezone];

/// Applies `patch` to `existing` (None: a new customer) and validates the result against the
/// campaign of its task type. A new customer, or one moving to another task type, must carry
/// every field that campaign requires; no customer may have a required field cleared. A
/// missing timezone that the campaign does not require is inferred from the ZIP code, else
/// from a single-zone area code (`timezone_inferred`). A patch without an id keeps the stored
/// customer's (phone as identity; the caller generates one for a new customer).
pub fn apply_patch(
    existing: Option<&CustomerRecord>,
    patch: &CustomerPatch,
    rules: &CustomerRules<'_>,
    task_type_rule: TaskTypeRule,
) -> Result<CustomerRecord, ValidationError> {
    let external_id = match existing {
        Some(stored) if patch.external_id.trim().is_empty() => stored.external_id.clone(),
        _ => validate_id(&patch.external_id)?,
    };
    let mut record = existing.cloned().unwrap_or_default();
    record.external_id = external_id;
    let valid_task_types = rules.task_types();

    let text = |field: &str, value: &str| required_text(field, value, MAX_TEXT_LEN);
    merge(&mut record.first_name, &patch.first_name, "firstName", text)?;
    merge(&mut record.last_name, &patch.last_name, "lastName", text)?;
    merge(&mut record.email, &patch.email, "email", validate_email)?;
    merge(&mut record.birthday, &patch.birthday, "birthday", |f, v| validate_birthday(f, v, rules.today))?;
    merge(&mut record.ssn_last_four, &patch.ssn_last_four, "ssnLastFour", validate_ssn_last_four)?;
    merge(&mut record.phone_number, &patch.phone_number, "phoneNumber", normalize_phone)?;
    merge(&mut record.timezone, &patch.timezone, "timezone", validate_timezone)?;
    merge(&mut record.task_type, &patch.task_type, "taskType", |f, v| {
        validate_task_type(f, v, &valid_task_types)
    })?;
    merge(&mut record.street_address1, &patch.street_address1, "streetAddress1", text)?;
    merge(&mut record.street_address2, &patch.street_address2, "streetAddress2", text)?;
    merge(&mut record.city, &patch.city, "city", text)?;
    merge(&mut record.state, &patch.state, "state", validate_state)?;
    merge(&mut record.zip_code, &patch.zip_code, "zipCode", validate_zip_code)?;
    merge(&mut record.picture_url, &patch.picture_url, "pictureUrl", validate_url)?;
    match patch.do_not_call {
        Patch::Set(v) => record.do_not_call = v,
        Patch::Clear => return Err(ValidationError::new("doNotCall", "doNotCall cannot be null")),
        Patch::Keep => {}
    }
    match patch.is_test {
        Patch::Set(v) => record.is_test = v,
        Patch::Clear => return Err(ValidationError::new("isTest", "isTest cannot be null")),
        Patch::Keep => {}
    }
    match &patch.external_metadata {
        Patch::Keep => {}
        Patch::Clear => record.external_metadata = None,
        Patch::Set(value) => {
            let incoming = validate_metadata(value)?;
            // Merged key by key: the input's keys replace stored ones, the rest stay.
            let mut merged = record.external_metadata.take().unwrap_or_default();
            merged.extend(incoming);
            check_metadata_size(&merged)?;
            record.external_metadata = Some(merged);
        }
    }

    let number_changed = existing.is_some_and(|e| e.phone_number != record.phone_number);
    match &patch.phone_line_type {
        Patch::Set(code) => {
            let line = LineType::from_code(code.trim().to_ascii_uppercase().as_str()).ok_or_else(|| {
                ValidationError::new(
                    "phoneLineType",
                    "phoneLineType must be WIRELESS, LANDLINE, VOIP or UNKNOWN",
                )
            })?;
            record.phone_line_type = (line != LineType::Unknown).then_some(line);
        }
        Patch::Clear => record.phone_line_type = None,
        // A new number's line is not the old one's.
        Patch::Keep if number_changed => record.phone_line_type = None,
        Patch::Keep => {}
    }
    match &patch.inconvenient_times {
        Patch::Set(raw) => record.inconvenient_times = TimeRange::parse_all(raw)?,
        Patch::Clear => record.inconvenient_times = Vec::new(),
        Patch::Keep => {}
    }
    record.consent = match &patch.consent {
        Some(_) if record.phone_number.is_none() => {
            return Err(ValidationError::new("consent", "consent needs the customer's phoneNumber"));
        }
        Some(given) => Some(given.validated("consent", rules.now)?),
        None => None,
    };

    let campaign = record.task_type.as_deref().and_then(|t| rules.campaign(t));
    let required: &[CustomerField] = campaign.map_or(NO_SCHEDULE_REQUIRED, |c| c.required.as_slice());
    // Before the check: a moved customer's inferred zone is re-inferred, or (where the campaign
    // requires a timezone) dropped, so the check sees what will be stored.
    infer_timezone(&mut record, patch, required);
    check_required(existing, patch, &record, required, task_type_rule)?;
    Ok(record)
}

/// Checks the fields the record's campaign requires, in the order of the input (taskType after
/// timezone, as createCustomer has always reported them).
fn check_required(
    existing: Option<&CustomerRecord>,
    patch: &CustomerPatch,
    record: &CustomerRecord,
    required: &[CustomerField],
    task_type_rule: TaskTypeRule,
) -> Result<(), ValidationError> {
    // A customer kept on its campaign is not failed for fields the campaign began to require
    // after it was stored; one that is new, or joins a campaign, must have them all.
    let whole = existing.is_none_or(|stored| stored.task_type != record.task_type);
    let task_type_required = task_type_rule == TaskTypeRule::Required;
    for field in CustomerField::ALL {
        if field == CustomerField::StreetAddress1 {
            let cleared = matches!(patch.task_type, Patch::Clear);
            if task_type_required && (cleared || record.task_type.is_none()) {
                return Err(ValidationError::required("taskType"));
            }
        }
        if !required.contains(&field) {
            continue;
        }
        let excused = patch.contact_optional && SCHEDULE_FIELDS.contains(&field);
        let cleared = matches!(field.patch(patch), Patch::Clear);
        // A timezone that was only inferred is gone once the customer moves.
        let lost = field == CustomerField::Timezone && existing.is_some_and(|e| e.timezone.is_some());
        if !excused && (cleared || ((whole || lost) && !field.present(record))) {
            return Err(ValidationError::required(field.input_name()));
        }
    }
    Ok(())
}

/// A timezone the input sets is the customer's own. Otherwise, where the campaign does not
/// require one, a missing (or previously inferred, when the ZIP or number changed) timezone is
/// inferred from the location data the contact policy uses.
fn infer_timezone(record: &mut CustomerRecord, patch: &CustomerPatch, required: &[CustomerField]) {
    if matches!(patch.timezone, Patch::Set(_)) {
        record.timezone_inferred = false;
        return;
    }
    let moved = !patch.zip_code.is_keep() || !patch.phone_number.is_keep();
    if record.timezone_inferred && (moved || matches!(patch.timezone, Patch::Clear)) {
        record.timezone = None;
        record.timezone_inferred = false;
    }
    if record.timezone.is_some() || required.contains(&CustomerField::Timezone) {
        return;
    }
    let zone = location::single_zone(record.zip_code.as_deref(), record.phone_number.as_deref());
    if let Some(zone) = zone {
        record.timezone = Some(zone.name().to_string());
        record.timezone_inferred = true;
    }
}

/// Applies one optional-field patch through its validator.
fn merge<T>(
    slot: &mut Option<T>,
    patch: &Patch<String>,
    field: &str,
    validate: impl Fn(&str, &str) -> Result<T, ValidationError>,
) -> Result<(), ValidationError> {
    match patch {
        Patch::Keep => {}
        Patch::Clear => *slot = None,
        Patch::Set(raw) => *slot = Some(validate(field, raw)?),
    }
    Ok(())
}

/// Longest accepted URL.
pub const MAX_URL_LEN: usize = 2048;

/// An http(s) URL of at most [`MAX_URL_LEN`] characters.
pub fn validate_url(field: &str, value: &str) -> Result<String, ValidationError> {
    let url = value.trim();
    let parsed =
        url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if parsed.is_none() || url.chars().count() > MAX_URL_LEN {
        let message = format!("{field} must be an http or https URL of at most {MAX_URL_LEN} characters");
        return Err(ValidationError::new(field, message));
    }
    Ok(url.to_string())
}

/// The id an input gives: blank is an error (omit it to match on the phone number), absent is
/// the empty string (matched on the phone number, or "id is required" where it must be given).
pub fn external_id_of(id: Patch<String>) -> Result<String, ValidationError> {
    match id {
        Patch::Set(id) if id.trim().is_empty() => {
            Err(ValidationError::new("id", "id cannot be empty (omit it to match on phoneNumber)"))
        }
        Patch::Set(id) => Ok(id),
        _ => Ok(String::new()),
    }
}

/// `isTest` and its alias `test` (the create vendor's page names both): one value, or an error
/// when they disagree.
pub fn is_test_of(is_test: Patch<bool>, test: Patch<bool>) -> Result<Patch<bool>, ValidationError> {
    match (is_test, test) {
        (Patch::Set(a), Patch::Set(b)) if a != b => {
            Err(ValidationError::new("test", "test and isTest disagree (test is an alias of isTest)"))
        }
        (Patch::Keep, alias) => Ok(alias),
        (is_test, _) => Ok(is_test),
    }
}

pub fn validate_id(value: &str) -> Result<String, ValidationError> {
    required_text("id", value, MAX_TEXT_LEN)
}

pub fn validate_email(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = required_text(field, value, MAX_TEXT_LEN)?;
    if !email_address::EmailAddress::is_valid(&trimmed) || !trimmed.contains('@') {
        return Err(ValidationError::new(field, "must be a valid e-mail address"));
    }
    Ok(trimmed)
}

/// A real calendar date in the past (and not before 1900).
pub fn validate_birthday(field: &str, value: &str, today: NaiveDate) -> Result<NaiveDate, ValidationError> {
    let trimmed = value.trim();
    let date = parse_date(trimmed)
        .ok_or_else(|| ValidationError::new(field, "must be a real date as YYYY-MM-DD"))?;
    if date >= today {
        return Err(ValidationError::new(field, "must be a date in the past"));
    }
    if date.year() < 1900 {
        return Err(ValidationError::new(field, "must be after 1900-01-01"));
    }
    Ok(date)
}

/// Strict `YYYY-MM-DD`, rejecting dates that do not exist (2023-02-30).
pub fn parse_date(value: &str) -> Option<NaiveDate> {
    let bytes = value.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()
}

pub fn validate_ssn_last_four(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.len() == 4 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        Ok(trimmed.to_string())
    } else {
        // Never echo the value: it is PII.
        Err(ValidationError::new(field, "must be exactly 4 digits"))
    }
}

/// A valid phone number, returned in E.164. A number without a country code is read as US.
pub fn normalize_phone(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::required(field));
    }
    let invalid = || ValidationError::new(field, "must be a valid phone number");
    if trimmed.len() > 32 {
        return Err(invalid());
    }
    let number = phonenumber::parse(Some(phonenumber::country::Id::US), trimmed).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// An IANA time zone name, returned as the zone database spells it.
pub fn validate_timezone(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::required(field));
    }
    chrono_tz::Tz::from_str(trimmed)
        .map(|tz| tz.name().to_string())
        .map_err(|_| ValidationError::new(field, "must be an IANA time zone name such as America/New_York"))
}

pub fn validate_state(field: &str, value: &str) -> Result<String, ValidationError> {
    us_states::normalize(value)
        .map(str::to_string)
        .ok_or_else(|| ValidationError::new(field, "must be a two-letter US state, DC or territory code"))
}

/// Five digits, or ZIP+4 (`12345-6789`).
pub fn validate_zip_code(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    let b = trimmed.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let ok = match b.len() {
        5 => digits(b),
        10 => digits(&b[..5]) && b[5] == b'-' && digits(&b[6..]),
        _ => false,
    };
    if ok {
        Ok(trimmed.to_string())
    } else {
        Err(ValidationError::new(field, "must be 5 digits or ZIP+4 (12345-6789)"))
    }
}

pub fn validate_task_type(field: &str, value: &str, valid: &[String]) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::required(field));
    }
    if valid.iter().any(|t| t == trimmed) {
        return Ok(trimmed.to_string());
    }
    let mut valid_task_types = valid.to_vec();
    valid_task_types.sort();
    Err(ValidationError {
        field: field.to_string(),
        message: if valid.is_empty() {
            "unknown task type: the company has no schedules yet (create one first)".to_string()
        } else {
            "unknown task type: must be one of the company's schedules' task types".to_string()
        },
        valid_task_types: Some(valid_task_types),
    })
}

/// The digits of a search term that looks like a phone number (only digits and `+ ( ) - .`
/// and spaces, at least 3 digits): such a term also matches phones by its digits alone.
pub fn phone_search_digits(term: &str) -> Option<String> {
    let phone_like = term.chars().all(|c| c.is_ascii_digit() || "+()-. ".contains(c));
    let digits: String = term.chars().filter(char::is_ascii_digit).collect();
    (phone_like && digits.len() >= 3).then_some(digits)
}

/// A JSON object of at most 64 KiB.
pub fn validate_metadata(value: &Value) -> Result<Map<String, Value>, ValidationError> {
    json_object("externalMetadata", value)
}

/// `field` holds a JSON object of at most 64 KiB (externalMetadata, makeCall's data).
pub fn json_object(field: &str, value: &Value) -> Result<Map<String, Value>, ValidationError> {
    let Value::Object(map) = value else {
        return Err(ValidationError::new(field, format!("{field} must be a JSON object")));
    };
    check_json_size(field, map)?;
    Ok(map.clone())
}

fn check_metadata_size(map: &Map<String, Value>) -> Result<(), ValidationError> {
    check_json_size("externalMetadata", map)
}

fn check_json_size(field: &str, map: &Map<String, Value>) -> Result<(), ValidationError> {
    let size = serde_json::to_vec(map).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(ValidationError::new(
            field,
            format!("{field} must be at most {MAX_METADATA_BYTES} bytes as JSON (got {size})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
