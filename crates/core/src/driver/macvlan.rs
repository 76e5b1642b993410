//! The macvlan and ipvlan drivers (one implementation, two link kinds):
//! containers straight on the parent link's LAN. Each endpoint is a
//! sub-interface of the parent, born in the sandbox with its address (and,
//! for macvlan, its own MAC); no bridge, no NAT, no published ports,
//! nothing in berth's firewall. As in Docker, the host itself cannot reach
//! its macvlan containers through the parent (the kernel's macvlan design).
//!
//! As Docker, berth makes the parent when it is an 802.1q sub-interface
//! that does not exist (`-o parent=eth0.10`), or a dummy link when there is
//! no parent (the network is then internal), and removes it with the
//! network. What the kernel lacks is refused when the network is created,
//! naming the kernel feature.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use berth_types::{Driver, EndpointId, IfName, NetworkId};
use serde::{Deserialize, Serialize};

use crate::config::EngineConfig;
use crate::driver::{
    done, join_sub_interface, leave_sub_interface, remove_owned_links, sub_interface_fault,
    DriverFuture, Join, Leave, NetworkDriver,
};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::{
    network_id_from_parent_alias, parent_link_alias, EndpointCheck, EndpointFault, FwNetwork, Host,
    KernelLink, NetOps, ParentLink, ParentLinkKind, SubInterface, SubInterfaceKind,
};

/// Docker's option keys of the macvlan and ipvlan drivers.
pub mod opt {
    pub const PARENT: &str = "parent";
    pub const MACVLAN_MODE: &str = "macvlan_mode";
    pub const IPVLAN_MODE: &str = "ipvlan_mode";
    pub const IPVLAN_FLAG: &str = "ipvlan_flag";
}

/// `-o macvlan_mode=` or `-o ipvlan_mode=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
    L2,
    L3,
    L3s,
}

impl MacvlanMode {
    fn parse(driver: Driver, options: &BTreeMap<String, String>) -> Result<MacvlanMode> {
        let get = |key: &str| options.get(key).map_or("", String::as_str);
        if driver == Driver::Ipvlan {
            // Docker's default flag; the others are not built.
            match get(opt::IPVLAN_FLAG) {
                "" | "bridge" => {}
                other => {
                    return Err(Error::InvalidParameter(format!(
                        "ipvlan_flag '{other}' is not supported by berth: only 'bridge', the ipvlan driver default"
                    )))
                }
            }
            return match get(opt::IPVLAN_MODE) {
                "" | "l2" => Ok(MacvlanMode::L2),
                "l3" => Ok(MacvlanMode::L3),
                "l3s" => Ok(MacvlanMode::L3s),
                other => Err(Error::InvalidParameter(format!(
                    "requested ipvlan mode '{other}' is not valid, 'l2' mode is the ipvlan driver default"
                ))),
            };
        }
        match get(opt::MACVLAN_MODE) {
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
            MacvlanMode::L2 => SubInterfaceKind::IpvlanL2,
            MacvlanMode::L3 => SubInterfaceKind::IpvlanL3,
            MacvlanMode::L3s => SubInterfaceKind::IpvlanL3s,
        }
    }
}

/// A parent link berth made for the network (and removes with it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MadeParent {
    /// `-o parent=BASE.ID` that did not exist.
    Vlan { base: IfName, id: u16 },
    /// No `-o parent`: the network is internal.
    Dummy,
}

/// The macvlan or ipvlan driver's settings of a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanSettings {
    pub parent: IfName,
    pub mode: MacvlanMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_parent: Option<MadeParent>,
}

