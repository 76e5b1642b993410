//! The benchmark's sandbox host: berth-sandbox's [`Host`] (DESIGN.md,
//! "Testing") with its outside peer. Every daemon, container and benchmark
//! process runs in one of these; nothing touches the machine's own
//! namespaces. Dropping it kills every process started for it (by pid), so
//! the namespaces and all the kernel objects in them disappear.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use anyhow::Result;
use berth_sandbox::{Host, Peer};

pub use berth_sandbox::proc::{processes, wait_for};
pub use berth_sandbox::HOST_OUTSIDE_IP as HOST_IP;

pub struct Sandbox {
    host: Host,
    peer: Peer,
}

impl Sandbox {
    pub fn new(prefix: &str, keep: bool) -> Result<Sandbox> {
        let mut host = Host::new(prefix, keep)?;
        if keep {
            eprintln!("berth-bench: keeping {}", host.dir().display());
        }
        let peer = host.add_outside_peer()?;
        Ok(Sandbox { host, peer })
    }

    pub fn dir(&self) -> &Path {
        self.host.dir()
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// A command run in the sandbox host's network and mount namespaces.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        self.host.command(program)
    }

    /// A command run in a container's network namespace (its `SandboxKey`).
    pub fn in_netns(&self, netns: &Path, program: impl AsRef<OsStr>) -> Command {
        self.host.in_netns(netns, program)
    }

    /// A command run in the outside peer's network namespace.
    pub fn in_peer(&self, program: impl AsRef<OsStr>) -> Command {
        self.peer.command(program)
    }

    /// `sh -c script` in the sandbox host; its stdout, or an error.
    pub fn sh(&self, script: &str) -> Result<String> {
        output(self.command("sh").args(["-c", script]))
    }

    /// Kills every process started for this sandbox that is still there.
    pub fn kill_leftovers(&self) -> Vec<u32> {
        self.host.kill_leftovers()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let left = self.kill_leftovers();
        if !left.is_empty() {
            eprintln!(
                "berth-bench: killed {} leftover process(es) of {}",
                left.len(),
                self.dir().display()
            );
        }
    }
}

/// Runs `cmd`; its stdout, or an error with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    Ok(berth_sandbox::proc::output(cmd)?)
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
