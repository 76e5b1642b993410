//! Restart policies on the fake host: which exits bring a container back
//! (with its count), what a stop by hand cancels, and what comes back when
//! the engine starts again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::sync::Arc;
use std::time::Duration;

use berth_core::container::create::ContainerCreate;
use berth_core::container::{Container, RestartPolicy, Status};
use berth_core::{EngineHandle, ErrorKind};
use berth_testkit::FakeHost;

use common::*;

fn with_policy(name: &str, policy: &str, max_retries: i64) -> ContainerCreate {
    ContainerCreate {
        restart_policy: (policy.to_owned(), max_retries),
        ..run_req(name, "")
    }
}

/// Waits (bounded) until the container's record satisfies `done`.
async fn until(
    h: &EngineHandle<FakeHost>,
    name: &str,
    what: &str,
    done: impl Fn(&Container) -> bool,
) -> Container {
    for _ in 0..500 {
        let c = h.inspect_container(name).unwrap();
        if done(&c) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{name}: {what}: {:?}",
        h.inspect_container(name).unwrap().state
    );
}

fn running_after(restarts: u32) -> impl Fn(&Container) -> bool {
    move |c| c.is_running() && c.state.restart_count == restarts
}

#[tokio::test]
async fn on_failure_restarts_up_to_its_count_then_stays_exited() {
    let (host, h) = setup().await;
    h.create_container(with_policy("flaky", "on-failure", 2))
        .await
        .unwrap();
    let c = h.start_container("flaky").await.unwrap();
    assert_eq!(c.restart, RestartPolicy::OnFailure { max_retries: 2 });
    for restarts in 1..=2 {
        host.runtime.exit(&c.id, 1);
        until(&h, "flaky", "restarted", running_after(restarts)).await;
    }
    host.runtime.exit(&c.id, 1);
    let c = until(&h, "flaky", "given up", |c| {
        c.state.status == Status::Exited && !c.state.restarting
    })
    .await;
    assert_eq!(c.state.restart_count, 2);
    // A success ends it at once.
    h.start_container("flaky").await.unwrap();
    assert_eq!(h.inspect_container("flaky").unwrap().state.restart_count, 0);
    host.runtime.exit(&c.id, 0);
    let c = until(&h, "flaky", "exited", |c| !c.is_running()).await;
    assert!(!c.state.restarting);
}

#[tokio::test]
async fn always_restarts_any_exit_but_not_a_stop_by_hand() {
    let (host, h) = setup().await;
    h.create_container(with_policy("web", "always", 0))
        .await
        .unwrap();
    let c = h.start_container("web").await.unwrap();
    host.runtime.exit(&c.id, 0);
    until(&h, "web", "restarted", running_after(1)).await;
    // The back-off doubles: the record shows the wait before this restart.
    assert_eq!(
        h.inspect_container("web").unwrap().state.restart_delay_ms,
        100
    );

    assert!(h
        .stop_container("web", Some(15), Some(Duration::from_secs(5)))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = h.inspect_container("web").unwrap();
    assert_eq!(c.state.status, Status::Exited);
    assert!(!c.state.restarting && c.state.manually_stopped);

    // `rm -f` of a running `always` container does not race a restart.
    h.start_container("web").await.unwrap();
    h.remove_container("web", true, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.inspect_container("web").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(host.net.namespace_paths().is_empty());
}

#[tokio::test]
async fn bad_policies_are_refused_with_dockers_words() {
    let (_host, h) = setup().await;
    let err = h
        .create_container(with_policy("bad", "bogus", 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert!(err.to_string().contains("unknown policy 'bogus'"), "{err}");
    let err = h
        .create_container(ContainerCreate {
            auto_remove: true,
            ..with_policy("gone", "always", 0)
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "can't create 'AutoRemove' container with restart policy"
    );
    assert!(h
        .list_containers(true, &Default::default())
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn policies_decide_what_comes_back_when_the_engine_starts() {
    let host = Arc::new(FakeHost::default());
    let h = started(&host).await;
    for (name, policy) in [
        ("always", "always"),
        ("unless", "unless-stopped"),
        ("stopped", "unless-stopped"),
        ("never", "no"),
    ] {
        h.create_container(with_policy(name, policy, 0))
            .await
            .unwrap();
        h.start_container(name).await.unwrap();
    }
    assert!(h
        .stop_container("stopped", Some(15), Some(Duration::from_secs(5)))
        .await
        .unwrap());
    // The host goes down with berthd: every process is gone.
    let ids: Vec<_> = ["always", "unless", "never"]
        .iter()
        .map(|name| h.inspect_container(name).unwrap().id.clone())
        .collect();
    drop(h);
    for id in &ids {
        host.runtime.forget(id);
    }
    let h = started(&host).await;
    for name in ["always", "unless"] {
        until(&h, name, "back after the engine's start", running_after(0)).await;
    }
    for name in ["stopped", "never"] {
        let c = h.inspect_container(name).unwrap();
        assert!(
            !c.is_running() && !c.state.restarting,
            "{name}: {:?}",
            c.state
        );
    }
}
