//! Processes: running commands, waiting, and killing by pid.

use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{io, Error, Result};

/// Runs `cmd`; its stdout, or an error with its stderr and stdout.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("run {cmd:?}")))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{cmd:?}"),
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `ready` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, what: &str, mut ready: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !ready() {
        if Instant::now() > deadline {
            return Err(Error::Timeout(what.to_owned()));
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

/// Every process /proc lists now.
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

/// `root` and all its descendants in `procs`, parents first.
pub fn descendants(procs: &[Proc], root: u32, out: &mut Vec<u32>) {
    if out.contains(&root) {
        return;
    }
    out.push(root);
    for child in procs.iter().filter(|p| p.ppid == root) {
        descendants(procs, child.pid, out);
    }
}

/// Sends `signal` to `pid`; a process already gone is no error worth telling.
pub fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// SIGKILL by pid.
pub fn kill(pid: u32) {
    signal(pid, libc::SIGKILL);
}

/// Sends SIGTERM, then waits for the child: up to `timeout` and SIGKILL
/// after it, or for as long as it takes when `None`. The exit code (-1 when
/// it died by a signal).
pub fn terminate(child: &mut Child, timeout: Option<Duration>) -> i32 {
    signal(child.id(), libc::SIGTERM);
    if let Some(timeout) = timeout {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
    }
    child
        .wait()
        .ok()
        .and_then(|status| status.code())
        .unwrap_or(-1)
}
