//! What a spec is rendered from: the process to run, the container's
//! namespaces, `/etc` files and options, as the adapter gathers them.

use std::path::PathBuf;

use berth_core::container::{self, SecurityLaunch, Storage, Ulimit};

use super::security;

/// Which network namespace the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// Join an existing namespace (a bind-mounted netns file, or
    /// `/proc/<pid>/ns/net` of another container).
    Path(PathBuf),
    /// The host's own (`--network host`): no network namespace entry.
    Host,
    /// A fresh namespace made by runc, with only `lo` (up).
    New,
}

/// Files bind-mounted read-write over the image's `/etc` entries. The
/// caller writes them (they belong to the sandbox).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcFiles {
    pub hosts: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
    pub hostname: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (Docker lists the primary group first).
    pub additional_gids: Vec<u32>,
}

impl User {
    pub const ROOT: User = User {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub soft: u64,
    pub hard: u64,
}

impl Rlimit {
    /// This process's open-files hard limit for both values, which is what
    /// a container of Docker's sees (dockerd runs with a high limit and
    /// containers inherit it). Raising a hard limit needs CAP_SYS_RESOURCE,
    /// which not every host grants, so never ask for more than we have.
    pub fn inherited_nofile() -> Rlimit {
        let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(_, hard)| hard)
            .unwrap_or(1024);
        Rlimit { soft: hard, hard }
    }
}

/// A process to run: a container's init or an exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    /// `KEY=value` entries, complete (the caller merges image and user env
    /// and adds PATH, HOSTNAME, TERM as Docker does).
    pub env: Vec<String>,
    /// Absolute; runc creates it if missing.
    pub cwd: String,
    pub tty: bool,
    /// The terminal's initial (height, width); runc sizes it before the
    /// process runs.
    pub console_size: Option<(u16, u16)>,
    pub user: User,
    /// The open-files limit unless `ulimits` names one.
    pub nofile: Rlimit,
    /// `--ulimit`s, the container's for its execs too (as in Docker).
    pub ulimits: Vec<Ulimit>,
}

/// What a container asked for beyond its process and network, as core
/// records it: rendered into mounts, `linux.resources` and the process's
/// privileges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerOptions {
    pub storage: Storage,
    pub resources: container::Resources,
    pub security: SecurityLaunch,
}

/// Everything a container's `config.json` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSpec {
    /// Container id, for messages.
    pub id: String,
    /// The mounted overlay.
    pub rootfs: PathBuf,
    pub process: ProcessSpec,
    pub hostname: String,
    pub network: NetworkNamespace,
    pub etc: EtcFiles,
    /// runc's cgroupfs path, e.g. `/berth/<id>`: a plain path works on
    /// cgroup v1, v2 and hybrid hosts with runc's cgroupfs driver.
    pub cgroups_path: String,
    pub options: ContainerOptions,
    pub host_security: security::HostSecurity,
}
