//! Who a request comes from, for login throttling and the log: the TCP peer, or — when the
//! peer is a proxy the operator trusts (`PROXBOX_TRUSTED_PROXIES`) — the address that proxy
//! names in `X-Forwarded-For`. An untrusted peer's `X-Forwarded-For` is ignored: anyone
//! can write it.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// Addresses and networks (`10.0.0.0/8`, `::1`) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// A comma-separated list; empty trusts no proxy.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (address, bits) = match part.split_once('/') {
                Some((address, bits)) => (address, Some(bits)),
                None => (part, None),
            };
            let address: IpAddr = address.parse().map_err(|_| {
                format!("{part:?} is not an IP address or network (write 10.0.0.5 or 10.0.0.0/8)")
            })?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(bits) => bits
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| {
                        format!("the prefix length in {part:?} must be a number from 0 to {max}")
                    })?,
            };
            networks.push((address, bits));
        }
        Ok(TrustedProxies(networks))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|(network, bits)| in_network(ip, *network, *bits))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    let (ip, network, width) = match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    if shift >= 128 {
        return true;
    }
    (ip >> shift) == (network >> shift)
}

/// The client of a request from `peer`: walking `X-Forwarded-For` from the right (the
/// nearest hop first), the first address that is not a trusted proxy. IPv4 peers of a
/// dual-stack listener (`[::]:3000`) arrive as `::ffff:a.b.c.d`: every address is taken in
/// its plain form, so that they match IPv4 networks and count as one client either way.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .map(|hop| hop.to_canonical())
        .collect();
    hops.iter()
        .rev()
        .copied()
        .find(|hop| !trusted.contains(*hop))
        .or_else(|| hops.first().copied())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in xff {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
        let spoofed = headers(&["203.0.113.9"]);
        assert_eq!(
            client_address(ip("198.51.100.4"), &spoofed, &trusted),
            ip("198.51.100.4"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &spoofed, &trusted),
            ip("203.0.113.9")
        );
        // The client put a made-up hop first; the proxies appended what they saw.
        let chain = headers(&["1.2.3.4, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(
            client_address(ip("10.1.2.3"), &chain, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("::1"), &headers(&[]), &trusted),
            ip("::1"),
            "no header: the peer"
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &spoofed, &TrustedProxies::default()),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn ipv4_peers_of_a_dual_stack_listener_match_ipv4_networks() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let forwarded = headers(&["::ffff:203.0.113.9"]);
        assert_eq!(
            client_address(ip("::ffff:10.1.2.3"), &forwarded, &trusted),
            ip("203.0.113.9"),
            "the mapped proxy is trusted, the mapped client named plainly"
        );
        assert_eq!(
            client_address(ip("::ffff:198.51.100.4"), &forwarded, &trusted),
            ip("198.51.100.4"),
            "an untrusted mapped peer is the client, in its IPv4 form"
        );
        assert_eq!(
            client_address(ip("2001:db8::1"), &headers(&[]), &trusted),
            ip("2001:db8::1"),
            "a real IPv6 address stays as it is"
        );
    }

    #[test]
    fn networks_parse_and_match() {
        let trusted = TrustedProxies::parse("192.168.0.0/16,2001:db8::/32,127.0.0.1").unwrap();
        assert!(trusted.contains(ip("192.168.44.1")));
        assert!(!trusted.contains(ip("192.169.0.1")));
        assert!(trusted.contains(ip("2001:db8::5")));
        assert!(!trusted.contains(ip("2001:db9::5")));
        assert!(trusted.contains(ip("127.0.0.1")));
        assert!(!trusted.contains(ip("127.0.0.2")));
        assert!(TrustedProxies::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("8.8.8.8")));
        assert!(TrustedProxies::parse("10.0.0.0/33")
            .unwrap_err()
            .contains("0 to 32"));
        assert!(TrustedProxies::parse("proxy.local")
            .unwrap_err()
            .contains("not an IP address"));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }
}
