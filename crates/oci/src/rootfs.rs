//! A container's root filesystem: overlayfs with the image's rootfs as the
//! read-only lower layer and a per-container upper/work pair.
//!
//! # Where the overlay is mounted
//!
//! Not in berthd's mount namespace. The shim runs `runc create` in a mount
//! namespace of its own ([`Overlay::mount_in_new_namespace`]): a copy of
//! the shim's (berthd's) made just before runc starts, turned into a slave
//! so nothing mounted there propagates back, with the overlay mounted at
//! the bundle's `rootfs`. runc makes the container's mount namespace from
//! that copy, and the container's root then holds the overlay; the
//! throwaway namespace itself goes when `runc create` exits. So:
//! - berthd's mount table holds no overlays, only the sandboxes' netns bind
//!   mounts: every read of `/proc/self/mountinfo` (runc reads it several
//!   times per container) and every copy of the table into a new container's
//!   namespace stays small however many containers run;
//! - the overlay lives exactly as long as the container's processes: it goes
//!   by itself when they exit, whether or not a shim or berthd is still
//!   there, so a crash cannot leak it;
//! - nothing outside the container sees its merged tree (berth never reads
//!   or writes it: /etc files are bind-mounted from the container's data
//!   directory, writes land in the upper directory).
//!
//! # Is it mounted?
//!
//! Without `/proc/self/mountinfo`, which costs milliseconds per read with
//! thousands of mounts: a path is a mount point when its device number
//! differs from its parent directory's, and its `statfs` type says what is
//! mounted. (The device check matters: a target inside an overlay mounted
//! higher up has the overlay's type too.) A bind mount from the same file
//! system is not seen as a mount point; berth never makes one there.
//!
//! # The sandbox's network namespace
//!
//! berthd's table still holds one netns bind mount per running container,
//! all under its namespace directory (a mount of its own). runc reads its
//! mount table several times per container and the kernel copies it twice
//! (this namespace, the container's), so the same hook also pins the one
//! namespace the container joins at a path in its bundle ([`NetnsPin`]) and
//! then detaches the whole namespace directory from the throwaway copy, in
//! one call: runc then works on a table of a few dozen mounts, however many
//! containers run. The spec names the pinned path.
//!
//! Mounting is idempotent: a rootfs still mounted where the shim mounts it
//! (by a berthd that mounted overlays in its own namespace) is used as it
//! is, not mounted again.

use std::ffi::{CStr, CString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::stat;
use nix::sys::statfs::{statfs, FsType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mountns;

pub use nix::sys::statfs::OVERLAYFS_SUPER_MAGIC;

/// How many mounts stacked on one target [`unmount`] takes off before it
/// gives up (one is the rule; a loop must not spin forever on a target
/// that keeps being mounted again).
const MAX_STACKED: usize = 16;

/// The directories of one container's overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlay {
    /// Whose rootfs this is, for error messages.
    pub id: String,
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Where the merged tree is mounted.
    pub target: PathBuf,
}

/// The network namespace a container joins, bound at `pin` (an empty file
/// in its bundle) in `runc create`'s mount namespace, after which `dir`,
/// the mount holding every sandbox's namespace file, is detached there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsPin {
    /// The namespace file (`<exec-root>/netns/<id>`).
    pub source: PathBuf,
    pub pin: PathBuf,
}

/// [`NetnsPin`] as C strings, for the hook.
#[derive(Debug)]
struct PreparedPin {
    source: CString,
    pin: CString,
    dir: CString,
}

/// What [`Overlay::mount`] needs, checked and turned into C strings
/// beforehand, so that mounting makes system calls only and can run
/// between `fork` and `exec`.
#[derive(Debug)]
struct Prepared {
    target: CString,
    /// `<target>/..`: the parent as the kernel resolves it.
    parent: CString,
    opts: CString,
}

impl Prepared {
    /// Mounts the overlay unless one is mounted at the target already
    /// (`Ok(false)`); something else mounted there is `EBUSY`. System calls
    /// only: no allocation, no locks.
    fn mount(&self) -> std::result::Result<bool, Errno> {
        match fs_type_at(&self.target, &self.parent)? {
            Some(t) if t == OVERLAYFS_SUPER_MAGIC => return Ok(false),
            Some(_) => return Err(Errno::EBUSY),
            None => {}
        }
        mount(
            Some(c"overlay"),
            self.target.as_c_str(),
            Some(c"overlay"),
            MsFlags::empty(),
            Some(self.opts.as_c_str()),
        )?;
        Ok(true)
    }

