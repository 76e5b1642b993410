//! berth's durable state: one SQLite file (`<data-root>/berth.db`) behind the
//! core's [`Store`] port.
//!
//! - WAL journal, `synchronous=FULL` (see [`SqliteStore::open`] for why),
//!   foreign keys on, a busy timeout so a second process waits instead of
//!   failing.
//! - Two connections: writes go through one, reads through the other, each
//!   behind its own mutex. In WAL mode a reader sees the last committed state
//!   and never waits for a writer, so API reads are not held up by the engine.
//! - The engine loads everything once and then only writes: each
//!   [`SqliteStore::commit`] is one `BEGIN IMMEDIATE` transaction, however
//!   many records it changes (one per API operation, or one on each side
//!   of its kernel work).
//! - Constraint violations come back as [`StoreError::Conflict`], missing
//!   objects as [`StoreError::NotFound`]; a row that cannot be decoded is
//!   [`StoreError::CorruptRow`] naming the row, never a panic. Through the
//!   [`Store`] port a conflict is a bare
//!   [`StoreConflict`](berth_core::ports::StoreConflict), the type the core
//!   downcasts to (see [`StoreError::into_port`]).

mod containers;
mod error;
mod schema;
mod volumes;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_core::container::Container;
use berth_core::network::{Network, RecordState};
use berth_core::ports::{PortError, Store, Write};
use berth_types::NetworkId;
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};

use crate::error::Constraint;
pub use crate::error::StoreError;

/// How long a statement waits for another connection's lock (another
/// process's, or a WAL checkpoint) before it fails with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const NETWORKS: &str = "networks";

/// WAL pages after which a commit checkpoints (SQLite's default).
const AUTO_CHECKPOINT_PAGES: u32 = 1000;

/// The `synchronous` setting of both connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Synchronous {
    /// fsync the WAL at every commit: a commit that returned survives power
    /// loss. What `open` uses.
    Full,
    /// fsync only at checkpoints: survives a process crash, may lose the last
    /// commits on power loss. For [`Store::commit_unsynced`] only.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// The SQLite implementation of [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if missing) the database at
    /// `path` and brings its schema up to date, one transaction per missing
    /// migration.
    ///
    /// Durability: the daemon records an intent, does kernel work, then marks
    /// it done, and reconcile at start trusts those records. With WAL and
    /// `synchronous=NORMAL` a commit is only fsynced at the next checkpoint,
    /// so a power loss can forget an intent whose kernel work already
    /// happened (a bridge nobody owns, or worse an address handed out twice).
    /// `synchronous=FULL` fsyncs the WAL at every commit (one fsync, appended
    /// sequentially), which closes that hole; measured on this project's ext4
    /// VM disk it costs ≈210 µs per write transaction against ≈30 µs with
    /// NORMAL (see the `measure_synchronous_cost` test; a disk without a
    /// write cache may take a few ms), small next to the netlink and nft work
    /// every such transaction brackets. Reads pay nothing.
    ///
    /// The exception is [`Store::commit_unsynced`] (a start's intent): what
    /// it records is kernel state that a power loss erases as well, so it
    /// is written with `NORMAL`; a process crash still finds it, and the
    /// next `FULL` commit's fsync covers it (the WAL is appended in order).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, Synchronous::Full)
    }

    fn open_with(path: &Path, sync: Synchronous) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut writer = open_connection(path, sync, Role::Writer)?;
        schema::migrate(&mut writer, path, schema::MIGRATIONS)?;
        let reader = open_connection(path, sync, Role::Reader)?;
        tracing::debug!(path = %path.display(), version = schema::latest(), "state database open");
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every network with the state of its record, oldest first.
    pub fn networks(&self) -> Result<Vec<(Network, RecordState)>, StoreError> {
        const OP: &str = "list networks";
        let conn = lock(&self.reader);
        let sql_err =
            |source| StoreError::from_sqlite(OP, "(all)", source, |_, msg| msg.to_owned());
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, name, state, created_ns, spec FROM networks ORDER BY created_ns, id",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(NetworkRow {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    state: row.get(2)?,
                    created_ns: row.get(3)?,
                    spec: row.get(4)?,
                })
            })
            .map_err(sql_err)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(sql_err)?.decode()?);
        }
        Ok(out)
    }

    /// Applies `writes` in order as one `BEGIN IMMEDIATE` transaction: all
    /// or nothing. A unique constraint refusing a write is
    /// [`StoreError::Conflict`] with Docker's text (a taken name, an address
    /// already allocated on its network), and nothing is written.
    pub fn commit(&self, writes: &[Write]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        commit_on(&mut conn, writes)
    }

    /// [`SqliteStore::commit`] without the fsync: see [`SqliteStore::open`].
    ///
    /// Nor does it run the WAL checkpoint that a commit past
    /// [`AUTO_CHECKPOINT_PAGES`] would: a checkpoint fsyncs the WAL and the
    /// database (2-3 ms, and more with the disk busy), and this commit is
    /// on a start's path before its network is made. The next synced
    /// commit, which fsyncs anyway, runs it.
    pub fn commit_unsynced(&self, writes: &[Write]) -> Result<(), StoreError> {
        const OP: &str = "commit unsynced";
        let mut conn = lock(&self.writer);
        let set = |conn: &Connection, sync: Synchronous, checkpoint_pages: u32| {
            conn.pragma_update(None, "synchronous", sync.pragma())
                .map_err(|e| StoreError::sqlite(OP, "(set synchronous)", e))?;
            conn.pragma_update(None, "wal_autocheckpoint", checkpoint_pages)
                .map_err(|e| StoreError::sqlite(OP, "(set wal_autocheckpoint)", e))
        };
        set(&conn, Synchronous::Normal, 0)?;
        let committed = commit_on(&mut conn, writes);
        // Back whatever happened: every other commit syncs and checkpoints.
        set(&conn, Synchronous::Full, AUTO_CHECKPOINT_PAGES)?;
        committed
    }
}

