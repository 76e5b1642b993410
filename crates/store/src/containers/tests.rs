use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use berth_core::container::{
    Attachment, Container, DnsConfig, Endpoint, NetworkMode, PortBinding, ProcessConfig, Proto,
    RunState, Status,
};
use berth_core::network::RecordState;
use berth_core::ports::{PortError, Store, StoreConflict, Write};
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
                host_ifname: Some(ifname(&format!("veth{n:07x}"))),
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
        restart: Default::default(),
        links: Vec::new(),
        healthcheck: None,
        stop_signal: None,
        stop_timeout: None,
        storage: Default::default(),
        resources: Default::default(),
        security: Default::default(),
        published: Vec::new(),
        state: RunState {
            status: Status::Running,
            pid: 4242,
            exit_code: 0,
            started_at: Some(UNIX_EPOCH + Duration::new(1_800_000_000, 1)),
            finished_at: None,
            error: String::new(),
            starting: true,
            ..RunState::created()
        },
        netns: Some(PathBuf::from(format!("/run/berth/netns/{n}"))),
    }
}

/// A store with networks 1 (alpha) and 2 (beta).
fn setup(dir: &TempDir) -> SqliteStore {
    let store = SqliteStore::open(&db(dir)).unwrap();
    store
        .commit(&[
            Write::PutNetwork(Box::new(network(1, "alpha")), RecordState::Ready),
            Write::PutNetwork(Box::new(network(2, "beta")), RecordState::Ready),
        ])
        .unwrap();
    store
}

fn put(c: &Container) -> Write {
    Write::PutContainer(Box::new(c.clone()))
}

fn count(path: &std::path::Path, sql: &str) -> i64 {
    raw(path).query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn containers_round_trip_the_whole_model() {
    let dir = TempDir::new().unwrap();
    let store = setup(&dir);
    let c = container(10, "web");
    store.commit(&[put(&c)]).unwrap();
    assert_eq!(store.containers().unwrap(), vec![c.clone()]);
    let reopened = SqliteStore::open(&db(&dir)).unwrap();
    assert_eq!(reopened.containers().unwrap(), vec![c]);
}

/// The endpoint is stored once: in the endpoints table with its
/// allocations, not in the container's own record.
#[test]
fn an_endpoint_is_stored_once_with_its_allocations() {
    let dir = TempDir::new().unwrap();
    let store = setup(&dir);
    store.commit(&[put(&container(10, "web"))]).unwrap();
    let path = db(&dir);
    let spec: String = raw(&path)
        .query_row("SELECT spec FROM containers", [], |r| r.get(0))
        .unwrap();
    assert!(!spec.contains("veth000000a"), "{spec}");
    assert_eq!(count(&path, "SELECT count(*) FROM endpoints"), 1);
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM ip_allocations WHERE endpoint_id IS NOT NULL"
        ),
        2,
        "its IPv4 and IPv6 addresses"
    );
    // The container stops: its endpoint and allocations go in the same
    // write.
    let mut stopped = container(10, "web");
    stopped.attachments[0].endpoint = None;
    store.commit(&[put(&stopped)]).unwrap();
    assert_eq!(count(&path, "SELECT count(*) FROM endpoints"), 0);
    assert_eq!(count(&path, "SELECT count(*) FROM ip_allocations"), 0);
    assert_eq!(store.containers().unwrap(), vec![stopped]);
}

#[test]
fn a_taken_name_or_address_is_dockers_conflict_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let store = setup(&dir);
    let web = container(10, "web");
    store.commit(&[put(&web)]).unwrap();

    let mut same_name = container(11, "web");
    same_name.attachments[0].endpoint = None;
    let err = store.commit(&[put(&same_name)]).unwrap_err();
    match &err {
        StoreError::Conflict { what, .. } => assert_eq!(
            what,
            &format!(
                "Conflict. The container name \"/web\" is already in use by container \"{}\". \
                 You have to remove (or rename) that container to be able to reuse that name.",
                web.id
            )
        ),
        other => panic!("expected Conflict, got {other:?}"),
    }

    // Container 11 on the same network with container 10's address.
    let mut same_address = container(11, "db");
    if let Some(e) = same_address.attachments[0].endpoint.as_mut() {
        e.ipv4 = web.attachments[0].endpoint.as_ref().unwrap().ipv4;
    }
    let err: PortError = Store::commit(&store, &[put(&same_address)]).unwrap_err();
    assert_eq!(
        err.downcast_ref::<StoreConflict>().map(|c| c.0.as_str()),
        Some(ADDRESS_IN_USE)
    );
    assert_eq!(store.containers().unwrap(), vec![web]);
}

