//! The `Store` port's contract, as one suite run against every
//! implementation: the in-memory [`crate::MemStore`] the engine tests use
//! and the SQLite store berthd uses. A fake that drifts from the real store
//! makes engine tests prove the wrong thing; this suite is where they meet.
//!
//! Each check takes a fresh, empty store from `new_store` and panics with
//! what broke (these are test helpers).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, UNIX_EPOCH};

use berth_core::container::{Container, DnsConfig, NetworkMode, ProcessConfig, RunState};
use berth_core::model::{Network, RecordState};
use berth_core::network::driverless_network;
use berth_core::ports::{EndpointRecord, PortError, Store, StoreConflict};
use berth_types::{ContainerId, Driver, EndpointId, IfName, NetworkId};

/// Runs every check of the contract, each on a store of its own.
pub fn check_store_contract<S: Store>(new_store: impl Fn() -> S) {
    networks_round_trip(&new_store());
    missing_networks_are_errors(&new_store());
    taken_network_names_and_ids_are_conflicts(&new_store());
    containers_round_trip(&new_store());
    taken_container_names_are_conflicts(&new_store());
    endpoints_allocate_their_addresses(&new_store());
    a_taken_address_fails_the_whole_endpoint(&new_store());
    deleting_frees_addresses_and_missing_is_success(&new_store());
    a_network_with_endpoints_is_not_deleted(&new_store());
}

fn ok<T>(result: Result<T, PortError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The error is a bare [`StoreConflict`] as the core sees it.
fn conflict<T: std::fmt::Debug>(result: Result<T, PortError>, what: &str) {
    match result {
        Ok(v) => panic!("{what}: accepted ({v:?}), wanted a conflict"),
        Err(e) => assert!(
            e.downcast_ref::<StoreConflict>().is_some(),
            "{what}: wanted a StoreConflict, got {e}"
        ),
    }
}

fn network(n: u8, name: &str) -> Network {
    let created = UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(n));
    driverless_network(name, Driver::Null, NetworkId::from_bytes([n; 32]), created)
        .unwrap_or_else(|e| panic!("network {name}: {e}"))
}

fn container(n: u8, name: &str) -> Container {
    Container {
        id: ContainerId::from_bytes([n; 32]),
        name: name.to_owned(),
        created: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(n)),
        image: "busybox".to_owned(),
        image_id: format!("sha256:{}", "ab".repeat(32)),
        process: ProcessConfig {
            args: vec!["sleep".to_owned(), "1d".to_owned()],
            ..ProcessConfig::default()
        },
        dns: DnsConfig::default(),
        labels: Default::default(),
        network_mode: NetworkMode::None,
        attachments: Vec::new(),
        ports: Vec::new(),
        publish_all: false,
        exposed: Vec::new(),
        auto_remove: false,
        published: Vec::new(),
        state: RunState::created(),
        netns: None,
    }
}

