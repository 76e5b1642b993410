use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use berth_core::driver::bridge::{opt, BridgeSettings};
use berth_core::ports::StoreConflict;
use berth_ipam::SubnetPlan;
use berth_types::{Driver, IfName, NetworkName};
use tempfile::TempDir;

use super::*;

pub(crate) fn network(n: u8, name: &str) -> Network {
    let bridge_name = format!("br-{n:02x}");
    Network {
        id: NetworkId::from_bytes([n; 32]),
        name: NetworkName::parse(name).unwrap(),
        driver: Driver::Bridge,
        // Nanosecond precision, so the round trip checks it is kept.
        created: UNIX_EPOCH + Duration::new(1_700_000_000 + u64::from(n), 123_456_789),
        enable_ipv4: true,
        enable_ipv6: true,
        internal: false,
        attachable: false,
        subnets: vec![
            SubnetPlan {
                subnet: format!("172.18.{n}.0/24").parse().unwrap(),
                ip_range: Some(format!("172.18.{n}.128/25").parse().unwrap()),
                gateway: Ipv4Addr::new(172, 18, n, 1).into(),
                aux_addresses: BTreeMap::from([(
                    "host".to_owned(),
                    Ipv4Addr::new(172, 18, n, 5).into(),
                )]),
            },
            SubnetPlan {
                subnet: format!("fd00:{n:x}::/64").parse().unwrap(),
                ip_range: None,
                gateway: format!("fd00:{n:x}::1").parse().unwrap(),
                aux_addresses: BTreeMap::new(),
            },
        ],
        pool_subnets: vec![format!("fd00:{n:x}::/64").parse().unwrap()],
        options: BTreeMap::from([(opt::BRIDGE_NAME.to_owned(), bridge_name.clone())]),
        labels: BTreeMap::from([("com.example".to_owned(), "yes".to_owned())]),
        bridge: Some(BridgeSettings {
            name: IfName::parse(&bridge_name).unwrap(),
            mtu: 1500,
            icc: true,
            masquerade: true,
            host_binding_ipv4: Ipv4Addr::UNSPECIFIED.into(),
        }),
        macvlan: None,
        overlay: None,
    }
}

pub(crate) fn db(dir: &TempDir) -> PathBuf {
    dir.path().join("berth.db")
}

/// A plain connection to the same file, for checks and for setting up rows
/// the store has no method for yet.
pub(crate) fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(BUSY_TIMEOUT).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    conn
}

fn user_version(conn: &Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.map(Result::unwrap).collect()
}

#[test]
fn the_store_implements_the_port() {
    fn is_store<S: Store>() {}
    is_store::<SqliteStore>();
}

#[test]
fn open_creates_parent_dir_file_and_schema() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("a/b/berth.db");
    let store = SqliteStore::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(store.path(), path);

    let conn = lock(&store.writer);
    assert_eq!(user_version(&conn), schema::latest());
    assert_eq!(
        tables(&conn),
        [
            "containers",
            "endpoints",
            "ip_allocations",
            "networks",
            "volumes"
        ]
    );
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: bool = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert!(fk);
    assert!(store.networks().unwrap().is_empty());
}

#[test]
fn reopen_keeps_data_and_does_not_rerun_migrations() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let a = network(1, "alpha");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .commit(&[Write::PutNetwork(Box::new(a.clone()), RecordState::Ready)])
            .unwrap();
    }
    // Migration 1 is a bare CREATE TABLE: running it again would fail.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.networks().unwrap(), vec![(a, RecordState::Ready)]);
    assert_eq!(user_version(&lock(&store.reader)), schema::latest());
}

#[test]
fn migrate_applies_only_the_missing_steps_in_order() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut conn = raw(&path);
    let steps = [
        "CREATE TABLE log (step INTEGER NOT NULL)",
        "INSERT INTO log VALUES (2)",
        "INSERT INTO log VALUES (3)",
    ];
    schema::migrate(&mut conn, &path, &steps[..2]).unwrap();
    assert_eq!(user_version(&conn), 2);
    schema::migrate(&mut conn, &path, &steps).unwrap();
    schema::migrate(&mut conn, &path, &steps).unwrap();
    assert_eq!(user_version(&conn), 3);
    let log: Vec<i64> = {
        let mut stmt = conn.prepare("SELECT step FROM log ORDER BY rowid").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(log, [2, 3]);
}

