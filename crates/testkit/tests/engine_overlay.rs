//! Overlay networks on the engine with a fake cluster store: claimed in the
//! store before they are recorded here, planned again when another host
//! wins a VNI or subnet, refused whole when the store is unreachable; and
//! the networks other hosts make or remove, adopted and dropped from the
//! store's events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::sync::atomic::Ordering;
use std::sync::Arc;

use berth_core::cluster::ClusterEvent;
use berth_core::container::create::ContainerCreate;
use berth_core::network::{NetworkCreate, NO_CLUSTER_STORE};
use berth_core::{Engine, EngineHandle, ErrorKind};
use berth_testkit::{engine_config, FakeCluster, FakeHost};
use berth_types::Driver;

async fn setup(cluster: Option<Arc<FakeCluster>>) -> EngineHandle<FakeHost> {
    let host = Arc::new(FakeHost::default());
    let mut engine = Engine::new(host, engine_config()).unwrap();
    if let Some(cluster) = cluster {
        engine.set_cluster_store(cluster);
    }
    engine.reconcile().await.unwrap();
    engine.spawn().0
}

fn overlay(name: &str) -> NetworkCreate {
    NetworkCreate {
        name: name.to_owned(),
        driver: "overlay".to_owned(),
        ..Default::default()
    }
}

fn vni(n: &berth_core::network::Network) -> u32 {
    n.overlay.as_ref().unwrap().vni
}

#[tokio::test]
async fn without_a_cluster_store_overlay_is_refused() {
    let engine = setup(None).await;
    let err = engine.create_network(overlay("ov")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.to_string(), NO_CLUSTER_STORE);
    assert!(engine.inspect_network("ov").is_err());
}

#[tokio::test]
async fn an_overlay_network_is_claimed_then_recorded() {
    let cluster = Arc::new(FakeCluster::default());
    let engine = setup(Some(Arc::clone(&cluster))).await;
    let n = engine.create_network(overlay("ov")).await.unwrap();
    assert_eq!(n.driver, Driver::Overlay);
    assert_eq!(n.scope(), "global");
    assert_eq!(vni(&n), 4096);
    assert_eq!(n.subnets[0].subnet.to_string(), "10.0.0.0/24");
    assert_eq!(cluster.all(), vec![n.clone()]);
    assert_eq!(engine.inspect_network("ov").unwrap(), n);
    // Refused before anything is recorded: options, IPv6, containers.
    let mut with_option = overlay("ov2");
    with_option
        .options
        .insert("encrypted".into(), String::new());
    let err = engine.create_network(with_option).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    let err = engine
        .create_container(ContainerCreate {
            name: Some("web".into()),
            image: "busybox".into(),
            network_mode: "ov".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("berth does not attach containers to overlay networks yet"),
        "{err}"
    );
    assert_eq!(cluster.all().len(), 1);
    engine.remove_network("ov".into()).await.unwrap();
    assert!(cluster.all().is_empty());
    assert!(engine.inspect_network("ov").is_err());
}

#[tokio::test]
async fn losing_a_race_plans_again() {
    let cluster = Arc::new(FakeCluster::default());
    let other = setup(Some(Arc::new(FakeCluster::default()))).await;
    let winner = other.create_network(overlay("theirs")).await.unwrap();
    assert_eq!(
        (vni(&winner), winner.subnets[0].subnet.to_string().as_str()),
        (4096, "10.0.0.0/24")
    );
    *cluster.before_next_claim.lock().unwrap() = Some(winner);
    let engine = setup(Some(Arc::clone(&cluster))).await;
    let n = engine.create_network(overlay("mine")).await.unwrap();
    assert_eq!(vni(&n), 4097);
    assert_eq!(n.subnets[0].subnet.to_string(), "10.0.1.0/24");
    // A name another host holds is a conflict, not a retry.
    let err = engine.create_network(overlay("theirs")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.to_string(), "network with name theirs already exists");
}

#[tokio::test]
async fn an_unreachable_store_changes_nothing() {
    let cluster = Arc::new(FakeCluster::default());
    let engine = setup(Some(Arc::clone(&cluster))).await;
    engine.create_network(overlay("ov")).await.unwrap();
    cluster.unreachable.store(true, Ordering::SeqCst);
    let err = engine.create_network(overlay("ov2")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.to_string(), "cluster store unavailable");
    let err = engine.remove_network("ov".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(engine.inspect_network("ov").is_ok());
    assert!(engine.inspect_network("ov2").is_err());
}

#[tokio::test]
async fn other_hosts_networks_are_adopted_and_dropped() {
    let theirs = setup(Some(Arc::new(FakeCluster::default()))).await;
    let a = theirs.create_network(overlay("a")).await.unwrap();
    let b = theirs.create_network(overlay("b")).await.unwrap();
    let engine = setup(Some(Arc::new(FakeCluster::default()))).await;
    engine
        .cluster_event(ClusterEvent::Snapshot(vec![a.clone()]))
        .await
        .unwrap();
    assert_eq!(engine.inspect_network("a").unwrap(), a);
    engine
        .cluster_event(ClusterEvent::NetworkPut(Box::new(b.clone())))
        .await
        .unwrap();
    assert_eq!(engine.inspect_network("b").unwrap(), b);
    engine
        .cluster_event(ClusterEvent::NetworkDeleted(a.id.clone()))
        .await
        .unwrap();
    assert!(engine.inspect_network("a").is_err());
    // A snapshot is the whole truth: what it lacks goes.
    engine
        .cluster_event(ClusterEvent::Snapshot(Vec::new()))
        .await
        .unwrap();
    assert!(engine.inspect_network("b").is_err());
}