/// One transaction of `writes` on the writer connection.
fn commit_on(conn: &mut Connection, writes: &[Write]) -> Result<(), StoreError> {
    const OP: &str = "commit";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| StoreError::sqlite(OP, "(begin)", e))?;
    for write in writes {
        match write {
            Write::PutNetwork(network, state) => put_network(&tx, network, *state)?,
            Write::DeleteNetwork(id) => delete_network(&tx, id)?,
            Write::PutContainer(container) => containers::put(&tx, container)?,
            Write::DeleteContainer(id) => containers::delete(&tx, id)?,
            Write::PutVolume(volume) => volumes::put(&tx, volume)?,
            Write::DeleteVolume(name) => volumes::delete(&tx, name)?,
        }
    }
    // Dropping `tx` on any error above rolled everything back.
    tx.commit()
        .map_err(|e| StoreError::sqlite(OP, "(commit)", e))
}

/// Inserts a network or replaces the one with its id; a name another
/// network holds is [`StoreError::Conflict`].
fn put_network(conn: &Connection, network: &Network, state: RecordState) -> Result<(), StoreError> {
    const OP: &str = "put network";
    let (spec, created_ns) = encode_network(OP, network)?;
    conn.prepare_cached(
        "INSERT INTO networks (id, name, state, created_ns, spec) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, \
         created_ns = excluded.created_ns, spec = excluded.spec",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            network.id.as_str(),
            network.name.as_str(),
            state.as_str(),
            created_ns,
            spec
        ])
    })
    .map_err(|e| network_write_error(OP, network, e))?;
    Ok(())
}