#[test]
fn a_failing_migration_leaves_the_previous_version() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let mut conn = raw(&path);
    let steps = [
        "CREATE TABLE t (x INTEGER)",
        "INSERT INTO t VALUES (1); INSERT INTO nope VALUES (1)",
    ];
    let err = schema::migrate(&mut conn, &path, &steps).unwrap_err();
    assert!(
        matches!(err, StoreError::Migrate { version: 2, .. }),
        "{err}"
    );
    assert_eq!(user_version(&conn), 1);
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "the failed step's first statement was rolled back");
}

#[test]
fn open_refuses_a_newer_schema() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    raw(&path).pragma_update(None, "user_version", 99).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaVersion { found: 99, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn open_names_the_path_when_it_cannot_create_the_file() {
    let dir = TempDir::new().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let err = SqliteStore::open(&blocker.join("berth.db")).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
    assert!(
        err.to_string().contains(&blocker.display().to_string()),
        "{err}"
    );
}

#[test]
fn put_list_replace_delete_round_trip() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    let a = network(1, "alpha");
    let mut b = network(2, "beta");
    // Inserted out of creation order: the list is oldest first.
    store
        .commit(&[Write::PutNetwork(
            Box::new(b.clone()),
            RecordState::Creating,
        )])
        .unwrap();
    store
        .commit(&[Write::PutNetwork(Box::new(a.clone()), RecordState::Ready)])
        .unwrap();
    assert_eq!(
        store.networks().unwrap(),
        vec![
            (a.clone(), RecordState::Ready),
            (b.clone(), RecordState::Creating)
        ]
    );

    b.name = NetworkName::parse("gamma").unwrap();
    b.labels.insert("changed".to_owned(), "1".to_owned());
    b.internal = true;
    store
        .commit(&[Write::PutNetwork(Box::new(b.clone()), RecordState::Ready)])
        .unwrap();
    assert_eq!(
        store.networks().unwrap()[1],
        (b.clone(), RecordState::Ready)
    );

    store
        .commit(&[Write::PutNetwork(
            Box::new(b.clone()),
            RecordState::Removing,
        )])
        .unwrap();
    assert_eq!(
        store.networks().unwrap()[1],
        (b.clone(), RecordState::Removing)
    );

    store.commit(&[Write::DeleteNetwork(b.id.clone())]).unwrap();
    assert_eq!(
        store.networks().unwrap(),
        vec![(a.clone(), RecordState::Ready)]
    );
    // Deleting is idempotent.
    store.commit(&[Write::DeleteNetwork(b.id.clone())]).unwrap();
    // The freed name can be taken again.
    let c = network(3, "gamma");
    store
        .commit(&[Write::PutNetwork(
            Box::new(c.clone()),
            RecordState::Creating,
        )])
        .unwrap();
    assert_eq!(store.networks().unwrap().len(), 2);
}

#[test]
fn a_taken_name_is_a_conflict_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    let a = network(1, "alpha");
    store
        .commit(&[Write::PutNetwork(Box::new(a.clone()), RecordState::Ready)])
        .unwrap();

    let same_name = network(2, "alpha");
    let err = store
        .commit(&[Write::PutNetwork(
            Box::new(same_name.clone()),
            RecordState::Creating,
        )])
        .unwrap_err();
    match &err {
        StoreError::Conflict { what, .. } => {
            assert_eq!(what, "network with name alpha already exists")
        }
        other => panic!("expected Conflict, got {other:?}"),
    }

    // Renaming onto a taken name is a conflict too.
    let b = network(2, "beta");
    store
        .commit(&[Write::PutNetwork(Box::new(b.clone()), RecordState::Ready)])
        .unwrap();
    let mut renamed = b.clone();
    renamed.name = a.name.clone();
    let err = store
        .commit(&[Write::PutNetwork(
            Box::new(renamed.clone()),
            RecordState::Ready,
        )])
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

    // Nothing changed, and the caller can tell conflicts apart through the port.
    assert_eq!(
        store.networks().unwrap(),
        vec![(a, RecordState::Ready), (b, RecordState::Ready)]
    );
    let port_err: PortError = Store::commit(
        &store,
        &[Write::PutNetwork(
            Box::new(same_name.clone()),
            RecordState::Creating,
        )],
    )
    .unwrap_err();
    assert_eq!(
        port_err
            .downcast_ref::<StoreConflict>()
            .map(|c| c.0.as_str()),
        Some("network with name alpha already exists")
    );
}

