//! Overlay networks on the engine with a fake cluster store: claimed in the
//! store before they are recorded here, planned again when another host
//! wins a VNI or subnet, refused whole when the store is unreachable; and
//! the networks other hosts make or remove, adopted and dropped from the
//! store's events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::sync::atomic::Ordering;
use std::sync::Arc;

use berth_core::cluster::{ClusterEvent, ClusterStore, EndpointRecord};
use berth_core::container::create::ContainerCreate;
use berth_core::dns_names::NameIndex;
use berth_core::network::{NetworkCreate, NO_CLUSTER_STORE};
use berth_core::ports::{NameLookup, NetOps, RemoteEndpoint};
use berth_core::{ClusterHost, Engine, EngineHandle, ErrorKind};
use berth_testkit::{engine_config, FakeCluster, FakeHost};
use berth_types::Driver;

const VTEP: &str = "10.99.0.1";

async fn setup(cluster: Option<Arc<FakeCluster>>) -> EngineHandle<FakeHost> {
    setup_host(cluster).await.1
}

async fn setup_host(
    cluster: Option<Arc<FakeCluster>>,
) -> (Arc<FakeHost>, EngineHandle<FakeHost>, Arc<NameIndex>) {
    let host = Arc::new(FakeHost::default());
    let mut config = engine_config();
    if cluster.is_some() {
        config.cluster_host = Some(ClusterHost {
            advertise: VTEP.parse().unwrap(),
            overlay_mtu: 1450,
        });
    }
    let mut engine = Engine::new(Arc::clone(&host), config).unwrap();
    if let Some(cluster) = cluster {
        engine.set_cluster_store(cluster);
    }
    engine.reconcile().await.unwrap();
    let names = engine.names();
    (host, engine.spawn().0, names)
}

fn run_req(name: &str, network: &str) -> ContainerCreate {
    ContainerCreate {
        name: Some(name.to_owned()),
        image: "busybox".into(),
        cmd: Some(vec!["sleep".into(), "1d".into()]),
        network_mode: network.into(),
        ..Default::default()
    }
}

fn overlay(name: &str) -> NetworkCreate {
    NetworkCreate {
        name: name.to_owned(),
        driver: "overlay".to_owned(),
        ..Default::default()
    }
}

/// The sandbox's interfaces with a default route.
fn routed(host: &FakeHost, c: &berth_core::container::Container) -> Vec<String> {
    let sandbox = host.net.namespace(c.netns.as_ref().unwrap()).unwrap();
    sandbox
        .iter()
        .filter(|(_, l)| !l.gateways.is_empty())
        .map(|(n, _)| n.clone())
        .collect()
}

