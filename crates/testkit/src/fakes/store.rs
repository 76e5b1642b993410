//! [`MemStore`]: the store's contract in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use berth_core::container::Container;
use berth_core::network::{Network, RecordState};
use berth_core::ports::{PortError, Store, StoreConflict, Write};
use berth_core::volume::Volume;
use berth_types::{ContainerId, NetworkId};

use super::{fail, lock};

/// The store's contract in memory, unique names and addresses included,
/// each commit all or nothing.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<MemState>,
    /// Refuses container writes, as SQLite on a full disk.
    full: std::sync::atomic::AtomicBool,
}

#[derive(Clone, Default)]
struct MemState {
    networks: BTreeMap<NetworkId, (Network, RecordState)>,
    containers: BTreeMap<ContainerId, Container>,
    volumes: BTreeMap<String, Volume>,
}

fn conflict(what: String) -> PortError {
    Box::new(StoreConflict(what))
}

impl MemState {
    fn apply(&mut self, write: &Write) -> Result<(), PortError> {
        match write {
            Write::PutNetwork(network, state) => {
                if self
                    .networks
                    .values()
                    .any(|(n, _)| n.name == network.name && n.id != network.id)
                {
                    return Err(conflict(format!("network {} exists", network.name)));
                }
                self.networks
                    .insert(network.id.clone(), (Network::clone(network), *state));
            }
            Write::DeleteNetwork(id) => {
                let in_use = self.containers.values().any(|c| {
                    c.attachments
                        .iter()
                        .any(|a| &a.network == id && a.endpoint.is_some())
                });
                if in_use {
                    return Err(conflict(format!("network {id} has active endpoints")));
                }
                self.networks.remove(id);
            }
            Write::PutContainer(container) => {
                if let Some(holder) = self
                    .containers
                    .values()
                    .find(|c| c.name == container.name && c.id != container.id)
                {
                    return Err(conflict(format!(
                        "name {} is used by {}",
                        container.name, holder.id
                    )));
                }
                for a in &container.attachments {
                    let Some(endpoint) = &a.endpoint else {
                        continue;
                    };
                    if !self.networks.contains_key(&a.network) {
                        return Err(fail(format!("no network {}", a.network)));
                    }
                    let taken = self
                        .containers
                        .values()
                        .filter(|c| c.id != container.id)
                        .flat_map(|c| c.attachments.iter())
                        .filter(|other| other.network == a.network)
                        .filter_map(|other| other.endpoint.as_ref())
                        .any(|other| {
                            other
                                .addresses()
                                .any(|x| endpoint.addresses().any(|y| x.addr() == y.addr()))
                        });
                    if taken {
                        return Err(conflict("Address already in use".to_owned()));
                    }
                }
                self.containers
                    .insert(container.id.clone(), Container::clone(container));
            }
            Write::DeleteContainer(id) => {
                self.containers.remove(id);
            }
            Write::PutVolume(volume) => {
                self.volumes
                    .insert(volume.name.clone(), Volume::clone(volume));
            }
            Write::DeleteVolume(name) => {
                self.volumes.remove(name);
            }
        }
        Ok(())
    }
}

impl MemStore {
    pub fn state_of(&self, id: &NetworkId) -> Option<RecordState> {
        lock(&self.state).networks.get(id).map(|(_, s)| *s)
    }

    /// While set, container writes fail as on a full disk.
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::Relaxed);
    }

    /// Every stored endpoint, with its container.
    pub fn endpoints(&self) -> Vec<StoredEndpoint> {
        lock(&self.state)
            .containers
            .values()
            .flat_map(|c| {
                c.attachments.iter().filter_map(|a| {
                    Some(StoredEndpoint {
                        container: c.id.clone(),
                        network: a.network.clone(),
                        endpoint: a.endpoint.clone()?,
                    })
                })
            })
            .collect()
    }

    /// Writes `container` as a crashed daemon may have left it.
    pub fn update_container(&self, container: &Container) -> Result<(), PortError> {
        self.commit(&[Write::PutContainer(Box::new(container.clone()))])
    }

    /// Sets a network's record state as a crashed daemon may have left it.
    pub fn set_network_state(&self, id: &NetworkId, state: RecordState) -> Result<(), PortError> {
        let network = lock(&self.state)
            .networks
            .get(id)
            .map(|(n, _)| n.clone())
            .ok_or_else(|| fail(format!("no network {id}")))?;
        self.commit(&[Write::PutNetwork(Box::new(network), state)])
    }

    /// The addresses allocated on `network`, as the store holds them.
    pub fn allocated_addresses(&self, network: &NetworkId) -> BTreeSet<IpAddr> {
        lock(&self.state)
            .containers
            .values()
            .flat_map(|c| c.attachments.iter())
            .filter(|a| &a.network == network)
            .filter_map(|a| a.endpoint.as_ref())
            .flat_map(|e| e.addresses().map(|net| net.addr()))
            .collect()
    }
}

/// An endpoint as [`MemStore::endpoints`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEndpoint {
    pub container: ContainerId,
    pub network: NetworkId,
    pub endpoint: berth_core::container::Endpoint,
}

impl Store for MemStore {
    fn networks(&self) -> Result<Vec<(Network, RecordState)>, PortError> {
        Ok(lock(&self.state).networks.values().cloned().collect())
    }

    fn containers(&self) -> Result<Vec<Container>, PortError> {
        Ok(lock(&self.state).containers.values().cloned().collect())
    }

    fn volumes(&self) -> Result<Vec<Volume>, PortError> {
        let mut all: Vec<Volume> = lock(&self.state).volumes.values().cloned().collect();
        all.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        Ok(all)
    }

    fn commit(&self, writes: &[Write]) -> Result<(), PortError> {
        let touches_containers = writes
            .iter()
            .any(|w| matches!(w, Write::PutContainer(_) | Write::DeleteContainer(_)));
        if touches_containers && self.full.load(Ordering::Relaxed) {
            return Err(fail("database or disk is full"));
        }
        let mut state = lock(&self.state);
        let mut next = state.clone();
        for write in writes {
            next.apply(write)?;
        }
        *state = next;
        Ok(())
    }
}
