//! Start-up reconcile on the fake host: what a crash left (processes gone,
//! broken endpoints, a cut disconnect) is repaired.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use berth_core::container::create::EndpointRequest;
use berth_core::container::Container;
use berth_core::ports::{EtcFiles, NetOps, Runtime, RuntimeStatus};
use berth_core::WaitCondition;
use berth_testkit::FakeHost;

use common::*;

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
