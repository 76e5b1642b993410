//! The firewall end to end (issue 4): outbound NAT (masquerade, its
//! exceptions) and IPv6 networks' masquerade, ports and isolation, checked
//! with real packets between real containers, the sandbox host and an
//! outside peer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod fw;

use berth_testkit::sandbox::{HOST_OUTSIDE_IP, HOST_OUTSIDE_IP6, PEER_IP, PEER_IP6};

use fw::*;

#[test]
fn outbound_traffic_is_masqueraded_except_internal_and_masquerade_off() {
    let mut fw = Fw::new(&[]);
    fw.peer_web();
    fw.docker(&["network", "create", "app"]).ok();
    fw.sb
        .berth(&["network", "create", "--internal", "inside"])
        .ok();
    fw.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "plain",
    ])
    .ok();
    fw.run("on-app", &["--network", "app"], "sleep 1d");
    fw.run("on-default", &[], "sleep 1d");
    fw.run("on-inside", &["--network", "inside"], "sleep 1d");
    fw.run("on-plain", &["--network", "plain"], "sleep 1d");

    // The peer sees the host's address, from a user network and from the
    // default bridge.
    for ctr in ["on-app", "on-default"] {
        let body = fw.eventually(
            Client::Ctr(ctr),
            PEER_IP,
            80,
            "/cgi-bin/ip",
            HOST_OUTSIDE_IP,
        );
        assert_eq!(client_addr(&body), HOST_OUTSIDE_IP, "{body}");
        fw.eventually(Client::Ctr(ctr), PEER_IP, 80, "/", "peer page");
    }
    // Without masquerade the packets leave with the container's own
    // address (the peer routes the answer back through the host).
    let plain_ip = fw.ip("on-plain", "plain");
    let body = fw.eventually(
        Client::Ctr("on-plain"),
        PEER_IP,
        80,
        "/cgi-bin/ip",
        &plain_ip,
    );
    assert!(!body.contains(HOST_OUTSIDE_IP), "{body}");
    // Nothing leaves an internal network.
    fw.unreachable(Client::Ctr("on-inside"), PEER_IP, 80);
    let ping = fw.docker(&["exec", "on-inside", "ping", "-c1", "-W1", PEER_IP]);
    assert_ne!(ping.status, 0, "{ping:?}");
}

#[test]
fn daemon_ip_masq_false_leaves_container_addresses() {
    let mut fw = Fw::new(&["--ip-masq=false"]);
    fw.peer_web();
    fw.run("on-default", &[], "sleep 1d");
    let ip = fw.ip("on-default", "bridge");
    fw.eventually(Client::Ctr("on-default"), PEER_IP, 80, "/cgi-bin/ip", &ip);
}

#[test]
fn ipv6_networks_masquerade_publish_and_isolate() {
    let mut fw = Fw::new(&[]);
    fw.peer_web();
    fw.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:dead::/64",
        "six",
    ])
    .ok();
    fw.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:beef::/64",
        "other",
    ])
    .ok();
    fw.run("web", &["--network", "six", "-p", "8080:80"], &serve(&[80]));
    fw.run("far", &["--network", "other"], &serve(&[80]));
    let web6 = fw.ip6("web", "six");
    assert!(web6.starts_with("fd00:dead::"), "{web6}");

    // Out to the peer over IPv6, masqueraded to the host's address.
    let body = fw.eventually(
        Client::Ctr("web"),
        PEER_IP6,
        80,
        "/cgi-bin/ip",
        HOST_OUTSIDE_IP6,
    );
    assert_eq!(client_addr(&body), HOST_OUTSIDE_IP6, "{body}");
    // The published port on [::]: the peer reaches it at the host's IPv6
    // address, and the container sees the peer's address.
    let seen = fw.eventually(
        Client::Peer,
        HOST_OUTSIDE_IP6,
        8080,
        "/cgi-bin/ip",
        PEER_IP6,
    );
    assert_eq!(client_addr(&seen), PEER_IP6, "{seen}");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    assert_eq!(
        fw.docker_port("web"),
        vec!["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080"]
    );
    assert_eq!(
        fw.ps_ports("web"),
        "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
    );
    // Direct access from the peer with a route: dropped.
    fw.peer
        .sh(&format!(
            "ip -6 route add fd00:dead::/64 via {HOST_OUTSIDE_IP6}"
        ))
        .ok();
    fw.unreachable(Client::Peer, &web6, 80);
    // Two IPv6 networks are isolated.
    let far6 = fw.ip6("far", "other");
    fw.unreachable(Client::Ctr("web"), &far6, 80);
    fw.unreachable(Client::Ctr("far"), &web6, 80);
}
