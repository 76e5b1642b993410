//! Root tests: berth's tables in a real kernel, checked with real packets.
//! Each test builds its own sandbox host (see `lab/`): a fresh network
//! namespace with bridges, containers and an outside peer, where every `nft`
//! command runs. Nothing here can see or change the machine's own namespace
//! or ruleset.
//!
//! Run: `cargo test -p berth-nft --features privileged` (as root); add
//! `--release -- --nocapture update_cost` for the update-cost figures.
//! Without the feature these tests are ignored; with it and not root, they
//! fail.

// Test code: a failed step must panic.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod lab;
mod scenarios;

use std::time::{Duration, Instant};

use berth_core::container::Proto;
use berth_core::ports::{Firewall, FirewallChange, FirewallState, FwNetwork, FwPort};
use berth_nft::{FwConfig, NftFirewall};
use berth_types::IfName;
use lab::{fetch, in_sandbox, ok, Lab, Ns, HOST_OUTSIDE_IP, OUTSIDE_IP};

fn firewall() -> NftFirewall {
    NftFirewall::new(FwConfig::default())
}

fn net(bridge: &str, subnets: &[&str]) -> FwNetwork {
    scenarios::network(bridge, subnets, |_| {})
}

fn tcp(
    host_ip: Option<&str>,
    host_port: u16,
    container_ip: &str,
    container_port: u16,
    bridge: &str,
) -> FwPort {
    FwPort {
        proto: Proto::Tcp,
        host_ip: host_ip.map(|ip| ip.parse().unwrap()),
        host_ports: (host_port, host_port),
        container_ip: container_ip.parse().unwrap(),
        container_ports: (container_port, container_port),
        bridge: IfName::parse(bridge).unwrap(),
    }
}

/// The usual sandbox: bridge `br0` (172.30.0.0/16, fd00:30::/64) with
/// container `c1` (172.30.0.2, fd00:30::2) serving HTTP on port 80, and the
/// outside peer serving HTTP on port 80 too.
struct Basic {
    lab: Lab,
    c1: Ns,
    outside: Ns,
}

fn basic() -> Basic {
    let mut lab = Lab::new();
    lab.bridge("br0", &["172.30.0.1/16", "fd00:30::1/64"]);
    let c1 = lab.container(
        "br0",
        &["172.30.0.2/16", "fd00:30::2/64"],
        &["172.30.0.1", "fd00:30::1"],
    );
    let outside = lab.outside();
    lab.serve(c1, 80);
    lab.serve(outside, 80);
    Basic { lab, c1, outside }
}

fn br0() -> FwNetwork {
    net("br0", &["172.30.0.0/16", "fd00:30::/64"])
}

/// `br0` with `-p 8080:80` for c1.
fn basic_state() -> FirewallState {
    FirewallState {
        networks: vec![br0()],
        ports: vec![tcp(None, 8080, "172.30.0.2", 80, "br0")],
    }
}

