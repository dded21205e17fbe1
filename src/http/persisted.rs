//! Automatic persisted queries (Apollo's APQ) on POST and GET /graphql: a request may carry
//! `extensions.persistedQuery` = `{"version": 1, "sha256Hash": HEX}` in place of its document.
//! A hash this instance does not hold is `PERSISTED_QUERY_NOT_FOUND` ("PersistedQueryNotFound",
//! what Apollo clients look for), and the client sends the hash again with the document: the
//! document must hash to it, runs, and is kept once it passed validation, so the next request
//! may send the hash alone.
//!
//! The documents are kept per company: a hash one company's requests stored is unknown to
//! another's (a document may hold literals, a phone number or a name, and a cache shared by
//! companies would tell one whether another ran it). One LRU holds them all, bounded by entries
//! and by bytes; a document too big to keep still runs, it is only not kept.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::{Extensions, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;

/// Documents kept at most (all companies together).
pub const MAX_ENTRIES: usize = 1_000;
/// The largest document kept: the largest message the GraphQL WebSocket takes.
pub const MAX_DOCUMENT_BYTES: usize = super::websocket::MAX_MESSAGE_BYTES;
/// Bytes of documents kept at most (all companies together).
pub const MAX_TOTAL_BYTES: usize = 32 * 1024 * 1024;

/// The extension's name in a request's `extensions`.
const EXTENSION: &str = "persistedQuery";

/// A document's SHA-256.
pub type Hash = [u8; 32];

/// Whose a document is (None: requests without a key, which can only introspect) and its hash.
type Key = (Option<Uuid>, Hash);

/// The documents this instance keeps.
pub struct PersistedQueries {
    cache: Mutex<Cache>,
}

struct Cache {
    documents: lru::LruCache<Key, Arc<str>>,
    bytes: usize,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        let entries = NonZeroUsize::new(MAX_ENTRIES).expect("a positive bound");
        PersistedQueries { cache: Mutex::new(Cache { documents: lru::LruCache::new(entries), bytes: 0 }) }
    }
}

impl PersistedQueries {
    /// The company's document with this hash (it becomes the most recently used).
    pub fn get(&self, company: Option<Uuid>, hash: &Hash) -> Option<Arc<str>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.documents.get(&(company, *hash)).cloned()
    }

    /// Keeps a document (whose hash the caller checked), evicting the least recently used ones
    /// past either bound. A document above [`MAX_DOCUMENT_BYTES`] is not kept.
    pub fn keep(&self, company: Option<Uuid>, hash: Hash, document: Arc<str>) {
        if document.len() > MAX_DOCUMENT_BYTES {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let size = document.len();
        if let Some((_, pushed_out)) = cache.documents.push((company, hash), document) {
            // The same key's older copy, or the least recently used entry when full.
            cache.bytes -= pushed_out.len();
        }
        cache.bytes += size;
        while cache.bytes > MAX_TOTAL_BYTES {
            let Some((_, evicted)) = cache.documents.pop_lru() else { break };
            cache.bytes -= evicted.len();
        }
    }

    /// How many documents and bytes are kept.
    pub fn size(&self) -> (usize, usize) {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        (cache.documents.len(), cache.bytes)
    }
}

/// The SHA-256 of a document's text, as APQ hashes it.
pub fn hash_of(document: &str) -> Hash {
    Sha256::digest(document.as_bytes()).into()
}

