//! IP address management as Docker's default IPAM driver does it, without
//! state of its own: every function gets the addresses and subnets already
//! taken as arguments, so the caller's store stays the only truth.
//!
//! - Pools: [`PoolSpec`], [`docker_default_pools`] and [`select_pool`] pick a
//!   free subnet for a network created without one.
//! - Plans: [`SubnetRequest`] and [`plan_network`] validate a network's IPAM
//!   config into [`SubnetPlan`]s, with gateway and auxiliary addresses.
//! - Addresses: [`SubnetPlan::allocate`] and [`SubnetPlan::check_requested`]
//!   give out container addresses.
//!
//! Error texts are Docker's; see [`IpamError`].

#![forbid(unsafe_code)]

mod alloc;
mod error;
mod plan;
mod pool;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use error::{ErrorKind, IpamError};
pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};
pub use plan::{plan_network, SubnetPlan, SubnetRequest};
pub use pool::{check_no_overlap, docker_default_pools, select_pool, PoolSpec};

/// An address family, printed as Docker prints it ("IPv4", "IPv6").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: IpAddr) -> IpFamily {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    pub fn of_net(net: &IpNet) -> IpFamily {
        IpFamily::of(net.addr())
    }

    /// Address length in bits.
    pub fn bits(self) -> u8 {
        match self {
            IpFamily::V4 => 32,
            IpFamily::V6 => 128,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

/// Whether `a` and `b` share any address. Nets of different families never do.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

// Address arithmetic is done on u128 for both families, so the search code
// is written once; IPv4 values always stay below 2^32.

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v: u128, family: IpFamily) -> IpAddr {
    match family {
        // Callers only pass values taken from IPv4 nets, which fit in u32.
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// First and last address of `net`, host bits ignored.
fn bounds(net: &IpNet) -> (u128, u128) {
    (to_u128(net.network()), to_u128(net.broadcast()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn overlap_table() {
        let cases = [
            ("10.0.0.0/8", "10.1.0.0/16", true),
            ("10.1.0.0/16", "10.0.0.0/8", true),
            ("10.0.0.0/24", "10.0.0.0/24", true),
            ("10.0.0.0/24", "10.0.1.0/24", false),
            ("10.0.1.0/24", "10.0.0.0/24", false),
            ("10.0.0.0/23", "10.0.1.0/24", true),
            ("172.17.0.0/16", "172.17.255.255/32", true),
            ("2001:db8::/32", "2001:db8:1::/48", true),
            ("2001:db8::/64", "2001:db8:0:1::/64", false),
            ("10.0.0.0/8", "::/0", false),
            ("0.0.0.0/0", "192.168.1.0/24", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlaps(&net(a), &net(b)), want, "{a} vs {b}");
        }
    }

    #[test]
    fn overlap_ignores_host_bits() {
        assert!(overlaps(&net("10.0.0.7/24"), &net("10.0.0.200/30")));
    }

    #[test]
    fn u128_round_trip() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "172.17.0.1",
            "::",
            "2001:db8::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(from_u128(to_u128(ip), IpFamily::of(ip)), ip);
        }
    }

    #[test]
    fn family_prints_like_docker() {
        assert_eq!(IpFamily::V4.to_string(), "IPv4");
        assert_eq!(IpFamily::V6.to_string(), "IPv6");
    }
}
