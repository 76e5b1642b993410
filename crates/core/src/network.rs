//! `network create`: turning a request into a validated [`Network`]. Pure, so
//! every refusal is unit-tested; the engine does the store and kernel work.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use berth_ipam::{self as ipam, SubnetPlan, SubnetRequest};
use berth_types::{Driver, IfName, IpNet, MacAddr, NetworkId, NetworkName};

use crate::config::EngineConfig;
use crate::error::{Error, Result};
use crate::model::{opt, BridgeSettings, Network, PREDEFINED};
use crate::ports::BridgeSpec;

/// One IPAM config entry as the user gave it (strings, as on the wire).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpamInput {
    pub subnet: String,
    pub ip_range: String,
    pub gateway: String,
    pub aux_addresses: BTreeMap<String, String>,
}

/// A `network create` request, still unvalidated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkCreate {
    pub name: String,
    /// Empty means the default driver, `bridge`.
    pub driver: String,
    /// Empty or `default`: berth has only the built-in IPAM driver.
    pub ipam_driver: String,
    pub ipam: Vec<IpamInput>,
    pub enable_ipv4: Option<bool>,
    pub enable_ipv6: Option<bool>,
    pub internal: bool,
    pub attachable: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// What the new network must not collide with.
pub struct Surroundings<'a> {
    pub existing: &'a [Network],
    pub host_routes: &'a [IpNet],
}

/// Validates `req` against the daemon config and the existing networks and
/// returns the network to create, or Docker's error for the first problem.
pub fn plan_network(
    req: NetworkCreate,
    around: &Surroundings<'_>,
    config: &EngineConfig,
    id: NetworkId,
    created: SystemTime,
) -> Result<Network> {
    if PREDEFINED.contains(&req.name.as_str()) {
        return Err(Error::Forbidden(format!(
            "{} is a pre-defined network and cannot be created",
            req.name
        )));
    }
    let name = NetworkName::parse(&req.name).map_err(|e| Error::InvalidParameter(e.to_string()))?;
    if around.existing.iter().any(|n| n.name == name) {
        return Err(Error::Conflict(format!(
            "network with name {name} already exists"
        )));
    }
    let driver = match req.driver.as_str() {
        "" | "bridge" => Driver::Bridge,
        "host" | "null" => {
            return Err(Error::Forbidden(format!(
                "only one instance of \"{}\" network is allowed",
                req.driver
            )))
        }
        other => {
            return Err(Error::NotFound(format!(
                "could not find plugin {other} in v1 plugin registry: plugin not found"
            )))
        }
    };
    if !matches!(req.ipam_driver.as_str(), "" | "default") {
        return Err(Error::NotFound(format!(
            "could not find plugin {} in v1 plugin registry: plugin not found",
            req.ipam_driver
        )));
    }

    let requests = req
        .ipam
        .iter()
        .map(|i| SubnetRequest::parse(&i.subnet, &i.ip_range, &i.gateway, &i.aux_addresses))
        .collect::<Result<Vec<_>, _>>()?;
    let enable_ipv4 = req.enable_ipv4.unwrap_or(true);
    let has_v6_subnet = requests.iter().any(|r| r.subnet.addr().is_ipv6());
    let enable_ipv6 = req.enable_ipv6.unwrap_or(has_v6_subnet);
    if has_v6_subnet && !enable_ipv6 {
        return Err(Error::InvalidParameter(
            "IPv6 subnet specified but IPv6 is not enabled on this network".to_owned(),
        ));
    }
    if !enable_ipv4 && !enable_ipv6 {
        return Err(Error::InvalidParameter(
            "IPv4 or IPv6 must be enabled".to_owned(),
        ));
    }
    if !enable_ipv4 && requests.iter().any(|r| r.subnet.addr().is_ipv4()) {
        return Err(Error::InvalidParameter(
            "IPv4 subnet specified but IPv4 is not enabled on this network".to_owned(),
        ));
    }

    let in_use: Vec<IpNet> = around
        .existing
        .iter()
        .flat_map(|n| n.subnets.iter().map(|p| p.subnet))
        .collect();
    let mut subnets = ipam::plan_network(requests, &in_use)?;
    let given: Vec<IpNet> = subnets.iter().map(|p| p.subnet).collect();

    // Pools skip both other networks and the host's routes, so an automatic
    // subnet never shadows a network the host already reaches.
    let mut taken = in_use;
    taken.extend_from_slice(around.host_routes);
    let mut pool_subnets = Vec::new();
    if enable_ipv4 && !given.iter().any(|s| s.addr().is_ipv4()) {
        pool_subnets.push(auto_subnet(&config.address_pools, &taken)?);
    }
    if enable_ipv6 && !given.iter().any(|s| s.addr().is_ipv6()) {
        pool_subnets.push(auto_subnet(&config.ipv6_pools, &taken)?);
    }
    let pool_subnets: Vec<IpNet> = pool_subnets
        .into_iter()
        .map(|plan| {
            let subnet = plan.subnet;
            subnets.push(plan);
            subnet
        })
        .collect();
    subnets.sort_by_key(|p| p.subnet.addr().is_ipv6());

    let bridge = match driver {
        Driver::Bridge => Some(bridge_settings(&req.options, &id, config, around.existing)?),
        Driver::Host | Driver::Null => None,
    };

    Ok(Network {
        id,
        name,
        driver,
        created,
        enable_ipv4,
        enable_ipv6,
        internal: req.internal,
        attachable: req.attachable,
        subnets,
        pool_subnets,
        options: req.options,
        labels: req.labels,
        bridge,
    })
}

