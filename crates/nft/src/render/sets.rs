//! The sets and maps of a table, their declarations, and the elements
//! collected for them.

use std::collections::{HashMap, HashSet};

use super::Family;

/// Every set and map of a table. Per-network facts: the first seven;
/// per-port facts: the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Set {
    Bridges,
    SameBridge,
    Internal,
    NoIcc,
    Subnets,
    SubnetBridges,
    MasqSubnets,
    DnatAddr,
    DnatAddrKeepPort,
    DnatAny,
    DnatAnyKeepPort,
    PublishedAddr,
    PublishedAny,
}

/// How a set is declared.
pub(super) struct SetDecl {
    /// `set` or `map`.
    pub(super) kind: &'static str,
    /// The `type` line, with `ADDR` for the family's address type.
    pub(super) type_: &'static str,
    /// Elements are ranges or prefixes (`flags interval`).
    pub(super) interval: bool,
    pub(super) comment: &'static str,
}

impl Set {
    pub(super) const ALL: [Set; 13] = [
        Set::Bridges,
        Set::SameBridge,
        Set::Internal,
        Set::NoIcc,
        Set::Subnets,
        Set::SubnetBridges,
        Set::MasqSubnets,
        Set::DnatAddr,
        Set::DnatAddrKeepPort,
        Set::DnatAny,
        Set::DnatAnyKeepPort,
        Set::PublishedAddr,
        Set::PublishedAny,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Set::Bridges => "bridges",
            Set::SameBridge => "same-bridge",
            Set::Internal => "internal",
            Set::NoIcc => "no-icc",
            Set::Subnets => "subnets",
            Set::SubnetBridges => "subnet-bridges",
            Set::MasqSubnets => "masq-subnets",
            Set::DnatAddr => "dnat-addr",
            Set::DnatAddrKeepPort => "dnat-addr-keep-port",
            Set::DnatAny => "dnat-any",
            Set::DnatAnyKeepPort => "dnat-any-keep-port",
            Set::PublishedAddr => "published-addr",
            Set::PublishedAny => "published-any",
        }
    }

    pub(super) fn decl(self) -> SetDecl {
        let (kind, type_, interval, comment) = match self {
            Set::Bridges => ("set", "ifname", false, "every berth bridge"),
            Set::SameBridge => (
                "set",
                "ifname . ifname",
                false,
                "each berth bridge paired with itself: iifname . oifname in here is traffic that stays on one bridge",
            ),
            Set::Internal => (
                "set",
                "ifname",
                false,
                "bridges of internal networks: nothing leaves them, nothing enters them",
            ),
            Set::NoIcc => (
                "set",
                "ifname",
                false,
                "bridges of networks with enable_icc=false: their containers may not talk to each other",
            ),
            Set::Subnets => ("set", "ADDR", true, "every subnet of a berth network"),
            Set::SubnetBridges => (
                "set",
                "ADDR . ifname",
                true,
                "subnet . bridge: each berth subnet with the bridge it lives on",
            ),
            Set::MasqSubnets => (
                "set",
                "ADDR . ifname",
                true,
                "subnet . bridge of the networks whose outbound traffic is masqueraded",
            ),
            Set::DnatAddr => (
                "map",
                "ADDR . inet_proto . inet_service : ADDR . inet_service",
                false,
                "ports published on one host address: host address . protocol . host port : container address . container port",
            ),
            Set::DnatAddrKeepPort => (
                "map",
                "ADDR . inet_proto . inet_service : ADDR",
                true,
                "port ranges published on one host address to the same container ports: host address . protocol . ports : container address",
            ),
            Set::DnatAny => (
                "map",
                "inet_proto . inet_service : ADDR . inet_service",
                false,
                "ports published on every host address: protocol . host port : container address . container port",
            ),
            Set::DnatAnyKeepPort => (
                "map",
                "inet_proto . inet_service : ADDR",
                true,
                "port ranges published on every host address to the same container ports: protocol . ports : container address",
            ),
            Set::PublishedAddr => (
                "set",
                "ADDR . inet_proto . inet_service . ADDR . inet_service",
                true,
                "connections dnat-addr* made: host address . protocol . host port . container address . container port",
            ),
            Set::PublishedAny => (
                "set",
                "inet_proto . inet_service . ADDR . inet_service",
                true,
                "connections dnat-any* made: protocol . host port . container address . container port",
            ),
        };
        SetDecl {
            kind,
            type_,
            interval,
            comment,
        }
    }
}

/// One element: `key` for a set, `key : value` for a map.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Element {
    pub(super) key: String,
    pub(super) value: Option<String>,
}

impl Element {
    pub(super) fn key(key: String) -> Self {
        Self { key, value: None }
    }
}

/// Elements per table and set, in the order they were given; exact
/// duplicates are kept once (deleting an element twice in one transaction
/// would fail the whole transaction).
#[derive(Default)]
pub(super) struct Elements {
    lists: HashMap<(Family, Set), Vec<Element>>,
    seen: HashSet<(Family, Set, Element)>,
}

impl Elements {
    pub(super) fn push(&mut self, family: Family, set: Set, element: Element) {
        if self.seen.insert((family, set, element.clone())) {
            self.lists.entry((family, set)).or_default().push(element);
        }
    }

    pub(super) fn of(&self, family: Family, set: Set) -> &[Element] {
        self.lists.get(&(family, set)).map_or(&[], Vec::as_slice)
    }
}
