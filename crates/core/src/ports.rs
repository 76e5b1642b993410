//! What the core needs from the operating system, as intent-level traits.
//! The daemon wires the real adapters (`berth-netlink`, `berth-store`); tests
//! use the fakes in `berth-testkit`. Nothing here names a concrete adapter.

use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use berth_types::{ContainerId, EndpointId, IfName, IpNet, MacAddr, NetworkId};

use crate::container::{
    Capacity, Container, ContainerStats, ProcessConfig, Proto, Resources, SecurityLaunch, Storage,
};
use crate::network::{Network, RecordState};
use crate::volume::Volume;

/// Adapters report failures as boxed errors; the core wraps them with what it
/// was doing and which object it was doing it to.
pub type PortError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Marks every kernel object berth creates, so start-up reconcile removes
/// only its own leftovers and never, say, Docker's `br-…` bridges.
pub const LINK_ALIAS_PREFIX: &str = "berth:";

/// The alias of a network's bridge: `berth:network:<id>`. Other kinds of
/// berth links get other kinds after the prefix, each reconciled on its own.
pub fn network_link_alias(id: &NetworkId) -> String {
    format!("{LINK_ALIAS_PREFIX}network:{id}")
}

/// The network id in a bridge's alias, if the alias is a network's.
pub fn network_id_from_alias(alias: &str) -> Option<&str> {
    alias
        .strip_prefix(LINK_ALIAS_PREFIX)?
        .strip_prefix("network:")
}

/// The alias of an endpoint's host-side veth: `berth:endpoint:<id>`.
pub fn endpoint_link_alias(id: &EndpointId) -> String {
    format!("{LINK_ALIAS_PREFIX}endpoint:{id}")
}

/// The endpoint id in a veth's alias, if the alias is an endpoint's.
pub fn endpoint_id_from_alias(alias: &str) -> Option<&str> {
    alias
        .strip_prefix(LINK_ALIAS_PREFIX)?
        .strip_prefix("endpoint:")
}

/// The bridge driver's veth pair of one endpoint, as the kernel must show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethPair {
    /// The sandbox's bind-mounted network namespace.
    pub netns: PathBuf,
    pub bridge: IfName,
    /// Host end, enslaved to `bridge`, up, carrying `alias`.
    pub host_ifname: IfName,
    /// Sandbox end: `eth0`, `eth1`…
    pub ifname: IfName,
    pub mac: MacAddr,
    pub mtu: u32,
    /// Addresses of the sandbox end, with the subnet's prefix length.
    pub addresses: Vec<IpNet>,
    /// Default routes to add in the sandbox through this interface (only the
    /// container's first network with a gateway provides them).
    pub default_gateways: Vec<IpAddr>,
    /// [`endpoint_link_alias`].
    pub alias: String,
}

/// Why an endpoint's interface is not as its driver made it, so
/// start-up reconcile can say what it repairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointFault {
    /// No host end: deleted behind berth's back (or its sandbox end was,
    /// which takes the pair along).
    HostEndMissing,
    /// The host end is down or has no alias: its creation was cut short.
    HalfMade,
    /// The host end is not a port of the network's bridge (the bridge was
    /// deleted and made again).
    NotOnBridge,
    /// The sandbox end is missing, down or without its addresses.
    SandboxEndIncomplete,
}

impl std::fmt::Display for EndpointFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EndpointFault::HostEndMissing => "the host end of the veth pair is gone",
            EndpointFault::HalfMade => "the veth pair was left half-made",
            EndpointFault::NotOnBridge => "the host end is not on the network's bridge",
            EndpointFault::SandboxEndIncomplete => {
                "the sandbox end is missing, down or without its addresses"
            }
        })
    }
}

/// How far [`NetOps::veth_pair_fault`] looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointCheck {
    /// The host end only: a couple of requests on the host's socket, cheap
    /// enough for every endpoint at every start. Deleting either end of a
    /// veth deletes both, so this sees what was deleted behind berth's back.
    HostEnd,
    /// The sandbox end too (it opens the sandbox's namespace): for an
    /// endpoint whose creation a crash may have cut short.
    BothEnds,
}

/// A bridge as the core wants it to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: IfName,
    pub mtu: u32,
    /// Gateway addresses with the subnet's prefix length (172.17.0.1/16).
    pub addresses: Vec<IpNet>,
    /// Stored as the link's alias: [`network_link_alias`].
    pub alias: String,
    /// The bridge's own MAC, set explicitly. A bridge left to pick its MAC
    /// takes its lowest port's and changes it when that port goes, while
    /// containers still hold the old one for their gateway in their ARP
    /// caches: their traffic to the gateway is then lost until the entry
    /// expires (issue 17). An address set by hand never follows the ports.
    pub mac: MacAddr,
}

