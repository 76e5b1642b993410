//! Typed, validated values shared by every berth crate. No I/O here: every
//! constructor checks its input once, so code that holds one of these types
//! never re-validates it.

#![forbid(unsafe_code)]

mod id;
mod ifname;
mod mac;
mod name;
pub mod reference;

pub use id::{ContainerId, EndpointId, IdError, NetworkId, SHORT_ID_LEN};
pub use ifname::{IfName, IfNameError};
pub use ipnet::{IpNet, Ipv4Net, Ipv6Net};
pub use mac::MacAddr;
pub use name::{NameError, NetworkName};

/// The network drivers berth knows. Docker's names are the wire form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Bridge,
    Host,
    Null,
    Macvlan,
    Ipvlan,
    /// VXLAN across the hosts of a cluster (DESIGN.md, "Cluster").
    Overlay,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
            Driver::Macvlan => "macvlan",
            Driver::Ipvlan => "ipvlan",
            Driver::Overlay => "overlay",
        }
    }

    /// Parses a driver name as given to `network create --driver`.
    pub fn parse(s: &str) -> Option<Driver> {
        match s {
            "bridge" => Some(Driver::Bridge),
            "host" => Some(Driver::Host),
            "null" => Some(Driver::Null),
            "macvlan" => Some(Driver::Macvlan),
            "ipvlan" => Some(Driver::Ipvlan),
            "overlay" => Some(Driver::Overlay),
            _ => None,
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
