//! Containers (Docker's CNM noun): what was asked at create time, the
//! networks they attach to with the endpoint each join made, and the live
//! state while running; their validation ([`create`]), the engine's index
//! of them ([`table`]) and the use cases ([`lifecycle`], [`connect`]).

mod connect;
pub mod control;
pub mod create;
mod health;
mod lifecycle;
pub(crate) mod links;
mod pause;
mod probes;
mod rename;
mod resources;
mod restart;
pub mod security;
mod stats;
pub mod storage;
pub mod table;
mod update;

pub use health::{
    Health, HealthStatus, HealthTable, Healthcheck, HealthcheckRequest, ProbeResult, OUTPUT_LIMIT,
};
pub use lifecycle::{PreparedStart, StartKind};
pub use links::{Link, LinkFacts};
pub use resources::{Capacity, ContainerUpdate, Device, Resources, Ulimit, DEFAULT_SHM_SIZE};
pub use restart::RestartPolicy;
pub use security::{Security, SecurityLaunch, SecurityRequest};
pub use stats::{
    BlockIoEntry, ContainerStats, CpuStats, MemoryStats, NetworkStats, PidsStats, Throttling,
};
pub use storage::{Mount, MountKind, MountRequest, Storage, ANONYMOUS_VOLUME_LABEL};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use berth_types::{ContainerId, EndpointId, IfName, IpNet, MacAddr, NetworkId};
use serde::{Deserialize, Serialize};

/// `--network`: how a container gets its network namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// The default `bridge` network (Docker's `default` and `bridge`).
    Bridge,
    /// The host's own namespace.
    Host,
    /// A namespace of its own with only `lo`.
    None,
    /// The namespace of another container (by id, resolved at create).
    Container(ContainerId),
    /// A user-defined network (by id, resolved at create).
    Network(NetworkId),
}

impl NetworkMode {
    /// Whether the container gets a namespace of its own that berth makes.
    pub fn owns_sandbox(&self) -> bool {
        matches!(
            self,
            NetworkMode::Bridge | NetworkMode::None | NetworkMode::Network(_)
        )
    }
}

/// A published port, as `-p` asks for it. Ranges are whole ranges so that a
/// 1,000-port range stays one record and one firewall element.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortBinding {
    pub proto: Proto,
    pub container_port: u16,
    /// `None`: all of the host's addresses (`0.0.0.0` and `::`).
    pub host_ip: Option<IpAddr>,
    /// `None`: an ephemeral port chosen at start; `Some((a, b))`: a port
    /// from `a..=b` (`a == b` for a fixed port).
    pub host_ports: Option<(u16, u16)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

/// `--stop-signal`: as given (shown by inspect) and its number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopSignal {
    pub name: String,
    pub number: i32,
}

/// The process and its environment, from the request merged with the image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    /// Entrypoint followed by command: what runs.
    pub args: Vec<String>,
    /// As requested (or from the image), for `inspect`.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// The terminal's initial (height, width), with `tty`.
    #[serde(default)]
    pub console_size: Option<(u16, u16)>,
}

