//! Networks written as `address/length` (`127.0.0.0/8`, `2001:db8::/32`; a bare address
//! is its own /32 or /128), for allow-lists in the configuration. Serialized as text.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network: the address with its host bits cleared, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

/// Why a network cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a network (address/length): {reason}")]
pub struct CidrError {
    text: String,
    reason: &'static str,
}

impl Cidr {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(ip)), self.len, 32) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(ip), self.len, 128) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// `value` (of `bits` bits) with all but its first `len` bits cleared.
fn masked(value: u128, len: u8, bits: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let host = u32::from(bits - len.min(bits));
    value >> host << host
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let error = |reason| CidrError {
            text: text.to_owned(),
            reason,
        };
        let (addr, len) = match text.trim().split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| error("not an IP address"))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => bits,
            Some(len) => len
                .parse::<u8>()
                .map_err(|_| error("the length is not a number"))?,
        };
        if len > bits {
            return Err(error("the length is longer than the address"));
        }
        let addr = match addr {
            IpAddr::V4(v4) => {
                IpAddr::V4((masked(u128::from(u32::from(v4)), len, 32) as u32).into())
            }
            IpAddr::V6(v6) => IpAddr::V6(masked(u128::from(v6), len, 128).into()),
        };
        Ok(Cidr { addr, len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let loopback: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(loopback.contains(ip("127.1.2.3")));
        assert!(loopback.contains(ip("::ffff:127.0.0.1")));
        assert!(!loopback.contains(ip("128.0.0.1")));
        assert!(!loopback.contains(ip("::1")));
        let v6: Cidr = "2001:db8:ff::1/48".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8:ff::/48");
        assert!(v6.contains(ip("2001:db8:ff:1::9")));
        assert!(!v6.contains(ip("2001:db8:fe::1")));
        let host: Cidr = "::1".parse().unwrap();
        assert_eq!(host.to_string(), "::1/128");
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains(ip("203.0.113.9"))
        );
        let error = "10.0.0.0/33".parse::<Cidr>().unwrap_err().to_string();
        assert_eq!(
            error,
            "`10.0.0.0/33` is not a network (address/length): the length is longer than the address"
        );
        assert!("example.org/8".parse::<Cidr>().is_err());
    }
}
