//! Container addresses within a [`SubnetPlan`], with the rules of Docker's
//! allocator (`daemon/libnetwork/ipams/defaultipam/allocator.go`
//! `newPoolData` and `getAddress`). The taken addresses are the caller's
//! `BTreeSet`; a search walks only that set's elements in order, never the
//! address space, so a /64 costs no more than a /24.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::{bounds, from_u128, to_u128, IpFamily, IpamError, SubnetPlan};

/// The addresses Docker's allocator holds back in every subnet: the first
/// (IPv4 network address, IPv6 subnet-router anycast) and the IPv4
/// broadcast, except in IPv4 /31 and /32 (RFC 3021), which have neither.
pub(crate) fn fixed_reservations(subnet: &IpNet) -> Vec<u128> {
    let (first, last) = bounds(subnet);
    let host_bits = subnet.max_prefix_len() - subnet.prefix_len();
    match IpFamily::of_net(subnet) {
        IpFamily::V4 if host_bits > 1 => vec![first, last],
        IpFamily::V4 => Vec::new(),
        IpFamily::V6 => vec![first],
    }
}

/// First and last address dynamic allocation may use: the ip-range within
/// the subnet, or the whole subnet. `None` if they do not intersect.
pub(crate) fn allocation_range(subnet: &IpNet, ip_range: Option<&IpNet>) -> Option<(u128, u128)> {
    let (lo, hi) = bounds(subnet);
    let (lo, hi) = match ip_range {
        Some(r) if IpFamily::of_net(r) == IpFamily::of_net(subnet) => {
            let (rlo, rhi) = bounds(r);
            (lo.max(rlo), hi.min(rhi))
        }
        _ => (lo, hi),
    };
    (lo <= hi).then_some((lo, hi))
}

/// The first address of `lo..=hi` at or after `start` (wrapping to `lo` once)
/// that is in neither `reserved` (sorted) nor `in_use`.
pub(crate) fn first_free(
    lo: u128,
    hi: u128,
    start: u128,
    reserved: &[u128],
    in_use: &BTreeSet<IpAddr>,
    family: IpFamily,
) -> Option<u128> {
    let start = start.clamp(lo, hi);
    free_between(start, hi, reserved, in_use, family).or_else(|| {
        let before = start.checked_sub(1).filter(|&b| b >= lo)?;
        free_between(lo, before, reserved, in_use, family)
    })
}

/// The lowest address of `from..=to` taken by neither set. Walks both sets
/// in order from `from`: each step either finds a gap or passes one taken
/// address, so it costs O(taken addresses in the way).
fn free_between(
    from: u128,
    to: u128,
    reserved: &[u128],
    in_use: &BTreeSet<IpAddr>,
    family: IpFamily,
) -> Option<u128> {
    let mut used = in_use
        .range(from_u128(from, family)..=from_u128(to, family))
        .map(|ip| to_u128(*ip))
        .peekable();
    let mut held = reserved[reserved.partition_point(|&r| r < from)..]
        .iter()
        .copied()
        .peekable();
    let mut next = from;
    loop {
        while used.next_if(|&u| u < next).is_some() {}
        while held.next_if(|&r| r < next).is_some() {}
        if used.peek() != Some(&next) && held.peek() != Some(&next) {
            return Some(next);
        }
        if next == to {
            return None;
        }
        next += 1;
    }
}

