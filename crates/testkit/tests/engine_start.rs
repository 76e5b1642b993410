//! Creating and starting containers on the fake host: sandboxes, endpoints,
//! addresses, Docker's refusals and rollback of a failed start, asserted on
//! the modelled kernel, store and runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeMap;

use berth_core::container::create::{ContainerCreate, EndpointRequest};
use berth_core::network::NetworkCreate;
use berth_core::{ErrorKind, WaitCondition};

use common::*;

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
