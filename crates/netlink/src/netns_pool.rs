//! Fresh network namespaces made ahead of need, so that a start moves one
//! into place (one `mount --move`) instead of making it: making one (a
//! thread, `unshare`, the bind mount, `lo` up) is the kernel's slowest part
//! of a start's network work after the veth pair, and it can run while
//! nothing waits on it.
//!
//! Each pooled namespace comes with sockets made inside it by the thread
//! that set its `lo` up: a netlink connection and the embedded DNS
//! server's two sockets (not bound yet). The start that takes the
//! namespace uses them instead of a thread of its own to enter it: a
//! thread made and joined on a start's path waits for a CPU of its own
//! each time, which on a busy host is where the start's slowest
//! milliseconds went. A socket acts in the namespace it was made in,
//! whichever thread uses it.
//!
//! The pool lives in `<netns dir>/.pool/`, inside the namespace directory's
//! private mount (so a move stays within one mount). Only namespaces never
//! used by anything are pooled: none is ever reused after a container, so
//! nothing one container did to its network can reach another. A pooled
//! namespace belongs to the process that made it: the first use in a
//! process removes whatever an earlier berthd left there, and dropping the
//! pool removes its namespaces.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::adapter::Netlink;
use crate::nsfs::{is_mounted_netns, mount_new_netns, open_netns};

/// Namespaces kept ready: enough for a burst of a few starts at once.
const POOL_SIZE: usize = 4;
/// A refill waits this long, so the start that took a namespace does its
/// own kernel work first rather than beside the refill's.
const REFILL_DELAY: Duration = Duration::from_millis(20);
const POOL_DIR: &str = ".pool";

#[derive(Debug, Default)]
pub(crate) struct NetnsPool {
    state: Mutex<PoolState>,
    /// The sockets of the namespace the last start took, until its start
    /// uses them, the next start takes a namespace (the engine makes one
    /// sandbox at a time) or the namespace is removed.
    taken: Mutex<Option<(PathBuf, NetnsSockets)>>,
}

#[derive(Debug, Default)]
struct PoolState {
    /// `<netns dir>/.pool`, once the first namespace was asked for.
    dir: Option<PathBuf>,
    ready: Vec<(PathBuf, NetnsSockets)>,
    /// Namespaces being made.
    filling: usize,
    serial: u64,
}

