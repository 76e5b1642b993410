//! Containers and networks they share on the fake host: connect and
//! disconnect live, names scoped to shared networks, the embedded DNS.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::sync::Arc;
use std::time::Duration;

use berth_core::container::create::{ContainerCreate, EndpointRequest};
use berth_core::network::NetworkCreate;
use berth_core::{Engine, ErrorKind, WaitCondition};
use berth_testkit::engine_config;
use berth_testkit::FakeHost;

use common::*;

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
    let endpoint = h.inspect_container("c1").unwrap().attachments[1]
        .endpoint
        .clone()
        .unwrap()
        .id;
    assert_eq!(
        err.to_string(),
        format!(
            "error while removing network: network mynetwork has active endpoints (name:\"c1\" id:\"{}\")",
            endpoint.short()
        )
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
    h.stop_container("app", Some(15), Some(Duration::from_secs(5)))
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
