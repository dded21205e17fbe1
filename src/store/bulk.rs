//! Bulk upserts of customers (set-wise, in batches).

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date, Jsonb, Nullable, Text};
use diesel::upsert::excluded;
use uuid::Uuid;

use super::customers::CustomerValues;
use super::schema::customers as c;
use super::StoreError;
use crate::domain::customer::CustomerRecord;

/// Records per INSERT: 24 bind parameters each keeps a batch far under Postgres's 65,535.
pub const BATCH_SIZE: usize = 1000;

/// Upserts one batch by external id; returns (internal id, created) in the batch's order.
/// Fields a record leaves empty keep their stored values (a campaign may not require them),
/// `externalMetadata` merges key by key, a bulk import never clears Do-Not-Call, and `isTest`
/// changes only where the record carried it (`true` in the pair): the records that did and
/// those that did not go in one statement each.
pub fn upsert_batch(
    conn: &mut PgConnection,
    company_id: Uuid,
    records: &[(&CustomerRecord, bool)],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, bool)>, StoreError> {
    let mut rows = Vec::with_capacity(records.len());
    for is_test_given in [true, false] {
        let part: Vec<&CustomerRecord> =
            records.iter().filter(|(_, given)| *given == is_test_given).map(|(r, _)| *r).collect();
        if !part.is_empty() {
            rows.extend(upsert_part(conn, company_id, &part, is_test_given, now)?);
        }
    }
    // RETURNING follows the VALUES order for INSERT ... ON CONFLICT, but match by id to be sure.
    let by_id: std::collections::HashMap<&str, (i64, bool)> =
        rows.iter().map(|(id, ext, created)| (ext.as_str(), (*id, *created))).collect();
    records
        .iter()
        .map(|(r, _)| by_id.get(r.external_id.as_str()).copied().ok_or(StoreError::NotFound))
        .collect()
}

fn upsert_part(
    conn: &mut PgConnection,
    company_id: Uuid,
    records: &[&CustomerRecord],
    is_test_given: bool,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, String, bool)>, StoreError> {
    let values: Vec<_> =
        records.iter().map(|r| (CustomerValues::new(company_id, r, now), c::created_at.eq(now))).collect();
    let keep =
        |column: &str| sql::<Nullable<Text>>(&format!("COALESCE(excluded.{column}, customers.{column})"));
    let is_test = if is_test_given { "excluded.is_test" } else { "customers.is_test" };
    Ok(diesel::insert_into(c::table)
        .values(&values)
        .on_conflict((c::company_id, c::external_id))
        .do_update()
        .set((
            (
                c::first_name.eq(keep("first_name")),
                c::last_name.eq(keep("last_name")),
                c::email.eq(keep("email")),
                c::birthday.eq(sql::<Nullable<Date>>("COALESCE(excluded.birthday, customers.birthday)")),
                c::ssn_last_four.eq(keep("ssn_last_four")),
                c::phone_number.eq(keep("phone_number")),
                // A given zone wins over an inferred one; an inferred one over none.
                c::timezone.eq(sql::<Nullable<Text>>(
                    "CASE WHEN excluded.timezone IS NULL
                            OR (excluded.timezone_inferred AND NOT customers.timezone_inferred
                                AND customers.timezone IS NOT NULL)
                     THEN customers.timezone ELSE excluded.timezone END",
                )),
                c::timezone_inferred.eq(sql::<Bool>(
                    "CASE WHEN excluded.timezone IS NULL
                            OR (excluded.timezone_inferred AND NOT customers.timezone_inferred
                                AND customers.timezone IS NOT NULL)
                     THEN customers.timezone_inferred ELSE excluded.timezone_inferred END",
                )),
                c::task_type.eq(excluded(c::task_type)),
            ),
            (
                c::street_address1.eq(keep("street_address1")),
                c::street_address2.eq(keep("street_address2")),
                c::city.eq(keep("city")),
                c::state.eq(keep("state")),
                c::zip_code.eq(keep("zip_code")),
                c::do_not_call.eq(sql::<Bool>("customers.do_not_call OR excluded.do_not_call")),
                c::is_test.eq(sql::<Bool>(is_test)),
                c::external_metadata.eq(sql::<Nullable<Jsonb>>(
                    "CASE WHEN excluded.external_metadata IS NULL THEN customers.external_metadata
                     ELSE COALESCE(customers.external_metadata, '{}'::jsonb) || excluded.external_metadata END",
                )),
                c::updated_at.eq(excluded(c::updated_at)),
            ),
            (
                // A line type given wins; else the stored one while the number stays the same.
                c::phone_line_type.eq(sql::<Nullable<Text>>(
                    "CASE WHEN excluded.phone_line_type IS NOT NULL THEN excluded.phone_line_type
                          WHEN excluded.phone_number IS NULL
                               OR excluded.phone_number = customers.phone_number
                          THEN customers.phone_line_type END",
                )),
                c::inconvenient_times.eq(sql::<Nullable<Jsonb>>(
                    "COALESCE(excluded.inconvenient_times, customers.inconvenient_times)",
                )),
                c::picture_url.eq(keep("picture_url")),
            ),
        ))
        .returning((c::id, c::external_id, sql::<Bool>("xmax = 0")))
        .get_results(conn)?)
}