/// What shapes `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    pub hostname: String,
    pub domainname: String,
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP`, with `host-gateway` already resolved.
    pub extra_hosts: Vec<(String, IpAddr)>,
}

/// One network a container is (to be) attached to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: NetworkId,
    /// `--network-alias` / `connect --alias`.
    pub aliases: Vec<String>,
    /// `--ip` / `--ip6` / `--mac-address`, if given.
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
    pub mac: Option<MacAddr>,
    /// Present while the container runs. Stored once, in the store's
    /// endpoints table (with its addresses' allocations), not in the
    /// container's own record; older records that hold it are still read.
    #[serde(default, skip_serializing)]
    pub endpoint: Option<Endpoint>,
}

/// What joining a sandbox to a network made (Docker's endpoint): its
/// interface there, MAC, addresses and gateways. The driver decides what
/// the interface is (for the bridge driver, the sandbox end of a veth pair
/// whose other end is `host_ifname`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: EndpointId,
    /// Inside the sandbox: `eth0`, `eth1`…
    pub ifname: IfName,
    /// The endpoint's interface in the host's namespace, if its driver
    /// makes one (named by the driver, see `NetworkDriver::host_ifname`).
    #[serde(default)]
    pub host_ifname: Option<IfName>,
    pub mac: MacAddr,
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    pub gateway4: Option<IpAddr>,
    pub gateway6: Option<IpAddr>,
}

impl Endpoint {
    /// Its addresses with their prefix lengths, IPv4 first.
    pub fn addresses(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.ipv4.iter().chain(self.ipv6.iter()).copied()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
    Removing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Removing => "removing",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    pub pid: u32,
    pub exit_code: i64,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub error: String,
    /// Set while berth is bringing the container up: network made, process
    /// not yet confirmed running. Reconcile undoes a start cut short.
    pub starting: bool,
    /// Set while `connect`/`disconnect` change a running container's
    /// networks: its veths and `/etc` files may lag the record, so
    /// reconcile finishes the change.
    #[serde(default)]
    pub networks_changing: bool,
    /// Restarts its restart policy made since the last start by hand
    /// (Docker's `RestartCount`).
    #[serde(default)]
    pub restart_count: u32,
    /// Waiting out the restart policy's back-off, to be started again.
    #[serde(default)]
    pub restarting: bool,
    /// The back-off before the last restart (milliseconds): the next one
    /// doubles it.
    #[serde(default)]
    pub restart_delay_ms: u64,
    /// Stopped or killed by the user since its last start: `unless-stopped`
    /// then leaves it stopped when berthd starts.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Its processes are frozen (`pause`).
    #[serde(default)]
    pub paused: bool,
}

impl RunState {
    /// A container just created: never started.
    pub fn created() -> Self {
        RunState {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            started_at: None,
            finished_at: None,
            error: String::new(),
            starting: false,
            networks_changing: false,
            restart_count: 0,
            restarting: false,
            restart_delay_ms: 0,
            manually_stopped: false,
            paused: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: ContainerId,
    /// Without Docker's leading `/`.
    pub name: String,
    pub created: SystemTime,
    /// The image as requested (`busybox`) and as resolved (`sha256:…`).
    pub image: String,
    pub image_id: String,
    pub process: ProcessConfig,
    pub dns: DnsConfig,
    pub labels: BTreeMap<String, String>,
    pub network_mode: NetworkMode,
    pub attachments: Vec<Attachment>,
    pub ports: Vec<PortBinding>,
    pub publish_all: bool,
    /// Exposed ports from the request and the image (`80/tcp`).
    pub exposed: Vec<(u16, Proto)>,
    pub auto_remove: bool,
    /// `--restart`.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// `--link NAME[:ALIAS]`.
    #[serde(default)]
    pub links: Vec<Link>,
    /// `--health-*`: none if not asked (or `--no-healthcheck`).
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    /// `--stop-signal`: what `stop` sends first (SIGTERM if unset).
    #[serde(default)]
    pub stop_signal: Option<StopSignal>,
    /// `--stop-timeout`: how long `stop` waits before SIGKILL (seconds;
    /// negative waits for ever; 10 if unset).
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    /// Mounts and volumes.
    #[serde(default)]
    pub storage: Storage,
    /// Resource limits.
    #[serde(default)]
    pub resources: Resources,
    /// Privileges and shared namespaces.
    #[serde(default)]
    pub security: Security,
    /// Host ports published while running (cleared at exit).
    #[serde(default)]
    pub published: Vec<crate::publish::Published>,
    pub state: RunState,
    /// The bind-mounted network namespace while running, for sandboxes
    /// berth owns (`<exec-root>/netns/<id>`).
    pub netns: Option<PathBuf>,
}

impl Container {
    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running
    }

    pub fn short_id(&self) -> &str {
        self.id.short()
    }
}
