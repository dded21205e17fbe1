//! Customers: lookups, the filtered and keyset-paged list, create and upsert.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz};
use serde_json::Value;
use uuid::Uuid;

use super::schema::customers;
use super::{is_unique_violation, StoreError};
use crate::domain::consumer::TimeRange;
use crate::domain::contact_policy::LineType;
use crate::domain::customer::CustomerRecord;

pub use super::customer_list::{
    estimate_count, list, CustomerCursor, CustomerFilter, CustomerOrder, EXACT_COUNT_LIMIT,
    MIN_SUBSTRING_TERM,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers, check_for_backend(Pg))]
pub struct CustomerRow {
    pub id: i64,
    pub company_id: Uuid,
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
    pub external_metadata: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub timezone_inferred: bool,
    /// A contact hold (attorney, cease request, dispute…): no path calls the customer until it
    /// is released. Never changed by a sync, upsert or import.
    pub contact_hold_reason: Option<String>,
    pub contact_hold_since: Option<DateTime<Utc>>,
    pub contact_hold_note: Option<String>,
    /// `LineType` code; NULL: unknown.
    pub phone_line_type: Option<String>,
    /// `[{"days": ["MON"], "start": "09:00", "end": "12:00"}]`; NULL: none.
    pub inconvenient_times: Option<Value>,
    pub picture_url: Option<String>,
}

impl CustomerRow {
    pub fn record(&self) -> CustomerRecord {
        CustomerRecord {
            external_id: self.external_id.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            birthday: self.birthday,
            ssn_last_four: self.ssn_last_four.clone(),
            phone_number: self.phone_number.clone(),
            timezone: self.timezone.clone(),
            task_type: self.task_type.clone(),
            street_address1: self.street_address1.clone(),
            street_address2: self.street_address2.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            zip_code: self.zip_code.clone(),
            do_not_call: self.do_not_call,
            is_test: self.is_test,
            external_metadata: match &self.external_metadata {
                Some(Value::Object(map)) => Some(map.clone()),
                _ => None,
            },
            timezone_inferred: self.timezone_inferred,
            phone_line_type: self.line_type(),
            inconvenient_times: self.inconvenient_times(),
            consent: None,
            picture_url: self.picture_url.clone(),
        }
    }

    /// What line the customer's number is on (None: unknown).
    pub fn line_type(&self) -> Option<LineType> {
        self.phone_line_type.as_deref().and_then(LineType::from_code).filter(|l| *l != LineType::Unknown)
    }

    /// The consumer's inconvenient times (stored validated; an unreadable value reads as none
    /// rather than failing every decision about the customer).
    pub fn inconvenient_times(&self) -> Vec<TimeRange> {
        self.inconvenient_times.clone().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
    }
}

/// The stored columns of a customer record (`None` writes NULL: as an explicit NULL rather than
/// DEFAULT, the insert has one shape, which Diesel can keep prepared).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct CustomerValues<'a> {
    company_id: Uuid,
    external_id: &'a str,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    email: Option<&'a str>,
    birthday: Option<NaiveDate>,
    ssn_last_four: Option<&'a str>,
    phone_number: Option<&'a str>,
    timezone: Option<&'a str>,
    task_type: Option<&'a str>,
    street_address1: Option<&'a str>,
    street_address2: Option<&'a str>,
    city: Option<&'a str>,
    state: Option<&'a str>,
    zip_code: Option<&'a str>,
    do_not_call: bool,
    is_test: bool,
    external_metadata: Option<Value>,
    updated_at: DateTime<Utc>,
    timezone_inferred: bool,
    phone_line_type: Option<&'static str>,
    inconvenient_times: Option<Value>,
    picture_url: Option<&'a str>,
}

impl<'a> CustomerValues<'a> {
    pub(crate) fn new(company_id: Uuid, r: &'a CustomerRecord, now: DateTime<Utc>) -> Self {
        CustomerValues {
            company_id,
            external_id: &r.external_id,
            first_name: r.first_name.as_deref(),
            last_name: r.last_name.as_deref(),
            email: r.email.as_deref(),
            birthday: r.birthday,
            ssn_last_four: r.ssn_last_four.as_deref(),
            phone_number: r.phone_number.as_deref(),
            timezone: r.timezone.as_deref(),
            task_type: r.task_type.as_deref(),
            street_address1: r.street_address1.as_deref(),
            street_address2: r.street_address2.as_deref(),
            city: r.city.as_deref(),
            state: r.state.as_deref(),
            zip_code: r.zip_code.as_deref(),
            do_not_call: r.do_not_call,
            is_test: r.is_test,
            external_metadata: r.external_metadata.clone().map(Value::Object),
            updated_at: now,
            timezone_inferred: r.timezone_inferred,
            phone_line_type: r.phone_line_type.map(LineType::code),
            inconvenient_times: (!r.inconvenient_times.is_empty())
                .then(|| serde_json::to_value(&r.inconvenient_times).unwrap_or_default()),
            picture_url: r.picture_url.as_deref(),
        }
    }
}