/// Deletes a network and its address reservations. Deleting an id that is
/// not stored succeeds, so reconcile can repeat a removal that a crash
/// interrupted. A network that still has endpoints is
/// [`StoreError::Conflict`].
fn delete_network(conn: &Connection, id: &NetworkId) -> Result<(), StoreError> {
    const OP: &str = "delete network";
    conn.prepare_cached("DELETE FROM networks WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![id.as_str()]))
        .map_err(|e| {
            StoreError::from_sqlite(OP, format!("network {id}"), e, |kind, msg| match kind {
                Constraint::ForeignKey => format!("network {id} has active endpoints"),
                Constraint::Unique => msg.to_owned(),
            })
        })?;
    Ok(())
}

/// Each method is the inherent one of the same name, its error converted by
/// [`StoreError::into_port`].
impl Store for SqliteStore {
    fn networks(&self) -> Result<Vec<(Network, RecordState)>, PortError> {
        SqliteStore::networks(self).map_err(StoreError::into_port)
    }

    fn containers(&self) -> Result<Vec<Container>, PortError> {
        SqliteStore::containers(self).map_err(StoreError::into_port)
    }

    fn volumes(&self) -> Result<Vec<berth_core::volume::Volume>, PortError> {
        SqliteStore::volumes(self).map_err(StoreError::into_port)
    }

    fn commit(&self, writes: &[Write]) -> Result<(), PortError> {
        SqliteStore::commit(self, writes).map_err(StoreError::into_port)
    }

    fn commit_unsynced(&self, writes: &[Write]) -> Result<(), PortError> {
        SqliteStore::commit_unsynced(self, writes).map_err(StoreError::into_port)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

fn open_connection(path: &Path, sync: Synchronous, role: Role) -> Result<Connection, StoreError> {
    let err = |step: &'static str| {
        move |source| StoreError::Open {
            path: path.to_owned(),
            step,
            source,
        }
    };
    // No SQLITE_OPEN_URI: the path is a path, even if it starts with "file:".
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if role == Role::Writer {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(err("open"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(err("set busy_timeout"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(err("set journal_mode=WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_owned(),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", sync.pragma())
        .map_err(err("set synchronous"))?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(err("set foreign_keys=ON"))?;
    if role == Role::Reader {
        // The reader never writes; make SQLite enforce it.
        conn.pragma_update(None, "query_only", true)
            .map_err(err("set query_only=ON"))?;
    }
    Ok(conn)
}

/// Locks a connection. A panic while the lock was held unwound through
/// rusqlite's `Transaction`/`Statement` drops, which roll back and reset, so
/// the connection is consistent and the poison flag can be ignored.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A network's spec JSON and creation time as stored.
fn encode_network(op: &'static str, network: &Network) -> Result<(String, i64), StoreError> {
    encode_record(
        op,
        || format!("network {} ({})", network.id, network.name),
        network.created,
        serde_json::to_string(network),
    )
}

/// A record's spec JSON (already serialised, or the error doing it) and its
/// creation time in nanoseconds, as stored; `target` names the record.
fn encode_record(
    op: &'static str,
    target: impl Fn() -> String,
    created: SystemTime,
    spec: serde_json::Result<String>,
) -> Result<(String, i64), StoreError> {
    let encode_err = |reason: String| StoreError::Encode {
        op,
        target: target(),
        reason,
    };
    let created_ns = unix_ns(created)
        .ok_or_else(|| encode_err(format!("created time {created:?} out of range")))?;
    let spec = spec.map_err(|e| encode_err(format!("JSON: {e}")))?;
    Ok((spec, created_ns))
}

fn network_write_error(op: &'static str, network: &Network, e: rusqlite::Error) -> StoreError {
    StoreError::from_sqlite(
        op,
        format!("network {} ({})", network.id, network.name),
        e,
        |kind, msg| match kind {
            Constraint::Unique if msg.contains("networks.name") => {
                format!("network with name {} already exists", network.name)
            }
            Constraint::Unique if msg.contains("networks.id") => {
                format!("network with id {} already exists", network.id)
            }
            _ => format!("network {} ({}): {msg}", network.id, network.name),
        },
    )
}

/// One `networks` row as read, before decoding.
struct NetworkRow {
    id: String,
    name: String,
    state: String,
    created_ns: i64,
    spec: String,
}

impl NetworkRow {
    fn decode(self) -> Result<(Network, RecordState), StoreError> {
        let corrupt = |reason: String| StoreError::CorruptRow {
            table: NETWORKS,
            id: self.id.clone(),
            reason,
        };
        let state = RecordState::parse(&self.state)
            .ok_or_else(|| corrupt(format!("unknown state {:?}", self.state)))?;
        let mut network: Network =
            serde_json::from_str(&self.spec).map_err(|e| corrupt(format!("spec JSON: {e}")))?;
        if network.id.as_str() != self.id {
            return Err(corrupt(format!("spec has id {}", network.id)));
        }
        if network.name.as_str() != self.name {
            return Err(corrupt(format!(
                "spec has name {:?}, column has {:?}",
                network.name.as_str(),
                self.name
            )));
        }
        // The column is the authority for the time (the JSON carries a copy).
        network.created = from_unix_ns(self.created_ns)
            .ok_or_else(|| corrupt(format!("created_ns {} out of range", self.created_ns)))?;
        Ok((network, state))
    }
}

/// Nanoseconds since the Unix epoch (negative before it); `None` outside
/// i64's range (about years 1677 to 2262).
fn unix_ns(t: SystemTime) -> Option<i64> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).ok(),
        Err(before) => i64::try_from(before.duration().as_nanos()).ok().map(|n| -n),
    }
}

fn from_unix_ns(ns: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
mod tests;
