use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use berth_core::container::{
    Attachment, Container, DnsConfig, Endpoint, NetworkMode, PortBinding, ProcessConfig, Proto,
    RunState, Status,
};
use berth_core::model::RecordState;
use berth_core::ports::{PortError, Store, StoreConflict};
use berth_testkit::store_contract::endpoint;
use berth_types::{ContainerId, EndpointId, IfName, MacAddr, NetworkId};
use rusqlite::params;
use tempfile::TempDir;

use super::ADDRESS_IN_USE;
use crate::tests::{db, network, raw};
use crate::{SqliteStore, StoreError};

fn v4(d: u8) -> IpAddr {
    Ipv4Addr::new(172, 18, 1, d).into()
}

fn v6(d: u16) -> IpAddr {
    Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, d).into()
}

fn ifname(s: &str) -> IfName {
    IfName::parse(s).unwrap()
}

/// A container with every field of the model set, attached to network 1
/// with a live endpoint.
fn container(n: u8, name: &str) -> Container {
    let network = NetworkId::from_bytes([1; 32]);
    Container {
        id: ContainerId::from_bytes([n; 32]),
        name: name.to_owned(),
        // Nanosecond precision, so the round trip checks it is kept.
        created: UNIX_EPOCH + Duration::new(1_700_000_000 + u64::from(n), 987_654_321),
        image: "busybox".to_owned(),
        image_id: format!("sha256:{}", "ab".repeat(32)),
        process: ProcessConfig {
            args: vec!["sh".to_owned(), "-c".to_owned(), "sleep 1".to_owned()],
            entrypoint: Some(vec!["sh".to_owned(), "-c".to_owned()]),
            cmd: Some(vec!["sleep 1".to_owned()]),
            env: vec!["PATH=/bin".to_owned(), "É=ü".to_owned()],
            working_dir: "/tmp".to_owned(),
            user: "1000:1000".to_owned(),
            tty: true,
            open_stdin: true,
            stdin_once: false,
            attach_stdin: true,
            attach_stdout: true,
            attach_stderr: false,
            console_size: Some((24, 80)),
        },
        dns: DnsConfig {
            hostname: format!("host{n}"),
            domainname: "example.org".to_owned(),
            dns: vec![Ipv4Addr::new(1, 1, 1, 1).into(), v6(53)],
            dns_search: vec!["example.org".to_owned()],
            dns_options: vec!["ndots:2".to_owned()],
            extra_hosts: vec![("gw".to_owned(), v4(1))],
        },
        labels: BTreeMap::from([("com.example".to_owned(), "\"quoted\"".to_owned())]),
        network_mode: NetworkMode::Network(network.clone()),
        attachments: vec![Attachment {
            network,
            aliases: vec!["web".to_owned()],
            ipv4: Some(v4(n)),
            ipv6: None,
            mac: Some(MacAddr([0x02, 0x42, 0xac, 0x12, 0x01, n])),
            endpoint: Some(Endpoint {
                id: EndpointId::from_bytes([n; 32]),
                ifname: ifname("eth0"),
                host_ifname: ifname(&format!("veth{n:07x}")),
                mac: MacAddr([0x02, 0x42, 0xac, 0x12, 0x01, n]),
                ipv4: Some(format!("172.18.1.{n}/24").parse().unwrap()),
                ipv6: Some(format!("fd00:1::{n:x}/64").parse().unwrap()),
                gateway4: Some(v4(1)),
                gateway6: Some(v6(1)),
            }),
        }],
        ports: vec![
            PortBinding {
                proto: Proto::Udp,
                container_port: 53,
                host_ip: Some(Ipv4Addr::LOCALHOST.into()),
                host_ports: None,
            },
            PortBinding {
                proto: Proto::Tcp,
                container_port: 80,
                host_ip: None,
                host_ports: Some((8000, 8010)),
            },
        ],
        publish_all: true,
        exposed: vec![(53, Proto::Udp), (80, Proto::Tcp)],
        auto_remove: true,
        published: Vec::new(),
        state: RunState {
            status: Status::Running,
            pid: 4242,
            exit_code: 0,
            started_at: Some(UNIX_EPOCH + Duration::new(1_800_000_000, 1)),
            finished_at: None,
            error: String::new(),
            starting: true,
            networks_changing: false,
        },
        netns: Some(PathBuf::from(format!("/run/berth/netns/{n}"))),
    }
}

/// A store with networks 1 (alpha) and 2 (beta) and containers 10 and 11.
fn setup(dir: &TempDir) -> (SqliteStore, NetworkId, NetworkId) {
    let store = SqliteStore::open(&db(dir)).unwrap();
    let a = network(1, "alpha");
    let b = network(2, "beta");
    store.insert_network(&a, RecordState::Ready).unwrap();
    store.insert_network(&b, RecordState::Ready).unwrap();
    store.insert_container(&container(10, "c10")).unwrap();
    store.insert_container(&container(11, "c11")).unwrap();
    (store, a.id, b.id)
}