/// The company's customers.
type OfCompany = dsl::Filter<customers::table, dsl::Eq<customers::company_id, Uuid>>;

fn of_company(company_id: Uuid) -> OfCompany {
    customers::table.filter(customers::company_id.eq(company_id))
}

pub fn by_external_id(
    conn: &mut PgConnection,
    company_id: Uuid,
    external_id: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(of_company(company_id)
        .filter(customers::external_id.eq(external_id))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?)
}

/// The company's customers with one of these E.164 numbers: the one query every lookup by
/// number starts from, so that a shared number names the same customer on every path.
fn with_phones(
    company_id: Uuid,
    phones: &[String],
) -> dsl::Filter<OfCompany, dsl::EqAny<customers::phone_number, &[String]>> {
    of_company(company_id).filter(customers::phone_number.eq_any(phones))
}

/// Which of several customers sharing a number it names: the most recently updated, then
/// the newest.
fn named_by_phone_first() -> (dsl::Desc<customers::updated_at>, dsl::Desc<customers::id>) {
    (customers::updated_at.desc(), customers::id.desc())
}

/// The customer with this E.164 number; if several share it, the most recently updated.
pub fn by_phone(
    conn: &mut PgConnection,
    company_id: Uuid,
    e164: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    let phones = [e164.to_string()];
    Ok(with_phones(company_id, &phones)
        .order(named_by_phone_first())
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?)
}

/// The company's customers with these internal ids (another company's ids match nothing).
fn with_ids(company_id: Uuid, ids: &[i64]) -> dsl::Filter<OfCompany, dsl::EqAny<customers::id, &[i64]>> {
    of_company(company_id).filter(customers::id.eq_any(ids))
}

pub fn by_ids(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: &[i64],
) -> Result<Vec<CustomerRow>, StoreError> {
    Ok(with_ids(company_id, ids).select(CustomerRow::as_select()).load(conn)?)
}

/// Inserts a new customer; an existing id is a conflict (naming `id`).
pub fn insert(
    conn: &mut PgConnection,
    company_id: Uuid,
    record: &CustomerRecord,
    now: DateTime<Utc>,
) -> Result<CustomerRow, StoreError> {
    diesel::insert_into(customers::table)
        .values((CustomerValues::new(company_id, record, now), customers::created_at.eq(now)))
        .returning(CustomerRow::as_returning())
        .get_result(conn)
        .map_err(|e| {
            if is_unique_violation(&e, "customers_company_id_external_id_key") {
                StoreError::conflict(
                    "id",
                    format!("a customer with id {:?} already exists", record.external_id),
                )
            } else {
                e.into()
            }
        })
}

/// Inserts a new customer; None if its id exists (one statement, decided by the unique index).
pub fn insert_new(
    conn: &mut PgConnection,
    company_id: Uuid,
    record: &CustomerRecord,
    now: DateTime<Utc>,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(diesel::insert_into(customers::table)
        .values((CustomerValues::new(company_id, record, now), customers::created_at.eq(now)))
        .on_conflict((customers::company_id, customers::external_id))
        .do_nothing()
        .returning(CustomerRow::as_returning())
        .get_result(conn)
        .optional()?)
}

/// Writes `record` over the stored customer `id`; another customer's id is a conflict.
pub fn update(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: i64,
    record: &CustomerRecord,
    now: DateTime<Utc>,
) -> Result<CustomerRow, StoreError> {
    // Every column is set (None as NULL), so the statement has one text: keep it prepared.
    super::prepared::prepared(
        diesel::update(customers::table.find((company_id, id)))
            .set(CustomerValues::new(company_id, record, now))
            .returning(CustomerRow::as_returning()),
    )
    .get_result(conn)
    .map_err(|e| {
        if is_unique_violation(&e, "customers_company_id_external_id_key") {
            StoreError::conflict("id", "another customer already has this id")
        } else {
            e.into()
        }
    })
}