/// An endpoint's interface made by the kernel from a parent link and born
/// in the sandbox (macvlan, ipvlan): no host-side end of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubInterface {
    /// The sandbox's bind-mounted network namespace.
    pub netns: PathBuf,
    /// The host link it is made from (`-o parent=`).
    pub parent: IfName,
    pub kind: SubInterfaceKind,
    /// Its name in the sandbox: `eth0`, `eth1`…
    pub ifname: IfName,
    pub mac: MacAddr,
    /// Addresses with the subnet's prefix length.
    pub addresses: Vec<IpNet>,
    /// Default routes through it (the container's first network with a
    /// gateway gives them).
    pub default_gateways: Vec<IpAddr>,
}

/// The kinds of [`SubInterface`], with their modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubInterfaceKind {
    MacvlanBridge,
    MacvlanPrivate,
    MacvlanVepa,
    MacvlanPassthru,
    /// ipvlan shares the parent's MAC: [`SubInterface::mac`] is not applied.
    IpvlanL2,
    IpvlanL3,
    IpvlanL3s,
}

/// A host link berth makes to be a network's parent, as Docker does: an
/// 802.1q sub-interface (`-o parent=eth0.10`) or a dummy link (a macvlan
/// network without a parent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentLink {
    pub name: IfName,
    pub kind: ParentLinkKind,
    /// Stored as the link's alias: [`parent_link_alias`].
    pub alias: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParentLinkKind {
    Vlan { base: IfName, id: u16 },
    Dummy,
}

/// An overlay network's VXLAN port, as the core wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanSpec {
    pub name: IfName,
    pub vni: u32,
    /// This host's VTEP: the cluster advertise address.
    pub local: IpAddr,
    /// The UDP port (4789, IANA's).
    pub port: u16,
    pub mtu: u32,
    /// The network's bridge, whose port it is.
    pub bridge: IfName,
    /// Stored as the link's alias: [`vxlan_link_alias`].
    pub alias: String,
}

/// The alias of an overlay network's VXLAN port: `berth:vxlan:<id>`.
pub fn vxlan_link_alias(id: &NetworkId) -> String {
    format!("{LINK_ALIAS_PREFIX}vxlan:{id}")
}

/// The network id in a VXLAN port's alias, if the alias is one.
pub fn network_id_from_vxlan_alias(alias: &str) -> Option<&str> {
    alias
        .strip_prefix(LINK_ALIAS_PREFIX)?
        .strip_prefix("vxlan:")
}

/// An endpoint on another host, as a VXLAN port must know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEndpoint {
    /// The overlay network's VXLAN port on this host.
    pub vxlan: IfName,
    pub mac: MacAddr,
    pub ip: IpAddr,
    /// The remote host's VTEP (its advertise address).
    pub vtep: IpAddr,
}

/// The alias of a parent link berth made for a network:
/// `berth:parent:<network id>`.
pub fn parent_link_alias(id: &NetworkId) -> String {
    format!("{LINK_ALIAS_PREFIX}parent:{id}")
}

/// The network id in a parent link's alias, if the alias is one.
pub fn network_id_from_parent_alias(alias: &str) -> Option<&str> {
    alias
        .strip_prefix(LINK_ALIAS_PREFIX)?
        .strip_prefix("parent:")
}

/// Link kinds a kernel may or may not have (a driver that needs one the
/// kernel lacks is refused, naming it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelLink {
    Macvlan,
    Ipvlan,
    /// 802.1q VLAN sub-interfaces (`eth0.10`).
    Vlan,
    Dummy,
}

impl KernelLink {
    /// The kernel's name for it: its link kind and its config option.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            KernelLink::Macvlan => ("macvlan", "CONFIG_MACVLAN"),
            KernelLink::Ipvlan => ("ipvlan", "CONFIG_IPVLAN"),
            KernelLink::Vlan => ("802.1q vlan", "CONFIG_VLAN_8021Q"),
            KernelLink::Dummy => ("dummy", "CONFIG_DUMMY"),
        }
    }
}

/// A link that carries berth's alias, as found in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedLink {
    pub name: IfName,
    pub alias: String,
}

