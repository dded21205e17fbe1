//! The company-wide Do-Not-Call list: addSuppressedNumbers, removeSuppressedNumbers.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, Object, SimpleObject};

use super::error::GqlResult;
use super::{db, tenant};
use crate::app::suppression as use_case;
use crate::store::suppressed;

/// Where a suppressed number came from.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionSource {
    /// addSuppressedNumbers: honoured by schedules that use the company's list.
    Company,
    /// The consumer opted out on a call (outcome OPT_OUT): binds every schedule.
    ConsumerOptOut,
    /// Not the consumer's number (outcome WRONG_NUMBER): binds every schedule.
    WrongNumber,
}

impl SuppressionSource {
    fn code(self) -> &'static str {
        match self {
            SuppressionSource::Company => suppressed::COMPANY,
            SuppressionSource::ConsumerOptOut => suppressed::CONSUMER_OPT_OUT,
            SuppressionSource::WrongNumber => suppressed::WRONG_NUMBER,
        }
    }

    fn of(code: &str) -> SuppressionSource {
        match code {
            suppressed::CONSUMER_OPT_OUT => SuppressionSource::ConsumerOptOut,
            suppressed::WRONG_NUMBER => SuppressionSource::WrongNumber,
            _ => SuppressionSource::Company,
        }
    }
}

/// A number on the company's Do-Not-Call list.
#[derive(SimpleObject)]
pub struct SuppressedNumber {
    /// The number, E.164.
    phone_number: String,
    /// Where it came from: the company's list, or the consumer on a call.
    source: SuppressionSource,
    /// When it joined the list.
    added_at: chrono::DateTime<chrono::Utc>,
}

pub type SuppressedNumberConnection = Connection<String, SuppressedNumber>;

#[derive(Default)]
pub struct SuppressedQuery;

#[Object]
impl SuppressedQuery {
    /// The company's suppressed numbers with where each came from, newest first.
    async fn suppressed_numbers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "Page size, 0 to 500 (BAD_USER_INPUT otherwise).")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, as it came (opaque: an altered or foreign cursor is BAD_USER_INPUT)."
        )]
        after: Option<String>,
        #[graphql(desc = "Only numbers from this source; all when omitted.")] source: Option<
            SuppressionSource,
        >,
    ) -> async_graphql::Result<SuppressedNumberConnection> {
        let company_id = tenant(ctx)?;
        let first = super::page_size(first).gql()?;
        let cursors = super::cursors(ctx, "suppressedNumbers")?;
        let offset = match cursors.open(after.as_deref()).gql()? {
            Some(payload) => crate::store::schedules::decode_offset_cursor(&payload).gql()?,
            None => 0,
        };
        let source = source.map(SuppressionSource::code);
        let mut rows = db(ctx)
            .read(move |conn| suppressed::list(conn, company_id, source, offset, first + 1))
            .await
            .gql()?;
        let has_next = rows.len() as i64 > first;
        rows.truncate(first as usize);
        let mut connection = Connection::new(offset > 0, has_next);
        connection.edges.extend(rows.into_iter().enumerate().map(|(i, row)| {
            let cursor = cursors.seal(&crate::store::schedules::encode_offset_cursor(offset + i as i64 + 1));
            Edge::new(
                cursor,
                SuppressedNumber {
                    phone_number: row.phone_number,
                    source: SuppressionSource::of(&row.source),
                    added_at: row.created_at,
                },
            )
        }));
        Ok(connection)
    }
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
        #[graphql(
            desc = "At most 10,000 numbers in any format; one invalid number refuses them all (BAD_USER_INPUT)."
        )]
        phone_numbers: Vec<String>,
    ) -> async_graphql::Result<i64> {
        let company_id = tenant(ctx)?;
        let numbers = use_case::normalize_all(&phone_numbers).gql()?;
        let now = super::now(ctx);
        db(ctx).transaction(move |conn| use_case::add(conn, company_id, &numbers, now)).await.gql()
    }

    /// Removes numbers from the list; returns how many were on it.
    async fn remove_suppressed_numbers(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most 10,000 numbers in any format; one invalid number refuses them all (BAD_USER_INPUT)."
        )]
        phone_numbers: Vec<String>,
    ) -> async_graphql::Result<i64> {
        let company_id = tenant(ctx)?;
        let numbers = use_case::normalize_all(&phone_numbers).gql()?;
        db(ctx).transaction(move |conn| use_case::remove(conn, company_id, &numbers)).await.gql()
    }
}
