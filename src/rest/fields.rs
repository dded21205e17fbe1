//! Reading a JSON body field by field: absent keeps, null clears, a wrong type is a 400 naming
//! the field, and a field the endpoint does not know is refused (or, where the vendor sends
//! extras, kept for `externalMetadata`). Fields are named in snake_case here and found in either
//! casing (`first_name` or `firstName`), whichever the vendor's page uses.

use serde_json::{Map, Value};

use super::RestError;
use crate::domain::Patch;

pub(crate) struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    /// The request body, which must be a JSON object.
    pub fn parse(body: &[u8]) -> Result<Fields, RestError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => match crate::http::nul_path_in(&map) {
                Some(path) => {
                    Err(RestError::bad_input(path.trim_start_matches('.'), crate::http::NUL_MESSAGE))
                }
                None => Ok(Fields { map }),
            },
            Ok(_) => Err(RestError::bad_input("body", "the body must be a JSON object")),
            Err(e) => Err(RestError::bad_input("body", format!("the body is not valid JSON: {e}"))),
        }
    }

    pub fn of(map: Map<String, Value>) -> Fields {
        Fields { map }
    }

    /// Takes the field named by `keys` (a snake_case name and its aliases), in either casing:
    /// `first_name` or `firstName`. The same field given twice (in both casings, or as a name
    /// and its alias) is a 400 naming it: which one was meant cannot be told.
    fn try_take(&mut self, keys: &[&str]) -> Result<(String, Option<Value>), RestError> {
        let mut found: Option<(String, Value)> = None;
        for key in keys {
            let camel = super::camel_case(key);
            let forms = if camel == *key { vec![key.to_string()] } else { vec![key.to_string(), camel] };
            for form in forms {
                if let Some(v) = self.map.remove(&form) {
                    if let Some((first, _)) = &found {
                        return Err(RestError::bad_input(
                            keys[0],
                            format!("{} is given twice (as {first} and as {form}); send it once", keys[0]),
                        ));
                    }
                    found = Some((form, v));
                }
            }
        }
        Ok(match found {
            Some((key, v)) => (key, Some(v)),
            None => (keys[0].to_string(), None),
        })
    }

    fn take(&mut self, keys: &[&str]) -> Result<(String, Option<Value>), RestError> {
        self.try_take(keys)
    }

    /// Text; numbers are accepted as their digits (vendors send ids and ZIPs as numbers).
    pub fn text(&mut self, keys: &[&str]) -> Result<Patch<String>, RestError> {
        match self.take(keys)? {
            (_, None) => Ok(Patch::Keep),
            (_, Some(Value::Null)) => Ok(Patch::Clear),
            (_, Some(Value::String(s))) => Ok(Patch::Set(s)),
            (_, Some(Value::Number(n))) => Ok(Patch::Set(n.to_string())),
            (key, Some(_)) => Err(RestError::bad_input(&key, format!("{key} must be a string"))),
        }
    }

    pub fn flag(&mut self, keys: &[&str]) -> Result<Patch<bool>, RestError> {
        match self.take(keys)? {
            (_, None) => Ok(Patch::Keep),
            (_, Some(Value::Null)) => Ok(Patch::Clear),
            (_, Some(Value::Bool(b))) => Ok(Patch::Set(b)),
            (key, Some(_)) => Err(RestError::bad_input(&key, format!("{key} must be true or false"))),
        }
    }

    pub fn int(&mut self, keys: &[&str]) -> Result<Patch<i32>, RestError> {
        match self.take(keys)? {
            (_, None) => Ok(Patch::Keep),
            (_, Some(Value::Null)) => Ok(Patch::Clear),
            (key, Some(Value::Number(n))) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Patch::Set)
                .ok_or_else(|| RestError::bad_input(&key, format!("{key} must be a whole number"))),
            (key, Some(_)) => Err(RestError::bad_input(&key, format!("{key} must be a whole number"))),
        }
    }

    pub fn float(&mut self, keys: &[&str]) -> Result<Patch<f64>, RestError> {
        match self.take(keys)? {
            (_, None) => Ok(Patch::Keep),
            (_, Some(Value::Null)) => Ok(Patch::Clear),
            (key, Some(Value::Number(n))) => n
                .as_f64()
                .map(Patch::Set)
                .ok_or_else(|| RestError::bad_input(&key, format!("{key} must be a number"))),
            (key, Some(Value::String(s))) => s
                .trim()
                .parse::<f64>()
                .map(Patch::Set)
                .map_err(|_| RestError::bad_input(&key, format!("{key} must be a number"))),
            (key, Some(_)) => Err(RestError::bad_input(&key, format!("{key} must be a number"))),
        }
    }

    /// Any JSON value (validated by the use-case: e.g. `externalMetadata` must be an object).
    pub fn value(&mut self, keys: &[&str]) -> Result<Patch<Value>, RestError> {
        Ok(match self.take(keys)? {
            (_, None) => Patch::Keep,
            (_, Some(Value::Null)) => Patch::Clear,
            (_, Some(v)) => Patch::Set(v),
        })
    }

    /// A list of objects (records, loans, cadence steps).
    pub fn objects(&mut self, keys: &[&str]) -> Result<Option<Vec<Map<String, Value>>>, RestError> {
        match self.take(keys)? {
            (_, None) | (_, Some(Value::Null)) => Ok(None),
            (key, Some(Value::Array(items))) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(map),
                    _ => Err(RestError::bad_input(
                        &format!("{key}[{i}]"),
                        format!("{key}[{i}] must be an object"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            (key, Some(_)) => Err(RestError::bad_input(&key, format!("{key} must be a list"))),
        }
    }

    /// A list of texts (numbers accepted).
    pub fn texts(&mut self, keys: &[&str]) -> Result<Patch<Vec<String>>, RestError> {
        match self.take(keys)? {
            (_, None) => Ok(Patch::Keep),
            (_, Some(Value::Null)) => Ok(Patch::Clear),
            (key, Some(Value::Array(items))) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(RestError::bad_input(&key, format!("{key} must be a list of strings"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Patch::Set),
            (key, Some(_)) => Err(RestError::bad_input(&key, format!("{key} must be a list"))),
        }
    }

    /// The fields not read (the vendor's extras).
    pub fn rest(self) -> Map<String, Value> {
        self.map
    }

    /// Refuses any field the endpoint did not read.
    pub fn finish(self) -> Result<(), RestError> {
        match self.map.keys().next() {
            Some(key) => Err(RestError::bad_input(key, format!("unknown field {key:?}")).named_as_sent()),
            None => Ok(()),
        }
    }
}

/// `Patch::Set` → Some, else None (for fields where null means absent).
pub(crate) fn given<T>(patch: Patch<T>) -> Option<T> {
    match patch {
        Patch::Set(v) => Some(v),
        _ => None,
    }
}
