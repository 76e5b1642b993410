//! The engine: the one owner of mutation. API handlers send it commands and
//! await the reply, so kernel, IPAM and store changes never race, and a
//! command runs to the end even if the client that asked goes away (a
//! half-done change is what crash safety is about). Reads go straight to the
//! store through the handle.

use std::sync::Arc;

use berth_types::NetworkId;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::EngineConfig;
use crate::error::{Error, Result};
use crate::filter::{ListFilter, PruneFilter};
use crate::lookup::find_network;
use crate::model::{Network, RecordState};
use crate::network::{bridge_spec, plan_network, NetworkCreate, Surroundings};
use crate::ports::{Env, Host, NetOps, Store};

/// Bounded so a flood of requests queues in the API, not in memory here.
const COMMAND_QUEUE: usize = 256;

type Reply<T> = oneshot::Sender<Result<T>>;

enum Command {
    CreateNetwork(NetworkCreate, Reply<Network>),
    RemoveNetwork(String, Reply<Network>),
    PruneNetworks(PruneFilter, Reply<Vec<Network>>),
}

pub struct Engine<H: Host> {
    pub(crate) host: Arc<H>,
    pub(crate) config: EngineConfig,
}

impl<H: Host> Engine<H> {
    pub fn new(host: Arc<H>, config: EngineConfig) -> Self {
        Engine { host, config }
    }

    /// Runs the engine on its own task; returns the handle to talk to it and
    /// the task, which ends when every handle is dropped.
    pub fn spawn(self) -> (EngineHandle<H>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let handle = EngineHandle {
            host: Arc::clone(&self.host),
            tx,
        };
        (handle, tokio::spawn(self.run(rx)))
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(command) = rx.recv().await {
            // A requester that hung up is no reason to stop: the work is done
            // either way, so send errors are ignored.
            match command {
                Command::CreateNetwork(req, reply) => {
                    let _ = reply.send(self.create_network(req).await);
                }
                Command::RemoveNetwork(reference, reply) => {
                    let _ = reply.send(self.remove_network(&reference).await);
                }
                Command::PruneNetworks(filter, reply) => {
                    let _ = reply.send(self.prune_networks(&filter).await);
                }
            }
        }
    }

    fn live_networks(&self) -> Result<Vec<Network>> {
        live_networks(self.host.store())
    }

    pub async fn create_network(&mut self, req: NetworkCreate) -> Result<Network> {
        let existing = self.live_networks()?;
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
        let network = plan_network(req, &around, &self.config, id, env.now())?;

        let store = self.host.store();
        store
            .insert_network(&network, RecordState::Creating)
            .map_err(Error::store(format!("record network {}", network.name)))?;
        if let Some(spec) = bridge_spec(&network) {
            if let Err(source) = self.host.net().ensure_bridge(&spec).await {
                self.undo_create(&network).await;
                return Err(Error::Kernel {
                    what: format!("create bridge {} for network {}", spec.name, network.name),
                    source,
                });
            }
        }
        store
            .set_network_state(&network.id, RecordState::Ready)
            .map_err(Error::store(format!("mark network {} ready", network.name)))?;
        info!(network = %network.name, id = %network.id, "network created");
        Ok(network)
    }

    /// Best effort: the error that made us undo is the one worth reporting;
    /// what cannot be undone now, start-up reconcile finishes.
    async fn undo_create(&self, network: &Network) {
        if let Some(bridge) = &network.bridge {
            if let Err(e) = self.host.net().delete_link(&bridge.name).await {
                warn!(bridge = %bridge.name, error = %e, "undo: bridge not removed");
            }
        }
        if let Err(e) = self.host.store().delete_network(&network.id) {
            warn!(network = %network.name, error = %e, "undo: record not removed");
        }
    }

    pub async fn remove_network(&mut self, reference: &str) -> Result<Network> {
        let networks = self.live_networks()?;
        let network = find_network(&networks, reference)?.clone();
        if network.is_predefined() {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                network.name
            )));
        }
        self.destroy_network(&network).await?;
        Ok(network)
    }

    /// Removes a custom network that has been checked to be removable.
    async fn destroy_network(&self, network: &Network) -> Result<()> {
        let store = self.host.store();
        store
            .set_network_state(&network.id, RecordState::Removing)
            .map_err(Error::store(format!(
                "mark network {} for removal",
                network.name
            )))?;
        if let Some(bridge) = &network.bridge {
            if let Err(source) = self.host.net().delete_link(&bridge.name).await {
                // The network is still whole: give it back to the user.
                if let Err(e) = store.set_network_state(&network.id, RecordState::Ready) {
                    warn!(network = %network.name, error = %e, "network left marked for removal");
                }
                return Err(Error::Kernel {
                    what: format!("remove bridge {} of network {}", bridge.name, network.name),
                    source,
                });
            }
        }
        store
            .delete_network(&network.id)
            .map_err(Error::store(format!("forget network {}", network.name)))?;
        info!(network = %network.name, id = %network.id, "network removed");
        Ok(())
    }

    pub async fn prune_networks(&mut self, filter: &PruneFilter) -> Result<Vec<Network>> {
        let mut removed = Vec::new();
        for network in self.live_networks()? {
            if network.is_predefined() || !filter.matches(&network) {
                continue;
            }
            match self.destroy_network(&network).await {
                Ok(()) => removed.push(network),
                // Docker's prune skips what it cannot remove and carries on.
                Err(e) => warn!(network = %network.name, error = %e, "prune: network not removed"),
            }
        }
        Ok(removed)
    }
}

/// Networks that exist for users: not those being removed.
fn live_networks<S: Store>(store: &S) -> Result<Vec<Network>> {
    let all = store.networks().map_err(Error::store("list networks"))?;
    Ok(all
        .into_iter()
        .filter(|(_, state)| *state != RecordState::Removing)
        .map(|(n, _)| n)
        .collect())
}

/// How the rest of the daemon talks to the engine: mutations as commands,
/// reads directly from the store.
pub struct EngineHandle<H: Host> {
    host: Arc<H>,
    tx: mpsc::Sender<Command>,
}

impl<H: Host> Clone for EngineHandle<H> {
    fn clone(&self) -> Self {
        EngineHandle {
            host: Arc::clone(&self.host),
            tx: self.tx.clone(),
        }
    }
}

impl<H: Host> EngineHandle<H> {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| Error::ShutDown)?;
        answer.await.map_err(|_| Error::ShutDown)?
    }

    pub async fn create_network(&self, req: NetworkCreate) -> Result<Network> {
        self.ask(|r| Command::CreateNetwork(req, r)).await
    }

    pub async fn remove_network(&self, reference: String) -> Result<Network> {
        self.ask(|r| Command::RemoveNetwork(reference, r)).await
    }

    pub async fn prune_networks(&self, filter: PruneFilter) -> Result<Vec<Network>> {
        self.ask(|r| Command::PruneNetworks(filter, r)).await
    }

    fn networks(&self) -> Result<Vec<Network>> {
        live_networks(self.host.store())
    }

    /// Networks matching `filter`, sorted by name as `docker network ls` shows them.
    pub fn list_networks(&self, filter: &ListFilter) -> Result<Vec<Network>> {
        let mut networks: Vec<Network> = self
            .networks()?
            .into_iter()
            .filter(|n| filter.matches(n, false))
            .collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }

    pub fn inspect_network(&self, reference: &str) -> Result<Network> {
        let networks = self.networks()?;
        find_network(&networks, reference).cloned()
    }

    pub fn now(&self) -> std::time::SystemTime {
        self.host.env().now()
    }
}
