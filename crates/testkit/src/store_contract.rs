//! The `Store` port's contract, as one suite run against every
//! implementation: the in-memory [`crate::MemStore`] the engine tests use
//! and the SQLite store berthd uses. A fake that drifts from the real store
//! makes engine tests prove the wrong thing; this suite is where they meet.
//!
//! Each check takes a fresh, empty store from `new_store` and panics with
//! what broke (these are test helpers).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, UNIX_EPOCH};

use berth_core::container::{
    Attachment, Container, DnsConfig, Endpoint, NetworkMode, ProcessConfig, RunState,
};
use berth_core::network::{driverless_network, Network, RecordState};
use berth_core::ports::{PortError, Store, StoreConflict, Write};
use berth_core::volume::Volume;
use berth_types::{ContainerId, Driver, EndpointId, IfName, IpNet, MacAddr, NetworkId};

/// Runs every check of the contract, each on a store of its own.
pub fn check_store_contract<S: Store>(new_store: impl Fn() -> S) {
    networks_round_trip(&new_store());
    taken_network_names_are_conflicts(&new_store());
    containers_round_trip_with_their_endpoints(&new_store());
    taken_container_names_are_conflicts(&new_store());
    a_taken_address_fails_the_whole_commit(&new_store());
    leaving_and_deleting_free_addresses(&new_store());
    a_network_with_endpoints_is_not_deleted(&new_store());
    volumes_round_trip(&new_store());
    a_container_and_its_volumes_are_one_commit(&new_store());
}

fn volume(n: u8, name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        driver: "local".to_owned(),
        labels: [("k".to_owned(), "v".to_owned())].into(),
        options: [("type".to_owned(), "tmpfs".to_owned())].into(),
        mountpoint: format!("/var/lib/berth/volumes/{name}/_data"),
        created: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(n)),
    }
}

fn volumes_round_trip(store: &impl Store) {
    let (a, b) = (volume(2, "alpha"), volume(1, "beta"));
    ok(
        store.commit(&[
            Write::PutVolume(Box::new(a.clone())),
            Write::PutVolume(Box::new(b.clone())),
        ]),
        "insert volumes",
    );
    assert_eq!(
        ok(store.volumes(), "list volumes"),
        vec![b.clone(), a.clone()],
        "oldest first"
    );
    let mut changed = a.clone();
    changed.labels.clear();
    ok(
        store.commit(&[Write::PutVolume(Box::new(changed.clone()))]),
        "replace a volume",
    );
    ok(
        store.commit(&[Write::DeleteVolume(b.name.clone())]),
        "delete a volume",
    );
    assert_eq!(ok(store.volumes(), "list after delete"), vec![changed]);
    ok(
        store.commit(&[Write::DeleteVolume(b.name.clone())]),
        "delete a missing volume",
    );
}

fn a_container_and_its_volumes_are_one_commit(store: &impl Store) {
    ok(
        store.commit(&[Write::PutContainer(Box::new(container(1, "taken")))]),
        "first container",
    );
    conflict(
        store.commit(&[
            Write::PutVolume(Box::new(volume(1, "anon"))),
            Write::PutContainer(Box::new(container(2, "taken"))),
        ]),
        "a container whose name is taken, with its new volume",
    );
    assert!(
        ok(store.volumes(), "list volumes").is_empty(),
        "the volume went with the refused container"
    );
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
        restart: Default::default(),
        links: Vec::new(),
        healthcheck: None,
        stop_signal: None,
        stop_timeout: None,
        storage: Default::default(),
        resources: Default::default(),
        security: Default::default(),
        published: Vec::new(),
        state: RunState::created(),
        netns: None,
    }
}

