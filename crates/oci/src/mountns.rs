//! Throwaway mount namespaces for runc.
//!
//! berthd's mount table holds one netns bind mount per running container.
//! runc reads `/proc/self/mountinfo` several times per call (cgroups, mount
//! checks), and the kernel renders every line on each read, so every runc
//! call got slower the more containers ran. runc therefore starts in a
//! mount namespace of its own, a slave copy of the caller's, from which
//! berth's namespace directory (a mount of its own, holding every netns
//! file) is detached in one call. Nothing runc does to its mounts reaches
//! the caller, and runc start, kill, delete, state and exec need no netns
//! file: they find a running container's namespaces under `/proc/<pid>/ns`.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Moves the calling process into a new mount namespace, a slave copy of
/// the current one (a copy of a shared mount is a peer of the original:
/// without this, mounts made in the copy would propagate back). Slave,
/// not private, so unmounts on the host still reach it. System calls only.
pub(crate) fn enter_slave_copy() -> Result<(), Errno> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&CStr>,
        c"/",
        None::<&CStr>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&CStr>,
    )
}

/// Detaches the mount at `dir` with everything under it, in this
/// namespace. A `dir` that is no mount point (or is missing) is left as it
/// is. System calls only.
pub(crate) fn detach(dir: &CStr) -> Result<(), Errno> {
    match umount2(dir, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The argument that makes `berth-shim` do [`hide_here`] and exec the rest
/// of its command line: `berth-shim --run-hiding DIR PROGRAM ARGS...`.
/// A caller with many descriptors and a large address space (berthd) runs
/// runc through it, so its own spawn stays a `posix_spawn` instead of a
/// fork that copies its page tables and descriptor table (a pre-exec hook
/// forces a fork).
pub const RUN_HIDING: &str = "--run-hiding";

/// `wrapper --run-hiding DIR PROGRAM`: `PROGRAM` then runs in a slave copy
/// of the mount namespace with `dir` detached; add its arguments.
pub fn hiding_command(wrapper: &Path, dir: &Path, program: &Path) -> Command {
    let mut c = Command::new(wrapper);
    c.arg(RUN_HIDING).arg(dir).arg(program);
    c
}

/// Moves the calling (single-threaded) process into a slave copy of its
/// mount namespace and detaches `dir` there: `berth-shim --run-hiding`.
pub fn hide_here(dir: &Path) -> io::Result<()> {
    let dir = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    enter_slave_copy()?;
    detach(&dir).map_err(io::Error::from)
}

/// Makes `cmd` start in a slave copy of this mount namespace with `dir`
/// detached. A failure is the error of `cmd.spawn()`.
pub fn hide_in_new_namespace(cmd: &mut Command, dir: &Path) -> io::Result<()> {
    let dir = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: the hook runs in the forked child before exec and makes only
    // system calls on a C string made before the fork; no allocation, no
    // lock another thread of the parent could have held at fork time.
    unsafe {
        cmd.pre_exec(move || {
            enter_slave_copy()?;
            detach(&dir).map_err(io::Error::from)
        });
    }
    Ok(())
}
