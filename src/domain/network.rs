//! Which addresses callsync may send requests to on a tenant's behalf (the LMS, the call
//! webhook): public ones only, so a tenant cannot reach the service's own network (SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ValidationError;

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared (CGNAT),
/// documentation, benchmarking, multicast, broadcast, unspecified or reserved, nor an IPv6
/// tunnel address (6to4, Teredo).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    // 6to4 (2002::/16) and Teredo (2001::/32) tunnel to an IPv4 address embedded in the
    // address (Teredo's obfuscated): a relay could carry a request into a private network, and
    // no receiver a tenant runs needs them, so both are refused whole.
    if s[0] == 0x2002 || (s[0] == 0x2001 && s[1] == 0) {
        return false;
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[0] == 0 // IPv4-compatible and other reserved ::/16
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // discard-only
}

/// A URL callsync will call on a tenant's behalf: absolute http(s), no credentials, no query or
/// fragment (callsync appends paths to it), and — unless `allow_private` — a host that is not
/// a loopback name or a non-public address. Names are checked again on the address actually
/// connected to (see `crate::net`). Returns the URL without a trailing slash.
pub fn outbound_url(field: &str, raw: &str, allow_private: bool) -> Result<String, ValidationError> {
    let err = |m: &str| ValidationError::new(field, format!("{field} {m}"));
    let parsed = url::Url::parse(raw.trim()).map_err(|_| err("must be an absolute http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(err("must be an absolute http(s) URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(err("must not carry credentials (use lmsApiKey or callWebhookSecret)"));
    }
    if parsed.query().is_some() {
        return Err(err("must not have a query string"));
    }
    if parsed.fragment().is_some() {
        return Err(err("must not have a fragment"));
    }
    let host_ok = match parsed.host() {
        None => return Err(err("must be an absolute http(s) URL")),
        Some(_) if allow_private => true,
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            !(name == "localhost" || name.ends_with(".localhost"))
        }
        Some(url::Host::Ipv4(ip)) => is_public_v4(ip),
        Some(url::Host::Ipv6(ip)) => is_public_v6(ip),
    };
    if !host_ok {
        return Err(err("must be a public address (not loopback, private or link-local)"));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "127.0.0.1",
            "100.64.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::127.0.0.1",
            // 6to4 around private, loopback and public IPv4 alike: the whole prefix is refused.
            "2002:a00:1::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2002:808:808::1",
            // Teredo (2001:0::/32), whatever server and client it names.
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            // Neighbours of the blocked prefixes stay public.
            "2001:200::1",
            "2001:4860:4860::8888",
            "2003::1",
        ] {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn outbound_urls() {
        let ok = |u: &str| outbound_url("lmsBaseUrl", u, false);
        assert_eq!(ok("https://lms.example.com/api/").unwrap(), "https://lms.example.com/api");
        for bad in [
            "ftp://lms.example.com",
            "https://user:pw@lms.example.com",
            "https://lms.example.com/api?token=1",
            "https://lms.example.com/#x",
            "http://localhost:8080",
            "http://api.localhost",
            "http://127.0.0.1",
            "http://[::1]:80",
            "http://169.254.169.254/latest",
            "http://10.0.0.5",
            "http://0x7f000001",
            "http://[2002:a00:1::1]/hook",
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "not a url",
        ] {
            assert_eq!(ok(bad).unwrap_err().field, "lmsBaseUrl", "{bad}");
        }
        assert!(outbound_url("lmsBaseUrl", "http://127.0.0.1:9000", true).is_ok());
        assert!(outbound_url("lmsBaseUrl", "http://u:p@127.0.0.1:9000", true).is_err());
    }
}