impl MacvlanSettings {
    fn parent_link(&self, network: &NetworkId) -> Option<ParentLink> {
        let kind = match self.made_parent.as_ref()? {
            MadeParent::Vlan { base, id } => ParentLinkKind::Vlan {
                base: base.clone(),
                id: *id,
            },
            MadeParent::Dummy => ParentLinkKind::Dummy,
        };
        Some(ParentLink {
            name: self.parent.clone(),
            kind,
            alias: parent_link_alias(network),
        })
    }
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

/// Reads `-o parent` and the mode and applies Docker's rules: loopback is
/// no parent; passthru takes a parent alone; a missing `BASE.ID` parent is
/// made as an 802.1q sub-interface of BASE, no parent at all as a dummy
/// link (and the network is internal). What needs a link kind the kernel
/// lacks is refused, naming it.
async fn read_options<H: Host>(
    host: &H,
    driver: Driver,
    network: &mut Network,
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
    let mode = MacvlanMode::parse(driver, &network.options)?;
    let given = network
        .options
        .get(opt::PARENT)
        .map(String::as_str)
        .unwrap_or("");
    let (parent, made_parent) = if given.is_empty() {
        if !net.kernel_has(KernelLink::Dummy).await {
            return Err(kernel_lacks(
                KernelLink::Dummy,
                &format!("a {driver} network without -o parent (its parent is a dummy link)"),
            ));
        }
        // Docker's names: dm- (macvlan) or di- (ipvlan) and the short id.
        let prefix = if driver == Driver::Ipvlan { "di" } else { "dm" };
        let name = format!("{prefix}-{}", network.id.short());
        network.internal = true;
        (
            IfName::parse(&name).map_err(|e| Error::InvalidParameter(e.to_string()))?,
            Some(MadeParent::Dummy),
        )
    } else {
        if given == "lo" {
            return Err(Error::InvalidParameter(format!(
                "loopback interface is not a valid {driver} parent link"
            )));
        }
        let parent = IfName::parse(given).map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let exists = link_exists(net, &parent).await?;
        let made = match (exists, given.split_once('.')) {
            (true, _) => None,
            (false, Some((base, id))) => Some(vlan_parent(net, base, id, &parent).await?),
            (false, None) => {
                return Err(Error::InvalidParameter(format!(
                    "-o parent interface was not found on the host: {parent}"
                )))
            }
        };
        (parent, made)
    };
    if network.internal && made_parent != Some(MadeParent::Dummy) {
        return Err(Error::InvalidParameter(format!(
            "--internal {driver} networks take no -o parent: berth gives them a dummy parent"
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
    Ok(MacvlanSettings {
        parent,
        mode,
        made_parent,
    })
}

async fn link_exists<N: NetOps>(net: &N, name: &IfName) -> Result<bool> {
    Ok(net
        .link_kind(name)
        .await
        .map_err(Error::kernel(format!("look up link {name}")))?
        .is_some())
}

/// The 802.1q sub-interface `BASE.ID` berth makes: BASE must exist, the id
/// be a VLAN id, and the kernel have 802.1q.
async fn vlan_parent<N: NetOps>(
    net: &N,
    base: &str,
    id: &str,
    parent: &IfName,
) -> Result<MadeParent> {
    let id: u16 = match id.parse() {
        Ok(id) if (1..=4094).contains(&id) => id,
        _ => {
            return Err(Error::InvalidParameter(format!(
                "vlan id must be between 1-4094, received: {id}"
            )))
        }
    };
    if !net.kernel_has(KernelLink::Vlan).await {
        return Err(kernel_lacks(
            KernelLink::Vlan,
            &format!("-o parent={parent} (an 802.1q sub-interface)"),
        ));
    }
    let base = IfName::parse(base).map_err(|e| Error::InvalidParameter(e.to_string()))?;
    if !link_exists(net, &base).await? {
        return Err(Error::InvalidParameter(format!(
            "-o parent interface was not found on the host: {base}"
        )));
    }
    Ok(MadeParent::Vlan { base, id })
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
            if self.driver == Driver::Ipvlan {
                network
                    .options
                    .entry(opt::IPVLAN_MODE.to_owned())
                    .or_insert_with(|| "l2".to_owned());
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

    /// The parent berth makes, if any; else the host's parent must be
    /// there, as the network's endpoints cannot join without it.
    fn create_network<'a>(
        &'a self,
        host: &'a H,
        network: &'a Network,
        _: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let settings = settings(network)?;
            let parent = &settings.parent;
            if let Some(link) = settings.parent_link(&network.id) {
                return host
                    .net()
                    .add_parent_link(&link)
                    .await
                    .map_err(Error::kernel(format!(
                        "create parent link {parent} for network {}",
                        network.name
                    )));
            }
            if link_exists(host.net(), parent).await? {
                Ok(())
            } else {
                Err(Error::InvalidParameter(format!(
                    "-o parent interface was not found on the host: {parent}"
                )))
            }
        })
    }

    /// The parent link berth made, if any.
    fn delete_network<'a>(
        &'a self,
        host: &'a Arc<H>,
        network: &'a Network,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let settings = settings(network)?;
            if settings.made_parent.is_none() {
                return Ok(());
            }
            host.net()
                .delete_link(&settings.parent)
                .await
                .map_err(Error::kernel(format!(
                    "remove parent link {} of network {}",
                    settings.parent, network.name
                )))
        })
    }

    fn settle<'a>(&'a self, _: Option<&'a Network>) -> DriverFuture<'a, ()> {
        done(())
    }

    /// Parent links berth made for networks that are gone (sub-interfaces
    /// live in sandboxes and go with them).
    fn remove_orphans<'a>(
        &'a self,
        host: &'a H,
        networks: &'a [Network],
        _: &'a BTreeSet<&'a str>,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            if self.driver == Driver::Ipvlan {
                // One sweep for both kinds: the macvlan driver's.
                return Ok(());
            }
            remove_owned_links(host.net(), |alias, _| {
                let id = network_id_from_parent_alias(alias)?;
                (!networks.iter().any(|n| n.id.as_str() == id)).then_some("parent")
            })
            .await
        })
    }

    fn host_ifname(&self, _: &EndpointId) -> Result<Option<IfName>> {
        Ok(None)
    }

    fn join<'a>(&'a self, host: &'a H, join: Join<'a>) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let kind = self.driver.to_string();
            join_sub_interface(host, sub_interface(&join), &kind, join.network).await
        })
    }

    fn leave<'a>(&'a self, host: &'a H, leave: Leave<'a>) -> DriverFuture<'a, ()> {
        Box::pin(async move { leave_sub_interface(host, &leave, &self.driver.to_string()).await })
    }

    fn endpoint_fault<'a>(
        &'a self,
        host: &'a H,
        join: Join<'a>,
        _: EndpointCheck,
    ) -> DriverFuture<'a, Option<EndpointFault>> {
        Box::pin(async move {
            let kind = self.driver.to_string();
            sub_interface_fault(host, sub_interface(&join), &kind).await
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
