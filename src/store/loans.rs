//! Loans stored per customer.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Serialize;

use diesel::upsert::excluded;

use super::schema::loans;
use super::StoreError;
use crate::domain::lms::LoanRecord;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = loans, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
pub struct LoanRow {
    pub loan_id: String,
    pub amount: Option<f64>,
    pub installment_amount: Option<f64>,
    pub period_months: Option<i32>,
    pub current_installment: Option<i32>,
    pub due_date: Option<NaiveDate>,
    pub payment_status: Option<String>,
}

/// Stores the customer's loans (by loan id: new ones added, known ones updated).
pub fn upsert_for_customer(
    conn: &mut PgConnection,
    company_id: uuid::Uuid,
    customer_id: i64,
    loans: &[LoanRecord],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    upsert_for_customers(conn, company_id, &[(customer_id, loans)], now)
}

/// Stores several customers' loans in one statement per 2,000 loans.
pub fn upsert_for_customers(
    conn: &mut PgConnection,
    company_id: uuid::Uuid,
    customers: &[(i64, &[LoanRecord])],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // One row per (customer, loan): a repeated loan id keeps its last version (a statement may
    // not update the same row twice).
    let mut seen = std::collections::HashMap::new();
    for (id, loans) in customers {
        for loan in loans.iter() {
            seen.insert((*id, loan.loan_id.trim().to_string()), (*id, loan));
        }
    }
    let all: Vec<(i64, &LoanRecord)> = seen.into_values().collect();
    for chunk in all.chunks(2000) {
        upsert_rows(conn, company_id, chunk, now)?;
    }
    Ok(())
}

fn upsert_rows(
    conn: &mut PgConnection,
    company_id: uuid::Uuid,
    loans: &[(i64, &LoanRecord)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if loans.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = loans
        .iter()
        .map(|(customer_id, l)| {
            (
                loans::company_id.eq(company_id),
                loans::customer_id.eq(*customer_id),
                loans::loan_id.eq(l.loan_id.trim()),
                loans::amount.eq(l.amount),
                loans::installment_amount.eq(l.installment_amount),
                loans::period_months.eq(l.period_months),
                loans::current_installment.eq(l.current_installment),
                loans::due_date.eq(l.due_date),
                loans::payment_status.eq(l.payment_status.as_deref()),
                loans::created_at.eq(now),
                loans::updated_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(loans::table)
        .values(rows)
        .on_conflict((loans::company_id, loans::customer_id, loans::loan_id))
        .do_update()
        .set((
            loans::amount.eq(excluded(loans::amount)),
            loans::installment_amount.eq(excluded(loans::installment_amount)),
            loans::period_months.eq(excluded(loans::period_months)),
            loans::current_installment.eq(excluded(loans::current_installment)),
            loans::due_date.eq(excluded(loans::due_date)),
            loans::payment_status.eq(excluded(loans::payment_status)),
            loans::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Loans of several customers (for the DataLoader).
pub fn for_customers(
    conn: &mut PgConnection,
    company_id: uuid::Uuid,
    ids: &[i64],
) -> Result<Vec<(i64, LoanRow)>, StoreError> {
    Ok(loans::table
        .filter(loans::company_id.eq(company_id))
        .filter(loans::customer_id.eq_any(ids))
        .order((loans::customer_id.asc(), loans::loan_id.asc()))
        .select((loans::customer_id, LoanRow::as_select()))
        .load(conn)?)
}

pub fn for_customer(
    conn: &mut PgConnection,
    company_id: uuid::Uuid,
    customer_id: i64,
) -> Result<Vec<LoanRow>, StoreError> {
    Ok(loans::table
        .filter(loans::company_id.eq(company_id))
        .filter(loans::customer_id.eq(customer_id))
        .order(loans::loan_id.asc())
        .select(LoanRow::as_select())
        .load(conn)?)
}
