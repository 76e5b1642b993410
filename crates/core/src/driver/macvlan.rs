//! The macvlan driver (and ipvlan, its sibling through the same seam):
//! containers straight on the parent link's LAN. Each endpoint is a
//! sub-interface of the parent, born in the sandbox with its own MAC and
//! address; no bridge, no NAT, no published ports, nothing in berth's
//! firewall. As in Docker, the host itself cannot reach its macvlan
//! containers through the parent (the kernel's macvlan design).
//!
//! What this kernel lacks is refused when the network is created, naming
//! the kernel feature: 802.1q sub-interfaces (`-o parent=eth0.10`), dummy
//! links (no parent, or `--internal`, for which Docker makes a dummy
//! parent), and ipvlan itself.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use berth_types::{Driver, EndpointId, IfName};
use serde::{Deserialize, Serialize};

use crate::config::EngineConfig;
use crate::driver::{DriverFuture, Join, Leave, NetworkDriver};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::{
    EndpointCheck, EndpointFault, FwNetwork, Host, KernelLink, NetOps, SubInterface,
    SubInterfaceKind,
};

/// Docker's option keys of the macvlan driver.
pub mod opt {
    pub const PARENT: &str = "parent";
    pub const MACVLAN_MODE: &str = "macvlan_mode";
}

/// `-o macvlan_mode=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

impl MacvlanMode {
    fn parse(text: &str) -> Result<MacvlanMode> {
        match text {
            "" | "bridge" => Ok(MacvlanMode::Bridge),
            "private" => Ok(MacvlanMode::Private),
            "vepa" => Ok(MacvlanMode::Vepa),
            "passthru" => Ok(MacvlanMode::Passthru),
            other => Err(Error::InvalidParameter(format!(
                "requested macvlan mode '{other}' is not valid, 'bridge' mode is the macvlan driver default"
            ))),
        }
    }

    fn kind(self) -> SubInterfaceKind {
        match self {
            MacvlanMode::Bridge => SubInterfaceKind::MacvlanBridge,
            MacvlanMode::Private => SubInterfaceKind::MacvlanPrivate,
            MacvlanMode::Vepa => SubInterfaceKind::MacvlanVepa,
            MacvlanMode::Passthru => SubInterfaceKind::MacvlanPassthru,
        }
    }
}

/// The macvlan driver's settings of a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanSettings {
    pub parent: IfName,
    pub mode: MacvlanMode,
}

/// The driver, for `macvlan` or `ipvlan` networks.
pub struct MacvlanDriver {
    driver: Driver,
}

impl MacvlanDriver {
    pub fn new(driver: Driver) -> MacvlanDriver {
        MacvlanDriver { driver }
    }
}

/// The refusal for a network that needs a kind of link this kernel cannot
/// make.
fn kernel_lacks(kind: KernelLink, what: &str) -> Error {
    let (name, config) = kind.names();
    Error::InvalidParameter(format!(
        "{what} needs the kernel's {name} links ({config}), which this host's kernel does not provide"
    ))
}

fn settings(network: &Network) -> Result<&MacvlanSettings> {
    network.macvlan.as_ref().ok_or_else(|| Error::Internal {
        what: format!("network {} has no macvlan settings", network.name),
    })
}

/// Reads `-o parent` and `-o macvlan_mode` and applies Docker's rules:
/// loopback is no parent; passthru takes a parent alone. What needs a link
/// kind the kernel lacks is refused, naming it.
async fn read_options<H: Host>(
    host: &H,
    driver: Driver,
    network: &Network,
    others: &[Network],
) -> Result<MacvlanSettings> {
    let net = host.net();
    let link = match driver {
        Driver::Ipvlan => KernelLink::Ipvlan,
        _ => KernelLink::Macvlan,
    };
    if !net.kernel_has(link).await {
        return Err(kernel_lacks(link, &format!("a {driver} network")));
    }
    if driver == Driver::Ipvlan {
        // The kernel has ipvlan: its modes and sub-interfaces are not built
        // yet, so it is refused by name rather than made half.
        return Err(Error::InvalidParameter(
            "ipvlan networks are not supported by berth yet".to_owned(),
        ));
    }
    let mode = MacvlanMode::parse(
        network
            .options
            .get(opt::MACVLAN_MODE)
            .map_or("", String::as_str),
    )?;
    let parent = network
        .options
        .get(opt::PARENT)
        .map(String::as_str)
        .unwrap_or("");
    if parent.is_empty() || network.internal {
        // Docker gives such a network a dummy link as its parent.
        if !net.kernel_has(KernelLink::Dummy).await {
            return Err(kernel_lacks(
                KernelLink::Dummy,
                "a macvlan network without -o parent, or --internal,",
            ));
        }
        return Err(Error::InvalidParameter(
            "macvlan networks without -o parent, or --internal, are not supported by berth yet"
                .to_owned(),
        ));
    }
    if parent == "lo" {
        return Err(Error::InvalidParameter(
            "loopback interface is not a valid macvlan parent link".to_owned(),
        ));
    }
    let parent = IfName::parse(parent).map_err(|e| Error::InvalidParameter(e.to_string()))?;
    let exists = net
        .link_kind(&parent)
        .await
        .map_err(Error::kernel(format!("look up link {parent}")))?
        .is_some();
    if !exists {
        if parent.as_str().contains('.') && !net.kernel_has(KernelLink::Vlan).await {
            return Err(kernel_lacks(
                KernelLink::Vlan,
                &format!("-o parent={parent} (an 802.1q sub-interface)"),
            ));
        }
        return Err(Error::InvalidParameter(format!(
            "-o parent interface was not found on the host: {parent}"
        )));
    }
    for other in others {
        let Some(theirs) = &other.macvlan else {
            continue;
        };
        if theirs.parent != parent {
            continue;
        }
        if mode == MacvlanMode::Passthru {
            return Err(Error::Forbidden(format!(
                "cannot use mode passthru, macvlan network {} is already using parent interface {parent}",
                other.id
            )));
        }
        if theirs.mode == MacvlanMode::Passthru {
            return Err(Error::Forbidden(format!(
                "macvlan network {} is already using parent interface {parent} in mode passthru",
                other.id
            )));
        }
    }
    Ok(MacvlanSettings { parent, mode })
}

