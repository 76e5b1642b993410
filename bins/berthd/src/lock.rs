//! One daemon per data root: two daemons on one database and one set of
//! kernel objects would undo each other's work.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Held for the daemon's lifetime; the kernel drops the lock when the
/// process dies, however it dies.
pub struct DataRootLock {
    _file: Flock<File>,
}

impl DataRootLock {
    pub fn acquire(data_root: &Path) -> Result<DataRootLock> {
        let path = data_root.join("berthd.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("open lock file {}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(DataRootLock { _file: lock }),
            Err((_, Errno::EWOULDBLOCK)) => bail!(
                "another berthd is already running with data root {} (it holds {})",
                data_root.display(),
                path.display()
            ),
            Err((_, e)) => Err(e).with_context(|| format!("lock {}", path.display())),
        }
    }
}
