//! The schema as an ordered list of migrations. `PRAGMA user_version` holds
//! how many of them a database has applied; `open` applies the rest, each in
//! its own transaction together with the version bump, so a crash leaves the
//! database at a whole version. Never edit a migration that has shipped:
//! append a new one.
//!
//! Conventions: tables are `STRICT`; ids are the 64-hex strings of
//! `berth_types`; `state` is a `RecordState` string; `spec` is the JSON of the
//! model object (the columns beside it are copies of the fields that need a
//! constraint or an index); times are `*_ns`, nanoseconds since the Unix epoch.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;

/// Migration `i` (0-based) takes the database from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: networks.
    "CREATE TABLE networks (
        id         TEXT    NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL UNIQUE,
        state      TEXT    NOT NULL CHECK (state IN ('creating', 'ready', 'removing')),
        created_ns INTEGER NOT NULL,
        spec       TEXT    NOT NULL -- JSON of berth_core::network::Network
    ) STRICT;",
    // 2: containers, their endpoints, and IP allocations.
    //
    // - `containers.state` is a copy of the model's `state.status`.
    // - An endpoint joins one container to one network, at most once
    //   (UNIQUE(network_id, container_id)), and its interface name is unique in
    //   its container's sandbox (UNIQUE(container_id, ifname)). Those two
    //   indexes also serve "endpoints of network N" and "endpoints of
    //   container C", and the foreign-key checks and cascades below.
    // - A network that still has endpoints cannot be deleted (foreign key, no
    //   cascade): the engine removes endpoints first, and a forgotten one
    //   surfaces as a conflict instead of an orphan row. Deleting a container
    //   deletes its endpoints (cascade; `delete_container` also deletes them
    //   explicitly first).
    // - An IP allocation is a row insert under PRIMARY KEY(network_id,
    //   address), so two allocations can never hold the same address.
    //   `address` is the canonical text form (`IpAddr`'s Display). Deleting
    //   the endpoint releases its addresses in the same statement (cascade);
    //   `endpoint_id` NULL is a reservation owned by the network itself.
    //   The endpoint's addresses are its allocations: they are not stored
    //   twice.
    "CREATE TABLE containers (
        id         TEXT    NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL UNIQUE,
        state      TEXT    NOT NULL
                   CHECK (state IN ('created', 'running', 'exited', 'removing')),
        created_ns INTEGER NOT NULL,
        spec       TEXT    NOT NULL -- JSON of berth_core::container::Container
    ) STRICT;

    CREATE TABLE endpoints (
        id           TEXT NOT NULL PRIMARY KEY,
        network_id   TEXT NOT NULL REFERENCES networks (id),
        container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
        ifname       TEXT NOT NULL,
        host_ifname  TEXT NOT NULL,
        UNIQUE (network_id, container_id),
        UNIQUE (container_id, ifname)
    ) STRICT;

    CREATE TABLE ip_allocations (
        network_id  TEXT NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
        address     TEXT NOT NULL,
        endpoint_id TEXT REFERENCES endpoints (id) ON DELETE CASCADE,
        PRIMARY KEY (network_id, address)
    ) STRICT, WITHOUT ROWID;

    CREATE INDEX ip_allocations_by_endpoint ON ip_allocations (endpoint_id);",
    // 3: an endpoint is stored once, here, not also in its container's JSON.
    //
    // - `spec` is the JSON of berth_core::container::Endpoint (addresses with
    //   their prefixes, MAC, gateways); its allocations stay the arbiter of
    //   who holds an address.
    // - Rows written before this version get theirs from the container's
    //   record, which held a copy. A row whose container does not hold it
    //   was an orphan the next reconcile would have deleted: it goes now.
    "ALTER TABLE endpoints ADD COLUMN spec TEXT;

    UPDATE endpoints SET spec = (
        SELECT json_extract(attachment.value, '$.endpoint')
        FROM containers, json_each(containers.spec, '$.attachments') AS attachment
        WHERE containers.id = endpoints.container_id
          AND json_extract(attachment.value, '$.endpoint.id') = endpoints.id
    );

    DELETE FROM endpoints WHERE spec IS NULL;",
    // 4: volumes, by their unique name.
    "CREATE TABLE volumes (
        name       TEXT    NOT NULL PRIMARY KEY,
        created_ns INTEGER NOT NULL,
        spec       TEXT    NOT NULL -- JSON of berth_core::volume::Volume
    ) STRICT;",
];

/// The schema version this build writes.
pub(crate) fn latest() -> i64 {
    // A list of migrations never comes near i64::MAX.
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Brings the database up to `migrations.len()`. Each step checks the version
/// inside its own write transaction, so two processes opening the same file
/// at once cannot apply a step twice.
pub(crate) fn migrate(
    conn: &mut Connection,
    path: &Path,
    migrations: &[&str],
) -> Result<(), StoreError> {
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    loop {
        let migrate_err = |version: i64| {
            let path = path.to_owned();
            move |source| StoreError::Migrate {
                path,
                version,
                source,
            }
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                step: "begin migration transaction",
                source,
            })?;
        let current: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                step: "read user_version",
                source,
            })?;
        if !(0..=known).contains(&current) {
            return Err(StoreError::SchemaVersion {
                path: path.to_owned(),
                found: current,
                known,
            });
        }
        if current == known {
            return Ok(());
        }
        let next = current + 1;
        let sql = usize::try_from(current)
            .ok()
            .and_then(|i| migrations.get(i))
            .copied()
            .unwrap_or_default();
        tx.execute_batch(sql).map_err(migrate_err(next))?;
        tx.pragma_update(None, "user_version", next)
            .map_err(migrate_err(next))?;
        tx.commit().map_err(migrate_err(next))?;
        tracing::info!(path = %path.display(), version = next, "state database migrated");
    }
}