#[test]
fn state_survives_reopen() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let a = network(1, "alpha");
    let b = network(2, "beta");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .commit(&[Write::PutNetwork(
                Box::new(a.clone()),
                RecordState::Creating,
            )])
            .unwrap();
        store
            .commit(&[Write::PutNetwork(Box::new(b.clone()), RecordState::Ready)])
            .unwrap();
        store
            .commit(&[Write::PutNetwork(
                Box::new(b.clone()),
                RecordState::Removing,
            )])
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.networks().unwrap(),
        vec![(a, RecordState::Creating), (b, RecordState::Removing)]
    );
}

#[test]
fn two_stores_on_one_file_work_side_by_side() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let first = SqliteStore::open(&path).unwrap();
    let second = SqliteStore::open(&path).unwrap();
    let a = network(1, "alpha");
    first
        .commit(&[Write::PutNetwork(Box::new(a.clone()), RecordState::Ready)])
        .unwrap();
    assert_eq!(
        second.networks().unwrap(),
        vec![(a.clone(), RecordState::Ready)]
    );

    // A write transaction held open elsewhere does not block reads (WAL):
    // they see the last committed state, immediately.
    let mut other = raw(&path);
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.execute("UPDATE networks SET state = 'removing'", [])
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        first.networks().unwrap(),
        vec![(a.clone(), RecordState::Ready)]
    );
    assert_eq!(
        second.networks().unwrap(),
        vec![(a.clone(), RecordState::Ready)]
    );
    assert!(
        started.elapsed() < BUSY_TIMEOUT,
        "reads waited for the writer"
    );
    tx.commit().unwrap();
    assert_eq!(second.networks().unwrap(), vec![(a, RecordState::Removing)]);
}

#[test]
fn the_reader_connection_cannot_write() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    let reader = lock(&store.reader);
    assert!(reader.execute("DELETE FROM networks", []).is_err());
}

#[test]
fn a_corrupt_row_is_an_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let store = SqliteStore::open(&path).unwrap();
    let a = network(1, "alpha");
    store
        .commit(&[Write::PutNetwork(Box::new(a.clone()), RecordState::Ready)])
        .unwrap();
    let conn = raw(&path);

    conn.execute("UPDATE networks SET spec = '{\"id\": 1'", [])
        .unwrap();
    let err = store.networks().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::CorruptRow {
                table: "networks",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(a.id.as_str()), "{err}");

    // Valid JSON of another network is corrupt too.
    let b = network(2, "alpha");
    conn.execute(
        "UPDATE networks SET spec = ?1",
        params![serde_json::to_string(&b).unwrap()],
    )
    .unwrap();
    let err = store.networks().unwrap_err();
    assert!(err.to_string().contains("spec has id"), "{err}");
}

#[test]
fn the_state_column_is_checked() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let store = SqliteStore::open(&path).unwrap();
    store
        .commit(&[Write::PutNetwork(
            Box::new(network(1, "alpha")),
            RecordState::Ready,
        )])
        .unwrap();
    assert!(raw(&path)
        .execute("UPDATE networks SET state = 'bogus'", [])
        .is_err());
}

#[test]
fn unix_ns_round_trips_and_bounds() {
    for t in [
        UNIX_EPOCH,
        UNIX_EPOCH + Duration::new(1_700_000_000, 1),
        UNIX_EPOCH - Duration::new(5, 7),
    ] {
        assert_eq!(from_unix_ns(unix_ns(t).unwrap()), Some(t));
    }
    assert_eq!(
        unix_ns(UNIX_EPOCH - Duration::new(5, 7)),
        Some(-5_000_000_007)
    );
    assert_eq!(
        unix_ns(UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400)),
        None
    );
}

