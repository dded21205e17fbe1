//! What a request may ask for, refused when the document is parsed, before anything runs: at
//! most [`MAX_ALIASES`] aliased fields, and at most [`MAX_COUNTED_READS`] counts and searches,
//! in one operation and in one batched HTTP request (all its operations together: see
//! `http::graphql`). Aliases are how one request asks for the same costly field thousands of
//! times (49,000 `customers { totalCount }` once fit under the cost limit); a count or a search
//! reads every matching row whatever the page size, so the complexity limit, which prices a
//! page by its size, cannot see them: they are counted here, once per item of the pages around
//! them (a `totalCount` under each of 500 customers is 500 counts).

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory};
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, ServerError, ServerResult, Value, Variables};

use super::error::ApiError;
use super::request_hooks::{Hooked, RequestHooks, Validation};
use super::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// Most aliased fields in one operation.
pub const MAX_ALIASES: usize = 200;
/// Most counts (`totalCount`, `totalCountEstimate`) and searches (a `search` or `fullText`
/// argument or filter) in one operation.
pub const MAX_COUNTED_READS: usize = 50;

/// What a document asks for, as these limits see it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub aliases: usize,
    pub counted_reads: usize,
}

impl Shape {
    pub fn and(self, other: Shape) -> Shape {
        Shape {
            aliases: self.aliases.saturating_add(other.aliases),
            counted_reads: self.counted_reads.saturating_add(other.counted_reads),
        }
    }

    /// The first limit it passes, as the error a client sees (`field`: "query" or "batch").
    pub fn refusal(self, field: &str, what: &str) -> Option<ApiError> {
        let message = if self.aliases > MAX_ALIASES {
            format!("{what} may use at most {MAX_ALIASES} aliases")
        } else if self.counted_reads > MAX_COUNTED_READS {
            format!("{what} may run at most {MAX_COUNTED_READS} counts and searches (totalCount, search)")
        } else {
            return None;
        };
        Some(ApiError::bad_input(field, message))
    }
}

/// How many operations the HTTP request that carries this one holds: a batch of `n` shares one
/// cost limit, each of its operations may cost at most [`super::MAX_COMPLEXITY`] / `n`.
#[derive(Debug, Clone, Copy)]
pub struct BatchOf(pub usize);

pub struct ShapeLimit;

impl ExtensionFactory for ShapeLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Hooked(ShapeLimit))
    }
}

/// A request's fields walked with its variables (a page size may be one).
struct Walk<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
}

impl Walk<'_> {
    /// The shape of `set`, whose every item stands `items` times (the pages around it);
    /// fragments are counted where they are used.
    fn shape(&self, set: &SelectionSet, items: usize, depth: usize) -> Shape {
        if depth > 64 {
            return Shape::default(); // cyclic fragments are refused by validation; never loop here
        }
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => self.field(&field.node, items, depth),
                Selection::InlineFragment(fragment) => {
                    self.shape(&fragment.node.selection_set.node, items, depth + 1)
                }
                Selection::FragmentSpread(spread) => self
                    .document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map_or_else(Shape::default, |f| {
                        self.shape(&f.node.selection_set.node, items, depth + 1)
                    }),
            })
            .fold(Shape::default(), Shape::and)
    }

    fn field(&self, field: &Field, items: usize, depth: usize) -> Shape {
        let name = field.name.node.as_str();
        let counted = matches!(name, "totalCount" | "totalCountEstimate") || self.searches(field);
        let own = Shape {
            aliases: usize::from(field.alias.is_some()),
            counted_reads: if counted { items } else { 0 },
        };
        if !self.is_connection(field) {
            return own.and(self.shape(&field.selection_set.node, items, depth + 1));
        }
        // A connection's `nodes` and `edges` stand once per item of its page; its `totalCount`
        // and `pageInfo` once.
        let per_item = items.saturating_mul(self.page_size(field));
        own.and(self.connection(&field.selection_set.node, items, per_item, depth + 1))
    }

    /// The shape of a connection's own selection (fragments on the connection type included).
    fn connection(&self, set: &SelectionSet, items: usize, per_item: usize, depth: usize) -> Shape {
        if depth > 64 {
            return Shape::default();
        }
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(child) if is_page(&child.node) => self.field(&child.node, per_item, depth),
                Selection::Field(child) => self.field(&child.node, items, depth),
                Selection::InlineFragment(fragment) => {
                    self.connection(&fragment.node.selection_set.node, items, per_item, depth + 1)
                }
                Selection::FragmentSpread(spread) => self
                    .document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map_or_else(Shape::default, |f| {
                        self.connection(&f.node.selection_set.node, items, per_item, depth + 1)
                    }),
            })
            .fold(Shape::default(), Shape::and)
    }

    fn is_connection(&self, field: &Field) -> bool {
        field
            .selection_set
            .node
            .items
            .iter()
            .any(|item| matches!(&item.node, Selection::Field(f) if is_page(&f.node)))
    }

    fn argument(&self, field: &Field, name: &str) -> Option<Value> {
        let value = field.get_argument(name)?;
        value
            .node
            .clone()
            .into_const_with(|var| Ok::<_, ()>(self.variables.get(&var).cloned().unwrap_or_default()))
            .ok()
    }

    fn page_size(&self, field: &Field) -> usize {
        match self.argument(field, "first") {
            Some(Value::Number(n)) => n.as_u64().map_or(1, |n| n as usize).clamp(1, MAX_PAGE_SIZE as usize),
            _ => DEFAULT_PAGE_SIZE as usize,
        }
    }

    /// A `search` or `fullText` argument, or one in the field's `filter`.
    fn searches(&self, field: &Field) -> bool {
        let given = |v: Option<&Value>| matches!(v, Some(Value::String(s)) if !s.is_empty());
        if ["search", "fullText"].iter().any(|name| given(self.argument(field, name).as_ref())) {
            return true;
        }
        match self.argument(field, "filter") {
            Some(Value::Object(filter)) => ["search", "fullText"].iter().any(|name| given(filter.get(*name))),
            _ => false,
        }
    }
}

