//! Changing a running container in place on the fake host: pause and
//! unpause with Docker's refusals, and rename.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

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