/// Measures what `synchronous=FULL` costs per write transaction against
/// `NORMAL`. Not a test (no assertion on time): run it by hand with
/// `cargo test -p berth-store --release -- --ignored --nocapture measure`.
/// `BERTH_STORE_BENCH_DIR` picks the filesystem (default: the temp dir).
#[test]
#[ignore]
fn measure_synchronous_cost() {
    const N: u8 = 250;
    let base = std::env::var_os("BERTH_STORE_BENCH_DIR").map(PathBuf::from);
    for sync in [
        Synchronous::Normal,
        Synchronous::Full,
        Synchronous::Normal,
        Synchronous::Full,
    ] {
        let dir = match &base {
            Some(b) => TempDir::new_in(b).unwrap(),
            None => TempDir::new().unwrap(),
        };
        let store = SqliteStore::open_with(&db(&dir), sync).unwrap();
        let started = Instant::now();
        for n in 0..N {
            let net = network(n, &format!("net{n}"));
            store
                .commit(&[Write::PutNetwork(
                    Box::new(net.clone()),
                    RecordState::Creating,
                )])
                .unwrap();
            store
                .commit(&[Write::PutNetwork(Box::new(net.clone()), RecordState::Ready)])
                .unwrap();
        }
        let per_tx = started.elapsed() / (2 * u32::from(N));
        println!(
            "synchronous={:<6} {} write transactions: {per_tx:?} each ({})",
            sync.pragma(),
            2 * u32::from(N),
            dir.path().display()
        );
    }
}

/// The SQLite store keeps the `Store` contract (the same suite runs against
/// the engine tests' in-memory store in berth-testkit).
#[test]
fn sqlite_keeps_the_store_contract() {
    let dir = TempDir::new().unwrap();
    let made = std::cell::Cell::new(0);
    berth_testkit::store_contract::check_store_contract(|| {
        made.set(made.get() + 1);
        SqliteStore::open(&dir.path().join(format!("contract-{}.db", made.get()))).unwrap()
    });
}

#[test]
fn an_unsynced_commit_is_kept_and_every_other_commit_syncs_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    store
        .commit_unsynced(&[Write::PutNetwork(
            Box::new(network(1, "n1")),
            RecordState::Ready,
        )])
        .unwrap();
    let sync: i64 = lock(&store.writer)
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "the writer is left at FULL");
    drop(store);
    let store = SqliteStore::open(&db(&dir)).unwrap();
    assert_eq!(store.networks().unwrap().len(), 1);
}

/// A start's unsynced intent never runs the WAL checkpoint (its fsyncs
/// would sit on the start's path); the next synced commit does.
#[test]
fn only_a_synced_commit_checkpoints_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = SqliteStore::open(&path).unwrap();
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = dir.path().join("berth.db-wal");
    let page_size: i64 = lock(&store.writer)
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let net = network(1, "n1");
    let before = size(&path);
    // Each commit appends at least one frame: past the threshold.
    for _ in 0..=AUTO_CHECKPOINT_PAGES {
        store
            .commit_unsynced(&[Write::PutNetwork(Box::new(net.clone()), RecordState::Ready)])
            .unwrap();
    }
    assert!(
        size(&wal) > u64::from(AUTO_CHECKPOINT_PAGES) * u64::try_from(page_size).unwrap(),
        "the WAL grew past the checkpoint threshold"
    );
    assert_eq!(size(&path), before, "no unsynced commit checkpointed");
    store
        .commit(&[Write::PutNetwork(Box::new(net), RecordState::Ready)])
        .unwrap();
    assert!(
        size(&path) > before,
        "the synced commit checkpointed the WAL into the database"
    );
    let pages: i64 = lock(&store.writer)
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        pages,
        i64::from(AUTO_CHECKPOINT_PAGES),
        "the writer is left checkpointing"
    );
}
