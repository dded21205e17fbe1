//! The customer list: filters, search (substring by trigram, or a walk of the sort index),
//! keyset pages and counts (exact up to a limit, else the planner's estimate).

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text, Timestamptz};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::schema::customers;
use super::{like_pattern, Page, PageRequest, StoreError};
use crate::domain::customer::{self};
use crate::domain::ValidationError;

use super::customers::CustomerRow;

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub is_test: Option<bool>,
    pub do_not_call: Option<bool>,
    pub contact_hold: Option<bool>,
    pub task_type: Option<String>,
    pub state: Option<String>,
    pub search: Option<String>,
    pub created_at_from: Option<DateTime<Utc>>,
    pub created_at_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomerOrder {
    CreatedAt,
    UpdatedAt,
    LastName,
    Id,
}

/// Where a page starts: after the customer with this sort key and public id (the
/// integration's `external_id`, unique in the company: the order's tie-breaker). It holds no
/// row id; the door seals it (`crate::ids`) before a client sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerCursor {
    order: CustomerOrder,
    desc: bool,
    /// The sort key: microseconds for timestamps, text otherwise.
    key: Value,
    id: String,
}

impl CustomerCursor {
    /// The cursor's payload (JSON), before the door seals it.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    fn of(row: &CustomerRow, order: CustomerOrder, desc: bool) -> Self {
        let key = match order {
            CustomerOrder::CreatedAt => Value::from(row.created_at.timestamp_micros()),
            CustomerOrder::UpdatedAt => Value::from(row.updated_at.timestamp_micros()),
            CustomerOrder::LastName => Value::from(row.last_name.clone().unwrap_or_default()),
            CustomerOrder::Id => Value::from(row.external_id.clone()),
        };
        CustomerCursor { order, desc, key, id: row.external_id.clone() }
    }
}

type Boxed<'a> = customers::BoxedQuery<'a, Pg>;

/// The company's customers matching every filter but `search`.
fn filtered<'a>(company_id: Uuid, f: &'a CustomerFilter) -> Boxed<'a> {
    let mut q = customers::table.filter(customers::company_id.eq(company_id)).into_boxed();
    if let Some(v) = f.is_test {
        q = q.filter(customers::is_test.eq(v));
    }
    if let Some(v) = f.do_not_call {
        q = q.filter(customers::do_not_call.eq(v));
    }
    match f.contact_hold {
        Some(true) => q = q.filter(customers::contact_hold_reason.is_not_null()),
        Some(false) => q = q.filter(customers::contact_hold_reason.is_null()),
        None => {}
    }
    if let Some(v) = &f.task_type {
        q = q.filter(customers::task_type.eq(v));
    }
    if let Some(v) = &f.state {
        q = q.filter(customers::state.eq(v.trim().to_ascii_uppercase()));
    }
    if let Some(from) = f.created_at_from {
        q = q.filter(customers::created_at.ge(from));
    }
    if let Some(to) = f.created_at_to {
        q = q.filter(customers::created_at.lt(to));
    }
    q
}

/// The search term, trimmed; `None` when there is none.
fn search_term(f: &CustomerFilter) -> Option<&str> {
    f.search.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Terms shorter than this have no trigram: they match the start of a field instead.
pub const MIN_SUBSTRING_TERM: usize = 3;

/// `q` narrowed to the customers `term` finds (see docs/API.md "Search"). Every form is served
/// by the `customers_search` trigram index.
fn searched<'a>(q: Boxed<'a>, term: &str) -> Boxed<'a> {
    let searchable = || sql::<Text>(SEARCHABLE);
    let pattern = like_pattern(term);
    if term.chars().count() < MIN_SUBSTRING_TERM {
        // One or two characters: the start of a field (the whole text, or just after a
        // separator). pg_trgm pads a word's start, so "sm" still yields trigrams ("  s", " sm");
        // a substring of two characters yields none and would scan the whole index.
        let prefix = pattern[1..].to_string();
        return q
            .filter(searchable().ilike(prefix.clone()).or(searchable().ilike(format!("%\u{1}{prefix}"))));
    }
    // "(310) 555-12" should find +13105551234: a term that looks like a phone number also
    // matches the phone by its digits alone; any other term never does ("zz-4k9m2x7q"). The
    // digits are looked up in the same index (the phone is part of the searchable text), then
    // checked against the phone itself; a term of digits only needs no second pattern.
    match customer::phone_search_digits(term).filter(|digits| digits != term) {
        Some(digits) => {
            let digits = like_pattern(&digits);
            q.filter(
                searchable().ilike(pattern).or(searchable()
                    .ilike(digits.clone())
                    .and(customers::phone_number.like(digits).assume_not_null())),
            )
        }
        None => q.filter(searchable().ilike(pattern)),
    }
}

