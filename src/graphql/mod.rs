//! The GraphQL schema: thin resolvers that parse input, call domain and store, map errors.

pub mod bulk;
pub mod calls;
pub mod company;
pub mod consent;
pub mod customer_input;
pub mod customer_mutations;
pub mod customers;
pub mod error;
pub mod field_order;
pub mod jobs;
pub mod keys;
pub mod loaders;
pub mod mutation_guard;
pub mod request_hooks;
pub mod scalars;
pub mod schedules;
pub mod shape_limit;
pub mod subscriptions;
pub mod suppressed;
pub mod tasks;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, MaybeUndefined, MergedObject, Schema};
use uuid::Uuid;

use crate::domain::Patch;
use crate::events::EventHub;
use crate::store::{Db, Page, PageRequest, TimeCursor};
use error::{ApiError, GqlResult};

/// Reads. Every field needs an API key (`X-API-Key`), else UNAUTHENTICATED, and sees only the
/// key's company: another company's records are null, never visible.
#[derive(MergedObject, Default)]
pub struct Query(
    company::CompanyQuery,
    customers::CustomerQuery,
    schedules::ScheduleQuery,
    tasks::TaskQuery,
    calls::CallQuery,
    jobs::JobQuery,
    suppressed::SuppressedQuery,
    consent::ConsentQuery,
    keys::KeyQuery,
);

/// Writes. Every field needs an API key, else UNAUTHENTICATED; a mutation that errors writes
/// nothing. Errors carry `extensions.code` (BAD_USER_INPUT with `extensions.field`, NOT_FOUND,
/// CONFLICT, DO_NOT_CALL, OUTSIDE_CALLING_HOURS, CONTACT_LIMIT, CONTACT_HOLD, NO_CONSENT…).
#[derive(MergedObject, Default)]
pub struct Mutation(
    customer_mutations::CustomerMutation,
    schedules::ScheduleMutation,
    calls::CallMutation,
    bulk::BulkMutation,
    suppressed::SuppressedMutation,
    company::CompanyMutation,
    consent::ConsentMutation,
    keys::KeyMutation,
);

pub type CallsyncSchema = Schema<Query, Mutation, subscriptions::Subscription>;

/// The company of the request's API key; absent when the request carried no key.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub Uuid);

/// Deepest query accepted (a connection of customers with nested pages is ~8).
pub const MAX_DEPTH: usize = 16;
/// Upper bound on the cost of one query: each field counts 1, and a connection counts `first`
/// (default 50) times its selection, so nested pages are priced at what they can fetch.
pub const MAX_COMPLEXITY: usize = 50_000;
/// Most operations in one batched HTTP request.
pub const MAX_BATCH: usize = 20;

/// What a connection field costs: its page size times what each item selects. (`first: 0`
/// still runs a count or a search; [`shape_limit`] caps how many.)
pub(crate) fn connection_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE) as usize;
    first.saturating_mul(child_complexity.max(1))
}

/// The schema with its limits and data; the caller adds extensions and calls `finish` once
/// per process (the result is cloned into each HTTP worker).
pub fn schema_builder(
    db: Db,
    hub: EventHub,
    network: crate::net::NetworkPolicy,
    secrets: crate::secrets::Secrets,
    lms: crate::lms::LmsClient,
) -> async_graphql::SchemaBuilder<Query, Mutation, subscriptions::Subscription> {
    bare_builder()
        .data(db)
        .data(hub)
        .data(network)
        .data(secrets)
        .data(lms)
        .extension(shape_limit::ShapeLimit)
        .extension(field_order::RootFieldOrder)
        .extension(mutation_guard::MutationGuard)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// The types and their descriptions, without data, extensions or limits.
fn bare_builder() -> async_graphql::SchemaBuilder<Query, Mutation, subscriptions::Subscription> {
    // async-graphql's connection types take no doc comment: their descriptions are set here.
    Schema::build(Query::default(), Mutation::default(), subscriptions::Subscription)
        .override_output_type_description::<customers::CustomerConnection>(
            "A page of customers (Relay connection): `first` (default 50, at most 500) after the `after` cursor.",
        )
        .override_output_type_description::<schedules::ScheduleConnection>(
            "A page of schedules (Relay connection): `first` (default 50, at most 500) after the `after` cursor.",
        )
        .override_output_type_description::<tasks::TaskConnection>(
            "A page of tasks (Relay connection): `first` (default 50, at most 500) after the `after` cursor.",
        )
        .override_output_type_description::<calls::CallConnection>(
            "A page of calls (Relay connection): `first` (default 50, at most 500) after the `after` cursor.",
        )
        .override_output_type_description::<suppressed::SuppressedNumberConnection>(
            "A page of suppressed numbers (Relay connection): `first` (default 50, at most 500) after the `after` cursor.",
        )
        .override_output_type_description::<keys::AuditEntryConnection>(
            "A page of the audit trail (Relay connection): `first` (default 50, at most 500) after the `after` cursor.",
        )
}

/// The schema without data: enough for `sdl` and for introspection (nothing else resolves).
pub fn bare_schema() -> CallsyncSchema {
    bare_builder().finish()
}

/// The SDL that `callsync schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    bare_schema().sdl()
}

pub(crate) fn tenant(ctx: &Context<'_>) -> async_graphql::Result<Uuid> {
    use async_graphql::ErrorExtensions;
    ctx.data_opt::<Tenant>().map(|t| t.0).ok_or_else(|| ApiError::Unauthenticated.extend())
}

