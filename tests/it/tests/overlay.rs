//! Overlay networks across three sandbox hosts on one etcd cluster, driven
//! by the real docker CLI: a network made on one host is every host's,
//! with one id, VNI and subnet; names, VNIs, subnets and addresses are
//! never given twice, even to hosts racing; removal on any host removes it
//! everywhere; containers on different hosts reach each other with real
//! VXLAN packets over the underlay.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;

use berth_testkit::cluster::Cluster;
use berth_testkit::sandbox::Sandbox;

fn has_network(host: &Sandbox, name: &str) -> bool {
    host.docker(&["network", "ls", "--format", "{{.Name}}"])
        .ok()
        .lines()
        .any(|n| n == name)
}

/// `docker run -d --name NAME --network NETWORK EXTRA... busybox sleep 1d`
/// on `host`.
fn run_on(
    host: &Sandbox,
    name: &str,
    network: &str,
    extra: &[&str],
) -> berth_testkit::sandbox::Run {
    host.run_busybox(name, network, extra, &["sleep", "1d"])
}

fn cluster() -> Cluster {
    let mut cluster = Cluster::new(3);
    cluster.start_daemons(&[]);
    cluster
}

#[test]
fn an_overlay_network_is_every_hosts() {
    let cluster = cluster();
    let id = cluster
        .host(0)
        .docker(&[
            "network", "create", "-d", "overlay", "--label", "tier=web", "ov",
        ])
        .ok();
    let id = id.trim();
    cluster.wait_all("ov on every host", |h| has_network(h, "ov"));
    for host in cluster.hosts() {
        let n = host.inspect("ov");
        assert_eq!(n["Id"], id);
        assert_eq!(n["Driver"], "overlay");
        assert_eq!(n["Scope"], "global");
        assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "10.0.0.0/24", "{n}");
        assert_eq!(
            n["Options"]["com.docker.network.driver.overlay.vxlanid_list"],
            "4096"
        );
        assert_eq!(n["Labels"]["tier"], "web");
        let global = host
            .docker(&[
                "network",
                "ls",
                "--filter",
                "scope=global",
                "--format",
                "{{.Name}}",
            ])
            .ok();
        assert_eq!(global.trim(), "ov");
    }

    // The name is the cluster's: another host cannot take it.
    let err = cluster
        .host(2)
        .docker(&["network", "create", "-d", "overlay", "ov"])
        .err();
    assert!(err.contains("network with name ov already exists"), "{err}");
    // A second network gets the next VNI and subnet.
    cluster
        .host(1)
        .docker(&["network", "create", "-d", "overlay", "ov2"])
        .ok();
    let ov2 = cluster.host(1).inspect("ov2");
    assert_eq!(ov2["IPAM"]["Config"][0]["Subnet"], "10.0.1.0/24", "{ov2}");
    assert_eq!(
        ov2["Options"]["com.docker.network.driver.overlay.vxlanid_list"],
        "4097"
    );

    // Options berth does not build are refused by name.
    let err = cluster
        .host(0)
        .docker(&[
            "network",
            "create",
            "-d",
            "overlay",
            "-o",
            "encrypted",
            "ov3",
        ])
        .err();
    assert!(
        err.contains("overlay network option encrypted is not supported"),
        "{err}"
    );

    // A container on any host keeps the network.
    run_on(cluster.host(1), "web", "ov", &[]).ok();
    let err = cluster.host(0).docker(&["network", "rm", "ov"]).err();
    assert!(err.contains("has active endpoints"), "{err}");
    cluster.host(1).docker(&["rm", "-f", "web"]).ok();

    // Removed on one host, gone from all, and its name free again.
    cluster.host(2).docker(&["network", "rm", "ov"]).ok();
    cluster.wait_all("ov gone everywhere", |h| !has_network(h, "ov"));
    cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "ov"])
        .ok();
    cluster.wait_all("ov back on every host", |h| has_network(h, "ov"));
}