/// The searchable fields joined by a separator no term contains: exactly the expression of the
/// `customers_search` index, so the planner can use it.
const SEARCHABLE: &str =
    "(customers.external_id || E'\\x01' || coalesce(customers.first_name, '') || E'\\x01' \
    || coalesce(customers.last_name, '') || E'\\x01' || coalesce(customers.email, '') || E'\\x01' \
    || coalesce(customers.phone_number, ''))";

/// A search first walks at most this many customers (times the page size over 50) in the
/// requested order; a term rarer than that is served from the trigram index instead.
const SEARCH_WALK: i64 = 2000;

/// Counted exactly up to this many matches by `estimate_count`; above, estimated.
pub const EXACT_COUNT_LIMIT: i64 = 1000;

/// The sort key's SQL. LAST_NAME: NULL last names sort as empty, so the keyset comparison stays
/// total (the expression of `customers_company_list_last_name`). ID: the id is unique in a
/// company, so it needs no tie-breaker.
fn sort_key(order: CustomerOrder) -> &'static str {
    match order {
        CustomerOrder::CreatedAt => "customers.created_at",
        CustomerOrder::UpdatedAt => "customers.updated_at",
        CustomerOrder::LastName => "coalesce(customers.last_name, '')",
        CustomerOrder::Id => "customers.external_id",
    }
}

/// `q` narrowed to the rows after (`op` ">") or up to (`op` "<=") the row with this key.
fn keyset<'a>(
    q: Boxed<'a>,
    order: CustomerOrder,
    op: &str,
    key: &Value,
    id: &str,
) -> Result<Boxed<'a>, StoreError> {
    let bad_cursor = || StoreError::from(ValidationError::new("after", "invalid cursor"));
    let column = sort_key(order);
    Ok(match order {
        CustomerOrder::CreatedAt | CustomerOrder::UpdatedAt => {
            let micros = key.as_i64().ok_or_else(bad_cursor)?;
            let ts = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad_cursor)?;
            q.filter(
                sql::<Bool>(&format!("({column}, customers.external_id) {op} ("))
                    .bind::<Timestamptz, _>(ts)
                    .sql(", ")
                    .bind::<Text, _>(id.to_string())
                    .sql(")"),
            )
        }
        CustomerOrder::LastName => {
            let text = key.as_str().ok_or_else(bad_cursor)?.to_string();
            q.filter(
                sql::<Bool>(&format!("({column}, customers.external_id) {op} ("))
                    .bind::<Text, _>(text)
                    .sql(", ")
                    .bind::<Text, _>(id.to_string())
                    .sql(")"),
            )
        }
        CustomerOrder::Id => {
            let text = key.as_str().ok_or_else(bad_cursor)?.to_string();
            q.filter(sql::<Bool>(&format!("{column} {op} ")).bind::<Text, _>(text))
        }
    })
}

/// One page of the company's customers in the given order, after `cursor`.
pub fn list(
    conn: &mut PgConnection,
    company_id: Uuid,
    filter: &CustomerFilter,
    page: &PageRequest<CustomerOrder, CustomerCursor>,
) -> Result<Page<CustomerRow>, StoreError> {
    let (order, desc, first) = (page.order, page.desc, page.first);
    let term = search_term(filter);
    let total_count = if page.with_total {
        let mut q = filtered(company_id, filter);
        if let Some(term) = term {
            q = searched(q, term);
        }
        Some(q.count().get_result(conn)?)
    } else {
        None
    };
    if let Some(c) = &page.after {
        if c.order != order || c.desc != desc {
            return Err(ValidationError::new("after", "the cursor belongs to another ordering").into());
        }
    }
    let (column, dir) = (sort_key(order), if desc { "DESC" } else { "ASC" });
    let order_sql = match order {
        CustomerOrder::Id => format!("{column} {dir}"),
        _ => format!("{column} {dir}, customers.external_id {dir}"),
    };
    let (after, before) = if desc { ("<", ">=") } else { (">", "<=") };
    let base = || candidates(company_id, filter, order, after, page.after.as_ref());
    let load = |conn: &mut PgConnection, q: Boxed| -> Result<Vec<CustomerRow>, StoreError> {
        Ok(q.order(sql::<Text>(&order_sql)).limit(first + 1).select(CustomerRow::as_select()).load(conn)?)
    };
    let mut rows = match term {
        None => load(conn, base()?)?,
        Some(term) => {
            // A common term ("son") is found quickly by walking the sort index, a rare one
            // ("lovelace") by the trigram index then sorting its few matches; each is slow where
            // the other is fast, and the planner's estimate of a substring's frequency is too
            // coarse to choose. So: walk the first candidates in order (bounded by the key of
            // the last of them), and only if they hold less than a page, ask the trigram index.
            let walk = SEARCH_WALK * (first + 1).max(51) / 51;
            let last = last_key(conn, base()?, order, &order_sql, walk)?;
            let walked = match &last {
                Some((key, id)) => load(conn, searched(keyset(base()?, order, before, key, id)?, term))?,
                None => Vec::new(),
            };
            if last.is_none() || walked.len() as i64 > first {
                // No more than `walk` candidates at all (the walk saw every one), or a full page.
                if last.is_none() {
                    load(conn, searched(base()?, term))?
                } else {
                    walked
                }
            } else {
                conn.transaction(|conn| {
                    // Fewer than a page among `walk` candidates: a rare term. Only bitmap scans
                    // (of the trigram index, with any filter's index) serve it well.
                    diesel::sql_query("SET LOCAL enable_indexscan = off").execute(conn)?;
                    diesel::sql_query("SET LOCAL enable_seqscan = off").execute(conn)?;
                    load(conn, searched(base()?, term))
                })?
            }
        }
    };
    let has_next_page = rows.len() as i64 > first;
    rows.truncate(first as usize);
    let rows = rows.into_iter().map(|row| (CustomerCursor::of(&row, order, desc).encode(), row)).collect();
    Ok(Page { rows, has_next_page, total_count })
}

