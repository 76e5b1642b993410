//! Looking inside a container's file system as dockerd does: `docker cp`
//! (stat, archive, extract), `export`, `diff` and the sizes of `ps -s`.
//!
//! # Which tree
//!
//! The overlay is never mounted in berthd's namespace (see
//! [`crate::rootfs`]). A running container's tree is reached through
//! `/proc/<pid>/root`, which also shows its volumes and binds where the
//! container sees them. A stopped container's overlay is mounted, with its
//! volumes and binds, in a mount namespace of the one thread doing the
//! operation; the namespace and its mounts go when the thread ends.
//!
//! # Never outside the container
//!
//! The work runs on a thread of its own ([`within`]) that unshares its
//! file-system context and `chroot`s into the container's root, so the
//! kernel itself resolves every path, symlink and `..` inside the
//! container, however the container changes its files meanwhile (moby's
//! answer to CVE-2018-15664 is the same chroot). The paths a client gives
//! are also resolved one component at a time ([`resolve_in_root`], moby's
//! `FollowSymlinkInScope`), so a path means what dockerd makes of it: the
//! last component's symlink kept or followed as dockerd does. Archives
//! never follow symlinks inside the tree they walk; extraction refuses
//! entries that climb out of the target directory and never writes
//! through a symlink.

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

/// Where a container's tree is.
#[derive(Debug)]
pub enum Root {
    /// A running container's root: `/proc/<pid>/root`.
    Running(PathBuf),
    /// A stopped container: its overlay, mounted (on an empty directory
    /// made in `scratch_in`, its `target` ignored) with `binds` on top.
    Stopped {
        overlay: crate::rootfs::Overlay,
        scratch_in: PathBuf,
        binds: Vec<BindSpec>,
    },
}

/// Runs `work` on a thread of its own chrooted into the container's tree
/// (see the module documentation); `work` gets the root, `/`. For a
/// stopped container the thread also has a mount namespace of its own
/// with the overlay mounted; it ends with the thread, and the scratch
/// directory is removed then.
pub fn within<T: Send + 'static>(
    root: Root,
    work: impl FnOnce(&Path) -> ArchiveResult<T> + Send + 'static,
) -> ArchiveResult<T> {
    let (setup, scratch) = match root {
        Root::Running(path) => (Setup::Chroot(path), None),
        Root::Stopped {
            mut overlay,
            scratch_in,
            binds,
        } => {
            let scratch = tempfile::Builder::new()
                .prefix("rootfs-")
                .tempdir_in(&scratch_in)
                .map_err(ArchiveError::io("make a mount point in", &scratch_in))?;
            overlay.target = scratch.path().to_path_buf();
            (Setup::Mount(overlay, binds), Some(scratch))
        }
    };
    let handle = std::thread::Builder::new()
        .name("berth-rootfs".into())
        .spawn(move || {
            let root = setup.enter()?;
            enter_chroot(&root)?;
            work(Path::new("/"))
        })
        .map_err(ArchiveError::io("start a thread for", Path::new("/")))?;
    let result = handle.join().unwrap_or_else(|_| {
        Err(ArchiveError::Io {
            what: "look inside",
            path: PathBuf::from("/"),
            source: io::Error::other("the worker thread panicked"),
        })
    });
    drop(scratch);
    result
}

enum Setup {
    Chroot(PathBuf),
    Mount(crate::rootfs::Overlay, Vec<BindSpec>),
}

impl Setup {
    /// Prepares this thread's view; returns the root to chroot into.
    fn enter(self) -> ArchiveResult<PathBuf> {
        match self {
            Setup::Chroot(root) => Ok(root),
            Setup::Mount(overlay, binds) => {
                // unshare on this thread only: it gets its own file-system
                // context and mount namespace, the rest of berthd keeps
                // its own.
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
                for b in &binds {
                    bind_in_root(&overlay.target, b)?;
                }
                Ok(overlay.target)
            }
        }
    }
}

/// Confines this thread (alone: its file-system context is unshared first)
/// to `root`.
fn enter_chroot(root: &Path) -> ArchiveResult<()> {
    use nix::sched::{unshare, CloneFlags};
    let fail =
        |what: &'static str| move |e: nix::errno::Errno| ArchiveError::io(what, root)(e.into());
    unshare(CloneFlags::CLONE_FS).map_err(fail("unshare the file-system context for"))?;
    nix::unistd::chroot(root).map_err(fail("chroot into"))?;
    nix::unistd::chdir("/").map_err(fail("change directory into"))
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
