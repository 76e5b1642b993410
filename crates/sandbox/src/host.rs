//! Sandbox hosts: a fresh network + mount namespace held open by a `sleep`,
//! `lo` up and a tmpfs on `/run`, with a temp dir for everything run in it,
//! and outside peers joined by veth pairs. Nothing done through a sandbox
//! reaches the machine's own namespaces; dropping it kills every process
//! started for it (by pid), so the namespaces and all the kernel objects in
//! them disappear.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use tempfile::TempDir;

use crate::proc::{descendants, kill, output, processes, wait_for};
use crate::{io, Result};

/// The sandbox host's address on the link to its outside peer.
pub const HOST_OUTSIDE_IP: &str = "10.200.0.1";
/// The outside peer's address.
pub const PEER_IP: &str = "10.200.0.2";
pub const HOST_OUTSIDE_IP6: &str = "fd00:200::1";
pub const PEER_IP6: &str = "fd00:200::2";

/// How long namespaces may take to come up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A network + mount namespace pair standing in for a host.
pub struct Host {
    /// `None` when kept for inspection.
    dir: Option<TempDir>,
    path: PathBuf,
    holder: Child,
    peers: Vec<Child>,
}

/// Another host, outside the sandbox host: its own network namespace joined
/// to the sandbox by a veth pair, default routes via the sandbox. It shares
/// the sandbox's mount namespace, so the sandbox's files are visible.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pid: u32,
}

impl Peer {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A command run in the peer's network namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        nsenter(self.pid, program)
    }
}

fn nsenter(pid: u32, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg("-t")
        .arg(pid.to_string())
        .args(["-n", "-m", "--"])
        .arg(program);
    cmd
}

impl Host {
    /// A new sandbox host with its temp dir named `prefix…`; `keep` leaves
    /// the dir behind for inspection.
    pub fn new(prefix: &str, keep: bool) -> Result<Host> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(io("make a temp dir"))?;
        let (dir, path) = if keep {
            (None, dir.keep())
        } else {
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        };
        let ready = path.join("ready");
        // `unshare` without --fork execs the shell in place, so the holder's
        // pid is the namespaces' pid for nsenter.
        let script = format!(
            "mount -t tmpfs tmpfs /run && ip link set lo up && touch {} && exec sleep infinity",
            ready.display()
        );
        let holder = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "--"])
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .map_err(io("start unshare"))?;
        let host = Host {
            dir,
            path,
            holder,
            peers: Vec::new(),
        };
        wait_for(SETUP_TIMEOUT, "sandbox namespaces", || ready.exists())?;
        Ok(host)
    }

    /// The pid holding the namespaces.
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// A command run in the sandbox host's network and mount namespaces.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        nsenter(self.pid(), program)
    }

    /// A command run in a container's network namespace (its `SandboxKey`,
    /// a bind mount that exists only in the sandbox's mount namespace).
    pub fn in_netns(&self, netns: &Path, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.pid().to_string())
            .args(["-m", "--", "nsenter"])
            .arg(format!("--net={}", netns.display()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Adds an outside peer: `out0` (10.200.0.1/24, fd00:200::1/64) here,
    /// `eth0` (10.200.0.2/24, fd00:200::2/64) there, default routes via the
    /// sandbox host. It lives as long as the sandbox.
    pub fn add_outside_peer(&mut self) -> Result<Peer> {
        let ready = self.path.join(format!("peer{}", self.peers.len()));
        let child = self
            .command("unshare")
            .args(["--net", "--", "sh", "-c"])
            .arg(format!(
                "ip link set lo up && touch {} && exec sleep infinity",
                ready.display()
            ))
            .stdin(Stdio::null())
            .spawn()
            .map_err(io("start the outside peer"))?;
        let peer = Peer { pid: child.id() };
        self.peers.push(child);
        wait_for(SETUP_TIMEOUT, "the outside peer", || ready.exists())?;
        output(self.command("sh").arg("-c").arg(format!(
            "ip link add out0 type veth peer name eth0 netns {pid} && ip addr add {HOST_OUTSIDE_IP}/24 dev out0 \
             && ip -6 addr add {HOST_OUTSIDE_IP6}/64 dev out0 nodad && ip link set out0 up",
            pid = peer.pid
        )))?;
        output(peer.command("sh").arg("-c").arg(format!(
            "ip addr add {PEER_IP}/24 dev eth0 && ip -6 addr add {PEER_IP6}/64 dev eth0 nodad && ip link set eth0 up \
             && ip route add default via {HOST_OUTSIDE_IP} && ip -6 route add default via {HOST_OUTSIDE_IP6}"
        )))?;
        // A fresh veth pair drops packets until the kernel's link watch has
        // activated both ends (up to a second): the peer is ready once it
        // answers over both families.
        let answers = |ip: &str| {
            self.command("busybox")
                .args(["ping", "-c1", "-W1", ip])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        wait_for(SETUP_TIMEOUT, "the outside peer's answers", || {
            answers(PEER_IP) && answers(PEER_IP6)
        })?;
        Ok(peer)
    }

    /// Kills every process whose command line names this sandbox's
    /// directory (daemons, shims, containerd) and their descendants
    /// (container processes): all of them were started for this sandbox,
    /// and shims detach from the daemon's process tree. The pids killed.
    pub fn kill_leftovers(&self) -> Vec<u32> {
        let needle = self.path.to_string_lossy().into_owned();
        let procs = processes();
        let roots: Vec<u32> = procs
            .iter()
            .filter(|p| p.cmdline.contains(&needle) && p.pid != std::process::id())
            .map(|p| p.pid)
            .collect();
        let mut victims = Vec::new();
        for root in &roots {
            descendants(&procs, *root, &mut victims);
        }
        // Children first, so no one reaps or restarts anything.
        victims.reverse();
        for pid in &victims {
            kill(*pid);
        }
        victims
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill_leftovers();
        for peer in &mut self.peers {
            let _ = peer.kill();
            let _ = peer.wait();
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        if let Some(dir) = self.dir.take() {
            // Mounts lived in the sandbox's mount namespace, gone with it;
            // give the kernel a moment to release them before deleting.
            for _ in 0..20 {
                if std::fs::remove_dir_all(dir.path()).is_ok() {
                    break;
                }
                sleep(Duration::from_millis(250));
            }
            let _ = dir.close();
        }
    }
}
