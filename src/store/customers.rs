//! Customers: lookups, the filtered and keyset-paged list, create and upsert.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text, Timestamptz};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::schema::customers;
use super::{is_unique_violation, like_pattern, Page, PageRequest, StoreError};
use crate::domain::consumer::TimeRange;
use crate::domain::contact_policy::LineType;
use crate::domain::customer::{self, CustomerRecord};
use crate::domain::ValidationError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers, check_for_backend(Pg))]
pub struct CustomerRow {
    pub id: i64,
    pub company_id: Uuid,
    pub external_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub ssn_last_four: Option<String>,
    pub phone_number: Option<String>,
    pub timezone: Option<String>,
    pub task_type: Option<String>,
    pub street_address1: Option<String>,
    pub street_address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip_code: Option<String>,
    pub do_not_call: bool,
    pub is_test: bool,
    pub external_metadata: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub timezone_inferred: bool,
    /// A contact hold (attorney, cease request, dispute…): no path calls the customer until it
    /// is released. Never changed by a sync, upsert or import.
    pub contact_hold_reason: Option<String>,
    pub contact_hold_since: Option<DateTime<Utc>>,
    pub contact_hold_note: Option<String>,
    /// `LineType` code; NULL: unknown.
    pub phone_line_type: Option<String>,
    /// `[{"days": ["MON"], "start": "09:00", "end": "12:00"}]`; NULL: none.
    pub inconvenient_times: Option<Value>,
    pub picture_url: Option<String>,
}

impl CustomerRow {
    pub fn record(&self) -> CustomerRecord {
        CustomerRecord {
            external_id: self.external_id.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            birthday: self.birthday,
            ssn_last_four: self.ssn_last_four.clone(),
            phone_number: self.phone_number.clone(),
            timezone: self.timezone.clone(),
            task_type: self.task_type.clone(),
            street_address1: self.street_address1.clone(),
            street_address2: self.street_address2.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            zip_code: self.zip_code.clone(),
            do_not_call: self.do_not_call,
            is_test: self.is_test,
            external_metadata: match &self.external_metadata {
                Some(Value::Object(map)) => Some(map.clone()),
                _ => None,
            },
            timezone_inferred: self.timezone_inferred,
            phone_line_type: self.line_type(),
            inconvenient_times: self.inconvenient_times(),
            consent: None,
            picture_url: self.picture_url.clone(),
        }
    }

    /// What line the customer's number is on (None: unknown).
    pub fn line_type(&self) -> Option<LineType> {
        self.phone_line_type.as_deref().and_then(LineType::from_code).filter(|l| *l != LineType::Unknown)
    }

    /// The consumer's inconvenient times (stored validated; an unreadable value reads as none
    /// rather than failing every decision about the customer).
    pub fn inconvenient_times(&self) -> Vec<TimeRange> {
        self.inconvenient_times.clone().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
    }
}

/// The stored columns of a customer record (`None` writes NULL: as an explicit NULL rather than
/// DEFAULT, the insert has one shape, which Diesel can keep prepared).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct CustomerValues<'a> {
    company_id: Uuid,
    external_id: &'a str,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    email: Option<&'a str>,
    birthday: Option<NaiveDate>,
    ssn_last_four: Option<&'a str>,
    phone_number: Option<&'a str>,
    timezone: Option<&'a str>,
    task_type: Option<&'a str>,
    street_address1: Option<&'a str>,
    street_address2: Option<&'a str>,
    city: Option<&'a str>,
    state: Option<&'a str>,
    zip_code: Option<&'a str>,
    do_not_call: bool,
    is_test: bool,
    external_metadata: Option<Value>,
    updated_at: DateTime<Utc>,
    timezone_inferred: bool,
    phone_line_type: Option<&'static str>,
    inconvenient_times: Option<Value>,
    picture_url: Option<&'a str>,
}

impl<'a> CustomerValues<'a> {
    pub(crate) fn new(company_id: Uuid, r: &'a CustomerRecord, now: DateTime<Utc>) -> Self {
        CustomerValues {
            company_id,
            external_id: &r.external_id,
            first_name: r.first_name.as_deref(),
            last_name: r.last_name.as_deref(),
            email: r.email.as_deref(),
            birthday: r.birthday,
            ssn_last_four: r.ssn_last_four.as_deref(),
            phone_number: r.phone_number.as_deref(),
            timezone: r.timezone.as_deref(),
            task_type: r.task_type.as_deref(),
            street_address1: r.street_address1.as_deref(),
            street_address2: r.street_address2.as_deref(),
            city: r.city.as_deref(),
            state: r.state.as_deref(),
            zip_code: r.zip_code.as_deref(),
            do_not_call: r.do_not_call,
            is_test: r.is_test,
            external_metadata: r.external_metadata.clone().map(Value::Object),
            updated_at: now,
            timezone_inferred: r.timezone_inferred,
            phone_line_type: r.phone_line_type.map(LineType::code),
            inconvenient_times: (!r.inconvenient_times.is_empty())
                .then(|| serde_json::to_value(&r.inconvenient_times).unwrap_or_default()),
            picture_url: r.picture_url.as_deref(),
        }
    }
}

