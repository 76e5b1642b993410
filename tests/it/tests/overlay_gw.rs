//! `berth_gwbridge` on three sandbox hosts, driven by the real docker CLI:
//! an overlay container reaches the outside through its host (masquerade),
//! its `-p` ports answer on the host's address, overlay networks stay
//! isolated through the gwbridge (inter-container communication off), an
//! `--internal` overlay container has no way out, the default route moves
//! to a bridge network connected and back, and a berthd killed with -9
//! leaves no gwbridge endpoint leaked or doubled.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::{Duration, Instant};

use berth_testkit::cluster::Cluster;
use berth_testkit::sandbox::{Peer, Sandbox};

/// The outside peer's address (`Sandbox::add_outside_peer`).
const PEER_IP: &str = "10.200.0.2";
/// Host A's address on the link to its outside peer.
const HOST_OUTSIDE_IP: &str = "10.200.0.1";

fn has_network(host: &Sandbox, name: &str) -> bool {
    host.docker(&["network", "ls", "--format", "{{.Name}}"])
        .ok()
        .lines()
        .any(|n| n == name)
}

/// The container's address on its interface `ifname`, from inside.
fn address_on(host: &Sandbox, container: &str, ifname: &str) -> Option<String> {
    let run = host.docker(&["exec", container, "ip", "-4", "-o", "addr", "show", ifname]);
    if run.status != 0 {
        return None;
    }
    run.stdout
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .map(str::to_owned)
}

fn pings(host: &Sandbox, container: &str, ip: &str) -> bool {
    host.docker(&["exec", container, "ping", "-c1", "-W1", ip])
        .status
        == 0
}

/// Retries `ready` up to 20 s (a fresh veth drops packets for a moment).
fn eventually(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Veths on host's gwbridge.
fn gwbridge_ports(host: &Sandbox) -> usize {
    host.sh("ip -o link show master berth_gwbridge")
        .ok()
        .lines()
        .count()
}

/// A cluster with the outside peer on host A, which has no route back to
/// the gwbridge's subnet: only masqueraded packets get answers.
fn cluster() -> (Cluster, Peer) {
    let mut cluster = Cluster::new(3);
    cluster.start_daemons(&[]);
    let peer = cluster.host_mut(0).add_outside_peer();
    peer.sh("ip route del default").ok();
    cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "ov"])
        .ok();
    cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "ov2"])
        .ok();
    cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "--internal", "ovi"])
        .ok();
    cluster.wait_all("the overlay networks everywhere", |h| {
        ["ov", "ov2", "ovi"].iter().all(|n| has_network(h, n))
    });
    (cluster, peer)
}

