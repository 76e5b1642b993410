//! A running container on the fake host: pause and unpause with Docker's
//! refusals, rename, and its healthcheck's probes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use berth_core::container::create::ContainerCreate;
use berth_core::container::{HealthStatus, HealthcheckRequest};
use berth_core::ErrorKind;

use common::*;

#[tokio::test]
async fn pause_and_unpause_with_dockers_refusals() {
    let (host, h) = setup().await;
    h.create_container(run_req("web", "")).await.unwrap();
    let err = h.pause_container("web").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().ends_with("is not running"), "{err}");

    let c = h.start_container("web").await.unwrap();
    h.pause_container("web").await.unwrap();
    assert!(host.runtime.process(&c.id).unwrap().paused);
    assert!(h.inspect_container("web").unwrap().state.paused);
    let err = h.pause_container("web").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("container {} is already paused", c.id)
    );
    let err = h.exec_target("web").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        )
    );

    h.unpause_container("web").await.unwrap();
    assert!(!host.runtime.process(&c.id).unwrap().paused);
    let err = h.unpause_container("web").await.unwrap_err();
    assert_eq!(err.to_string(), format!("Container {} is not paused", c.id));

    // A stop thaws it so the signal lands; the exit clears the mark.
    h.pause_container("web").await.unwrap();
    h.stop_container("web", None, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(!host.runtime.process(&c.id).unwrap().paused);
    assert!(!h.inspect_container("web").unwrap().state.paused);
}

#[tokio::test]
async fn rename_with_dockers_refusals() {
    let (_host, h) = setup().await;
    h.create_container(run_req("web", "")).await.unwrap();
    h.create_container(run_req("db", "")).await.unwrap();
    h.start_container("web").await.unwrap();
    h.rename_container("web", "site").await.unwrap();
    assert_eq!(h.inspect_container("site").unwrap().name, "site");
    assert_eq!(
        h.inspect_container("web").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let err = h.rename_container("site", "site").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert_eq!(
        err.to_string(),
        "Renaming a container with the same name as its current name"
    );
    let err = h.rename_container("site", "db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().starts_with(
        "Error when allocating new name: Conflict. The container name \"/db\" is already in use"
    ));
    let err = h.rename_container("site", "").await.unwrap_err();
    assert_eq!(err.to_string(), "Neither old nor new names may be empty");
    let err = h.rename_container("site", "-x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    // The old name is free again.
    h.create_container(run_req("web", "")).await.unwrap();
}

async fn health_is(
    h: &berth_core::EngineHandle<berth_testkit::FakeHost>,
    id: &berth_types::ContainerId,
    want: HealthStatus,
) -> berth_core::container::Health {
    for _ in 0..500 {
        if let Some(health) = h.health(id).filter(|x| x.status == want) {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("health never {want:?}: {:?}", h.health(id));
}

#[tokio::test]
async fn healthchecks_probe_through_the_runtime_and_follow_dockers_states() {
    let (host, h) = setup().await;
    let ms = |n: i64| n * 1_000_000;
    h.create_container(ContainerCreate {
        healthcheck: Some(HealthcheckRequest {
            test: vec!["CMD-SHELL".into(), "test -e /ready".into()],
            interval: ms(20),
            timeout: ms(500),
            retries: 2,
            ..Default::default()
        }),
        ..run_req("web", "")
    })
    .await
    .unwrap();
    let c = h.start_container("web").await.unwrap();
    assert_eq!(h.health(&c.id).unwrap().status, HealthStatus::Starting);
    let healthy = health_is(&h, &c.id, HealthStatus::Healthy).await;
    assert_eq!(healthy.log[0].output, "probe /bin/sh -c test -e /ready");

    host.runtime.answer_probes(Some(1));
    let sick = health_is(&h, &c.id, HealthStatus::Unhealthy).await;
    assert!(sick.failing_streak >= 2);
    host.runtime.answer_probes(None);
    for _ in 0..100 {
        if h.health(&c.id).unwrap().log.last().unwrap().exit_code == -1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last = h.health(&c.id).unwrap().log.last().cloned().unwrap();
    assert_eq!(
        (last.exit_code, last.output.as_str()),
        (-1, "Health check exceeded timeout (500ms)")
    );

    // Gone with the process; back as `starting` with the next start.
    host.runtime.exit(&c.id, 0);
    for _ in 0..100 {
        if h.health(&c.id).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(h.health(&c.id).is_none());
    host.runtime.answer_probes(Some(0));
    h.start_container("web").await.unwrap();
    health_is(&h, &c.id, HealthStatus::Healthy).await;
}
