//! Network use cases on the engine: create, remove, prune.

use berth_types::{Driver, NetworkId};
use tracing::{info, warn};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::events::EventType;
use crate::filter::PruneFilter;
use crate::model::Txn;
use crate::network::{plan_network, Network, NetworkCreate, RecordState, Surroundings};
use crate::ports::{Env, FirewallChange, Host, NetOps};

impl<H: Host> Engine<H> {
    pub async fn create_network(&mut self, req: NetworkCreate) -> Result<Network> {
        if req.driver == Driver::Overlay.as_str() {
            return self.create_overlay_network(req).await;
        }
        let existing = self.networks();
        let host_routes = self
            .host
            .net()
            .host_routes()
            .await
            .map_err(Error::kernel("list the host's routes"))?;
        let env = self.host.env();
        let id = NetworkId::from_bytes(env.random_id_bytes());
        let around = Surroundings {
            existing: &existing,
            host_routes: &host_routes,
        };
        let mut network = plan_network(req, &around, &self.config, id, env.now())?;
        let driver = self.driver(&network);
        driver
            .plan(&self.host, &mut network, &existing, &self.config)
            .await?;
        // A removed network's kernel objects may still be going (its
        // bridge name taken until then).
        driver.settle(Some(&network)).await?;

        self.commit(
            Txn::new(format!("record network {}", network.name))
                .put_network(&network, RecordState::Creating),
        )?;
        if let Err(e) = self.make_network(&network).await {
            self.undo_create(&network).await;
            return Err(e);
        }
        self.commit(
            Txn::new(format!("mark network {} ready", network.name))
                .put_network(&network, RecordState::Ready),
        )?;
        info!(network = %network.name, id = %network.id, "network created");
        self.network_event(&network, "create", &[]);
        Ok(network)
    }

    /// The driver's kernel objects and the network's firewall elements.
    async fn make_network(&self, network: &Network) -> Result<()> {
        self.driver(network)
            .create_network(&self.host, network, &self.config)
            .await?;
        let change = FirewallChange {
            add_networks: self.fw_network(network).into_iter().collect(),
            ..Default::default()
        };
        self.update_firewall(change).await
    }

    /// Best effort: the error that made us undo is the one worth reporting;
    /// what cannot be undone now, start-up reconcile finishes.
    async fn undo_create(&mut self, network: &Network) {
        if let Err(e) = self
            .driver(network)
            .delete_network(&self.host, network)
            .await
        {
            warn!(network = %network.name, error = %e, "undo: kernel objects not removed");
        }
        let txn = Txn::new(format!("forget network {}", network.name)).delete_network(&network.id);
        if let Err(e) = self.commit(txn) {
            warn!(network = %network.name, error = %e, "undo: record not removed");
        }
    }

    pub async fn remove_network(&mut self, reference: &str) -> Result<Network> {
        let network = self.network(reference)?;
        if network.is_predefined() {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                network.name
            )));
        }
        if self.model.network_in_use(&network.id) {
            // libnetwork's ActiveEndpointsError: each endpoint by its
            // container's name and its short id.
            let endpoints: Vec<String> = self
                .model
                .containers
                .all()
                .iter()
                .flat_map(|c| {
                    c.attachments
                        .iter()
                        .filter(|a| a.network == network.id)
                        .filter_map(|a| a.endpoint.as_ref())
                        .map(|e| format!("name:{:?} id:{:?}", c.name, e.id.short()))
                })
                .collect();
            return Err(Error::Forbidden(format!(
                "error while removing network: network {} has active endpoints ({})",
                network.name,
                endpoints.join(", ")
            )));
        }
        if network.driver == Driver::Overlay {
            self.remove_overlay_network(&network).await?;
        } else {
            self.destroy_network(&network).await?;
        }
        Ok(network)
    }

    /// Removes a custom network that has been checked to be removable: its
    /// record, its firewall elements, then its driver's kernel objects. The
    /// record goes first: a crash after it leaves firewall elements and
    /// kernel objects no record claims, and start-up reconcile's full
    /// firewall apply and orphan sweep remove both.
    pub(crate) async fn destroy_network(&mut self, network: &Network) -> Result<()> {
        self.commit(
            Txn::new(format!("forget network {}", network.name)).delete_network(&network.id),
        )?;
        self.flows.forget_network(&network.id);
        let change = FirewallChange {
            remove_networks: self.fw_network(network).into_iter().collect(),
            ..Default::default()
        };
        if let Err(e) = self.update_firewall(change).await {
            // Stale elements for a gone bridge match nothing; the next full
            // apply drops them.
            warn!(network = %network.name, error = %e, "firewall elements not removed");
        }
        if self.forget_kernel_objects(network) {
            if let Err(e) = self
                .driver(network)
                .delete_network(&self.host, network)
                .await
            {
                warn!(network = %network.name, error = %e, "kernel objects not removed: the next start removes them");
            }
        }
        info!(network = %network.name, id = %network.id, "network removed");
        self.network_event(network, "destroy", &[]);
        Ok(())
    }

    pub async fn prune_networks(&mut self, filter: &PruneFilter) -> Result<Vec<Network>> {
        let mut removed = Vec::new();
        for network in self.networks().iter() {
            // An overlay network is the cluster's: `network rm` removes it
            // from every host, a prune of one host's networks does not.
            if network.is_predefined()
                || network.driver == Driver::Overlay
                || !filter.matches(network)
                || self.model.network_in_use(&network.id)
            {
                continue;
            }
            match self.destroy_network(network).await {
                Ok(()) => removed.push(network.clone()),
                // Docker's prune skips what it cannot remove and carries on.
                Err(e) => warn!(network = %network.name, error = %e, "prune: network not removed"),
            }
        }
        self.event_log
            .pruned(EventType::Network, 0, self.host.env().now());
        Ok(removed)
    }
}