/// The page's candidates: every filter but search, after the cursor.
fn candidates<'a>(
    company_id: Uuid,
    filter: &'a CustomerFilter,
    order: CustomerOrder,
    op: &str,
    after: Option<&CustomerCursor>,
) -> Result<Boxed<'a>, StoreError> {
    let q = filtered(company_id, filter);
    match after {
        Some(c) => keyset(q, order, op, &c.key, &c.id),
        None => Ok(q),
    }
}

/// The sort key and id of the `n`-th candidate in order, or `None` if there are fewer.
fn last_key(
    conn: &mut PgConnection,
    q: Boxed<'_>,
    order: CustomerOrder,
    order_sql: &str,
    n: i64,
) -> Result<Option<(Value, String)>, StoreError> {
    let q = q.order(sql::<Text>(order_sql)).offset(n - 1).limit(1);
    Ok(match order {
        CustomerOrder::CreatedAt => q
            .select((customers::created_at, customers::external_id))
            .first::<(DateTime<Utc>, String)>(conn)
            .optional()?
            .map(|(at, id)| (Value::from(at.timestamp_micros()), id)),
        CustomerOrder::UpdatedAt => q
            .select((customers::updated_at, customers::external_id))
            .first::<(DateTime<Utc>, String)>(conn)
            .optional()?
            .map(|(at, id)| (Value::from(at.timestamp_micros()), id)),
        CustomerOrder::LastName | CustomerOrder::Id => q
            .select((sql::<Text>(sort_key(order)), customers::external_id))
            .first::<(String, String)>(conn)
            .optional()?
            .map(|(key, id)| (Value::from(key), id)),
    })
}

/// How many of the company's customers match `filter`: exact when at most
/// [`EXACT_COUNT_LIMIT`] do (a count that stops there), else the planner's estimate from the
/// table's statistics, never below `EXACT_COUNT_LIMIT + 1`.
pub fn estimate_count(
    conn: &mut PgConnection,
    company_id: Uuid,
    filter: &CustomerFilter,
) -> Result<i64, StoreError> {
    let matching = || match search_term(filter) {
        Some(term) => searched(filtered(company_id, filter), term),
        None => filtered(company_id, filter),
    };
    let bounded: Vec<i64> = matching().select(customers::id).limit(EXACT_COUNT_LIMIT + 1).load(conn)?;
    if (bounded.len() as i64) <= EXACT_COUNT_LIMIT {
        return Ok(bounded.len() as i64);
    }
    let plan: Value = Explain(matching().select(customers::id)).get_result(conn)?;
    let rows = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0);
    Ok((rows.round() as i64).max(EXACT_COUNT_LIMIT + 1))
}

/// `EXPLAIN (FORMAT JSON)` of a query, with its bind parameters.
#[derive(diesel::query_builder::QueryId)]
struct Explain<Q>(Q);

impl<Q: diesel::query_builder::QueryFragment<Pg>> diesel::query_builder::QueryFragment<Pg> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN (FORMAT JSON) ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> diesel::query_builder::Query for Explain<Q> {
    type SqlType = diesel::sql_types::Json;
}

impl<Q> RunQueryDsl<PgConnection> for Explain<Q> {}