/// The conflict's message, checking it is a bare `StoreConflict` through the
/// port.
fn port_conflict(err: PortError) -> String {
    match err.downcast::<StoreConflict>() {
        Ok(conflict) => conflict.0,
        Err(other) => panic!("expected StoreConflict at the top, got {other:?}"),
    }
}

fn count(store: &SqliteStore, table: &str) -> i64 {
    raw(store.path())
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn containers_round_trip_the_whole_model() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    let a = container(2, "alpha");
    let mut b = container(1, "beta");
    b.network_mode = NetworkMode::Container(a.id.clone());
    b.attachments.clear();
    b.netns = None;
    b.state.status = Status::Exited;
    b.state.finished_at = Some(UNIX_EPOCH + Duration::new(1_700_000_100, 5));
    // Inserted out of creation order: the list is oldest first.
    Store::insert_container(&store, &a).unwrap();
    Store::insert_container(&store, &b).unwrap();
    assert_eq!(
        Store::containers(&store).unwrap(),
        vec![b.clone(), a.clone()]
    );

    let mut renamed = a.clone();
    renamed.name = "gamma".to_owned();
    renamed.state.status = Status::Removing;
    renamed.attachments[0].endpoint = None;
    Store::update_container(&store, &renamed).unwrap();
    assert_eq!(Store::containers(&store).unwrap(), vec![b.clone(), renamed]);
    // The old name is free again.
    let mut c = container(3, "alpha");
    c.attachments.clear();
    Store::insert_container(&store, &c).unwrap();

    Store::delete_container(&store, &b.id).unwrap();
    Store::delete_container(&store, &b.id).unwrap();
    assert_eq!(Store::containers(&store).unwrap().len(), 2);

    // serde cannot encode a time before the epoch: an error, not a panic.
    let mut d = container(4, "delta");
    d.state.finished_at = Some(UNIX_EPOCH - Duration::new(3, 5));
    let err = store.insert_container(&d).unwrap_err();
    assert!(matches!(err, StoreError::Encode { .. }), "{err}");
}

#[test]
fn updating_a_missing_container_is_not_found() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    let a = container(1, "alpha");
    let err = store.update_container(&a).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(a.id.as_str()), "{err}");
}

#[test]
fn a_taken_container_name_is_dockers_conflict() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    let a = container(1, "web");
    store.insert_container(&a).unwrap();
    let expected = format!(
        "Conflict. The container name \"/web\" is already in use by container \"{}\". \
         You have to remove (or rename) that container to be able to reuse that name.",
        a.id
    );
    let err = Store::insert_container(&store, &container(2, "web")).unwrap_err();
    assert_eq!(port_conflict(err), expected);

    // Renaming onto a taken name is the same conflict.
    let mut b = container(2, "db");
    store.insert_container(&b).unwrap();
    b.name = "web".to_owned();
    let err = Store::update_container(&store, &b).unwrap_err();
    assert_eq!(port_conflict(err), expected);

    // A taken id is a conflict too.
    let err = Store::insert_container(&store, &container(1, "other")).unwrap_err();
    assert_eq!(
        port_conflict(err),
        format!("container with id {} already exists", a.id)
    );
    assert_eq!(
        store
            .containers()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["web", "db"]
    );
}

#[test]
fn insert_endpoint_allocates_its_addresses() {
    let dir = TempDir::new().unwrap();
    let (store, a, b) = setup(&dir);
    // Given IPv6 first: they come back sorted.
    let ep = endpoint(1, &a, 10, &[v6(2), v4(2)]);
    Store::insert_endpoint(&store, &ep).unwrap();
    assert_eq!(
        Store::allocated_addresses(&store, &a).unwrap(),
        BTreeSet::from([v4(2), v6(2)])
    );
    assert!(store.allocated_addresses(&b).unwrap().is_empty());
    let mut expected = ep;
    expected.addresses = vec![v4(2), v6(2)];
    assert_eq!(Store::endpoints(&store).unwrap(), vec![expected.clone()]);

    // An endpoint without addresses is listed too.
    let bare = endpoint(2, &b, 10, &[]);
    store.insert_endpoint(&bare).unwrap();
    assert_eq!(store.endpoints().unwrap(), vec![expected, bare]);
}

