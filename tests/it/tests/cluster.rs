//! Overlay networks across sandbox hosts on etcd (issue 16): the cluster
//! harness itself, then berthd joined to it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::cluster::Cluster;
use berth_testkit::sandbox::Sandbox;

/// Three sandbox hosts on one underlay, an etcd member in each: the
/// members form one healthy cluster, and each host reaches the others.
#[test]
fn three_hosts_form_a_healthy_etcd_cluster() {
    let cluster = Cluster::new(3);
    let health = cluster.etcd_health().unwrap();
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    let mut healthy: Vec<&str> = health
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["health"] == true)
        .filter_map(|m| m["endpoint"].as_str())
        .collect();
    healthy.sort_unstable();
    assert_eq!(
        healthy,
        ["10.99.0.1:2379", "10.99.0.2:2379", "10.99.0.3:2379"],
        "{health}"
    );
    cluster.host(0).sh("busybox ping -c1 -W2 10.99.0.3").ok();
}

/// Without a cluster store, berth is one host and says why it refuses an
/// overlay network, creating nothing.
#[test]
fn overlay_needs_a_cluster_store() {
    let sb = Sandbox::with_busybox();
    let err = sb
        .docker(&["network", "create", "-d", "overlay", "ov"])
        .err();
    assert!(
        err.contains("overlay networks need a cluster store: start berthd with --cluster-store"),
        "{err}"
    );
    let names = sb.docker(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert!(!names.lines().any(|n| n == "ov"), "{names}");
}

/// Each berthd keeps its host's record in etcd under a lease.
#[test]
fn daemons_keep_their_host_records_under_leases() {
    let mut cluster = Cluster::new(3);
    cluster.start_daemons(&[]);
    let hosts = || {
        let out = cluster
            .etcdctl("get --prefix /berth/v1/hosts/ -w json")
            .ok();
        let reply: serde_json::Value = serde_json::from_str(&out).unwrap();
        reply["kvs"].as_array().cloned().unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while hosts().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "{:?}", hosts());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for kv in hosts() {
        assert_ne!(kv["lease"].as_i64().unwrap_or(0), 0, "{kv}");
    }
}