fn ifname(s: &str) -> IfName {
    IfName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Endpoint `n` of container `container` on `network`: `eth<n>`,
/// `veth<n, 7 hex>`.
pub fn endpoint(n: u8, network: &NetworkId, container: u8, addresses: &[IpAddr]) -> EndpointRecord {
    EndpointRecord {
        id: EndpointId::from_bytes([n; 32]),
        network: network.clone(),
        container: ContainerId::from_bytes([container; 32]),
        ifname: ifname(&format!("eth{n}")),
        host_ifname: ifname(&format!("veth{n:07x}")),
        addresses: addresses.to_vec(),
    }
}

fn v4(d: u8) -> IpAddr {
    Ipv4Addr::new(172, 18, 0, d).into()
}

fn addresses(store: &impl Store, network: &NetworkId) -> BTreeSet<IpAddr> {
    ok(store.allocated_addresses(network), "allocated addresses")
}

/// Two networks (1, 2) and two containers (10, 11).
fn populated(store: &impl Store) -> (NetworkId, NetworkId) {
    let (a, b) = (network(1, "alpha"), network(2, "beta"));
    ok(store.insert_network(&a, RecordState::Ready), "insert alpha");
    ok(store.insert_network(&b, RecordState::Ready), "insert beta");
    ok(store.insert_container(&container(10, "c10")), "insert c10");
    ok(store.insert_container(&container(11, "c11")), "insert c11");
    (a.id, b.id)
}

fn networks_round_trip(store: &impl Store) {
    let net = network(1, "alpha");
    ok(store.insert_network(&net, RecordState::Creating), "insert");
    assert_eq!(
        ok(store.networks(), "list"),
        vec![(net.clone(), RecordState::Creating)]
    );
    let mut changed = net.clone();
    changed.labels.insert("k".to_owned(), "v".to_owned());
    ok(store.update_network(&changed, RecordState::Ready), "update");
    assert_eq!(
        ok(store.networks(), "list after update"),
        vec![(changed.clone(), RecordState::Ready)]
    );
    ok(
        store.set_network_state(&net.id, RecordState::Creating),
        "set state",
    );
    assert_eq!(
        ok(store.networks(), "list after set state"),
        vec![(changed, RecordState::Creating)]
    );
    ok(store.delete_network(&net.id), "delete");
    assert!(ok(store.networks(), "list after delete").is_empty());
    ok(store.delete_network(&net.id), "delete a missing network");
}

fn missing_networks_are_errors(store: &impl Store) {
    let ghost = network(9, "ghost");
    assert!(
        store.update_network(&ghost, RecordState::Ready).is_err(),
        "update of a missing network"
    );
    assert!(
        store
            .set_network_state(&ghost.id, RecordState::Ready)
            .is_err(),
        "set state of a missing network"
    );
    assert!(ok(store.networks(), "list").is_empty(), "nothing was made");
}

fn taken_network_names_and_ids_are_conflicts(store: &impl Store) {
    ok(
        store.insert_network(&network(1, "alpha"), RecordState::Ready),
        "insert",
    );
    conflict(
        store.insert_network(&network(2, "alpha"), RecordState::Ready),
        "same name, other id",
    );
    conflict(
        store.insert_network(&network(1, "other"), RecordState::Ready),
        "same id, other name",
    );
    assert_eq!(ok(store.networks(), "list").len(), 1);
}

fn containers_round_trip(store: &impl Store) {
    let mut c = container(10, "c10");
    ok(store.insert_container(&c), "insert");
    assert_eq!(ok(store.containers(), "list"), vec![c.clone()]);
    c.state.pid = 42;
    c.name = "renamed".to_owned();
    ok(store.update_container(&c), "update");
    assert_eq!(ok(store.containers(), "list after update"), vec![c.clone()]);
    assert!(
        store.update_container(&container(99, "ghost")).is_err(),
        "update of a missing container"
    );
    ok(store.delete_container(&c.id), "delete");
    assert!(ok(store.containers(), "list after delete").is_empty());
    ok(store.delete_container(&c.id), "delete a missing container");
}

fn taken_container_names_are_conflicts(store: &impl Store) {
    ok(store.insert_container(&container(10, "web")), "insert");
    conflict(
        store.insert_container(&container(11, "web")),
        "a taken container name",
    );
    assert_eq!(ok(store.containers(), "list").len(), 1);
}

fn endpoints_allocate_their_addresses(store: &impl Store) {
    let (a, b) = populated(store);
    let first = endpoint(1, &a, 10, &[v4(2)]);
    ok(store.insert_endpoint(&first), "insert");
    assert_eq!(ok(store.endpoints(), "list"), vec![first]);
    assert_eq!(addresses(store, &a), BTreeSet::from([v4(2)]));
    // The same address on another network is another allocation.
    ok(
        store.insert_endpoint(&endpoint(2, &b, 10, &[v4(2)])),
        "same address, other network",
    );
    assert_eq!(addresses(store, &b), BTreeSet::from([v4(2)]));
}

fn a_taken_address_fails_the_whole_endpoint(store: &impl Store) {
    let (a, _) = populated(store);
    ok(
        store.insert_endpoint(&endpoint(1, &a, 10, &[v4(2)])),
        "insert",
    );
    conflict(
        store.insert_endpoint(&endpoint(2, &a, 11, &[v4(3), v4(2)])),
        "an address taken on the network",
    );
    assert_eq!(ok(store.endpoints(), "list").len(), 1, "no half endpoint");
    assert_eq!(
        addresses(store, &a),
        BTreeSet::from([v4(2)]),
        "the free address of the refused endpoint stays free"
    );
}

fn deleting_frees_addresses_and_missing_is_success(store: &impl Store) {
    let (a, _) = populated(store);
    let first = endpoint(1, &a, 10, &[v4(2)]);
    ok(store.insert_endpoint(&first), "insert");
    ok(store.delete_endpoint(&first.id), "delete");
    assert!(addresses(store, &a).is_empty());
    ok(
        store.delete_endpoint(&first.id),
        "delete a missing endpoint",
    );
    ok(
        store.insert_endpoint(&endpoint(3, &a, 11, &[v4(2)])),
        "the address again",
    );
    // A container's removal takes its endpoints and their addresses along.
    ok(
        store.delete_container(&ContainerId::from_bytes([11; 32])),
        "delete container",
    );
    assert!(ok(store.endpoints(), "endpoints").is_empty());
    assert!(addresses(store, &a).is_empty());
}

fn a_network_with_endpoints_is_not_deleted(store: &impl Store) {
    let (a, _) = populated(store);
    ok(
        store.insert_endpoint(&endpoint(1, &a, 10, &[v4(2)])),
        "insert",
    );
    assert!(
        store.delete_network(&a).is_err(),
        "a network with endpoints was deleted"
    );
    assert_eq!(ok(store.networks(), "list").len(), 2);
}