#[test]
fn an_address_taken_on_the_network_fails_the_whole_endpoint() {
    let dir = TempDir::new().unwrap();
    let (store, a, b) = setup(&dir);
    let first = endpoint(1, &a, 10, &[v4(2), v6(2)]);
    store.insert_endpoint(&first).unwrap();

    // The IPv4 address is free, the IPv6 one is taken: nothing is written.
    let second = endpoint(2, &a, 11, &[v4(3), v6(2)]);
    let err = Store::insert_endpoint(&store, &second).unwrap_err();
    assert_eq!(port_conflict(err), ADDRESS_IN_USE);
    assert_eq!(store.endpoints().unwrap(), vec![first.clone()]);
    assert_eq!(
        store.allocated_addresses(&a).unwrap(),
        BTreeSet::from([v4(2), v6(2)])
    );
    assert_eq!(count(&store, "endpoints"), 1);

    // A network's own reservation (no endpoint) is taken just the same.
    raw(store.path())
        .execute(
            "INSERT INTO ip_allocations (network_id, address) VALUES (?1, ?2)",
            params![a.as_str(), v4(254).to_string()],
        )
        .unwrap();
    let err = store
        .insert_endpoint(&endpoint(2, &a, 11, &[v4(254)]))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { what, .. } if what == ADDRESS_IN_USE),
        "{err}"
    );

    // The same addresses on another network are fine.
    let other = endpoint(2, &b, 11, &[v4(2), v6(2)]);
    store.insert_endpoint(&other).unwrap();
    assert_eq!(
        store.allocated_addresses(&b).unwrap(),
        BTreeSet::from([v4(2), v6(2)])
    );
    assert_eq!(store.endpoints().unwrap(), vec![first, other]);
}

#[test]
fn other_endpoint_uniqueness_violations_are_conflicts() {
    let dir = TempDir::new().unwrap();
    let (store, a, b) = setup(&dir);
    let c10 = ContainerId::from_bytes([10; 32]);
    store
        .insert_endpoint(&endpoint(1, &a, 10, &[v4(2)]))
        .unwrap();

    let mut same_id = endpoint(1, &b, 11, &[v4(3)]);
    let err = Store::insert_endpoint(&store, &same_id).unwrap_err();
    assert_eq!(
        port_conflict(err),
        format!("endpoint with id {} already exists", same_id.id)
    );

    let twice_on_network = endpoint(2, &a, 10, &[v4(3)]);
    let err = Store::insert_endpoint(&store, &twice_on_network).unwrap_err();
    assert_eq!(
        port_conflict(err),
        format!("container {c10} already has an endpoint on network {a}")
    );

    same_id.id = EndpointId::from_bytes([3; 32]);
    same_id.container = c10.clone();
    same_id.ifname = ifname("eth1");
    let err = Store::insert_endpoint(&store, &same_id).unwrap_err();
    assert_eq!(
        port_conflict(err),
        format!("container {c10} already has an interface named eth1")
    );

    // Unknown network or container: not found, not a conflict.
    let err = store
        .insert_endpoint(&endpoint(4, &NetworkId::from_bytes([9; 32]), 10, &[]))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(&"09".repeat(32)), "{err}");
    let err = store
        .insert_endpoint(&endpoint(4, &b, 99, &[v4(9)]))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("container {}", ContainerId::from_bytes([99; 32]))),
        "{err}"
    );
    assert_eq!(count(&store, "endpoints"), 1);
    assert_eq!(count(&store, "ip_allocations"), 1);
}

#[test]
fn delete_endpoint_frees_its_addresses_for_reuse() {
    let dir = TempDir::new().unwrap();
    let (store, a, _) = setup(&dir);
    let first = endpoint(1, &a, 10, &[v4(2), v6(2)]);
    store.insert_endpoint(&first).unwrap();
    Store::delete_endpoint(&store, &first.id).unwrap();
    assert!(store.allocated_addresses(&a).unwrap().is_empty());
    assert!(store.endpoints().unwrap().is_empty());
    // Missing is success.
    Store::delete_endpoint(&store, &first.id).unwrap();

    let second = endpoint(2, &a, 11, &[v4(2), v6(2)]);
    store.insert_endpoint(&second).unwrap();
    assert_eq!(store.endpoints().unwrap(), vec![second]);
}

#[test]
fn delete_container_releases_everything() {
    let dir = TempDir::new().unwrap();
    let (store, a, b) = setup(&dir);
    let c10 = ContainerId::from_bytes([10; 32]);
    store
        .insert_endpoint(&endpoint(1, &a, 10, &[v4(2), v6(2)]))
        .unwrap();
    store
        .insert_endpoint(&endpoint(2, &b, 10, &[v4(2)]))
        .unwrap();
    let kept = endpoint(3, &a, 11, &[v4(3)]);
    store.insert_endpoint(&kept).unwrap();

    Store::delete_container(&store, &c10).unwrap();
    assert_eq!(store.endpoints().unwrap(), vec![kept]);
    assert_eq!(
        store.allocated_addresses(&a).unwrap(),
        BTreeSet::from([v4(3)])
    );
    assert!(store.allocated_addresses(&b).unwrap().is_empty());
    assert_eq!(
        store
            .containers()
            .unwrap()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["c11"]
    );
    // Missing is success.
    Store::delete_container(&store, &c10).unwrap();
    // Its addresses can be handed out again.
    store.insert_container(&container(12, "c12")).unwrap();
    store
        .insert_endpoint(&endpoint(4, &a, 12, &[v4(2), v6(2)]))
        .unwrap();
}

