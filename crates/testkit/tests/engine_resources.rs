//! Resource limits on the fake host: what create records, Docker's
//! refusals, and `docker update` (live on a running container, recorded
//! only when the runtime took it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use berth_core::container::{ContainerUpdate, Resources, DEFAULT_SHM_SIZE};
use berth_core::ErrorKind;

use common::*;

fn limited(
    name: &str,
    network: &str,
    resources: Resources,
) -> berth_core::container::create::ContainerCreate {
    let mut req = run_req(name, network);
    req.resources = resources;
    req
}

#[tokio::test]
async fn create_records_limits_with_dockers_defaults_and_the_runtime_gets_them() {
    let (host, h) = setup().await;
    let asked = Resources {
        memory: 64 << 20,
        nano_cpus: 500_000_000,
        pids_limit: Some(20),
        ..Resources::default()
    };
    let c = h.create_container(limited("web", "", asked)).await.unwrap();
    assert_eq!(c.resources.memory_swap, 128 << 20);
    assert_eq!(c.resources.shm_size, DEFAULT_SHM_SIZE);
    let c = h.start_container("web").await.unwrap();
    let process = host.runtime.process(&c.id).unwrap();
    assert_eq!(process.spec.resources, c.resources);
}

#[tokio::test]
async fn bad_limits_are_refused_and_nothing_is_recorded() {
    let (_host, h) = setup().await;
    let err = h
        .create_container(limited(
            "small",
            "",
            Resources {
                memory: 1 << 20,
                ..Resources::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert_eq!(err.to_string(), "Minimum memory limit allowed is 6MB");
    let sysctl = Resources {
        sysctls: [("net.ipv4.ip_forward".to_owned(), "1".to_owned())].into(),
        ..Resources::default()
    };
    let err = h
        .create_container(limited("hostnet", "host", sysctl))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"
    );
    assert!(h.containers().is_empty());
}

#[tokio::test]
async fn update_applies_live_then_records() {
    let (host, h) = setup().await;
    let asked = Resources {
        memory: 64 << 20,
        ..Resources::default()
    };
    h.create_container(limited("web", "", asked)).await.unwrap();
    let c = h.start_container("web").await.unwrap();
    let change = ContainerUpdate {
        memory: 100 << 20,
        nano_cpus: 1_000_000_000,
        ..ContainerUpdate::default()
    };
    let updated = h.update_container("web", change.clone()).await.unwrap();
    assert_eq!(updated.resources.memory, 100 << 20);
    assert_eq!(
        host.runtime.process(&c.id).unwrap().resources,
        updated.resources
    );
    assert_eq!(
        h.inspect_container("web").unwrap().resources,
        updated.resources
    );

    // A runtime that refuses leaves the record as it was.
    host.runtime.fail_next_update("cgroup write failed");
    let err = h
        .update_container(
            "web",
            ContainerUpdate {
                pids_limit: Some(5),
                ..ContainerUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cgroup write failed"), "{err}");
    assert_eq!(
        h.inspect_container("web").unwrap().resources,
        updated.resources
    );

    // Docker's conflict: a memory limit above the recorded swap limit.
    let err = h
        .update_container(
            "web",
            ContainerUpdate {
                memory: 512 << 20,
                ..ContainerUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().starts_with(&format!(
        "Cannot update container {}: Memory limit should be smaller",
        c.id
    )));
}

#[tokio::test]
async fn a_container_that_does_not_run_gets_its_update_at_the_next_start() {
    let (host, h) = setup().await;
    let c = h
        .create_container(limited("idle", "", Resources::default()))
        .await
        .unwrap();
    host.runtime.fail_next_update("must not be called");
    let updated = h
        .update_container(
            "idle",
            ContainerUpdate {
                cpu_shares: 512,
                ..ContainerUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.resources.cpu_shares, 512);
    h.start_container("idle").await.unwrap();
    assert_eq!(
        host.runtime
            .process(&c.id)
            .unwrap()
            .spec
            .resources
            .cpu_shares,
        512
    );
}
