//! Pure decisions behind `ensure_bridge` and `host_routes`: what to change on
//! a link given what the kernel reported, and which routes count. No I/O, so
//! every rule here is unit-tested without root.

use std::net::IpAddr;

use berth_core::ports::BridgeSpec;
use berth_types::{IpNet, MacAddr};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};

/// What the kernel says about an existing link, reduced to what a bridge spec
/// constrains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkFacts {
    pub index: u32,
    /// `IFLA_INFO_KIND`, e.g. `bridge`; `None` for kind-less links (`lo`).
    pub kind: Option<String>,
    pub mtu: Option<u32>,
    pub alias: Option<String>,
    pub up: bool,
    /// `IFLA_ADDRESS`.
    pub mac: Option<MacAddr>,
}

/// The attributes of an existing bridge that must change to match the spec.
/// Empty (`is_noop`) on a correct bridge, so re-ensuring sends nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LinkChange {
    pub alias: Option<String>,
    pub mtu: Option<u32>,
    pub up: bool,
    pub mac: Option<MacAddr>,
}

impl LinkChange {
    pub fn is_noop(&self) -> bool {
        self.alias.is_none() && self.mtu.is_none() && !self.up && self.mac.is_none()
    }
}

pub(crate) fn plan_link(spec: &BridgeSpec, facts: &LinkFacts) -> LinkChange {
    LinkChange {
        alias: (facts.alias.as_deref() != Some(spec.alias.as_str())).then(|| spec.alias.clone()),
        mtu: (facts.mtu != Some(spec.mtu)).then_some(spec.mtu),
        up: !facts.up,
        mac: (facts.mac != Some(spec.mac)).then_some(spec.mac),
    }
}

/// An address found on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AddrFacts {
    pub net: IpNet,
    /// IPv6 duplicate address detection failed: the address is unusable and
    /// must be re-added.
    pub dad_failed: bool,
}

/// Addresses to remove (first) and add (then) so that the link's addresses
/// become exactly `desired`, IPv6 link-local ones aside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AddrDiff {
    pub remove: Vec<IpNet>,
    pub add: Vec<IpNet>,
}