impl NetnsPool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        lock(&self.state)
    }

    /// Moves a ready namespace onto `path` (an existing empty file in
    /// `netns_dir`); false if none was ready or the move failed (the caller
    /// then makes one itself). Starts refilling either way.
    pub(crate) fn take_onto(self: &Arc<Self>, netns_dir: &Path, path: &Path) -> bool {
        let ready = {
            let mut state = self.lock();
            adopt(&mut state, netns_dir);
            state.ready.pop()
        };
        self.refill();
        let Some((ready, sockets)) = ready else {
            return false;
        };
        let none = None::<&str>;
        let moved = mount(Some(&ready), path, none, MsFlags::MS_MOVE, none);
        match moved {
            Ok(()) => {
                remove_quietly(&ready);
                *lock(&self.taken) = Some((path.to_owned(), sockets));
                true
            }
            Err(e) => {
                tracing::warn!(from = %ready.display(), to = %path.display(), error = %e, "moving a pooled network namespace failed; making one");
                discard(&ready);
                false
            }
        }
    }

    /// Takes charge of the pool in `netns_dir`: what an earlier berthd
    /// left there (killed, say) is removed now, at start-up's listing,
    /// rather than at the first start.
    pub(crate) fn adopt(&self, netns_dir: &Path) {
        adopt(&mut self.lock(), netns_dir);
    }

    /// The netlink connection made inside the namespace now at `netns`, if
    /// the pool made it and no one took it yet.
    pub(crate) fn take_netlink(&self, netns: &Path) -> Option<Netlink> {
        match &mut *lock(&self.taken) {
            Some((path, sockets)) if path == netns => sockets.netlink.take(),
            _ => None,
        }
    }

    /// The DNS sockets made inside the namespace now at `netns`, if the
    /// pool made it and no one took them yet.
    pub(crate) fn take_dns_sockets(&self, netns: &Path) -> Option<DnsSockets> {
        match &mut *lock(&self.taken) {
            Some((path, sockets)) if path == netns => sockets.dns.take(),
            _ => None,
        }
    }

    /// The namespace at `netns` is going: its unused sockets, which would
    /// keep it alive, go now.
    pub(crate) fn forget(&self, netns: &Path) {
        let mut taken = lock(&self.taken);
        if taken.as_ref().is_some_and(|(path, _)| path == netns) {
            *taken = None;
        }
    }

    /// Starts making namespaces until the pool is full again.
    fn refill(self: &Arc<Self>) {
        let mut state = self.lock();
        let Some(dir) = state.dir.clone() else {
            return;
        };
        while state.ready.len() + state.filling < POOL_SIZE {
            state.filling += 1;
            state.serial += 1;
            let path = dir.join(state.serial.to_string());
            let pool = Arc::clone(self);
            tokio::spawn(async move {
                tokio::time::sleep(REFILL_DELAY).await;
                let made = pool.make(&path).await;
                let mut state = pool.lock();
                state.filling -= 1;
                match made {
                    Ok(sockets) => state.ready.push((path, sockets)),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "a pooled network namespace could not be made");
                        discard(&path);
                    }
                }
            });
        }
    }

    async fn make(&self, path: &Path) -> Result<NetnsSockets, String> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(path)
            .map_err(|e| format!("create {}: {e}", path.display()))?;
        let target = path.to_owned();
        tokio::task::spawn_blocking(move || mount_new_netns(&target))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let netns = open_netns(path).map_err(|e| e.to_string())?;
        let (netlink, dns) = Netlink::open_in_netns_with(netns.as_fd(), DnsSockets::new)
            .map_err(|e| e.to_string())?;
        netlink
            .set_up_by_name("lo")
            .await
            .map_err(|e| e.to_string())?;
        Ok(NetnsSockets {
            netlink: Some(netlink),
            dns: Some(dns),
        })
    }
}

/// The sockets made inside a pooled namespace.
#[derive(Debug)]
struct NetnsSockets {
    netlink: Option<Netlink>,
    dns: Option<DnsSockets>,
}

/// The embedded DNS server's UDP and TCP sockets, made inside a sandbox's
/// namespace and not bound yet: bound to an address there, they listen
/// there.
#[derive(Debug)]
pub struct DnsSockets {
    pub udp: OwnedFd,
    pub tcp: OwnedFd,
}

impl DnsSockets {
    /// IPv4 sockets, in the calling thread's namespace.
    fn new() -> io::Result<DnsSockets> {
        let make = |kind| socket(AddressFamily::Inet, kind, SockFlag::SOCK_CLOEXEC, None);
        Ok(DnsSockets {
            udp: make(SockType::Datagram)?,
            tcp: make(SockType::Stream)?,
        })
    }
}

impl Drop for NetnsPool {
    fn drop(&mut self) {
        let state = self.lock();
        for (path, _) in &state.ready {
            discard(path);
        }
    }
}

/// The pool's state is paths and sockets: a panic cannot leave it torn.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn adopt(state: &mut PoolState, netns_dir: &Path) {
    if state.dir.is_none() {
        let dir = netns_dir.join(POOL_DIR);
        sweep(&dir);
        state.dir = Some(dir);
    }
}

/// Unmounts and removes every namespace file an earlier process left.
fn sweep(dir: &Path) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "the namespace pool could not be listed");
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        tracing::info!(path = %path.display(), "removing a pooled network namespace an earlier berthd left");
        discard(&path);
    }
}

/// Unmounts (if mounted) and removes a pool file; logs what fails.
fn discard(path: &Path) {
    if matches!(is_mounted_netns(path), Ok(true)) {
        match umount2(path, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "a pooled network namespace could not be unmounted");
            }
        }
    }
    remove_quietly(path);
}

fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "a pool file could not be removed");
        }
    }
}
