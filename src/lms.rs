//! The LMS connector (an edge): `GET {lmsBaseUrl}/customers/{id}` and `.../loans`, 5 s timeout,
//! `Authorization: Bearer {lmsApiKey}` when a key is set. 404 means "unknown there"; a timeout,
//! refusal, 5xx or a malformed answer makes the LMS unavailable.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::domain::lms::{parse_loans, LoanRecord};

pub const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("the LMS is unavailable: {0}")]
pub struct LmsUnavailable(pub String);

/// What the LMS knows about one customer.
#[derive(Debug, Default)]
pub struct LmsCustomer {
    pub fields: Option<Map<String, Value>>,
    pub loans: Vec<LoanRecord>,
}

#[derive(Clone)]
pub struct LmsClient {
    http: reqwest::Client,
}

impl Default for LmsClient {
    fn default() -> Self {
        LmsClient { http: reqwest::Client::builder().timeout(TIMEOUT).build().expect("an HTTP client") }
    }
}

impl LmsClient {
    pub async fn fetch(
        &self,
        base_url: &str,
        api_key: Option<&str>,
        id: &str,
    ) -> Result<LmsCustomer, LmsUnavailable> {
        let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let customer = self.get(&format!("{base_url}/customers/{encoded}"), api_key).await?;
        let fields = match customer {
            None => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(LmsUnavailable("the customer answer is not a JSON object".into())),
        };
        let loans = match self.get(&format!("{base_url}/customers/{encoded}/loans"), api_key).await? {
            None => Vec::new(),
            Some(value) => parse_loans(&value).map_err(LmsUnavailable)?,
        };
        Ok(LmsCustomer { fields, loans })
    }

    /// The JSON at `url`, or None on 404.
    async fn get(&self, url: &str, api_key: Option<&str>) -> Result<Option<Value>, LmsUnavailable> {
        let mut request = self.http.get(url);
        if let Some(key) = api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            LmsUnavailable(if e.is_timeout() {
                "timed out after 5 s".into()
            } else {
                "connection failed".into()
            })
        })?;
        match response.status() {
            s if s == reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                response.json().await.map(Some).map_err(|_| LmsUnavailable("the answer is not JSON".into()))
            }
            s => Err(LmsUnavailable(format!("it answered {s}"))),
        }
    }
}
