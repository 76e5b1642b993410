//! Overlay networks across sandbox hosts on etcd (issue 16): the cluster
//! harness itself, then berthd joined to it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::cluster::Cluster;

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
