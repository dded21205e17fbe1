//! Bulk upserts of customers (set-wise, in batches).

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Jsonb, Nullable, Text};
use diesel::upsert::excluded;
use uuid::Uuid;

use super::customers::CustomerValues;
use super::schema::customers as c;
use super::StoreError;
use crate::domain::customer::CustomerRecord;

/// Records per INSERT: 20 bind parameters each keeps a batch far under Postgres's 65,535.
pub const BATCH_SIZE: usize = 1000;

/// Upserts one batch by external id in a single statement; returns (internal id, created) in
/// the batch's order. Optional fields a record leaves empty keep their stored values,
/// `externalMetadata` merges key by key, and a bulk import never clears Do-Not-Call.
pub fn upsert_batch(
    conn: &mut PgConnection,
    company_id: Uuid,
    records: &[&CustomerRecord],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, bool)>, StoreError> {
    let values: Vec<CustomerValues> =
        records.iter().map(|r| CustomerValues::new(company_id, r, now)).collect();
    let rows: Vec<(i64, String, bool)> = diesel::insert_into(c::table)
        .values(&values)
        .on_conflict((c::company_id, c::external_id))
        .do_update()
        .set((
            c::first_name.eq(excluded(c::first_name)),
            c::last_name.eq(excluded(c::last_name)),
            c::email.eq(excluded(c::email)),
            c::birthday.eq(excluded(c::birthday)),
            c::ssn_last_four
                .eq(sql::<Nullable<Text>>("COALESCE(excluded.ssn_last_four, customers.ssn_last_four)")),
            c::phone_number.eq(excluded(c::phone_number)),
            c::timezone.eq(excluded(c::timezone)),
            c::task_type.eq(excluded(c::task_type)),
            c::street_address1.eq(excluded(c::street_address1)),
            c::street_address2
                .eq(sql::<Nullable<Text>>("COALESCE(excluded.street_address2, customers.street_address2)")),
            c::city.eq(excluded(c::city)),
            c::state.eq(excluded(c::state)),
            c::zip_code.eq(excluded(c::zip_code)),
            c::do_not_call.eq(sql::<Bool>("customers.do_not_call OR excluded.do_not_call")),
            c::is_test.eq(excluded(c::is_test)),
            c::external_metadata.eq(sql::<Nullable<Jsonb>>(
                "CASE WHEN excluded.external_metadata IS NULL THEN customers.external_metadata
                 ELSE COALESCE(customers.external_metadata, '{}'::jsonb) || excluded.external_metadata END",
            )),
            c::updated_at.eq(excluded(c::updated_at)),
        ))
        .returning((c::id, c::external_id, sql::<Bool>("xmax = 0")))
        .get_results(conn)?;
    // RETURNING follows the VALUES order for INSERT ... ON CONFLICT, but match by id to be sure.
    let by_id: std::collections::HashMap<&str, (i64, bool)> =
        rows.iter().map(|(id, ext, created)| (ext.as_str(), (*id, *created))).collect();
    records.iter().map(|r| by_id.get(r.external_id.as_str()).copied().ok_or(StoreError::NotFound)).collect()
}
