//! Requests to URLs a tenant typed (an SGP today, webhooks later): which
//! addresses they may reach, and how much of an answer they may read.
//!
//! Every such URL is untrusted. A provider admin could aim it at the
//! host's loopback, the cloud metadata service or the private network, and
//! read the answers (or their absence) back through our error messages.
//! So the one HTTP client built here:
//! - resolves host names itself and connects only to addresses the policy
//!   permits, checked on the addresses it actually connects to (a name that
//!   resolves to a public address for the check and a private one for the
//!   connection — DNS rebinding — is refused, because the check *is* the
//!   resolution); IP literals, which never reach a resolver, are checked
//!   before the request is sent ([`OutboundPolicy::check_url`]);
//! - uses no proxy from the environment (it would connect for us, past the
//!   policy) and follows no redirect (a 307 would re-send the form body,
//!   token included, wherever it points);
//! - reads bodies against a byte budget ([`read_body`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ipnet::IpNet;

/// Addresses that are not on the public internet: loopback, private,
/// link-local, CGNAT, multicast, unspecified, documentation and other
/// special-purpose ranges (IANA's special-purpose registries).
static NOT_PUBLIC: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        // IPv4
        "0.0.0.0/8",       // "this network", unspecified
        "10.0.0.0/8",      // private
        "100.64.0.0/10",   // carrier-grade NAT
        "127.0.0.0/8",     // loopback
        "169.254.0.0/16",  // link-local, cloud metadata services
        "172.16.0.0/12",   // private
        "192.0.0.0/24",    // IETF protocol assignments
        "192.0.2.0/24",    // documentation
        "192.88.99.0/24",  // 6to4 relay anycast
        "192.168.0.0/16",  // private
        "198.18.0.0/15",   // benchmarking
        "198.51.100.0/24", // documentation
        "203.0.113.0/24",  // documentation
        "224.0.0.0/4",     // multicast
        "240.0.0.0/4",     // reserved, broadcast
        // IPv6
        "::/96",           // unspecified, loopback, IPv4-compatible (deprecated)
        "::ffff:0:0:0/96", // IPv4-translated (SIIT)
        "64:ff9b:1::/48",  // local-use NAT64
        "100::/64",        // discard
        "2001::/23",       // IETF protocol assignments (Teredo, ORCHID...)
        "2001:db8::/32",   // documentation
        "3fff::/20",       // documentation
        "5f00::/16",       // segment routing (SRv6) SIDs
        "fc00::/7",        // unique local (private)
        "fe80::/10",       // link-local
        "fec0::/10",       // site-local (deprecated)
        "ff00::/8",        // multicast
    ]
    .iter()
    .map(|n| n.parse().expect("a literal network"))
    .collect()
});

/// Whether `ip` is an ordinary public internet address. Addresses that
/// carry an IPv4 address inside (IPv4-mapped, NAT64, 6to4) are judged by
/// the address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    if let IpAddr::V6(v6) = ip {
        let s = v6.segments();
        // 64:ff9b::/96 (NAT64) carries the IPv4 address in its last 32 bits
        if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
            return is_public(IpAddr::from([
                (s[6] >> 8) as u8,
                s[6] as u8,
                (s[7] >> 8) as u8,
                s[7] as u8,
            ]));
        }
        // 2002::/16 (6to4) carries it in bits 16..48
        if s[0] == 0x2002 {
            return is_public(IpAddr::from([
                (s[1] >> 8) as u8,
                s[1] as u8,
                (s[2] >> 8) as u8,
                s[2] as u8,
            ]));
        }
    }
    !NOT_PUBLIC.iter().any(|net| net.contains(&ip))
}

/// Which addresses requests to tenant-typed URLs may reach: public ones,
/// plus the networks an operator allowed (a self-hosted ISP whose SGP lives
/// at 10.x; the demo and the tests, whose fake SGP is on loopback).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allowed: Arc<[IpNet]>,
}

/// The setting that widens the policy, named in every refusal so an
/// operator knows what to change.
pub const ALLOWED_NETWORKS_SETTING: &str = "outbound.allowed_networks";
pub const ALLOWED_NETWORKS_ENV: &str = "OUTBOUND_ALLOWED_NETWORKS";

/// A request refused by the policy before anything was sent. The address
/// stays out of the message; the admin who typed the URL learns that it
/// leads nowhere this server may go (which the issue's operators want
/// said, naming the setting), not which address it resolved to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("address refused by the outbound policy ({ALLOWED_NETWORKS_SETTING})")]
pub struct Refused;

impl OutboundPolicy {
    /// Public addresses only: the default.
    pub fn public_only() -> Self {
        OutboundPolicy::default()
    }

