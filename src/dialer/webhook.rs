//! Hands queued calls to the company's call provider: a POST to `callWebhookUrl`, signed with
//! HMAC-SHA256, retried with exponential backoff; the provider reports back through
//! `reportCallStatus`.

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::app::dialer::webhook_outcome;
use crate::app::handoff::{self, WebhookStep};
use crate::app::AppError;
use crate::domain::company::SecretField;
use crate::domain::Secret;
use crate::net::NetworkPolicy;
use crate::secrets::Secrets;
use crate::store::calls::WebhookDelivery;
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
    /// Opens the companies' signing secrets (`CALLSYNC_SECRET_KEY`).
    pub secrets: Secrets,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: Duration::from_secs(10),
            network: NetworkPolicy::default(),
            max_attempts: 8,
            first_retry: Duration::from_secs(2),
            secrets: Secrets::default(),
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

/// Deliveries in flight at once (per instance).
pub const IN_FLIGHT: usize = 32;
/// Deliveries in flight at once for one company: a slow receiver holds only its own slots.
pub const PER_COMPANY: usize = 4;
/// Most deliveries started by one call of [`deliver_due`].
const ROUND_LIMIT: usize = 1000;

/// Delivers due webhooks concurrently (at most [`IN_FLIGHT`], [`PER_COMPANY`] per company),
/// each leased so other instances skip it meanwhile; returns once nothing is due or in flight.
pub async fn deliver_due(db: &Db, client: &reqwest::Client, config: &WebhookConfig) -> Result<(), AppError> {
    let lease = chrono::Duration::from_std(config.timeout * 2).unwrap_or(chrono::Duration::seconds(30));
    let mut in_flight = tokio::task::JoinSet::new();
    let mut per_company: HashMap<Uuid, usize> = HashMap::new();
    let mut started = 0;
    loop {
        while in_flight.len() < IN_FLIGHT && started < ROUND_LIMIT {
            let busy: Vec<Uuid> =
                per_company.iter().filter(|(_, n)| **n >= PER_COMPANY).map(|(company, _)| *company).collect();
            let now = db.now();
            // Decided again at hand-off: a refused or expired call is cancelled, never sent.
            let delivery =
                match db.transaction(move |conn| handoff::next_webhook(conn, now, lease, &busy)).await? {
                    WebhookStep::Idle => break,
                    WebhookStep::Skipped | WebhookStep::Cancelled(_) => {
                        started += 1;
                        continue;
                    }
                    WebhookStep::Deliver(delivery) => *delivery,
                };
            started += 1;
            *per_company.entry(delivery.call.company_id).or_default() += 1;
            let (client, network, clock) = (client.clone(), config.network, db.clock().clone());
            let secrets = config.secrets.clone();
            in_flight.spawn(async move {
                // A secret this server cannot read fails the attempt before anything is sent:
                // a delivery is never unsigned.
                let ready = network.check(&delivery.url).and_then(|()| signing_secret(&secrets, &delivery));
                let error = match ready {
                    Ok(secret) => {
                        post(&client, &delivery, secret.as_ref(), clock.now().timestamp()).await.err()
                    }
                    Err(refused) => Some(refused),
                };
                (delivery.call.id, delivery.call.company_id, delivery.attempt, error)
            });
        }
        let Some(finished) = in_flight.join_next().await else { return Ok(()) };
        // A delivery task that died: its lease runs out and it is due again.
        let Ok((call_id, company_id, attempt, error)) = finished else { continue };
        if let Some(n) = per_company.get_mut(&company_id) {
            *n = n.saturating_sub(1);
        }
        let now = db.now();
        let retry_at = (attempt < config.max_attempts).then(|| {
            let factor = 2u32.saturating_pow(attempt.saturating_sub(1) as u32);
            let delay = config.first_retry.saturating_mul(factor).min(Duration::from_secs(300));
            now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(300))
        });
        if let Some(e) = &error {
            tracing::warn!(call = %call_id, attempt, error = %e, "webhook delivery failed");
        }
        db.transaction(move |conn| {
            webhook_outcome(conn, call_id, company_id, error.as_deref(), retry_at, now)
        })
        .await?;
    }
}

/// The company's signing secret, opened.
fn signing_secret(secrets: &Secrets, delivery: &WebhookDelivery) -> Result<Option<Secret>, String> {
    let Some(stored) = &delivery.secret else { return Ok(None) };
    secrets
        .open(delivery.call.company_id, SecretField::CallWebhookSecret, stored)
        .map(Some)
        .map_err(|e| format!("the company's callWebhookSecret cannot be read: {e}"))
}

/// `timestamp` (seconds) is signed with the body: the receiver checks it against its own clock,
/// which in production is the system clock that the injected one reads.
async fn post(
    client: &reqwest::Client,
    delivery: &WebhookDelivery,
    secret: Option<&Secret>,
    timestamp: i64,
) -> Result<(), String> {
    let body = serde_json::to_vec(&delivery.body).map_err(|e| e.to_string())?;
    let mut request = client
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header("X-Callsync-Delivery-Attempt", delivery.attempt.to_string());
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, signature(secret.expose(), timestamp, &body));
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
