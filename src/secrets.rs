//! Company secrets at rest (`lmsApiKey`, `callWebhookSecret`): sealed with XChaCha20-Poly1305
//! under the server's key, `CALLSYNC_SECRET_KEY`, before they reach the database, and opened
//! only where they are used (the LMS request, the webhook signature).
//!
//! A stored value is `enc:v1:` + base64(24-byte random nonce ‖ ciphertext and tag). The
//! associated data binds it to its company and column, so a value copied to another company or
//! column does not open. A value without the prefix was written before encryption existed: it
//! is read as plain text, and sealed when it is next written.

use std::sync::Arc;

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use uuid::Uuid;

use crate::domain::company::SecretField;
use crate::domain::{Secret, StoredSecret};
use crate::ids::IdKeys;

/// The environment variable that holds the key.
pub const KEY_VARIABLE: &str = "CALLSYNC_SECRET_KEY";
/// Marks a sealed value, and which format it is in.
const SEALED_PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("the server has no CALLSYNC_SECRET_KEY, so it cannot store secrets")]
    NoKeyToSeal,
    #[error("it is stored encrypted and the server has no CALLSYNC_SECRET_KEY to read it")]
    NoKeyToOpen,
    #[error(
        "it does not decrypt with the server's CALLSYNC_SECRET_KEY (another key sealed it, or it is damaged)"
    )]
    Undecryptable,
    #[error("CALLSYNC_SECRET_KEY must be 32 bytes written as base64 (44 characters) or hex (64 digits)")]
    MalformedKey,
}

/// The 32-byte key. Never printed.
#[derive(Clone)]
pub struct SecretKey(Key);

impl SecretKey {
    /// Reads the key as written in `CALLSYNC_SECRET_KEY`: 64 hex digits, or standard base64
    /// (padded or not) of 32 bytes, e.g. the output of `openssl rand -base64 32`.
    pub fn parse(text: &str) -> Result<SecretKey, SecretsError> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                .ok()
        };
        match bytes {
            Some(bytes) if bytes.len() == KEY_LEN => Ok(SecretKey(*Key::from_slice(&bytes))),
            _ => Err(SecretsError::MalformedKey),
        }
    }

    /// A new random key.
    pub fn generate() -> SecretKey {
        SecretKey(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// The key as base64, the form [`SecretKey::parse`] reads.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Seals and opens company secrets; without a key it can open only legacy plain text. Also
/// holds the keys of the opaque identifiers ([`crate::ids`]), derived from the same key.
#[derive(Clone)]
pub struct Secrets {
    cipher: Option<Arc<XChaCha20Poly1305>>,
    ids: Arc<IdKeys>,
}

impl Default for Secrets {
    fn default() -> Secrets {
        Secrets::new(None)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if self.has_key() { "set" } else { "none" };
        write!(f, "Secrets {{ key: {key} }}")
    }
}

impl Secrets {
    /// Without a key, secrets cannot be sealed, and identifiers use a key of this process only.
    pub fn new(key: Option<SecretKey>) -> Secrets {
        let ids = match &key {
            Some(key) => IdKeys::derive(key.0.as_slice()),
            None => IdKeys::ephemeral(),
        };
        Secrets { cipher: key.map(|k| Arc::new(XChaCha20Poly1305::new(&k.0))), ids: Arc::new(ids) }
    }

    /// The keys of cursors, event ids and job ids (subkeys of the same key).
    pub fn ids(&self) -> &IdKeys {
        &self.ids
    }

    pub fn has_key(&self) -> bool {
        self.cipher.is_some()
    }

    /// `plain` as it is stored for `company`'s `field`: sealed under a fresh random nonce.
    pub fn seal(
        &self,
        company: Uuid,
        field: SecretField,
        plain: &Secret,
    ) -> Result<StoredSecret, SecretsError> {
        let cipher = self.cipher.as_ref().ok_or(SecretsError::NoKeyToSeal)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(company, field);
        let payload = Payload { msg: plain.expose().as_bytes(), aad: aad.as_bytes() };
        // Encryption fails only for messages of ~256 GiB; a secret is at most a few KiB.
        let sealed = cipher.encrypt(&nonce, payload).map_err(|_| SecretsError::Undecryptable)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok(StoredSecret::from_column(format!("{SEALED_PREFIX}{text}")))
    }

    /// The secret `stored` holds for `company`'s `field` (legacy plain text as it is).
    pub fn open(
        &self,
        company: Uuid,
        field: SecretField,
        stored: &StoredSecret,
    ) -> Result<Secret, SecretsError> {
        let Some(text) = stored.as_column().strip_prefix(SEALED_PREFIX) else {
            return Ok(Secret::new(stored.as_column()));
        };
        let cipher = self.cipher.as_ref().ok_or(SecretsError::NoKeyToOpen)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| SecretsError::Undecryptable)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretsError::Undecryptable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let aad = associated_data(company, field);
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| SecretsError::Undecryptable)?;
        String::from_utf8(plain).map(Secret::new).map_err(|_| SecretsError::Undecryptable)
    }
}