    /// Moves the calling process into a new mount namespace, a slave copy
    /// of the current one, pins the network namespace, and mounts the
    /// overlay there. System calls only, for
    /// [`Overlay::mount_in_new_namespace`]'s child.
    fn mount_in_new_namespace(
        &self,
        netns: Option<&PreparedPin>,
    ) -> std::result::Result<(), Errno> {
        // A slave copy: the overlay must not propagate back to berthd.
        mountns::enter_slave_copy()?;
        if let Some(netns) = netns {
            mount(
                Some(netns.source.as_c_str()),
                netns.pin.as_c_str(),
                None::<&CStr>,
                MsFlags::MS_BIND,
                None::<&CStr>,
            )?;
            mountns::detach(&netns.dir)?;
        }
        self.mount().map(drop)
    }
}

impl Overlay {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Rootfs {
            id: self.id.clone(),
            path: self.target.clone(),
            reason: reason.into(),
        }
    }

    /// Creates the upper, work and target directories, checks the paths
    /// and that nothing but an overlay is mounted at the target (in this
    /// namespace), and renders the mount options.
    fn prepare(&self) -> Result<Prepared> {
        for d in [&self.upper, &self.work, &self.target] {
            fs::create_dir_all(d).map_err(Error::io("create directory", d))?;
        }
        match mounted_fs_type(&self.target)? {
            Some(t) if t == OVERLAYFS_SUPER_MAGIC => {}
            Some(t) => {
                return Err(self.err(format!(
                    "something else (file system type {:#x}) is mounted there",
                    t.0
                )))
            }
            None => {}
        }
        let mut opts = String::from("lowerdir=");
        for (key, dir) in [
            ("", &self.lower),
            (",upperdir=", &self.upper),
            (",workdir=", &self.work),
        ] {
            let s = dir
                .to_str()
                .ok_or_else(|| self.err(format!("{} is not UTF-8", dir.display())))?;
            // overlayfs splits its options on these.
            if s.contains([',', ':']) {
                return Err(self.err(format!("path {s} contains ',' or ':'")));
            }
            opts.push_str(key);
            opts.push_str(s);
        }
        if !self.lower.is_dir() {
            return Err(self.err(format!("image rootfs {} is missing", self.lower.display())));
        }
        let cstring = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| self.err("path contains a NUL byte".to_owned()))
        };
        Ok(Prepared {
            target: cstring(self.target.as_os_str().as_bytes())?,
            parent: cstring(self.target.join("..").as_os_str().as_bytes())?,
            opts: cstring(opts.as_bytes())?,
        })
    }

    /// Creates the pin file and renders the paths.
    fn prepare_pin(&self, netns: &NetnsPin) -> Result<PreparedPin> {
        let dir = netns.source.parent().ok_or_else(|| {
            self.err(format!(
                "netns path {} has no directory",
                netns.source.display()
            ))
        })?;
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&netns.pin)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create netns pin", &netns.pin)(e)),
        }
        let cstring = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| self.err("path contains a NUL byte".to_owned()))
        };
        Ok(PreparedPin {
            source: cstring(&netns.source)?,
            pin: cstring(&netns.pin)?,
            dir: cstring(dir)?,
        })
    }

    /// Mounts the overlay in this mount namespace unless it already is.
    /// Returns whether it mounted.
    pub fn mount(&self) -> Result<bool> {
        let prepared = self.prepare()?;
        let mounted = prepared.mount().map_err(|e| {
            self.err(format!(
                "mount overlay ({}): {e}",
                prepared.opts.to_string_lossy()
            ))
        })?;
        if mounted {
            tracing::debug!(container = %self.id, target = %self.target.display(), "mounted overlay");
        }
        Ok(mounted)
    }

    /// Makes `cmd` (`runc create`) start in a mount namespace of its own
    /// with the overlay mounted there and `netns` pinned (see the module
    /// documentation). The directories are made and the paths checked now;
    /// a failure in the child (`unshare`, propagation, the mounts) is the
    /// error of `cmd.spawn()`.
    pub fn mount_in_new_namespace(
        &self,
        cmd: &mut Command,
        netns: Option<&NetnsPin>,
    ) -> Result<()> {
        let prepared = self.prepare()?;
        let pin = netns.map(|n| self.prepare_pin(n)).transpose()?;
        // SAFETY: the hook runs in the forked child before exec. It only
        // makes system calls (unshare, mount, stat, statfs) on C strings
        // made before the fork, and maps an errno to an io::Error without
        // allocating: nothing that takes a lock another thread of the
        // parent could have held at fork time.
        unsafe {
            cmd.pre_exec(move || {
                prepared
                    .mount_in_new_namespace(pin.as_ref())
                    .map_err(io::Error::from)
            });
        }
        Ok(())
    }
}