/// Links, addresses, routes and sysctls of the host's network namespace.
pub trait NetOps: Send + Sync + 'static {
    /// Makes the bridge exist with exactly `spec`: created if missing (with its
    /// alias and MAC), MTU and MAC set, `addresses` present and no other
    /// global addresses, up. Idempotent: calling it on a correct bridge changes nothing.
    fn ensure_bridge(
        &self,
        spec: &BridgeSpec,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes a link by name; a link that is already gone is success.
    fn delete_link(&self, name: &IfName) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Sets a link down, which also takes its connected routes away; a link
    /// that is gone is success. Cheap, unlike deleting a bridge.
    fn set_link_down(&self, name: &IfName) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Every link whose alias starts with [`LINK_ALIAS_PREFIX`].
    fn owned_links(&self) -> impl Future<Output = Result<Vec<OwnedLink>, PortError>> + Send;

    /// Destinations of the host's IPv4 and IPv6 routes (main table), so a new
    /// network's pool never shadows a network the host already reaches.
    fn host_routes(&self) -> impl Future<Output = Result<Vec<IpNet>, PortError>> + Send;

    /// Writes a sysctl of the host namespace. `key` follows sysctl.d(5): the
    /// dotted name (`net.ipv4.ip_forward`), or the slash form when a part
    /// holds a dot, as interface names may (`net/ipv4/conf/br.x/forwarding`).
    fn set_sysctl(
        &self,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Makes a new network namespace, bind-mounted at `path`, with `lo` up.
    /// A namespace already mounted there is kept (idempotent).
    fn create_netns(&self, path: &Path) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Unmounts and removes a namespace file; a missing one is success.
    fn remove_netns(&self, path: &Path) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The namespace files in `dir` (for reconcile).
    fn list_netns(
        &self,
        dir: &Path,
    ) -> impl Future<Output = Result<Vec<PathBuf>, PortError>> + Send;

    /// Creates a veth pair as `pair` says, all or nothing: on failure
    /// nothing of it is left (the host end is deleted).
    fn add_veth_pair(&self, pair: &VethPair) -> impl Future<Output = Result<(), PortError>> + Send;

    /// What is wrong with a veth pair against `pair`, or `None` if the
    /// kernel shows it as [`NetOps::add_veth_pair`] makes it (as far as
    /// `check` looks).
    fn veth_pair_fault(
        &self,
        pair: &VethPair,
        check: EndpointCheck,
    ) -> impl Future<Output = Result<Option<EndpointFault>, PortError>> + Send;

    /// Whether the kernel can make links of `kind` (probed once, in a
    /// namespace of its own, never the host's).
    fn kernel_has(&self, kind: KernelLink) -> impl Future<Output = bool> + Send;

    /// The kind of the host's link `name` (`veth`, `bridge`, `""` for a
    /// plain device), or `None` if there is no such link.
    fn link_kind(
        &self,
        name: &IfName,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;

    /// Makes `link` in the host's namespace, up, with its alias; one that
    /// is there already with that alias is success.
    fn add_parent_link(
        &self,
        link: &ParentLink,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Makes the VXLAN port of an overlay network as `spec` says, a port
    /// of its bridge, up; one there already with that alias is success.
    fn ensure_vxlan(&self, spec: &VxlanSpec) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Makes a remote endpoint reachable through a VXLAN port: a static
    /// FDB entry (its MAC to its host's VTEP) and a permanent neighbour
    /// entry (its IP to its MAC), replacing what was there.
    fn add_remote_endpoint(
        &self,
        remote: &RemoteEndpoint,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The remote endpoints the VXLAN port `vxlan` has entries of (what
    /// [`NetOps::add_remote_endpoint`] made and nothing removed), for
    /// reconcile; none if the port is gone.
    fn remote_endpoints_on(
        &self,
        vxlan: &IfName,
    ) -> impl Future<Output = Result<Vec<RemoteEndpoint>, PortError>> + Send;

    /// Removes what [`NetOps::add_remote_endpoint`] made; gone is success.
    fn remove_remote_endpoint(
        &self,
        remote: &RemoteEndpoint,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Makes `sub` in its sandbox, configured (addresses, up, default
    /// routes, `lo` up), all or nothing.
    fn add_sub_interface(
        &self,
        sub: &SubInterface,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes the link `ifname` inside the sandbox at `netns`; gone (or
    /// the sandbox gone) is success.
    fn delete_sandbox_link(
        &self,
        netns: &Path,
        ifname: &IfName,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// What is wrong with `sub` in its sandbox, or `None` if it is there,
    /// up, with its addresses.
    fn sub_interface_fault(
        &self,
        sub: &SubInterface,
    ) -> impl Future<Output = Result<Option<EndpointFault>, PortError>> + Send;

    /// Whether a process of the host holds this port (so publishing it
    /// would shadow that process).
    fn port_in_use(&self, proto: Proto, ip: IpAddr, port: u16) -> bool;

    /// Deletes the host's connection-tracking entries (IPv4 and IPv6) that
    /// any of `flows` matches, so an address or port used again gets the
    /// verdicts of the rules now, not those of an old flow; returns how
    /// many went. Nothing to delete is success.
    fn forget_flows(
        &self,
        flows: &[FlowMatch],
    ) -> impl Future<Output = Result<usize, PortError>> + Send;
}

/// Which connection-tracking entries [`NetOps::forget_flows`] deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowMatch {
    /// Entries with this address at either end, in either direction (an
    /// endpoint's address, as Docker's bridge driver matches it).
    Address(IpAddr),
    /// Entries whose original destination port is in `ports` (inclusive),
    /// for `proto`: a published host port.
    DestPort { proto: Proto, ports: (u16, u16) },
}

/// One write of a [`Store::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Inserts or replaces (same id) a network, with its record's state.
    PutNetwork(Box<Network>, RecordState),
    DeleteNetwork(NetworkId),
    /// Inserts or replaces (same id) a container. Its live endpoints are
    /// stored with it, each with its addresses allocated on its network;
    /// endpoints it no longer has are deleted, releasing their addresses.
    PutContainer(Box<Container>),
    /// Deletes a container and its endpoints; missing is success.
    DeleteContainer(ContainerId),
    /// Inserts or replaces (same name) a volume.
    PutVolume(Box<Volume>),
    /// Deletes a volume by name; missing is success.
    DeleteVolume(String),
}

/// Durable state. The engine loads it once and then only writes: each
/// [`Store::commit`] is one transaction.
pub trait Store: Send + Sync + 'static {
    /// Every network with the state of its record.
    fn networks(&self) -> Result<Vec<(Network, RecordState)>, PortError>;
    /// Every container, with the endpoints stored for it.
    fn containers(&self) -> Result<Vec<Container>, PortError>;
    /// Every volume, oldest first.
    fn volumes(&self) -> Result<Vec<Volume>, PortError>;
    /// Applies `writes` in order as one transaction: all or nothing. A
    /// unique constraint refusing a write (a name taken, an address already
    /// allocated on its network) fails it whole with [`StoreConflict`].
    fn commit(&self, writes: &[Write]) -> Result<(), PortError>;
    /// [`Store::commit`] that a process crash must not lose but a reboot
    /// may: for records of kernel state that a reboot erases too (a start's
    /// intent: its namespace, endpoints, ports). The store may skip the
    /// flush to disk; the next [`Store::commit`] flushes this one as well.
    fn commit_unsynced(&self, writes: &[Write]) -> Result<(), PortError> {
        self.commit(writes)
    }
}

/// The error a store returns when a unique constraint refuses a write
/// (an address or name already taken), so the core can tell it apart.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreConflict(pub String);

/// The error an image store returns for a reference that cannot name an
/// image (`UPPER`, `a b`), so the core can answer the client's 400.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadImageReference(pub String);

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

/// An image's defaults for the containers made from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub id: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub exposed: Vec<(u16, Proto)>,
    /// `VOLUME`s: paths that get an anonymous volume in each container.
    pub volumes: Vec<String>,
    /// `HEALTHCHECK`, merged under the request's as Docker does.
    pub healthcheck: Option<crate::container::HealthcheckRequest>,
    /// `STOPSIGNAL`, unless the request names one.
    pub stop_signal: Option<crate::container::StopSignal>,
}

/// The tar stream of a `docker import`, read on a blocking thread.
pub type ImageTarball = Box<dyn std::io::Read + Send>;

/// A `docker import` as the client asked for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageImport {
    /// The name to give the image: `repo`, which may carry the tag itself
    /// (the docker CLI sends `NAME[:TAG]`), or `repo` and `tag`.
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// `--change` lines.
    pub changes: Vec<String>,
    /// `--message`.
    pub message: Option<String>,
}

/// An imported image whose files are complete but which the store does not
/// list yet: [`Images::record`] makes it one of its images. One never
/// recorded (a crash, a daemon stopping) is swept when the store opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedImage {
    /// `sha256:<64 hex>`.
    pub id: String,
    /// The normalized `repo:tag` to move to the image, if any.
    pub tag: Option<String>,
    /// Bytes of its files, for `docker images`.
    pub size: u64,
    /// `repo@sha256:…` of the manifest a pull found it by.
    pub repo_digest: Option<String>,
}

/// What removing a reference does by Docker's tag rules, decided first so
/// the engine can refuse (an image its containers use) before anything
/// changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovalPlan {
    /// `sha256:<64 hex>`.
    pub image_id: String,
    /// The `repo:tag` names it takes off the image.
    pub untag: Vec<String>,
    /// Whether the image itself goes (no name is left on it).
    pub delete: bool,
}

/// One line of Docker's `DELETE /images/{name}` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemovedImage {
    Untagged(String),
    /// The image's id.
    Deleted(String),
}

/// The error an image store returns when Docker's rules refuse a request,
/// in Docker's words, so the core answers with Docker's status.
#[derive(Debug, thiserror::Error)]
pub enum ImageRefused {
    /// No image by that reference (404).
    #[error("{0}")]
    NotFound(String),
    /// The image's names forbid it (409: an id with several names).
    #[error("{0}")]
    Conflict(String),
    /// A malformed name, id prefix or `--change` line (400).
    #[error("{0}")]
    Invalid(String),
}

/// The local image store. Reads and the slow unpacking of an import may
/// run anywhere; what changes which images exist or what names say
/// ([`Images::record`], [`Images::remove`]) runs on the engine task, in
/// order with the container creates that resolve names.
pub trait Images: Send + Sync + 'static {
    /// Resolves `busybox`, `busybox:latest`, `sha256:…` or an id prefix.
    fn resolve(&self, reference: &str) -> Result<Option<ImageConfig>, PortError>;

    /// Unpacks `tarball` into a new image's files, without listing it
    /// (slow: it runs outside the engine task). A bad name or `--change`
    /// line fails with [`ImageRefused::Invalid`] before a byte is read.
    fn stage(
        &self,
        tarball: ImageTarball,
        import: ImageImport,
    ) -> impl Future<Output = Result<StagedImage, PortError>> + Send;

    /// Lists a staged image and moves its tag to it (off any other image).
    fn record(&self, staged: &StagedImage) -> Result<(), PortError>;

    /// What removing `reference` does: a name untags (and deletes the image
    /// when it was its last name); an id deletes, refused without `force`
    /// when several names point at the image. Containers are the core's
    /// business.
    fn plan_remove(&self, reference: &str, force: bool) -> Result<RemovalPlan, PortError>;

    /// Carries out a plan; what the image's files take to delete happens in
    /// the background.
    fn remove(&self, plan: &RemovalPlan) -> Result<Vec<RemovedImage>, PortError>;
}

/// Volumes' files: each volume's data directory under the data root,
/// and what its `local` driver options mount there.
pub trait Volumes: Send + Sync + 'static {
    /// The data directory of volume `name` (`<data-root>/volumes/<name>/_data`).
    fn mountpoint(&self, name: &str) -> String;
    /// Makes the volume's data directory; one that exists is success.
    fn create(&self, volume: &Volume) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Before a container using it starts: the data directory exists and,
    /// with `type`/`device`/`o` options, the device is mounted on it (one
    /// mounted already is kept).
    fn activate(&self, volume: &Volume) -> impl Future<Output = Result<(), PortError>> + Send;
    /// After its last running user stopped: its device is unmounted (not
    /// mounted is success).
    fn deactivate(&self, volume: &Volume) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Unmounts anything on the data directory and removes the volume's
    /// directory; returns the bytes it held. Missing is success.
    fn remove(&self, volume: &Volume) -> impl Future<Output = Result<u64, PortError>> + Send;
    /// The names of the volume directories there are (for start-up).
    fn list(&self) -> Result<Vec<String>, PortError>;
    /// Whether `path` exists on the host (`--mount type=bind` needs its
    /// source to).
    fn host_path_exists(&self, path: &str) -> bool;
}

