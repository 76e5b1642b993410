//! Docker's events from the engine on the fake host: what each use case
//! tells, in order, with its attributes; a subscriber's window and filter.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use berth_core::events::{EventFilter, EventMessage};
use berth_core::filter::RawFilters;
use berth_core::EngineHandle;
use berth_testkit::FakeHost;

use common::*;

/// Every kept event, as `TYPE ACTION`.
fn kept(h: &EngineHandle<FakeHost>) -> Vec<String> {
    kept_messages(h)
        .iter()
        .map(|m| format!("{} {}", m.kind.as_str(), m.action))
        .collect()
}

fn kept_messages(h: &EngineHandle<FakeHost>) -> Vec<EventMessage> {
    h.subscribe_events(Some(0), None, EventFilter::default())
        .past
}

#[tokio::test]
async fn a_containers_life_on_a_user_network_tells_dockers_sequence() {
    let (host, h) = setup().await;
    mynetwork(&h).await;
    let mut req = run_req("web", "mynetwork");
    req.labels.insert("tier".to_owned(), "front".to_owned());
    let c = h.create_container(req).await.unwrap();
    h.start_container("web").await.unwrap();
    h.pause_container("web").await.unwrap();
    h.unpause_container("web").await.unwrap();
    h.rename_container("web", "site").await.unwrap();
    host.runtime.exit(&c.id, 3);
    h.wait_container("site", berth_core::handle::WaitCondition::NotRunning)
        .unwrap()
        .await
        .unwrap();
    h.remove_container("site", false, false).await.unwrap();
    h.remove_network("mynetwork".to_owned()).await.unwrap();

    let all = kept(&h);
    let tail: Vec<&str> = all
        .iter()
        .skip_while(|e| *e != "network create")
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "network create",
            "container create",
            "network connect",
            "container start",
            "container pause",
            "container unpause",
            "container rename",
            "network disconnect",
            "container die",
            "container destroy",
            "network destroy",
        ]
    );
    let messages = kept_messages(&h);
    let die = messages.iter().find(|m| m.action == "die").unwrap();
    assert_eq!(die.actor_id, c.id.to_string());
    assert_eq!(die.attributes["exitCode"], "3");
    assert_eq!(die.attributes["name"], "site");
    assert_eq!(die.attributes["tier"], "front");
    assert_eq!(die.attributes["image"], "busybox");
    let rename = messages.iter().find(|m| m.action == "rename").unwrap();
    assert_eq!(rename.attributes["oldName"], "web");
    let connect = messages.iter().find(|m| m.action == "connect").unwrap();
    assert_eq!(connect.attributes["container"], c.id.to_string());
    assert_eq!(connect.attributes["name"], "mynetwork");
    assert_eq!(connect.attributes["type"], "bridge");
}

#[tokio::test]
async fn stop_tells_kill_then_die_then_stop_and_restart_adds_start_and_restart() {
    let (_host, h) = setup().await;
    h.create_container(run_req("web", "")).await.unwrap();
    h.start_container("web").await.unwrap();
    let since = kept_messages(&h).last().unwrap().time_nano + 1;
    h.restart_container("web", None, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    let after: Vec<String> = h
        .subscribe_events(Some(since), None, EventFilter::default())
        .past
        .iter()
        .filter(|m| m.kind.as_str() == "container")
        .map(|m| m.action.clone())
        .collect();
    assert_eq!(after, ["kill", "die", "stop", "start", "restart"]);
    let kill = kept_messages(&h)
        .into_iter()
        .find(|m| m.action == "kill")
        .unwrap();
    assert_eq!(kill.attributes["signal"], "15");
}

#[tokio::test]
async fn a_subscriber_sees_only_new_events_that_pass_its_filter() {
    let (_host, h) = setup().await;
    let mut filters = RawFilters::new();
    filters.insert("type".to_owned(), vec!["network".to_owned()]);
    let mut sub = h.subscribe_events(None, None, EventFilter::new(filters));
    assert!(sub.past.is_empty(), "no window, no past events");
    h.create_container(run_req("web", "")).await.unwrap();
    mynetwork(&h).await;
    let next = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.kind.as_str(), "network");
    assert_eq!(next.action, "create");
    assert_eq!(next.attributes["name"], "mynetwork");
}
