//! The bridge driver (Docker's default): per network a Linux bridge holding
//! the gateway addresses; per endpoint a veth pair, host end on the bridge,
//! peer in the sandbox as `eth<N>`. The only code in core that knows about
//! bridges and veths.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use berth_ipam::SubnetRequest;
use berth_types::{Driver, EndpointId, IfName, IpNet, MacAddr, NetworkId, NetworkName};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::config::EngineConfig;
use crate::driver::{
    join_veth, leave_veth, remove_owned_links, veth_fault, veth_ifname, DriverFuture, Join, Leave,
    NetworkDriver,
};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::{
    endpoint_id_from_alias, endpoint_link_alias, network_id_from_alias, network_link_alias,
    BridgeSpec, EndpointCheck, EndpointFault, FwNetwork, Host, NetOps, VethPair,
};

/// Docker's option keys for the bridge driver.
pub mod opt {
    pub const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
    pub const ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
    pub const ENABLE_IP_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
    pub const HOST_BINDING_IPV4: &str = "com.docker.network.bridge.host_binding_ipv4";
    pub const DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";
    pub const MTU: &str = "com.docker.network.driver.mtu";
}

/// The bridge driver's settings of a network, parsed from Docker's option
/// keys once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeSettings {
    pub name: IfName,
    pub mtu: u32,
    pub icc: bool,
    pub masquerade: bool,
    pub host_binding_ipv4: IpAddr,
}

/// The driver. Deleting a bridge takes the kernel ~50 ms, so `network rm`
/// sets it down (which takes its routes) and deletes it in the background;
/// the deletions still running are kept by bridge name, so a new network
/// that wants the name waits for its deletion.
#[derive(Default)]
pub struct BridgeDriver {
    removals: Mutex<HashMap<IfName, JoinHandle<()>>>,
}

impl BridgeDriver {
    fn take_removals(&self, name: Option<&IfName>) -> Vec<JoinHandle<()>> {
        let mut removals = self.removals.lock().unwrap_or_else(PoisonError::into_inner);
        removals.retain(|_, task| !task.is_finished());
        match name {
            Some(name) => removals.remove(name).into_iter().collect(),
            None => removals.drain().map(|(_, task)| task).collect(),
        }
    }
}

fn settings(network: &Network) -> Result<&BridgeSettings> {
    network.bridge.as_ref().ok_or_else(|| Error::Internal {
        what: format!("network {} has no bridge settings", network.name),
    })
}