/// Whether the request's key may see SSN digits, birthday and email (not a NO_PII key).
pub(crate) fn sees_pii(ctx: &Context<'_>) -> bool {
    ctx.data_opt::<crate::store::api_keys::KeyIdentity>().is_some_and(|key| key.scope.sees_pii())
}

/// The request's DataLoaders (present whenever the request is authenticated).
pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a loaders::Loaders> {
    use async_graphql::ErrorExtensions;
    ctx.data_opt::<loaders::Loaders>().ok_or_else(|| ApiError::Unauthenticated.extend())
}

/// Where outbound requests may go (`--allow-private-network`).
pub(crate) fn network(ctx: &Context<'_>) -> crate::net::NetworkPolicy {
    ctx.data_opt::<crate::net::NetworkPolicy>().copied().unwrap_or_default()
}

/// Seals and opens company secrets (`CALLSYNC_SECRET_KEY`).
pub(crate) fn secrets<'a>(ctx: &Context<'a>) -> &'a crate::secrets::Secrets {
    ctx.data_unchecked::<crate::secrets::Secrets>()
}

/// A list's cursors as clients see them: the store's payload (sort key and public id, never a
/// row id) sealed for the company and the list (`crate::ids`). Every connection passes here.
pub(crate) struct Cursors<'a> {
    keys: &'a crate::ids::IdKeys,
    company: Uuid,
    list: &'static str,
}

impl Cursors<'_> {
    /// The cursor of a row whose payload the store wrote.
    pub(crate) fn seal(&self, payload: &str) -> String {
        self.keys.seal_cursor(self.company, self.list, payload)
    }

    /// The page `first` and `after` ask for of a list in time order (tasks, calls).
    pub(crate) fn time_page(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<&str>,
        desc: bool,
    ) -> async_graphql::Result<PageRequest<(), TimeCursor>> {
        let first = page_size(first).gql()?;
        let after = self.open(after).gql()?.as_deref().map(TimeCursor::decode).transpose().gql()?;
        Ok(PageRequest { order: (), desc, after, first, with_total: wants_total(ctx) })
    }

    /// `page` as a connection of `node`s, each cursor sealed.
    pub(crate) fn connection<Row, Node: async_graphql::OutputType>(
        &self,
        after_given: bool,
        page: Page<Row>,
        node: impl Fn(Row) -> Node,
    ) -> Connection<String, Node, TotalCount> {
        let total = TotalCount { total_count: page.total_count.unwrap_or(0) };
        let mut connection = Connection::with_additional_fields(after_given, page.has_next_page, total);
        connection
            .edges
            .extend(page.rows.into_iter().map(|(cursor, row)| Edge::new(self.seal(&cursor), node(row))));
        connection
    }

    /// The payload of `after`; a cursor this list did not give the company (altered, forged,
    /// another list's) is `BAD_USER_INPUT` naming `after`.
    pub(crate) fn open(&self, after: Option<&str>) -> Result<Option<String>, ApiError> {
        let Some(cursor) = after else { return Ok(None) };
        self.keys.open_cursor(self.company, self.list, cursor).map(Some).ok_or_else(|| {
            ApiError::bad_input(
                "after",
                format!("after is not a cursor of {}: pass an endCursor exactly as it came", self.list),
            )
        })
    }
}

/// The cursors of the company's `list` (a name of the list, bound into its cursors).
pub(crate) fn cursors<'a>(ctx: &Context<'a>, list: &'static str) -> async_graphql::Result<Cursors<'a>> {
    Ok(Cursors { keys: secrets(ctx).ids(), company: tenant(ctx)?, list })
}

pub(crate) fn db<'a>(ctx: &Context<'a>) -> &'a Db {
    ctx.data_unchecked::<Db>()
}

pub(crate) fn patch<T>(value: MaybeUndefined<T>) -> Patch<T> {
    match value {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(v) => Patch::Set(v),
    }
}

pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 500;

/// `first` for a connection: 50 when omitted, at most 500.
pub(crate) fn page_size(first: Option<i32>) -> Result<i64, ApiError> {
    match first.unwrap_or(DEFAULT_PAGE_SIZE) {
        n if (0..=MAX_PAGE_SIZE).contains(&n) => Ok(i64::from(n)),
        _ => Err(ApiError::bad_input("first", format!("first must be between 0 and {MAX_PAGE_SIZE}"))),
    }
}

/// Whether the client selected `totalCount` (it costs a COUNT query).
pub(crate) fn wants_total(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// Extra fields on every connection.
#[derive(async_graphql::SimpleObject)]
pub struct TotalCount {
    /// How many records match the filter, across all pages.
    pub total_count: i64,
}

/// Which way a list is sorted.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderDirection {
    /// Smallest (or earliest, or A) first; the default.
    #[default]
    Asc,
    /// Largest (or latest, or Z) first.
    Desc,
}

/// Today's date for validation (birthdays must be in the past), from the server's clock.
pub(crate) fn today(ctx: &Context<'_>) -> chrono::NaiveDate {
    db(ctx).clock().today()
}

/// "Now", from the server's clock.
pub(crate) fn now(ctx: &Context<'_>) -> chrono::DateTime<chrono::Utc> {
    db(ctx).now()
}
