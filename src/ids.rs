//! Opaque identifiers: what a client sees of a list position, an event or a job reveals
//! nothing of other companies' activity, and cannot be forged.
//!
//! - **Cursors** carry a list's sort key and a public id (never a row id), followed by an
//!   HMAC-SHA256 tag over the company, the list and the payload: a cursor altered, forged, or
//!   taken from another list or company is refused.
//! - **Event and job ids** come from global sequences, so their gaps would count everyone's
//!   events and jobs. Clients see them sealed instead, deterministically (one event has one id):
//!   a synthetic IV `t = HMAC(k, company ‖ n)` (10 bytes) and `n` XOR `HMAC(k, t)` (8 bytes),
//!   base64url, 24 characters. Opening recomputes `t` from the company: an id of another
//!   company, or any other text, does not open.
//!
//! The keys are derived from the server's `CALLSYNC_SECRET_KEY` (one subkey per purpose); a
//! server without it uses a key of its own process, so its ids do not outlive it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a cursor's tag (128 bits).
const CURSOR_TAG_LEN: usize = 16;
/// Bytes of a sealed number's synthetic IV (80 bits).
const IV_LEN: usize = 10;
/// Bytes of a sealed number: its IV and the 8 encrypted bytes.
const SEALED_LEN: usize = IV_LEN + 8;

/// What a sealed number is: each kind has its own key, so an event id is no job id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    Event,
    Job,
}

/// The subkeys of the identifiers. Never printed.
#[derive(Clone)]
pub struct IdKeys {
    cursor: [u8; 32],
    event: [u8; 32],
    job: [u8; 32],
}

impl std::fmt::Debug for IdKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKeys([redacted])")
    }
}

impl IdKeys {
    /// The subkeys of `master` (the 32 bytes of `CALLSYNC_SECRET_KEY`): HMAC-SHA256 of the
    /// master key over each purpose's label (HKDF's expand step, one block each).
    pub fn derive(master: &[u8]) -> IdKeys {
        let sub = |label: &str| -> [u8; 32] {
            let mut mac = HmacSha256::new_from_slice(master).expect("HMAC takes any key length");
            mac.update(b"callsync ids v1: ");
            mac.update(label.as_bytes());
            mac.finalize().into_bytes().into()
        };
        IdKeys { cursor: sub("cursor"), event: sub("event id"), job: sub("job id") }
    }