impl<H: Host> NetworkDriver<H> for BridgeDriver {
    fn plan<'a>(
        &'a self,
        _: &'a H,
        network: &'a mut Network,
        others: &'a [Network],
        config: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            network.bridge = Some(read_options(&network.options, &network.id, config, others)?);
            Ok(())
        })
    }

    fn has_endpoints(&self) -> bool {
        true
    }

    fn start<'a>(&'a self, host: &'a H, config: &'a EngineConfig) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            if config.firewall {
                // Docker's default: bridged traffic passes the ip/ip6 hooks,
                // so icc=false can drop traffic within one bridge.
                for key in [
                    "net.bridge.bridge-nf-call-iptables",
                    "net.bridge.bridge-nf-call-ip6tables",
                ] {
                    if let Err(e) = host.net().set_sysctl(key, "1").await {
                        warn!(key, error = %e, "br_netfilter unavailable: enable_icc=false cannot be enforced");
                    }
                }
            }
            Ok(())
        })
    }

    /// The bridge, its `route_localnet` (so 127.0.0.1 reaches published
    /// ports) and IPv6 forwarding for an IPv6 network.
    fn create_network<'a>(
        &'a self,
        host: &'a H,
        network: &'a Network,
        config: &'a EngineConfig,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let spec = bridge_spec(network)?;
            let net = host.net();
            net.ensure_bridge(&spec)
                .await
                .map_err(Error::kernel(format!(
                    "create bridge {} for network {}",
                    spec.name, network.name
                )))?;
            if config.firewall {
                let key = format!("net/ipv4/conf/{}/route_localnet", spec.name);
                net.set_sysctl(&key, "1")
                    .await
                    .map_err(Error::kernel(format!(
                        "enable route_localnet on {}",
                        spec.name
                    )))?;
            }
            // As dockerd: an IPv6 network turns IPv6 forwarding on, or its
            // containers could not reach past the host.
            if config.ip_forward && network.enable_ipv6 {
                net.set_sysctl("net.ipv6.conf.all.forwarding", "1")
                    .await
                    .map_err(Error::kernel("enable net.ipv6.conf.all.forwarding"))?;
            }
            Ok(())
        })
    }

    fn delete_network<'a>(
        &'a self,
        host: &'a Arc<H>,
        network: &'a Network,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let bridge = settings(network)?.name.clone();
            if let Err(e) = host.net().set_link_down(&bridge).await {
                warn!(network = %network.name, %bridge, error = %e, "bridge not set down");
            }
            let host = Arc::clone(host);
            let name = network.name.clone();
            let key = bridge.clone();
            let task = tokio::spawn(async move {
                if let Err(e) = host.net().delete_link(&bridge).await {
                    warn!(network = %name, %bridge, error = %e, "bridge not removed: the next start removes it");
                }
            });
            let earlier = self
                .removals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, task);
            if let Some(earlier) = earlier {
                let _ = earlier.await;
            }
            Ok(())
        })
    }

    fn settle<'a>(&'a self, network: Option<&'a Network>) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let name = match network {
                Some(n) => match &n.bridge {
                    Some(b) => Some(&b.name),
                    None => return Ok(()),
                },
                None => None,
            };
            for task in self.take_removals(name) {
                let _ = task.await;
            }
            Ok(())
        })
    }

    /// Bridges that carry a network alias but belong to no network (or no
    /// longer carry their network's bridge name), and veths of endpoints
    /// no running container has.
    fn remove_orphans<'a>(
        &'a self,
        host: &'a H,
        networks: &'a [Network],
        live_endpoints: &'a BTreeSet<&'a str>,
    ) -> DriverFuture<'a, ()> {
        Box::pin(async move {
            let wanted: BTreeMap<&str, &str> = networks
                .iter()
                .filter_map(|n| Some((n.id.as_str(), n.bridge.as_ref()?.name.as_str())))
                .collect();
            remove_owned_links(host.net(), |alias, name| {
                if let Some(id) = network_id_from_alias(alias) {
                    (wanted.get(id) != Some(&name)).then_some("bridge")
                } else {
                    let id = endpoint_id_from_alias(alias)?;
                    (!live_endpoints.contains(id)).then_some("veth")
                }
            })
            .await
        })
    }

    fn host_ifname(&self, endpoint: &EndpointId) -> Result<Option<IfName>> {
        veth_ifname(endpoint).map(Some)
    }

    fn join<'a>(&'a self, host: &'a H, join: Join<'a>) -> DriverFuture<'a, ()> {
        Box::pin(async move { join_veth(host, veth_pair(&join), join.network).await })
    }

    fn leave<'a>(&'a self, host: &'a H, leave: Leave<'a>) -> DriverFuture<'a, ()> {
        Box::pin(async move { leave_veth(host, &leave).await })
    }

    fn endpoint_fault<'a>(
        &'a self,
        host: &'a H,
        join: Join<'a>,
        check: EndpointCheck,
    ) -> DriverFuture<'a, Option<EndpointFault>> {
        Box::pin(async move { veth_fault(host, veth_pair(&join), check).await })
    }

    fn firewall(&self, n: &Network, config: &EngineConfig) -> Option<FwNetwork> {
        let bridge = n.bridge.as_ref()?;
        Some(FwNetwork {
            bridge: bridge.name.clone(),
            subnets: n.subnets.iter().map(|p| p.subnet).collect(),
            internal: n.internal,
            icc: bridge.icc,
            masquerade: bridge.masquerade && config.ip_masq && !n.internal,
        })
    }

    fn publishes_ports(&self) -> bool {
        true
    }

    fn default_host_ip(&self, network: &Network) -> Option<IpAddr> {
        network
            .bridge
            .as_ref()
            .map(|b| b.host_binding_ipv4)
            .filter(|ip| !ip.is_unspecified())
    }
}

/// The veth pair of a joined endpoint: host end on the network's bridge.
fn veth_pair(join: &Join<'_>) -> Result<VethPair> {
    let bridge = settings(join.network)?;
    let endpoint = join.endpoint;
    Ok(VethPair {
        netns: join.sandbox.to_path_buf(),
        bridge: bridge.name.clone(),
        host_ifname: endpoint
            .host_ifname
            .clone()
            .ok_or_else(|| Error::Internal {
                what: format!("endpoint {} has no veth", endpoint.id),
            })?,
        ifname: endpoint.ifname.clone(),
        mac: endpoint.mac,
        mtu: bridge.mtu,
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
        alias: endpoint_link_alias(&endpoint.id),
    })
}

/// The bridge a network needs in the kernel.
pub fn bridge_spec(network: &Network) -> Result<BridgeSpec> {
    let bridge = settings(network)?;
    let addresses = network
        .subnets
        .iter()
        .filter_map(|p| IpNet::new(p.gateway, p.prefix_len()).ok())
        .collect();
    Ok(BridgeSpec {
        name: bridge.name.clone(),
        mtu: bridge.mtu,
        addresses,
        alias: network_link_alias(&network.id),
        mac: bridge_mac(&network.id),
    })
}

/// A bridge's MAC, fixed for the life of its network: the first six bytes of
/// the network id, made a locally administered unicast address (as the
/// random MAC Docker gives its bridges). Derived rather than drawn, so a
/// restart finds the bridge already right and changes nothing.
pub fn bridge_mac(id: &NetworkId) -> MacAddr {
    // Ids are 64 hex digits by construction.
    let hex = id.as_str();
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).unwrap_or("00");
        *byte = u8::from_str_radix(pair, 16).unwrap_or(0);
    }
    mac[0] = (mac[0] & 0xfc) | 0x02;
    MacAddr(mac)
}

