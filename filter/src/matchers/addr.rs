//! P1 `remote_addrs`: client addresses and CIDR ranges, IPv4 and IPv6.

use std::net::IpAddr;

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ip` or `ip/prefix`. Host bits set below the prefix are an error (`10.0.0.1/8` is ambiguous:
    /// write `10.0.0.0/8`).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("`{ip}` is not an IPv4 or IPv6 address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => return Err(format!("prefix length `{p}` is not in 0..={max}")),
            },
        };
        let cidr = Cidr { net: ip, prefix };
        if cidr.masked(ip) != ip {
            return Err(format!(
                "host bits are set below /{prefix}; write `{}/{prefix}`",
                cidr.masked(ip)
            ));
        }
        Ok(cidr)
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V6((bits & mask).into())
            }
        }
    }

    /// True when `ip` is in the range. An IPv4-mapped IPv6 client (`::ffff:10.1.2.3`) matches IPv4 ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) if self.net.is_ipv4() => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            other => other,
        };
        if ip.is_ipv4() != self.net.is_ipv4() {
            return false;
        }
        self.masked(ip) == self.net
    }

    /// Canonical spelling, `ip/prefix`.
    pub fn canonical(&self) -> String {
        format!("{}/{}", self.net, self.prefix)
    }
}

/// Parses Envoy's `source.address` (`1.2.3.4:5678`, `[::1]:5678`) or a bare address.
pub fn parse_remote_addr(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse().ok();
    }
    let (ip, _port) = text.rsplit_once(':')?;
    ip.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        parse_remote_addr(s).expect("address")
    }

    #[test]
    fn p1_remote_addrs_ipv4_ipv6_and_cidr() {
        let c = Cidr::parse("192.168.0.0/16").expect("cidr");
        assert!(c.contains(ip("192.168.3.4:5000")));
        assert!(!c.contains(ip("192.169.0.1")));
        assert!(c.contains(ip("[::ffff:192.168.1.1]:80")));
        let one = Cidr::parse("127.0.0.1").expect("single");
        assert!(one.contains(ip("127.0.0.1:1")));
        assert!(!one.contains(ip("127.0.0.2")));
        let v6 = Cidr::parse("fe80::/32").expect("v6");
        assert!(v6.contains(ip("[fe80::1]:443")));
        assert!(!v6.contains(ip("fe81::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(Cidr::parse("0.0.0.0/0").expect("all").contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::/0").expect("all v6").contains(ip("::1")));
    }

    #[test]
    fn r12_invalid_cidrs_are_rejected() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "nope",
            "::1/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "1.2.3.4:80",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert!(Cidr::parse("10.0.0.1/8").unwrap_err().contains("10.0.0.0/8"));
    }
}
