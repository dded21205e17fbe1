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

/// What marks `number` carries in the company: (on the suppression list, marked Do Not Call
/// on one of its customer records), in one query.
pub fn number_marks(
    conn: &mut PgConnection,
    company_id: Uuid,
    number: &str,
) -> Result<(bool, bool), StoreError> {
    use super::schema::customers;
    let suppressed = diesel::dsl::exists(
        suppressed_numbers::table
            .filter(suppressed_numbers::company_id.eq(company_id))
            .filter(suppressed_numbers::phone_number.eq(number)),
    );
    let marked = diesel::dsl::exists(
        customers::table
            .filter(customers::company_id.eq(company_id))
            .filter(customers::phone_number.eq(number))
            .filter(customers::do_not_call),
    );
    Ok(diesel::select((suppressed, marked)).get_result(conn)?)
}

pub fn is_suppressed(conn: &mut PgConnection, company_id: Uuid, number: &str) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        suppressed_numbers::table
            .filter(suppressed_numbers::company_id.eq(company_id))
            .filter(suppressed_numbers::phone_number.eq(number)),
    ))
    .get_result(conn)?)
}

/// Which of `numbers` are on the company's list.
pub fn which_suppressed(
    conn: &mut PgConnection,
    company_id: Uuid,
    numbers: &[String],
) -> Result<std::collections::HashSet<String>, StoreError> {
    Ok(suppressed_numbers::table
        .filter(suppressed_numbers::company_id.eq(company_id))
        .filter(suppressed_numbers::phone_number.eq_any(numbers))
        .select(suppressed_numbers::phone_number)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}