pub fn by_external_id(
    conn: &mut PgConnection,
    company_id: Uuid,
    external_id: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::external_id.eq(external_id))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?)
}

/// The customer with this E.164 number; if several share it, the most recently updated.
pub fn by_phone(
    conn: &mut PgConnection,
    company_id: Uuid,
    e164: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::phone_number.eq(e164))
        .order((customers::updated_at.desc(), customers::id.desc()))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_ids(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: &[i64],
) -> Result<Vec<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::id.eq_any(ids))
        .select(CustomerRow::as_select())
        .load(conn)?)
}

/// Inserts a new customer; an existing id is a conflict (naming `id`).
pub fn insert(
    conn: &mut PgConnection,
    company_id: Uuid,
    record: &CustomerRecord,
    now: DateTime<Utc>,
) -> Result<CustomerRow, StoreError> {
    diesel::insert_into(customers::table)
        .values((CustomerValues::new(company_id, record, now), customers::created_at.eq(now)))
        .returning(CustomerRow::as_returning())
        .get_result(conn)
        .map_err(|e| {
            if is_unique_violation(&e, "customers_company_id_external_id_key") {
                StoreError::conflict(
                    "id",
                    format!("a customer with id {:?} already exists", record.external_id),
                )
            } else {
                e.into()
            }
        })
}

/// Inserts a new customer; None if its id exists (one statement, decided by the unique index).
pub fn insert_new(
    conn: &mut PgConnection,
    company_id: Uuid,
    record: &CustomerRecord,
    now: DateTime<Utc>,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(diesel::insert_into(customers::table)
        .values((CustomerValues::new(company_id, record, now), customers::created_at.eq(now)))
        .on_conflict((customers::company_id, customers::external_id))
        .do_nothing()
        .returning(CustomerRow::as_returning())
        .get_result(conn)
        .optional()?)
}

/// Writes `record` over the stored customer `id`; another customer's id is a conflict.
pub fn update(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: i64,
    record: &CustomerRecord,
    now: DateTime<Utc>,
) -> Result<CustomerRow, StoreError> {
    diesel::update(customers::table.find(id))
        .set(CustomerValues::new(company_id, record, now))
        .returning(CustomerRow::as_returning())
        .get_result(conn)
        .map_err(|e| {
            if is_unique_violation(&e, "customers_company_id_external_id_key") {
                StoreError::conflict("id", "another customer already has this id")
            } else {
                e.into()
            }
        })
}

/// Serialises, until the transaction ends, every writer that identifies customers of the
/// company by one of these numbers (in a fixed order, so two writers cannot deadlock).
pub fn lock_phone_identities(
    conn: &mut PgConnection,
    company_id: Uuid,
    phones: &[String],
) -> Result<(), StoreError> {
    if phones.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = phones.iter().map(|p| format!("{company_id}:{p}")).collect();
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(8, h) FROM \
         (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(&keys)
    .execute(conn)?;
    Ok(())
}

/// The external ids of the company's customers with these numbers (if several share one, the
/// most recently updated).
pub fn external_ids_by_phone(
    conn: &mut PgConnection,
    company_id: Uuid,
    phones: &[String],
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    let rows: Vec<(Option<String>, String)> = customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::phone_number.eq_any(phones))
        .order((customers::updated_at.asc(), customers::id.asc()))
        .select((customers::phone_number, customers::external_id))
        .load(conn)?;
    // Later rows (more recently updated) win.
    Ok(rows.into_iter().filter_map(|(phone, id)| Some((phone?, id))).collect())
}

/// The customers with this number, locked (at most `limit`, oldest first).
pub fn lock_by_phone(
    conn: &mut PgConnection,
    company_id: Uuid,
    phone: &str,
    limit: i64,
) -> Result<Vec<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::phone_number.eq(phone))
        .order(customers::id.asc())
        .limit(limit)
        .select(CustomerRow::as_select())
        .for_update()
        .load(conn)?)
}

/// The customer with this external id, locked.
pub fn lock_by_external_id(
    conn: &mut PgConnection,
    company_id: Uuid,
    external_id: &str,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::external_id.eq(external_id.trim()))
        .select(CustomerRow::as_select())
        .for_update()
        .first(conn)
        .optional()?)
}

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

/// Where a page starts: after the row with this sort key. Opaque to clients (base64 JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerCursor {
    order: CustomerOrder,
    desc: bool,
    /// The sort key: microseconds for timestamps, text otherwise.
    key: Value,
    id: i64,
}

