//! Networks (Docker's CNM noun): the model as berth stores it, the
//! validation of `network create` ([`plan`]) and the use cases that make
//! and remove them ([`lifecycle`]).

mod global;
pub mod gwbridge;
mod lifecycle;
pub mod plan;
mod plane;
mod remote;

pub use global::NO_CLUSTER_STORE;
pub use plan::{driverless_network, plan_network, IpamInput, NetworkCreate, Surroundings};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use berth_ipam::SubnetPlan;
use berth_types::{Driver, IpNet, NetworkId, NetworkName};

use crate::driver::bridge::BridgeSettings;
use crate::driver::macvlan::MacvlanSettings;
use crate::driver::overlay::OverlaySettings;
use serde::{Deserialize, Serialize};

/// The names of the networks every daemon has and nobody may remove.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

/// How far a record's kernel work has got. Kernel work happens between two
/// store writes, so after a crash the state says what to finish or undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordState {
    /// Recorded, kernel objects may be partly made: reconcile finishes them.
    Creating,
    /// Recorded and made.
    Ready,
    /// Being removed: reconcile removes the kernel objects and the record.
    Removing,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Creating => "creating",
            RecordState::Ready => "ready",
            RecordState::Removing => "removing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "creating" => Some(RecordState::Creating),
            "ready" => Some(RecordState::Ready),
            "removing" => Some(RecordState::Removing),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: NetworkId,
    pub name: NetworkName,
    pub driver: Driver,
    pub created: SystemTime,
    pub enable_ipv4: bool,
    pub enable_ipv6: bool,
    pub internal: bool,
    pub attachable: bool,
    /// One plan per configured subnet, IPv4 first.
    pub subnets: Vec<SubnetPlan>,
    /// Those of `subnets` berth took from the address pools, not the
    /// user's: no `--ip` may be asked for in them.
    #[serde(default)]
    pub pool_subnets: Vec<IpNet>,
    /// The options as Docker shows them in `network inspect`.
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The bridge driver's settings, for its networks.
    pub bridge: Option<BridgeSettings>,
    /// The macvlan driver's settings, for its networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macvlan: Option<MacvlanSettings>,
    /// The overlay driver's settings, for its networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<OverlaySettings>,
}

impl Network {
    /// `bridge`, `host` and `none`: made by the daemon, never removable.
    pub fn is_predefined(&self) -> bool {
        PREDEFINED.contains(&self.name.as_str())
    }

    /// Docker's scope: `global` for a network every host of the cluster
    /// has (overlay), `local` for one of this host's.
    pub fn scope(&self) -> &'static str {
        if self.driver == Driver::Overlay {
            "global"
        } else {
            "local"
        }
    }

    /// Whether the user configured a subnet of `ip`'s family, which Docker
    /// requires before it takes a fixed address.
    pub fn has_user_subnet_for(&self, ip: IpAddr) -> bool {
        self.subnets.iter().any(|p| {
            p.subnet.addr().is_ipv4() == ip.is_ipv4() && !self.pool_subnets.contains(&p.subnet)
        })
    }
}
