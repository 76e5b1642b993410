//! A container's end on the fake host: exit, stop, rm and auto-remove tear
//! down its network and release its address; exec and resize need it up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use berth_core::container::create::ContainerCreate;
use berth_core::container::{Container, StopSignal};
use berth_core::{ErrorKind, WaitCondition};

use common::*;

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
    let err = h.remove_container("svc", false, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err
        .to_string()
        .contains("container is running: stop the container before removing or force remove"));
    assert!(h
        .stop_container("svc", Some(15), Some(Duration::from_secs(5)))
        .await
        .unwrap());
    assert!(
        !h.stop_container("svc", Some(15), Some(Duration::from_secs(5)))
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
    h.remove_container("svc", true, false).await.unwrap();
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
        .stop_container("one", Some(15), Some(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(
        err.to_string().contains("database or disk is full"),
        "{err}"
    );
    let err = h.remove_container("two", true, false).await.unwrap_err();
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
    h.remove_container("two", true, false).await.unwrap();
    h.remove_container("one", false, false).await.unwrap();
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

#[tokio::test]
async fn stop_uses_the_containers_stop_signal_and_timeout() {
    let (host, h) = setup().await;
    h.create_container(ContainerCreate {
        stop_signal: Some(StopSignal {
            name: "SIGINT".to_owned(),
            number: 2,
        }),
        stop_timeout: Some(0),
        ..run_req("web", "")
    })
    .await
    .unwrap();
    let c = h.start_container("web").await.unwrap();
    assert!(h.stop_container("web", None, None).await.unwrap());
    // SIGINT does not end the fake's process: killed at once.
    assert_eq!(host.runtime.process(&c.id).unwrap().signals, vec![2, 9]);
    assert_eq!(h.inspect_container("web").unwrap().state.exit_code, 137);
    // Given with the request, the API's signal wins.
    h.start_container("web").await.unwrap();
    h.stop_container("web", Some(15), None).await.unwrap();
    assert_eq!(h.inspect_container("web").unwrap().state.exit_code, 143);
}