fn url(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("http://[{host}]:{port}/cgi-bin/ip")
    } else {
        format!("http://{host}:{port}/cgi-bin/ip")
    }
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn every_golden_scenario_loads_and_reloads_leaving_other_tables_alone() {
    in_sandbox(|| async {
        let fw = firewall();
        let other = "table ip other {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tcounter accept\n\t}\n}\n";
        ok(&["nft", other]);
        let before = ok(&["nft", "list", "table", "ip", "other"]);
        assert_eq!(fw.drift().await.unwrap(), None, "nothing written yet");

        for state in [
            scenarios::new_daemon_state(),
            scenarios::internal_state(),
            scenarios::icc_off_state(),
            scenarios::ipv6_state(),
            scenarios::range_state(),
            scenarios::user_network_state(),
        ] {
            // Twice: the script must work with and without the tables there.
            fw.apply(&state).await.unwrap();
            fw.apply(&state).await.unwrap();
            assert_eq!(fw.drift().await.unwrap(), None);
        }
        for change in [
            scenarios::add_port_change(),
            scenarios::remove_port_change(),
        ] {
            fw.apply(&scenarios::user_network_state()).await.unwrap();
            fw.update(&change).await.unwrap();
        }
        fw.apply(&scenarios::user_network_state()).await.unwrap();
        fw.update(&scenarios::network_change()).await.unwrap();
        let v6 = ok(&["nft", "list", "set", "ip6", "berth", "no-icc"]);
        assert!(v6.contains("\"br-0b1e2d3c4f5a\""), "{v6}");

        assert_eq!(ok(&["nft", "list", "table", "ip", "other"]), before);
        let tables = ok(&["nft", "list", "tables"]);
        assert_eq!(tables, "table ip other\ntable ip berth\ntable ip6 berth\n");
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn a_failed_change_changes_nothing_and_says_why() {
    in_sandbox(|| async {
        let fw = firewall();
        fw.apply(&basic_state()).await.unwrap();
        let before = ok(&["nft", "list", "ruleset"]);
        // A valid addition together with the removal of a port that is not
        // there: one transaction, so neither happens.
        let change = FirewallChange {
            add_ports: vec![tcp(None, 9090, "172.30.0.3", 80, "br0")],
            remove_ports: vec![tcp(None, 7070, "172.30.0.9", 80, "br0")],
            ..FirewallChange::default()
        };
        let e = fw.update(&change).await.unwrap_err().to_string();
        assert!(
            e.contains("nft refused the change of berth's set elements"),
            "{e}"
        );
        assert!(e.contains("No such file or directory"), "{e}");
        assert!(
            e.contains("tcp . 7070"),
            "nft's message points at the element: {e}"
        );
        assert_eq!(ok(&["nft", "list", "ruleset"]), before);
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn published_port_reaches_the_container_which_sees_the_client() {
    in_sandbox(|| async {
        let b = basic();
        let fw = firewall();
        let from_outside = url(HOST_OUTSIDE_IP, 8080);
        assert_eq!(fetch(Some(b.outside), &from_outside), None, "no DNAT yet");
        fw.apply(&basic_state()).await.unwrap();
        assert_eq!(
            fetch(Some(b.outside), &from_outside).as_deref(),
            Some(OUTSIDE_IP)
        );

        // Stopping the container removes the mapping at once.
        fw.update(&FirewallChange {
            remove_ports: basic_state().ports,
            ..FirewallChange::default()
        })
        .await
        .unwrap();
        assert_eq!(fetch(Some(b.outside), &from_outside), None);
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn the_host_reaches_published_ports_at_127_0_0_1_and_its_own_address() {
    in_sandbox(|| async {
        let b = basic();
        let fw = firewall();
        let mut state = basic_state();
        // `-p 127.0.0.1:8081:80`: the host only.
        state
            .ports
            .push(tcp(Some("127.0.0.1"), 8081, "172.30.0.2", 80, "br0"));
        fw.apply(&state).await.unwrap();

        // From 127.0.0.1 the container sees the bridge's address
        // (masqueraded: 127.0.0.1 cannot leave the host).
        assert_eq!(
            fetch(None, &url("127.0.0.1", 8080)).as_deref(),
            Some("172.30.0.1")
        );
        assert_eq!(
            fetch(None, &url("127.0.0.1", 8081)).as_deref(),
            Some("172.30.0.1")
        );
        assert_eq!(
            fetch(None, &url(HOST_OUTSIDE_IP, 8080)).as_deref(),
            Some(HOST_OUTSIDE_IP)
        );
        // Bound to 127.0.0.1 only: not on the host's other addresses, so
        // not from the outside peer.
        assert_eq!(fetch(None, &url(HOST_OUTSIDE_IP, 8081)), None);
        assert_eq!(fetch(Some(b.outside), &url(HOST_OUTSIDE_IP, 8081)), None);
        assert_eq!(
            fetch(Some(b.outside), &url(HOST_OUTSIDE_IP, 8080)).as_deref(),
            Some(OUTSIDE_IP)
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn containers_reach_the_outside_masqueraded_and_internal_ones_do_not() {
    in_sandbox(|| async {
        let b = basic();
        let fw = firewall();
        fw.apply(&basic_state()).await.unwrap();
        let outside = url(OUTSIDE_IP, 80);
        assert_eq!(
            fetch(Some(b.c1), &outside).as_deref(),
            Some(HOST_OUTSIDE_IP)
        );
        assert_eq!(
            fetch(Some(b.c1), &url("fd00:200::2", 80)).as_deref(),
            Some("fd00:200::1")
        );

        // The same network made internal: nothing leaves, nothing enters,
        // its containers still talk to each other.
        let mut lab = b.lab;
        let c2 = lab.container("br0", &["172.30.0.3/16"], &["172.30.0.1"]);
        let internal = scenarios::network("br0", &["172.30.0.0/16", "fd00:30::/64"], |n| {
            n.internal = true;
            n.masquerade = false;
        });
        fw.apply(&FirewallState {
            networks: vec![internal],
            ports: vec![],
        })
        .await
        .unwrap();
        assert_eq!(fetch(Some(b.c1), &outside), None);
        assert_eq!(fetch(Some(b.c1), &url("fd00:200::2", 80)), None);
        assert_eq!(fetch(Some(b.outside), &url("172.30.0.2", 80)), None);
        assert_eq!(
            fetch(Some(c2), &url("172.30.0.2", 80)).as_deref(),
            Some("172.30.0.3")
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn a_container_reaches_published_ports_through_the_host_address() {
    in_sandbox(|| async {
        let mut b = basic();
        let c2 = b.lab.container("br0", &["172.30.0.3/16"], &["172.30.0.1"]);
        let fw = firewall();
        fw.apply(&basic_state()).await.unwrap();
        // Its own published port (hairpin) and a neighbour's: masqueraded,
        // so the replies come back through the host.
        let published = url(HOST_OUTSIDE_IP, 8080);
        assert_eq!(fetch(Some(b.c1), &published).as_deref(), Some("172.30.0.1"));
        assert_eq!(fetch(Some(c2), &published).as_deref(), Some("172.30.0.1"));
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn two_bridges_are_isolated_but_reach_each_others_published_ports() {
    in_sandbox(|| async {
        let mut b = basic();
        b.lab.bridge("br1", &["172.31.0.1/16"]);
        let c2 = b.lab.container("br1", &["172.31.0.2/16"], &["172.31.0.1"]);
        b.lab.serve(c2, 80);
        let fw = firewall();
        let mut state = basic_state();
        state.networks.push(net("br1", &["172.31.0.0/16"]));
        fw.apply(&state).await.unwrap();

        assert_eq!(fetch(Some(b.c1), &url("172.31.0.2", 80)), None);
        assert_eq!(fetch(Some(c2), &url("172.30.0.2", 80)), None);
        assert_eq!(
            fetch(Some(c2), &url(HOST_OUTSIDE_IP, 8080)).as_deref(),
            Some("172.30.0.1"),
            "published ports are for everyone (masqueraded on the way out of br1)"
        );
        let counters = ok(&["nft", "list", "chain", "ip", "berth", "filter-prerouting"]);
        assert!(
            counters
                .lines()
                .any(|l| l.contains("DROP DIRECT ACCESS") && !l.contains("packets 0 ")),
            "{counters}"
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn direct_access_and_unpublished_ports_are_dropped() {
    in_sandbox(|| async {
        let mut b = basic();
        b.lab.serve(b.c1, 81);
        let fw = firewall();
        // Without berth's tables the outside peer (routing through the
        // host) reaches the container directly: the test can see a drop.
        assert_eq!(
            fetch(Some(b.outside), &url("172.30.0.2", 81)).as_deref(),
            Some(OUTSIDE_IP)
        );
        fw.apply(&basic_state()).await.unwrap();
        assert_eq!(fetch(Some(b.outside), &url("172.30.0.2", 81)), None);
        assert_eq!(
            fetch(Some(b.outside), &url("172.30.0.2", 80)),
            None,
            "published, but only via the host"
        );
        assert_eq!(fetch(Some(b.outside), &url("fd00:30::2", 81)), None);
        assert_eq!(fetch(Some(b.outside), &url(HOST_OUTSIDE_IP, 8081)), None);
        // The host itself still reaches its containers directly.
        assert_eq!(
            fetch(None, &url("172.30.0.2", 81)).as_deref(),
            Some("172.30.0.1")
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn icc_false_blocks_neighbours_but_not_published_ports() {
    in_sandbox(|| async {
        let mut b = basic();
        let c2 = b.lab.container("br0", &["172.30.0.3/16"], &["172.30.0.1"]);
        let fw = firewall();
        let mut state = basic_state();
        fw.apply(&state).await.unwrap();
        assert_eq!(
            fetch(Some(c2), &url("172.30.0.2", 80)).as_deref(),
            Some("172.30.0.3"),
            "icc on: neighbours talk"
        );

        state.networks[0].icc = false;
        fw.apply(&state).await.unwrap();
        assert_eq!(fetch(Some(c2), &url("172.30.0.2", 80)), None);
        assert_eq!(
            fetch(Some(c2), &url(HOST_OUTSIDE_IP, 8080)).as_deref(),
            Some("172.30.0.1")
        );
        assert_eq!(
            fetch(Some(b.outside), &url(HOST_OUTSIDE_IP, 8080)).as_deref(),
            Some(OUTSIDE_IP)
        );
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn ranges_udp_and_ipv6_mappings_work() {
    in_sandbox(|| async {
        let mut b = basic();
        b.lab.serve(b.c1, 9005);
        let fw = firewall();
        let mut state = basic_state();
        // `-p 9000-9010:9000-9010`: one element.
        let mut range = tcp(None, 9000, "172.30.0.2", 9000, "br0");
        range.host_ports = (9000, 9010);
        range.container_ports = (9000, 9010);
        state.ports.push(range);
        // `-p 5353:53/udp`.
        let mut udp = tcp(None, 5353, "172.30.0.2", 53, "br0");
        udp.proto = Proto::Udp;
        state.ports.push(udp);
        // `-p 8080:80` on IPv6 as well.
        state.ports.push(tcp(None, 8080, "fd00:30::2", 80, "br0"));
        fw.apply(&state).await.unwrap();

        assert_eq!(
            fetch(Some(b.outside), &url(HOST_OUTSIDE_IP, 9005)).as_deref(),
            Some(OUTSIDE_IP)
        );
        assert_eq!(
            fetch(Some(b.outside), &url("fd00:200::1", 8080)).as_deref(),
            Some("fd00:200::2")
        );

        // UDP: the container answers with the address it saw.
        let server = b.c1.udp_socket("0.0.0.0:53");
        let echo = std::thread::spawn(move || {
            server
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 64];
            let (_, peer) = server.recv_from(&mut buf).unwrap();
            server
                .send_to(peer.ip().to_string().as_bytes(), peer)
                .unwrap();
        });
        let client = b.outside.udp_socket("0.0.0.0:0");
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
            .send_to(b"who am i", format!("{HOST_OUTSIDE_IP}:5353"))
            .unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        echo.join().unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), OUTSIDE_IP);
        assert_eq!(from.to_string(), format!("{HOST_OUTSIDE_IP}:5353"));
    });
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn changes_from_outside_are_noticed_and_others_tables_are_not_drift() {
    in_sandbox(|| async {
        let fw = firewall();
        let drift = || async { fw.drift().await.unwrap() };
        assert_eq!(drift().await, None, "nothing written yet");
        fw.apply(&basic_state()).await.unwrap();
        // The second check after a write reads berth's tables back; later
        // ones compare with that.
        assert_eq!(drift().await, None);
        assert_eq!(drift().await, None);
        ok(&["nft", "add table ip other"]);
        assert_eq!(drift().await, None, "another table is not berth's drift");

        ok(&["nft", "flush table ip berth"]);
        let flushed = drift().await.expect("a flushed table is drift");
        assert!(flushed.contains("lines gone"), "{flushed}");
        fw.apply(&basic_state()).await.unwrap();
        assert_eq!(drift().await, None);
        assert_eq!(drift().await, None);

        ok(&["nft", "delete element ip berth dnat-any { tcp . 8080 }"]);
        let deleted = drift().await.expect("a deleted element is drift");
        assert!(deleted.contains("8080"), "{deleted}");
        fw.apply(&basic_state()).await.unwrap();
        assert_eq!(drift().await, None);

        ok(&["nft", "flush ruleset"]);
        let gone = drift().await.expect("deleted tables are drift");
        assert!(gone.contains("cannot be listed"), "{gone}");
        fw.apply(&basic_state()).await.unwrap();
        assert_eq!(drift().await, None);
        ok(&["nft", "delete table ip6 berth"]);
        assert!(drift().await.is_some(), "half the tables is drift");

        // berth's own element changes are not drift.
        fw.apply(&basic_state()).await.unwrap();
        assert_eq!(drift().await, None);
        fw.update(&scenarios::add_port_change()).await.unwrap();
        assert_eq!(drift().await, None);
        assert_eq!(drift().await, None);
    });
}

/// `count` mappings of distinct host ports to c1's port 80.
fn many_ports(count: u16) -> Vec<FwPort> {
    (0..count)
        .map(|i| tcp(None, 10_000 + i, "172.30.0.2", 80, "br0"))
        .collect()
}

/// Median time of `update` adding one port then removing it again.
async fn time_one_port(fw: &NftFirewall, rounds: usize) -> (Duration, Duration) {
    let port = tcp(Some("10.200.0.1"), 7000, "172.30.0.2", 80, "br0");
    let add = FirewallChange {
        add_ports: vec![port.clone()],
        ..FirewallChange::default()
    };
    let remove = FirewallChange {
        remove_ports: vec![port],
        ..FirewallChange::default()
    };
    let (mut adds, mut removes) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        fw.update(&add).await.unwrap();
        adds.push(t.elapsed());
        let t = Instant::now();
        fw.update(&remove).await.unwrap();
        removes.push(t.elapsed());
    }
    adds.sort();
    removes.sort();
    (adds[rounds / 2], removes[rounds / 2])
}

#[test]
#[cfg_attr(
    not(feature = "privileged"),
    ignore = "needs root: cargo test -p berth-nft --features privileged"
)]
fn update_cost_does_not_grow_with_published_ports() {
    in_sandbox(|| async {
        let b = basic();
        let fw = firewall();
        let mut report =
            String::from("\nupdate cost (median of 25, one port, `nft -f -` process included):\n");
        for count in [10u16, 10_000] {
            let state = FirewallState {
                networks: vec![br0()],
                ports: many_ports(count),
            };
            let t = Instant::now();
            fw.apply(&state).await.unwrap();
            let full = t.elapsed();
            let (add, remove) = time_one_port(&fw, 25).await;
            report += &format!(
                "  {count:>6} ports present: add {:>6.2} ms, remove {:>6.2} ms (full apply {:>7.1} ms)\n",
                add.as_secs_f64() * 1e3,
                remove.as_secs_f64() * 1e3,
                full.as_secs_f64() * 1e3
            );
        }
        // The last of the 10,000 still works: the maps are live.
        assert_eq!(
            fetch(Some(b.outside), &url(HOST_OUTSIDE_IP, 10_000 + 9_999)).as_deref(),
            Some(OUTSIDE_IP)
        );
        // Reported, not asserted (timings belong to benchmarks, not tests).
        println!("{report}");
    });
}
