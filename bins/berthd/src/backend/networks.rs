//! The network endpoints over the engine: Docker's create request to the
//! core's, and the core's networks back to Docker's shape.

use std::collections::HashMap;

use berth_api::{ApiError, Filters};
use berth_core::filter::{ListFilter, PruneFilter};
use berth_core::network::{IpamInput, NetworkCreate};
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkInspect, NetworkPruneResponse,
};

use super::{api_error, fields, wire, DaemonBackend};

/// `GET /networks`.
pub(super) async fn list(
    backend: &DaemonBackend,
    filters: Filters,
) -> Result<Vec<NetworkInspect>, ApiError> {
    let filter = ListFilter::parse(&filters).map_err(api_error)?;
    let networks = backend.engine.list_networks(&filter);
    // Docker's list leaves Containers empty; inspect fills it.
    Ok(networks
        .iter()
        .map(|n| wire::network_to_wire(n, &[]))
        .collect())
}

/// `GET /networks/{id}`, with its members.
pub(super) async fn inspect(
    backend: &DaemonBackend,
    id_or_name: String,
) -> Result<NetworkInspect, ApiError> {
    let network = backend
        .engine
        .inspect_network(&id_or_name)
        .map_err(api_error)?;
    let members = backend.engine.network_members(&network.id);
    Ok(wire::network_to_wire(&network, &members))
}

/// `POST /networks/create`.
pub(super) async fn create(
    backend: &DaemonBackend,
    req: NetworkCreateRequest,
) -> Result<NetworkCreateResponse, ApiError> {
    let network = backend
        .engine
        .create_network(create_request(req))
        .await
        .map_err(api_error)?;
    Ok(NetworkCreateResponse {
        id: network.id.to_string(),
        warning: String::new(),
    })
}

/// `POST /networks/prune`.
pub(super) async fn prune(
    backend: &DaemonBackend,
    filters: Filters,
) -> Result<NetworkPruneResponse, ApiError> {
    let filter = PruneFilter::parse(&filters, backend.engine.now()).map_err(api_error)?;
    let removed = backend
        .engine
        .prune_networks(filter)
        .await
        .map_err(api_error)?;
    Ok(NetworkPruneResponse {
        networks_deleted: Some(removed.iter().map(|n| n.name.to_string()).collect()),
    })
}

/// `POST /networks/{id}/connect`, its endpoint settings checked first.
pub(super) async fn connect(
    backend: &DaemonBackend,
    network: String,
    req: NetworkConnectRequest,
) -> Result<(), ApiError> {
    if let Some(endpoint) = &req.endpoint_config {
        fields::check_endpoint(endpoint)?;
    }
    let endpoint = wire::connect_request(req.endpoint_config.as_ref());
    backend
        .engine
        .connect(network, req.container, endpoint)
        .await
        .map_err(api_error)
}

/// `DELETE /networks/{id}`.
pub(super) async fn remove(backend: &DaemonBackend, id_or_name: String) -> Result<(), ApiError> {
    backend
        .engine
        .remove_network(id_or_name)
        .await
        .map_err(api_error)?;
    Ok(())
}

/// `POST /networks/{id}/disconnect`.
pub(super) async fn disconnect(
    backend: &DaemonBackend,
    network: String,
    req: NetworkDisconnectRequest,
) -> Result<(), ApiError> {
    backend
        .engine
        .disconnect(network, req.container)
        .await
        .map_err(api_error)
}

/// Docker's create request as the core's.
fn create_request(req: NetworkCreateRequest) -> NetworkCreate {
    let ipam = req.ipam.unwrap_or_default();
    let to_btree = |m: Option<HashMap<String, String>>| m.unwrap_or_default().into_iter().collect();
    NetworkCreate {
        name: req.name,
        driver: req.driver.unwrap_or_default(),
        ipam_driver: ipam.driver.unwrap_or_default(),
        ipam: ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|c| IpamInput {
                subnet: c.subnet.unwrap_or_default(),
                ip_range: c.ip_range.unwrap_or_default(),
                gateway: c.gateway.unwrap_or_default(),
                aux_addresses: to_btree(c.auxiliary_addresses),
            })
            .collect(),
        enable_ipv4: req.enable_ipv4,
        enable_ipv6: req.enable_ipv6,
        internal: req.internal.unwrap_or(false),
        attachable: req.attachable.unwrap_or(false),
        options: to_btree(req.options),
        labels: to_btree(req.labels),
    }
}
