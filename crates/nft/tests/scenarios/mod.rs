//! The firewall states and changes of the golden tests, shared with the
//! privileged tests (which load each rendered script into a real kernel).

// Each test file uses a subset; test code panics on failure.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::PathBuf;

use berth_core::container::Proto;
use berth_core::ports::{FirewallChange, FirewallState, FwNetwork, FwPort};
use berth_nft::{render_change, render_full, FwConfig};
use berth_types::IfName;

pub fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.nft"))
}

/// A network with icc and masquerade on; `edit` changes the rest.
pub fn network(bridge: &str, subnets: &[&str], edit: impl FnOnce(&mut FwNetwork)) -> FwNetwork {
    let mut n = FwNetwork {
        bridge: IfName::parse(bridge).unwrap(),
        subnets: subnets.iter().map(|s| s.parse().unwrap()).collect(),
        internal: false,
        icc: true,
        masquerade: true,
    };
    edit(&mut n);
    n
}

/// A mapping to a container on [`USER_BRIDGE`].
pub fn port(
    proto: Proto,
    host_ip: Option<&str>,
    host_ports: (u16, u16),
    container_ip: &str,
    container_ports: (u16, u16),
) -> FwPort {
    FwPort {
        proto,
        host_ip: host_ip.map(|ip| ip.parse::<IpAddr>().unwrap()),
        host_ports,
        container_ip: container_ip.parse().unwrap(),
        container_ports,
        bridge: IfName::parse(USER_BRIDGE).unwrap(),
    }
}

pub const USER_BRIDGE: &str = "br-5c3a1e0d9b2f";

/// `berthd` just started: the default bridge only.
pub fn new_daemon_state() -> FirewallState {
    FirewallState {
        networks: vec![network("berth0", &["172.17.0.0/16"], |_| {})],
        ports: vec![],
    }
}

/// `network create user` + `run --network user -p 8080:80`.
pub fn user_network_state() -> FirewallState {
    let mut state = new_daemon_state();
    state
        .networks
        .push(network(USER_BRIDGE, &["172.18.0.0/16"], |_| {}));
    state.ports.push(published_8080());
    state
}

pub fn published_8080() -> FwPort {
    port(Proto::Tcp, None, (8080, 8080), "172.18.0.2", (80, 80))
}

/// As [`user_network_state`], the network with `enable_icc=false`.
pub fn icc_off_state() -> FirewallState {
    let mut state = user_network_state();
    state.networks[1].icc = false;
    state
}

/// `network create --internal`, with a container on it (internal networks
/// publish nothing).
pub fn internal_state() -> FirewallState {
    let mut state = new_daemon_state();
    state
        .networks
        .push(network(USER_BRIDGE, &["172.18.0.0/16"], |n| {
            n.internal = true;
            n.masquerade = false;
        }));
    state
}

/// `network create --ipv6` with ports on both families, loopback ones too,
/// and a network with masquerade off.
pub fn ipv6_state() -> FirewallState {
    let mut state = new_daemon_state();
    state.networks.push(network(
        USER_BRIDGE,
        &["172.18.0.0/16", "fd00:18::/64"],
        |_| {},
    ));
    state.networks.push(network(
        "br-0b1e2d3c4f5a",
        &["172.19.0.0/16", "fd00:19::/64"],
        |n| n.masquerade = false,
    ));
    state.ports = vec![
        port(Proto::Tcp, None, (8080, 8080), "172.18.0.2", (80, 80)),
        port(Proto::Tcp, None, (8080, 8080), "fd00:18::2", (80, 80)),
        port(
            Proto::Tcp,
            Some("127.0.0.1"),
            (8081, 8081),
            "172.18.0.2",
            (80, 80),
        ),
        port(
            Proto::Tcp,
            Some("::1"),
            (8081, 8081),
            "fd00:18::2",
            (80, 80),
        ),
        port(
            Proto::Udp,
            Some("2001:db8::7"),
            (53, 53),
            "fd00:18::2",
            (53, 53),
        ),
        port(Proto::Sctp, None, (9000, 9009), "fd00:18::2", (9000, 9009)),
    ];
    state
}

/// `-p 8000-8999:8000-8999`: a thousand ports, one element per map.
pub fn range_state() -> FirewallState {
    let mut state = user_network_state();
    state.ports = vec![port(
        Proto::Tcp,
        None,
        (8000, 8999),
        "172.18.0.2",
        (8000, 8999),
    )];
    state
}

/// Starting a container that publishes a port.
pub fn add_port_change() -> FirewallChange {
    FirewallChange {
        add_ports: vec![port(Proto::Tcp, None, (8081, 8081), "172.18.0.3", (80, 80))],
        ..FirewallChange::default()
    }
}

/// Stopping the container of [`user_network_state`].
pub fn remove_port_change() -> FirewallChange {
    FirewallChange {
        remove_ports: vec![published_8080()],
        ..FirewallChange::default()
    }
}

/// Creating a dual-stack network and removing the user network of
/// [`user_network_state`] (after its container).
pub fn network_change() -> FirewallChange {
    FirewallChange {
        add_networks: vec![network(
            "br-0b1e2d3c4f5a",
            &["172.19.0.0/16", "fd00:19::/64"],
            |n| n.icc = false,
        )],
        remove_networks: vec![network(USER_BRIDGE, &["172.18.0.0/16"], |_| {})],
        remove_ports: vec![published_8080()],
        ..FirewallChange::default()
    }
}

pub struct Scenario {
    pub name: &'static str,
    pub script: String,
}

/// Every golden script: full states, then changes (each applicable on top
/// of [`user_network_state`], which is how the privileged test loads them).
pub fn all() -> Vec<Scenario> {
    let config = FwConfig::default();
    let full = |name, state: FirewallState| Scenario {
        name,
        script: render_full(&state, &config).unwrap(),
    };
    let change = |name, change: FirewallChange| Scenario {
        name,
        script: render_change(&change, &config).unwrap(),
    };
    vec![
        full("new-daemon", new_daemon_state()),
        full("user-network-published-port", user_network_state()),
        full("icc-false", icc_off_state()),
        full("internal", internal_state()),
        full("ipv6", ipv6_state()),
        full("range-1000", range_state()),
        change("change-add-port", add_port_change()),
        change("change-remove-port", remove_port_change()),
        change("change-networks", network_change()),
    ]
}