/// Three hosts creating overlay networks at once, with the pool's subnets:
/// every network gets a VNI and a subnet of its own.
#[test]
fn racing_hosts_never_share_a_vni_or_subnet() {
    let cluster = cluster();
    std::thread::scope(|s| {
        for (h, host) in cluster.hosts().iter().enumerate() {
            for i in 0..3 {
                s.spawn(move || {
                    host.docker(&["network", "create", "-d", "overlay", &format!("r{h}x{i}")])
                        .ok();
                });
            }
        }
    });
    let names: Vec<String> = (0..3)
        .flat_map(|h| (0..3).map(move |i| format!("r{h}x{i}")))
        .collect();
    cluster.wait_all("all nine networks everywhere", |host| {
        names.iter().all(|n| has_network(host, n))
    });
    let mut vnis = BTreeSet::new();
    let mut subnets = BTreeSet::new();
    for name in &names {
        let n = cluster.host(0).inspect(name);
        vnis.insert(
            n["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        subnets.insert(
            n["IPAM"]["Config"][0]["Subnet"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(vnis.len(), 9, "{vnis:?}");
    assert_eq!(subnets.len(), 9, "{subnets:?}");

    // Different subnets that overlap, asked at once on three hosts: the
    // winners never overlap, and the losers get Docker's words.
    for round in 0..3 {
        let asked = [
            format!("10.{}.0.0/16", 70 + round),
            format!("10.{}.1.0/24", 70 + round),
            format!("10.{}.1.128/25", 70 + round),
        ];
        let outcomes: Vec<(String, Result<String, String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = asked
                .iter()
                .enumerate()
                .map(|(h, subnet)| {
                    let host = cluster.host(h);
                    s.spawn(move || {
                        let name = format!("o{round}x{h}");
                        let run = host.docker(&[
                            "network", "create", "-d", "overlay", "--subnet", subnet, &name,
                        ]);
                        let outcome = if run.status == 0 {
                            Ok(name)
                        } else {
                            Err(run.stderr)
                        };
                        (subnet.clone(), outcome)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<&String> = outcomes
            .iter()
            .filter(|(_, o)| o.is_ok())
            .map(|(subnet, _)| subnet)
            .collect();
        assert_eq!(
            won.len(),
            1,
            "overlapping subnets both claimed: {outcomes:?}"
        );
        for (_, outcome) in &outcomes {
            if let Err(stderr) = outcome {
                assert!(
                    stderr.contains("overlaps with other one on this address space"),
                    "{stderr}"
                );
            }
        }
    }
}

fn ip_of(host: &Sandbox, container: &str, network: &str) -> String {
    host.inspect(container)["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Pings `ip` from `container` until it answers (the other host's
/// endpoint reaches this one through the store's watch), up to 20 s.
fn wait_ping(host: &Sandbox, container: &str, ip: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let run = host.docker(&["exec", container, "ping", "-c1", "-W1", ip]);
        if run.status == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{container} never reached {ip}: {}{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn containers_on_different_hosts_reach_each_other() {
    let cluster = cluster();
    let (a, b, c) = (cluster.host(0), cluster.host(1), cluster.host(2));
    // A fixed --ip needs a subnet the user gave, as in Docker.
    a.docker(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--subnet",
        "10.10.0.0/24",
        "ov",
    ])
    .ok();
    cluster.wait_all("ov on every host", |h| has_network(h, "ov"));
    let run = |host: &Sandbox, name: &str, extra: &[&str]| run_on(host, name, "ov", extra);
    run(a, "ca", &[]).ok();
    run(c, "cc", &[]).ok();
    run(b, "cb", &["--ip", "10.10.0.100"]).ok();
    let (ip_a, ip_c) = (ip_of(a, "ca", "ov"), ip_of(c, "cc", "ov"));
    assert_ne!(ip_a, ip_c);
    assert_eq!(ip_of(b, "cb", "ov"), "10.10.0.100");
    // MTU: the underlay's 1500 less VXLAN's 50.
    let mtu = a
        .docker(&["exec", "ca", "cat", "/sys/class/net/eth0/mtu"])
        .ok();
    assert_eq!(mtu.trim(), "1450");

    // Real packets, both ways, and from the host with the fixed address.
    wait_ping(a, "ca", &ip_c);
    wait_ping(c, "cc", &ip_a);
    wait_ping(b, "cb", &ip_a);
    // By name too: the embedded DNS knows the other hosts' containers.
    wait_ping(a, "ca", "cc");
    let answer = c.docker(&["exec", "cc", "nslookup", "cb"]).ok();
    assert!(answer.contains("10.10.0.100"), "{answer}");

    // The fixed address is the cluster's: another host cannot take it.
    let err = run(c, "cc2", &["--ip", "10.10.0.100"]).err();
    assert!(err.contains("Address already in use"), "{err}");
    // A running container connected on one host is reached from another,
    // by address and name, until it is disconnected.
    b.docker(&["run", "-d", "--name", "plain", "busybox", "sleep", "1d"])
        .ok();
    b.docker(&["network", "connect", "ov", "plain"]).ok();
    let ip_plain = ip_of(b, "plain", "ov");
    wait_ping(a, "ca", &ip_plain);
    wait_ping(a, "ca", "plain");
    b.docker(&["network", "disconnect", "ov", "plain"]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while a
        .docker(&["exec", "ca", "ping", "-c1", "-W1", &ip_plain])
        .status
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{ip_plain} still answers"
        );
    }

    // Networks are isolated: a second overlay network's containers reach
    // each other across hosts, and nothing on the first.
    c.docker(&["network", "create", "-d", "overlay", "ov2"])
        .ok();
    cluster.wait_all("ov2 on every host", |h| has_network(h, "ov2"));
    run_on(a, "iso", "ov2", &[]).ok();
    run_on(c, "other", "ov2", &[]).ok();
    wait_ping(a, "iso", &ip_of(c, "other", "ov2"));
    for ip in [&ip_a, &ip_c] {
        assert_ne!(
            a.docker(&["exec", "iso", "ping", "-c1", "-W1", ip]).status,
            0,
            "ov2 reached {ip} on ov"
        );
    }
    assert_ne!(a.docker(&["exec", "iso", "nslookup", "cc"]).status, 0);

    // A removed container's address and reachability go.
    c.docker(&["rm", "-f", "cc"]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while a
        .docker(&["exec", "ca", "ping", "-c1", "-W1", &ip_c])
        .status
        == 0
    {
        assert!(std::time::Instant::now() < deadline, "{ip_c} still answers");
    }
    let neigh = a.sh("ip neigh show nud permanent").ok();
    assert!(!neigh.contains(&format!("{ip_c} ")), "{neigh}");
    let err = a.docker(&["exec", "ca", "nslookup", "cc"]).err();
    assert!(!err.contains(&ip_c), "{err}");
}

/// Three hosts starting containers at once on one overlay network: every
/// container gets an address of its own.
#[test]
fn racing_hosts_never_share_an_address() {
    let cluster = cluster();
    cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "ov"])
        .ok();
    cluster.wait_all("ov on every host", |h| has_network(h, "ov"));
    const PER_HOST: usize = 30;
    std::thread::scope(|s| {
        for (h, host) in cluster.hosts().iter().enumerate() {
            for i in 0..PER_HOST {
                s.spawn(move || {
                    run_on(host, &format!("c{h}x{i}"), "ov", &[]).ok();
                });
            }
        }
    });
    let mut addresses = BTreeSet::new();
    for (h, host) in cluster.hosts().iter().enumerate() {
        for i in 0..PER_HOST {
            addresses.insert(ip_of(host, &format!("c{h}x{i}"), "ov"));
        }
    }
    assert_eq!(addresses.len(), 3 * PER_HOST, "{addresses:?}");
}

/// Whether `host` has a link whose name starts with `prefix`.
fn has_link(host: &Sandbox, prefix: &str) -> bool {
    host.sh("ip -o link show")
        .ok()
        .lines()
        .any(|l| l.split(": ").nth(1).is_some_and(|n| n.starts_with(prefix)))
}

/// A host makes an overlay network's VXLAN device when its first container
/// joins, with the other hosts' endpoints published before, and removes it
/// when its last one leaves (Docker's overlay driver too); a restarted
/// berthd keeps a plane in use and sweeps the VXLAN devices no endpoint
/// here explains. Endpoints are macvlan sub-interfaces of
/// the VXLAN device: no bridge, no host-side link.
#[test]
fn a_host_makes_the_data_plane_at_its_first_endpoint() {
    let mut cluster = cluster();
    let id = cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "ov"])
        .ok();
    let vxlan = format!("vx-{}", &id.trim()[..12]);
    cluster.wait_all("ov on every host", |h| has_network(h, "ov"));
    for host in cluster.hosts() {
        assert!(!has_link(host, &vxlan));
    }
    let run = |host: &Sandbox, name: &str| {
        run_on(host, name, "ov", &[]).ok();
    };
    run(cluster.host(0), "ca");
    assert!(has_link(cluster.host(0), &vxlan));
    assert!(!has_link(cluster.host(0), "ov-"));
    let eth0 = cluster.host(0).container_link("ca", "eth0").ok();
    assert!(eth0.contains("macvlan mode bridge"), "{eth0}");
    assert!(eth0.contains("mtu 1450"), "{eth0}");
    assert!(!has_link(cluster.host(1), &vxlan));
    // Host 1's plane is made with the endpoint host 0 published before.
    run(cluster.host(1), "cb");
    let fdb = cluster
        .host(1)
        .sh(&format!("bridge fdb show dev {vxlan}"))
        .ok();
    assert!(fdb.contains("dst 10.99.0.1 "), "{fdb}");
    wait_ping(cluster.host(1), "cb", &ip_of(cluster.host(0), "ca", "ov"));
    wait_ping(cluster.host(0), "ca", "cb");

    cluster.host(1).docker(&["rm", "-f", "cb"]).ok();
    assert!(!has_link(cluster.host(1), &vxlan));
    assert!(has_link(cluster.host(0), &vxlan));

    // Start-up's sweep: a VXLAN device of a network unused here (left by
    // a crash between the last leave and its removal) and one of a network
    // the cluster does not have both go.
    let id = id.trim();
    let gone = "0".repeat(64);
    for (name, network, vni) in [
        (vxlan.as_str(), id, 4096),
        ("vx-000000000000", gone.as_str(), 9999),
    ] {
        cluster
            .host(1)
            .sh(&format!(
                "ip link add {name} type vxlan id {vni} dstport 4789 local 10.99.0.2 nolearning \
                 && ip link set {name} alias berth:vxlan:{network}"
            ))
            .ok();
    }
    cluster.host_mut(1).kill_daemon();
    cluster.host_mut(1).restart_daemon();
    assert!(!has_link(cluster.host(1), "vx-"));

    cluster.host_mut(0).kill_daemon();
    cluster.host_mut(0).restart_daemon();
    assert!(has_link(cluster.host(0), &vxlan));
    run(cluster.host(1), "cb2");
    wait_ping(cluster.host(1), "cb2", "ca");
    // Stopped, the last container leaves: the plane goes.
    cluster.host(0).docker(&["stop", "-t", "0", "ca"]).ok();
    assert!(!has_link(cluster.host(0), &vxlan));
}
