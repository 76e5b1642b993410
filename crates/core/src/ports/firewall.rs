//! berth's nftables tables: the networks and published ports they express
//! and [`Firewall`], which writes them.

use std::future::Future;
use std::net::IpAddr;

use berth_types::{IfName, IpNet};

use crate::container::Proto;

use super::PortError;

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