/// Time and randomness, injected so use cases are deterministic in tests.
pub trait Env: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
    /// 32 random bytes for a new id.
    fn random_id_bytes(&self) -> [u8; 32];
    /// The host's `/etc/resolv.conf` as it is now (empty if unreadable).
    fn host_resolv_conf(&self) -> String;
}

/// The set of adapters an engine runs on.
pub trait Host: Send + Sync + 'static {
    type Net: NetOps;
    type Store: Store;
    type Env: Env;
    type Runtime: Runtime;
    type Images: Images;
    type Firewall: Firewall;
    type Dns: SandboxDns;
    type Volumes: Volumes;

    fn net(&self) -> &Self::Net;
    fn store(&self) -> &Self::Store;
    fn env(&self) -> &Self::Env;
    fn runtime(&self) -> &Self::Runtime;
    fn images(&self) -> &Self::Images;
    fn firewall(&self) -> &Self::Firewall;
    fn dns(&self) -> &Self::Dns;
    fn volumes(&self) -> &Self::Volumes;
    /// Where sandboxes' namespace files live (`<exec-root>/netns`).
    fn netns_dir(&self) -> &Path;
}

/// A bridge network as the firewall sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FwNetwork {
    pub bridge: IfName,
    pub subnets: Vec<IpNet>,
    /// No traffic leaves the bridge; no masquerade; no published ports.
    pub internal: bool,
    /// Container-to-container traffic on this bridge is allowed.
    pub icc: bool,
    /// Traffic leaving the subnet for other interfaces is masqueraded (the
    /// network's option and the daemon's `--ip-masq` together).
    pub masquerade: bool,
}

