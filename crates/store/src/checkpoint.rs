//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside whichever commit takes the WAL
//! past 1,000 pages: that commit copies the WAL into the database and
//! fsyncs it, a few ms in a start that otherwise records its intent in
//! ~0.2 ms. The writer connection has automatic checkpoints off, and a
//! thread of the store's own runs a `PASSIVE` checkpoint (which never
//! waits for, nor blocks, the writer or the reader) once commits have come
//! in and [`CHECKPOINT_EVERY`] has passed since its last one.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::StoreError;

/// How often at most the thread checkpoints while commits come in.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The checkpoint thread: told of each commit, stopped (after a last
/// checkpoint) when dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    committed: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on `conn`, a connection of its own to `path`.
    pub(crate) fn start(path: &Path, conn: Connection) -> Result<Checkpointer, StoreError> {
        let (committed, commits) = mpsc::channel::<()>();
        let db = path.to_owned();
        let thread = thread::Builder::new()
            .name("berth-checkpoint".into())
            .spawn(move || {
                let mut last = Instant::now();
                let mut pending = false;
                loop {
                    let wait = if pending {
                        CHECKPOINT_EVERY.saturating_sub(last.elapsed())
                    } else {
                        Duration::MAX
                    };
                    match commits.recv_timeout(wait) {
                        Ok(()) => pending = true,
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            if pending {
                                checkpoint(&conn, &db);
                            }
                            return;
                        }
                    }
                    if pending && last.elapsed() >= CHECKPOINT_EVERY {
                        checkpoint(&conn, &db);
                        last = Instant::now();
                        pending = false;
                    }
                }
            })
            .map_err(|source| StoreError::CheckpointThread {
                path: path.to_owned(),
                source,
            })?;
        Ok(Checkpointer {
            committed: Some(committed),
            thread: Some(thread),
        })
    }

    /// A commit went into the WAL.
    pub(crate) fn committed(&self) {
        if let Some(tx) = &self.committed {
            // Only a panicked thread is gone: the WAL then grows until the
            // last connection closes, which checkpoints it.
            let _ = tx.send(());
        }
    }
}

fn checkpoint(conn: &Connection, db: &Path) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match done {
        Ok((log, copied)) => tracing::trace!(log, copied, "WAL checkpoint"),
        Err(e) => tracing::warn!(db = %db.display(), error = %e, "WAL checkpoint failed"),
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.committed.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("the WAL checkpoint thread panicked");
            }
        }
    }
}
