//! Outbound HTTP on a tenant's behalf (the LMS, the call webhook): no redirects, and — unless
//! private networks are allowed (`--allow-private-network`, for development and tests) — only
//! public addresses, checked on the address actually connected to, so a name that resolves to
//! 127.0.0.1 or 169.254.169.254 (DNS rebinding) is refused like the literal would be. Never
//! through a proxy: `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` are ignored, because through
//! one the proxy resolves and connects, out of the resolver's sight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::network::is_public_ip;

/// Whether outbound requests may reach private addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    pub allow_private: bool,
}

/// Resolves with the system resolver and keeps public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public_ip(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} does not resolve to a public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

impl NetworkPolicy {
    /// A client for tenant-supplied URLs: `timeout`, no redirects, no proxy, public addresses
    /// only.
    pub fn client(self, timeout: Duration) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !self.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        builder.build().expect("an HTTP client")
    }

    /// Refuses a URL whose host is a non-public IP literal (names go through the resolver).
    pub fn check(self, url: &str) -> Result<(), String> {
        if self.allow_private {
            return Ok(());
        }
        let parsed = url::Url::parse(url).map_err(|_| "not a valid URL".to_string())?;
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        match literal {
            Some(ip) if !is_public_ip(ip) => Err("the URL's address is not public".into()),
            _ => Ok(()),
        }
    }
}

/// What went wrong with a request, without the URL (it may carry tenant secrets or PII).
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else if error.is_redirect() {
        "redirects are not followed".into()
    } else if let Some(status) = error.status() {
        format!("answered {status}")
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_are_refused_at_connect_time() {
        // A name, not a literal: checked on what it resolves to (DNS rebinding).
        let refused = PublicOnly.resolve(Name::from_str("localhost").unwrap()).await;
        assert!(refused.is_err());
    }

    #[test]
    fn literal_private_hosts_are_refused_before_connecting() {
        let strict = NetworkPolicy::default();
        assert!(strict.check("http://127.0.0.1:8080/x").is_err());
        assert!(strict.check("http://[::1]/x").is_err());
        assert!(strict.check("https://hooks.example.com/x").is_ok());
        assert!(NetworkPolicy { allow_private: true }.check("http://127.0.0.1/x").is_ok());
    }
}
