//! The company-wide Do-Not-Call list.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::suppressed_numbers;
use super::StoreError;

/// Adds E.164 numbers; returns how many were not already on the list.
pub fn add(
    conn: &mut PgConnection,
    company_id: Uuid,
    numbers: &[String],
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let rows: Vec<_> = numbers
        .iter()
        .map(|n| {
            (
                suppressed_numbers::company_id.eq(company_id),
                suppressed_numbers::phone_number.eq(n),
                suppressed_numbers::created_at.eq(now),
            )
        })
        .collect();
    let added =
        diesel::insert_into(suppressed_numbers::table).values(rows).on_conflict_do_nothing().execute(conn)?;
    Ok(added as i64)
}

/// Removes E.164 numbers; returns how many were on the list.
pub fn remove(conn: &mut PgConnection, company_id: Uuid, numbers: &[String]) -> Result<i64, StoreError> {
    let removed = diesel::delete(
        suppressed_numbers::table
            .filter(suppressed_numbers::company_id.eq(company_id))
            .filter(suppressed_numbers::phone_number.eq_any(numbers)),
    )
    .execute(conn)?;
    Ok(removed as i64)
}

/// One entry of the list.
#[derive(Debug, Clone, Queryable)]
pub struct SuppressedRow {
    pub phone_number: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
}

/// The company's entries (of `source`, when given), newest first, `limit` from `offset`.
pub fn list(
    conn: &mut PgConnection,
    company_id: Uuid,
    source: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<SuppressedRow>, StoreError> {
    let mut query = suppressed_numbers::table
        .filter(suppressed_numbers::company_id.eq(company_id))
        .select((
            suppressed_numbers::phone_number,
            suppressed_numbers::source,
            suppressed_numbers::created_at,
        ))
        .order((suppressed_numbers::created_at.desc(), suppressed_numbers::phone_number.asc()))
        .offset(offset)
        .limit(limit)
        .into_boxed();
    if let Some(source) = source {
        query = query.filter(suppressed_numbers::source.eq(source));
    }
    Ok(query.load(conn)?)
}

/// `source` of an entry the company added (addSuppressedNumbers).
pub const COMPANY: &str = "COMPANY";
/// `source` of an entry the consumer asked for on a call (outcome OPT_OUT).
pub const CONSUMER_OPT_OUT: &str = "CONSUMER_OPT_OUT";
/// `source` of a number the callee said is not the consumer's (outcome WRONG_NUMBER).
pub const WRONG_NUMBER: &str = "WRONG_NUMBER";

/// What marks `number` carries in the company: (on the company's suppression list, suppressed
/// by the consumer's words on a call, marked Do Not Call on one of its customer records), in
/// one query.
pub fn number_marks(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
) -> Result<(bool, bool, bool), StoreError> {
    use super::schema::customers;
    let entries = || {
        suppressed_numbers::table
            .filter(suppressed_numbers::company_id.eq(company_id))
            .filter(suppressed_numbers::phone_number.eq(number))
    };
    let suppressed = diesel::dsl::exists(entries().filter(suppressed_numbers::source.eq(COMPANY)));
    let by_consumer = diesel::dsl::exists(entries().filter(suppressed_numbers::source.ne(COMPANY)));
    let marked = diesel::dsl::exists(
        customers::table
            .filter(customers::company_id.eq(company_id))
            .filter(customers::phone_number.eq(number))
            .filter(customers::do_not_call),
    );
    Ok(diesel::select((suppressed, by_consumer, marked)).get_result(conn)?)
}

/// Adds a number the consumer asked to stop (`source` CONSUMER_OPT_OUT or WRONG_NUMBER); an
/// entry the company had added takes the consumer's source (it then binds every schedule).
pub fn add_from_consumer(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(suppressed_numbers::table)
        .values((
            suppressed_numbers::company_id.eq(company_id),
            suppressed_numbers::phone_number.eq(number),
            suppressed_numbers::created_at.eq(now),
            suppressed_numbers::source.eq(source),
        ))
        .on_conflict((suppressed_numbers::company_id, suppressed_numbers::phone_number))
        .do_update()
        // The consumer's word wins over the company's entry; an earlier consumer source stays.
        .set(suppressed_numbers::source.eq(diesel::dsl::sql::<diesel::sql_types::Text>(
            "CASE WHEN suppressed_numbers.source = 'COMPANY' THEN excluded.source ELSE suppressed_numbers.source END",
        )))
        .execute(conn)?;
    Ok(())
}
