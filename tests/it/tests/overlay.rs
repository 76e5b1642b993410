//! Overlay networks across three sandbox hosts on one etcd cluster, driven
//! by the real docker CLI: a network made on one host is every host's,
//! with one id, VNI and subnet; names, VNIs and subnets are never given
//! twice, even to hosts racing; removal on any host removes it everywhere.

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

    // Containers cannot join yet: refused by name, nothing made.
    let err = cluster
        .host(1)
        .docker(&["run", "-d", "--network", "ov", "busybox", "sleep", "60"])
        .err();
    assert!(
        err.contains("network ov: berth does not attach containers to overlay networks yet"),
        "{err}"
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
}