impl AddrDiff {
    pub fn is_noop(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

/// Compares `(address, prefix length)` pairs, so 172.30.0.1/24 on the link
/// does not satisfy a wanted 172.30.0.1/16: it is removed and the /16 added.
/// IPv6 link-local addresses (fe80::/10) are the kernel's and never removed.
pub(crate) fn diff_addresses(desired: &[IpNet], current: &[AddrFacts]) -> AddrDiff {
    let usable = |net: &IpNet| current.iter().any(|c| c.net == *net && !c.dad_failed);
    let mut diff = AddrDiff::default();
    for c in current {
        let wanted = desired.contains(&c.net) && !c.dad_failed;
        if !wanted && !is_ipv6_link_local(c.net.addr()) && !diff.remove.contains(&c.net) {
            diff.remove.push(c.net);
        }
    }
    for d in desired {
        if !usable(d) && !diff.add.contains(d) {
            diff.add.push(*d);
        }
    }
    diff
}

pub(crate) fn is_ipv6_link_local(addr: IpAddr) -> bool {
    matches!(addr, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80)
}

const RT_TABLE_MAIN: u32 = 254;

/// The destination prefix of a main-table route worth reporting as "the host
/// reaches this network", or `None` for default routes, other tables
/// (local/broadcast routes live in `local`), link-local and multicast.
pub(crate) fn route_destination(msg: &RouteMessage) -> Option<IpNet> {
    let table = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table));
    if table != RT_TABLE_MAIN {
        return None;
    }
    if matches!(
        msg.header.kind,
        RouteType::Local | RouteType::Broadcast | RouteType::Multicast | RouteType::Anycast
    ) {
        return None;
    }
    let len = msg.header.destination_prefix_length;
    if len == 0 {
        return None; // default route (0.0.0.0/0, ::/0)
    }
    let addr: IpAddr = msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        RouteAttribute::Destination(RouteAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })?;
    if addr.is_multicast() || is_ipv6_link_local(addr) {
        return None;
    }
    IpNet::new(addr, len).ok().map(|n| n.trunc())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use berth_types::IfName;
    use rtnetlink::RouteMessageBuilder;

    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn spec() -> BridgeSpec {
        BridgeSpec {
            name: IfName::parse("br-test").unwrap(),
            mtu: 1400,
            addresses: vec![net("172.30.0.1/16")],
            alias: "berth:abc".into(),
            mac: BRIDGE_MAC,
        }
    }

    const BRIDGE_MAC: MacAddr = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

    fn facts(alias: Option<&str>, mtu: u32, up: bool) -> LinkFacts {
        LinkFacts {
            index: 7,
            kind: Some("bridge".into()),
            mtu: Some(mtu),
            alias: alias.map(str::to_owned),
            up,
            mac: Some(BRIDGE_MAC),
        }
    }

    fn on_link(nets: &[&str]) -> Vec<AddrFacts> {
        nets.iter()
            .map(|s| AddrFacts {
                net: net(s),
                dad_failed: false,
            })
            .collect()
    }

    #[test]
    fn correct_bridge_needs_no_change() {
        assert!(plan_link(&spec(), &facts(Some("berth:abc"), 1400, true)).is_noop());
    }

    #[test]
    fn only_differing_attributes_change() {
        let change = plan_link(&spec(), &facts(None, 1500, false));
        assert_eq!(
            change,
            LinkChange {
                alias: Some("berth:abc".into()),
                mtu: Some(1400),
                up: true,
                mac: None,
            }
        );
        let change = plan_link(&spec(), &facts(Some("berth:other"), 1400, true));
        assert_eq!(change.alias.as_deref(), Some("berth:abc"));
        assert_eq!((change.mtu, change.up), (None, false));
    }

    #[test]
    fn a_mac_the_kernel_picked_is_replaced_by_the_spec_one() {
        // A bridge that took its lowest port's MAC (made before MACs were
        // fixed) gets the spec's; the rest of a correct bridge is left alone.
        let mut kernel_picked = facts(Some("berth:abc"), 1400, true);
        kernel_picked.mac = Some(MacAddr([0x8a, 0x01, 0x02, 0x03, 0x04, 0x05]));
        let change = plan_link(&spec(), &kernel_picked);
        assert_eq!(
            change,
            LinkChange {
                mac: Some(BRIDGE_MAC),
                ..LinkChange::default()
            }
        );
        assert!(!change.is_noop());
    }

    #[test]
    fn addresses_already_right_need_nothing() {
        let current = on_link(&["172.30.0.1/16", "fe80::1/64"]);
        assert!(diff_addresses(&[net("172.30.0.1/16")], &current).is_noop());
    }

    #[test]
    fn stale_addresses_go_missing_ones_come_link_local_stays() {
        let current = on_link(&["172.30.0.1/16", "10.1.0.1/24", "fe80::1/64"]);
        let desired = [net("172.31.0.1/16"), net("2001:db8:1::1/64")];
        let diff = diff_addresses(&desired, &current);
        assert_eq!(diff.remove, vec![net("172.30.0.1/16"), net("10.1.0.1/24")]);
        assert_eq!(diff.add, desired.to_vec());
    }

    #[test]
    fn same_address_other_prefix_is_replaced() {
        let diff = diff_addresses(&[net("172.30.0.1/16")], &on_link(&["172.30.0.1/24"]));
        assert_eq!(diff.remove, vec![net("172.30.0.1/24")]);
        assert_eq!(diff.add, vec![net("172.30.0.1/16")]);
    }

    #[test]
    fn duplicates_in_spec_are_added_once() {
        let diff = diff_addresses(&[net("10.0.0.1/8"), net("10.0.0.1/8")], &[]);
        assert_eq!(diff.add, vec![net("10.0.0.1/8")]);
    }

    #[test]
    fn dad_failed_address_is_readded() {
        let current = [AddrFacts {
            net: net("2001:db8::1/64"),
            dad_failed: true,
        }];
        let diff = diff_addresses(&[net("2001:db8::1/64")], &current);
        assert_eq!(diff.remove, vec![net("2001:db8::1/64")]);
        assert_eq!(diff.add, vec![net("2001:db8::1/64")]);
    }

    #[test]
    fn wanted_link_local_is_not_added_twice() {
        let diff = diff_addresses(&[net("fe80::1/64")], &on_link(&["fe80::1/64"]));
        assert!(diff.is_noop());
    }

    #[test]
    fn link_local_detection() {
        assert!(is_ipv6_link_local("fe80::1".parse().unwrap()));
        assert!(is_ipv6_link_local("febf::1".parse().unwrap()));
        assert!(!is_ipv6_link_local("fec0::1".parse().unwrap()));
        assert!(!is_ipv6_link_local("169.254.0.1".parse().unwrap()));
    }

    fn v4_route(dest: Ipv4Addr, len: u8) -> RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dest, len)
            .build()
    }

    fn v6_route(dest: Ipv6Addr, len: u8) -> RouteMessage {
        RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(dest, len)
            .build()
    }

    #[test]
    fn main_table_prefixes_are_reported() {
        let r = v4_route(Ipv4Addr::new(10, 99, 0, 0), 16);
        assert_eq!(route_destination(&r), Some(net("10.99.0.0/16")));
        let r = v6_route("2001:db8:5::".parse().unwrap(), 48);
        assert_eq!(route_destination(&r), Some(net("2001:db8:5::/48")));
    }

    #[test]
    fn defaults_link_local_multicast_and_other_tables_are_skipped() {
        let mut default = v4_route(Ipv4Addr::UNSPECIFIED, 0);
        default.attributes.clear(); // the kernel sends no RTA_DST for defaults
        assert_eq!(route_destination(&default), None);
        assert_eq!(route_destination(&v6_route(Ipv6Addr::UNSPECIFIED, 0)), None);
        assert_eq!(
            route_destination(&v6_route("fe80::".parse().unwrap(), 64)),
            None
        );
        assert_eq!(
            route_destination(&v6_route("ff00::".parse().unwrap(), 8)),
            None
        );
        assert_eq!(
            route_destination(&v4_route(Ipv4Addr::new(224, 0, 0, 0), 4)),
            None
        );

        let local = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(Ipv4Addr::new(127, 0, 0, 1), 32)
            .table_id(255)
            .kind(RouteType::Local)
            .build();
        assert_eq!(route_destination(&local), None);

        let other_table = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(Ipv4Addr::new(10, 5, 0, 0), 16)
            .table_id(1000)
            .build();
        assert_eq!(route_destination(&other_table), None);
    }

    #[test]
    fn large_table_id_comes_from_the_attribute() {
        let mut r = v4_route(Ipv4Addr::new(10, 5, 0, 0), 16);
        r.header.table = 252; // RT_TABLE_COMPAT, as the kernel sends for ids > 255
        r.attributes.push(RouteAttribute::Table(RT_TABLE_MAIN));
        assert_eq!(route_destination(&r), Some(net("10.5.0.0/16")));
    }
}
