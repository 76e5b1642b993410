//! Container use cases on the fake host: sandboxes, endpoints, addresses,
//! rollback, exit handling and reconcile, asserted on the modelled kernel,
//! store and runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_core::container::create::{ContainerCreate, EndpointRequest};
use berth_core::container::Container;
use berth_core::network::{IpamInput, NetworkCreate};
use berth_core::ports::{EtcFiles, NetOps, Runtime, RuntimeStatus};
use berth_core::{Engine, EngineHandle, ErrorKind, WaitCondition};
use berth_testkit::engine_config;
use berth_testkit::FakeHost;
use berth_types::IpNet;

async fn started(host: &Arc<FakeHost>) -> EngineHandle<FakeHost> {
    let mut engine = Engine::new(Arc::clone(host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    engine.spawn().0
}

async fn setup() -> (Arc<FakeHost>, EngineHandle<FakeHost>) {
    let host = Arc::new(FakeHost::default());
    let handle = started(&host).await;
    (host, handle)
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

fn with_ip(mut req: ContainerCreate, network: &str, ip: &str) -> ContainerCreate {
    req.endpoints.insert(
        network.to_owned(),
        EndpointRequest {
            ipv4: ip.to_owned(),
            ..Default::default()
        },
    );
    req
}

async fn mynetwork(h: &EngineHandle<FakeHost>) {
    h.create_network(NetworkCreate {
        name: "mynetwork".into(),
        ipam: vec![IpamInput {
            subnet: "192.168.100.0/24".into(),
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .unwrap();
}

fn netns_of(c: &Container) -> PathBuf {
    c.netns
        .clone()
        .expect("a running container has a namespace")
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[tokio::test]
async fn default_bridge_container_gets_veth_address_mac_route() {
    let (host, h) = setup().await;
    h.create_container(run_req("web", "")).await.unwrap();
    let c = h.start_container("web").await.unwrap();
    assert!(c.is_running());
    let ns = host.net.namespace(&netns_of(&c)).unwrap();
    let eth0 = &ns["eth0"];
    assert_eq!(eth0.addresses, vec![net("172.17.0.2/16")]);
    assert_eq!(eth0.mac.unwrap().to_string(), "02:42:ac:11:00:02");
    assert_eq!(
        eth0.gateways,
        vec!["172.17.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(ns["lo"].up);
    let endpoint = c.attachments[0].endpoint.as_ref().unwrap();
    let veth = host
        .net
        .link(endpoint.host_ifname.as_ref().unwrap().as_str())
        .unwrap();
    assert!(
        endpoint
            .host_ifname
            .as_ref()
            .unwrap()
            .as_str()
            .starts_with("veth")
            && endpoint.host_ifname.as_ref().unwrap().as_str().len() == 11
    );
    assert_eq!(veth.master.as_deref(), Some("berth0"));
    let process = host.runtime.process(&c.id).unwrap();
    assert_eq!(process.spec.process.args, vec!["sleep", "1d"]);
    assert!(process.etc.resolv_conf.contains("nameserver 10.0.0.2"));
    assert!(process
        .etc
        .hosts
        .contains(&format!("172.17.0.2\t{}", c.short_id())));

    // A second container gets the next address.
    h.create_container(run_req("web2", "bridge")).await.unwrap();
    let c2 = h.start_container("web2").await.unwrap();
    assert_eq!(
        c2.attachments[0].endpoint.as_ref().unwrap().ipv4,
        Some(net("172.17.0.3/16"))
    );
}

#[tokio::test]
async fn seed_fixed_ip_on_user_network_and_container_mode() {
    let (host, h) = setup().await;
    mynetwork(&h).await;
    h.create_container(with_ip(
        run_req("test2", "mynetwork"),
        "mynetwork",
        "192.168.100.10",
    ))
    .await
    .unwrap();
    let c = h.start_container("test2").await.unwrap();
    let ns = host.net.namespace(&netns_of(&c)).unwrap();
    assert_eq!(ns["eth0"].addresses, vec![net("192.168.100.10/24")]);
    assert_eq!(ns["eth0"].mac.unwrap().to_string(), "02:42:c0:a8:64:0a");
    let process = host.runtime.process(&c.id).unwrap();
    assert!(process.etc.resolv_conf.contains("nameserver 127.0.0.11"));

    h.create_container(run_req("test3", "container:test2"))
        .await
        .unwrap();
    let joined = h.start_container("test3").await.unwrap();
    let spec = host.runtime.process(&joined.id).unwrap().spec;
    assert_eq!(spec.netns, berth_core::ports::NetnsRef::Path(netns_of(&c)));
    assert!(joined.netns.is_none(), "a joiner owns no namespace");
}

#[tokio::test]
async fn refusals_at_create() {
    let (_host, h) = setup().await;
    mynetwork(&h).await;
    let cases = [
        (
            with_ip(run_req("a1", ""), "bridge", "172.17.0.9"),
            ErrorKind::InvalidParameter,
            "user specified IP address is supported on user defined networks only",
        ),
        (
            with_ip(run_req("a2", "mynetwork"), "mynetwork", "10.9.9.9"),
            ErrorKind::InvalidParameter,
            "10.9.9.9",
        ),
        (
            run_req("a3", "nosuchnet"),
            ErrorKind::NotFound,
            "network nosuchnet not found",
        ),
        (
            run_req("-bad", ""),
            ErrorKind::InvalidParameter,
            "Invalid container name",
        ),
        (
            ContainerCreate {
                image: "nosuchimage".into(),
                ..run_req("a4", "")
            },
            ErrorKind::NotFound,
            "No such image: nosuchimage:latest",
        ),
        (
            run_req("a5", "container:ghost"),
            ErrorKind::NotFound,
            "No such container: ghost",
        ),
    ];
    for (req, kind, text) in cases {
        let err = h.create_container(req).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(text), "{err}");
    }
    h.create_container(run_req("dup", "")).await.unwrap();
    let err = h.create_container(run_req("dup", "")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string()
            .starts_with("Conflict. The container name \"/dup\" is already in use"),
        "{err}"
    );

    h.create_container(run_req("target", "")).await.unwrap();
    for (mutate, text) in [
        (
            Box::new(|r: &mut ContainerCreate| r.hostname = "h".into())
                as Box<dyn Fn(&mut ContainerCreate)>,
            "conflicting options: hostname and the network mode",
        ),
        (
            Box::new(|r: &mut ContainerCreate| r.dns = vec!["1.1.1.1".into()]),
            "conflicting options: dns and the network mode",
        ),
        (
            Box::new(|r: &mut ContainerCreate| r.mac_address = "02:42:00:00:00:01".into()),
            "conflicting options: mac-address and the network mode",
        ),
        (
            Box::new(|r: &mut ContainerCreate| {
                r.port_bindings = BTreeMap::from([(
                    "80/tcp".to_owned(),
                    vec![(String::new(), "8080".to_owned())],
                )]);
            }),
            "conflicting options: port publishing and the container type network mode",
        ),
    ] {
        let mut req = run_req("joiner", "container:target");
        mutate(&mut req);
        let err = h.create_container(req).await.unwrap_err();
        assert_eq!(err.to_string(), text);
    }
}

#[tokio::test]
async fn address_in_use_at_start_leaks_nothing() {
    let (host, h) = setup().await;
    mynetwork(&h).await;
    h.create_container(with_ip(
        run_req("one", "mynetwork"),
        "mynetwork",
        "192.168.100.10",
    ))
    .await
    .unwrap();
    h.create_container(with_ip(
        run_req("two", "mynetwork"),
        "mynetwork",
        "192.168.100.10",
    ))
    .await
    .unwrap();
    h.start_container("one").await.unwrap();
    let links_before = host.net.link_names();
    let err = h.start_container("two").await.unwrap_err();
    assert_eq!(err.to_string(), "Address already in use");
    assert_eq!(host.net.link_names(), links_before);
    let two = h.inspect_container("two").unwrap();
    assert!(!two.is_running() && two.netns.is_none() && two.attachments[0].endpoint.is_none());
    assert_eq!(host.net.namespace_paths().len(), 1);
    assert_eq!(host.store.endpoints().len(), 1);
}

#[tokio::test]
async fn failures_mid_start_roll_back() {
    let (host, h) = setup().await;
    h.create_container(run_req("c1", "")).await.unwrap();
    host.net.refuse_next_endpoint();
    assert_eq!(
        h.start_container("c1").await.unwrap_err().kind(),
        ErrorKind::Internal
    );
    assert!(host.net.namespace_paths().is_empty());
    assert!(host.store.endpoints().is_empty());

    host.runtime
        .fail_next_start("exec: \"nope\": executable file not found in $PATH");
    let err = h.start_container("c1").await.unwrap_err();
    assert!(
        err.to_string().contains("executable file not found"),
        "{err}"
    );
    // The container's own doing: Docker's 400, and a shell's 127.
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert_eq!(h.inspect_container("c1").unwrap().state.exit_code, 127);
    assert!(host.net.namespace_paths().is_empty());
    assert!(host.store.endpoints().is_empty());
    assert_eq!(host.net.link_names(), vec!["berth0"]);
    let c = h.inspect_container("c1").unwrap();
    assert!(!c.is_running() && !c.state.starting);
    // And it starts fine afterwards.
    assert!(h.start_container("c1").await.unwrap().is_running());
}

#[tokio::test]
async fn a_failed_start_removes_an_auto_remove_container() {
    let (host, h) = setup().await;
    h.create_container(ContainerCreate {
        auto_remove: true,
        ..run_req("tmp", "")
    })
    .await
    .unwrap();
    // `docker run --rm` waits for the removal before it starts.
    let removed = h.wait_container("tmp", WaitCondition::Removed).unwrap();
    host.runtime
        .fail_next_start("exec: \"nope\": executable file not found in $PATH");
    let err = h.start_container("tmp").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    removed.await.unwrap();
    assert_eq!(
        h.inspect_container("tmp").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(host.store.endpoints().is_empty());

    // A failure making the network removes it too.
    h.create_container(ContainerCreate {
        auto_remove: true,
        ..run_req("tmp2", "")
    })
    .await
    .unwrap();
    host.net.refuse_next_endpoint();
    assert_eq!(
        h.start_container("tmp2").await.unwrap_err().kind(),
        ErrorKind::Internal
    );
    assert_eq!(
        h.inspect_container("tmp2").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn fixed_addresses_need_a_subnet_the_user_configured() {
    let (_host, h) = setup().await;
    h.create_network(NetworkCreate {
        name: "auto".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let subnet = h.inspect_network("auto").unwrap().subnets[0].subnet;
    let ip = subnet.hosts().nth(5).unwrap().to_string();
    let words = "user specified IP address is supported only when connecting to networks with user configured subnets";
    let err = h
        .create_container(with_ip(run_req("c1", "auto"), "auto", &ip))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert!(err.to_string().contains(words), "{err}");

    h.create_container(run_req("c2", "")).await.unwrap();
    let err = h
        .connect(
            "auto".into(),
            "c2".into(),
            EndpointRequest {
                ipv4: ip,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains(words), "{err}");

    // A host-mode container joins no network: Docker's 400.
    h.create_container(run_req("onhost", "host")).await.unwrap();
    let err = h
        .connect("auto".into(), "onhost".into(), EndpointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
}

#[tokio::test]
async fn exit_tears_down_and_releases_the_address() {
    let (host, h) = setup().await;
    h.create_container(run_req("c1", "")).await.unwrap();
    let c = h.start_container("c1").await.unwrap();
    let waiter = {
        let h = h.clone();
        tokio::spawn(async move {
            h.wait_container("c1", WaitCondition::NextExit)
                .unwrap()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    host.runtime.exit(&c.id, 3);
    assert_eq!(waiter.await.unwrap().unwrap(), 3);
    let after = h.inspect_container("c1").unwrap();
    assert_eq!(after.state.exit_code, 3);
    assert!(after.netns.is_none());
    assert!(host.net.namespace_paths().is_empty());
    assert_eq!(host.net.link_names(), vec!["berth0"]);
    assert!(host
        .store
        .allocated_addresses(&after.attachments[0].network)
        .is_empty());
    assert_eq!(
        h.wait_container("c1", WaitCondition::NotRunning)
            .unwrap()
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn auto_remove_and_stop_and_rm() {
    let (host, h) = setup().await;
    h.create_container(ContainerCreate {
        auto_remove: true,
        ..run_req("tmp", "")
    })
    .await
    .unwrap();
    let c = h.start_container("tmp").await.unwrap();
    host.runtime.exit(&c.id, 0);
    h.wait_container("tmp", WaitCondition::Removed)
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        h.inspect_container("tmp").unwrap_err().kind(),
        ErrorKind::NotFound
    );

    h.create_container(run_req("svc", "")).await.unwrap();
    h.start_container("svc").await.unwrap();
    let err = h.remove_container("svc", false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err
        .to_string()
        .contains("container is running: stop the container before removing or force remove"));
    assert!(h
        .stop_container("svc", 15, Duration::from_secs(5))
        .await
        .unwrap());
    assert!(
        !h.stop_container("svc", 15, Duration::from_secs(5))
            .await
            .unwrap(),
        "already stopped"
    );
    assert_eq!(h.inspect_container("svc").unwrap().state.exit_code, 143);
    let err = h.kill_container("svc", 9).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // The API prefixes "cannot kill container: svc: ", as dockerd's router.
    let id = h.inspect_container("svc").unwrap().id;
    assert_eq!(err.to_string(), format!("container {id} is not running"));
    h.start_container("svc").await.unwrap();
    h.remove_container("svc", true).await.unwrap();
    assert!(host.net.namespace_paths().is_empty());
    assert_eq!(host.net.link_names(), vec!["berth0"]);
    assert!(host.store.endpoints().is_empty());
}

#[tokio::test]
async fn an_exit_the_store_refuses_answers_with_the_cause_and_is_recorded_later() {
    let (host, h) = setup().await;
    for name in ["one", "two", "tmp"] {
        h.create_container(ContainerCreate {
            auto_remove: name == "tmp",
            ..run_req(name, "")
        })
        .await
        .unwrap();
        h.start_container(name).await.unwrap();
    }
    let removed = h.wait_container("tmp", WaitCondition::Removed).unwrap();
    host.store.set_full(true);
    let err = h
        .stop_container("one", 15, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(
        err.to_string().contains("database or disk is full"),
        "{err}"
    );
    let err = h.remove_container("two", true).await.unwrap_err();
    assert!(err.to_string().contains("could not record"), "{err}");
    let tmp = h.inspect_container("tmp").unwrap();
    host.runtime.exit(&tmp.id, 0);
    assert!(removed
        .await
        .unwrap_err()
        .to_string()
        .contains("disk is full"));
    // The kernel side is gone already; the records follow once the store
    // takes writes again, without anyone asking.
    host.store.set_full(false);
    for name in ["one", "two"] {
        h.wait_container(name, WaitCondition::NotRunning)
            .unwrap()
            .await
            .unwrap();
    }
    h.remove_container("two", true).await.unwrap();
    h.remove_container("one", false).await.unwrap();
    while h.inspect_container("tmp").is_ok() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(host.net.namespace_paths().is_empty());
    assert_eq!(host.net.link_names(), vec!["berth0"]);
    assert!(host.store.endpoints().is_empty());
}

#[tokio::test]
async fn a_released_address_is_the_next_one_given() {
    let (host, h) = setup().await;
    let ip = |c: &Container| c.attachments[0].endpoint.as_ref().unwrap().ipv4.unwrap();
    for name in ["c1", "c2", "c3"] {
        h.create_container(run_req(name, "")).await.unwrap();
    }
    let c1 = h.start_container("c1").await.unwrap();
    let c2 = h.start_container("c2").await.unwrap();
    assert_eq!(ip(&c1), net("172.17.0.2/16"));
    assert_eq!(ip(&c2), net("172.17.0.3/16"));
    host.runtime.exit(&c1.id, 0);
    while h.inspect_container("c1").unwrap().is_running() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let c3 = h.start_container("c3").await.unwrap();
    assert_eq!(ip(&c3), net("172.17.0.2/16"), "the lowest free address");
    let c1 = h.start_container("c1").await.unwrap();
    assert_eq!(ip(&c1), net("172.17.0.4/16"));
}

#[tokio::test]
async fn connect_and_disconnect_live() {
    let (host, h) = setup().await;
    mynetwork(&h).await;
    h.create_container(run_req("c1", "")).await.unwrap();
    let c = h.start_container("c1").await.unwrap();
    h.connect(
        "mynetwork".into(),
        "c1".into(),
        EndpointRequest {
            ipv4: "192.168.100.50".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ns = host.net.namespace(&netns_of(&c)).unwrap();
    assert_eq!(ns["eth1"].addresses, vec![net("192.168.100.50/24")]);
    assert!(
        ns["eth1"].gateways.is_empty(),
        "only the first network gives the default route"
    );
    let err = h.remove_network("mynetwork".into()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "error while removing network: network mynetwork has active endpoints"
    );
    let err = h
        .connect("mynetwork".into(), "c1".into(), EndpointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);

    h.disconnect("mynetwork".into(), "c1".into()).await.unwrap();
    let ns = host.net.namespace(&netns_of(&c)).unwrap();
    assert!(!ns.contains_key("eth1"));
    h.remove_network("mynetwork".into()).await.unwrap();
}

#[tokio::test]
async fn reconcile_repairs_what_a_crash_left() {
    let host = Arc::new(FakeHost::default());
    let h = started(&host).await;
    for name in ["alive", "died", "halfway"] {
        h.create_container(run_req(name, "")).await.unwrap();
        h.start_container(name).await.unwrap();
    }
    let died = h.inspect_container("died").unwrap();
    let mut halfway = h.inspect_container("halfway").unwrap();
    drop(h);
    // "died" exited while berthd was down; "halfway" was cut short between
    // the network work and the runtime start.
    host.runtime.exit(&died.id, 7);
    host.runtime.forget(&halfway.id);
    halfway.state.status = berth_core::container::Status::Created;
    halfway.state.starting = true;
    host.store.update_container(&halfway).unwrap();
    host.net
        .add_namespace(&PathBuf::from("/run/berth/netns/stray"));

    let h = started(&host).await;
    let alive = h.inspect_container("alive").unwrap();
    assert!(alive.is_running());
    assert!(matches!(
        host.runtime.process(&alive.id).unwrap().status,
        RuntimeStatus::Running { .. }
    ));
    let died = h.inspect_container("died").unwrap();
    assert_eq!((died.state.exit_code, died.netns.is_none()), (7, true));
    let halfway = h.inspect_container("halfway").unwrap();
    assert!(!halfway.is_running() && !halfway.state.starting && halfway.netns.is_none());
    assert_eq!(host.net.namespace_paths(), vec![netns_of(&alive)]);
    assert_eq!(host.store.endpoints().len(), 1);
    let veths: Vec<String> = host
        .net
        .link_names()
        .into_iter()
        .filter(|l| l.starts_with("veth"))
        .collect();
    assert_eq!(
        veths,
        vec![alive.attachments[0]
            .endpoint
            .as_ref()
            .unwrap()
            .host_ifname
            .as_ref()
            .unwrap()
            .to_string()]
    );
    // The restarted engine watches the survivor again.
    host.runtime.exit(&alive.id, 0);
    h.wait_container("alive", WaitCondition::NotRunning)
        .unwrap()
        .await
        .unwrap();
    assert!(host.net.namespace_paths().is_empty());
}

fn host_end(c: &Container, index: usize) -> String {
    c.attachments[index]
        .endpoint
        .as_ref()
        .unwrap()
        .host_ifname
        .as_ref()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn reconcile_rebuilds_broken_endpoints_and_finishes_a_cut_disconnect() {
    let host = Arc::new(FakeHost::default());
    let h = started(&host).await;
    mynetwork(&h).await;
    let bridge = h.inspect_network("mynetwork").unwrap().bridge.unwrap().name;
    h.create_container(run_req("lost", "")).await.unwrap();
    h.create_container(run_req("bridged", "mynetwork"))
        .await
        .unwrap();
    h.create_container(run_req("half", "")).await.unwrap();
    h.create_container(run_req("left", "")).await.unwrap();
    for name in ["lost", "bridged", "half", "left"] {
        h.start_container(name).await.unwrap();
    }
    for name in ["half", "left"] {
        h.connect("mynetwork".into(), name.into(), EndpointRequest::default())
            .await
            .unwrap();
    }
    let [lost, bridged, half, left] =
        ["lost", "bridged", "half", "left"].map(|n| h.inspect_container(n).unwrap());
    drop(h);
    // Behind berthd's back: a veth deleted, a bridge deleted (its ports
    // stay, released); a crash left a connect's veth down without its
    // alias, and a disconnect recorded but its veth still there.
    host.net
        .delete_link(
            lost.attachments[0]
                .endpoint
                .as_ref()
                .unwrap()
                .host_ifname
                .as_ref()
                .unwrap(),
        )
        .await
        .unwrap();
    host.net.delete_link(&bridge).await.unwrap();
    let mut link = host.net.link(&host_end(&half, 1)).unwrap();
    link.up = false;
    link.alias = None;
    host.net.add_link(&host_end(&half, 1), link);
    let mut cut_connect = half.clone();
    cut_connect.state.networks_changing = true;
    host.store.update_container(&cut_connect).unwrap();
    host.runtime
        .write_etc(&half.id, &EtcFiles::default())
        .await
        .unwrap();
    let mut cut = left.clone();
    cut.attachments.pop();
    host.store.update_container(&cut).unwrap();

    let h = started(&host).await;
    let lost_veth = host.net.link(&host_end(&lost, 0)).expect("rebuilt");
    assert_eq!(lost_veth.master.as_deref(), Some("berth0"));
    assert!(lost_veth.up && lost_veth.alias.is_some());
    let ns = host.net.namespace(&netns_of(&lost)).unwrap();
    assert_eq!(ns["eth0"].addresses, vec![net("172.17.0.2/16")]);
    assert_eq!(
        ns["eth0"].gateways,
        vec!["172.17.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        host.net
            .link(&host_end(&bridged, 0))
            .unwrap()
            .master
            .as_deref(),
        Some(bridge.as_str())
    );
    let half_veth = host.net.link(&host_end(&half, 1)).unwrap();
    assert!(half_veth.up && half_veth.alias.is_some());
    assert_eq!(half_veth.master.as_deref(), Some(bridge.as_str()));
    let ns = host.net.namespace(&netns_of(&half)).unwrap();
    assert!(
        ns["eth1"].gateways.is_empty(),
        "the default route stays on eth0"
    );
    assert!(ns["eth0"].up && ns["eth1"].up);
    // The cut connect is finished: /etc files as after a connect.
    let etc = host.runtime.process(&half.id).unwrap().etc;
    assert!(etc.resolv_conf.contains("nameserver 127.0.0.11"), "{etc:?}");
    assert!(!h.inspect_container("half").unwrap().state.networks_changing);
    // The cut disconnect is finished: no veth, no record, no sandbox end.
    assert!(host.net.link(&host_end(&left, 1)).is_none());
    assert!(!host
        .net
        .namespace(&netns_of(&left))
        .unwrap()
        .contains_key("eth1"));
    let endpoints = host.store.endpoints();
    assert_eq!(endpoints.len(), 5, "{endpoints:?}");
    assert!(endpoints
        .iter()
        .all(|e| e.container != left.id || e.endpoint.ifname.as_str() == "eth0"));
    assert_eq!(h.inspect_container("left").unwrap().attachments.len(), 1);
}

#[tokio::test]
async fn names_are_scoped_to_shared_networks_and_follow_changes() {
    use berth_core::ports::NameLookup;
    let host = Arc::new(FakeHost::default());
    let mut engine = Engine::new(Arc::clone(&host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    let names = engine.names();
    let h = engine.spawn().0;
    mynetwork(&h).await;
    h.create_network(NetworkCreate {
        name: "other".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut db = run_req("db", "mynetwork");
    db.endpoints.insert(
        "mynetwork".into(),
        EndpointRequest {
            aliases: vec!["Database".into()],
            ..Default::default()
        },
    );
    h.create_container(db).await.unwrap();
    h.create_container(run_req("app", "mynetwork"))
        .await
        .unwrap();
    h.create_container(run_req("stranger", "other"))
        .await
        .unwrap();
    h.create_container(run_req("plain", "")).await.unwrap();
    let db = h.start_container("db").await.unwrap();
    let app = h.start_container("app").await.unwrap();
    let stranger = h.start_container("stranger").await.unwrap();
    let plain = h.start_container("plain").await.unwrap();
    let db_ip = db.attachments[0]
        .endpoint
        .as_ref()
        .unwrap()
        .ipv4
        .unwrap()
        .addr();

    for name in ["db", "DB.", "database", db.short_id()] {
        assert_eq!(names.resolve(&app.id, name), Some(vec![db_ip]), "{name}");
    }
    assert_eq!(
        names.reverse(&app.id, db_ip).as_deref(),
        Some("db.mynetwork")
    );
    assert_eq!(names.resolve(&app.id, "db.mynetwork"), Some(vec![db_ip]));
    assert_eq!(
        names.resolve(&stranger.id, "db"),
        None,
        "not on a shared network"
    );
    assert_eq!(
        names.resolve(&plain.id, "db"),
        None,
        "the default bridge has no embedded DNS"
    );

    h.connect(
        "mynetwork".into(),
        "stranger".into(),
        EndpointRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(names.resolve(&stranger.id, "db"), Some(vec![db_ip]));
    h.disconnect("mynetwork".into(), "stranger".into())
        .await
        .unwrap();
    assert_eq!(names.resolve(&stranger.id, "db"), None);

    host.runtime.exit(&db.id, 0);
    h.wait_container("db", WaitCondition::NotRunning)
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        names.resolve(&app.id, "db"),
        None,
        "a stopped container is no longer answered"
    );
}

fn publish(mut req: ContainerCreate, spec: &[(&str, &str, &str)]) -> ContainerCreate {
    for (cport, ip, hport) in spec {
        req.port_bindings
            .entry((*cport).to_owned())
            .or_default()
            .push(((*ip).to_owned(), (*hport).to_owned()));
    }
    req
}

#[tokio::test]
async fn published_ports_map_conflict_and_unmap() {
    use berth_core::container::Proto;
    let (host, h) = setup().await;
    let state = || host.firewall.state().expect("berth's tables exist");
    assert_eq!(state().networks.len(), 1, "the default bridge");
    assert_eq!(
        host.net
            .sysctl("net/ipv4/conf/berth0/route_localnet")
            .as_deref(),
        Some("1")
    );

    h.create_container(publish(run_req("web", ""), &[("80/tcp", "", "8080")]))
        .await
        .unwrap();
    let web = h.start_container("web").await.unwrap();
    assert_eq!(web.published.len(), 1);
    let ports = state().ports;
    assert_eq!(ports.len(), 1);
    assert_eq!(
        (
            ports[0].host_ports,
            ports[0].container_ports,
            ports[0].proto
        ),
        ((8080, 8080), (80, 80), Proto::Tcp)
    );
    assert_eq!(
        ports[0].container_ip,
        "172.17.0.2".parse::<std::net::IpAddr>().unwrap()
    );

    // The same host port again: Docker's words, nothing made.
    h.create_container(publish(run_req("web2", ""), &[("80/tcp", "", "8080")]))
        .await
        .unwrap();
    let links = host.net.link_names();
    let err = h.start_container("web2").await.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "failed to set up container networking: driver failed programming external connectivity on endpoint web2 ("
        ) && err.ends_with("): Bind for 0.0.0.0:8080 failed: port is already allocated"),
        "{err}"
    );
    assert_eq!(host.net.link_names(), links);
    assert_eq!(state().ports.len(), 1);
    assert_eq!(host.net.namespace_paths().len(), 1);

    // A port a host process holds is refused too.
    host.net.bind_port(Proto::Tcp, 9090);
    h.create_container(publish(run_req("web3", ""), &[("80/tcp", "", "9090")]))
        .await
        .unwrap();
    let err = h.start_container("web3").await.unwrap_err().to_string();
    assert!(
        err.ends_with(
            "failed to bind host port for 0.0.0.0:9090:172.17.0.3:80/tcp: address already in use"
        ),
        "{err}"
    );

    // A 1,000-port range is one element and one transaction.
    let range: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("{}/tcp", 20000 + i), format!("{}", 20000 + i)))
        .collect();
    let spec: Vec<(&str, &str, &str)> = range
        .iter()
        .map(|(c, hp)| (c.as_str(), "", hp.as_str()))
        .collect();
    h.create_container(publish(run_req("ranged", ""), &spec))
        .await
        .unwrap();
    let before = host
        .firewall
        .transactions
        .load(std::sync::atomic::Ordering::Relaxed);
    h.start_container("ranged").await.unwrap();
    let after = host
        .firewall
        .transactions
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 1);
    assert!(state().ports.iter().any(|p| p.host_ports == (20000, 20999)));

    h.stop_container("web", 15, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!state().ports.iter().any(|p| p.host_ports == (8080, 8080)));
    assert!(h.inspect_container("web").unwrap().published.is_empty());
    // Now the port is free for web2.
    h.start_container("web2").await.unwrap();
}

#[tokio::test]
async fn networks_are_firewall_elements_and_a_flush_is_repaired() {
    let host = Arc::new(FakeHost::default());
    let mut engine = Engine::new(Arc::clone(&host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    let h = engine.spawn().0;
    mynetwork(&h).await;
    assert_eq!(host.firewall.state().unwrap().networks.len(), 2);
    h.remove_network("mynetwork".into()).await.unwrap();
    assert_eq!(host.firewall.state().unwrap().networks.len(), 1);

    mynetwork(&h).await;
    host.firewall.flush();
    let mut engine = Engine::new(Arc::clone(&host), engine_config()).unwrap();
    assert!(engine.repair_firewall().await.unwrap());
    assert_eq!(host.firewall.state().unwrap().networks.len(), 2);
    assert!(
        !engine.repair_firewall().await.unwrap(),
        "nothing to repair"
    );
    // A deleted element is drift too, not only vanished tables.
    host.firewall.tamper(|s| drop(s.networks.pop()));
    assert!(engine.repair_firewall().await.unwrap());
    assert_eq!(host.firewall.state().unwrap().networks.len(), 2);
    engine.reconcile().await.unwrap();

    // With --iptables=false the tables are left alone entirely.
    let quiet = Arc::new(FakeHost::default());
    let mut cfg = engine_config();
    cfg.firewall = false;
    let mut engine = Engine::new(Arc::clone(&quiet), cfg).unwrap();
    engine.reconcile().await.unwrap();
    assert!(quiet.firewall.state().is_none());
}

#[tokio::test]
async fn embedded_dns_runs_in_user_network_sandboxes_only() {
    use berth_core::ports::DnsUpstreams;
    let (host, h) = setup().await;
    mynetwork(&h).await;
    h.create_network(NetworkCreate {
        name: "sealed".into(),
        internal: true,
        ..Default::default()
    })
    .await
    .unwrap();
    h.create_container(run_req("plain", "")).await.unwrap();
    h.create_container(run_req("app", "mynetwork"))
        .await
        .unwrap();
    h.create_container(ContainerCreate {
        dns: vec!["10.9.9.9".into()],
        ..run_req("custom", "mynetwork")
    })
    .await
    .unwrap();
    h.create_container(run_req("inside", "sealed"))
        .await
        .unwrap();
    let plain = h.start_container("plain").await.unwrap();
    let app = h.start_container("app").await.unwrap();
    let custom = h.start_container("custom").await.unwrap();
    let inside = h.start_container("inside").await.unwrap();
    assert!(host.dns.serving(&plain.id).is_none());
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(
        host.dns.serving(&app.id).unwrap(),
        (netns_of(&app), DnsUpstreams::Host(vec![ip("10.0.0.2")]))
    );
    assert_eq!(
        host.dns.serving(&custom.id).unwrap().1,
        DnsUpstreams::Container(vec![ip("10.9.9.9")])
    );
    assert_eq!(host.dns.serving(&inside.id).unwrap().1, DnsUpstreams::None);
    h.stop_container("app", 15, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(host.dns.serving(&app.id).is_none());
}

#[tokio::test]
async fn joining_a_user_network_brings_the_embedded_dns() {
    let (host, h) = setup().await;
    mynetwork(&h).await;
    h.create_container(run_req("plain", "")).await.unwrap();
    let c = h.start_container("plain").await.unwrap();
    assert!(host.dns.serving(&c.id).is_none());
    h.connect(
        "mynetwork".into(),
        "plain".into(),
        EndpointRequest::default(),
    )
    .await
    .unwrap();
    assert!(host.dns.serving(&c.id).is_some());
    let etc = host.runtime.process(&c.id).unwrap().etc;
    assert!(
        etc.resolv_conf.contains("nameserver 127.0.0.11"),
        "{}",
        etc.resolv_conf
    );
    assert!(etc.hosts.contains("192.168.100."), "{}", etc.hosts);
    h.disconnect("mynetwork".into(), "plain".into())
        .await
        .unwrap();
    assert!(host.dns.serving(&c.id).is_none());
    let etc = host.runtime.process(&c.id).unwrap().etc;
    assert!(
        etc.resolv_conf.contains("nameserver 10.0.0.2"),
        "{}",
        etc.resolv_conf
    );
}

#[tokio::test]
async fn flows_of_an_endpoint_and_of_udp_host_ports_are_forgotten() {
    use berth_core::ports::FlowMatch;
    let (host, h) = setup().await;
    let req = publish(
        run_req("dns", ""),
        &[("53/udp", "", "5353"), ("80/tcp", "", "8080")],
    );
    h.create_container(req).await.unwrap();
    let c = h.start_container("dns").await.unwrap();
    let ip = c.attachments[0]
        .endpoint
        .as_ref()
        .unwrap()
        .ipv4
        .unwrap()
        .addr();
    let udp = FlowMatch::DestPort {
        proto: berth_core::container::Proto::Udp,
        ports: (5353, 5353),
    };
    // Before the process runs: the endpoint's address and, once mapped,
    // the UDP host port (not the TCP one, as Docker: a TCP flow does not
    // outlive its peer's reset).
    assert_eq!(
        host.net.forgotten_flows(),
        vec![vec![FlowMatch::Address(ip), udp]]
    );

    h.stop_container("dns", 15, Duration::from_secs(5))
        .await
        .unwrap();
    // On leave too: once the stop has answered, in a pass of its own.
    for _ in 0..100 {
        if host.net.forgotten_flows().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        host.net.forgotten_flows().last(),
        Some(&vec![FlowMatch::Address(ip)]),
        "on leave too"
    );
    // Started again at the same address on the same network: the address
    // is clean, only the UDP port is cleaned when mapped.
    let again = h.start_container("dns").await.unwrap();
    assert_eq!(
        again.attachments[0]
            .endpoint
            .as_ref()
            .unwrap()
            .ipv4
            .unwrap()
            .addr(),
        ip
    );
    assert_eq!(host.net.forgotten_flows().last(), Some(&vec![udp]));

    // Connecting a running container: at once.
    mynetwork(&h).await;
    h.create_container(run_req("joiner", "")).await.unwrap();
    h.start_container("joiner").await.unwrap();
    h.connect(
        "mynetwork".into(),
        "joiner".into(),
        EndpointRequest::default(),
    )
    .await
    .unwrap();
    let joiner = h.inspect_container("joiner").unwrap();
    let endpoint = joiner.attachments[1].endpoint.as_ref().unwrap();
    assert_eq!(
        host.net.forgotten_flows().last(),
        Some(&vec![FlowMatch::Address(endpoint.ipv4.unwrap().addr())])
    );
}

#[tokio::test]
async fn exec_and_resize_need_the_process_up() {
    let (_host, h) = setup().await;
    let c = h.create_container(run_req("idle", "")).await.unwrap();
    let not_running = format!("container {} is not running", c.id);
    for err in [
        h.running_container("idle").unwrap_err(),
        h.resizable_container("idle").unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(err.to_string(), not_running);
    }
    assert_eq!(
        h.running_container("nosuch").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    h.start_container("idle").await.unwrap();
    assert_eq!(h.running_container("idle").unwrap().id, c.id);
    assert_eq!(h.resizable_container("idle").unwrap().id, c.id);
}