impl CustomerCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()
    }

    fn of(row: &CustomerRow, order: CustomerOrder, desc: bool) -> Self {
        let key = match order {
            CustomerOrder::CreatedAt => Value::from(row.created_at.timestamp_micros()),
            CustomerOrder::UpdatedAt => Value::from(row.updated_at.timestamp_micros()),
            CustomerOrder::LastName => Value::from(row.last_name.clone().unwrap_or_default()),
            CustomerOrder::Id => Value::from(row.external_id.clone()),
        };
        CustomerCursor { order, desc, key, id: row.id }
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
    id: i64,
) -> Result<Boxed<'a>, StoreError> {
    let bad_cursor = || StoreError::from(ValidationError::new("after", "invalid cursor"));
    let column = sort_key(order);
    Ok(match order {
        CustomerOrder::CreatedAt | CustomerOrder::UpdatedAt => {
            let micros = key.as_i64().ok_or_else(bad_cursor)?;
            let ts = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad_cursor)?;
            q.filter(
                sql::<Bool>(&format!("({column}, customers.id) {op} ("))
                    .bind::<Timestamptz, _>(ts)
                    .sql(", ")
                    .bind::<BigInt, _>(id)
                    .sql(")"),
            )
        }
        CustomerOrder::LastName => {
            let text = key.as_str().ok_or_else(bad_cursor)?.to_string();
            q.filter(
                sql::<Bool>(&format!("({column}, customers.id) {op} ("))
                    .bind::<Text, _>(text)
                    .sql(", ")
                    .bind::<BigInt, _>(id)
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
        _ => format!("{column} {dir}, customers.id {dir}"),
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
                Some((key, id)) => load(conn, searched(keyset(base()?, order, before, key, *id)?, term))?,
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
        Some(c) => keyset(q, order, op, &c.key, c.id),
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
) -> Result<Option<(Value, i64)>, StoreError> {
    let q = q.order(sql::<Text>(order_sql)).offset(n - 1).limit(1);
    Ok(match order {
        CustomerOrder::CreatedAt => q
            .select((customers::created_at, customers::id))
            .first::<(DateTime<Utc>, i64)>(conn)
            .optional()?
            .map(|(at, id)| (Value::from(at.timestamp_micros()), id)),
        CustomerOrder::UpdatedAt => q
            .select((customers::updated_at, customers::id))
            .first::<(DateTime<Utc>, i64)>(conn)
            .optional()?
            .map(|(at, id)| (Value::from(at.timestamp_micros()), id)),
        CustomerOrder::LastName | CustomerOrder::Id => q
            .select((sql::<Text>(sort_key(order)), customers::id))
            .first::<(String, i64)>(conn)
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

/// Locks the company's customers with these internal ids, in id order (a fixed lock order, so
/// two callers locking overlapping sets cannot deadlock).
pub fn lock_many(
    conn: &mut PgConnection,
    company_id: Uuid,
    ids: &[i64],
) -> Result<Vec<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::id.eq_any(ids))
        .order(customers::id.asc())
        .select(CustomerRow::as_select())
        .for_update()
        .load(conn)?)
}

/// Places (`Some((reason, note))`) or releases (`None`) the customer's contact hold. A hold
/// placed again keeps its `since`.
pub fn set_contact_hold(
    conn: &mut PgConnection,
    id: i64,
    hold: Option<(&str, Option<&str>)>,
    now: DateTime<Utc>,
) -> Result<CustomerRow, StoreError> {
    let target = customers::table.find(id);
    let row =
        match hold {
            Some((reason, note)) => diesel::update(target)
                .set((
                    customers::contact_hold_reason.eq(reason),
                    customers::contact_hold_note.eq(note),
                    customers::contact_hold_since.eq(diesel::dsl::sql::<
                        diesel::sql_types::Nullable<Timestamptz>,
                    >("COALESCE(contact_hold_since, ")
                    .bind::<Timestamptz, _>(now)
                    .sql(")")),
                    customers::updated_at.eq(now),
                ))
                .returning(CustomerRow::as_returning())
                .get_result(conn)?,
            None => diesel::update(target)
                .set((
                    customers::contact_hold_reason.eq(None::<String>),
                    customers::contact_hold_note.eq(None::<String>),
                    customers::contact_hold_since.eq(None::<DateTime<Utc>>),
                    customers::updated_at.eq(now),
                ))
                .returning(CustomerRow::as_returning())
                .get_result(conn)?,
        };
    Ok(row)
}

/// The customer's row locked, or None when another transaction holds it (the caller already
/// holds a lock that comes later in the order, e.g. a claimed task's, and must not wait).
pub fn try_lock(
    conn: &mut PgConnection,
    company_id: Uuid,
    id: i64,
) -> Result<Option<CustomerRow>, StoreError> {
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::id.eq(id))
        .select(CustomerRow::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?)
}

/// The ids of the company's customers whose phone number is one of `numbers` (E.164).
pub fn ids_with_phones(
    conn: &mut PgConnection,
    company_id: Uuid,
    numbers: &[String],
) -> Result<Vec<i64>, StoreError> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    Ok(customers::table
        .filter(customers::company_id.eq(company_id))
        .filter(customers::phone_number.eq_any(numbers))
        .select(customers::id)
        .load(conn)?)
}