/// The items of a connection's page.
fn is_page(field: &Field) -> bool {
    matches!(field.name.node.as_str(), "nodes" | "edges")
}

/// The shape of each operation of a document.
fn operations(document: &ExecutableDocument, variables: &Variables) -> Vec<(Shape, async_graphql::Pos)> {
    let walk = Walk { document, variables };
    document
        .operations
        .iter()
        .map(|(_, operation)| (walk.shape(&operation.node.selection_set.node, 1, 0), operation.pos))
        .collect()
}

/// All of a request's operations together (nothing if it does not parse: validation says why).
pub fn shape_of(query: &str, variables: &Variables) -> Shape {
    let Ok(document) = async_graphql::parser::parse_query(query) else { return Shape::default() };
    operations(&document, variables).into_iter().map(|(shape, _)| shape).fold(Shape::default(), Shape::and)
}

/// `refusal` as the error a client sees, at `pos` in the document when it has one.
fn refused(refusal: ApiError, pos: Option<async_graphql::Pos>) -> ServerError {
    let error = refusal.extend();
    let mut refused = ServerError::new(error.message, pos);
    refused.extensions = error.extensions;
    refused
}

impl RequestHooks for ShapeLimit {
    fn parsed(&self, document: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
        for (shape, pos) in operations(document, variables) {
            if let Some(refusal) = shape.refusal("query", "an operation") {
                return Err(refused(refusal, Some(pos)));
            }
        }
        Ok(())
    }

    /// Each operation of a batch within its share of the one cost limit, before it runs.
    fn validated(&self, ctx: &ExtensionContext<'_>, result: Validation) -> Validation {
        let result = result?;
        let operations = ctx.data_opt::<BatchOf>().map_or(1, |b| b.0.max(1));
        let share = super::MAX_COMPLEXITY / operations;
        if operations > 1 && result.complexity > share {
            let message = format!(
                "a batch of {operations} operations shares one cost limit: each may cost at most {share}, this one costs {}",
                result.complexity
            );
            return Err(vec![refused(ApiError::bad_input("batch", message), None)]);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> Shape {
        shape_of(query, &Variables::default())
    }

    #[test]
    fn a_count_stands_once_per_item_of_the_pages_around_it() {
        assert_eq!(shape("{ customers(first: 0) { totalCount } }").counted_reads, 1);
        assert_eq!(shape("{ customers(first: 500) { totalCount nodes { id } } }").counted_reads, 1);
        assert_eq!(shape("{ customers(first: 20) { nodes { tasks { totalCount } } } }").counted_reads, 20);
        assert_eq!(shape("{ customers { edges { node { calls { totalCount } } } } }").counted_reads, 50);
        let fragment = "{ customers(first: 500) { ...Counted } } fragment Counted on CustomerConnection { totalCount nodes { id } }";
        assert_eq!(shape(fragment).counted_reads, 1);
        assert_eq!(shape("{ a: viewer { id } b: viewer { id } }"), Shape { aliases: 2, counted_reads: 0 });
    }

    #[test]
    fn searches_are_counted_reads_and_empty_ones_are_not() {
        assert_eq!(shape("{ customers(filter: {search: \"smi\"}) { nodes { id } } }").counted_reads, 1);
        assert_eq!(shape("{ customers(filter: {search: \"\"}) { nodes { id } } }").counted_reads, 0);
        let vars = Variables::from_json(serde_json::json!({"f": {"search": "x"}}));
        assert_eq!(
            shape_of("query($f: CustomerFilter) { customers(filter: $f) { nodes { id } } }", &vars)
                .counted_reads,
            1
        );
    }
}
