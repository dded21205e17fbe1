//! Bulk writes of customers (set-wise, in batches): the records are merged in Rust by the
//! rule of every write; these statements only store the result.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use uuid::Uuid;

use super::customers::CustomerValues;
use super::schema::customers as c;
use super::StoreError;
use crate::domain::customer::CustomerRecord;

/// Records per INSERT: 24 bind parameters each keeps a batch far under Postgres's 65,535.
pub const BATCH_SIZE: usize = 1000;

/// What a batch's INSERT does with a record whose id the company already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Leaves the stored customer alone (a concurrent writer created it since it was looked
    /// up): the caller merges into it. The batch is written sorted by id, so two imports of
    /// overlapping new ids wait for each other instead of deadlocking.
    Skip,
    /// Writes the record over the stored customer (locked by the caller, which merged the
    /// record into it). The contact hold is not a column of the record: it stays.
    Overwrite,
}

/// Writes the records in one INSERT; returns (internal id, external id) of those it wrote.
pub fn write(
    conn: &mut PgConnection,
    company_id: Uuid,
    records: &[&CustomerRecord],
    on_existing: OnExisting,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, String)>, StoreError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut records = records.to_vec();
    if on_existing == OnExisting::Skip {
        records.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    }
    let rows = rows(company_id, &records, now);
    let insert = diesel::insert_into(c::table).values(&rows).on_conflict((c::company_id, c::external_id));
    if on_existing == OnExisting::Skip {
        return Ok(insert.do_nothing().returning((c::id, c::external_id)).get_results(conn)?);
    }
    Ok(insert
        .do_update()
        .set((
            (
                c::first_name.eq(excluded(c::first_name)),
                c::last_name.eq(excluded(c::last_name)),
                c::email.eq(excluded(c::email)),
                c::birthday.eq(excluded(c::birthday)),
                c::ssn_last_four.eq(excluded(c::ssn_last_four)),
                c::phone_number.eq(excluded(c::phone_number)),
                c::timezone.eq(excluded(c::timezone)),
                c::timezone_inferred.eq(excluded(c::timezone_inferred)),
                c::task_type.eq(excluded(c::task_type)),
            ),
            (
                c::street_address1.eq(excluded(c::street_address1)),
                c::street_address2.eq(excluded(c::street_address2)),
                c::city.eq(excluded(c::city)),
                c::state.eq(excluded(c::state)),
                c::zip_code.eq(excluded(c::zip_code)),
                c::do_not_call.eq(excluded(c::do_not_call)),
                c::is_test.eq(excluded(c::is_test)),
                c::external_metadata.eq(excluded(c::external_metadata)),
                c::updated_at.eq(excluded(c::updated_at)),
            ),
            (
                c::phone_line_type.eq(excluded(c::phone_line_type)),
                c::inconvenient_times.eq(excluded(c::inconvenient_times)),
                c::picture_url.eq(excluded(c::picture_url)),
            ),
        ))
        .returning((c::id, c::external_id))
        .get_results(conn)?)
}

/// The rows of an INSERT of these records.
fn rows<'a>(
    company_id: Uuid,
    records: &[&'a CustomerRecord],
    now: DateTime<Utc>,
) -> Vec<(CustomerValues<'a>, diesel::dsl::Eq<c::created_at, DateTime<Utc>>)> {
    records.iter().map(|r| (CustomerValues::new(company_id, r, now), c::created_at.eq(now))).collect()
}