fn parse_bool_opt(options: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool> {
    match options.get(key).map(String::as_str) {
        None => Ok(default),
        Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
        Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(Error::InvalidParameter(format!(
            "failed to parse {key} value: invalid boolean value {v:?}"
        ))),
    }
}

/// Reads the bridge driver's options (Docker's keys) with their defaults.
fn read_options(
    options: &BTreeMap<String, String>,
    id: &NetworkId,
    config: &EngineConfig,
    existing: &[Network],
) -> Result<BridgeSettings> {
    let name = match options.get(opt::BRIDGE_NAME) {
        // nft takes interface names as quoted strings where `\` escapes,
        // `"` ends and a trailing `*` is a wildcard: refused up front.
        Some(n) if n.contains(['\\', '"', '*']) => {
            return Err(Error::InvalidParameter(format!(
                "invalid bridge name {n:?}: berth's firewall rules cannot name an interface holding '\\', '\"' or '*'"
            )))
        }
        Some(n) => IfName::parse(n).map_err(|e| Error::InvalidParameter(e.to_string()))?,
        None => IfName::parse(&format!("br-{}", id.short()))
            .map_err(|e| Error::InvalidParameter(e.to_string()))?,
    };
    if existing
        .iter()
        .filter_map(|n| n.bridge.as_ref())
        .any(|b| b.name == name)
    {
        return Err(Error::Forbidden(format!(
            "bridge name {name} is already in use by another network"
        )));
    }
    let mtu = match options.get(opt::MTU) {
        None => config.mtu,
        Some(v) => match v.parse::<u32>() {
            Ok(m) if (68..=65535).contains(&m) => m,
            _ => {
                return Err(Error::InvalidParameter(format!(
                    "invalid MTU {v:?}: must be a number from 68 to 65535"
                )))
            }
        },
    };
    let host_binding_ipv4 = match options.get(opt::HOST_BINDING_IPV4) {
        None => IpAddr::from([0, 0, 0, 0]),
        Some(v) => v.parse().map_err(|_| {
            Error::InvalidParameter(format!(
                "invalid value {v:?} for {}: not an IP address",
                opt::HOST_BINDING_IPV4
            ))
        })?,
    };
    Ok(BridgeSettings {
        name,
        mtu,
        icc: parse_bool_opt(options, opt::ENABLE_ICC, true)?,
        masquerade: parse_bool_opt(options, opt::ENABLE_IP_MASQUERADE, true)?,
        host_binding_ipv4,
    })
}

/// The default `bridge` network as the daemon's config describes it. Its id
/// is kept across restarts; the rest follows the current `--bip` and flags.
pub fn default_network(
    config: &EngineConfig,
    id: NetworkId,
    created: SystemTime,
) -> Result<Network> {
    let addr = config.default_bridge.address;
    let plan = SubnetRequest {
        subnet: addr.trunc(),
        ip_range: None,
        gateway: Some(addr.addr()),
        aux_addresses: BTreeMap::new(),
    }
    .plan()
    .map_err(|e| Error::InvalidParameter(format!("invalid --bip {addr}: {e}")))?;
    let settings = BridgeSettings {
        name: config.default_bridge.name.clone(),
        mtu: config.mtu,
        icc: config.icc,
        masquerade: config.ip_masq,
        host_binding_ipv4: IpAddr::from([0, 0, 0, 0]),
    };
    let options = BTreeMap::from([
        (opt::DEFAULT_BRIDGE.to_owned(), "true".to_owned()),
        (opt::ENABLE_ICC.to_owned(), settings.icc.to_string()),
        (
            opt::ENABLE_IP_MASQUERADE.to_owned(),
            settings.masquerade.to_string(),
        ),
        (opt::HOST_BINDING_IPV4.to_owned(), "0.0.0.0".to_owned()),
        (opt::BRIDGE_NAME.to_owned(), settings.name.to_string()),
        (opt::MTU.to_owned(), settings.mtu.to_string()),
    ]);
    Ok(Network {
        id,
        name: NetworkName::parse("bridge").map_err(|e| Error::InvalidParameter(e.to_string()))?,
        driver: Driver::Bridge,
        created,
        enable_ipv4: true,
        enable_ipv6: false,
        internal: false,
        attachable: false,
        subnets: vec![plan],
        pool_subnets: Vec::new(),
        options,
        labels: BTreeMap::new(),
        bridge: Some(settings),
        macvlan: None,
        overlay: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_mac_is_a_local_unicast_address_fixed_by_the_network_id() {
        let id = NetworkId::parse(&format!("{}{}", "ffeeddccbbaa", "0".repeat(52))).unwrap();
        let mac = bridge_mac(&id);
        // Multicast bit cleared, locally administered bit set.
        assert_eq!(mac.to_string(), "fe:ee:dd:cc:bb:aa");
        assert_eq!(bridge_mac(&id), mac, "the same network, the same MAC");
        let other = NetworkId::parse(&format!("{}{}", "0123456789ab", "0".repeat(52))).unwrap();
        assert_eq!(bridge_mac(&other).to_string(), "02:23:45:67:89:ab");
    }
}
