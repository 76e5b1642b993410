//! `ps` filters that need the engine (status over stopped containers,
//! `ancestor` through the image store, `before`/`since` by container) and
//! `container prune` on the fake host.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::BTreeMap;

use berth_core::container::create::ContainerCreate;
use berth_core::filter::{ContainerFilter, PruneFilter, RawFilters};
use berth_core::{EngineHandle, ErrorKind, WaitCondition};
use berth_testkit::FakeHost;

use common::*;

fn filters(pairs: &[(&str, &str)]) -> RawFilters {
    let mut m = RawFilters::new();
    for (k, v) in pairs {
        m.entry((*k).to_owned()).or_default().push((*v).to_owned());
    }
    m
}

fn listed(h: &EngineHandle<FakeHost>, all: bool, pairs: &[(&str, &str)]) -> Vec<String> {
    let filter = ContainerFilter::parse(&filters(pairs)).unwrap();
    h.list_containers(all, &filter)
        .unwrap()
        .into_iter()
        .map(|c| c.name.clone())
        .collect()
}

async fn exited(h: &EngineHandle<FakeHost>, host: &FakeHost, name: &str, code: i64) {
    let c = h.start_container(name).await.unwrap();
    let wait = h.wait_container(name, WaitCondition::NextExit).unwrap();
    host.runtime.exit(&c.id, code);
    wait.await.unwrap();
}

fn labelled(name: &str, labels: &[(&str, &str)]) -> ContainerCreate {
    ContainerCreate {
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        ..run_req(name, "")
    }
}

#[tokio::test]
async fn status_filters_list_stopped_containers_without_all() {
    let (host, h) = setup().await;
    h.create_container(run_req("up", "")).await.unwrap();
    h.start_container("up").await.unwrap();
    h.create_container(run_req("done", "")).await.unwrap();
    exited(&h, &host, "done", 3).await;
    assert_eq!(listed(&h, false, &[]), ["up"]);
    assert_eq!(listed(&h, false, &[("status", "exited")]), ["done"]);
    assert_eq!(listed(&h, true, &[("exited", "3")]), ["done"]);
    assert!(listed(&h, true, &[("exited", "0")]).is_empty());
    assert_eq!(listed(&h, true, &[("health", "none")]).len(), 2);
}

#[tokio::test]
async fn ancestor_before_and_since_resolve_their_references() {
    let (_host, h) = setup().await;
    for name in ["first", "second", "third"] {
        // The fake clock ticks at each reading: creation times differ.
        h.create_container(run_req(name, "")).await.unwrap();
    }
    assert_eq!(listed(&h, true, &[("ancestor", "busybox")]).len(), 3);
    assert!(listed(&h, true, &[("ancestor", "nosuchimage")]).is_empty());
    assert_eq!(listed(&h, true, &[("before", "second")]), ["first"]);
    assert_eq!(listed(&h, true, &[("since", "second")]), ["third"]);
    let filter = ContainerFilter::parse(&filters(&[("before", "ghost")])).unwrap();
    assert_eq!(
        h.list_containers(true, &filter).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn prune_removes_only_stopped_containers_the_filter_admits() {
    let (host, h) = setup().await;
    h.create_container(run_req("running", "")).await.unwrap();
    h.start_container("running").await.unwrap();
    h.create_container(labelled("keep", &[("keep", "yes")]))
        .await
        .unwrap();
    h.create_container(labelled("old", &[("team", "a")]))
        .await
        .unwrap();
    exited(&h, &host, "old", 0).await;

    let filter = PruneFilter::parse(&filters(&[("label!", "keep")]), h.now()).unwrap();
    let (removed, freed) = h.prune_containers(&filter, |_| 10).await.unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(freed, 10);
    assert_eq!(
        h.inspect_container("old").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(h.inspect_container("keep").is_ok());
    assert!(h.inspect_container("running").is_ok());

    let (removed, _) = h
        .prune_containers(&PruneFilter::default(), |_| 0)
        .await
        .unwrap();
    assert_eq!(
        removed.len(),
        1,
        "the created one goes, the running one stays"
    );
    assert!(h.inspect_container("running").is_ok());
}
