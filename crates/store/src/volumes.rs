//! Volumes, one row each under their unique name.

use berth_core::volume::Volume;
use rusqlite::{params, Connection};

use crate::{encode_record, from_unix_ns, lock, SqliteStore, StoreError};

const VOLUMES: &str = "volumes";

impl SqliteStore {
    /// Every volume, oldest first.
    pub fn volumes(&self) -> Result<Vec<Volume>, StoreError> {
        const OP: &str = "list volumes";
        let conn = lock(&self.reader);
        let sql_err = |source| StoreError::sqlite(OP, "(all)", source);
        let mut stmt = conn
            .prepare_cached("SELECT name, created_ns, spec FROM volumes ORDER BY created_ns, name")
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(sql_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (name, created_ns, spec) = row.map_err(sql_err)?;
            let corrupt = |reason: String| StoreError::CorruptRow {
                table: VOLUMES,
                id: name.clone(),
                reason,
            };
            let mut volume: Volume =
                serde_json::from_str(&spec).map_err(|e| corrupt(format!("spec JSON: {e}")))?;
            if volume.name != name {
                return Err(corrupt(format!("spec has name {:?}", volume.name)));
            }
            volume.created = from_unix_ns(created_ns)
                .ok_or_else(|| corrupt(format!("created_ns {created_ns} out of range")))?;
            out.push(volume);
        }
        Ok(out)
    }
}

/// Inserts a volume or replaces the one with its name.
pub(crate) fn put(conn: &Connection, volume: &Volume) -> Result<(), StoreError> {
    const OP: &str = "put volume";
    let target = || format!("volume {}", volume.name);
    let (spec, created_ns) =
        encode_record(OP, target, volume.created, serde_json::to_string(volume))?;
    conn.prepare_cached(
        "INSERT INTO volumes (name, created_ns, spec) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET created_ns = excluded.created_ns, spec = excluded.spec",
    )
    .and_then(|mut stmt| stmt.execute(params![volume.name, created_ns, spec]))
    .map_err(|e| StoreError::sqlite(OP, target(), e))?;
    Ok(())
}

/// Deletes a volume; a missing one is success.
pub(crate) fn delete(conn: &Connection, name: &str) -> Result<(), StoreError> {
    const OP: &str = "delete volume";
    conn.prepare_cached("DELETE FROM volumes WHERE name = ?1")
        .and_then(|mut stmt| stmt.execute(params![name]))
        .map_err(|e| StoreError::sqlite(OP, format!("volume {name}"), e))?;
    Ok(())
}
