//! What an API key may do: its scope, and the limits on what a client may send about keys.

use sha2::{Digest, Sha256};

use super::ValidationError;

/// A key's scope (API.md "Keys, idempotency and the audit trail").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyScope {
    /// Everything the company may do.
    #[default]
    Full,
    /// Reads and subscriptions only: every mutation and REST write is FORBIDDEN.
    ReadOnly,
    /// Reads and writes, but answers and exports never carry SSN digits, birthday or email.
    NoPii,
}

impl KeyScope {
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyScope::Full => "FULL",
            KeyScope::ReadOnly => "READ_ONLY",
            KeyScope::NoPii => "NO_PII",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [KeyScope::Full, KeyScope::ReadOnly, KeyScope::NoPii].into_iter().find(|s| s.as_str() == value)
    }

    /// Whether the key may change data.
    pub const fn may_write(self) -> bool {
        !matches!(self, KeyScope::ReadOnly)
    }

    /// Whether answers to the key may carry [`PII_FIELDS`].
    pub const fn sees_pii(self) -> bool {
        !matches!(self, KeyScope::NoPii)
    }
}

/// The customer fields a NO_PII key never sees (GraphQL names; exports use snake_case).
pub const PII_FIELDS: [&str; 3] = ["ssnLastFour", "birthday", "email"];

/// Longest label a key may have.
pub const MAX_LABEL_LEN: usize = 200;

/// A key's label: trimmed, at most [`MAX_LABEL_LEN`] characters, empty means none.
pub fn label(value: Option<&str>) -> Result<Option<String>, ValidationError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_LABEL_LEN {
        return Err(ValidationError::new(
            "label",
            format!("label must be at most {MAX_LABEL_LEN} characters"),
        ));
    }
    Ok(Some(value.to_string()))
}

/// Longest `Idempotency-Key` header accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// An `Idempotency-Key` header's value: 1 to 255 visible ASCII characters.
pub fn idempotency_key(value: &str) -> Result<&str, ValidationError> {
    let valid = !value.is_empty()
        && value.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && value.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(value)
    } else {
        Err(ValidationError::new(
            "Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
        ))
    }
}

/// What every issued key starts with, so that a leaked key is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "csk_";
/// How much of a key is kept in clear to tell keys apart in lists: its prefix and 8 hex digits.
const VISIBLE_PREFIX_LEN: usize = 12;

/// A new API key's secret: shown once, only its [`hash`] is stored.
pub struct IssuedKey {
    pub api_key: String,
}

impl IssuedKey {
    /// The key written from 32 random bytes (the caller draws them: the domain has no I/O).
    pub fn from_random(bytes: [u8; 32]) -> Self {
        IssuedKey { api_key: format!("{KEY_PREFIX}{}", hex::encode(bytes)) }
    }

    pub fn hash(&self) -> Vec<u8> {
        hash(&self.api_key)
    }

    /// The part of the key stored and shown in clear.
    pub fn visible_prefix(&self) -> &str {
        &self.api_key[..VISIBLE_PREFIX_LEN]
    }
}

/// How a key is stored and looked up: its SHA-256 (a key is 256 random bits, so no salt or
/// slow hash is needed).
pub fn hash(api_key: &str) -> Vec<u8> {
    Sha256::digest(api_key.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_say_what_they_allow() {
        for scope in [KeyScope::Full, KeyScope::ReadOnly, KeyScope::NoPii] {
            assert_eq!(KeyScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(KeyScope::parse("ADMIN"), None);
        assert!(KeyScope::Full.may_write() && KeyScope::Full.sees_pii());
        assert!(!KeyScope::ReadOnly.may_write() && KeyScope::ReadOnly.sees_pii());
        assert!(KeyScope::NoPii.may_write() && !KeyScope::NoPii.sees_pii());
    }

    #[test]
    fn labels_and_idempotency_keys_are_bounded() {
        assert_eq!(label(Some("  ")).unwrap(), None);
        assert_eq!(label(Some(" ci ")).unwrap().as_deref(), Some("ci"));
        assert_eq!(label(Some(&"x".repeat(201))).unwrap_err().field, "label");
        assert!(idempotency_key("order-17/retry").is_ok());
        assert_eq!(idempotency_key("").unwrap_err().field, "Idempotency-Key");
        assert!(idempotency_key("has space").is_err());
        assert!(idempotency_key(&"k".repeat(256)).is_err());
    }

    #[test]
    fn an_issued_key_is_its_prefix_and_hex_and_only_its_hash_is_kept() {
        let key = IssuedKey::from_random([0xab; 32]);
        assert_eq!(key.api_key, format!("csk_{}", "ab".repeat(32)));
        assert_eq!(key.visible_prefix(), "csk_abababab");
        assert_eq!(key.hash(), hash(&key.api_key));
        assert_eq!(key.hash().len(), 32);
        assert_ne!(hash("csk_a"), hash("csk_b"));
    }
}