fn ifname(s: &str) -> IfName {
    IfName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn v4(d: u8) -> IpAddr {
    Ipv4Addr::new(172, 18, 0, d).into()
}

/// Endpoint `n` (`eth<n>`, `veth<n, 7 hex>`) with IPv4 address `.d`.
pub fn endpoint(n: u8, d: u8) -> Endpoint {
    Endpoint {
        id: EndpointId::from_bytes([n; 32]),
        ifname: ifname(&format!("eth{n}")),
        host_ifname: Some(ifname(&format!("veth{n:07x}"))),
        mac: MacAddr([2, 0x42, 172, 18, 0, d]),
        ipv4: Some(IpNet::new(v4(d), 16).unwrap_or_else(|e| panic!("{e}"))),
        ipv6: None,
        gateway4: Some(v4(1)),
        gateway6: None,
    }
}

/// `c` attached to `network`, with `endpoint` if it runs.
fn attached(mut c: Container, network: &NetworkId, endpoint: Option<Endpoint>) -> Container {
    c.attachments.push(Attachment {
        network: network.clone(),
        aliases: vec!["db".to_owned()],
        ipv4: None,
        ipv6: None,
        mac: None,
        endpoint,
    });
    c
}

fn put_network(store: &impl Store, n: &Network) {
    ok(
        store.commit(&[Write::PutNetwork(Box::new(n.clone()), RecordState::Ready)]),
        "put network",
    );
}

fn networks_round_trip(store: &impl Store) {
    let net = network(1, "alpha");
    ok(
        store.commit(&[Write::PutNetwork(
            Box::new(net.clone()),
            RecordState::Creating,
        )]),
        "insert",
    );
    assert_eq!(
        ok(store.networks(), "list"),
        vec![(net.clone(), RecordState::Creating)]
    );
    let mut changed = net.clone();
    changed.labels.insert("k".to_owned(), "v".to_owned());
    ok(
        store.commit(&[Write::PutNetwork(
            Box::new(changed.clone()),
            RecordState::Ready,
        )]),
        "replace",
    );
    assert_eq!(
        ok(store.networks(), "list after replace"),
        vec![(changed, RecordState::Ready)]
    );
    ok(
        store.commit(&[Write::DeleteNetwork(net.id.clone())]),
        "delete",
    );
    assert!(ok(store.networks(), "list after delete").is_empty());
    ok(
        store.commit(&[Write::DeleteNetwork(net.id.clone())]),
        "delete a missing network",
    );
}

fn taken_network_names_are_conflicts(store: &impl Store) {
    put_network(store, &network(1, "alpha"));
    conflict(
        store.commit(&[Write::PutNetwork(
            Box::new(network(2, "alpha")),
            RecordState::Ready,
        )]),
        "a second network named alpha",
    );
    assert_eq!(ok(store.networks(), "list").len(), 1);
}

fn containers_round_trip_with_their_endpoints(store: &impl Store) {
    let net = network(1, "alpha");
    put_network(store, &net);
    let created = attached(container(10, "c10"), &net.id, None);
    ok(
        store.commit(&[Write::PutContainer(Box::new(created.clone()))]),
        "insert",
    );
    assert_eq!(ok(store.containers(), "list"), vec![created.clone()]);
    let running = attached(container(10, "c10"), &net.id, Some(endpoint(1, 2)));
    ok(
        store.commit(&[Write::PutContainer(Box::new(running.clone()))]),
        "start",
    );
    assert_eq!(
        ok(store.containers(), "list with the endpoint"),
        vec![running]
    );
    ok(
        store.commit(&[Write::DeleteContainer(created.id.clone())]),
        "delete",
    );
    assert!(ok(store.containers(), "list after delete").is_empty());
    ok(
        store.commit(&[Write::DeleteContainer(created.id)]),
        "delete a missing container",
    );
}

fn taken_container_names_are_conflicts(store: &impl Store) {
    ok(
        store.commit(&[Write::PutContainer(Box::new(container(10, "web")))]),
        "insert",
    );
    conflict(
        store.commit(&[Write::PutContainer(Box::new(container(11, "web")))]),
        "a second container named web",
    );
    assert_eq!(ok(store.containers(), "list").len(), 1);
}

/// All or nothing: the write that fails takes the others of its commit
/// along.
fn a_taken_address_fails_the_whole_commit(store: &impl Store) {
    let net = network(1, "alpha");
    put_network(store, &net);
    let first = attached(container(10, "c10"), &net.id, Some(endpoint(1, 2)));
    ok(
        store.commit(&[Write::PutContainer(Box::new(first.clone()))]),
        "first",
    );
    let other = network(2, "beta");
    let second = attached(container(11, "c11"), &net.id, Some(endpoint(2, 2)));
    conflict(
        store.commit(&[
            Write::PutNetwork(Box::new(other.clone()), RecordState::Ready),
            Write::PutContainer(Box::new(second)),
        ]),
        "the same address twice on one network",
    );
    assert_eq!(ok(store.containers(), "containers"), vec![first]);
    assert_eq!(
        ok(store.networks(), "networks").len(),
        1,
        "the network of the failed commit is not there"
    );
    // The same address on another network is fine.
    put_network(store, &other);
    let elsewhere = attached(container(11, "c11"), &other.id, Some(endpoint(2, 2)));
    ok(
        store.commit(&[Write::PutContainer(Box::new(elsewhere))]),
        "the address on another network",
    );
}

fn leaving_and_deleting_free_addresses(store: &impl Store) {
    let net = network(1, "alpha");
    put_network(store, &net);
    let running = attached(container(10, "c10"), &net.id, Some(endpoint(1, 2)));
    ok(
        store.commit(&[Write::PutContainer(Box::new(running))]),
        "start c10",
    );
    let exited = attached(container(10, "c10"), &net.id, None);
    ok(
        store.commit(&[Write::PutContainer(Box::new(exited))]),
        "c10 exits",
    );
    let next = attached(container(11, "c11"), &net.id, Some(endpoint(2, 2)));
    ok(
        store.commit(&[Write::PutContainer(Box::new(next.clone()))]),
        "the address after its endpoint left",
    );
    ok(
        store.commit(&[Write::DeleteContainer(next.id.clone())]),
        "delete c11",
    );
    let again = attached(container(12, "c12"), &net.id, Some(endpoint(3, 2)));
    ok(
        store.commit(&[Write::PutContainer(Box::new(again))]),
        "the address after its container went",
    );
}

fn a_network_with_endpoints_is_not_deleted(store: &impl Store) {
    let net = network(1, "alpha");
    put_network(store, &net);
    let running = attached(container(10, "c10"), &net.id, Some(endpoint(1, 2)));
    ok(
        store.commit(&[Write::PutContainer(Box::new(running))]),
        "start",
    );
    assert!(
        store
            .commit(&[Write::DeleteNetwork(net.id.clone())])
            .is_err(),
        "a network with an endpoint was deleted"
    );
    assert_eq!(ok(store.networks(), "list").len(), 1);
}