fn auto_subnet(pools: &[ipam::PoolSpec], taken: &[IpNet]) -> Result<SubnetPlan> {
    let subnet = ipam::select_pool(pools, taken)?;
    Ok(SubnetRequest {
        subnet,
        ip_range: None,
        gateway: None,
        aux_addresses: BTreeMap::new(),
    }
    .plan()?)
}

fn parse_ip(s: &str, what: &str) -> Result<IpAddr> {
    s.parse().map_err(|_| {
        Error::InvalidParameter(format!("invalid value {s:?} for {what}: not an IP address"))
    })
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
fn bridge_settings(
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
        Some(v) => parse_ip(v, opt::HOST_BINDING_IPV4)?,
    };
    Ok(BridgeSettings {
        name,
        mtu,
        icc: parse_bool_opt(options, opt::ENABLE_ICC, true)?,
        masquerade: parse_bool_opt(options, opt::ENABLE_IP_MASQUERADE, true)?,
        host_binding_ipv4,
    })
}

/// The bridge a network needs in the kernel, if its driver has one.
pub fn bridge_spec(network: &Network) -> Option<BridgeSpec> {
    let bridge = network.bridge.as_ref()?;
    let addresses = network
        .subnets
        .iter()
        .filter_map(|p| IpNet::new(p.gateway, p.prefix_len()).ok())
        .collect();
    Some(BridgeSpec {
        name: bridge.name.clone(),
        mtu: bridge.mtu,
        addresses,
        alias: crate::ports::network_link_alias(&network.id),
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

/// The default `bridge` network as the daemon's config describes it. Its id
/// is kept across restarts; the rest follows the current `--bip` and flags.
pub fn default_bridge_network(
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
        name: predefined_name("bridge")?,
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
    })
}

/// `host` or `none`: no subnets, no kernel objects of their own.
pub fn driverless_network(
    name: &str,
    driver: Driver,
    id: NetworkId,
    created: SystemTime,
) -> Result<Network> {
    Ok(Network {
        id,
        name: predefined_name(name)?,
        driver,
        created,
        enable_ipv4: true,
        enable_ipv6: false,
        internal: false,
        attachable: false,
        subnets: Vec::new(),
        pool_subnets: Vec::new(),
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
        bridge: None,
    })
}

fn predefined_name(name: &str) -> Result<NetworkName> {
    NetworkName::parse(name).map_err(|e| Error::InvalidParameter(e.to_string()))
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
