//! The company-wide Do-Not-Call list: addSuppressedNumbers, removeSuppressedNumbers.

use async_graphql::{Context, Object};

use super::error::{ApiError, GqlResult};
use super::{db, tenant};
use crate::app::customers::{stop_contact, StopReason};
use crate::app::AppError;
use crate::domain::customer::normalize_phone;
use crate::store::suppressed;

/// Most numbers accepted in one call.
pub const MAX_NUMBERS: usize = 10_000;

/// Every number normalised to E.164, or the whole call refused.
fn normalize_all(numbers: &[String]) -> Result<Vec<String>, ApiError> {
    if numbers.len() > MAX_NUMBERS {
        return Err(ApiError::bad_input("phoneNumbers", format!("at most {MAX_NUMBERS} numbers per call")));
    }
    let mut out = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            normalize_phone("phoneNumbers", n).map_err(|_| {
                ApiError::bad_input("phoneNumbers", format!("phoneNumbers[{i}] is not a valid phone number"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

#[derive(Default)]
pub struct SuppressedMutation;

#[Object]
impl SuppressedMutation {
    /// Adds numbers to the company's Do-Not-Call list; returns how many were new. At once, in
    /// the same transaction, the pending tasks of customers with these numbers and the queued
    /// calls to them not yet handed to a provider are cancelled, with an event each.
    async fn add_suppressed_numbers(
        &self,
        ctx: &Context<'_>,
        phone_numbers: Vec<String>,
    ) -> async_graphql::Result<i64> {
        let company_id = tenant(ctx)?;
        let numbers = normalize_all(&phone_numbers).gql()?;
        let now = super::now(ctx);
        db(ctx)
            .transaction(move |conn| {
                let added = suppressed::add(conn, company_id, &numbers, now)?;
                stop_contact(conn, company_id, &[], &numbers, StopReason::DoNotCall, now)?;
                Ok::<_, AppError>(added)
            })
            .await
            .gql()
    }

    /// Removes numbers from the list; returns how many were on it.
    async fn remove_suppressed_numbers(
        &self,
        ctx: &Context<'_>,
        phone_numbers: Vec<String>,
    ) -> async_graphql::Result<i64> {
        let company_id = tenant(ctx)?;
        let numbers = normalize_all(&phone_numbers).gql()?;
        db(ctx).write(move |conn| suppressed::remove(conn, company_id, &numbers)).await.gql()
    }
}