impl SubnetPlan {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.subnet.contains(&ip)
    }

    pub fn prefix_len(&self) -> u8 {
        self.subnet.prefix_len()
    }

    pub fn family(&self) -> IpFamily {
        IpFamily::of_net(&self.subnet)
    }

    /// Addresses no container may get besides `in_use`, sorted: the fixed
    /// reservations, the gateway and the auxiliary addresses.
    fn reserved(&self) -> Vec<u128> {
        let mut reserved = fixed_reservations(&self.subnet);
        reserved.extend(
            std::iter::once(self.gateway)
                .chain(self.aux_addresses.values().copied())
                .filter(|ip| self.contains(*ip))
                .map(to_u128),
        );
        reserved.sort_unstable();
        reserved.dedup();
        reserved
    }

    /// A free address for a container, from the ip-range if there is one,
    /// else from the subnet. Never the network address, the IPv4 broadcast,
    /// the gateway, an auxiliary address or one of `in_use` (the addresses
    /// already given out on this subnet).
    ///
    /// With `last: None` this is the lowest free address, which is what
    /// Docker does for local networks. With `last` (the address handed out
    /// most recently) the search starts after it and wraps around once, as
    /// Docker's serial mode (`com.docker.network.ipam.serial`) does, so freed
    /// addresses are not reused at once.
    ///
    /// A full subnet gives [`IpamError::NoAvailableAddresses`]; once every
    /// subnet of the family is full, report [`IpamError::NetworkExhausted`].
    pub fn allocate(
        &self,
        in_use: &BTreeSet<IpAddr>,
        last: Option<IpAddr>,
    ) -> Result<IpAddr, IpamError> {
        let family = self.family();
        let (lo, hi) = allocation_range(&self.subnet, self.ip_range.as_ref())
            .ok_or(IpamError::NoAvailableAddresses)?;
        let start = match last.filter(|l| IpFamily::of(*l) == family).map(to_u128) {
            Some(l) if (lo..hi).contains(&l) => l + 1,
            _ => lo,
        };
        first_free(lo, hi, start, &self.reserved(), in_use, family)
            .map(|v| from_u128(v, family))
            .ok_or(IpamError::NoAvailableAddresses)
    }

    /// Checks a fixed address (`--ip`): it must lie in the subnet (outside
    /// the ip-range is fine, as in Docker) and be free. The network address,
    /// IPv4 broadcast, gateway and auxiliary addresses count as in use, as
    /// they do in Docker's allocator.
    pub fn check_requested(&self, ip: IpAddr, in_use: &BTreeSet<IpAddr>) -> Result<(), IpamError> {
        if !self.contains(ip) {
            return Err(IpamError::NotInSubnet(ip));
        }
        if in_use.contains(&ip) || self.reserved().binary_search(&to_u128(ip)).is_ok() {
            return Err(IpamError::AddressInUse);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubnetRequest;
    use std::collections::BTreeMap;
    use std::net::Ipv6Addr;
    use std::time::{Duration, Instant};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn set(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().map(|s| ip(s)).collect()
    }

    fn plan(
        subnet: &str,
        ip_range: Option<&str>,
        gateway: Option<&str>,
        aux: &[(&str, &str)],
    ) -> SubnetPlan {
        SubnetRequest {
            subnet: subnet.parse().unwrap(),
            ip_range: ip_range.map(|r| r.parse().unwrap()),
            gateway: gateway.map(ip),
            aux_addresses: aux
                .iter()
                .map(|&(k, v)| (k.to_owned(), ip(v)))
                .collect::<BTreeMap<_, _>>(),
        }
        .plan()
        .unwrap()
    }

    /// Allocates `n` addresses one after the other, serially.
    fn run(p: &SubnetPlan, n: usize) -> Vec<String> {
        let mut in_use = BTreeSet::new();
        let mut last = None;
        (0..n)
            .map(|_| {
                let a = p.allocate(&in_use, last).unwrap();
                in_use.insert(a);
                last = Some(a);
                a.to_string()
            })
            .collect()
    }

    #[test]
    fn order_skips_gateway_and_aux() {
        let p = plan(
            "192.168.100.0/24",
            None,
            None,
            &[("a", "192.168.100.3"), ("b", "192.168.100.5")],
        );
        assert_eq!(
            run(&p, 4),
            [
                "192.168.100.2",
                "192.168.100.4",
                "192.168.100.6",
                "192.168.100.7"
            ]
        );
    }

    #[test]
    fn gateway_elsewhere_frees_dot_one() {
        let p = plan("10.0.0.0/24", None, Some("10.0.0.254"), &[]);
        assert_eq!(run(&p, 2), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn lowest_free_without_last() {
        let p = plan("10.0.0.0/24", None, None, &[]);
        assert_eq!(
            p.allocate(&set(&["10.0.0.3"]), None).unwrap(),
            ip("10.0.0.2")
        );
        assert_eq!(
            p.allocate(&set(&["10.0.0.2", "10.0.0.3"]), None).unwrap(),
            ip("10.0.0.4")
        );
    }

    #[test]
    fn serial_after_last_with_wraparound() {
        let p = plan("10.0.0.0/24", None, None, &[]);
        // .2 was freed; serial mode goes on after .5 rather than reusing it.
        let in_use = set(&["10.0.0.3", "10.0.0.4", "10.0.0.5"]);
        assert_eq!(
            p.allocate(&in_use, Some(ip("10.0.0.5"))).unwrap(),
            ip("10.0.0.6")
        );
        // After the last usable address it wraps to the start.
        let in_use = set(&["10.0.0.254", "10.0.0.3"]);
        assert_eq!(
            p.allocate(&in_use, Some(ip("10.0.0.254"))).unwrap(),
            ip("10.0.0.2")
        );
        // The top of the range is free, the broadcast is not: wrap too.
        assert_eq!(
            p.allocate(&set(&["10.0.0.2"]), Some(ip("10.0.0.254")))
                .unwrap(),
            ip("10.0.0.3")
        );
        // A `last` outside the subnet or of the other family starts over.
        assert_eq!(
            p.allocate(&set(&[]), Some(ip("192.168.0.9"))).unwrap(),
            ip("10.0.0.2")
        );
        assert_eq!(
            p.allocate(&set(&[]), Some(ip("::9"))).unwrap(),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn wraparound_finds_the_only_gap_before_last() {
        let p = plan("10.0.0.0/29", None, None, &[]);
        // Usable .2-.6; only .2 free, last is .4.
        let in_use = set(&["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
        assert_eq!(
            p.allocate(&in_use, Some(ip("10.0.0.4"))).unwrap(),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ip_range_restricts_allocation() {
        let p = plan("10.0.0.0/24", Some("10.0.0.128/25"), Some("10.0.0.1"), &[]);
        assert_eq!(run(&p, 3), ["10.0.0.128", "10.0.0.129", "10.0.0.130"]);
        // The range's last address is the subnet's broadcast: held back.
        let mut in_use: BTreeSet<IpAddr> =
            (128..=253u8).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        assert_eq!(p.allocate(&in_use, None).unwrap(), ip("10.0.0.254"));
        in_use.insert(ip("10.0.0.254"));
        assert_eq!(
            p.allocate(&in_use, None),
            Err(IpamError::NoAvailableAddresses)
        );
    }

    #[test]
    fn ip_range_starting_at_the_network_address() {
        let p = plan("10.0.0.0/16", Some("10.0.0.0/24"), None, &[]);
        assert_eq!(p.gateway, ip("10.0.0.1"));
        assert_eq!(run(&p, 1), ["10.0.0.2"]);
        // A range inside the subnet may hand out its own .0.
        let p = plan("10.0.0.0/16", Some("10.0.1.0/24"), Some("10.0.0.1"), &[]);
        assert_eq!(run(&p, 1), ["10.0.1.0"]);
    }

    #[test]
    fn exhaustion_of_small_subnets() {
        let cases = [
            // /30: .0 network, .1 gateway, .2 usable, .3 broadcast.
            ("10.0.0.0/30", vec!["10.0.0.2"]),
            (
                "10.0.0.0/29",
                vec!["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
            ),
            // /31: gateway .0, one container .1.
            ("10.0.0.0/31", vec!["10.0.0.1"]),
            // /32: the gateway takes the only address.
            ("10.0.0.0/32", vec![]),
            ("fd00::/126", vec!["fd00::2", "fd00::3"]),
        ];
        for (subnet, want) in cases {
            let p = plan(subnet, None, None, &[]);
            assert_eq!(run(&p, want.len()), want, "{subnet}");
            let in_use: BTreeSet<IpAddr> = want.iter().map(|s| ip(s)).collect();
            let err = p.allocate(&in_use, None).unwrap_err();
            assert_eq!(err, IpamError::NoAvailableAddresses, "{subnet}");
            assert_eq!(err.to_string(), "no available addresses on this pool");
        }
    }

    #[test]
    fn ipv6_allocation() {
        let p = plan("2001:db8::/64", None, None, &[]);
        assert_eq!(p.gateway, ip("2001:db8::1"));
        assert_eq!(run(&p, 3), ["2001:db8::2", "2001:db8::3", "2001:db8::4"]);
        // IPv6 has no broadcast: the last address can be given out.
        let last = ip("2001:db8::ffff:ffff:ffff:fffe");
        assert_eq!(
            p.allocate(&set(&[]), Some(last)).unwrap(),
            ip("2001:db8::ffff:ffff:ffff:ffff")
        );
    }

    #[test]
    fn ipv6_with_thousands_in_use_is_fast() {
        let p = plan("2001:db8::/64", None, None, &[]);
        let base = u128::from("2001:db8::".parse::<Ipv6Addr>().unwrap());
        // 20,000 consecutive addresses from ::2, plus others of both families.
        let mut in_use: BTreeSet<IpAddr> = (2..20_002u128)
            .map(|i| IpAddr::V6(Ipv6Addr::from(base + i)))
            .collect();
        in_use.extend((0..5_000u32).map(|i| IpAddr::from(std::net::Ipv4Addr::from(i))));
        let start = Instant::now();
        for _ in 0..20 {
            assert_eq!(p.allocate(&in_use, None).unwrap(), ip("2001:db8::4e22"));
        }
        // Serial: after the last address of the subnet, wrap and pass them all.
        in_use.insert(ip("2001:db8::ffff:ffff:ffff:ffff"));
        let last = Some(ip("2001:db8::ffff:ffff:ffff:ffff"));
        assert_eq!(p.allocate(&in_use, last).unwrap(), ip("2001:db8::4e22"));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn full_ipv6_range_is_reported_without_walking_the_subnet() {
        // A /112 range of a /64, entirely in use.
        let p = plan("fd00::/64", Some("fd00::1:0/112"), Some("fd00::1"), &[]);
        let base = u128::from("fd00::1:0".parse::<Ipv6Addr>().unwrap());
        let in_use: BTreeSet<IpAddr> = (0..65_536u128)
            .map(|i| IpAddr::V6(Ipv6Addr::from(base + i)))
            .collect();
        let start = Instant::now();
        assert_eq!(
            p.allocate(&in_use, Some(ip("fd00::1:1234"))),
            Err(IpamError::NoAvailableAddresses)
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
    }

    #[test]
    fn check_requested_table() {
        let p = plan(
            "10.0.0.0/24",
            Some("10.0.0.128/25"),
            None,
            &[("router", "10.0.0.200")],
        );
        assert_eq!(p.gateway, ip("10.0.0.128"));
        let in_use = set(&["10.0.0.129"]);
        let cases: &[(&str, Result<(), IpamError>)] = &[
            ("10.0.0.5", Ok(())), // outside the ip-range, inside the subnet
            ("10.0.0.130", Ok(())),
            ("10.0.0.129", Err(IpamError::AddressInUse)),
            ("10.0.0.128", Err(IpamError::AddressInUse)), // gateway
            ("10.0.0.200", Err(IpamError::AddressInUse)), // aux
            ("10.0.0.0", Err(IpamError::AddressInUse)),   // network
            ("10.0.0.255", Err(IpamError::AddressInUse)), // broadcast
            ("10.0.1.5", Err(IpamError::NotInSubnet(ip("10.0.1.5")))),
            ("fd00::5", Err(IpamError::NotInSubnet(ip("fd00::5")))),
        ];
        for (addr, want) in cases {
            assert_eq!(&p.check_requested(ip(addr), &in_use), want, "{addr}");
        }
    }

    #[test]
    fn check_requested_messages_and_kinds() {
        let p = plan("10.0.0.0/24", None, None, &[]);
        let err = p
            .check_requested(ip("10.0.0.1"), &BTreeSet::new())
            .unwrap_err();
        assert_eq!(err.to_string(), "Address already in use");
        assert_eq!(err.kind(), crate::ErrorKind::Forbidden);
        let err = p
            .check_requested(ip("10.9.9.9"), &BTreeSet::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no configured subnet contains IP address 10.9.9.9"
        );
        assert_eq!(err.kind(), crate::ErrorKind::InvalidParameter);
    }

    #[test]
    fn check_requested_small_and_v6_subnets() {
        let p31 = plan("10.0.0.0/31", None, None, &[]);
        assert_eq!(
            p31.check_requested(ip("10.0.0.1"), &BTreeSet::new()),
            Ok(())
        );
        let p6 = plan("fd00::/64", None, None, &[]);
        assert_eq!(
            p6.check_requested(ip("fd00::"), &BTreeSet::new()),
            Err(IpamError::AddressInUse)
        );
        assert_eq!(
            p6.check_requested(ip("fd00::ffff:ffff:ffff:ffff"), &BTreeSet::new()),
            Ok(())
        );
    }

    #[test]
    fn fixed_reservations_table() {
        let cases = [
            ("10.0.0.0/24", vec!["10.0.0.0", "10.0.0.255"]),
            ("10.0.0.0/30", vec!["10.0.0.0", "10.0.0.3"]),
            ("10.0.0.0/31", vec![]),
            ("10.0.0.0/32", vec![]),
            ("fd00::/64", vec!["fd00::"]),
            ("fd00::/128", vec!["fd00::"]),
        ];
        for (subnet, want) in cases {
            let n: IpNet = subnet.parse().unwrap();
            let want: Vec<u128> = want.iter().map(|s| to_u128(ip(s))).collect();
            assert_eq!(fixed_reservations(&n), want, "{subnet}");
        }
    }

    #[test]
    fn accessors() {
        let p = plan("fd00::/64", None, None, &[]);
        assert_eq!(p.prefix_len(), 64);
        assert_eq!(p.family(), IpFamily::V6);
        assert!(p.contains(ip("fd00::1234")));
        assert!(!p.contains(ip("fd01::1")));
        assert!(!p.contains(ip("10.0.0.1")));
    }
}
