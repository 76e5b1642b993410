//! Looking inside a container's file system as dockerd does: `docker cp`
//! (stat, archive, extract), `export`, `diff` and the sizes of `ps -s`.
//!
//! # Which tree
//!
//! The overlay is never mounted in berthd's namespace (see
//! [`crate::rootfs`]). A running container's tree is read and written
//! through `/proc/<pid>/root`, which also shows its volumes and binds where
//! the container sees them. A stopped container's overlay is mounted, with
//! its volumes and binds, in a mount namespace of one thread made for the
//! operation ([`with_stopped_root`]); the namespace and its mounts go when
//! the thread ends.
//!
//! # Paths are resolved as if chrooted
//!
//! The kernel resolves an absolute symlink met under `/proc/<pid>/root` (or
//! under a mounted overlay) against berthd's root, not the container's.
//! So no path given by a client is handed to the kernel whole:
//! [`resolve_in_root`] walks it one component at a time, reads each
//! symlink itself and keeps the result under the root (`..` stops at the
//! root, an absolute target restarts there), as moby's
//! `FollowSymlinkInScope` does. Archives never follow symlinks inside the
//! tree they walk; extraction refuses entries that leave the target
//! directory and never writes through a symlink. A container that swaps a
//! directory for a symlink while a copy runs can still race the check, as
//! with dockerd.

mod changes;
mod resolve;
mod tarball;

pub use changes::{changes, dir_size, Change, ChangeKind};
pub use resolve::{resolve_in_root, split_request_path, RequestPath};
pub use tarball::{export, extract, stat, write_archive, ExtractOptions, PathStat};

use std::io;
use std::path::{Path, PathBuf};

/// What goes wrong looking inside a container, with dockerd's words.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// 404.
    #[error("Could not find the file {path} in container {container}")]
    NotFound { path: String, container: String },
    /// 400: an empty path, a PUT target that is a file, a bad archive.
    #[error("{0}")]
    Invalid(String),
    /// 403: a read-only root or volume.
    #[error("{0}")]
    ReadOnly(String),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ArchiveError {
    pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { what, path, source }
    }
}

pub type ArchiveResult<T> = std::result::Result<T, ArchiveError>;

/// A mount to show in a stopped container's tree: `source` (host path)
/// bound at `destination` (in the container).
#[derive(Debug, Clone)]
pub struct BindSpec {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// Runs `work` on a thread of its own, in a private mount namespace where
/// the stopped container's overlay is mounted (on an empty directory made
/// in `scratch_in`, its `target` ignored) with `binds` on top of it; `work`
/// gets the root. The namespace, and with it every mount, ends with the
/// thread; the directory is removed then.
pub fn with_stopped_root<T: Send + 'static>(
    mut overlay: crate::rootfs::Overlay,
    scratch_in: &Path,
    binds: Vec<BindSpec>,
    work: impl FnOnce(&Path) -> ArchiveResult<T> + Send + 'static,
) -> ArchiveResult<T> {
    let scratch = tempfile::Builder::new()
        .prefix("rootfs-")
        .tempdir_in(scratch_in)
        .map_err(ArchiveError::io("make a mount point in", scratch_in))?;
    overlay.target = scratch.path().to_path_buf();
    let handle = std::thread::Builder::new()
        .name("berth-rootfs".into())
        .spawn(move || {
            // unshare on this thread only: it gets its own file-system
            // context and mount namespace, the rest of berthd keeps its own.
            crate::mountns::enter_slave_copy().map_err(|e| ArchiveError::Io {
                what: "enter a mount namespace for",
                path: overlay.target.clone(),
                source: e.into(),
            })?;
            overlay.mount().map_err(|e| ArchiveError::Io {
                what: "mount the container's root file system at",
                path: overlay.target.clone(),
                source: io::Error::other(e.to_string()),
            })?;
            let root = overlay.target.clone();
            for b in &binds {
                bind_in_root(&root, b)?;
            }
            work(&root)
        })
        .map_err(ArchiveError::io("start a thread for", Path::new("rootfs")))?;
    let result = handle.join().unwrap_or_else(|_| {
        Err(ArchiveError::Io {
            what: "look inside",
            path: scratch.path().to_path_buf(),
            source: io::Error::other("the worker thread panicked"),
        })
    });
    drop(scratch);
    result
}

/// Binds one mount at its destination, resolved inside `root`. A missing
/// destination is skipped (runc would create it at start; the copy then
/// sees the container's own directory, empty of the mount).
fn bind_in_root(root: &Path, b: &BindSpec) -> ArchiveResult<()> {
    use nix::mount::{mount, MsFlags};
    let target = resolve_in_root(root, &b.destination)?;
    if std::fs::symlink_metadata(&target).is_err() {
        tracing::debug!(destination = %b.destination, "mount point missing in a stopped container: not shown");
        return Ok(());
    }
    mount(
        Some(&b.source),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| ArchiveError::io("bind a mount at", &target)(e.into()))?;
    if b.read_only {
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| ArchiveError::io("make read-only the mount at", &target)(e.into()))?;
    }
    Ok(())
}
