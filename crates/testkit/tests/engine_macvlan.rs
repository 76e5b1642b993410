//! The macvlan driver through the driver port, on the fake host: what it
//! refuses (naming the kernel feature a network would need), what a
//! container on it gets in its sandbox, and what it never gets (a bridge,
//! a veth, firewall elements, published ports).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_core::container::create::{ContainerCreate, EndpointRequest};
use berth_core::network::{IpamInput, NetworkCreate};
use berth_core::ports::KernelLink;
use berth_core::{Engine, EngineHandle, ErrorKind};
use berth_testkit::{engine_config, FakeHost, FakeLink};
use berth_types::{Driver, IpNet};

async fn setup() -> (Arc<FakeHost>, EngineHandle<FakeHost>) {
    let host = Arc::new(FakeHost::default());
    // The parent: a plain device of the host.
    host.net.add_link(
        "lan0",
        FakeLink {
            up: true,
            mtu: 1500,
            ..Default::default()
        },
    );
    let mut engine = Engine::new(Arc::clone(&host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    (host, engine.spawn().0)
}

fn macvlan(name: &str, options: &[(&str, &str)]) -> NetworkCreate {
    NetworkCreate {
        name: name.to_owned(),
        driver: "macvlan".to_owned(),
        ipam: vec![IpamInput {
            subnet: "192.168.77.0/24".into(),
            gateway: "192.168.77.1".into(),
            ip_range: "192.168.77.128/25".into(),
            ..Default::default()
        }],
        options: options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    }
}

fn run_req(name: &str, network: &str) -> ContainerCreate {
    ContainerCreate {
        name: Some(name.to_owned()),
        image: "busybox".to_owned(),
        cmd: Some(vec!["sleep".into(), "1d".into()]),
        network_mode: network.to_owned(),
        ..Default::default()
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_macvlan_network_has_no_bridge_and_no_firewall_elements() {
    let (host, h) = setup().await;
    let links_before = host.net.link_names();
    let rules_before = host.firewall.state().unwrap();
    let n = h
        .create_network(macvlan("lan", &[("parent", "lan0")]))
        .await
        .unwrap();
    assert_eq!(n.driver, Driver::Macvlan);
    let settings = n.macvlan.clone().unwrap();
    assert_eq!(settings.parent.as_str(), "lan0");
    assert!(n.bridge.is_none());
    assert_eq!(host.net.link_names(), links_before, "no bridge");
    assert_eq!(host.firewall.state().unwrap(), rules_before);
    assert_eq!(h.inspect_network("lan").unwrap().id, n.id);
}

#[tokio::test]
async fn a_container_gets_a_macvlan_eth0_with_its_address_mac_and_route() {
    let (host, h) = setup().await;
    h.create_network(macvlan("lan", &[("parent", "lan0")]))
        .await
        .unwrap();
    let links_before = host.net.link_names();
    let mut req = run_req("web", "lan");
    req.endpoints.insert(
        "lan".to_owned(),
        EndpointRequest {
            ipv4: "192.168.77.200".to_owned(),
            ..Default::default()
        },
    );
    req.port_bindings = BTreeMap::from([(
        "80/tcp".to_owned(),
        vec![(String::new(), "8080".to_owned())],
    )]);
    h.create_container(req).await.unwrap();
    let c = h.start_container("web").await.unwrap();
    let endpoint = c.attachments[0].endpoint.clone().unwrap();
    assert_eq!(endpoint.host_ifname, None, "no host-side interface");
    assert_eq!(endpoint.ipv4, Some(net("192.168.77.200/24")));
    let sandbox = host.net.namespace(c.netns.as_ref().unwrap()).unwrap();
    let eth0 = &sandbox["eth0"];
    assert_eq!(eth0.master.as_deref(), Some("lan0"), "made from the parent");
    assert_eq!(eth0.mac, Some(endpoint.mac));
    assert_eq!(eth0.addresses, vec![net("192.168.77.200/24")]);
    assert_eq!(
        eth0.gateways,
        vec!["192.168.77.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(host.net.link_names(), links_before, "no veth on the host");
    // Docker ignores -p on macvlan: nothing published, nothing mapped.
    assert!(c.published.is_empty());
    assert!(host.firewall.state().unwrap().ports.is_empty());
}

#[tokio::test]
async fn connect_and_disconnect_live_add_and_remove_the_sub_interface() {
    let (host, h) = setup().await;
    h.create_network(macvlan("lan", &[("parent", "lan0")]))
        .await
        .unwrap();
    h.create_container(run_req("web", "")).await.unwrap();
    let c = h.start_container("web").await.unwrap();
    let netns = c.netns.clone().unwrap();
    h.connect("lan".into(), "web".into(), EndpointRequest::default())
        .await
        .unwrap();
    let eth1 = host.net.namespace(&netns).unwrap()["eth1"].clone();
    assert_eq!(eth1.master.as_deref(), Some("lan0"));
    assert!(
        eth1.gateways.is_empty(),
        "the first network gives the routes"
    );
    h.disconnect("lan".into(), "web".into()).await.unwrap();
    assert!(!host.net.namespace(&netns).unwrap().contains_key("eth1"));
    assert!(host
        .store
        .allocated_addresses(&h.inspect_network("lan").unwrap().id)
        .is_empty());
}

#[tokio::test]
async fn network_rm_is_refused_while_a_container_runs_on_it() {
    let (_host, h) = setup().await;
    h.create_network(macvlan("lan", &[("parent", "lan0")]))
        .await
        .unwrap();
    h.create_container(run_req("web", "lan")).await.unwrap();
    h.start_container("web").await.unwrap();
    let err = h.remove_network("lan".into()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(err.to_string().contains("has active endpoints"), "{err}");
}

/// Each refusal is Docker's status and text, or names the kernel feature
/// the network needs, and leaves no network behind.
#[tokio::test]
async fn refusals_name_the_problem_and_change_nothing() {
    let (host, h) = setup().await;
    host.net.lack_kernel_link(KernelLink::Vlan);
    host.net.lack_kernel_link(KernelLink::Dummy);
    host.net.lack_kernel_link(KernelLink::Ipvlan);
    let before = h.networks().len();
    let cases: Vec<(NetworkCreate, ErrorKind, &str)> = vec![
        (
            macvlan("a", &[("parent", "eth9")]),
            ErrorKind::InvalidParameter,
            "-o parent interface was not found on the host: eth9",
        ),
        (
            macvlan("b", &[("parent", "lan0.10")]),
            ErrorKind::InvalidParameter,
            "CONFIG_VLAN_8021Q",
        ),
        (macvlan("c", &[]), ErrorKind::InvalidParameter, "CONFIG_DUMMY"),
        (
            NetworkCreate {
                internal: true,
                ..macvlan("d", &[])
            },
            ErrorKind::InvalidParameter,
            "CONFIG_DUMMY",
        ),
        (
            NetworkCreate {
                internal: true,
                ..macvlan("d2", &[("parent", "lan0")])
            },
            ErrorKind::InvalidParameter,
            "--internal macvlan networks take no -o parent",
        ),
        (
            macvlan("e", &[("parent", "lan0"), ("macvlan_mode", "loud")]),
            ErrorKind::InvalidParameter,
            "requested macvlan mode 'loud' is not valid, 'bridge' mode is the macvlan driver default",
        ),
        (
            macvlan("f", &[("parent", "lo")]),
            ErrorKind::InvalidParameter,
            "loopback interface is not a valid macvlan parent link",
        ),
        (
            NetworkCreate {
                driver: "ipvlan".to_owned(),
                ..macvlan("g", &[("parent", "lan0")])
            },
            ErrorKind::InvalidParameter,
            "CONFIG_IPVLAN",
        ),
    ];
    for (req, kind, words) in cases {
        let name = req.name.clone();
        let err = h.create_network(req).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert!(err.to_string().contains(words), "{name}: {err}");
    }
    assert_eq!(h.networks().len(), before, "nothing was made");
}

#[tokio::test]
async fn a_kernel_without_macvlan_refuses_the_driver_by_name() {
    let (host, h) = setup().await;
    host.net.lack_kernel_link(KernelLink::Macvlan);
    let err = h
        .create_network(macvlan("lan", &[("parent", "lan0")]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CONFIG_MACVLAN"), "{err}");
}

#[tokio::test]
async fn passthru_takes_a_parent_alone() {
    let (_host, h) = setup().await;
    h.create_network(macvlan("one", &[("parent", "lan0")]))
        .await
        .unwrap();
    let mut second = macvlan("two", &[("parent", "lan0"), ("macvlan_mode", "passthru")]);
    second.ipam[0].subnet = "192.168.78.0/24".into();
    second.ipam[0].gateway = "192.168.78.1".into();
    second.ipam[0].ip_range = String::new();
    let err = h.create_network(second).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot use mode passthru, macvlan network"),
        "{err}"
    );
    // Another bridge-mode network on the same parent is fine (its own subnet).
    let mut third = macvlan("three", &[("parent", "lan0")]);
    third.ipam[0].subnet = "192.168.79.0/24".into();
    third.ipam[0].gateway = "192.168.79.1".into();
    third.ipam[0].ip_range = String::new();
    h.create_network(third).await.unwrap();
}

#[tokio::test]
async fn a_broken_sub_interface_is_rebuilt_at_restart() {
    let (host, h) = setup().await;
    h.create_network(macvlan("lan", &[("parent", "lan0")]))
        .await
        .unwrap();
    h.create_container(run_req("web", "lan")).await.unwrap();
    let c = h.start_container("web").await.unwrap();
    drop(h);
    let netns = c.netns.clone().unwrap();
    use berth_core::ports::NetOps;
    host.net
        .delete_sandbox_link(&netns, &berth_types::IfName::parse("eth0").unwrap())
        .await
        .unwrap();
    let mut engine = Engine::new(Arc::clone(&host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    let eth0 = host.net.namespace(&netns).unwrap()["eth0"].clone();
    assert_eq!(eth0.master.as_deref(), Some("lan0"));
    assert_eq!(
        eth0.addresses,
        vec![c.attachments[0].endpoint.as_ref().unwrap().ipv4.unwrap()]
    );
}

/// A kernel with 802.1q and dummy links: berth makes the parent as Docker
/// does, and removes it with the network.
#[tokio::test]
async fn missing_parents_are_made_and_removed_with_the_network() {
    let (host, h) = setup().await;
    let vlan = h
        .create_network(macvlan("tagged", &[("parent", "lan0.10")]))
        .await
        .unwrap();
    let link = host.net.link("lan0.10").expect("the 802.1q link");
    assert_eq!(
        link.alias,
        Some(berth_core::ports::parent_link_alias(&vlan.id))
    );
    h.create_container(run_req("web", "tagged")).await.unwrap();
    let c = h.start_container("web").await.unwrap();
    let eth0 = host.net.namespace(c.netns.as_ref().unwrap()).unwrap()["eth0"].clone();
    assert_eq!(eth0.master.as_deref(), Some("lan0.10"));
    h.remove_container("web", true, false).await.unwrap();
    h.remove_network("tagged".into()).await.unwrap();
    assert!(
        host.net.link("lan0.10").is_none(),
        "removed with the network"
    );

    let mut bare = macvlan("bare", &[]);
    bare.ipam[0].subnet = "192.168.90.0/24".into();
    bare.ipam[0].gateway = "192.168.90.1".into();
    bare.ipam[0].ip_range = String::new();
    let n = h.create_network(bare).await.unwrap();
    assert!(n.internal, "a network without a parent is internal");
    let dummy = format!("dm-{}", n.id.short());
    assert_eq!(n.macvlan.as_ref().unwrap().parent.as_str(), dummy);
    assert!(host.net.link(&dummy).is_some());
    h.remove_network("bare".into()).await.unwrap();
    assert!(host.net.link(&dummy).is_none());

    let err = h
        .create_network(macvlan("badid", &[("parent", "lan0.5000")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vlan id must be between 1-4094, received: 5000"
    );
    let err = h
        .create_network(macvlan("nobase", &[("parent", "eth7.10")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "-o parent interface was not found on the host: eth7"
    );
}

#[tokio::test]
async fn a_parent_link_no_network_owns_is_removed_at_start() {
    let host = Arc::new(FakeHost::default());
    let gone = berth_types::NetworkId::from_bytes([7; 32]);
    host.net.add_link(
        "dm-070707070707",
        FakeLink {
            alias: Some(berth_core::ports::parent_link_alias(&gone)),
            up: true,
            ..Default::default()
        },
    );
    let mut engine = Engine::new(Arc::clone(&host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    assert!(host.net.link("dm-070707070707").is_none());
}

/// ipvlan through the same seam, for a kernel that has it (the fake's).
#[tokio::test]
async fn an_ipvlan_network_joins_its_containers_in_its_mode() {
    let (host, h) = setup().await;
    let mut req = macvlan("ip3", &[("parent", "lan0"), ("ipvlan_mode", "l3")]);
    req.driver = "ipvlan".into();
    let n = h.create_network(req).await.unwrap();
    assert_eq!(n.driver, Driver::Ipvlan);
    assert_eq!(
        n.macvlan.as_ref().unwrap().mode,
        berth_core::driver::macvlan::MacvlanMode::L3
    );
    h.create_container(run_req("web", "ip3")).await.unwrap();
    let c = h.start_container("web").await.unwrap();
    let eth0 = host.net.namespace(c.netns.as_ref().unwrap()).unwrap()["eth0"].clone();
    assert_eq!(eth0.master.as_deref(), Some("lan0"));
    assert!(host.firewall.state().unwrap().ports.is_empty());

    for (options, words) in [
        (
            vec![("parent", "lan0"), ("ipvlan_mode", "l4")],
            "requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default",
        ),
        (
            vec![("parent", "lan0"), ("ipvlan_flag", "private")],
            "ipvlan_flag 'private' is not supported by berth",
        ),
    ] {
        let mut req = macvlan("bad", &options);
        req.driver = "ipvlan".into();
        req.ipam.clear();
        let err = h.create_network(req).await.unwrap_err();
        assert!(err.to_string().contains(words), "{err}");
    }
}
