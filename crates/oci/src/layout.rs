//! Where everything lives on disk. One place computes every path, so the
//! daemon, the shim and the tests agree.
//!
//! ```text
//! <data-root>/images/index.json                 tags and image sizes (atomic rewrite)
//! <data-root>/images/<hex id>/config.json       image config; its sha256 is the id
//! <data-root>/images/<hex id>/rootfs/           the image's files (overlay lowerdir)
//! <data-root>/images/tmp/                       imports and deletions in progress
//! <data-root>/containers/<id>/upper, work       overlay upper and work dirs
//! <data-root>/containers/<id>/<id>-json.log     Docker json-file log, written by the shim
//! <data-root>/containers/<id>/exit.json         exit code + finish time, written by the shim
//! <data-root>/volumes/<name>/_data              a volume's data, as Docker's `local` driver
//! <exec-root>/runc/                             runc's --root (never /run/runc)
//! <exec-root>/containers/<id>/                  bundle dir = shim dir:
//!     config.json  rootfs/ (overlay mount)  shim.json  shim.sock  shim.pid
//!     shim.log  runc.log  init.pid  console.sock (tty, while creating)
//! <exec-root>/containers/<id>/exec/<exec id>/   one exec's shim dir:
//!     process.json  shim.json  shim.sock  shim.pid  shim.log  runc.log
//!     init.pid  exit.json
//! ```
//! The exit file of a container lives under the data root so that it
//! outlives a reboot of the exec root (tmpfs); an exec's exit code is only
//! worth keeping while the daemon runs, like Docker's.

use std::path::{Path, PathBuf};

use berth_types::ContainerId;

use crate::error::{Error, Result};

pub(crate) const SHIM_CONFIG: &str = "shim.json";
pub(crate) const SHIM_SOCKET: &str = "shim.sock";
pub(crate) const SHIM_PID: &str = "shim.pid";
pub(crate) const SHIM_LOG: &str = "shim.log";
pub(crate) const RUNC_LOG: &str = "runc.log";
pub(crate) const INIT_PID: &str = "init.pid";
pub(crate) const CONSOLE_SOCKET: &str = "console.sock";
pub(crate) const EXIT_FILE: &str = "exit.json";
pub(crate) const BUNDLE_CONFIG: &str = "config.json";
/// The bundle's file runc joins the sandbox's network namespace through.
pub(crate) const NETNS_PIN: &str = "netns";
pub(crate) const PROCESS_JSON: &str = "process.json";

/// An exec instance's id: Docker uses 64 hex digits; we accept any short
/// name that is safe as one path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExecId(String);

impl ExecId {
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(ExecId(s.to_owned()))
        } else {
            Err(Error::InvalidExecId(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ExecId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct Layout {
    data_root: PathBuf,
    exec_root: PathBuf,
}

impl Layout {
    pub fn new(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> Self {
        Layout {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
        }
    }

    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    pub fn exec_root(&self) -> &Path {
        &self.exec_root
    }

    pub fn images_dir(&self) -> PathBuf {
        self.data_root.join("images")
    }

    /// Every volume's directory is a child of this one.
    pub fn volumes_dir(&self) -> PathBuf {
        self.data_root.join("volumes")
    }

    /// What containers mount of volume `name`.
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    pub fn runc_root(&self) -> PathBuf {
        self.exec_root.join("runc")
    }

    /// Persistent per-container state: overlay upper/work, log, exit file.
    /// The caller may keep its own files here (hosts, resolv.conf,
    /// hostname); [`crate::ContainerRuntime::delete`] removes the whole dir.
    pub fn container_data_dir(&self, id: &ContainerId) -> PathBuf {
        self.data_root.join("containers").join(id.as_str())
    }

    /// The bundle directory, which is also the container shim's directory.
    pub fn bundle_dir(&self, id: &ContainerId) -> PathBuf {
        self.exec_root.join("containers").join(id.as_str())
    }

    /// Where the container's overlay is mounted (the bundle's `rootfs`).
    pub fn rootfs(&self, id: &ContainerId) -> PathBuf {
        self.bundle_dir(id).join("rootfs")
    }

    /// A shareable `/dev/shm` (`--ipc shareable`): a tmpfs mounted here,
    /// outside the container, that containers joining its IPC namespace
    /// bind too.
    pub fn shm_dir(&self, id: &ContainerId) -> PathBuf {
        self.bundle_dir(id).join("shm")
    }

    pub fn upper_dir(&self, id: &ContainerId) -> PathBuf {
        self.container_data_dir(id).join("upper")
    }

    pub fn work_dir(&self, id: &ContainerId) -> PathBuf {
        self.container_data_dir(id).join("work")
    }

    /// Docker's json-file log path and name.
    pub fn log_file(&self, id: &ContainerId) -> PathBuf {
        self.container_data_dir(id).join(format!("{id}-json.log"))
    }

    pub fn exit_file(&self, id: &ContainerId) -> PathBuf {
        self.container_data_dir(id).join(EXIT_FILE)
    }

    pub fn shim_socket(&self, id: &ContainerId) -> PathBuf {
        self.bundle_dir(id).join(SHIM_SOCKET)
    }

    pub fn exec_dir(&self, id: &ContainerId, exec: &ExecId) -> PathBuf {
        self.bundle_dir(id).join("exec").join(exec.as_str())
    }
}
