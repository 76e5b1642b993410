//! `network create`: turning a request into a validated [`Network`] (the
//! driver-independent part: name, driver, IPAM). Pure, so every refusal is
//! unit-tested; the network's driver then reads its own options.

use std::collections::BTreeMap;
use std::time::SystemTime;

use berth_ipam::{self as ipam, SubnetPlan, SubnetRequest};
use berth_types::{Driver, IpNet, NetworkId, NetworkName};

use crate::config::EngineConfig;
use crate::error::{Error, Result};
use crate::network::{Network, PREDEFINED};

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
        "macvlan" => Driver::Macvlan,
        "ipvlan" => Driver::Ipvlan,
        "overlay" => Driver::Overlay,
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
    // Overlay networks take theirs from the cluster's pool: `existing`
    // holds every host's overlay networks then.
    let pools = if driver == Driver::Overlay {
        &config.overlay_pools
    } else {
        &config.address_pools
    };
    if enable_ipv4 && !given.iter().any(|s| s.addr().is_ipv4()) {
        pool_subnets.push(auto_subnet(pools, &taken)?);
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
        // The driver reads its options next (`NetworkDriver::plan`).
        bridge: None,
        macvlan: None,
        overlay: None,
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
        macvlan: None,
        overlay: None,
    })
}

fn predefined_name(name: &str) -> Result<NetworkName> {
    NetworkName::parse(name).map_err(|e| Error::InvalidParameter(e.to_string()))
}