/// What a sealed value is bound to: its company and its column (stable names, not the API's).
fn associated_data(company: Uuid, field: SecretField) -> String {
    format!("callsync:{}:{company}", field.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn secrets() -> Secrets {
        Secrets::new(Some(SecretKey::parse(KEY_HEX).unwrap()))
    }

    #[test]
    fn keys_are_32_bytes_of_hex_or_base64() {
        let hex_key = SecretKey::parse(KEY_HEX).unwrap();
        let base64_key = SecretKey::parse(&hex_key.to_base64()).unwrap();
        assert_eq!(base64_key.to_base64(), hex_key.to_base64());
        assert!(SecretKey::parse(hex_key.to_base64().trim_end_matches('=')).is_ok(), "unpadded");
        for bad in ["", "short", &KEY_HEX[..62], &format!("{KEY_HEX}00"), "AAAA"] {
            assert_eq!(SecretKey::parse(bad).unwrap_err(), SecretsError::MalformedKey, "{bad}");
        }
        assert!(!format!("{hex_key:?} {:?}", secrets()).contains("AAEC"), "never printed");
    }

    #[test]
    fn sealed_values_open_only_for_their_company_and_column_under_their_key() {
        let (company, other) = (Uuid::new_v4(), Uuid::new_v4());
        let plain = Secret::new("lms-key-123");
        let sealed = secrets().seal(company, SecretField::LmsApiKey, &plain).unwrap();
        assert!(sealed.as_column().starts_with("enc:v1:"));
        assert!(!sealed.as_column().contains("lms-key-123"));
        assert_ne!(sealed, secrets().seal(company, SecretField::LmsApiKey, &plain).unwrap(), "a nonce each");
        assert_eq!(secrets().open(company, SecretField::LmsApiKey, &sealed).unwrap(), plain);
        let refused = [
            secrets().open(other, SecretField::LmsApiKey, &sealed),
            secrets().open(company, SecretField::CallWebhookSecret, &sealed),
            Secrets::new(Some(SecretKey::generate())).open(company, SecretField::LmsApiKey, &sealed),
        ];
        for result in refused {
            assert_eq!(result.unwrap_err(), SecretsError::Undecryptable);
        }
        let without_key = Secrets::default().open(company, SecretField::LmsApiKey, &sealed);
        assert_eq!(without_key.unwrap_err(), SecretsError::NoKeyToOpen);
        let damaged = StoredSecret::from_column(format!("{}x", &sealed.as_column()[..20]));
        assert_eq!(
            secrets().open(company, SecretField::LmsApiKey, &damaged).unwrap_err(),
            SecretsError::Undecryptable
        );
    }

    #[test]
    fn legacy_plain_text_still_reads_and_nothing_is_sealed_without_a_key() {
        let company = Uuid::new_v4();
        let legacy = StoredSecret::from_column("0123456789abcdef".to_string());
        for secrets in [secrets(), Secrets::default()] {
            let opened = secrets.open(company, SecretField::CallWebhookSecret, &legacy).unwrap();
            assert_eq!(opened.expose(), "0123456789abcdef");
        }
        let refused = Secrets::default().seal(company, SecretField::CallWebhookSecret, &Secret::new("x"));
        assert_eq!(refused.unwrap_err(), SecretsError::NoKeyToSeal);
    }
}
