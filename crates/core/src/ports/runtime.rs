//! Running containers' processes: what [`Runtime`] is given to launch one
//! and what it reports back.

use std::future::Future;
use std::path::PathBuf;
use std::time::SystemTime;

use berth_types::ContainerId;

use crate::container::{
    Capacity, ContainerStats, ProcessConfig, Resources, SecurityLaunch, Storage,
};

use super::PortError;

/// What the runtime needs to run a container's process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchSpec {
    pub id: ContainerId,
    pub image_id: String,
    pub process: ProcessConfig,
    pub hostname: String,
    pub domainname: String,
    pub netns: NetnsRef,
    pub etc: EtcFiles,
    pub storage: Storage,
    pub resources: Resources,
    pub security: SecurityLaunch,
}

/// A health probe: a command run in a container with its process's
/// environment, user and working directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    pub id: ContainerId,
    pub image_id: String,
    pub args: Vec<String>,
    pub process: ProcessConfig,
    /// `--group-add`, which execs (and so probes) get too.
    pub group_add: Vec<String>,
    pub hostname: String,
    pub timeout: std::time::Duration,
}

/// Which network namespace a container's process joins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsRef {
    /// A bind-mounted namespace file (own sandbox, or a `container:` target's).
    Path(PathBuf),
    /// The host's namespace (`--network host`).
    Host,
}

/// The generated files bind-mounted into the container's `/etc`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcFiles {
    pub hosts: String,
    pub resolv_conf: String,
    pub hostname: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: i64,
    pub finished_at: SystemTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeStatus {
    Running {
        pid: u32,
    },
    /// Created but not started.
    Created,
    Exited(ExitStatus),
    /// The runtime knows nothing of it.
    Missing,
}

/// Runs containers' processes (runc through a per-container shim).
pub trait Runtime: Send + Sync + 'static {
    /// Root filesystem, bundle, `/etc` files, shim: the process is ready to
    /// start but runs no user code yet.
    fn create(&self, spec: &LaunchSpec) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Runs the process; returns its pid.
    fn start(&self, id: &ContainerId) -> impl Future<Output = Result<u32, PortError>> + Send;
    fn signal(
        &self,
        id: &ContainerId,
        signal: i32,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Resolves when the process has exited.
    fn wait(&self, id: &ContainerId) -> impl Future<Output = Result<ExitStatus, PortError>> + Send;
    fn status(
        &self,
        id: &ContainerId,
    ) -> impl Future<Output = Result<RuntimeStatus, PortError>> + Send;
    /// Removes the runtime's state, the shim's files and the root
    /// filesystem; idempotent.
    fn delete(&self, id: &ContainerId) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Freezes (`true`) or thaws every process of a running container.
    fn set_paused(
        &self,
        id: &ContainerId,
        paused: bool,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Runs a health probe in a running container as a short exec: its
    /// exit code and the first [`crate::container::OUTPUT_LIMIT`] bytes of
    /// its output, or `None` if it ran past its timeout (then killed).
    fn probe(
        &self,
        probe: &ProbeSpec,
    ) -> impl Future<Output = Result<Option<(i64, Vec<u8>)>, PortError>> + Send;
    /// The host pids of a running container's processes.
    fn pids(&self, id: &ContainerId) -> impl Future<Output = Result<Vec<u32>, PortError>> + Send;
    /// Rewrites the `/etc` files of a created or running container.
    fn write_etc(
        &self,
        id: &ContainerId,
        files: &EtcFiles,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Applies new cgroup limits to a running container (`docker update`).
    fn update(
        &self,
        id: &ContainerId,
        resources: &Resources,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// What the host's cgroups can limit.
    fn capacity(&self) -> Capacity;
    /// A reading of a running container's cgroup and network namespace.
    fn stats(
        &self,
        id: &ContainerId,
    ) -> impl Future<Output = Result<ContainerStats, PortError>> + Send;
}
