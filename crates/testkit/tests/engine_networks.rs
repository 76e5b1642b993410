//! The network use cases on the fake host: final state of the modelled
//! kernel and store, including rollback and start-up reconcile.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_core::filter::PruneFilter;
use berth_core::network::{IpamInput, NetworkCreate};
use berth_core::network::{Network, RecordState};
use berth_core::ports::{network_link_alias, NetOps, Store};
use berth_core::{Engine, ErrorKind};
use berth_testkit::engine_config;
use berth_testkit::{FakeHost, FakeLink};
use berth_types::IpNet;

async fn engine() -> (Arc<FakeHost>, Engine<FakeHost>) {
    let host = Arc::new(FakeHost::default());
    let mut engine = Engine::new(Arc::clone(&host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    (host, engine)
}

fn create(name: &str, subnet: &str) -> NetworkCreate {
    NetworkCreate {
        name: name.to_owned(),
        ipam: if subnet.is_empty() {
            vec![]
        } else {
            vec![IpamInput {
                subnet: subnet.to_owned(),
                ..Default::default()
            }]
        },
        ..Default::default()
    }
}

fn stored(host: &FakeHost) -> Vec<(Network, RecordState)> {
    host.store.networks().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[tokio::test]
async fn first_start_makes_predefined_networks_and_default_bridge() {
    let (host, _engine) = engine().await;
    let mut names: Vec<String> = stored(&host)
        .iter()
        .map(|(n, _)| n.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["bridge", "host", "none"]);
    assert!(stored(&host).iter().all(|(_, s)| *s == RecordState::Ready));
    let berth0 = host.net.link("berth0").unwrap();
    assert_eq!(berth0.addresses, vec![net("172.17.0.1/16")]);
    assert!(berth0.up);
    assert_eq!(host.net.sysctl("net.ipv4.ip_forward").as_deref(), Some("1"));
}

#[tokio::test]
async fn create_makes_bridge_with_gateway_and_remove_deletes_it() {
    let (host, mut engine) = engine().await;
    let n = engine
        .create_network(create("mynetwork", "192.168.100.0/24"))
        .await
        .unwrap();
    let bridge = format!("br-{}", n.id.short());
    let link = host.net.link(&bridge).unwrap();
    assert_eq!(link.addresses, vec![net("192.168.100.1/24")]);
    assert_eq!(
        link.alias.as_deref(),
        Some(network_link_alias(&n.id).as_str())
    );
    assert_eq!(host.store.state_of(&n.id), Some(RecordState::Ready));

    engine.remove_network("mynetwork").await.unwrap();
    // The record goes at once; the bridge in the background.
    assert_eq!(host.store.state_of(&n.id), None);
    engine.settle_drivers().await;
    assert!(host.net.link(&bridge).is_none());
}

#[tokio::test]
async fn refusals_change_nothing() {
    let (host, mut engine) = engine().await;
    engine
        .create_network(create("mynetwork", "192.168.100.0/24"))
        .await
        .unwrap();
    let before = (stored(&host).len(), host.net.link_names());
    let cases = [
        (create("mynetwork", ""), ErrorKind::Conflict),
        (create("bridge", ""), ErrorKind::Forbidden),
        (create("", ""), ErrorKind::InvalidParameter),
        (
            NetworkCreate {
                options: [(
                    "com.docker.network.bridge.name".to_owned(),
                    "br*".to_owned(),
                )]
                .into(),
                ..create("x", "")
            },
            ErrorKind::InvalidParameter,
        ),
        (
            NetworkCreate {
                ipam: vec![IpamInput {
                    subnet: "10.1.0.0/16".into(),
                    aux_addresses: [
                        ("a".to_owned(), "10.1.0.5".to_owned()),
                        ("b".to_owned(), "10.1.0.5".to_owned()),
                    ]
                    .into(),
                    ..Default::default()
                }],
                ..create("x", "")
            },
            ErrorKind::InvalidParameter,
        ),
        (create("x", "192.168.100.128/25"), ErrorKind::Forbidden),
        (create("x", "10.0.0.0/33"), ErrorKind::InvalidParameter),
        (create("x", "10.0.0.1/8"), ErrorKind::InvalidParameter),
        (
            NetworkCreate {
                driver: "weave".into(),
                ..create("x", "")
            },
            ErrorKind::NotFound,
        ),
        (
            NetworkCreate {
                ipam: vec![IpamInput {
                    subnet: "10.1.0.0/16".into(),
                    gateway: "10.2.0.1".into(),
                    ..Default::default()
                }],
                ..create("x", "")
            },
            ErrorKind::InvalidParameter,
        ),
    ];
    for (req, kind) in cases {
        let what = format!("{req:?}");
        let err = engine.create_network(req).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{what}: {err}");
    }
    assert_eq!(
        engine.remove_network("nosuch").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let err = engine.remove_network("bridge").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "bridge is a pre-defined network and cannot be removed"
    );
    assert_eq!((stored(&host).len(), host.net.link_names()), before);
}

#[tokio::test]
async fn failed_bridge_rolls_back_the_record() {
    let (host, mut engine) = engine().await;
    host.net.refuse_bridge("br-fails");
    let mut req = create("doomed", "10.50.0.0/16");
    req.options = BTreeMap::from([(
        "com.docker.network.bridge.name".to_owned(),
        "br-fails".to_owned(),
    )]);
    let err = engine.create_network(req).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(!stored(&host)
        .iter()
        .any(|(n, _)| n.name.as_str() == "doomed"));
    assert!(host.net.link("br-fails").is_none());
}

#[tokio::test]
async fn pools_skip_networks_and_host_routes() {
    let (host, mut engine) = engine().await;
    host.net.add_route(net("172.19.5.0/24"));
    let a = engine.create_network(create("a", "")).await.unwrap();
    let b = engine.create_network(create("b", "")).await.unwrap();
    assert_eq!(a.subnets[0].subnet, net("172.18.0.0/16"));
    assert_eq!(b.subnets[0].subnet, net("172.20.0.0/16"));
}

#[tokio::test]
async fn reconcile_finishes_interrupted_work_and_sweeps_orphans() {
    let (host, mut engine) = engine().await;
    let half_made = engine
        .create_network(create("half", "10.60.0.0/16"))
        .await
        .unwrap();
    let half_gone = engine
        .create_network(create("gone", "10.61.0.0/16"))
        .await
        .unwrap();
    // As if the daemon died between the store write and the kernel work.
    host.store
        .set_network_state(&half_made.id, RecordState::Creating)
        .unwrap();
    host.net
        .delete_link(&half_made.bridge.clone().unwrap().name)
        .await
        .unwrap();
    host.store
        .set_network_state(&half_gone.id, RecordState::Removing)
        .unwrap();
    // A bridge of ours no record claims, and one that is not ours.
    host.net.add_link(
        "br-aaaaaaaaaaaa",
        FakeLink {
            alias: Some(format!("berth:network:{}", "a".repeat(64))),
            ..Default::default()
        },
    );
    host.net.add_link("br-foreign0000", FakeLink::default());

    engine.reconcile().await.unwrap();
    let links = host.net.link_names();
    assert!(links.contains(&format!("br-{}", half_made.id.short())));
    assert_eq!(host.store.state_of(&half_made.id), Some(RecordState::Ready));
    assert!(!links.contains(&format!("br-{}", half_gone.id.short())));
    assert_eq!(host.store.state_of(&half_gone.id), None);
    assert!(!links.contains(&"br-aaaaaaaaaaaa".to_owned()));
    assert!(links.contains(&"br-foreign0000".to_owned()));
}

#[tokio::test]
async fn bip_change_keeps_the_bridge_network_id() {
    let (host, _engine) = engine().await;
    let id = |host: &FakeHost| {
        stored(host)
            .into_iter()
            .find(|(n, _)| n.name.as_str() == "bridge")
            .map(|(n, _)| n.id)
            .unwrap()
    };
    let before = id(&host);
    let mut cfg = engine_config();
    cfg.default_bridge.address = net("10.99.0.1/24");
    let mut engine = Engine::new(Arc::clone(&host), cfg).unwrap();
    engine.reconcile().await.unwrap();
    assert_eq!(id(&host), before);
    assert_eq!(
        host.net.link("berth0").unwrap().addresses,
        vec![net("10.99.0.1/24")]
    );
}

#[tokio::test]
async fn prune_removes_matching_custom_networks_only() {
    let (host, mut engine) = engine().await;
    let mut keep = create("keep", "");
    keep.labels = BTreeMap::from([("keep".to_owned(), "yes".to_owned())]);
    engine.create_network(keep).await.unwrap();
    engine.create_network(create("drop", "")).await.unwrap();
    let raw = BTreeMap::from([("label!".to_owned(), vec!["keep".to_owned()])]);
    let filter = PruneFilter::parse(&raw, std::time::SystemTime::now()).unwrap();
    let removed = engine.prune_networks(&filter).await.unwrap();
    assert_eq!(
        removed
            .iter()
            .map(|n| n.name.to_string())
            .collect::<Vec<_>>(),
        ["drop"]
    );
    let mut names: Vec<String> = stored(&host)
        .iter()
        .map(|(n, _)| n.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["bridge", "host", "keep", "none"]);
}

#[tokio::test]
async fn a_network_made_right_after_a_removal_may_reuse_its_subnet_and_bridge_name() {
    let (host, mut engine) = engine().await;
    let named = |name: &str| {
        let mut req = create(name, "10.9.0.0/24");
        req.options = BTreeMap::from([(
            "com.docker.network.bridge.name".to_owned(),
            "br-same".to_owned(),
        )]);
        req
    };
    engine.create_network(named("first")).await.unwrap();
    engine.remove_network("first").await.unwrap();
    // No wait in between: the old bridge's deletion is still queued.
    let second = engine.create_network(named("second")).await.unwrap();
    // Whatever was queued has run by now, and took the old bridge only.
    engine.settle_drivers().await;
    let link = host.net.link("br-same").unwrap();
    assert_eq!(
        link.alias.as_deref(),
        Some(network_link_alias(&second.id).as_str())
    );
    assert_eq!(link.addresses, vec![net("10.9.0.1/24")]);
}

#[tokio::test]
async fn a_removed_networks_pool_is_free_before_its_bridge_is_gone() {
    let (host, mut engine) = engine().await;
    let first = engine.create_network(create("first", "")).await.unwrap();
    let old_bridge = first.bridge.clone().unwrap().name;
    engine.remove_network("first").await.unwrap();
    // The old bridge is down (no routes) while its deletion is queued.
    assert!(!host.net.link(old_bridge.as_str()).unwrap().up);
    let second = engine.create_network(create("second", "")).await.unwrap();
    assert_eq!(second.subnets[0].subnet, first.subnets[0].subnet);
    engine.settle_drivers().await;
    assert!(host.net.link(old_bridge.as_str()).is_none());
    let new_bridge = second.bridge.unwrap().name;
    assert!(host.net.link(new_bridge.as_str()).unwrap().up);
}