/// Serialises, until the transaction ends, every writer that identifies customers of the
/// company by one of these numbers (in a fixed order, so two writers cannot deadlock).
pub fn lock_phone_identities(
    conn: &mut PgConnection,
    company_id: Uuid,
    phones: &[String],
) -> Result<(), StoreError> {
    if phones.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = phones.iter().map(|p| format!("{company_id}:{p}")).collect();
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(8, h) FROM \
         (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(&keys)
    .execute(conn)?;
    Ok(())
}

/// The external ids of the customers with each of these numbers (one query for many numbers;
/// which of several a write may take is the caller's rule).
pub fn external_ids_by_phone(
    conn: &mut PgConnection,
    company_id: Uuid,
    phones: &[String],
) -> Result<std::collections::HashMap<String, Vec<String>>, StoreError> {
    let rows: Vec<(Option<String>, String)> = with_phones(company_id, phones)
        .order(customers::id.asc())
        .select((customers::phone_number, customers::external_id))
        .load(conn)?;
    let mut named: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for (phone, id) in rows {
        if let Some(phone) = phone {
            named.entry(phone).or_default().push(id);
        }
    }
    Ok(named)
}

/// The customers with this number, locked (at most `limit`). Locked in id order, the order
/// every path that locks several customers takes, so two of them cannot deadlock.
pub fn lock_by_phone(
    conn: &mut PgConnection,
    company_id: Uuid,
    phone: &str,
    limit: i64,
) -> Result<Vec<CustomerRow>, StoreError> {
    let phones = [phone.to_string()];
    Ok(with_phones(company_id, &phones)
        .order(customers::id.asc())
        .limit(limit)
        .select(CustomerRow::as_select())
        .for_update()
        .load(conn)?)
}

/// The customer with this external id, locked.
pub fn lock_by_external_id(
    conn: &mut PgConnection,
    company_id: Uuid,
    external_id: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(of_company(company_id)
        .filter(customers::external_id.eq(external_id.trim()))
        .select(CustomerRow::as_select())
        .for_update()
        .first(conn)
        .optional()?)
}

/// The company's customers with these external ids, locked in id order (as [`lock_many`]).
pub fn lock_by_external_ids(
    conn: &mut PgConnection,
    company_id: Uuid,
    external_ids: &[&str],
) -> Result<Vec<CustomerRow>, StoreError> {
    if external_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(of_company(company_id)
        .filter(customers::external_id.eq_any(external_ids))
        .order(customers::id.asc())
        .select(CustomerRow::as_select())
        .for_update()
        .load(conn)?)
}

/// Locks the company's customers with these internal ids, in id order (a fixed lock order, so
/// two callers locking overlapping sets cannot deadlock).
pub fn lock_many(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: &[i64],
) -> Result<Vec<CustomerRow>, StoreError> {
    Ok(with_ids(company_id, ids)
        .order(customers::id.asc())
        .select(CustomerRow::as_select())
        .for_update()
        .load(conn)?)
}

/// Places (`Some((reason, note))`) or releases (`None`) the customer's contact hold. A hold
/// placed again keeps its `since`.
pub fn set_contact_hold(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: i64,
    hold: Option<(&str, Option<&str>)>,
    now: DateTime<Utc>,
) -> Result<CustomerRow, StoreError> {
    let target = customers::table.find((company_id, id));
    let row =
        match hold {
            Some((reason, note)) => diesel::update(target)
                .set((
                    customers::contact_hold_reason.eq(reason),
                    customers::contact_hold_note.eq(note),
                    customers::contact_hold_since.eq(diesel::dsl::sql::<
                        diesel::sql_types::Nullable<Timestamptz>,
                    >("COALESCE(contact_hold_since, ")
                    .bind::<Timestamptz, _>(now)
                    .sql(")")),
                    customers::updated_at.eq(now),
                ))
                .returning(CustomerRow::as_returning())
                .get_result(conn)?,
            None => diesel::update(target)
                .set((
                    customers::contact_hold_reason.eq(None::<String>),
                    customers::contact_hold_note.eq(None::<String>),
                    customers::contact_hold_since.eq(None::<DateTime<Utc>>),
                    customers::updated_at.eq(now),
                ))
                .returning(CustomerRow::as_returning())
                .get_result(conn)?,
        };
    Ok(row)
}

/// The customer's row locked, or None when another transaction holds it (the caller already
/// holds a lock that comes later in the order, e.g. a claimed task's, and must not wait).
pub fn try_lock(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: i64,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::id.eq(id))
        .select(CustomerRow::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?)
}

/// The ids of the company's customers whose phone number is one of `numbers` (E.164).
pub fn ids_with_phones(
    conn: &mut PgConnection,
    company_id: Uuid,
    numbers: &[String],
) -> Result<Vec<i64>, StoreError> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    Ok(with_phones(company_id, numbers).select(customers::id).load(conn)?)
}