    /// Public addresses plus these networks.
    pub fn allowing(networks: impl IntoIterator<Item = IpNet>) -> Self {
        OutboundPolicy {
            allowed: networks.into_iter().collect(),
        }
    }

    /// This policy plus the loopback networks (demo mode, tests).
    pub fn with_loopback(&self) -> Self {
        let loopback: [IpNet; 2] = [
            "127.0.0.0/8".parse().expect("a literal network"),
            "::1/128".parse().expect("a literal network"),
        ];
        OutboundPolicy::allowing(self.allowed.iter().copied().chain(loopback))
    }

    /// `10.0.0.0/8, 192.168.10.5`: comma-separated networks in CIDR
    /// notation, or single addresses.
    pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .map(|n| n.trunc())
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("{s:?} is not a network in CIDR notation (like 10.0.0.0/8) or an address")
                    })
            })
            .collect()
    }

    pub fn allowed_networks(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        is_public(ip)
            || self
                .allowed
                .iter()
                .any(|net| net.contains(&ip) || net.contains(&canonical))
    }

    /// Checks a URL whose host is an IP literal (those never reach the
    /// resolver); host names are checked when they are resolved.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(Refused)
        }
    }

    /// An HTTP client bound to this policy: its resolver drops refused
    /// addresses, no proxy, no redirects. Timeouts are the caller's.
    pub fn client(
        &self,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver {
                policy: self.clone(),
            }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(concat!("sgp-import/", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// Resolves with the system resolver and keeps the permitted addresses;
/// when none is left the lookup fails with [`Refused`].
struct PolicyResolver {
    policy: OutboundPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() && !found.is_empty() {
                // the operator's log says which name and addresses; the
                // tenant's message does not
                tracing::warn!(
                    host,
                    addresses = ?found.iter().map(SocketAddr::ip).collect::<Vec<_>>(),
                    "outbound request refused: the name resolves to non-public addresses only"
                );
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether the policy refused this request (somewhere in its causes).
pub fn was_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<Refused>().is_some() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A body read that did not finish.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The answer is larger than the budget: `declared` is its
    /// Content-Length when it gave one (refused before reading), else
    /// reading stopped at the budget.
    #[error("answer larger than {limit} bytes")]
    TooLarge { limit: u64, declared: Option<u64> },
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// Reads a whole body, at most `limit` bytes: a larger Content-Length is
/// refused before anything is read, and reading stops once the budget is
/// spent, so an endless or huge answer costs its request and no more.
pub async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, BodyError> {
    if let Some(declared) = response.content_length().filter(|n| *n > limit) {
        return Err(BodyError::TooLarge {
            limit,
            declared: Some(declared),
        });
    }
    // what is declared is not yet received: reserve a little, grow as bytes come
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0).min(1 << 20) as usize);
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge {
                limit,
                declared: None,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first `limit` bytes of a body (an error page, say), and no more;
/// whatever follows is left unread.
pub async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "3fff::1",
            "5f00::1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in [
            "8.8.8.8",
            "200.160.2.3",
            "172.32.0.1",
            "100.128.0.1",
            "2804:14c::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn allowed_networks_widen_the_policy() {
        let policy = OutboundPolicy::allowing(
            OutboundPolicy::parse_networks(" 10.20.0.0/16 , 192.168.1.7").unwrap(),
        );
        assert!(policy.permits(ip("10.20.3.4")));
        assert!(policy.permits(ip("::ffff:10.20.3.4")));
        assert!(policy.permits(ip("192.168.1.7")));
        assert!(!policy.permits(ip("192.168.1.8")));
        assert!(!policy.permits(ip("10.21.0.1")));
        assert!(!policy.permits(ip("127.0.0.1")));
        assert!(policy.with_loopback().permits(ip("127.0.0.1")));
        assert!(policy.with_loopback().permits(ip("::1")));
        assert!(OutboundPolicy::parse_networks("").unwrap().is_empty());
        let e = OutboundPolicy::parse_networks("10.0.0.0/8, intranet").unwrap_err();
        assert!(e.contains("intranet"), "{e}");
        assert!(OutboundPolicy::parse_networks("10.0.0.0/33").is_err());
    }

    #[test]
    fn ip_literals_are_checked_before_sending() {
        let policy = OutboundPolicy::public_only();
        for url in [
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f.1/",
            "http://2130706433/",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            assert_eq!(policy.check_url(&parsed), Err(Refused), "{url}");
        }
        let named = url::Url::parse("https://sgp.provedor.com.br").unwrap();
        assert_eq!(policy.check_url(&named), Ok(()));
    }
}
