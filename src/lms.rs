//! The LMS connector (an edge): `GET {lmsBaseUrl}/customers/{id}` and `.../loans`, 5 s timeout,
//! `Authorization: Bearer {lmsApiKey}` when a key is set. 404 means "unknown there"; a timeout,
//! refusal, 5xx or a malformed answer makes the LMS unavailable.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::domain::lms::{parse_loans, LoanRecord};
use crate::net::NetworkPolicy;

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
    network: NetworkPolicy,
}

impl Default for LmsClient {
    fn default() -> Self {
        LmsClient::new(NetworkPolicy::default(), TIMEOUT)
    }
}

impl LmsClient {
    /// `timeout` bounds each request ([`TIMEOUT`] but in tests).
    pub fn new(network: NetworkPolicy, timeout: Duration) -> Self {
        LmsClient { http: network.client(timeout), network }
    }

    pub async fn fetch(
        &self,
        base_url: &str,
        api_key: Option<&str>,
        id: &str,
    ) -> Result<LmsCustomer, LmsUnavailable> {
        self.network.check(base_url).map_err(LmsUnavailable)?;
        let customer = self.get(&customer_url(base_url, id, false)?, api_key).await?;
        let fields = match customer {
            None => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(LmsUnavailable("the customer answer is not a JSON object".into())),
        };
        let loans = match self.get(&customer_url(base_url, id, true)?, api_key).await? {
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
        let response = request.send().await.map_err(|e| LmsUnavailable(crate::net::describe(&e)))?;
        match response.status() {
            s if s == reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                response.json().await.map(Some).map_err(|_| LmsUnavailable("the answer is not JSON".into()))
            }
            s if s.is_redirection() => {
                Err(LmsUnavailable(format!("it answered {s}; redirects are not followed")))
            }
            s => Err(LmsUnavailable(format!("it answered {s}"))),
        }
    }
}

/// `{base}/customers/{id}[/loans]`, the id percent-encoded as one path segment (a space is
/// `%20`, a slash cannot add a segment).
fn customer_url(base_url: &str, id: &str, loans: bool) -> Result<String, LmsUnavailable> {
    let mut url =
        url::Url::parse(base_url).map_err(|_| LmsUnavailable("lmsBaseUrl is not a valid URL".into()))?;
    {
        let mut segments =
            url.path_segments_mut().map_err(|_| LmsUnavailable("lmsBaseUrl cannot take a path".into()))?;
        segments.pop_if_empty().push("customers").push(id);
        if loans {
            segments.push("loans");
        }
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_percent_encoded_path_segment() {
        assert_eq!(
            customer_url("https://lms.example.com/api", "a b/c?d", false).unwrap(),
            "https://lms.example.com/api/customers/a%20b%2Fc%3Fd"
        );
        assert_eq!(
            customer_url("https://lms.example.com", "c-1", true).unwrap(),
            "https://lms.example.com/customers/c-1/loans"
        );
    }
}
