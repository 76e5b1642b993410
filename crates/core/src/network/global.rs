//! Overlay networks (scope `global`) on the engine: made by claiming them
//! in the cluster store first, then recorded here like any network; and the
//! networks other hosts make or remove, which reach the engine as
//! [`ClusterEvent`]s from the store's watch and are adopted or dropped
//! here. The store decides who wins a name, VNI or subnet; each host's
//! model follows it.

use std::collections::BTreeSet;

use berth_types::NetworkId;
use tracing::{info, warn};

use crate::cluster::{ClusterError, ClusterEvent, ClusterStore, Taken};
use crate::driver::overlay::{free_vni, OverlaySettings, VXLANID_OPTION};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Txn;
use crate::network::{plan_network, Network, NetworkCreate, RecordState, Surroundings};
use crate::ports::{Env, Host};
use berth_types::Driver;

/// How often a create re-plans after another host won the VNI or subnet
/// it picked.
const CLAIM_TRIES: usize = 8;

/// Why a daemon without a cluster store refuses overlay networks.
pub const NO_CLUSTER_STORE: &str = "overlay networks need a cluster store: start berthd with \
     --cluster-store etcd://HOST:2379 and --cluster-advertise IP|IFACE";

/// A cluster store failure, as the API answers it.
pub(crate) fn cluster_error(e: ClusterError) -> Error {
    match e {
        // Docker's 503 for a store it cannot reach: nothing changed.
        ClusterError::Unavailable(source) => {
            warn!(error = %source, "cluster store unavailable");
            Error::Unavailable("cluster store unavailable".to_owned())
        }
        other => Error::Internal {
            what: other.to_string(),
        },
    }
}

/// libnetwork's ActiveEndpointsError, for endpoints on other hosts.
fn in_use(network: &Network, endpoints: &str) -> Error {
    Error::Forbidden(format!(
        "error while removing network: network {} has active endpoints ({endpoints})",
        network.name
    ))
}

impl<H: Host> Engine<H> {
    /// The cluster store, or the refusal of a daemon without one.
    pub(crate) fn cluster_store(&self) -> Result<std::sync::Arc<dyn ClusterStore>> {
        self.cluster
            .clone()
            .ok_or_else(|| Error::Forbidden(NO_CLUSTER_STORE.to_owned()))
    }

    /// `network create -d overlay`: plans against every host's overlay
    /// networks, claims name, VNI and subnets in the store in one
    /// compare-and-swap, then records the network here. Another host
    /// winning the VNI or subnet first means planning again.
    pub(crate) async fn create_overlay_network(&mut self, req: NetworkCreate) -> Result<Network> {
        let cluster = self.cluster_store()?;
        for _ in 0..CLAIM_TRIES {
            let global = cluster.networks().await.map_err(cluster_error)?;
            let mut existing = self.networks().to_vec();
            let known: BTreeSet<NetworkId> = existing.iter().map(|n| n.id.clone()).collect();
            existing.extend(global.iter().filter(|g| !known.contains(&g.id)).cloned());
            let env = self.host.env();
            let id = NetworkId::from_bytes(env.random_id_bytes());
            let around = Surroundings {
                existing: &existing,
                // No host address goes on an overlay network's bridge, so
                // it shadows no route of this host's.
                host_routes: &[],
            };
            let mut network = plan_network(req.clone(), &around, &self.config, id, env.now())?;
            self.driver(&network)
                .plan(&self.host, &mut network, &existing, &self.config)
                .await?;
            let vni = free_vni(&global)?;
            network.overlay = Some(OverlaySettings { vni });
            network
                .options
                .insert(VXLANID_OPTION.to_owned(), vni.to_string());
            match cluster.create_network(&network).await {
                Ok(()) => {
                    self.adopt_network(&network).await?;
                    info!(network = %network.name, id = %network.id, vni, "overlay network created");
                    return Ok(network);
                }
                Err(ClusterError::Taken(Taken::Name)) => {
                    return Err(Error::Conflict(format!(
                        "network with name {} already exists",
                        network.name
                    )))
                }
                Err(ClusterError::Taken(taken)) => {
                    info!(network = %network.name, ?taken, "another host claimed it first: planning again");
                }
                Err(e) => return Err(cluster_error(e)),
            }
        }
        Err(Error::Unavailable(
            "cluster store busy: no VXLAN id and subnet could be claimed, try again".to_owned(),
        ))
    }

