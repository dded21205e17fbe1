//! The schema documents itself: every type, field, argument, input field and enum value of
//! callsync's own has a description, so GraphiQL's documentation pane is never empty.

use async_graphql::Request;
use serde_json::Value;

const INTROSPECTION: &str = r#"{
  __schema {
    types {
      name
      description
      fields(includeDeprecated: true) { name description args { name description } }
      inputFields { name description }
      enumValues(includeDeprecated: true) { name description }
    }
  }
}"#;

/// GraphQL's own scalars: the specification describes them.
const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

fn undescribed(description: &Value) -> bool {
    description.as_str().is_none_or(|d| d.trim().is_empty())
}

/// Every element of the schema's own types without a description, as `Type`, `Type.field`,
/// `Type.field(arg)` or `Type.VALUE`.
fn missing_descriptions(schema: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    let types = schema["__schema"]["types"].as_array().expect("introspection lists types");
    for ty in types {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || BUILT_IN_SCALARS.contains(&name) {
            continue;
        }
        if undescribed(&ty["description"]) {
            missing.push(name.to_string());
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            let field_name = field["name"].as_str().unwrap();
            if undescribed(&field["description"]) {
                missing.push(format!("{name}.{field_name}"));
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if undescribed(&arg["description"]) {
                    missing.push(format!("{name}.{field_name}({})", arg["name"].as_str().unwrap()));
                }
            }
        }
        for input in ty["inputFields"].as_array().into_iter().flatten() {
            if undescribed(&input["description"]) {
                missing.push(format!("{name}.{}", input["name"].as_str().unwrap()));
            }
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            if undescribed(&value["description"]) {
                missing.push(format!("{name}.{}", value["name"].as_str().unwrap()));
            }
        }
    }
    missing
}

#[tokio::test]
async fn every_schema_element_has_a_description() {
    let response = callsync::graphql::bare_schema().execute(Request::new(INTROSPECTION)).await;
    assert!(response.errors.is_empty(), "introspection failed: {:?}", response.errors);
    let schema = response.data.into_json().unwrap();
    assert!(schema["__schema"]["types"].as_array().is_some_and(|t| t.len() > 20), "no types: {schema}");
    let missing = missing_descriptions(&schema);
    assert!(
        missing.is_empty(),
        "{} schema element(s) have no description (add a `///` doc comment, or \
         `#[graphql(desc = \"...\")]` on an argument):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

#[test]
fn the_check_sees_every_kind_of_element() {
    let schema = serde_json::json!({"__schema": {"types": [
        {"name": "__Type", "description": null},
        {"name": "String", "description": null},
        {"name": "Thing", "description": "A thing.", "fields": [
            {"name": "a", "description": "", "args": [{"name": "x", "description": null}]},
            {"name": "b", "description": "B.", "args": []}
        ], "inputFields": null, "enumValues": null},
        {"name": "ThingInput", "description": null, "fields": null,
         "inputFields": [{"name": "c", "description": null}], "enumValues": null},
        {"name": "Kind", "description": "K.", "fields": null, "inputFields": null,
         "enumValues": [{"name": "ONE", "description": "One."}, {"name": "TWO", "description": " "}]}
    ]}});
    assert_eq!(
        missing_descriptions(&schema),
        ["Thing.a", "Thing.a(x)", "ThingInput", "ThingInput.c", "Kind.TWO"]
    );
}
