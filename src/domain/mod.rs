//! Pure business rules: no I/O, no clock (callers pass `now`/`today`).

pub mod bulk;
pub mod callee;
pub mod calling_rules;
pub mod calls;
pub mod company;
pub mod consumer;
pub mod contact_policy;
pub mod csv;
pub mod customer;
pub mod customer_field;
pub mod holidays;
pub mod jobs;
pub mod keys;
pub mod lms;
pub mod location;
pub mod network;
pub mod refusal;
pub mod schedule;
pub mod schedule_builder;
pub mod tasks;
pub mod us_states;

use thiserror::Error;

/// A rejected input value. `field` is the GraphQL input field's name, so clients can point at it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
    /// Set when the value was an unknown task type: the company's valid ones.
    pub valid_task_types: Option<Vec<String>>,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into(), valid_task_types: None }
    }

    pub fn required(field: &str) -> Self {
        Self::new(field, format!("{field} is required"))
    }
}

/// How an input field relates to the stored value: absent keeps it, null clears it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(v) => Patch::Set(f(v)),
        }
    }
}

impl<T> From<Option<T>> for Patch<T> {
    /// A plain `Option` input: absent keeps, a value sets (null is treated as absent).
    fn from(value: Option<T>) -> Self {
        match value {
            Some(v) => Patch::Set(v),
            None => Patch::Keep,
        }
    }
}

/// A value that must never reach a log: `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (storing, signing, sending).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A secret as the database holds it: sealed by `crate::secrets` (`enc:v1:…`), or plain text
/// written before secrets were encrypted. Only `Secrets::open` turns it back into a [`Secret`];
/// `Debug` prints `[redacted]` (a legacy value is the secret itself).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct StoredSecret(String);

impl StoredSecret {
    /// The column's text, as read.
    pub fn from_column(text: String) -> Self {
        StoredSecret(text)
    }

    /// The text to write to the column.
    pub fn as_column(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Longest free-text field accepted (names, addresses, ids).
pub const MAX_TEXT_LEN: usize = 255;

/// Longest search term (a name, an id, an e-mail or a phone number fits).
pub const MAX_SEARCH_LEN: usize = 200;
/// Longest free text reported about a call (a disposition).
pub const MAX_NOTE_LEN: usize = 1000;

/// Checks that an optional text is at most `max_len` characters: done before any lookup, so
/// an oversized value costs nothing and is never stored.
pub fn bounded_text(field: &str, value: Option<&str>, max_len: usize) -> Result<(), ValidationError> {
    match value {
        Some(v) if v.len() > max_len && v.chars().count() > max_len => {
            Err(ValidationError::new(field, format!("{field} must be at most {max_len} characters")))
        }
        _ => Ok(()),
    }
}

/// A list's search term, at most [`MAX_SEARCH_LEN`] characters (a longer one is refused
/// before the search runs: a 15 MiB term once scanned for seconds).
pub fn search_term(field: &str, value: Option<String>) -> Result<Option<String>, ValidationError> {
    bounded_text(field, value.as_deref(), MAX_SEARCH_LEN)?;
    Ok(value)
}

/// Trims `value` and checks it is non-empty and not too long.
pub fn required_text(field: &str, value: &str, max_len: usize) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::required(field));
    }
    if trimmed.chars().count() > max_len {
        return Err(ValidationError::new(field, format!("{field} must be at most {max_len} characters")));
    }
    Ok(trimmed.to_string())
}
