//! The host's network namespace as the core wants it: the aliases that mark
//! berth's links, the links themselves (bridges, veth pairs, sub-interfaces,
//! VXLAN devices) and [`NetOps`], which makes and checks them.

use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use berth_types::{EndpointId, IfName, IpNet, MacAddr, NetworkId};

use crate::container::Proto;

use super::PortError;

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

/// An overlay network's VXLAN device, as the core wants it: the parent of
/// its endpoints' macvlan sub-interfaces on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanSpec {
    pub name: IfName,
    pub vni: u32,
    /// This host's VTEP: the cluster advertise address.
    pub local: IpAddr,
    /// The UDP port (4789, IANA's).
    pub port: u16,
    pub mtu: u32,
    /// Stored as the link's alias: [`vxlan_link_alias`].
    pub alias: String,
}

/// The alias of an overlay network's VXLAN device: `berth:vxlan:<id>`.
pub fn vxlan_link_alias(id: &NetworkId) -> String {
    format!("{LINK_ALIAS_PREFIX}vxlan:{id}")
}

/// The network id in a VXLAN device's alias, if the alias is one.
pub fn network_id_from_vxlan_alias(alias: &str) -> Option<&str> {
    alias
        .strip_prefix(LINK_ALIAS_PREFIX)?
        .strip_prefix("vxlan:")
}

/// An endpoint on another host, as a VXLAN device must know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEndpoint {
    /// The overlay network's VXLAN device on this host.
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

    /// Makes the VXLAN device of an overlay network as `spec` says, up;
    /// one there already with that alias is success.
    fn ensure_vxlan(&self, spec: &VxlanSpec) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Makes a remote endpoint reachable through a VXLAN device: a static
    /// FDB entry (its MAC to its host's VTEP) and a permanent neighbour
    /// entry (its IP to its MAC), replacing what was there.
    fn add_remote_endpoint(
        &self,
        remote: &RemoteEndpoint,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The remote endpoints the VXLAN device `vxlan` has entries of (what
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
