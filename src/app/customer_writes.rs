//! Writing one customer: which stored customer an input updates (by its id, or by its phone
//! number when it has none), the campaign's validation, and the generated id of a customer its
//! integration did not name. createCustomer, upsertCustomer and syncCustomerSchedule (every
//! door) write through these; bulk imports resolve identities set-wise in [`super::bulk`].

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use uuid::Uuid;

use super::AppError;
use crate::domain::customer::{self, CustomerPatch, CustomerRules, TaskTypeRule};
use crate::domain::{Patch, ValidationError};
use crate::store::customers::{self as store, CustomerRow};
use crate::store::{companies, StoreError};

/// Which stored customer an upsert updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOn {
    Id,
    PhoneNumber,
}

/// The id a customer gets when its integration gave none (phone as identity).
pub fn new_external_id() -> String {
    format!("cus_{}", Uuid::new_v4().simple())
}

/// Inserts a new customer (createCustomer: a task type is required); an existing id is a
/// conflict.
pub fn create(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: &CustomerPatch,
    now: DateTime<Utc>,
) -> Result<CustomerRow, AppError> {
    let campaigns = companies::campaigns(conn, company_id)?;
    let rules = CustomerRules { today: now.date_naive(), now, campaigns: &campaigns };
    let record = customer::apply_patch(None, patch, &rules, TaskTypeRule::Required)?;
    Ok(store::insert(conn, company_id, &record, now)?)
}

/// Creates or updates a customer (upsertCustomer: a task type is optional), locking the
/// existing row so concurrent upserts of one customer serialise. Returns the row and whether
/// it was created.
pub fn upsert(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: &CustomerPatch,
    match_on: MatchOn,
    now: DateTime<Utc>,
) -> Result<(CustomerRow, bool), AppError> {
    let campaigns = companies::campaigns(conn, company_id)?;
    let rules = CustomerRules { today: now.date_naive(), now, campaigns: &campaigns };
    upsert_checked(conn, company_id, patch, match_on, &rules, TaskTypeRule::Optional, now, |_| Ok(()))
}

/// [`upsert`] under `rules`, with `check` run on the locked stored customer (None: new) before
/// any write. A patch without an id is matched on its phone number, as with
/// `MatchOn::PhoneNumber`; a new customer then gets a generated id.
#[allow(clippy::too_many_arguments)]
pub fn upsert_checked(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: &CustomerPatch,
    match_on: MatchOn,
    rules: &CustomerRules<'_>,
    task_type_rule: TaskTypeRule,
    now: DateTime<Utc>,
    check: impl Fn(Option<&CustomerRow>) -> Result<(), AppError>,
) -> Result<(CustomerRow, bool), AppError> {
    let id_given = !patch.external_id.trim().is_empty();
    if id_given && match_on == MatchOn::Id {
        return upsert_by_id(conn, company_id, patch, rules, task_type_rule, now, check);
    }
    let phone = match &patch.phone_number {
        Patch::Set(raw) => customer::normalize_phone("phoneNumber", raw)?,
        _ if id_given => {
            let message = "phoneNumber is required when matching on PHONE_NUMBER";
            return Err(ValidationError::new("phoneNumber", message).into());
        }
        _ => return Err(ValidationError::new("id", "id is required (or a phoneNumber to match on)").into()),
    };
    // Two upserts of one new number must not both create it: they serialise on the number.
    store::lock_phone_identities(conn, company_id, std::slice::from_ref(&phone))?;
    let existing = the_one_with_phone(conn, company_id, &phone)?;
    check(existing.as_ref())?;
    if let Some(existing) = existing {
        return Ok((update_existing(conn, company_id, &existing, patch, rules, task_type_rule, now)?, false));
    }
    let mut new_patch = patch.clone();
    if !id_given {
        new_patch.external_id = new_external_id();
    }
    let record = customer::apply_patch(None, &new_patch, rules, task_type_rule)?;
    match store::insert_new(conn, company_id, &record, now)? {
        Some(row) => Ok((row, true)),
        None => Err(StoreError::conflict(
            "id",
            format!(
                "a customer with id {:?} already exists with another phone number; match on ID to update it",
                record.external_id
            ),
        )
        .into()),
    }
}

/// The one customer with this number, locked; several are a conflict (see [`the_one_named`]).
fn the_one_with_phone(
    conn: &mut PgConnection,
    company_id: Uuid,
    phone: &str,
) -> Result<Option<CustomerRow>, AppError> {
    the_one_named(store::lock_by_phone(conn, company_id, phone, 2)?)
}

/// What a write that identifies its customer by phone number takes of the customers with the
/// number: none (a new customer), the one, or, when several share it, none of them, since the
/// number cannot say which one the input means. Every such write (upsert, sync, bulk) asks this.
pub fn the_one_named<T>(mut with_number: Vec<T>) -> Result<Option<T>, AppError> {
    if with_number.len() > 1 {
        return Err(StoreError::conflict("phoneNumber", SHARED_NUMBER).into());
    }
    Ok(with_number.pop())
}

/// Why a shared number names no customer.
pub const SHARED_NUMBER: &str = "more than one customer has this phone number; match on ID instead";

/// Applies the patch to the locked stored customer and writes it.
fn update_existing(
    conn: &mut PgConnection,
    company_id: Uuid,
    existing: &CustomerRow,
    patch: &CustomerPatch,
    rules: &CustomerRules<'_>,
    task_type_rule: TaskTypeRule,
    now: DateTime<Utc>,
) -> Result<CustomerRow, AppError> {
    let record = customer::apply_patch(Some(&existing.record()), patch, rules, task_type_rule)?;
    Ok(store::update(conn, company_id, existing.id, &record, now)?)
}

fn upsert_by_id(
    conn: &mut PgConnection,
    company_id: Uuid,
    patch: &CustomerPatch,
    rules: &CustomerRules<'_>,
    task_type_rule: TaskTypeRule,
    now: DateTime<Utc>,
    check: impl Fn(Option<&CustomerRow>) -> Result<(), AppError>,
) -> Result<(CustomerRow, bool), AppError> {
    // A new customer is inserted at once: one statement, decided by the unique index (no plan
    // to go wrong on a young table). Only a conflict (it exists) reads and locks it.
    let as_new = customer::apply_patch(None, patch, rules, task_type_rule);
    if let Ok(record) = &as_new {
        if check(None).is_ok() {
            if let Some(row) = store::insert_new(conn, company_id, record, now)? {
                return Ok((row, true));
            }
        }
    }
    // Two rounds at most: a concurrent insert of the same id makes ours a no-op, then we update it.
    for _ in 0..2 {
        let existing = store::lock_by_external_id(conn, company_id, &patch.external_id)?;
        check(existing.as_ref())?;
        if let Some(existing) = existing {
            return Ok((
                update_existing(conn, company_id, &existing, patch, rules, task_type_rule, now)?,
                false,
            ));
        }
        let record = as_new.clone()?;
        if let Some(row) = store::insert_new(conn, company_id, &record, now)? {
            return Ok((row, true));
        }
    }
    Err(StoreError::conflict("id", "the customer changed concurrently; retry").into())
}
