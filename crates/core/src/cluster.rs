//! The cluster port (DESIGN.md, "Cluster"): what the hosts of a cluster
//! agree on through the cluster store (etcd, in `berth-cluster`), as core
//! needs it. Durable facts (overlay networks with their name, VNI and
//! subnets) are claimed by compare-and-swap, so two hosts can never both
//! win one. Facts other hosts write reach this host's engine as
//! [`ClusterEvent`] commands, so the engine stays the one owner of the
//! model: the adapter's watch never changes anything itself.

use std::future::Future;
use std::pin::Pin;

use std::net::IpAddr;

use berth_types::{ContainerId, EndpointId, IpNet, MacAddr, NetworkId};
use serde::{Deserialize, Serialize};

use crate::network::Network;
use crate::ports::PortError;

/// The future of a cluster store call: boxed, so the engine holds the
/// store as a trait object and runs without one on a single host.
pub type ClusterFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ClusterError>> + Send + 'a>>;

/// A claim of a new network that another network already holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    Name,
    Vni(u32),
    Subnet(IpNet),
    /// An overlay endpoint's address.
    Address(IpAddr),
}

/// An endpoint on an overlay network as every host must know it to reach
/// it: published under its host's lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub network: NetworkId,
    pub endpoint: EndpointId,
    pub ip: IpAddr,
    pub mac: MacAddr,
    /// Its host's VTEP (advertise address).
    pub vtep: IpAddr,
    /// Its container, and the names the embedded DNS answers for it there
    /// (lowercased: name, short id, hostname, aliases) with its PTR name.
    pub container: ContainerId,
    pub names: Vec<String>,
    pub canonical: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The store did not answer in time, or refused for want of a quorum.
    #[error("cluster store unavailable: {0}")]
    Unavailable(#[source] PortError),
    /// A compare-and-swap lost: what another network holds.
    #[error("already taken in the cluster store: {0:?}")]
    Taken(Taken),
    /// The network to remove is not in the store.
    #[error("network not in the cluster store")]
    Missing,
    /// The network to remove has endpoints published (on some host).
    #[error("network has {0} endpoints in the cluster store")]
    InUse(i64),
    /// A record in the store berth cannot read.
    #[error("unreadable cluster record {key}: {detail}")]
    Corrupt { key: String, detail: String },
}

/// The cluster store, as core needs it.
pub trait ClusterStore: Send + Sync + 'static {
    /// Every overlay network the store holds.
    fn networks(&self) -> ClusterFuture<'_, Vec<Network>>;

    /// Records a new overlay network and claims its name, VNI and subnets,
    /// all in one transaction: all or nothing, and [`ClusterError::Taken`]
    /// when another network holds one of them.
    fn create_network<'a>(&'a self, network: &'a Network) -> ClusterFuture<'a, ()>;

    /// Removes the network and releases its claims, in one transaction;
    /// [`ClusterError::InUse`] while any host publishes an endpoint on it.
    fn remove_network<'a>(&'a self, network: &'a Network) -> ClusterFuture<'a, ()>;

    /// Claims `ip` on `network` for `endpoint` if no one holds it:
    /// [`ClusterError::Taken`] if another endpoint does.
    fn claim_address<'a>(
        &'a self,
        network: &'a NetworkId,
        ip: IpAddr,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()>;

    /// Releases `ip` if `endpoint` holds it.
    fn release_address<'a>(
        &'a self,
        network: &'a NetworkId,
        ip: IpAddr,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()>;

    /// Publishes a local endpoint under this host's lease (kept, and
    /// published again under each new lease, until withdrawn).
    fn publish_endpoint<'a>(&'a self, record: &'a EndpointRecord) -> ClusterFuture<'a, ()>;

    /// Withdraws what [`Self::publish_endpoint`] published.
    fn withdraw_endpoint<'a>(
        &'a self,
        network: &'a NetworkId,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()>;
}

/// What the store's watch saw, delivered to the engine as a command.
#[derive(Clone, Debug)]
pub enum ClusterEvent {
    /// Every overlay network the store holds (at start, and after the
    /// watch lost track): the engine adopts the new ones and drops those
    /// gone.
    Snapshot(Vec<Network>),
    /// A network was recorded (by any host, this one included).
    NetworkPut(Box<Network>),
    /// A network was removed (by any host).
    NetworkDeleted(NetworkId),
    /// Every endpoint published (at start, and after the watch lost
    /// track).
    EndpointSnapshot(Vec<EndpointRecord>),
    /// An endpoint was published (by any host).
    EndpointPut(EndpointRecord),
    /// An endpoint was withdrawn, or its host's lease expired.
    EndpointDeleted(NetworkId, EndpointId),
}
