//! berth-shim: keeps one container's (or one exec's) stdio, log and exit
//! code, so the process outlives berthd. Started as `berth-shim
//! <dir>/shim.json`; the protocol and lifecycle are documented in
//! `berth_oci::shim` and `berth_oci::shim::proto`.
//!
//! Also, as `berth-shim --run-hiding <dir> <program> [args...]`, berthd's
//! way to run runc in a mount namespace without its netns mounts
//! (`berth_oci::mountns`).
//!
//! Deliberately small: std + nix, one thread, one poll loop, no async
//! runtime, so a shim costs well under a megabyte per container.

mod server;

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode};

use berth_oci::mountns::{hide_here, RUN_HIDING};
use berth_oci::shim::ShimConfig;
use nix::fcntl::OFlag;
use nix::unistd::{fork, pipe2, setsid, ForkResult};

/// Lines in the shim's own log (`<dir>/shim.log`, its stderr).
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!(
            "{} berth-shim[{}]: {}",
            berth_oci::time::format_rfc3339_nano(std::time::SystemTime::now()),
            std::process::id(),
            format_args!($($arg)*)
        )
    };
}
pub(crate) use log;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let first = args.next();
    if first.as_deref() == Some(OsStr::new(RUN_HIDING)) {
        return run_hiding(args);
    }
    let (Some(path), None) = (first, args.next()) else {
        eprintln!("usage: berth-shim <shim.json> | {RUN_HIDING} <dir> <program> [args...]");
        return ExitCode::from(2);
    };
    let cfg: ShimConfig = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-shim: read {}: {e}", path.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    let (ready_r, ready_w) = match pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berth-shim: pipe: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: nothing has started a thread yet (main's first statements
    // only read a file and made a pipe), so the child may do anything.
    match unsafe { fork() } {
        Err(e) => {
            eprintln!("berth-shim: fork: {e}");
            ExitCode::FAILURE
        }
        Ok(ForkResult::Parent { .. }) => {
            drop(ready_w);
            parent(ready_r, &cfg)
        }
        Ok(ForkResult::Child) => {
            drop(ready_r);
            child(ready_w, cfg)
        }
    }
}

/// `--run-hiding DIR PROGRAM ARGS...`: PROGRAM (runc) in a slave copy of
/// the mount namespace with DIR detached (see `berth_oci::mountns`). Exits
/// 125 if that or the exec fails, as `env` and `nsenter` do.
fn run_hiding(mut args: impl Iterator<Item = OsString>) -> ExitCode {
    let (Some(dir), Some(program)) = (args.next(), args.next()) else {
        eprintln!("usage: berth-shim {RUN_HIDING} <dir> <program> [args...]");
        return ExitCode::from(2);
    };
    if let Err(e) = hide_here(Path::new(&dir)) {
        eprintln!(
            "berth-shim: detach {} in a new mount namespace: {e}",
            dir.to_string_lossy()
        );
        return ExitCode::from(125);
    }
    let e = Command::new(&program).args(args).exec();
    eprintln!("berth-shim: run {}: {e}", program.to_string_lossy());
    ExitCode::from(125)
}

/// Waits for the shim proper to report "ok" (or its error) and exits with
/// it; berthd's `spawn` waits for this process, which leaves the shim
/// reparented away from berthd.
fn parent(ready: OwnedFd, cfg: &ShimConfig) -> ExitCode {
    let mut msg = String::new();
    let _ = File::from(ready).read_to_string(&mut msg);
    if msg.trim() == "ok" {
        return ExitCode::SUCCESS;
    }
    let msg = msg.trim();
    if msg.is_empty() {
        eprintln!(
            "shim exited before it was ready; see {}",
            cfg.shim_log().display()
        );
    } else {
        eprintln!("{msg}");
    }
    ExitCode::FAILURE
}

fn child(ready: OwnedFd, cfg: ShimConfig) -> ExitCode {
    let mut ready = File::from(ready);
    if let Err(e) = detach(&cfg) {
        let _ = ready.write_all(e.as_bytes());
        return ExitCode::FAILURE;
    }
    let mut server = match server::Server::setup(cfg) {
        Ok(s) => s,
        Err(e) => {
            log!("setup failed: {e}");
            let _ = ready.write_all(e.as_bytes());
            return ExitCode::FAILURE;
        }
    };
    let _ = ready.write_all(b"ok");
    drop(ready);
    server.run();
    ExitCode::SUCCESS
}

/// Leaves berthd's session and stdio, and becomes the subreaper that
/// inherits the container's init once `runc create` exits.
fn detach(cfg: &ShimConfig) -> Result<(), String> {
    setsid().map_err(|e| format!("setsid: {e}"))?;
    let devnull = File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
    let log_path = cfg.shim_log();
    let logf = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("open {}: {e}", log_path.display()))?;
    nix::unistd::dup2_stdin(&devnull).map_err(|e| format!("dup2: {e}"))?;
    nix::unistd::dup2_stdout(&logf).map_err(|e| format!("dup2: {e}"))?;
    nix::unistd::dup2_stderr(&logf).map_err(|e| format!("dup2: {e}"))?;
    nix::unistd::chdir(&cfg.dir).map_err(|e| format!("chdir {}: {e}", cfg.dir.display()))?;
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("set subreaper: {e}"))?;
    reset_signal_dispositions();
    Ok(())
}

/// Ignored signals survive exec, so whatever berthd's starter ignored
/// (`nohup` ignores SIGHUP, shells SIGINT/SIGQUIT for background jobs)
/// would reach the runtime and, unless it resets them (runc does, not
/// every runtime does), every container. Start from a clean slate. SIGPIPE
/// stays ignored for the shim itself (std's spawn resets it for children).
fn reset_signal_dispositions() {
    for sig in 1..=libc::SIGRTMAX() {
        if matches!(sig, libc::SIGKILL | libc::SIGSTOP | libc::SIGPIPE) {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no code of ours in signal
        // context; invalid numbers (glibc's reserved ones) just fail.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}