/// Takes `persistedQuery` out of a request's extensions: the hash it names (None: the request
/// does not use APQ), or the input error that says what is wrong with it.
pub fn requested(extensions: &mut Extensions) -> Result<Option<Hash>, ApiError> {
    let Some(value) = extensions.remove(EXTENSION) else { return Ok(None) };
    let field = |name: &str| format!("extensions.{EXTENSION}.{name}");
    let Value::Object(fields) = value else {
        return Err(ApiError::bad_input(
            &format!("extensions.{EXTENSION}"),
            "persistedQuery is an object: {\"version\": 1, \"sha256Hash\": \"…\"}",
        ));
    };
    let version = fields.get("version").and_then(|v| match v {
        Value::Number(n) => n.as_i64(),
        _ => None,
    });
    if version != Some(1) {
        return Err(ApiError::bad_input(&field("version"), "only version 1 of persistedQuery is supported"));
    }
    let hash = match fields.get("sha256Hash") {
        Some(Value::String(text)) => parse_hash(text),
        _ => None,
    };
    hash.map(Some).ok_or_else(|| {
        ApiError::bad_input(
            &field("sha256Hash"),
            "sha256Hash is the document's SHA-256 as 64 hexadecimal digits",
        )
    })
}

/// The error for a document that does not hash to the hash sent with it.
pub fn mismatch() -> ApiError {
    ApiError::bad_input(&format!("extensions.{EXTENSION}.sha256Hash"), "provided sha does not match query")
}

fn parse_hash(text: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions(value: serde_json::Value) -> Extensions {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_hash_is_64_hex_digits_of_version_1() {
        let hash = hex::encode(hash_of("{ viewer { id } }"));
        let mut ext =
            extensions(serde_json::json!({"persistedQuery": {"version": 1, "sha256Hash": hash}, "x": 1}));
        assert_eq!(requested(&mut ext).unwrap(), Some(hash_of("{ viewer { id } }")));
        assert!(!ext.contains_key("persistedQuery") && ext.contains_key("x"), "taken out, the rest kept");
        assert_eq!(requested(&mut extensions(serde_json::json!({}))).unwrap(), None);
        for wrong in [
            serde_json::json!({"version": 2, "sha256Hash": hash}),
            serde_json::json!({"sha256Hash": hash}),
            serde_json::json!({"version": 1, "sha256Hash": "abc"}),
            serde_json::json!({"version": 1}),
            serde_json::json!("hash"),
        ] {
            let mut ext = extensions(serde_json::json!({ "persistedQuery": wrong }));
            let error = requested(&mut ext).unwrap_err();
            assert_eq!(error.code(), "BAD_USER_INPUT", "{wrong}");
        }
    }

    #[test]
    fn documents_are_kept_per_company_and_bounded() {
        let cache = PersistedQueries::default();
        let (a, b) = (Some(Uuid::new_v4()), Some(Uuid::new_v4()));
        let text: Arc<str> = Arc::from("{ viewer { id } }");
        cache.keep(a, hash_of(&text), text.clone());
        assert_eq!(cache.get(a, &hash_of(&text)).as_deref(), Some(&*text));
        assert_eq!(cache.get(b, &hash_of(&text)), None, "another company's document is unknown");
        assert_eq!(cache.get(None, &hash_of(&text)), None);
        cache.keep(a, hash_of(&text), text.clone());
        assert_eq!(cache.size(), (1, text.len()), "kept again, counted once");

        let too_big: Arc<str> = Arc::from("#".repeat(MAX_DOCUMENT_BYTES + 1));
        cache.keep(a, hash_of(&too_big), too_big.clone());
        assert_eq!(cache.get(a, &hash_of(&too_big)), None);

        for i in 0..MAX_ENTRIES + 10 {
            let doc: Arc<str> = Arc::from(format!("{{ q{i}: viewer {{ id }} }}"));
            cache.keep(b, hash_of(&doc), doc);
        }
        assert_eq!(cache.size().0, MAX_ENTRIES);
        assert_eq!(cache.get(a, &hash_of(&text)), None, "the least recently used went first");

        for i in 0..(MAX_TOTAL_BYTES / MAX_DOCUMENT_BYTES) + 3 {
            let doc: Arc<str> = Arc::from(format!("{i:08}{}", "#".repeat(MAX_DOCUMENT_BYTES - 8)));
            cache.keep(a, hash_of(&doc), doc);
        }
        assert!(cache.size().1 <= MAX_TOTAL_BYTES, "{:?}", cache.size());
    }
}
