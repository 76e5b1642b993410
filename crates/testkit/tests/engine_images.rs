//! Image import and removal through the engine, on the fake host: Docker's
//! refusals for images containers use, and removal ordered with creates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use berth_core::container::create::ContainerCreate;
use berth_core::ports::{ImageImport, Images, RemovedImage};
use berth_core::{Engine, EngineHandle, ErrorKind};
use berth_testkit::{busybox_id, engine_config, FakeHost};

async fn setup() -> (Arc<FakeHost>, EngineHandle<FakeHost>) {
    let host = Arc::new(FakeHost::default());
    let mut engine = Engine::new(Arc::clone(&host), engine_config()).unwrap();
    engine.reconcile().await.unwrap();
    (host, engine.spawn().0)
}

fn create(name: &str, image: &str) -> ContainerCreate {
    ContainerCreate {
        name: Some(name.to_owned()),
        image: image.to_owned(),
        cmd: Some(vec!["sleep".into(), "1d".into()]),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_created_container_keeps_its_image_unless_forced() {
    let (host, h) = setup().await;
    let c = h.create_container(create("user", "busybox")).await.unwrap();

    let err = h.remove_image("busybox".into(), false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            &busybox_id()[7..19],
            c.short_id()
        )
    );
    assert!(
        host.images.resolve("busybox").unwrap().is_some(),
        "nothing changed"
    );

    let removed = h.remove_image("busybox".into(), true).await.unwrap();
    assert_eq!(
        removed,
        [
            RemovedImage::Untagged("busybox:latest".into()),
            RemovedImage::Deleted(busybox_id())
        ]
    );
    assert!(host.images.resolve("busybox").unwrap().is_none());
}

#[tokio::test]
async fn a_running_container_keeps_its_image_even_forced() {
    let (host, h) = setup().await;
    h.create_container(create("user", "busybox")).await.unwrap();
    let c = h.start_container("user").await.unwrap();
    for force in [false, true] {
        let err = h.remove_image("busybox".into(), force).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(
            err.to_string(),
            format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                &busybox_id()[7..19],
                c.short_id()
            )
        );
    }
    assert!(host.images.resolve("busybox").unwrap().is_some());

    // Stopped, it goes with force.
    h.stop_container("user", Some(9), Some(Duration::from_secs(5)))
        .await
        .unwrap();
    h.remove_image("busybox".into(), true).await.unwrap();
    assert!(host.images.resolve(&busybox_id()).unwrap().is_none());
}

#[tokio::test]
async fn untagging_a_name_of_an_image_with_others_needs_no_check() {
    let (host, h) = setup().await;
    h.create_container(create("user", "busybox")).await.unwrap();
    host.images
        .tags
        .lock()
        .unwrap()
        .insert("box:1".into(), busybox_id());
    let removed = h.remove_image("box:1".into(), false).await.unwrap();
    assert_eq!(removed, [RemovedImage::Untagged("box:1".into())]);
    // By id, two names: Docker's own refusal, from the store.
    host.images
        .tags
        .lock()
        .unwrap()
        .insert("box:2".into(), busybox_id());
    let err = h.remove_image(busybox_id(), false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string()
            .ends_with("(must be forced) - image is referenced in multiple repositories"),
        "{err}"
    );
    let err = h.remove_image("nosuch".into(), false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "No such image: nosuch:latest");
}

/// Removal and create of the same image run one after the other on the
/// engine: either the create comes first (and the removal is refused) or
/// the removal does (and the create finds no image), never a container
/// whose image is gone.
#[tokio::test]
async fn removal_and_create_of_one_image_serialize() {
    for round in 0..20 {
        let (host, h) = setup().await;
        let name = format!("c{round}");
        let (removed, created) = if round % 2 == 0 {
            tokio::join!(
                h.remove_image("busybox".into(), false),
                h.create_container(create(&name, "busybox"))
            )
        } else {
            let (created, removed) = tokio::join!(
                h.create_container(create(&name, "busybox")),
                h.remove_image("busybox".into(), false)
            );
            (removed, created)
        };
        match (removed, created) {
            (Ok(_), Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                assert!(h.containers().is_empty());
            }
            (Err(e), Ok(c)) => {
                assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
                assert!(host.images.resolve(&c.image_id).unwrap().is_some());
            }
            (removed, created) => panic!("round {round}: {removed:?} and {created:?}"),
        }
    }
}

#[tokio::test]
async fn an_imported_image_runs_and_its_tag_moves() {
    let (host, h) = setup().await;
    let import = |repo: &str| ImageImport {
        repo: Some(repo.to_owned()),
        ..Default::default()
    };
    let first = h
        .import_image(
            Box::new(Cursor::new(b"layer one".to_vec())),
            import("app:v1"),
        )
        .await
        .unwrap();
    let c = h.create_container(create("app", "app:v1")).await.unwrap();
    assert_eq!(c.image_id, first);
    h.start_container("app").await.unwrap();

    // A second import takes the tag; the first image stays, nameless.
    let second = h
        .import_image(
            Box::new(Cursor::new(b"layer two".to_vec())),
            import("app:v1"),
        )
        .await
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(host.images.resolve("app:v1").unwrap().unwrap().id, second);
    assert!(host.images.resolve(&first).unwrap().is_some());
    assert!(host.images.staged.lock().unwrap().is_empty());

    let err = h
        .import_image(Box::new(Cursor::new(Vec::new())), import("UPPER"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
}
