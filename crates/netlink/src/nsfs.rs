//! Sandboxes' network namespaces as bind-mounted files (`ip netns`'s scheme):
//! a namespace lives as long as its file under `<exec-root>/netns` is a mount
//! of it, whether or not any process is inside.
//!
//! # Mount namespaces and propagation
//!
//! The bind mounts are made in the mount namespace of the calling process
//! (berthd's). That is where runc looks: it is started by berthd (through the
//! shim) in a copy of that mount namespace, made as `runc create` starts, so
//! after the sandbox's bind mount (berth-oci's `rootfs` module), and it opens
//! the namespace path (`linux.namespaces[].path`) before it makes the
//! container's own mount namespace. Anything that wants to use a namespace file (`nsenter
//! --net=PATH`, `ip netns exec` on a symlink) must therefore run in berthd's
//! mount namespace too; if berthd runs in one of its own (systemd
//! `PrivateMounts=`), a host shell sees only empty files.
//!
//! The namespace directory is made a *private* mount of itself (bound onto
//! itself first if it is not a mount point yet), so that berth's per-sandbox
//! mounts never propagate:
//! - On a systemd host `/` and `/run` are shared, so without this every
//!   sandbox mount would be copied into each peer or slave mount namespace
//!   (services with `PrivateTmp=`, other container engines, …): work per
//!   container start, and copies that each pin a namespace until their
//!   unmount propagates back.
//! - `ip netns` makes `/run/netns` *shared* instead, so that an unmount
//!   reaches copies made by mount namespaces cloned later. berth does not
//!   need that: `remove_netns` unlinks the file after unmounting it, and
//!   since Linux 3.18 unlinking a file detaches the mounts on it in every
//!   mount namespace, so a copy held by some other namespace (a clone of
//!   berthd's, say) cannot keep a sandbox's network alive.
//!
//! The cost: `MS_PRIVATE` applies to whatever the directory's mount is. If an
//! administrator mounted something on the namespace directory itself, its
//! propagation becomes private too.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::{panic, thread};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::statfs::{fstatfs, statfs, NSFS_MAGIC};
use rtnetlink::LinkUnspec;

use crate::adapter::{Netlink, Result};
use crate::error::NetlinkError;
use crate::netns_pool::DnsSockets;

const NEED_CAP_SYS_ADMIN: &str =
    "berthd needs CAP_SYS_ADMIN in its mount namespace to bind-mount network namespaces";

/// Serialises the "make the directory a private mount" step, so two first
/// calls do not both bind the directory onto itself.
static PRIVATE_DIR: Mutex<()> = Mutex::new(());

fn file_error(op: &'static str, path: &Path, source: io::Error) -> NetlinkError {
    let hint = match source.raw_os_error() {
        Some(libc::EPERM) => Some(NEED_CAP_SYS_ADMIN),
        _ => None,
    };
    NetlinkError::NetnsFile {
        op,
        path: path.to_owned(),
        source,
        hint,
    }
}

fn errno_error(op: &'static str, path: &Path, errno: Errno) -> NetlinkError {
    file_error(op, path, io::Error::from(errno))
}

/// Whether `path` is a mounted namespace file (the file system at `path` is
/// nsfs). A missing file is `false`.
pub(crate) fn is_mounted_netns(path: &Path) -> Result<bool> {
    match statfs(path) {
        Ok(fs) => Ok(fs.filesystem_type() == NSFS_MAGIC),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(errno_error("checking namespace file", path, e)),
    }
}

/// Opens a namespace file for `setns` or `IFLA_NET_NS_FD`, refusing one that
/// is not a mounted namespace (a plain file would only earn an `EINVAL` from
/// the kernel later, far from its cause).
pub(crate) fn open_netns(path: &Path) -> Result<File> {
    const OP: &str = "opening network namespace";
    let file = File::open(path).map_err(|e| file_error(OP, path, e))?;
    let fs = fstatfs(&file).map_err(|e| errno_error(OP, path, e))?;
    if fs.filesystem_type() != NSFS_MAGIC {
        return Err(file_error(
            OP,
            path,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a mounted namespace (no nsfs mount on the file)",
            ),
        ));
    }
    Ok(file)
}

/// Makes `dir` a private mount (see the module documentation).
fn make_private_dir(dir: &Path) -> Result<()> {
    let _serial = PRIVATE_DIR.lock().unwrap_or_else(|p| p.into_inner());
    let none = None::<&str>;
    match mount(none, dir, none, MsFlags::MS_PRIVATE, none) {
        Ok(()) => return Ok(()),
        // Not a mount point yet.
        Err(Errno::EINVAL) => {}
        Err(e) => return Err(errno_error("making private the mount of", dir, e)),
    }
    mount(
        Some(dir),
        dir,
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )
    .map_err(|e| errno_error("bind-mounting onto itself", dir, e))?;
    mount(none, dir, none, MsFlags::MS_PRIVATE, none)
        .map_err(|e| errno_error("making private the mount of", dir, e))?;
    tracing::info!(dir = %dir.display(), "namespace directory made a private mount");
    Ok(())
}

