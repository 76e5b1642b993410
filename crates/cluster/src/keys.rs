//! Where each fact lives in etcd, and how records read back.

use std::net::IpAddr;

use berth_core::cluster::{ClusterError, EndpointRecord, Taken};
use berth_core::network::Network;
use berth_types::{EndpointId, IpNet, NetworkId};

pub(crate) const NETWORKS: &str = "/berth/v1/networks/";
const NETWORK_NAMES: &str = "/berth/v1/network-names/";
const VNIS: &str = "/berth/v1/vnis/";
pub(crate) const SUBNETS: &str = "/berth/v1/subnets/";
pub(crate) const HOSTS: &str = "/berth/v1/hosts/";
pub(crate) const NODES: &str = "/berth/v1/nodes/";
pub(crate) const ENDPOINTS: &str = "/berth/v1/endpoints/";
pub(crate) const ADDRESSES: &str = "/berth/v1/addresses/";

/// A host's liveness, under its lease.
pub(crate) fn host(id: &str) -> String {
    format!("{HOSTS}{id}")
}

/// A host's durable record.
pub(crate) fn node(id: &str) -> String {
    format!("{NODES}{id}")
}

/// What an address claim holds: the endpoint and its host, so that
/// `node rm` finds a dead host's claims.
pub(crate) fn claim_value(endpoint: &EndpointId, node: &str) -> String {
    format!("{endpoint} {node}")
}

pub(crate) fn address(network: &NetworkId, ip: IpAddr) -> String {
    format!("{ADDRESSES}{network}/{ip}")
}

/// The prefix of `network`'s endpoint records.
pub(crate) fn endpoints_of(network: &NetworkId) -> String {
    format!("{ENDPOINTS}{network}/")
}

pub(crate) fn endpoint(network: &NetworkId, endpoint: &EndpointId) -> String {
    format!("{ENDPOINTS}{network}/{endpoint}")
}

/// The network and endpoint ids at the end of an endpoint record's key.
pub(crate) fn endpoint_ids_of(key: &[u8]) -> Option<(NetworkId, EndpointId)> {
    let key = std::str::from_utf8(key).ok()?;
    let (network, endpoint) = key.strip_prefix(ENDPOINTS)?.split_once('/')?;
    Some((
        NetworkId::parse(network).ok()?,
        EndpointId::parse(endpoint).ok()?,
    ))
}

/// An endpoint record read back.
pub(crate) fn endpoint_of(key: &[u8], value: &[u8]) -> Result<EndpointRecord, ClusterError> {
    serde_json::from_slice(value).map_err(|e| ClusterError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        detail: e.to_string(),
    })
}

pub(crate) fn network(id: &NetworkId) -> String {
    format!("{NETWORKS}{id}")
}

/// The keys a network claims besides its record, each with what it is.
pub(crate) fn claims(network: &Network) -> Vec<(String, Taken)> {
    let mut claims = vec![(format!("{NETWORK_NAMES}{}", network.name), Taken::Name)];
    if let Some(overlay) = &network.overlay {
        claims.push((format!("{VNIS}{}", overlay.vni), Taken::Vni(overlay.vni)));
    }
    claims.extend(
        network
            .subnets
            .iter()
            .map(|p| (format!("{SUBNETS}{}", p.subnet), Taken::Subnet(p.subnet))),
    );
    claims
}

/// The subnet a subnet claim's key names.
pub(crate) fn subnet_of(key: &[u8]) -> Option<IpNet> {
    std::str::from_utf8(key)
        .ok()?
        .strip_prefix(SUBNETS)?
        .parse()
        .ok()
}

/// A network record read back.
pub(crate) fn network_of(key: &[u8], value: &[u8]) -> Result<Network, ClusterError> {
    serde_json::from_slice(value).map_err(|e| ClusterError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        detail: e.to_string(),
    })
}

/// The network id at the end of a network record's key.
pub(crate) fn network_id_of(key: &[u8]) -> Option<NetworkId> {
    let key = std::str::from_utf8(key).ok()?;
    NetworkId::parse(key.strip_prefix(NETWORKS)?).ok()
}
