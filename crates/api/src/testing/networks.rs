//! Networks: canned answers picked by name, or a table.

use std::collections::HashMap;

use bollard_stubs::models::{
    IpamStatus, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkInspect, NetworkPruneResponse, NetworkStatus,
};

use super::{lock, Call, StubBackend, BRIDGE_ID, CREATED_ID};
use crate::{ApiError, Filters};

/// Networks no one may remove or prune, as in dockerd.
const PREDEFINED_NETWORKS: [&str; 3] = ["bridge", "host", "none"];

pub fn network(name: &str, id: &str) -> NetworkInspect {
    NetworkInspect {
        name: Some(name.to_owned()),
        id: Some(id.to_owned()),
        scope: Some("local".to_owned()),
        driver: Some("bridge".to_owned()),
        enable_ipv4: Some(true),
        enable_ipv6: Some(false),
        internal: Some(false),
        attachable: Some(false),
        ingress: Some(false),
        config_only: Some(false),
        options: Some(HashMap::new()),
        labels: Some(HashMap::new()),
        containers: Some(HashMap::new()),
        // Set so tests can check the HTTP layer removes it (API 1.52+).
        status: Some(NetworkStatus {
            ipam: Some(IpamStatus::default()),
        }),
        ..Default::default()
    }
}

fn network_not_found(id_or_name: &str) -> ApiError {
    ApiError::not_found(format!("network {id_or_name} not found"))
}

/// Where `id_or_name` is in `table`: by exact name or id, else a unique id
/// prefix.
pub(super) fn network_index(table: &[NetworkInspect], id_or_name: &str) -> Result<usize, ApiError> {
    let exact = table.iter().position(|network| {
        network.name.as_deref() == Some(id_or_name) || network.id.as_deref() == Some(id_or_name)
    });
    if let Some(index) = exact {
        return Ok(index);
    }
    let prefixed: Vec<usize> = (0..table.len())
        .filter(|&i| {
            !id_or_name.is_empty()
                && table[i]
                    .id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(id_or_name))
        })
        .collect();
    match prefixed.as_slice() {
        [only] => Ok(*only),
        _ => Err(network_not_found(id_or_name)),
    }
}

fn error_for(name: &str) -> Option<ApiError> {
    Some(match name {
        "missing" => network_not_found(name),
        "kind-invalid" => ApiError::invalid_parameter("bad value"),
        "kind-forbidden" => ApiError::forbidden("not allowed"),
        "kind-notfound" => ApiError::not_found("no such thing"),
        "kind-conflict" => ApiError::conflict("conflicts"),
        "kind-notimplemented" => ApiError::not_implemented("not in berth"),
        "kind-unavailable" => ApiError::unavailable("try later"),
        "kind-internal" => ApiError::internal("it broke"),
        _ => return None,
    })
}

pub(super) async fn network_list(
    stub: &StubBackend,
    filters: Filters,
) -> Result<Vec<NetworkInspect>, ApiError> {
    stub.record(Call::NetworkList(filters));
    if let Some(table) = &stub.networks {
        return Ok(lock(table).clone());
    }
    Ok(vec![
        network("bridge", BRIDGE_ID),
        network("web", CREATED_ID),
    ])
}

pub(super) async fn network_inspect(
    stub: &StubBackend,
    id_or_name: String,
) -> Result<NetworkInspect, ApiError> {
    stub.record(Call::NetworkInspect(id_or_name.clone()));
    if let Some(table) = &stub.networks {
        let table = lock(table);
        return table
            .get(network_index(&table, &id_or_name)?)
            .cloned()
            .ok_or_else(|| network_not_found(&id_or_name));
    }
    match error_for(&id_or_name) {
        Some(err) => Err(err),
        None => Ok(network(&id_or_name, CREATED_ID)),
    }
}

pub(super) async fn network_create(
    stub: &StubBackend,
    req: NetworkCreateRequest,
) -> Result<NetworkCreateResponse, ApiError> {
    let name = req.name.clone();
    stub.record(Call::NetworkCreate(Box::new(req)));
    if name == "taken" {
        return Err(ApiError::conflict(format!(
            "network with name {name} already exists"
        )));
    }
    Ok(NetworkCreateResponse {
        id: CREATED_ID.to_owned(),
        warning: String::new(),
    })
}

pub(super) async fn network_remove(stub: &StubBackend, id_or_name: String) -> Result<(), ApiError> {
    stub.record(Call::NetworkRemove(id_or_name.clone()));
    if let Some(table) = &stub.networks {
        let mut table = lock(table);
        let index = network_index(&table, &id_or_name)?;
        let name = table[index].name.clone().unwrap_or_default();
        if PREDEFINED_NETWORKS.contains(&name.as_str()) {
            return Err(ApiError::forbidden(format!(
                "{name} is a pre-defined network and cannot be removed"
            )));
        }
        table.remove(index);
        return Ok(());
    }
    match id_or_name.as_str() {
        "bridge" => Err(ApiError::forbidden(
            "bridge is a pre-defined network and cannot be removed",
        )),
        "busy" => Err(ApiError::conflict(
            "error while removing network: network busy has active endpoints",
        )),
        other => error_for(other).map_or(Ok(()), Err),
    }
}

pub(super) async fn network_prune(
    stub: &StubBackend,
    filters: Filters,
) -> Result<NetworkPruneResponse, ApiError> {
    stub.record(Call::NetworkPrune(filters));
    if let Some(table) = &stub.networks {
        let mut table = lock(table);
        let mut pruned = Vec::new();
        table.retain(|network| {
            let name = network.name.clone().unwrap_or_default();
            let keep = PREDEFINED_NETWORKS.contains(&name.as_str());
            if !keep {
                pruned.push(name);
            }
            keep
        });
        return Ok(NetworkPruneResponse {
            networks_deleted: Some(pruned),
        });
    }
    Ok(NetworkPruneResponse {
        networks_deleted: Some(vec!["old".to_owned()]),
    })
}

pub(super) async fn network_connect(
    stub: &StubBackend,
    network: String,
    req: NetworkConnectRequest,
) -> Result<(), ApiError> {
    stub.record(Call::NetworkConnect(network.clone(), Box::new(req.clone())));
    if let Some(err) = error_for(&network) {
        return Err(err);
    }
    if let Some(table) = &stub.networks {
        network_index(&lock(table), &network)?;
    }
    let mut engine = lock(&stub.engine);
    let container = engine.find_mut(&req.container)?;
    if !container.networks.insert(network.clone()) {
        return Err(ApiError::forbidden(format!(
            "endpoint with name {} already exists in network {network}",
            container.name
        )));
    }
    Ok(())
}

pub(super) async fn network_disconnect(
    stub: &StubBackend,
    network: String,
    req: NetworkDisconnectRequest,
) -> Result<(), ApiError> {
    stub.record(Call::NetworkDisconnect(network.clone(), req.clone()));
    let mut engine = lock(&stub.engine);
    let container = engine.find_mut(&req.container)?;
    if !container.networks.remove(&network) {
        return Err(ApiError::forbidden(format!(
            "container {} is not connected to network {network}",
            container.id
        )));
    }
    Ok(())
}
