//! Bulk import validation: each record on its own, against its campaign's required fields; one
//! bad record never affects another; a repeated identity (id, or phone where the id is missing)
//! is an error on the later record. A record meets its stored customer through the same
//! [`apply_patch`] as every other write, after [`as_import`] says what an import may change.

use std::collections::HashMap;

use super::customer::{apply_patch, Campaign, CustomerPatch, CustomerRecord, CustomerRules, TaskTypeRule};
use super::Patch;

/// Most records in one request.
pub const MAX_RECORDS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub index: usize,
    pub id: Option<String>,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

/// A record that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRecord {
    /// Its index in the request.
    pub index: usize,
    /// The customer as a new one; an empty `external_id` means the record had none: the phone
    /// number is its identity (the stored customer with that number, or a new one with a
    /// generated id).
    pub record: CustomerRecord,
    /// The record as an import applies it to a stored customer (see [`as_import`]).
    pub patch: CustomerPatch,
}

impl ValidRecord {
    pub fn matches_on_phone(&self) -> bool {
        self.record.external_id.is_empty()
    }

    /// The stored customer this record names, updated by it: the rule of every write
    /// ([`apply_patch`]) under the record's campaign. The stored id stays (a record matched on
    /// its phone has none of its own).
    pub fn merged_into(
        &self,
        stored: &CustomerRecord,
        campaign: &Campaign,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<CustomerRecord, super::ValidationError> {
        let campaigns = [campaign.clone()];
        let rules = CustomerRules { today: now.date_naive(), now, campaigns: &campaigns };
        let mut patch = self.patch.clone();
        patch.external_id = stored.external_id.clone();
        apply_patch(Some(stored), &patch, &rules, TaskTypeRule::Required)
    }
}

/// What an import may change of a stored customer: a field the record leaves empty (absent or
/// null) keeps its stored value, since a campaign may not require it; an import never clears
/// Do Not Call (only a deliberate write of one customer does). Every record carries its
/// campaign's task type.
pub fn as_import(mut patch: CustomerPatch, campaign: &Campaign) -> CustomerPatch {
    fn keep_unless_set<T>(field: &mut Patch<T>) {
        if matches!(field, Patch::Clear) {
            *field = Patch::Keep;
        }
    }
    for field in [
        &mut patch.first_name,
        &mut patch.last_name,
        &mut patch.email,
        &mut patch.birthday,
        &mut patch.ssn_last_four,
        &mut patch.phone_number,
        &mut patch.timezone,
        &mut patch.street_address1,
        &mut patch.street_address2,
        &mut patch.city,
        &mut patch.state,
        &mut patch.zip_code,
        &mut patch.phone_line_type,
        &mut patch.picture_url,
    ] {
        keep_unless_set(field);
    }
    keep_unless_set(&mut patch.external_metadata);
    keep_unless_set(&mut patch.inconvenient_times);
    if patch.do_not_call == Patch::Set(false) {
        patch.do_not_call = Patch::Keep;
    }
    patch.task_type = Patch::Set(campaign.task_type.clone());
    patch
}

/// Stands in for a missing id while a record is validated; cleared afterwards.
const NO_ID: &str = "(matched on phone)";

/// Splits `records` into valid customer records and errors. Every record gets the campaign's
/// task type and is held to its required fields. Records are checked on every core (phone
/// numbers cost tens of microseconds each; an import has up to 10,000), so call it from a
/// blocking thread.
pub fn validate_records(
    records: Vec<CustomerPatch>,
    campaign: &Campaign,
    now: chrono::DateTime<chrono::Utc>,
) -> (Vec<ValidRecord>, Vec<RecordError>) {
    let campaigns = [campaign.clone()];
    let rules = CustomerRules { today: now.date_naive(), now, campaigns: &campaigns };
    let records: Vec<CustomerPatch> = records.into_iter().map(|patch| as_import(patch, campaign)).collect();
    let check = |patch: &CustomerPatch| {
        if !patch.external_id.trim().is_empty() {
            return apply_patch(None, patch, &rules, TaskTypeRule::Required);
        }
        if !matches!(patch.phone_number, Patch::Set(_)) {
            return Err(super::ValidationError::new(
                "id",
                "id is required when the record has no phoneNumber to match on",
            ));
        }
        let mut patch = patch.clone();
        patch.external_id = NO_ID.to_string();
        let mut record = apply_patch(None, &patch, &rules, TaskTypeRule::Required)?;
        record.external_id = String::new();
        Ok(record)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunk = records.len().div_ceil(threads).max(1_000);
    let checked: Vec<_> = std::thread::scope(|scope| {
        let parts: Vec<_> = records
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(check).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|part| part.join().expect("record validation panicked")).collect()
    });
    let mut first_index: HashMap<(bool, String), usize> = HashMap::new();
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for (index, (patch, checked)) in records.into_iter().zip(checked).enumerate() {
        let id = Some(patch.external_id.trim().to_string()).filter(|s| !s.is_empty());
        let record = match checked {
            Ok(record) => record,
            Err(e) => {
                errors.push(RecordError {
                    index,
                    id,
                    field: Some(e.field),
                    code: "BAD_USER_INPUT".into(),
                    message: e.message,
                });
                continue;
            }
        };
        let by_phone = record.external_id.is_empty();
        let key = if by_phone {
            (true, record.phone_number.clone().unwrap_or_default())
        } else {
            (false, record.external_id.clone())
        };
        if let Some(first) = first_index.get(&key) {
            let (field, what) = if by_phone { ("phoneNumber", "phone number") } else { ("id", "id") };
            errors.push(RecordError {
                index,
                id,
                field: Some(field.into()),
                code: "BAD_USER_INPUT".into(),
                message: format!(
                    "duplicate {what}: the same {what} is already at index {first} of this request"
                ),
            });
            continue;
        }
        first_index.insert(key, index);
        valid.push(ValidRecord { index, record, patch });
    }
    (valid, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> CustomerPatch {
        CustomerPatch {
            external_id: id.into(),
            first_name: Patch::Set("A".into()),
            last_name: Patch::Set("B".into()),
            email: Patch::Set("a@example.com".into()),
            birthday: Patch::Set("1980-01-01".into()),
            phone_number: Patch::Set("+12125550100".into()),
            timezone: Patch::Set("America/New_York".into()),
            street_address1: Patch::Set("1 Main St".into()),
            city: Patch::Set("New York".into()),
            state: Patch::Set("NY".into()),
            zip_code: Patch::Set("10001".into()),
            ..Default::default()
        }
    }

    fn campaign() -> Campaign {
        Campaign {
            task_type: "collections".into(),
            required: crate::domain::customer::CustomerField::default_required(),
        }
    }

    #[test]
    fn a_record_without_id_is_identified_by_its_phone() {
        let today =
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc();
        let mut no_phone = record("");
        no_phone.phone_number = Patch::Keep;
        let mut campaign = campaign();
        campaign.required.retain(|f| *f != crate::domain::customer::CustomerField::PhoneNumber);
        let (valid, errors) =
            validate_records(vec![record(""), record(""), no_phone, record("r-1")], &campaign, today);
        assert_eq!(
            valid.iter().map(|v| (v.index, v.matches_on_phone())).collect::<Vec<_>>(),
            [(0, true), (3, false)]
        );
        assert_eq!(
            errors.iter().map(|e| (e.index, e.field.as_deref())).collect::<Vec<_>>(),
            [(1, Some("phoneNumber")), (2, Some("id"))]
        );
    }

    #[test]
    fn each_record_stands_alone_and_duplicates_are_the_later_ones() {
        let mut bad = record("r-2");
        bad.email = Patch::Set("nope".into());
        let today =
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc();
        let (valid, errors) =
            validate_records(vec![record("r-1"), bad, record("r-3"), record("r-1")], &campaign(), today);
        assert_eq!(valid.iter().map(|v| v.index).collect::<Vec<_>>(), [0, 2]);
        assert!(valid.iter().all(|v| v.record.task_type.as_deref() == Some("collections")));
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].index, errors[0].field.as_deref()), (1, Some("email")));
        assert_eq!(
            (errors[1].index, errors[1].field.as_deref(), errors[1].id.as_deref()),
            (3, Some("id"), Some("r-1"))
        );
    }
}
