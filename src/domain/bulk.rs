//! Bulk import validation: each record on its own, with createCustomer's rules; one bad record
//! never affects another; a repeated id is an error on the later record.

use std::collections::HashMap;

use super::customer::{apply_patch, CustomerPatch, CustomerRecord, CustomerRules, REQUIRED_FIELDS};
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

/// Splits `records` into valid customer records (with their index) and errors. Every record
/// gets `task_type` (the campaign's schedule decides it). Records are checked on every core
/// (phone numbers cost tens of microseconds each; an import has up to 10,000), so call it from
/// a blocking thread.
pub fn validate_records(
    mut records: Vec<CustomerPatch>,
    task_type: &str,
    today: chrono::NaiveDate,
) -> (Vec<(usize, CustomerRecord)>, Vec<RecordError>) {
    let task_types = [task_type.to_string()];
    let rules = CustomerRules { today, task_types: &task_types };
    for patch in &mut records {
        patch.task_type = Patch::Set(task_type.to_string());
    }
    let check = |patch: &CustomerPatch| apply_patch(None, patch, &rules, REQUIRED_FIELDS);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunk = records.len().div_ceil(threads).max(1_000);
    let checked: Vec<_> = std::thread::scope(|scope| {
        let parts: Vec<_> = records
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(check).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|part| part.join().expect("record validation panicked")).collect()
    });
    let mut first_index: HashMap<String, usize> = HashMap::new();
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for (index, (patch, checked)) in records.iter().zip(checked).enumerate() {
        let id = Some(patch.external_id.trim().to_string()).filter(|s| !s.is_empty());
        match checked {
            Err(e) => errors.push(RecordError {
                index,
                id,
                field: Some(e.field),
                code: "BAD_USER_INPUT".into(),
                message: e.message,
            }),
            Ok(record) => match first_index.get(&record.external_id) {
                Some(first) => errors.push(RecordError {
                    index,
                    id,
                    field: Some("id".into()),
                    code: "BAD_USER_INPUT".into(),
                    message: format!("duplicate id: the same id is already at index {first} of this request"),
                }),
                None => {
                    first_index.insert(record.external_id.clone(), index);
                    valid.push((index, record));
                }
            },
        }
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

    #[test]
    fn each_record_stands_alone_and_duplicates_are_the_later_ones() {
        let mut bad = record("r-2");
        bad.email = Patch::Set("nope".into());
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let (valid, errors) =
            validate_records(vec![record("r-1"), bad, record("r-3"), record("r-1")], "collections", today);
        assert_eq!(valid.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 2]);
        assert!(valid.iter().all(|(_, r)| r.task_type.as_deref() == Some("collections")));
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].index, errors[0].field.as_deref()), (1, Some("email")));
        assert_eq!(
            (errors[1].index, errors[1].field.as_deref(), errors[1].id.as_deref()),
            (3, Some("id"), Some("r-1"))
        );
    }
}
