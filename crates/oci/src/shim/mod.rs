//! The per-container shim: its config (written by berthd, read by the
//! `berth-shim` binary), how it is started, its protocol and its client.
//!
//! berthd runs `berth-shim <dir>/shim.json`. The shim forks: the child
//! calls setsid, becomes a child subreaper, binds `<dir>/shim.sock`, and in
//! container mode runs `runc create` in a mount namespace of runc's own
//! with the container's rootfs mounted there (see [`crate::rootfs`]); the
//! parent waits for the child to report that (or its error) on a pipe and
//! exits with it, so [`spawn`] returns once the container exists, and the
//! shim is then reparented away from berthd (to init or a subreaper) and
//! survives it.
//! After `START` it waits for the process, keeps its output (json-file log
//! in container mode, live frames to attached clients), and when the
//! process has exited and its output is drained: deletes the runc
//! container (container mode), writes the exit file atomically, sends
//! `EXIT` to clients, removes its socket and exits.

pub mod client;
pub mod proto;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layout::{
    CONSOLE_SOCKET, INIT_PID, PROCESS_JSON, RUNC_LOG, SHIM_CONFIG, SHIM_LOG, SHIM_PID, SHIM_SOCKET,
};
use crate::rootfs::{NetnsPin, Overlay};

/// What the shim runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShimMode {
    /// A container: `dir` is its bundle; output goes to `log_file` too.
    /// `runc create` runs in a mount namespace of its own with `rootfs`
    /// mounted there and `netns` pinned ([`Overlay::mount_in_new_namespace`]).
    Container {
        log_file: PathBuf,
        rootfs: Overlay,
        #[serde(default)]
        netns: Option<NetnsPin>,
    },
    /// An exec in the running container `id`: `dir/process.json`.
    Exec,
}

/// `shim.json`: everything the shim needs, so its command line is one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimConfig {
    /// The runc container id.
    pub id: String,
    /// Who this shim is for, in messages ("container <id>", "exec <x> in <id>").
    pub target: String,
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
    /// The mount runc runs without ([`crate::mountns`]).
    #[serde(default)]
    pub runc_hides: Option<PathBuf>,
    /// The shim's directory (the bundle in container mode): socket, pid
    /// files, logs.
    pub dir: PathBuf,
    pub mode: ShimMode,
    pub exit_file: PathBuf,
    pub tty: bool,
    /// Keep the process's stdin open for attached clients (`-i`).
    pub stdin: bool,
}

impl ShimConfig {
    pub fn socket(&self) -> PathBuf {
        self.dir.join(SHIM_SOCKET)
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join(SHIM_PID)
    }
    pub fn init_pid_file(&self) -> PathBuf {
        self.dir.join(INIT_PID)
    }
    /// An exec's OCI process (exec mode).
    pub fn process_file(&self) -> PathBuf {
        self.dir.join(PROCESS_JSON)
    }
    pub fn runc_log(&self) -> PathBuf {
        self.dir.join(RUNC_LOG)
    }
    pub fn shim_log(&self) -> PathBuf {
        self.dir.join(SHIM_LOG)
    }
    /// The socket runc hands a tty's master to. Relative on purpose: the
    /// shim and runc run in `dir` (runc create chdirs to the bundle, which
    /// is `dir`), and an absolute path could exceed `sun_path`.
    pub fn console_socket_name(&self) -> &'static str {
        CONSOLE_SOCKET
    }
    /// The socket's name inside `dir` (the shim binds it relative to its
    /// working directory for the same reason).
    pub fn socket_name(&self) -> &'static str {
        SHIM_SOCKET
    }
}

/// Writes `shim.json` and starts the shim, returning its pid once it is
/// serving (and, for a container, once `runc create` has succeeded). The
/// error carries what the shim reported (runc's message).
pub fn spawn(shim_binary: &Path, config: &ShimConfig) -> Result<u32> {
    let cfg_path = config.dir.join(SHIM_CONFIG);
    let bytes = serde_json::to_vec_pretty(config).map_err(|e| Error::Shim {
        target: config.target.clone(),
        message: e.to_string(),
    })?;
    crate::fsutil::write_atomic(&cfg_path, &bytes)?;
    let out = Command::new(shim_binary)
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Shim {
            target: config.target.clone(),
            message: format!("cannot run {}: {e}", shim_binary.display()),
        })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(Error::Shim {
            target: config.target.clone(),
            message: if msg.is_empty() {
                format!("shim failed ({})", out.status)
            } else {
                msg
            },
        });
    }
    let pid_file = config.pid_file();
    let pid = fs::read_to_string(&pid_file)
        .map_err(Error::io("read", &pid_file))?
        .trim()
        .parse()
        .map_err(|e| Error::Shim {
            target: config.target.clone(),
            message: format!("bad pid file {}: {e}", pid_file.display()),
        })?;
    tracing::debug!(target = %config.target, shim_pid = pid, "shim started");
    Ok(pid)
}