/// Creates a new network namespace on a short-lived thread of its own and
/// bind-mounts it on `path` (an existing file). The thread ends inside the
/// new namespace: nothing ever switches back, and no pooled thread changes
/// namespace.
pub(crate) fn mount_new_netns(path: &Path) -> Result<()> {
    thread::scope(|scope| {
        let worker = thread::Builder::new()
            .name("berth-netns-new".into())
            .spawn_scoped(scope, move || {
                unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetlinkError::Namespace {
                    op: "creating a network namespace (unshare)",
                    source: io::Error::from(e),
                })?;
                let none = None::<&str>;
                mount(
                    Some("/proc/thread-self/ns/net"),
                    path,
                    none,
                    MsFlags::MS_BIND,
                    none,
                )
                .map_err(|e| errno_error("bind-mounting a new network namespace on", path, e))
                // The thread ends here; the mount keeps the namespace alive.
            })
            .map_err(|source| NetlinkError::Namespace {
                op: "spawning the namespace thread",
                source,
            })?;
        worker.join().unwrap_or_else(|p| panic::resume_unwind(p))
    })
}

impl Netlink {
    /// Sets `lo` up in the namespace mounted at `path`, through a netlink
    /// socket opened there for the purpose.
    pub(crate) async fn loopback_up(path: &Path) -> Result<()> {
        let ns = open_netns(path)?;
        let inside = Netlink::open_in_netns(ns.as_fd())?;
        inside.set_up_by_name("lo").await
    }

    /// Sets the link named `name` up (a no-op for the kernel if it is).
    pub(crate) async fn set_up_by_name(&self, name: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_name(name).up().build();
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::request("setting up", name, e, &[]))
    }

    /// [`berth_core::ports::NetOps::create_netns`] with the adapter's own
    /// error type: a new network namespace mounted on `path` (an empty
    /// regular file, parent directories created), with `lo` up. If `path`
    /// already is a mounted namespace it is kept (and `lo` set up).
    ///
    /// Concurrent calls for the same path are not supported (the core runs
    /// one operation per container at a time).
    pub async fn create_netns(&self, path: &Path) -> Result<()> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => {
                return Err(file_error(
                    "creating network namespace",
                    path,
                    io::Error::new(io::ErrorKind::InvalidInput, "path has no parent directory"),
                ))
            }
        };
        fs::create_dir_all(dir).map_err(|e| file_error("creating namespace directory", dir, e))?;
        make_private_dir(dir)?;
        // Sockets a pooled namespace left for `path` belong to that one, not
        // to whatever is made there now.
        self.netns_pool.forget(path);

        if is_mounted_netns(path)? {
            tracing::debug!(path = %path.display(), "network namespace already mounted");
            return Self::loopback_up(path).await;
        }

        // A file left by an earlier attempt that died before mounting is
        // reused as it is.
        let created = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(path)
        {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(file_error("creating namespace file", path, e)),
        };
        if self.netns_pool.take_onto(dir, path) {
            tracing::debug!(path = %path.display(), "network namespace taken from the pool");
            return Ok(());
        }
        if let Err(e) = mount_new_netns(path) {
            if created {
                let _ = fs::remove_file(path);
            }
            return Err(e);
        }
        if let Err(e) = Self::loopback_up(path).await {
            if let Err(cleanup) = self.remove_netns(path).await {
                tracing::warn!(path = %path.display(), error = %cleanup, "removing a half-made namespace failed");
            }
            return Err(e);
        }
        tracing::debug!(path = %path.display(), "network namespace created");
        Ok(())
    }

    /// [`berth_core::ports::NetOps::remove_netns`] with the adapter's own
    /// error type: unmounts `path` (lazily, every mount stacked on it) and
    /// unlinks it. A missing or unmounted file is success.
    pub async fn remove_netns(&self, path: &Path) -> Result<()> {
        self.netns_pool.forget(path);
        // Bounded: each round removes one mount; more than a few stacked
        // mounts means something else keeps mounting there.
        for _ in 0..16 {
            match umount2(path, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
                Ok(()) => continue,
                // Not a mount point (any more), or no such file.
                Err(Errno::EINVAL | Errno::ENOENT) => break,
                Err(e) => return Err(errno_error("unmounting network namespace", path, e)),
            }
        }
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(file_error("removing namespace file", path, e)),
        }
        tracing::debug!(path = %path.display(), "network namespace removed");
        Ok(())
    }

    /// The embedded DNS server's sockets made inside the sandbox namespace
    /// at `path` with it, if the pool made it and they are still unused:
    /// bound there, they listen there, with no thread entering it.
    pub fn take_dns_sockets(&self, path: &Path) -> Option<DnsSockets> {
        self.netns_pool.take_dns_sockets(path)
    }

    /// [`berth_core::ports::NetOps::list_netns`] with the adapter's own
    /// error type: the files in `dir`, sorted; a missing `dir` is empty.
    pub async fn list_netns(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        self.netns_pool.adopt(dir);
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(file_error("listing namespace directory", dir, e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| file_error("listing namespace directory", dir, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| file_error("listing namespace directory", dir, e))?;
            if kind.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        Ok(files)
    }
}
