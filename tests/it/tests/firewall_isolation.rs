//! The firewall end to end (issue 4): isolation, of container addresses
//! and unpublished ports from outside and between networks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod fw;

use berth_testkit::sandbox::{HOST_OUTSIDE_IP, PEER_IP};

use fw::*;

#[test]
fn container_addresses_and_unpublished_ports_are_closed_to_outside() {
    let fw = Fw::new(&[]);
    fw.docker(&["network", "create", "--subnet", "10.77.0.0/24", "app"])
        .ok();
    fw.run("web", &["-p", "8080:80"], &serve(&[81, 80]));
    fw.run(
        "uweb",
        &["--network", "app", "-p", "8081:80"],
        &serve(&[81, 80]),
    );
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8081, "/", "hello 80");
    // The host reaches them directly: it owns the bridges.
    let web = fw.ip("web", "bridge");
    let uweb = fw.ip("uweb", "app");
    fw.eventually(Client::Host, &web, 81, "/", "hello 81");
    fw.eventually(Client::Host, &uweb, 81, "/", "hello 81");

    // The peer, even with routes to the container subnets, does not.
    fw.peer
        .sh(&format!(
            "ip route add 172.17.0.0/16 via {HOST_OUTSIDE_IP} && ip route add 10.77.0.0/24 via {HOST_OUTSIDE_IP}"
        ))
        .ok();
    std::thread::scope(|s| {
        for (host, port) in [
            (web.as_str(), 80),
            (web.as_str(), 81),
            (uweb.as_str(), 80),
            (uweb.as_str(), 81),
            (HOST_OUTSIDE_IP, 81),
            (HOST_OUTSIDE_IP, 80),
        ] {
            let fw = &fw;
            s.spawn(move || fw.unreachable(Client::Peer, host, port));
        }
        for ip in [web.as_str(), uweb.as_str()] {
            let fw = &fw;
            s.spawn(move || {
                // busybox's ping: the peer has no other. Status 1 is "no
                // answer"; anything else (127: no ping) would prove nothing.
                let ping = fw.peer.sh(&format!("busybox ping -c1 -W1 {ip}"));
                assert_eq!(ping.status, 1, "ping {ip} from the peer: {ping:?}");
            });
        }
    });
    // The published ports still work.
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
}

#[test]
fn isolation_matrix() {
    let fw = Fw::new(&[]);
    fw.docker(&["network", "create", "--subnet", "10.81.0.0/24", "red"])
        .ok();
    fw.sb
        .berth(&["network", "create", "--subnet", "10.82.0.0/24", "blue"])
        .ok();
    fw.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.83.0.0/24",
        "vault",
    ])
    .ok();
    fw.docker(&[
        "network",
        "create",
        "--subnet",
        "10.84.0.0/24",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "quiet",
    ])
    .ok();
    // Two containers on each network; quiet1 publishes a port.
    let nets = [
        ("bridge", "def"),
        ("red", "red"),
        ("blue", "blue"),
        ("vault", "vault"),
        ("quiet", "quiet"),
    ];
    for (net, prefix) in nets {
        for n in 1..=2 {
            let name = format!("{prefix}{n}");
            if name == "quiet1" {
                fw.run(&name, &["--network", net, "-p", "8080:80"], &serve(&[80]));
            } else {
                fw.run(&name, &["--network", net], &serve(&[80]));
            }
        }
    }
    let ip = |name: &str| {
        let net = nets
            .iter()
            .find(|(_, p)| name.starts_with(p))
            .map(|(n, _)| *n)
            .unwrap();
        fw.ip(name, net)
    };

    // (from, to, allowed)
    let mut pairs: Vec<(String, String, bool)> = Vec::new();
    for (_, p) in nets {
        let same_allowed = p != "quiet";
        pairs.push((format!("{p}1"), format!("{p}2"), same_allowed));
        pairs.push((format!("{p}2"), format!("{p}1"), same_allowed));
    }
    for (_, a) in nets {
        for (_, b) in nets {
            if a != b {
                pairs.push((format!("{a}1"), format!("{b}1"), false));
            }
        }
    }
    let ips: std::collections::HashMap<String, String> = nets
        .iter()
        .flat_map(|(_, p)| [format!("{p}1"), format!("{p}2")])
        .map(|n| (n.clone(), ip(&n)))
        .collect();
    let results: Vec<(String, String, bool, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|(from, to, allowed)| {
                let (fw, ips) = (&fw, &ips);
                s.spawn(move || {
                    let target = &ips[to];
                    // An allowed pair gets a few tries (ARP, a slow start);
                    // a blocked one must never get through.
                    let tries = if *allowed { 3 } else { 1 };
                    let ok = (0..tries).any(|_| pings(fw, from, target));
                    (from.clone(), to.clone(), *allowed, ok)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wrong: Vec<String> = results
        .iter()
        .filter(|(_, _, allowed, ok)| allowed != ok)
        .map(|(from, to, allowed, _)| {
            format!(
                "{from} -> {to} ({}) should be {}",
                ips[to],
                if *allowed { "allowed" } else { "blocked" }
            )
        })
        .collect();
    assert!(wrong.is_empty(), "isolation matrix: {wrong:#?}");

    // TCP too, across networks and within icc=false.
    fw.eventually(Client::Ctr("red2"), &ips["red1"], 80, "/", "hello 80");
    fw.unreachable(Client::Ctr("red1"), &ips["blue1"], 80);
    fw.unreachable(Client::Ctr("quiet2"), &ips["quiet1"], 80);
    // icc=false still serves its published port to the host and the peer.
    fw.eventually(Client::Host, "127.0.0.1", 8080, "/", "hello 80");
    fw.eventually(Client::Peer, HOST_OUTSIDE_IP, 8080, "/", "hello 80");
    // Internal: nothing leaves, not even to the host's other side.
    let ping = fw.docker(&["exec", "vault1", "ping", "-c1", "-W1", PEER_IP]);
    assert_ne!(ping.status, 0, "{ping:?}");
}
