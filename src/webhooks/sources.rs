//! Where unsigned notifications may come from: networks in CIDR notation
//! (`203.0.113.0/24`, `2001:db8::/32`, or a single address).

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if net[..full] != ip[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    net[full] & mask == ip[full] & mask
}

/// A comma-separated list of networks.
pub fn parse(list: &str) -> Result<Vec<Network>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (addr, prefix) = match item.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (item, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| {
                format!("{item:?} is not an address or network, e.g. 203.0.113.0/24")
            })?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{item:?} has a prefix length outside 0–{max}"))?,
            };
            Ok(Network { addr, prefix })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let nets = parse("203.0.113.0/24, 10.1.2.3, 2001:db8::/32").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(nets[0].contains(ip("203.0.113.77")));
        assert!(!nets[0].contains(ip("203.0.114.1")));
        assert!(nets[1].contains(ip("10.1.2.3")) && !nets[1].contains(ip("10.1.2.4")));
        assert!(nets[2].contains(ip("2001:db8:ffff::1")) && !nets[2].contains(ip("2001:db9::1")));
        assert!(
            nets[0].contains(ip("::ffff:203.0.113.5")),
            "IPv4 seen through IPv6"
        );
        assert!(parse("0.0.0.0/0").unwrap()[0].contains(ip("192.0.2.1")));
        assert!(parse("10.0.0.0/33").is_err());
        assert!(parse("not-an-ip").is_err());
    }
}