#[test]
fn delete_network_is_refused_while_endpoints_exist() {
    let dir = TempDir::new().unwrap();
    let (store, a, b) = setup(&dir);
    let ep = endpoint(1, &a, 10, &[v4(2)]);
    store.insert_endpoint(&ep).unwrap();
    // The network's own reservations go with it.
    raw(store.path())
        .execute(
            "INSERT INTO ip_allocations (network_id, address) VALUES (?1, ?2), (?3, ?2)",
            params![a.as_str(), v4(254).to_string(), b.as_str()],
        )
        .unwrap();

    let err = Store::delete_network(&store, &a).unwrap_err();
    assert_eq!(
        port_conflict(err),
        format!("network {a} has active endpoints")
    );
    assert_eq!(store.networks().unwrap().len(), 2);
    assert_eq!(
        store.allocated_addresses(&a).unwrap(),
        BTreeSet::from([v4(2), v4(254)])
    );

    store.delete_endpoint(&ep.id).unwrap();
    store.delete_network(&a).unwrap();
    store.delete_network(&b).unwrap();
    assert_eq!(count(&store, "ip_allocations"), 0);
}

#[test]
fn containers_and_endpoints_survive_reopen() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let (a, eps) = {
        let (store, a, b) = setup(&dir);
        let eps = vec![
            endpoint(1, &a, 10, &[v4(2), v6(2)]),
            endpoint(2, &b, 10, &[v4(2)]),
            endpoint(3, &a, 11, &[v4(3)]),
        ];
        for ep in &eps {
            store.insert_endpoint(ep).unwrap();
        }
        (a, eps)
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.containers().unwrap(),
        vec![container(10, "c10"), container(11, "c11")]
    );
    assert_eq!(store.endpoints().unwrap(), eps);
    assert_eq!(
        store.allocated_addresses(&a).unwrap(),
        BTreeSet::from([v4(2), v4(3), v6(2)])
    );
    // The allocations are still enforced after reopening.
    store.insert_container(&container(12, "c12")).unwrap();
    let err = store
        .insert_endpoint(&endpoint(4, &a, 12, &[v4(3)]))
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { what, .. } if what == ADDRESS_IN_USE),
        "{err}"
    );
}

#[test]
fn corrupt_container_and_endpoint_rows_are_errors_naming_them() {
    let dir = TempDir::new().unwrap();
    let (store, a, _) = setup(&dir);
    store
        .insert_endpoint(&endpoint(1, &a, 10, &[v4(2)]))
        .unwrap();
    let conn = raw(store.path());

    conn.execute(
        "UPDATE containers SET state = 'exited' WHERE name = 'c11'",
        [],
    )
    .unwrap();
    let err = store.containers().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::CorruptRow {
                table: "containers",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&"0b".repeat(32)), "{err}");
    conn.execute("UPDATE containers SET state = 'running'", [])
        .unwrap();
    store.containers().unwrap();

    conn.execute("UPDATE endpoints SET host_ifname = 'bad/name'", [])
        .unwrap();
    let err = store.endpoints().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::CorruptRow {
                table: "endpoints",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("bad/name"), "{err}");
}

#[test]
fn lookups_by_network_and_container_use_indexes() {
    let dir = TempDir::new().unwrap();
    let (store, _, _) = setup(&dir);
    let conn = raw(store.path());
    for (sql, index) in [
        (
            "SELECT id FROM endpoints WHERE network_id = 'x'",
            "sqlite_autoindex_endpoints_2",
        ),
        (
            "SELECT id FROM endpoints WHERE container_id = 'x'",
            "sqlite_autoindex_endpoints_3",
        ),
        (
            "SELECT address FROM ip_allocations WHERE endpoint_id = 'x'",
            "ip_allocations_by_endpoint",
        ),
        (
            "SELECT address FROM ip_allocations WHERE network_id = 'x'",
            "PRIMARY KEY",
        ),
    ] {
        let plan: Vec<String> = {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([], |r| r.get(3)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert!(
            plan.iter()
                .any(|step| step.contains(index) && step.starts_with("SEARCH")),
            "{sql}: {plan:?}"
        );
    }
}
