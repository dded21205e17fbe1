//! Custom scalars of the contract.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// A calendar date, `YYYY-MM-DD`. Accepted as any string here so that an impossible date is
/// reported by validation with its field name rather than as an anonymous parse failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Date(pub String);

/// A calendar date, `YYYY-MM-DD` (e.g. "1985-04-12"). An impossible date is BAD_USER_INPUT
/// naming its field.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Date(s)),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d.format("%Y-%m-%d").to_string())
    }
}
