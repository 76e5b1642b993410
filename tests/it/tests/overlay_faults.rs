//! Overlay networks when things fail (issue 16): a berthd killed (its
//! host's endpoints leave the others within the lease's TTL; restarted, it
//! publishes them again, its containers running all along, nothing
//! duplicated), a whole host dying, and etcd losing its quorum (overlay
//! changes answer 503, traffic goes on, and with the quorum back every
//! daemon converges without a restart).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::time::{Duration, Instant};

use berth_testkit::cluster::Cluster;
use berth_testkit::sandbox::Sandbox;

/// Host 0 and host 2 each with a container on overlay network `ov`,
/// reaching each other: the cluster, the VXLAN device's name and the two
/// addresses.
fn two_containers() -> (Cluster, String, String, String) {
    let mut cluster = Cluster::new(3);
    cluster.start_daemons(&[]);
    let id = cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "ov"])
        .ok();
    let vxlan = format!("vx-{}", &id.trim()[..12]);
    cluster.wait_all("ov everywhere", |h| {
        h.docker(&["network", "inspect", "ov"]).status == 0
    });
    for (host, name) in [(0, "ca"), (2, "cc")] {
        cluster
            .host(host)
            .run_busybox(name, "ov", &[], &["sleep", "1d"])
            .ok();
    }
    let ip = |host: usize, name: &str| {
        cluster.host(host).inspect(name)["NetworkSettings"]["Networks"]["ov"]["IPAddress"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ip_a, ip_c) = (ip(0, "ca"), ip(2, "cc"));
    wait_ping(cluster.host(0), "ca", &ip_c);
    (cluster, vxlan, ip_a, ip_c)
}

fn pings(host: &Sandbox, container: &str, ip: &str) -> bool {
    host.docker(&["exec", container, "ping", "-c1", "-W1", ip])
        .status
        == 0
}

fn wait_ping(host: &Sandbox, container: &str, ip: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pings(host, container, ip) {
        assert!(Instant::now() < deadline, "{container} never reached {ip}");
    }
}

fn has_neighbour(host: &Sandbox, vxlan: &str, ip: &str) -> bool {
    host.sh(&format!("ip neigh show dev {vxlan}"))
        .ok()
        .lines()
        .any(|l| l.starts_with(&format!("{ip} ")))
}

