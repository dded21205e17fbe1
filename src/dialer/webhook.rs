//! Hands queued calls to the company's call provider: a POST to `callWebhookUrl`, signed with
//! HMAC-SHA256, retried with exponential backoff; the provider reports back through
//! `reportCallStatus`.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::app::dialer::webhook_outcome;
use crate::app::AppError;
use crate::net::NetworkPolicy;
use crate::store::calls::{self, WebhookDelivery};
use crate::store::Db;

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub timeout: Duration,
    /// Whether receivers may be on private addresses (development and tests).
    pub network: NetworkPolicy,
    /// Attempts before the call is failed.
    pub max_attempts: i32,
    /// The first retry's delay; each next one doubles (capped at 5 minutes).
    pub first_retry: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: Duration::from_secs(10),
            network: NetworkPolicy::default(),
            max_attempts: 8,
            first_retry: Duration::from_secs(2),
        }
    }
}

pub const SIGNATURE_HEADER: &str = "X-Callsync-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Callsync-Timestamp";

pub fn client(config: &WebhookConfig) -> reqwest::Client {
    config.network.client(config.timeout)
}

/// `sha256=` + hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers every due webhook; each is leased so other instances skip it meanwhile.
pub async fn deliver_due(db: &Db, client: &reqwest::Client, config: &WebhookConfig) -> Result<(), AppError> {
    let lease = chrono::Duration::from_std(config.timeout * 2).unwrap_or(chrono::Duration::seconds(30));
    for _ in 0..100 {
        let now = db.now();
        let Some(delivery) = db.write(move |conn| calls::lease_webhook(conn, now, lease)).await? else {
            return Ok(());
        };
        let error = match config.network.check(&delivery.url) {
            Ok(()) => post(client, &delivery).await.err(),
            Err(refused) => Some(refused),
        };
        let now = db.now();
        let retry_at = (delivery.attempt < config.max_attempts).then(|| {
            let factor = 2u32.saturating_pow(delivery.attempt.saturating_sub(1) as u32);
            let delay = config.first_retry.saturating_mul(factor).min(Duration::from_secs(300));
            now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(300))
        });
        if let Some(e) = &error {
            tracing::warn!(call = %delivery.call.id, attempt = delivery.attempt, error = %e, "webhook delivery failed");
        }
        let (call_id, company_id) = (delivery.call.id, delivery.call.company_id);
        db.transaction(move |conn| {
            webhook_outcome(conn, call_id, company_id, error.as_deref(), retry_at, now)
        })
        .await?;
    }
    Ok(())
}

async fn post(client: &reqwest::Client, delivery: &WebhookDelivery) -> Result<(), String> {
    let body = serde_json::to_vec(&delivery.body).map_err(|e| e.to_string())?;
    // The signature's timestamp is transport, not business time: the receiver checks it
    // against its own wall clock.
    let timestamp = Utc::now().timestamp();
    let mut request = client
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header("X-Callsync-Delivery-Attempt", delivery.attempt.to_string());
    if let Some(secret) = &delivery.secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, timestamp, &body));
    }
    let response = request.body(body).send().await.map_err(|e| crate::net::describe(&e))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_stable_hex_hmacs() {
        // Reference value computed independently (openssl dgst -sha256 -hmac).
        let sig = signature("0123456789abcdef", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "sha256=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23");
        assert_ne!(sig, signature("0123456789abcdeX", 1_700_000_000, br#"{"a":1}"#));
    }
}