/// One published port mapping. `host_ports` and `container_ports` have the
/// same length; a range whose host and container ports are equal can be one
/// native interval element.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FwPort {
    pub proto: Proto,
    /// `None`: every local address (Docker's 0.0.0.0 / ::).
    pub host_ip: Option<IpAddr>,
    pub host_ports: (u16, u16),
    pub container_ip: IpAddr,
    pub container_ports: (u16, u16),
    /// The bridge the container sits on (for the forward accept).
    pub bridge: IfName,
}

/// Everything berth's tables must express, derived from the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirewallState {
    pub networks: Vec<FwNetwork>,
    pub ports: Vec<FwPort>,
}

/// A change of per-network or per-port facts: element additions and
/// deletions only, so its cost does not depend on how many exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirewallChange {
    pub add_networks: Vec<FwNetwork>,
    pub remove_networks: Vec<FwNetwork>,
    pub add_ports: Vec<FwPort>,
    pub remove_ports: Vec<FwPort>,
}

/// berth's own nftables tables (never anyone else's).
pub trait Firewall: Send + Sync + 'static {
    /// Replaces berth's tables with exactly `state`, atomically.
    fn apply(&self, state: &FirewallState) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Applies a change as one transaction.
    fn update(&self, change: &FirewallChange)
        -> impl Future<Output = Result<(), PortError>> + Send;
    /// What someone else changed in berth's tables since berth last wrote
    /// them (a table gone, a rule or element deleted or added), in words;
    /// `None` if they are as berth left them, or berth never wrote them.
    /// Cheap when nothing in the host's ruleset changed at all.
    fn drift(&self) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}