#[test]
fn a_killed_berthd_drops_out_and_comes_back_with_its_endpoints() {
    let (mut cluster, vxlan, _, ip_c) = two_containers();
    assert!(has_neighbour(cluster.host(0), &vxlan, &ip_c));
    // A container host 2 knows of, removed while host 2's berthd is dead.
    cluster
        .host(0)
        .run_busybox("cx", "ov", &[], &["sleep", "1d"])
        .ok();
    let ip_x = cluster.host(0).inspect("cx")["NetworkSettings"]["Networks"]["ov"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !has_neighbour(cluster.host(2), &vxlan, &ip_x) {
        assert!(Instant::now() < deadline, "host 2 never learned of {ip_x}");
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.host_mut(2).kill_daemon();
    cluster.host(0).docker(&["rm", "-f", "cx"]).ok();
    let killed = Instant::now();
    // Its lease runs out: the others drop its endpoints.
    let deadline = killed + Duration::from_secs(40);
    // Its neighbour entry and its FDB entry (towards its VTEP) both go.
    let fdb_to_c = |host: &Sandbox| {
        host.sh(&format!("bridge fdb show dev {vxlan}"))
            .ok()
            .contains("dst 10.99.0.3 ")
    };
    while has_neighbour(cluster.host(0), &vxlan, &ip_c) || fdb_to_c(cluster.host(0)) {
        assert!(Instant::now() < deadline, "{ip_c} still known on host 0");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "measured: host 0 dropped the dead berthd's endpoint {:?} after the kill",
        killed.elapsed()
    );
    // Its names went with it.
    assert_ne!(
        cluster
            .host(0)
            .docker(&["exec", "ca", "nslookup", "cc"])
            .status,
        0
    );
    cluster.host_mut(2).restart_daemon();
    // Its container ran all along, with its address; it is reachable again.
    let cc = cluster.host(2).inspect("cc");
    assert_eq!(cc["State"]["Running"], true);
    assert_eq!(
        cc["NetworkSettings"]["Networks"]["ov"]["IPAddress"],
        ip_c.as_str()
    );
    wait_ping(cluster.host(0), "ca", &ip_c);
    wait_ping(cluster.host(0), "ca", "cc");
    // Reconcile took out what the dead berthd missed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while has_neighbour(cluster.host(2), &vxlan, &ip_x) {
        assert!(Instant::now() < deadline, "host 2 still has {ip_x}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Nothing duplicated: one claim per container, one record per endpoint.
    let count = |prefix: &str| {
        cluster
            .etcdctl(&format!("get --prefix {prefix} --keys-only"))
            .ok()
            .lines()
            .filter(|l| !l.is_empty())
            .count()
    };
    assert_eq!(count("/berth/v1/addresses/"), 2);
    assert_eq!(count("/berth/v1/endpoints/"), 2);
}

#[test]
fn without_an_etcd_quorum_changes_answer_503_traffic_goes_on_and_all_recovers() {
    let (mut cluster, _, ip_a, ip_c) = two_containers();
    cluster.kill_etcd(1);
    cluster.kill_etcd(2);
    let asked = Instant::now();
    let err = cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "ov2"])
        .err();
    eprintln!(
        "measured: overlay create without quorum answered in {:?}",
        asked.elapsed()
    );
    assert!(err.contains("cluster store unavailable"), "{err}");
    let err = cluster
        .host(2)
        .docker(&["run", "-d", "--network", "ov", "busybox", "sleep", "1d"])
        .err();
    assert!(err.contains("cluster store unavailable"), "{err}");
    // The kernel state stays: containers run and reach each other.
    assert!(pings(cluster.host(0), "ca", &ip_c));
    assert!(pings(cluster.host(2), "cc", &ip_a));
    let ps = cluster
        .host(0)
        .docker(&["ps", "--format", "{{.Names}}"])
        .ok();
    assert!(ps.lines().any(|n| n == "ca"), "{ps}");

    // The members back: every daemon converges without a restart. A change
    // made on one host reaches the others (their watches resumed), and a
    // new container is reached across hosts by name.
    cluster.restart_etcd(1);
    cluster.restart_etcd(2);
    cluster.wait_etcd_healthy();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster
        .host(0)
        .docker(&["network", "create", "-d", "overlay", "ov2"])
        .status
        != 0
    {
        assert!(
            Instant::now() < deadline,
            "overlay create never worked again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster.wait_all("ov2 on every host after the outage", |h| {
        h.docker(&["network", "inspect", "ov2"]).status == 0
    });
    cluster
        .host(2)
        .run_busybox("late", "ov", &[], &["sleep", "1d"])
        .ok();
    wait_ping(cluster.host(0), "ca", "late");
}

#[test]
fn a_dead_host_leaves_the_others_within_the_lease_ttl() {
    let (mut cluster, vxlan, _, ip_c) = two_containers();
    // Its neighbour entry and its FDB entry (towards its VTEP) both go.
    let fdb_to_c = |host: &Sandbox| {
        host.sh(&format!("bridge fdb show dev {vxlan}"))
            .ok()
            .contains("dst 10.99.0.3 ")
    };
    assert!(fdb_to_c(cluster.host(0)));
    cluster.kill_host(2);
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(40);
    while has_neighbour(cluster.host(0), &vxlan, &ip_c) || fdb_to_c(cluster.host(0)) {
        assert!(Instant::now() < deadline, "{ip_c} still known on host 0");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "measured: host 0 dropped the dead host's endpoint {:?} after the kill",
        killed.elapsed()
    );
    assert_ne!(
        cluster
            .host(0)
            .docker(&["exec", "ca", "nslookup", "cc"])
            .status,
        0
    );
    // Two of three etcd members are a quorum: the cluster goes on.
    cluster
        .host(1)
        .docker(&["network", "create", "-d", "overlay", "after"])
        .ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster
        .host(0)
        .docker(&["network", "inspect", "after"])
        .status
        != 0
    {
        assert!(
            Instant::now() < deadline,
            "host 0 never learned of network after"
        );
    }
    cluster
        .host(0)
        .docker(&["run", "-d", "--network", "after", "busybox", "sleep", "1d"])
        .ok();
}