#[test]
fn a_network_with_endpoints_is_not_deleted() {
    let dir = TempDir::new().unwrap();
    let store = setup(&dir);
    store.commit(&[put(&container(10, "web"))]).unwrap();
    let err = store
        .commit(&[Write::DeleteNetwork(NetworkId::from_bytes([1; 32]))])
        .unwrap_err();
    assert!(err.to_string().contains("has active endpoints"), "{err}");
    assert_eq!(store.networks().unwrap().len(), 2);
}

#[test]
fn a_corrupt_endpoint_row_is_an_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let store = setup(&dir);
    store.commit(&[put(&container(10, "web"))]).unwrap();
    raw(&db(&dir))
        .execute("UPDATE endpoints SET spec = '{\"id\": 1'", [])
        .unwrap();
    let err = store.containers().unwrap_err();
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
    assert!(
        err.to_string().contains(&"0a".repeat(32)),
        "names the endpoint: {err}"
    );
}

/// A database written before endpoints were stored once: migration 3 takes
/// each endpoint's copy from its container's record, and drops the rows no
/// container holds (orphans the next reconcile would have removed).
#[test]
fn migration_3_moves_endpoints_out_of_container_records() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut conn = raw(&path);
    crate::schema::migrate(&mut conn, &path, &crate::schema::MIGRATIONS[..2]).unwrap();
    let net = network(1, "alpha");
    let other = network(2, "beta");
    for n in [&net, &other] {
        conn.execute(
            "INSERT INTO networks (id, name, state, created_ns, spec) \
             VALUES (?1, ?2, 'ready', 0, ?3)",
            params![
                n.id.as_str(),
                n.name.as_str(),
                serde_json::to_string(n).unwrap()
            ],
        )
        .unwrap();
    }
    let c = container(10, "web");
    let endpoint = c.attachments[0].endpoint.clone().unwrap();
    // The old shape: the endpoint inside the container's record.
    let mut old = serde_json::to_value(&c).unwrap();
    old["attachments"][0]["endpoint"] = serde_json::to_value(&endpoint).unwrap();
    conn.execute(
        "INSERT INTO containers (id, name, state, created_ns, spec) \
         VALUES (?1, 'web', 'running', 1700000010987654321, ?2)",
        params![c.id.as_str(), old.to_string()],
    )
    .unwrap();
    let orphan = EndpointId::from_bytes([0x77; 32]);
    // The orphan: on a network the container's record does not attach it to.
    for (id, network, host_ifname, ifname, address) in [
        (
            endpoint.id.as_str(),
            &net,
            "veth000000a",
            "eth0",
            "172.18.1.10",
        ),
        (
            orphan.as_str(),
            &other,
            "veth0000077",
            "eth1",
            "172.18.2.77",
        ),
    ] {
        conn.execute(
            "INSERT INTO endpoints (id, network_id, container_id, ifname, host_ifname) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, network.id.as_str(), c.id.as_str(), ifname, host_ifname],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO ip_allocations (network_id, address, endpoint_id) VALUES (?1, ?2, ?3)",
            params![network.id.as_str(), address, id],
        )
        .unwrap();
    }
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.containers().unwrap(), vec![c]);
    assert_eq!(count(&path, "SELECT count(*) FROM endpoints"), 1);
    assert_eq!(
        count(&path, "SELECT count(*) FROM ip_allocations"),
        1,
        "the orphan's address is free"
    );
}