/// What the embedded DNS server asks of berth: names as one container sees
/// them (scoped to the networks it shares with others).
pub trait NameLookup: Send + Sync + 'static {
    /// Addresses `name` (a container name, network alias, short id or
    /// hostname; case-insensitive) has for `asker`: on each network both
    /// share, the other's address there. `None`: not a name berth knows
    /// for this asker, so the query is forwarded.
    fn resolve(&self, asker: &ContainerId, name: &str) -> Option<Vec<IpAddr>>;
    /// The name of the container holding `ip` on a network `asker` is on.
    fn reverse(&self, asker: &ContainerId, ip: IpAddr) -> Option<String>;
}

/// Where the embedded DNS server sends names berth does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsUpstreams {
    /// The host's resolvers, queried from the host's namespace (loopback
    /// ones included: the query leaves from the host).
    Host(Vec<IpAddr>),
    /// `--dns` servers, queried from the container's namespace.
    Container(Vec<IpAddr>),
    /// Never forward (`--internal` networks without `--dns`).
    None,
}

/// The embedded DNS server, one listener pair per sandbox on 127.0.0.11:53.
pub trait SandboxDns: Send + Sync + 'static {
    /// Starts answering inside the sandbox mounted at `netns`, as `asker`.
    fn serve(
        &self,
        asker: &ContainerId,
        netns: &Path,
        upstreams: DnsUpstreams,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Stops the sandbox's server (no-op if none runs).
    fn stop(&self, asker: &ContainerId) -> impl Future<Output = ()> + Send;
}
