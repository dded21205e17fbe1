//! Root fields in the order the query asked for them. The Query and Mutation roots are merged
//! from one object per area, and async-graphql lays a merged root's results out area by area;
//! this extension restores the document's order (aliases, inline fragments and fragment spreads
//! included). Nested objects are not merged and keep their order already.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionFactory};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Response, ServerResult, Value, Variables};

use super::request_hooks::{Hooked, RequestHooks};

pub struct RootFieldOrder;

impl ExtensionFactory for RootFieldOrder {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Hooked(RootOrder::default()))
    }
}

/// The response keys of each operation's root, by operation name (None: the only one).
#[derive(Default)]
struct RootOrder(Mutex<HashMap<Option<String>, Vec<Name>>>);

fn collect(document: &ExecutableDocument, set: &SelectionSet, keys: &mut Vec<Name>, depth: usize) {
    if depth > 32 {
        return; // cyclic fragments are refused by validation; never loop here
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.clone();
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            Selection::InlineFragment(fragment) => {
                collect(document, &fragment.node.selection_set.node, keys, depth + 1)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect(document, &fragment.node.selection_set.node, keys, depth + 1);
                }
            }
        }
    }
}

impl RequestHooks for RootOrder {
    fn parsed(&self, document: &ExecutableDocument, _variables: &Variables) -> ServerResult<()> {
        let mut orders = HashMap::new();
        for (name, operation) in document.operations.iter() {
            let mut keys = Vec::new();
            collect(document, &operation.node.selection_set.node, &mut keys, 0);
            orders.insert(name.map(|n| n.to_string()), keys);
        }
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = orders;
        Ok(())
    }

    fn executed(&self, operation_name: Option<&str>, response: &mut Response) {
        let keys = {
            let orders = self.0.lock().unwrap_or_else(|e| e.into_inner());
            match operation_name {
                Some(name) => orders.get(&Some(name.to_string())).cloned(),
                None if orders.len() == 1 => orders.values().next().cloned(),
                None => None,
            }
        };
        if let (Some(keys), Value::Object(data)) = (keys, &mut response.data) {
            let mut ordered = async_graphql::indexmap::IndexMap::with_capacity(data.len());
            for key in keys {
                if let Some(value) = data.shift_remove(&key) {
                    ordered.insert(key, value);
                }
            }
            ordered.extend(std::mem::take(data));
            *data = ordered;
        }
    }
}