    /// `network rm` of an overlay network not in use here: out of the
    /// store (so every host drops it), then out of this host.
    pub(crate) async fn remove_overlay_network(&mut self, network: &Network) -> Result<()> {
        if let Some(cluster) = self.cluster.clone() {
            match cluster.remove_network(network).await {
                Ok(()) | Err(ClusterError::Missing) => {}
                // The store says whether any host has one; the names are
                // what this host's watch knows of them.
                Err(ClusterError::InUse(n)) => {
                    let suffix = format!(".{}", network.name);
                    let mut known: Vec<String> = self
                        .remote_endpoints
                        .values()
                        .filter(|r| r.network == network.id)
                        .map(|r| {
                            let name = r.canonical.strip_suffix(&suffix).unwrap_or(&r.canonical);
                            format!("name:{name:?} id:{:?}", r.endpoint.short())
                        })
                        .collect();
                    if known.is_empty() {
                        known.push(format!("{n} on other hosts"));
                    }
                    return Err(in_use(network, &known.join(", ")));
                }
                Err(e) => return Err(cluster_error(e)),
            }
        }
        self.drop_network(&network.id).await
    }

    /// Records a network of the store here; one already known is left as
    /// it is.
    async fn adopt_network(&mut self, network: &Network) -> Result<()> {
        let existing = self.networks();
        if existing.iter().any(|n| n.id == network.id) {
            return Ok(());
        }
        if let Some(local) = existing.iter().find(|n| n.name == network.name) {
            return Err(Error::Conflict(format!(
                "overlay network {} ({}) has the name of network {} on this host",
                network.name, network.id, local.id
            )));
        }
        // The cluster store holds the network durably (a record lost in a
        // crash comes back with the watch's snapshot), and its data plane
        // waits for the first endpoint here (`crate::network::plane`).
        self.commit(
            Txn::new(format!("record overlay network {}", network.name))
                .put_network(network, RecordState::Ready)
                .unsynced(),
        )?;
        self.network_event(network, "create", &[]);
        Ok(())
    }

    /// Takes an overlay network off this host, unless containers here
    /// still use it (then it stays until they leave, and the next
    /// snapshot drops it).
    async fn drop_network(&mut self, id: &NetworkId) -> Result<()> {
        let Some(network) = self.networks().iter().find(|n| &n.id == id).cloned() else {
            return Ok(());
        };
        if self.model.network_in_use(id) {
            warn!(network = %network.name, "overlay network removed from the cluster while in use here: kept until its containers leave");
            return Ok(());
        }
        self.destroy_network(&network).await
    }

    /// What the cluster store's watch saw, applied to this host.
    pub(crate) async fn cluster_event(&mut self, event: ClusterEvent) -> Result<()> {
        match event {
            ClusterEvent::Snapshot(networks) => {
                let ids: BTreeSet<&NetworkId> = networks.iter().map(|n| &n.id).collect();
                let gone: Vec<NetworkId> = self
                    .networks()
                    .iter()
                    .filter(|n| n.driver == Driver::Overlay && !ids.contains(&n.id))
                    .map(|n| n.id.clone())
                    .collect();
                for id in gone {
                    self.drop_network(&id).await?;
                }
                for network in &networks {
                    if let Err(e) = self.adopt_network(network).await {
                        warn!(network = %network.name, error = %e, "overlay network not adopted");
                    }
                }
                Ok(())
            }
            ClusterEvent::NetworkPut(network) => self.adopt_network(&network).await,
            ClusterEvent::NetworkDeleted(id) => self.drop_network(&id).await,
            ClusterEvent::EndpointSnapshot(records) => {
                self.endpoint_snapshot(records).await;
                Ok(())
            }
            ClusterEvent::EndpointPut(record) => {
                self.endpoint_put(record).await;
                Ok(())
            }
            ClusterEvent::EndpointDeleted(network, endpoint) => {
                self.endpoint_deleted(&network, &endpoint).await;
                Ok(())
            }
        }
    }
}