    /// Keys of this process only (a server without `CALLSYNC_SECRET_KEY`).
    pub fn ephemeral() -> IdKeys {
        let mut master = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut master);
        IdKeys::derive(&master)
    }

    /// `payload` as a cursor of `company`'s `list`: base64url(payload ‖ tag).
    pub fn seal_cursor(&self, company: Uuid, list: &str, payload: &str) -> String {
        let mut bytes = payload.as_bytes().to_vec();
        bytes.extend_from_slice(
            &self.cursor_mac(company, list, payload.as_bytes()).finalize().into_bytes()[..CURSOR_TAG_LEN],
        );
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The payload of a cursor [`IdKeys::seal_cursor`] made for `company`'s `list`; `None` for
    /// anything else (altered, forged, another list's or company's).
    pub fn open_cursor(&self, company: Uuid, list: &str, cursor: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let split = bytes.len().checked_sub(CURSOR_TAG_LEN)?;
        let (payload, tag) = bytes.split_at(split);
        // Constant time: a forger learns nothing from how long the refusal took.
        self.cursor_mac(company, list, payload).verify_truncated_left(tag).ok()?;
        String::from_utf8(payload.to_vec()).ok()
    }

    fn cursor_mac(&self, company: Uuid, list: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.cursor).expect("HMAC takes any key length");
        mac.update(company.as_bytes());
        // The list's name is short and has no NUL: the separator keeps list and payload apart.
        mac.update(list.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// `n` (an event's or job's global number) as `company`'s clients see it.
    pub fn seal_number(&self, kind: Sealed, company: Uuid, n: i64) -> String {
        let plain = n.to_be_bytes();
        let iv = self.iv(kind, company, &plain);
        let pad = self.pad(kind, &iv);
        let mut bytes = iv.to_vec();
        bytes.extend(plain.iter().zip(pad).map(|(p, k)| p ^ k));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The number behind `id`, if [`IdKeys::seal_number`] made it for `company` and `kind`.
    pub fn open_number(&self, kind: Sealed, company: Uuid, id: &str) -> Option<i64> {
        let bytes = URL_SAFE_NO_PAD.decode(id).ok().filter(|b| b.len() == SEALED_LEN)?;
        let (iv, sealed) = bytes.split_at(IV_LEN);
        let pad = self.pad(kind, iv);
        let plain: [u8; 8] = std::array::from_fn(|i| sealed[i] ^ pad[i]);
        let expected = self.iv(kind, company, &plain);
        // Constant-time comparison of the IV the plain number must have had.
        use subtle::ConstantTimeEq;
        bool::from(expected.as_slice().ct_eq(iv)).then(|| i64::from_be_bytes(plain))
    }

    /// An event's id as `company`'s clients see it (`TaskEvent.eventId`, `CallEvent.eventId`).
    pub fn event_id(&self, company: Uuid, event: i64) -> String {
        self.seal_number(Sealed::Event, company, event)
    }

    /// The event behind an `afterEventId`, if it is one of `company`'s event ids.
    pub fn event(&self, company: Uuid, id: &str) -> Option<i64> {
        self.open_number(Sealed::Event, company, id)
    }

    /// A job's id as `company`'s clients see it (`jobIds`, `Job.id`).
    pub fn job_id(&self, company: Uuid, job: i64) -> String {
        self.seal_number(Sealed::Job, company, job)
    }

    /// The job behind an id, if it is one of `company`'s job ids.
    pub fn job(&self, company: Uuid, id: &str) -> Option<i64> {
        self.open_number(Sealed::Job, company, id)
    }

    fn key(&self, kind: Sealed) -> &[u8; 32] {
        match kind {
            Sealed::Event => &self.event,
            Sealed::Job => &self.job,
        }
    }

    fn iv(&self, kind: Sealed, company: Uuid, plain: &[u8; 8]) -> [u8; IV_LEN] {
        let mut mac = HmacSha256::new_from_slice(self.key(kind)).expect("HMAC takes any key length");
        mac.update(b"iv");
        mac.update(company.as_bytes());
        mac.update(plain);
        let digest = mac.finalize().into_bytes();
        std::array::from_fn(|i| digest[i])
    }

    fn pad(&self, kind: Sealed, iv: &[u8]) -> [u8; 8] {
        let mut mac = HmacSha256::new_from_slice(self.key(kind)).expect("HMAC takes any key length");
        mac.update(b"pad");
        mac.update(iv);
        let digest = mac.finalize().into_bytes();
        std::array::from_fn(|i| digest[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> IdKeys {
        IdKeys::derive(&[7u8; 32])
    }

    #[test]
    fn sealed_numbers_open_only_for_their_company_and_kind() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for n in [0, 1, 2, 41, 42, i64::MAX, -1] {
            let id = keys().seal_number(Sealed::Event, a, n);
            assert_eq!(id.len(), 24, "compact: {id}");
            assert!(id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{id}");
            assert_eq!(id, keys().seal_number(Sealed::Event, a, n), "deterministic");
            assert_eq!(keys().open_number(Sealed::Event, a, &id), Some(n));
            assert_eq!(keys().open_number(Sealed::Event, b, &id), None, "another company");
            assert_eq!(keys().open_number(Sealed::Job, a, &id), None, "another kind");
            assert_eq!(IdKeys::ephemeral().open_number(Sealed::Event, a, &id), None, "another key");
            assert_ne!(id, keys().seal_number(Sealed::Event, b, n), "each company its own");
        }
        for garbage in ["", "42", "AAAAAAAAAAAAAAAAAAAAAAAA", "not an id at all, no"] {
            assert_eq!(keys().open_number(Sealed::Event, a, garbage), None, "{garbage}");
        }
        // Consecutive numbers share no visible structure (a bit flipped anywhere is refused).
        let (one, two) = (keys().seal_number(Sealed::Job, a, 1), keys().seal_number(Sealed::Job, a, 2));
        assert_ne!(one[..4], two[..4]);
        let mut bytes = URL_SAFE_NO_PAD.decode(&one).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            assert_eq!(keys().open_number(Sealed::Job, a, &URL_SAFE_NO_PAD.encode(&bytes)), None, "byte {i}");
            bytes[i] ^= 1;
        }
    }

    #[test]
    fn cursors_open_only_unaltered_for_their_company_and_list() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let payload = r#"{"order":"CreatedAt","key":1,"id":"cust-1"}"#;
        let cursor = keys().seal_cursor(a, "customers", payload);
        assert_eq!(keys().open_cursor(a, "customers", &cursor).as_deref(), Some(payload));
        assert_eq!(keys().open_cursor(b, "customers", &cursor), None, "another company");
        assert_eq!(keys().open_cursor(a, "tasks", &cursor), None, "another list");
        assert_eq!(IdKeys::ephemeral().open_cursor(a, "customers", &cursor), None, "another key");
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        bytes[20] ^= 1;
        assert_eq!(keys().open_cursor(a, "customers", &URL_SAFE_NO_PAD.encode(&bytes)), None, "altered");
        let unsealed = URL_SAFE_NO_PAD.encode(payload);
        assert_eq!(keys().open_cursor(a, "customers", &unsealed), None, "unsealed");
        for garbage in ["", "x", "!!!!"] {
            assert_eq!(keys().open_cursor(a, "customers", garbage), None);
        }
    }

    #[test]
    fn each_master_key_derives_its_own_subkeys() {
        let company = Uuid::new_v4();
        let other = IdKeys::derive(&[8u8; 32]);
        assert_ne!(
            keys().seal_number(Sealed::Event, company, 5),
            other.seal_number(Sealed::Event, company, 5)
        );
        assert!(!format!("{:?}", keys()).contains('7'));
    }
}
