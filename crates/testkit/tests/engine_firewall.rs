//! Containers and the firewall on the fake host: published ports mapped,
//! refused on conflict and unmapped; networks as firewall elements; the
//! conntrack flows of a leaving endpoint forgotten.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::sync::Arc;
use std::time::Duration;

use berth_core::container::create::EndpointRequest;
use berth_core::Engine;
use berth_testkit::engine_config;
use berth_testkit::FakeHost;

use common::*;

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

    h.stop_container("web", Some(15), Some(Duration::from_secs(5)))
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

    h.stop_container("dns", Some(15), Some(Duration::from_secs(5)))
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
