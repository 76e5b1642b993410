use std::path::PathBuf;

use berth_core::ports::{PortError, StoreConflict};

/// What went wrong in the store, and while doing what to which object.
///
/// Through the [`Store`](berth_core::ports::Store) port a
/// [`StoreError::Conflict`] becomes a bare [`StoreConflict`] carrying its
/// `what` (the core downcasts to that type); every other variant is boxed
/// as is.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("creating directory {path} for the state database: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("opening state database {path}: {step}: {source}")]
    Open {
        path: PathBuf,
        /// What `open` was doing (`"set journal_mode=WAL"`…).
        step: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    /// SQLite refused WAL mode (e.g. a filesystem without shared memory).
    #[error("opening state database {path}: journal_mode stayed {mode:?}, WAL is required")]
    NoWal { path: PathBuf, mode: String },

    /// The file's schema version is not one this build can migrate from
    /// (newer than this berthd, or not berth's at all).
    #[error(
        "state database {path} has schema version {found}, but this berthd knows \
         versions 0 to {known}: refusing to touch it (written by a newer berthd?)"
    )]
    SchemaVersion {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    #[error("migrating state database {path} to schema version {version}: {source}")]
    Migrate {
        path: PathBuf,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },

    /// A UNIQUE / PRIMARY KEY / FOREIGN KEY constraint refused the change:
    /// the object already exists, or is still in use.
    #[error("{op}: {what}")]
    Conflict { op: &'static str, what: String },

    /// The object the operation names is not stored.
    #[error("{op}: {what} not found")]
    NotFound { op: &'static str, what: String },

    /// A stored row that cannot be read back (bad JSON, unknown state…).
    #[error("corrupt row in table {table}, id {id}: {reason}")]
    CorruptRow {
        table: &'static str,
        id: String,
        reason: String,
    },

    /// A value that cannot be stored (serialisation failed, time out of range).
    #[error("{op} {target}: cannot encode: {reason}")]
    Encode {
        op: &'static str,
        target: String,
        reason: String,
    },

    /// Any other SQLite failure.
    #[error("{op} {target}: {source}")]
    Sqlite {
        op: &'static str,
        target: String,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Wraps a SQLite error from `op` on `target`, turning constraint
    /// violations into [`StoreError::Conflict`]. `conflict` phrases the
    /// conflict from SQLite's message (e.g. `UNIQUE constraint failed:
    /// networks.name`).
    pub(crate) fn from_sqlite(
        op: &'static str,
        target: impl Into<String>,
        source: rusqlite::Error,
        conflict: impl FnOnce(Constraint, &str) -> String,
    ) -> StoreError {
        if let Some((kind, msg)) = Constraint::of(&source) {
            return StoreError::Conflict {
                op,
                what: conflict(kind, msg),
            };
        }
        StoreError::sqlite(op, target, source)
    }

    /// Wraps a SQLite error that is not a constraint violation to phrase.
    pub(crate) fn sqlite(
        op: &'static str,
        target: impl Into<String>,
        source: rusqlite::Error,
    ) -> StoreError {
        StoreError::Sqlite {
            op,
            target: target.into(),
            source,
        }
    }

    /// The error as the port returns it: a conflict is a bare
    /// [`StoreConflict`] at the top of the box, so the core can downcast it.
    pub fn into_port(self) -> PortError {
        match self {
            StoreError::Conflict { what, .. } => Box::new(StoreConflict(what)),
            other => Box::new(other),
        }
    }
}

/// Which kind of constraint refused a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Constraint {
    /// UNIQUE or PRIMARY KEY: the value is taken.
    Unique,
    /// FOREIGN KEY: a row still refers to the one being removed (or the
    /// referenced row is missing).
    ForeignKey,
}

impl Constraint {
    /// The kind of constraint violation `e` is, with SQLite's message
    /// (`UNIQUE constraint failed: networks.name`), or `None` if it is not one.
    pub(crate) fn of(e: &rusqlite::Error) -> Option<(Constraint, &str)> {
        let rusqlite::Error::SqliteFailure(code, msg) = e else {
            return None;
        };
        let kind = match code.extended_code {
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Constraint::Unique,
            rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Constraint::ForeignKey,
            _ => return None,
        };
        Some((kind, msg.as_deref().unwrap_or("")))
    }
}
