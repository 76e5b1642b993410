//! What the core needs from the operating system, as intent-level traits.
//! The daemon wires the real adapters (`berth-netlink`, `berth-store`); tests
//! use the fakes in `berth-testkit`. Nothing here names a concrete adapter.

use std::future::Future;
use std::time::SystemTime;

use berth_types::{IfName, IpNet, NetworkId};

use crate::model::{Network, RecordState};

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

/// A bridge as the core wants it to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: IfName,
    pub mtu: u32,
    /// Gateway addresses with the subnet's prefix length (172.17.0.1/16).
    pub addresses: Vec<IpNet>,
    /// Stored as the link's alias: [`network_link_alias`].
    pub alias: String,
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
    /// alias), MTU set, `addresses` present and no other global addresses,
    /// up. Idempotent: calling it on a correct bridge changes nothing.
    fn ensure_bridge(
        &self,
        spec: &BridgeSpec,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes a link by name; a link that is already gone is success.
    fn delete_link(&self, name: &IfName) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Every link whose alias starts with [`LINK_ALIAS_PREFIX`].
    fn owned_links(&self) -> impl Future<Output = Result<Vec<OwnedLink>, PortError>> + Send;

    /// Destinations of the host's IPv4 and IPv6 routes (main table), so a new
    /// network's pool never shadows a network the host already reaches.
    fn host_routes(&self) -> impl Future<Output = Result<Vec<IpNet>, PortError>> + Send;

    /// Writes a sysctl of the host namespace; `key` is the dotted name
    /// (`net.ipv4.ip_forward`).
    fn set_sysctl(
        &self,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Durable state. Calls are short synchronous SQLite transactions; each
/// method is one transaction.
pub trait Store: Send + Sync + 'static {
    /// Every network with the state of its record.
    fn networks(&self) -> Result<Vec<(Network, RecordState)>, PortError>;
    /// Inserts a new network. Names and ids are unique (the engine checks
    /// first; the constraint is the backstop).
    fn insert_network(&self, network: &Network, state: RecordState) -> Result<(), PortError>;
    /// Replaces a stored network's definition (same id) and state.
    fn update_network(&self, network: &Network, state: RecordState) -> Result<(), PortError>;
    fn set_network_state(&self, id: &NetworkId, state: RecordState) -> Result<(), PortError>;
    fn delete_network(&self, id: &NetworkId) -> Result<(), PortError>;
}

/// Time and randomness, injected so use cases are deterministic in tests.
pub trait Env: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
    /// 32 random bytes for a new id.
    fn random_id_bytes(&self) -> [u8; 32];
}

/// The set of adapters an engine runs on.
pub trait Host: Send + Sync + 'static {
    type Net: NetOps;
    type Store: Store;
    type Env: Env;

    fn net(&self) -> &Self::Net;
    fn store(&self) -> &Self::Store;
    fn env(&self) -> &Self::Env;
}
