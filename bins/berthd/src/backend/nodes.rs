//! `GET /berth/nodes` and `DELETE /berth/nodes/{id}`: berth's own verbs
//! for the hosts of its cluster (`berth node ls`, `berth node rm`).

use berth_api::{ApiError, ErrorKind, Node};
use berth_cluster::Error;
use tracing::info;

use crate::cluster::ClusterView;

fn cluster(view: Option<&ClusterView>) -> Result<&ClusterView, ApiError> {
    view.ok_or_else(|| {
        ApiError::new(
            ErrorKind::Unavailable,
            "this host is not in a cluster: berthd runs without --cluster-store",
        )
    })
}

fn store_error(e: Error) -> ApiError {
    match e {
        Error::NoSuchNode(_) => ApiError::not_found(e.to_string()),
        Error::AmbiguousNode(_) => ApiError::invalid_parameter(e.to_string()),
        Error::NodeAlive(_) => ApiError::conflict(e.to_string()),
        e => ApiError::unavailable(format!("cluster store unavailable: {e}")),
    }
}

pub(super) async fn list(view: Option<&ClusterView>) -> Result<Vec<Node>, ApiError> {
    let nodes = cluster(view)?.store.nodes().await.map_err(store_error)?;
    Ok(nodes
        .into_iter()
        .map(|n| Node {
            id: n.record.id,
            hostname: n.record.hostname,
            advertise: n.record.advertise.to_string(),
            status: if n.alive { "alive" } else { "down" }.to_owned(),
            endpoints: u64::try_from(n.endpoints).unwrap_or(u64::MAX),
        })
        .collect())
}

pub(super) async fn remove(view: Option<&ClusterView>, id: &str) -> Result<(), ApiError> {
    let removed = cluster(view)?
        .store
        .remove_node(id)
        .await
        .map_err(store_error)?;
    info!(
        node = removed.record.id,
        hostname = removed.record.hostname,
        addresses = removed.addresses,
        endpoints = removed.endpoints,
        "node removed: its claims are free"
    );
    Ok(())
}
