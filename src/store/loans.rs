//! Loans stored per customer.

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::loans;
use super::StoreError;

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

pub fn for_customer(conn: &mut PgConnection, customer_id: i64) -> Result<Vec<LoanRow>, StoreError> {
    Ok(loans::table
        .filter(loans::customer_id.eq(customer_id))
        .order(loans::loan_id.asc())
        .select(LoanRow::as_select())
        .load(conn)?)
}
