//! `overlay`: networks that span the hosts of a cluster (DESIGN.md,
//! "Cluster"). The network itself is a durable fact of the cluster store
//! (`crate::network::global` claims its name, VNI and subnets there and
//! adopts the networks other hosts make); this driver reads its options.
//!
//! Not built yet: the data plane (per host a bridge with a VXLAN port,
//! static FDB and neighbour entries from the store's watch), so containers
//! cannot join an overlay network: [`NetworkDriver::join`] refuses, and
//! container create and connect refuse before it (`check_joinable`).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use berth_types::{Driver, EndpointId, IfName};
use serde::{Deserialize, Serialize};

use crate::config::EngineConfig;
use crate::driver::{done, DriverFuture, Join, Leave, NetworkDriver};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::{EndpointCheck, EndpointFault, FwNetwork, Host};

/// Docker's option naming an overlay network's VXLAN id, shown in
/// `network inspect`.
pub const VXLANID_OPTION: &str = "com.docker.network.driver.overlay.vxlanid_list";

/// The VXLAN ids berth gives overlay networks: Docker's range (below 4096
/// are VLAN ids, by convention kept apart).
pub const VNI_FIRST: u32 = 4096;
pub const VNI_LAST: u32 = (1 << 24) - 1;

/// What an overlay network holds beyond the shared model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlaySettings {
    /// The VXLAN network identifier, unique in the cluster.
    pub vni: u32,
}

/// The lowest VNI none of `networks` holds.
pub fn free_vni(networks: &[Network]) -> Result<u32> {
    let taken: BTreeSet<u32> = networks
        .iter()
        .filter_map(|n| n.overlay.as_ref().map(|o| o.vni))
        .collect();
    (VNI_FIRST..=VNI_LAST)
        .find(|vni| !taken.contains(vni))
        .ok_or_else(|| Error::Unavailable("no VXLAN id left for an overlay network".to_owned()))
}

/// The refusal of what overlay networks cannot do yet.
fn not_built(network: &Network) -> Error {
    Error::Forbidden(format!(
        "network {}: berth does not attach containers to overlay networks yet",
        network.name
    ))
}

/// Refuses a container on an overlay network until the data plane is
/// built: at create and connect, before anything is recorded.
pub fn check_joinable(network: &Network) -> Result<()> {
    if network.driver == Driver::Overlay {
        return Err(not_built(network));
    }
    Ok(())
}

#[derive(Default)]
pub struct OverlayDriver;

impl<H: Host> NetworkDriver<H> for OverlayDriver {
    fn plan<'a>(
        &'a self,
        _: &'a H,
        network: &'a mut Network,
        _: &'a [Network],
        _: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            // Docker's overlay options (a fixed VXLAN id, `encrypted`) are
            // not built: refused by name rather than dropped.
            if let Some(key) = network.options.keys().next() {
                return Err(Error::InvalidParameter(format!(
                    "overlay network option {key} is not supported by berth"
                )));
            }
            if network.enable_ipv6 {
                return Err(Error::InvalidParameter(
                    "berth's overlay networks are IPv4 only: --ipv6 is not supported".to_owned(),
                ));
            }
            Ok(())
        })
    }

    fn has_endpoints(&self) -> bool {
        true
    }

    fn start<'a>(&'a self, _: &'a H, _: &'a EngineConfig) -> DriverFuture<'a, ()> {
        done(())
    }

    fn create_network<'a>(
        &'a self,
        _: &'a H,
        _: &'a Network,
        _: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        done(())
    }

    fn delete_network<'a>(&'a self, _: &'a Arc<H>, _: &'a Network) -> DriverFuture<'a, ()> {
        done(())
    }

    fn settle<'a>(&'a self, _: Option<&'a Network>) -> DriverFuture<'a, ()> {
        done(())
    }

    fn remove_orphans<'a>(
        &'a self,
        _: &'a H,
        _: &'a [Network],
        _: &'a BTreeSet<&'a str>,
    ) -> DriverFuture<'a, ()> {
        done(())
    }

    fn host_ifname(&self, _: &EndpointId) -> Result<Option<IfName>> {
        Ok(None)
    }

    fn join<'a>(&'a self, _: &'a H, join: Join<'a>) -> DriverFuture<'a, ()> {
        let refused = not_built(join.network);
        Box::pin(async move { Err(refused) })
    }

    fn leave<'a>(&'a self, _: &'a H, _: Leave<'a>) -> DriverFuture<'a, ()> {
        done(())
    }

    fn endpoint_fault<'a>(
        &'a self,
        _: &'a H,
        _: Join<'a>,
        _: EndpointCheck,
    ) -> DriverFuture<'a, Option<EndpointFault>> {
        done(None)
    }

    fn firewall(&self, _: &Network, _: &EngineConfig) -> Option<FwNetwork> {
        None
    }

    fn publishes_ports(&self) -> bool {
        false
    }

    fn default_host_ip(&self, _: &Network) -> Option<IpAddr> {
        None
    }
}
