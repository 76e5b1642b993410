//! `overlay`: networks that span the hosts of a cluster (DESIGN.md,
//! "Cluster"). The network itself is a durable fact of the cluster store
//! (`crate::network::global` claims its name, VNI and subnets there and
//! adopts the networks other hosts make); this driver reads its options
//! and makes its data plane on this host: a VXLAN device (`vx-<id>`: the
//! VNI, UDP 4789 from this host's advertise address, no learning, ARP
//! answered from the neighbour table) at the underlay's MTU less 50, and
//! each endpoint a macvlan sub-interface of it (bridge mode: the
//! containers of one host switch to each other directly) in its sandbox,
//! without default routes. DESIGN puts a bridge between the VXLAN device and
//! veth endpoints, as Docker does: that path carried 78% of the underlay's
//! iperf3 throughput here (br_netfilter hooks every bridged frame; a veth
//! pair and a bridge more per packet), the macvlan one 88%. Other hosts'
//! endpoints become static FDB and neighbour entries on the VXLAN device
//! (`crate::network::remote`). Egress and published ports go through a
//! second endpoint on `berth_gwbridge` (`crate::network::gwbridge`).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use berth_types::{Driver, EndpointId, IfName};
use serde::{Deserialize, Serialize};

use crate::config::{ClusterHost, EngineConfig};
use crate::container::create::ContainerCreate;
use crate::driver::{
    done, join_sub_interface, leave_sub_interface, remove_owned_links, sub_interface_fault,
    DriverFuture, Join, Leave, NetworkDriver,
};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::{
    network_id_from_vxlan_alias, vxlan_link_alias, EndpointCheck, EndpointFault, FwNetwork, Host,
    NetOps, SubInterface, SubInterfaceKind, VxlanSpec, LINK_ALIAS_PREFIX,
};

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

/// Refuses `-p`/`-P` for a container on an `--internal` overlay network:
/// such a container gets no `berth_gwbridge` endpoint, so there is nothing
/// its ports could be published through.
pub fn check_publishable(network: &Network, req: &ContainerCreate) -> Result<()> {
    if network.driver == Driver::Overlay
        && network.internal
        && (!req.port_bindings.is_empty() || req.publish_all)
    {
        return Err(Error::Forbidden(format!(
            "network {}: ports cannot be published on an internal overlay network",
            network.name
        )));
    }
    Ok(())
}

/// The overlay network's VXLAN device on this host.
pub fn vxlan_name(network: &Network) -> Result<IfName> {
    IfName::parse(&format!("vx-{}", network.id.short()))
        .map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// Earlier berth versions gave each overlay network a bridge with the
/// alias `berth:overlay:<id>`; the orphan sweep takes any left.
fn is_former_overlay_bridge(alias: &str) -> bool {
    alias
        .strip_prefix(LINK_ALIAS_PREFIX)
        .is_some_and(|rest| rest.starts_with("overlay:"))
}

/// The UDP port of VXLAN (IANA's).
const VXLAN_PORT: u16 = 4789;

/// What the driver needs of this host, set at [`NetworkDriver::start`].
#[derive(Default)]
pub struct OverlayDriver {
    host: OnceLock<ClusterHost>,
}

impl OverlayDriver {
    fn cluster_host(&self) -> Result<ClusterHost> {
        self.host
            .get()
            .copied()
            .ok_or_else(|| Error::Forbidden(crate::network::NO_CLUSTER_STORE.to_owned()))
    }

    /// The endpoint's macvlan sub-interface of the VXLAN device.
    fn sub_interface(join: &Join<'_>) -> Result<SubInterface> {
        let endpoint = join.endpoint;
        Ok(SubInterface {
            netns: join.sandbox.to_path_buf(),
            parent: vxlan_name(join.network)?,
            kind: SubInterfaceKind::MacvlanBridge,
            ifname: endpoint.ifname.clone(),
            mac: endpoint.mac,
            addresses: endpoint.addresses().collect(),
            // The way out is the gwbridge endpoint's.
            default_gateways: Vec::new(),
        })
    }
}

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

    fn start<'a>(&'a self, _: &'a H, config: &'a EngineConfig) -> DriverFuture<'a, ()> {
        if let Some(host) = config.cluster_host {
            let _ = self.host.set(host);
        }
        done(())
    }

    fn create_network<'a>(
        &'a self,
        host: &'a H,
        network: &'a Network,
        _: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let here = self.cluster_host()?;
            let vni = network
                .overlay
                .as_ref()
                .ok_or_else(|| Error::Internal {
                    what: format!("network {} has no overlay settings", network.name),
                })?
                .vni;
            let vxlan = VxlanSpec {
                name: vxlan_name(network)?,
                vni,
                local: here.advertise,
                port: VXLAN_PORT,
                mtu: here.overlay_mtu,
                alias: vxlan_link_alias(&network.id),
            };
            host.net()
                .ensure_vxlan(&vxlan)
                .await
                .map_err(Error::kernel(format!("create VXLAN device {}", vxlan.name)))
        })
    }

    fn delete_network<'a>(
        &'a self,
        host: &'a Arc<H>,
        network: &'a Network,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let link = vxlan_name(network)?;
            host.net()
                .delete_link(&link)
                .await
                .map_err(Error::kernel(format!("remove {link}")))
        })
    }

    fn settle<'a>(&'a self, _: Option<&'a Network>) -> DriverFuture<'a, ()> {
        done(())
    }

    fn remove_orphans<'a>(
        &'a self,
        host: &'a H,
        networks: &'a [Network],
        _: &'a BTreeSet<&'a str>,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let overlays: BTreeSet<&str> = networks
                .iter()
                .filter(|n| n.driver == Driver::Overlay)
                .map(|n| n.id.as_str())
                .collect();
            // A sandbox that went took its sub-interfaces along.
            remove_owned_links(host.net(), |alias, _| {
                if let Some(id) = network_id_from_vxlan_alias(alias) {
                    (!overlays.contains(id)).then_some("VXLAN device")
                } else {
                    is_former_overlay_bridge(alias).then_some("former overlay bridge")
                }
            })
            .await
        })
    }

    fn host_ifname(&self, _: &EndpointId) -> Result<Option<IfName>> {
        Ok(None)
    }

    fn join<'a>(&'a self, host: &'a H, join: Join<'a>) -> DriverFuture<'a, ()> {
        Box::pin(join_sub_interface(
            host,
            Self::sub_interface(&join),
            "macvlan",
            join.network,
        ))
    }

    fn leave<'a>(&'a self, host: &'a H, leave: Leave<'a>) -> DriverFuture<'a, ()> {
        Box::pin(async move { leave_sub_interface(host, &leave, "macvlan").await })
    }

    fn endpoint_fault<'a>(
        &'a self,
        host: &'a H,
        join: Join<'a>,
        _: EndpointCheck,
    ) -> DriverFuture<'a, Option<EndpointFault>> {
        Box::pin(sub_interface_fault(
            host,
            Self::sub_interface(&join),
            "macvlan",
        ))
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
