//! Shared by the engine's container tests: an engine on a fake host, and
//! requests as the docker CLI makes them.
#![allow(dead_code)] // each test binary uses its own part of this

use std::path::PathBuf;
use std::sync::Arc;

use berth_core::container::create::{ContainerCreate, EndpointRequest};
use berth_core::container::Container;
use berth_core::network::{IpamInput, NetworkCreate};
use berth_core::{Engine, EngineHandle};
use berth_testkit::engine_config;
use berth_testkit::FakeHost;
use berth_types::IpNet;

pub async fn started(host: &Arc<FakeHost>) -> EngineHandle<FakeHost> {
    let mut engine = Engine::new(Arc::clone(host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    engine.spawn().0
}

pub async fn setup() -> (Arc<FakeHost>, EngineHandle<FakeHost>) {
    let host = Arc::new(FakeHost::default());
    let handle = started(&host).await;
    (host, handle)
}

pub fn run_req(name: &str, network: &str) -> ContainerCreate {
    ContainerCreate {
        name: Some(name.to_owned()),
        image: "busybox".to_owned(),
        cmd: Some(vec!["sleep".into(), "1d".into()]),
        network_mode: network.to_owned(),
        ..Default::default()
    }
}

pub fn with_ip(mut req: ContainerCreate, network: &str, ip: &str) -> ContainerCreate {
    req.endpoints.insert(
        network.to_owned(),
        EndpointRequest {
            ipv4: ip.to_owned(),
            ..Default::default()
        },
    );
    req
}

pub async fn mynetwork(h: &EngineHandle<FakeHost>) {
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

pub fn netns_of(c: &Container) -> PathBuf {
    c.netns
        .clone()
        .expect("a running container has a namespace")
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub fn publish(mut req: ContainerCreate, spec: &[(&str, &str, &str)]) -> ContainerCreate {
    for (cport, ip, hport) in spec {
        req.port_bindings
            .entry((*cport).to_owned())
            .or_default()
            .push(((*ip).to_owned(), (*hport).to_owned()));
    }
    req
}
