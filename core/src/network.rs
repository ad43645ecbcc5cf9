//! Network blocks (`policy.exempt_networks`) and the remote address of a login.
//!
//! Invariant: an address comes only from PAM_RHOST read as an IP literal by std's
//! strict parser: a host name, a zone index, brackets, a port or an IPv4 address
//! written with leading zeros or fewer than four parts ("010.1.2.3", "10.1") is no
//! address, so it matches no block. An IPv4-mapped IPv6 address (::ffff:10.1.2.3)
//! is the IPv4 address it carries, so an IPv4 block covers it whichever way the
//! application wrote it. A block is refused, never guessed at, when its text is not
//! exactly `address/prefix` with the host bits clear.

use std::fmt;
use std::net::IpAddr;

/// A CIDR block such as `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix`; a bare address is the block of that one address.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("{text:?} is not an IPv4 or IPv6 network (e.g. 10.0.0.0/8)"))?;
        if is_mapped(addr) {
            return Err(format!(
                "{text:?} is an IPv4-mapped IPv6 address: write the IPv4 block \
                 (mapped addresses are matched as IPv4)"
            ));
        }
        let max = max_prefix(addr);
        let prefix = match prefix_text {
            None => max,
            Some(p) => {
                // Digits only, no sign, no leading zero: "08" or "+8" is a typo.
                let plain = !p.is_empty()
                    && p.len() <= 3
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (p == "0" || !p.starts_with('0'));
                match p.parse::<u8>() {
                    Ok(n) if plain && n <= max => n,
                    _ => {
                        return Err(format!(
                            "{text:?}: the prefix length must be a number from 0 to {max}"
                        ))
                    }
                }
            }
        };
        let block = Cidr { addr, prefix };
        if block.network() != bits(addr) {
            return Err(format!(
                "{text:?} has host bits set: the block is {}",
                Cidr {
                    addr: from_bits(addr, block.network()),
                    prefix
                }
            ));
        }
        Ok(block)
    }

    /// Whether `ip` lies in the block (an IPv4-mapped address as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        mask(bits(ip), self.prefix, max_prefix(ip)) == self.network()
    }

    fn network(&self) -> u128 {
        mask(bits(self.addr), self.prefix, max_prefix(self.addr))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// PAM_RHOST as an address, when it is an IP literal; `None` for a host name,
/// an empty item or anything else. IPv4-mapped IPv6 becomes IPv4.
pub fn rhost_ip(rhost: &str) -> Option<IpAddr> {
    rhost.parse::<IpAddr>().ok().map(canonical)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(like: IpAddr, n: u128) -> IpAddr {
    match like {
        // The network of a v4 address fits in 32 bits.
        IpAddr::V4(_) => IpAddr::V4(u32::try_from(n).unwrap_or(0).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    }
}

/// The top `prefix` bits of a `width`-bit number.
fn mask(n: u128, prefix: u8, width: u8) -> u128 {
    let host = u32::from(width - prefix.min(width));
    if host >= 128 {
        return 0;
    }
    (n >> host) << host
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_blocks_match_their_addresses_only() {
        let b = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(b.contains(ip("10.1.2.3")));
        assert!(b.contains(ip("10.255.255.255")));
        assert!(!b.contains(ip("11.0.0.0")));
        assert!(!b.contains(ip("9.255.255.255")));
        let host = Cidr::parse("192.0.2.7").unwrap();
        assert_eq!(host.to_string(), "192.0.2.7/32");
        assert!(host.contains(ip("192.0.2.7")) && !host.contains(ip("192.0.2.8")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!(
            !all.contains(ip("::1")),
            "an IPv4 block holds no IPv6 address"
        );
        let odd = Cidr::parse("192.0.2.128/25").unwrap();
        assert!(odd.contains(ip("192.0.2.200")) && !odd.contains(ip("192.0.2.127")));
    }

    #[test]
    fn ipv6_blocks_match_their_addresses_only() {
        let b = Cidr::parse("2001:db8::/32").unwrap();
        assert!(b.contains(ip("2001:db8:1::5")));
        assert!(!b.contains(ip("2001:db9::1")));
        assert!(!b.contains(ip("10.1.2.3")));
        let all = Cidr::parse("::/0").unwrap();
        assert!(all.contains(ip("fe80::1")));
        let one = Cidr::parse("::1/128").unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
    }

    #[test]
    fn an_ipv4_mapped_address_is_its_ipv4_address() {
        let b = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(b.contains(ip("::ffff:10.1.2.3")));
        assert!(!b.contains(ip("::ffff:11.1.2.3")));
        assert_eq!(rhost_ip("::ffff:10.1.2.3"), Some(ip("10.1.2.3")));
        // Not an IPv6 block's address any more: ::/0 is for IPv6 peers.
        assert!(!Cidr::parse("::/0").unwrap().contains(ip("::ffff:10.1.2.3")));
        // IPv4-compatible (deprecated, ::a.b.c.d) is not mapped: stays IPv6.
        assert!(!b.contains(ip("::10.1.2.3")));
    }

    #[test]
    fn only_ip_literals_are_addresses() {
        assert_eq!(rhost_ip("10.1.2.3"), Some(ip("10.1.2.3")));
        assert_eq!(rhost_ip("2001:db8::1"), Some(ip("2001:db8::1")));
        for not_an_ip in [
            "",
            "gateway.example.org",
            "10.1.2.3.example.org",
            "010.1.2.3",
            "10.1.2.03",
            "10.1",
            "167838211",
            "0x0a.1.2.3",
            "10.1.2.3 ",
            " 10.1.2.3",
            "10.1.2.3:22",
            "[::1]",
            "fe80::1%eth0",
            "10.1.2.3/8",
            "::ffff:010.1.2.3",
        ] {
            assert_eq!(rhost_ip(not_an_ip), None, "{not_an_ip:?}");
        }
    }

    #[test]
    fn malformed_blocks_are_refused_with_the_reason() {
        for (text, why) in [
            ("10.0.0.0/33", "prefix length must be a number from 0 to 32"),
            ("2001:db8::/129", "from 0 to 128"),
            ("10.0.0.0/", "prefix length"),
            ("10.0.0.0/08", "prefix length"),
            ("10.0.0.0/+8", "prefix length"),
            ("10.0.0.0/-1", "prefix length"),
            ("10.0.0.0/8/8", "prefix length"),
            ("010.0.0.0/8", "not an IPv4 or IPv6 network"),
            ("10.0.0/8", "not an IPv4 or IPv6 network"),
            ("example.org/24", "not an IPv4 or IPv6 network"),
            ("", "not an IPv4 or IPv6 network"),
            ("10.1.2.3/8", "host bits set: the block is 10.0.0.0/8"),
            (
                "2001:db8::1/32",
                "host bits set: the block is 2001:db8::/32",
            ),
            ("::ffff:10.0.0.0/104", "IPv4-mapped"),
        ] {
            let e = Cidr::parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }
}
