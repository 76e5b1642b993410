//! `docker stats` on the fake host: a running container's reading, none
//! for one that does not run, and no host interfaces for `--network host`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use berth_core::ErrorKind;

use common::*;

#[tokio::test]
async fn a_reading_while_it_runs_and_none_before_or_after() {
    let (host, h) = setup().await;
    h.create_container(run_req("web", "")).await.unwrap();
    let (c, stats) = h.container_stats("web").await.unwrap();
    assert_eq!(c.name, "web");
    assert!(stats.is_none(), "created, not running");

    h.start_container("web").await.unwrap();
    let (_, stats) = h.container_stats("web").await.unwrap();
    let stats = stats.unwrap();
    assert_eq!(stats.pids.current, 1);
    assert!(stats.networks.contains_key("eth0"));

    host.runtime.exit(&c.id, 0);
    let (_, stats) = h.container_stats(&c.id.to_string()).await.unwrap();
    assert!(stats.is_none(), "exited");

    let err = h.container_stats("nope").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn the_hosts_interfaces_are_not_a_host_network_containers_traffic() {
    let (_host, h) = setup().await;
    h.create_container(run_req("hostnet", "host"))
        .await
        .unwrap();
    h.start_container("hostnet").await.unwrap();
    let (_, stats) = h.container_stats("hostnet").await.unwrap();
    assert!(stats.unwrap().networks.is_empty());
}