#[test]
fn overlay_containers_go_out_and_publish_through_the_gwbridge() {
    let (cluster, peer) = cluster();
    let a = cluster.host(0);
    a.run_busybox("out", "ov", &[], &["sleep", "1d"]).ok();
    // Made on first need, listed as Docker lists docker_gwbridge, hidden
    // from the container's networks.
    let gw = a.inspect("berth_gwbridge");
    assert_eq!(gw["Driver"], "bridge");
    assert_eq!(
        gw["Options"]["com.docker.network.bridge.enable_icc"],
        "false"
    );
    let networks = a
        .docker(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            "out",
        ])
        .ok();
    assert_eq!(networks.trim(), "ov");
    // eth0 is the overlay's, eth1 the gwbridge's with the default route.
    let eth1 = address_on(a, "out", "eth1").expect("eth1 on the gwbridge");
    assert!(eth1.starts_with("172."), "{eth1}");
    let route = a
        .docker(&["exec", "out", "ip", "route", "show", "default"])
        .ok();
    assert!(route.contains("dev eth1"), "{route}");
    eventually("egress to the outside peer", || pings(a, "out", PEER_IP));
    assert_eq!(gwbridge_ports(a), 1);

    // `-p` answers on host A's address, from the outside peer.
    a.run_busybox(
        "web",
        "ov",
        &["-p", "8080:80"],
        &["sh", "-c", "while true; do echo hello | nc -l -p 80; done"],
    )
    .ok();
    eventually("the published port from the outside peer", || {
        peer.sh(&format!(
            "busybox nc -w 2 {HOST_OUTSIDE_IP} 8080 </dev/null"
        ))
        .stdout
        .contains("hello")
    });

    // An internal overlay container has no gwbridge and no way out, and
    // cannot publish ports.
    a.run_busybox("inner", "ovi", &[], &["sleep", "1d"]).ok();
    assert_eq!(address_on(a, "inner", "eth1"), None);
    assert!(!pings(a, "inner", PEER_IP));
    let err = a
        .docker(&[
            "run",
            "-d",
            "--network",
            "ovi",
            "-p",
            "81:80",
            "busybox",
            "sleep",
            "1d",
        ])
        .err();
    assert!(
        err.contains("ports cannot be published on an internal overlay network"),
        "{err}"
    );

    // Two overlay networks on one host stay apart, through the gwbridge
    // too (icc off there).
    a.run_busybox("apart", "ov2", &[], &["sleep", "1d"]).ok();
    let apart_ov2 = address_on(a, "apart", "eth0").unwrap();
    let apart_gw = address_on(a, "apart", "eth1").unwrap();
    eventually("apart's egress", || pings(a, "apart", PEER_IP));
    assert!(!pings(a, "out", &apart_ov2), "ov reached ov2");
    assert!(
        !pings(a, "out", &apart_gw),
        "gwbridge let two containers meet"
    );
    assert_eq!(gwbridge_ports(a), 3);

    // A bridge network connected gives a way out: the gwbridge endpoint
    // goes and the default route moves; disconnected, it comes back.
    a.docker(&["network", "create", "br"]).ok();
    a.docker(&["network", "connect", "br", "out"]).ok();
    assert_eq!(gwbridge_ports(a), 2);
    let br_gateway = a.inspect("br")["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_owned();
    let route = a
        .docker(&["exec", "out", "ip", "route", "show", "default"])
        .ok();
    assert!(route.contains(&format!("via {br_gateway}")), "{route}");
    eventually("egress through br", || pings(a, "out", PEER_IP));
    a.docker(&["network", "disconnect", "br", "out"]).ok();
    assert_eq!(gwbridge_ports(a), 3);
    eventually("egress through the gwbridge again", || {
        pings(a, "out", PEER_IP)
    });

    // Published ports follow the way out: through br, then back.
    let answers = || {
        peer.sh(&format!(
            "busybox nc -w 2 {HOST_OUTSIDE_IP} 8080 </dev/null"
        ))
        .stdout
        .contains("hello")
    };
    a.docker(&["network", "connect", "br", "web"]).ok();
    eventually("the published port through br", answers);
    a.docker(&["network", "disconnect", "br", "web"]).ok();
    eventually("the published port through the gwbridge again", answers);
}

#[test]
fn a_killed_berthd_leaves_no_gwbridge_endpoint_behind() {
    let (mut cluster, _peer) = cluster();
    let a = cluster.host(0);
    for i in 0..3 {
        a.run_busybox(&format!("c{i}"), "ov", &[], &["sleep", "1d"])
            .ok();
    }
    assert_eq!(gwbridge_ports(a), 3);
    cluster.host_mut(0).kill_daemon();
    cluster.host_mut(0).restart_daemon();
    let a = cluster.host(0);
    // After the restart, a stop and a run move the count by one each.
    a.docker(&["stop", "-t", "0", "c2"]).ok();
    a.run_busybox("c3", "ov", &[], &["sleep", "1d"]).ok();
    assert_eq!(gwbridge_ports(a), 3);
    let mut ips: Vec<String> = ["c0", "c1", "c3"]
        .iter()
        .map(|c| address_on(a, c, "eth1").expect("eth1"))
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "{ips:?}");
    eventually("egress after the restart", || pings(a, "c0", PEER_IP));
}