/// The type of the file system mounted exactly at `path` in this mount
/// namespace (the topmost when mounts are stacked), or `None` when `path`
/// is not a mount point or does not exist. Compare with
/// [`OVERLAYFS_SUPER_MAGIC`].
pub fn mounted_fs_type(path: &Path) -> Result<Option<FsType>> {
    let cstring = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Io {
            what: "check mount at",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        })
    };
    let (target, parent) = (cstring(path)?, cstring(&path.join(".."))?);
    fs_type_at(&target, &parent).map_err(|e| Error::Io {
        what: "check mount at",
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// [`mounted_fs_type`] with system calls only. A missing target is not a
/// mount point.
fn fs_type_at(target: &CStr, parent: &CStr) -> std::result::Result<Option<FsType>, Errno> {
    let st = match stat(target) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    if st.st_dev == stat(parent)?.st_dev {
        return Ok(None);
    }
    Ok(Some(statfs(target)?.filesystem_type()))
}

/// Unmounts whatever is mounted at `target` (all stacked mounts), then
/// removes nothing: the caller removes the directories. Not mounted (or
/// missing) is fine. No mount table is read: `umount2` until the kernel
/// says the target is no mount point.
pub fn unmount(id: &str, target: &Path) -> Result<()> {
    let err = |reason: String| Error::Rootfs {
        id: id.to_owned(),
        path: target.to_path_buf(),
        reason,
    };
    for _ in 0..MAX_STACKED {
        match umount2(target, MntFlags::empty()) {
            Ok(()) => {}
            // Not a mount point (any more), or no such path.
            Err(Errno::EINVAL | Errno::ENOENT) => return Ok(()),
            // Still in use from this namespace (a shell cd'ed into it):
            // detach it so the path is free; the kernel frees it later.
            Err(Errno::EBUSY) => match umount2(target, MntFlags::MNT_DETACH) {
                Ok(()) => {}
                Err(Errno::EINVAL | Errno::ENOENT) => return Ok(()),
                Err(e) => return Err(err(format!("lazy unmount: {e}"))),
            },
            Err(e) => return Err(err(format!("unmount: {e}"))),
        }
    }
    Err(err(format!("still mounted after {MAX_STACKED} unmounts")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(root: &Path) -> Overlay {
        Overlay {
            id: "c1".into(),
            lower: root.join("lower"),
            upper: root.join("upper"),
            work: root.join("work"),
            target: root.join("rootfs"),
        }
    }

    #[test]
    fn prepare_renders_options_and_makes_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let o = overlay(tmp.path());
        fs::create_dir(&o.lower).unwrap();
        let p = o.prepare().unwrap();
        let root = tmp.path().to_str().unwrap();
        assert_eq!(
            p.opts.to_str().unwrap(),
            format!("lowerdir={root}/lower,upperdir={root}/upper,workdir={root}/work")
        );
        assert_eq!(p.parent.to_str().unwrap(), format!("{root}/rootfs/.."));
        for d in [&o.upper, &o.work, &o.target] {
            assert!(d.is_dir(), "{}", d.display());
        }
    }

    #[test]
    fn prepare_refuses_bad_paths_and_a_missing_image() {
        let tmp = tempfile::tempdir().unwrap();
        let o = overlay(tmp.path());
        let e = o.prepare().unwrap_err().to_string();
        assert!(e.contains("image rootfs") && e.contains("missing"), "{e}");
        let mut o = overlay(tmp.path());
        o.upper = tmp.path().join("a,b");
        let e = o.prepare().unwrap_err().to_string();
        assert!(e.contains("contains ',' or ':'"), "{e}");
    }

    #[test]
    fn plain_directories_are_not_mount_points() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(mounted_fs_type(tmp.path()).unwrap(), None);
        assert_eq!(mounted_fs_type(&tmp.path().join("missing")).unwrap(), None);
        // `/proc` is one wherever tests run.
        assert_eq!(
            mounted_fs_type(Path::new("/proc")).unwrap(),
            Some(nix::sys::statfs::PROC_SUPER_MAGIC)
        );
    }
}
