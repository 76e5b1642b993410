//! Sandbox hosts (DESIGN.md, "Testing"): a fresh network + mount namespace
//! held open by a `sleep`, `lo` up, a tmpfs on `/run`, and an outside peer
//! joined by a veth pair. Every daemon, container and benchmark process
//! runs in one of these; nothing touches the machine's own namespaces.
//! Dropping a sandbox kills every process it started (by pid) and so the
//! namespaces and all the kernel objects in them disappear.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

/// The sandbox host's address on the link to its outside peer.
pub const HOST_IP: &str = "10.200.0.1";
/// The outside peer's address.
pub const PEER_IP: &str = "10.200.0.2";

pub struct Sandbox {
    dir: Option<TempDir>,
    path: PathBuf,
    holder: Child,
    peer: Option<Child>,
    /// Long-running helpers (iperf3 servers, listeners) to kill at the end.
    helpers: Vec<Child>,
}

impl Sandbox {
    pub fn new(prefix: &str, keep: bool) -> Result<Sandbox> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .context("make a temp dir")?;
        let (dir, path) = if keep {
            let path = dir.keep();
            eprintln!("berth-bench: keeping {}", path.display());
            (None, path)
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
            .context("start unshare")?;
        let mut sandbox = Sandbox {
            dir,
            path,
            holder,
            peer: None,
            helpers: Vec::new(),
        };
        wait_for(Duration::from_secs(10), "sandbox namespaces", || {
            ready.exists()
        })?;
        sandbox.add_outside_peer()?;
        Ok(sandbox)
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn peer_pid(&self) -> Option<u32> {
        self.peer.as_ref().map(Child::id)
    }

    /// A command run in the sandbox host's network and mount namespaces.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.pid().to_string())
            .args(["-n", "-m", "--"])
            .arg(program);
        cmd
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

    /// A command run in the outside peer's network namespace.
    pub fn in_peer(&self, program: impl AsRef<OsStr>) -> Result<Command> {
        let pid = self.peer_pid().context("no outside peer")?;
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(pid.to_string())
            .args(["-n", "-m", "--"])
            .arg(program);
        Ok(cmd)
    }

    /// `sh -c script` in the sandbox host; its stdout, or an error.
    pub fn sh(&self, script: &str) -> Result<String> {
        output(self.command("sh").args(["-c", script]))
    }

    /// Kills the helpers started so far.
    pub fn kill_helpers(&mut self) {
        for mut child in self.helpers.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The outside peer: `out0` (10.200.0.1/24) here, `eth0` (10.200.0.2/24)
    /// there, default route via the sandbox host.
    fn add_outside_peer(&mut self) -> Result<()> {
        let ready = self.path.join("peer-ready");
        let child = self
            .command("unshare")
            .args(["--net", "--", "sh", "-c"])
            .arg(format!(
                "ip link set lo up && touch {} && exec sleep infinity",
                ready.display()
            ))
            .stdin(Stdio::null())
            .spawn()
            .context("start the outside peer")?;
        let pid = child.id();
        self.peer = Some(child);
        wait_for(Duration::from_secs(10), "the outside peer", || {
            ready.exists()
        })?;
        self.sh(&format!(
            "ip link add out0 type veth peer name eth0 netns {pid} && ip addr add {HOST_IP}/24 dev out0 \
             && ip link set out0 up"
        ))?;
        output(self.in_peer("sh")?.args([
            "-c",
            &format!(
                "ip addr add {PEER_IP}/24 dev eth0 && ip link set eth0 up && ip route add default via {HOST_IP}"
            ),
        ]))?;
        Ok(())
    }

    /// Kills every process whose command line names this sandbox's
    /// directory (daemons, shims, containerd) and their descendants
    /// (container processes): all of them were started for this sandbox.
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
        victims.dedup();
        for pid in &victims {
            kill(*pid);
        }
        victims
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill_helpers();
        let left = self.kill_leftovers();
        if !left.is_empty() {
            eprintln!(
                "berth-bench: killed {} leftover process(es) of {}",
                left.len(),
                self.path.display()
            );
        }
        if let Some(mut peer) = self.peer.take() {
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

/// Runs `cmd`; its stdout, or an error with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn wait_for(timeout: Duration, what: &str, mut ready: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !ready() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A process as /proc shows it.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub cmdline: String,
}

pub fn processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // comm is in parentheses and may hold spaces: split at the last ')'.
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let comm = stat.get(open + 1..close)?.to_owned();
            let ppid = stat
                .get(close + 2..)?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            Some(Proc {
                pid,
                ppid,
                comm,
                cmdline,
            })
        })
        .collect()
}

fn descendants(procs: &[Proc], root: u32, out: &mut Vec<u32>) {
    if out.contains(&root) {
        return;
    }
    out.push(root);
    for child in procs.iter().filter(|p| p.ppid == root) {
        descendants(procs, child.pid, out);
    }
}

pub fn kill(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Sends SIGTERM and waits up to `timeout` for the child; SIGKILL after.
pub fn terminate(child: &mut Child, timeout: Duration) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A field of /proc/PID/status or smaps_rollup, in kB.
pub fn proc_kb(pid: u32, file: &str, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
