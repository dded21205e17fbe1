//! At most [`MAX_ALIASES`] aliased fields in one operation (and in one batched HTTP request, all
//! its operations together: see `http::graphql`), refused when the document is parsed, before
//! anything runs: aliases are how one request asks for the same costly field thousands of
//! times (49,000 `customers { totalCount }` once fit under the cost limit).

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, ServerError, ServerResult, Variables};

use super::error::ApiError;

/// Most aliased fields in one operation.
pub const MAX_ALIASES: usize = 200;

pub struct AliasLimit;

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimit)
    }
}

/// Aliased fields under `set`, fragments included (each spread counted where it is used).
fn aliases(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
    if depth > 64 {
        return 0; // cyclic fragments are refused by validation; never loop here
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + aliases(document, &field.node.selection_set.node, depth + 1)
            }
            Selection::InlineFragment(fragment) => {
                aliases(document, &fragment.node.selection_set.node, depth + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |fragment| aliases(document, &fragment.node.selection_set.node, depth + 1)),
        })
        .fold(0, usize::saturating_add)
}

/// Aliased fields in all of a request's operations (0 if it does not parse: validation says why).
pub fn aliases_in(query: &str) -> usize {
    let Ok(document) = async_graphql::parser::parse_query(query) else { return 0 };
    document
        .operations
        .iter()
        .map(|(_, operation)| aliases(&document, &operation.node.selection_set.node, 0))
        .fold(0, usize::saturating_add)
}

#[async_trait::async_trait]
impl Extension for AliasLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        for (_, operation) in document.operations.iter() {
            if aliases(&document, &operation.node.selection_set.node, 0) > MAX_ALIASES {
                let message = format!("an operation may use at most {MAX_ALIASES} aliases");
                let error = ApiError::bad_input("query", message).extend();
                let mut refused = ServerError::new(error.message, Some(operation.pos));
                refused.extensions = error.extensions;
                return Err(refused);
            }
        }
        Ok(document)
    }
}