/// The names of `c`'s networks.
fn network_names(engine: &EngineHandle<FakeHost>, c: &str) -> Vec<String> {
    let c = engine.inspect_container(c).unwrap();
    c.attachments
        .iter()
        .map(|a| {
            engine
                .inspect_network(a.network.as_str())
                .unwrap()
                .name
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_gwbridge_is_an_overlay_containers_way_out() {
    let (host, engine, _) = setup_host(Some(Arc::new(FakeCluster::default()))).await;
    engine.create_network(overlay("ov")).await.unwrap();
    let internal = NetworkCreate {
        internal: true,
        ..overlay("ovi")
    };
    engine.create_network(internal).await.unwrap();
    let bridge = NetworkCreate {
        name: "br".to_owned(),
        ..Default::default()
    };
    engine.create_network(bridge).await.unwrap();

    // Made on first need, with inter-container communication off.
    engine.create_container(run_req("web", "ov")).await.unwrap();
    let c = engine.start_container("web").await.unwrap();
    let gw = engine.inspect_network("berth_gwbridge").unwrap();
    assert_eq!(gw.options["com.docker.network.bridge.enable_icc"], "false");
    assert_eq!(network_names(&engine, "web"), ["ov", "berth_gwbridge"]);
    assert_eq!(routed(&host, &c), ["eth1"]);

    // A bridge network gives it a way out: the gwbridge goes first, the
    // bridge endpoint takes the route; disconnected, the gwbridge is back.
    let web = "web".to_owned();
    engine
        .connect("br".to_owned(), web.clone(), Default::default())
        .await
        .unwrap();
    assert_eq!(network_names(&engine, "web"), ["ov", "br"]);
    assert_eq!(
        routed(&host, &engine.inspect_container("web").unwrap()),
        ["eth1"]
    );
    engine
        .disconnect("br".to_owned(), web.clone())
        .await
        .unwrap();
    assert_eq!(network_names(&engine, "web"), ["ov", "berth_gwbridge"]);
    let err = engine
        .connect("berth_gwbridge".to_owned(), web, Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);

    // Stopped, it holds no gwbridge attachment: the gwbridge can go, and
    // the next start makes it again.
    engine
        .stop_container("web", Some(15), Some(std::time::Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(network_names(&engine, "web"), ["ov"]);
    engine
        .remove_network("berth_gwbridge".to_owned())
        .await
        .unwrap();
    engine.start_container("web").await.unwrap();
    assert_eq!(network_names(&engine, "web"), ["ov", "berth_gwbridge"]);

    // An internal overlay gives none, and cannot publish.
    engine
        .create_container(run_req("inner", "ovi"))
        .await
        .unwrap();
    let c = engine.start_container("inner").await.unwrap();
    assert_eq!(network_names(&engine, "inner"), ["ovi"]);
    assert!(routed(&host, &c).is_empty());
    let mut published = run_req("pub", "ovi");
    published.publish_all = true;
    let err = engine.create_container(published).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
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
    // Refused before anything is recorded: options berth does not build.
    let mut with_option = overlay("ov2");
    with_option
        .options
        .insert("encrypted".into(), String::new());
    let err = engine.create_network(with_option).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
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

#[tokio::test]
async fn a_container_claims_joins_and_publishes_its_endpoint() {
    let cluster = Arc::new(FakeCluster::default());
    let (host, engine, _) = setup_host(Some(Arc::clone(&cluster))).await;
    let n = engine.create_network(overlay("ov")).await.unwrap();
    let vx = format!("vx-{}", n.id.short());
    // No data plane until a container joins here.
    assert!(host.net.link(&vx).is_none());
    // Another host holds the lowest address: this one plans again.
    let other = berth_types::EndpointId::from_bytes([7; 32]);
    cluster.claim_for_other(&n.id, "10.0.0.2".parse().unwrap(), other);
    engine.create_container(run_req("web", "ov")).await.unwrap();
    let c = engine.start_container("web").await.unwrap();
    let endpoint = c.attachments[0].endpoint.clone().unwrap();
    assert_eq!(endpoint.ipv4.unwrap().to_string(), "10.0.0.3/24");
    let vxlan = host.net.link(&vx).unwrap();
    assert_eq!(vxlan.mtu, 1450);
    assert_eq!(vxlan.master, None, "no bridge: endpoints are its macvlans");
    let sandbox = host.net.namespace(c.netns.as_ref().unwrap()).unwrap();
    assert_eq!(sandbox["eth0"].master, Some(vx.clone()));
    assert_eq!(sandbox["eth0"].mtu, 1450);
    assert!(
        sandbox["eth0"].gateways.is_empty(),
        "no default route through the overlay"
    );
    assert!(!sandbox["eth1"].gateways.is_empty(), "the gwbridge's route");
    assert_eq!(cluster.claims().len(), 2);
    let published = cluster.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].ip.to_string(), "10.0.0.3");
    assert_eq!(published[0].vtep.to_string(), VTEP);
    assert_eq!(published[0].container, c.id);
    assert!(published[0].names.contains(&"web".to_owned()));
    assert_eq!(published[0].canonical, "web.ov");
    // Gone with the container: the claim and the record.
    engine.remove_container("web", true, false).await.unwrap();
    assert_eq!(cluster.claims().len(), 1);
    assert!(cluster.published().is_empty());
    assert!(
        host.net.link(&vx).is_none(),
        "the last endpoint took the plane"
    );
}

#[tokio::test]
async fn other_hosts_endpoints_become_fdb_and_neighbour_entries() {
    let cluster = Arc::new(FakeCluster::default());
    let (host, engine, names) = setup_host(Some(Arc::clone(&cluster))).await;
    let n = engine.create_network(overlay("ov")).await.unwrap();
    let record = |ip: &str, vtep: &str, byte: u8| EndpointRecord {
        network: n.id.clone(),
        endpoint: berth_types::EndpointId::from_bytes([byte; 32]),
        ip: ip.parse().unwrap(),
        mac: berth_types::MacAddr([2, 0x42, 10, 0, 0, byte]),
        vtep: vtep.parse().unwrap(),
        container: berth_types::ContainerId::from_bytes([byte; 32]),
        names: vec![format!("c{byte}")],
        canonical: format!("c{byte}.ov"),
    };
    let theirs = record("10.0.0.2", "10.99.0.3", 9);
    let ours = record("10.0.0.8", VTEP, 8);
    cluster.publish_endpoint(&theirs).await.unwrap();
    let snapshot = ClusterEvent::EndpointSnapshot(vec![theirs.clone(), ours]);
    engine.cluster_event(snapshot.clone()).await.unwrap();
    assert!(
        host.net.remote_endpoints().is_empty(),
        "no data plane here yet"
    );
    // The first container here makes the plane, with the entries known.
    engine.create_container(run_req("web", "ov")).await.unwrap();
    let c = engine.start_container("web").await.unwrap();
    // Its address is not planned here.
    let ip = c.attachments[0].endpoint.as_ref().unwrap().ipv4.unwrap();
    assert_eq!(ip.to_string(), "10.0.0.3/24");
    // Left in the kernel by an earlier run for an endpoint long gone.
    let stale = RemoteEndpoint {
        vxlan: berth_types::IfName::parse(&format!("vx-{}", n.id.short())).unwrap(),
        mac: berth_types::MacAddr([2, 0x42, 10, 0, 0, 77]),
        ip: "10.0.0.77".parse().unwrap(),
        vtep: "10.99.0.2".parse().unwrap(),
    };
    host.net.add_remote_endpoint(&stale).await.unwrap();
    engine.cluster_event(snapshot).await.unwrap();
    let remotes = host.net.remote_endpoints();
    assert_eq!(
        remotes.len(),
        1,
        "its own endpoints are not remote, the stale one went"
    );
    assert_eq!(remotes[0].ip, theirs.ip);
    assert_eq!(remotes[0].vtep, theirs.vtep);
    assert_eq!(remotes[0].vxlan.as_str(), format!("vx-{}", n.id.short()));
    // The other host's container keeps the network.
    engine.remove_container("web", true, false).await.unwrap();
    let err = engine.remove_network("ov".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(
        err.to_string()
            .contains(r#"has active endpoints (name:"c9" id:"#),
        "{err}"
    );
    engine.create_container(run_req("web", "ov")).await.unwrap();
    let c = engine.start_container("web").await.unwrap();
    // The embedded DNS answers the other host's container by name.
    assert_eq!(names.resolve(&c.id, "c9"), Some(vec![theirs.ip]));
    assert_eq!(names.reverse(&c.id, theirs.ip), Some("c9.ov".to_owned()));
    engine
        .cluster_event(ClusterEvent::EndpointDeleted(n.id.clone(), theirs.endpoint))
        .await
        .unwrap();
    assert!(host.net.remote_endpoints().is_empty());
    assert_eq!(names.resolve(&c.id, "c9"), None);
}