fn sub_interface(join: &Join<'_>) -> Result<SubInterface> {
    let settings = settings(join.network)?;
    let endpoint = join.endpoint;
    Ok(SubInterface {
        netns: join.sandbox.to_path_buf(),
        parent: settings.parent.clone(),
        kind: settings.mode.kind(),
        ifname: endpoint.ifname.clone(),
        mac: endpoint.mac,
        addresses: endpoint.addresses().collect(),
        default_gateways: if join.default_route {
            endpoint
                .gateway4
                .iter()
                .chain(endpoint.gateway6.iter())
                .copied()
                .collect()
        } else {
            Vec::new()
        },
    })
}

fn done<'a, T: Send + 'a>(value: T) -> DriverFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl<H: Host> NetworkDriver<H> for MacvlanDriver {
    fn plan<'a>(
        &'a self,
        host: &'a H,
        network: &'a mut Network,
        others: &'a [Network],
        _: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            network.macvlan = Some(read_options(host, self.driver, network, others).await?);
            Ok(())
        })
    }

    fn has_endpoints(&self) -> bool {
        true
    }

    fn start<'a>(&'a self, _: &'a H, _: &'a EngineConfig) -> DriverFuture<'a, ()> {
        done(())
    }

    /// Nothing to make: the parent is the host's. A parent that went away
    /// is said at once, as the network's endpoints cannot join without it.
    fn create_network<'a>(
        &'a self,
        host: &'a H,
        network: &'a Network,
        _: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let parent = &settings(network)?.parent;
            let found = host
                .net()
                .link_kind(parent)
                .await
                .map_err(Error::kernel(format!("look up link {parent}")))?;
            match found {
                Some(_) => Ok(()),
                None => Err(Error::InvalidParameter(format!(
                    "-o parent interface was not found on the host: {parent}"
                ))),
            }
        })
    }

    fn delete_network<'a>(&'a self, _: &'a Arc<H>, _: &'a Network) -> DriverFuture<'a, ()> {
        done(())
    }

    fn settle<'a>(&'a self, _: Option<&'a Network>) -> DriverFuture<'a, ()> {
        done(())
    }

    /// Sub-interfaces live in sandboxes and go with them.
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

    fn join<'a>(&'a self, host: &'a H, join: Join<'a>) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let sub = sub_interface(&join)?;
            host.net()
                .add_sub_interface(&sub)
                .await
                .map_err(Error::kernel(format!(
                    "create {} {} on {} for network {}",
                    self.driver, sub.ifname, sub.parent, join.network.name
                )))
        })
    }

    fn leave<'a>(&'a self, host: &'a H, leave: Leave<'a>) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            // A sandbox that is gone took the sub-interface along.
            let Some(sandbox) = leave.sandbox else {
                return Ok(());
            };
            let ifname = &leave.endpoint.ifname;
            host.net()
                .delete_sandbox_link(sandbox, ifname)
                .await
                .map_err(Error::kernel(format!(
                    "remove {} {ifname} of network {}",
                    self.driver, leave.network.name
                )))
        })
    }

    fn endpoint_fault<'a>(
        &'a self,
        host: &'a H,
        join: Join<'a>,
        _: EndpointCheck,
    ) -> DriverFuture<'a, Option<EndpointFault>> {
        Box::pin(async move {
            let sub = sub_interface(&join)?;
            host.net()
                .sub_interface_fault(&sub)
                .await
                .map_err(Error::kernel(format!(
                    "check {} {}",
                    self.driver, sub.ifname
                )))
        })
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
