//! Volumes on the fake host: made on first use and recorded with their
//! container, refused while in use, removed with `rm -v` and `--rm`,
//! pruned, their `local` devices mounted only while a user runs, and
//! directories no record explains removed at start-up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_core::container::create::ContainerCreate;
use berth_core::container::{Storage, ANONYMOUS_VOLUME_LABEL};
use berth_core::ports::Store;
use berth_core::volume::{VolumeCreate, VolumeFilter, VolumePrune};
use berth_core::ErrorKind;
use berth_testkit::FakeHost;

use common::*;

fn with_storage(name: &str, storage: Storage) -> ContainerCreate {
    ContainerCreate {
        storage,
        ..run_req(name, "")
    }
}

fn binds(list: &[&str]) -> Storage {
    Storage {
        binds: list.iter().map(|b| (*b).to_owned()).collect(),
        ..Storage::default()
    }
}

fn anonymous(path: &str) -> Storage {
    Storage {
        volumes: vec![path.to_owned()],
        ..Storage::default()
    }
}

fn names(h: &berth_core::EngineHandle<FakeHost>) -> Vec<String> {
    h.list_volumes(&VolumeFilter::default())
        .into_iter()
        .map(|v| v.name)
        .collect()
}

#[tokio::test]
async fn a_named_volume_is_made_with_its_container_and_refused_while_used() {
    let (host, h) = setup().await;
    let c = h
        .create_container(with_storage("c1", binds(&["data:/data", "/srv:/srv:ro"])))
        .await
        .unwrap();
    assert_eq!(names(&h), ["data"]);
    assert_eq!(host.store.volumes().unwrap().len(), 1, "recorded");
    assert!(host.volumes.dirs().contains("data"));
    let m = &c.storage.mounts;
    assert_eq!(m[0].destination, "/data");
    assert_eq!(m[0].source, "/var/lib/berth/volumes/data/_data");
    assert!(m[1].read_only);

    let err = h.remove_volume("data".to_owned(), false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!("remove data: volume is in use - [{}]", c.id)
    );
    // A second user shares it; rm -v keeps a named volume.
    h.create_container(with_storage("c2", binds(&["data:/d"])))
        .await
        .unwrap();
    assert_eq!(names(&h), ["data"]);
    h.remove_container("c1", false, true).await.unwrap();
    h.remove_container("c2", false, true).await.unwrap();
    assert_eq!(names(&h), ["data"]);
    h.remove_volume("data".to_owned(), false).await.unwrap();
    assert!(names(&h).is_empty());
    assert!(host.volumes.dirs().is_empty());
    let err = h.remove_volume("data".to_owned(), false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    h.remove_volume("data".to_owned(), true).await.unwrap();
}

#[tokio::test]
async fn a_bad_mount_changes_nothing() {
    let (host, h) = setup().await;
    let err = h
        .create_container(with_storage("c1", binds(&["data:/d", "/x:/d"])))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert_eq!(err.to_string(), "Duplicate mount point: /d");
    assert!(names(&h).is_empty());
    assert!(host.volumes.dirs().is_empty());
    assert!(h.containers().is_empty());
}

#[tokio::test]
async fn anonymous_volumes_go_with_rm_v_and_auto_remove() {
    let (host, h) = setup().await;
    h.create_container(with_storage("keep", anonymous("/a")))
        .await
        .unwrap();
    let c = h
        .create_container(with_storage("gone", anonymous("/a")))
        .await
        .unwrap();
    let anon = c.storage.mounts[0].name.clone();
    assert_eq!(anon.len(), 64);
    assert!(h.inspect_volume(&anon).unwrap().is_anonymous());
    assert_eq!(names(&h).len(), 2);
    h.remove_container("gone", false, true).await.unwrap();
    assert_eq!(names(&h).len(), 1);
    assert!(!host.volumes.dirs().contains(&anon));
    h.remove_container("keep", false, false).await.unwrap();
    assert_eq!(names(&h).len(), 1, "rm without -v keeps it");

    let c = h
        .create_container(ContainerCreate {
            auto_remove: true,
            ..with_storage("tmp", anonymous("/t"))
        })
        .await
        .unwrap();
    h.start_container("tmp").await.unwrap();
    host.runtime.exit(&c.id, 0);
    for _ in 0..100 {
        if h.containers().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(names(&h).len(), 1, "--rm took its anonymous volume");
}

#[tokio::test]
async fn prune_takes_unused_anonymous_volumes_and_with_all_named_ones() {
    let (_host, h) = setup().await;
    h.create_volume(VolumeCreate {
        name: "named".to_owned(),
        ..VolumeCreate::default()
    })
    .await
    .unwrap();
    h.create_container(with_storage("c1", anonymous("/a")))
        .await
        .unwrap();
    h.remove_container("c1", false, false).await.unwrap();
    h.create_container(with_storage("c2", anonymous("/b")))
        .await
        .unwrap();
    let unnamed = h.create_volume(VolumeCreate::default()).await.unwrap();
    assert!(unnamed.is_anonymous(), "as moby names and labels it");
    h.remove_volume(unnamed.name, false).await.unwrap();
    let raw = BTreeMap::new();
    let (pruned, _) = h
        .prune_volumes(VolumePrune::parse(&raw).unwrap())
        .await
        .unwrap();
    assert_eq!(pruned.len(), 1, "only the unused anonymous one");
    assert_eq!(names(&h).len(), 2);
    let all = BTreeMap::from([("all".to_owned(), vec!["true".to_owned()])]);
    let (pruned, _) = h
        .prune_volumes(VolumePrune::parse(&all).unwrap())
        .await
        .unwrap();
    assert_eq!(pruned, ["named"]);
    let dangling = BTreeMap::from([("dangling".to_owned(), vec!["false".to_owned()])]);
    let used = h.list_volumes(&VolumeFilter::parse(&dangling).unwrap());
    assert_eq!(used.len(), 1);
    assert!(used[0].labels.contains_key(ANONYMOUS_VOLUME_LABEL));
}

#[tokio::test]
async fn local_devices_are_mounted_while_a_user_runs() {
    let (host, h) = setup().await;
    h.create_volume(VolumeCreate {
        name: "tv".to_owned(),
        options: BTreeMap::from([
            ("type".to_owned(), "tmpfs".to_owned()),
            ("device".to_owned(), "tmpfs".to_owned()),
        ]),
        ..VolumeCreate::default()
    })
    .await
    .unwrap();
    let err = h
        .create_volume(VolumeCreate {
            name: "bad".to_owned(),
            options: BTreeMap::from([("type".to_owned(), "tmpfs".to_owned())]),
            ..VolumeCreate::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "missing required option: \"device\"");
    let err = h
        .create_volume(VolumeCreate {
            name: "nfs".to_owned(),
            driver: "nfs".to_owned(),
            ..VolumeCreate::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(names(&h).iter().all(|n| n != "nfs" && n != "bad"));
    let one = h
        .create_container(with_storage("one", binds(&["tv:/t"])))
        .await
        .unwrap();
    let two = h
        .create_container(with_storage("two", binds(&["tv:/t"])))
        .await
        .unwrap();
    assert!(host.volumes.mounted().is_empty(), "not before a start");
    h.start_container("one").await.unwrap();
    h.start_container("two").await.unwrap();
    assert!(host.volumes.mounted().contains("tv"));
    host.runtime.exit(&one.id, 0);
    h.wait_container("one", berth_core::WaitCondition::NotRunning)
        .unwrap()
        .await
        .unwrap();
    assert!(host.volumes.mounted().contains("tv"), "two still runs");
    host.runtime.exit(&two.id, 0);
    h.wait_container("two", berth_core::WaitCondition::NotRunning)
        .unwrap()
        .await
        .unwrap();
    assert!(host.volumes.mounted().is_empty());
}

#[tokio::test]
async fn start_up_removes_directories_no_record_explains() {
    let host = Arc::new(FakeHost::default());
    let h = started(&host).await;
    h.create_volume(VolumeCreate {
        name: "kept".to_owned(),
        ..VolumeCreate::default()
    })
    .await
    .unwrap();
    drop(h);
    // A removal cut short after its record went.
    host.volumes.add_dir("leftover");
    let h = started(&host).await;
    assert_eq!(names(&h), ["kept"]);
    assert_eq!(
        host.volumes.dirs().into_iter().collect::<Vec<_>>(),
        ["kept"]
    );
}
