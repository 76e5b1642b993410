//! The one in-memory model of berth's state: networks, containers with
//! their endpoints, and the addresses those hold. Loaded from the store
//! once, owned by the engine, and changed only through [`Txn`]s: each is one
//! store transaction, applied here once the store took it, so the model
//! never holds what the store refused. Every read, the API's and the
//! engine's, is served from here, never decoded from SQLite again.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use berth_types::{ContainerId, NetworkId};

use crate::container::table::ContainerTable;
use crate::container::Container;
use crate::error::{Error, Result};
use crate::network::{Network, RecordState};
use crate::ports::{Store, StoreConflict, Write};
use crate::volume::{Volume, VolumeTable};

/// The networks, as one snapshot that readers share and each change
/// replaces: networks are few and change rarely, reads are every request.
#[derive(Default)]
pub struct NetworkTable {
    current: RwLock<Arc<[Network]>>,
}

impl NetworkTable {
    /// Every network that exists for users (those being removed are gone
    /// from here already), oldest first.
    pub fn snapshot(&self) -> Arc<[Network]> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn replace(&self, change: impl FnOnce(&mut Vec<Network>)) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = current.to_vec();
        change(&mut next);
        *current = next.into();
    }

    fn put(&self, network: &Network) {
        self.replace(|all| match all.iter_mut().find(|n| n.id == network.id) {
            Some(old) => *old = network.clone(),
            None => all.push(network.clone()),
        });
    }

    fn remove(&self, id: &NetworkId) {
        self.replace(|all| all.retain(|n| &n.id != id));
    }
}

/// A change of state, committed as one store transaction.
pub(crate) struct Txn {
    /// What the change does, for the error if the store refuses it.
    what: String,
    /// Docker's error for a unique constraint the change breaks.
    conflict: fn(String) -> Error,
    writes: Vec<Write>,
    /// See [`Store::commit_unsynced`].
    unsynced: bool,
}

impl Txn {
    pub(crate) fn new(what: impl Into<String>) -> Txn {
        Txn {
            what: what.into(),
            conflict: Error::Conflict,
            writes: Vec::new(),
            unsynced: false,
        }
    }

    /// The change records only kernel state a reboot erases anyway, so it
    /// need not wait for the disk (see [`Store::commit_unsynced`]).
    pub(crate) fn unsynced(mut self) -> Txn {
        self.unsynced = true;
        self
    }

    /// A unique constraint broken by this change is `conflict`'s error
    /// (an address taken is Docker's 403, a name taken its 409).
    pub(crate) fn on_conflict(mut self, conflict: fn(String) -> Error) -> Txn {
        self.conflict = conflict;
        self
    }

    pub(crate) fn put_network(mut self, network: &Network, state: RecordState) -> Txn {
        self.writes
            .push(Write::PutNetwork(Box::new(network.clone()), state));
        self
    }

    pub(crate) fn delete_network(mut self, id: &NetworkId) -> Txn {
        self.writes.push(Write::DeleteNetwork(id.clone()));
        self
    }

    pub(crate) fn put_container(mut self, container: &Container) -> Txn {
        self.writes
            .push(Write::PutContainer(Box::new(container.clone())));
        self
    }

    pub(crate) fn delete_container(mut self, id: &ContainerId) -> Txn {
        self.writes.push(Write::DeleteContainer(id.clone()));
        self
    }

    pub(crate) fn put_volume(mut self, volume: &Volume) -> Txn {
        self.writes.push(Write::PutVolume(Box::new(volume.clone())));
        self
    }

    pub(crate) fn delete_volume(mut self, name: &str) -> Txn {
        self.writes.push(Write::DeleteVolume(name.to_owned()));
        self
    }
}

/// Whether any of `containers` has an endpoint on `network` (Docker's
/// "active endpoints").
pub(crate) fn has_endpoints_on(containers: &[Arc<Container>], network: &NetworkId) -> bool {
    containers.iter().any(|c| {
        c.attachments
            .iter()
            .any(|a| &a.network == network && a.endpoint.is_some())
    })
}

pub(crate) struct Model {
    pub(crate) networks: Arc<NetworkTable>,
    pub(crate) containers: Arc<ContainerTable>,
    pub(crate) volumes: Arc<VolumeTable>,
    /// Addresses held by endpoints, per network: what IPAM must not hand
    /// out again. Derived from the containers' endpoints.
    addresses: HashMap<NetworkId, BTreeSet<IpAddr>>,
}

impl Model {
    /// Loads the store once; fails only if it cannot be read.
    pub(crate) fn load<S: Store>(store: &S) -> Result<Model> {
        let networks: Vec<Network> = store
            .networks()
            .map_err(Error::store("load networks"))?
            .into_iter()
            .filter(|(_, state)| *state != RecordState::Removing)
            .map(|(n, _)| n)
            .collect();
        let containers = store
            .containers()
            .map_err(Error::store("load containers"))?;
        let volumes = store.volumes().map_err(Error::store("load volumes"))?;
        let mut model = Model {
            networks: Arc::new(NetworkTable {
                current: RwLock::new(networks.into()),
            }),
            containers: Arc::new(ContainerTable::new(Vec::new())),
            volumes: Arc::new(VolumeTable::new(volumes)),
            addresses: HashMap::new(),
        };
        for c in containers {
            model.put_container(c);
        }
        Ok(model)
    }

    /// The addresses in use on `network`.
    pub(crate) fn addresses_in_use(&self, network: &NetworkId) -> &BTreeSet<IpAddr> {
        static NONE: BTreeSet<IpAddr> = BTreeSet::new();
        self.addresses.get(network).unwrap_or(&NONE)
    }

    /// Whether any container has an endpoint on `network`.
    pub(crate) fn network_in_use(&self, network: &NetworkId) -> bool {
        has_endpoints_on(&self.containers.all(), network)
    }

    /// Commits `txn` to `store`, then applies it here.
    pub(crate) fn commit<S: Store>(&mut self, store: &S, txn: Txn) -> Result<()> {
        let committed = if txn.unsynced {
            store.commit_unsynced(&txn.writes)
        } else {
            store.commit(&txn.writes)
        };
        if let Err(e) = committed {
            return Err(match e.downcast::<StoreConflict>() {
                Ok(conflict) => (txn.conflict)(conflict.0),
                Err(source) => Error::Store {
                    what: txn.what,
                    source,
                },
            });
        }
        for write in txn.writes {
            match write {
                Write::PutNetwork(network, RecordState::Removing) => {
                    self.networks.remove(&network.id)
                }
                Write::PutNetwork(network, _) => self.networks.put(&network),
                Write::DeleteNetwork(id) => {
                    self.networks.remove(&id);
                    self.addresses.remove(&id);
                }
                Write::PutContainer(c) => self.put_container(*c),
                Write::DeleteContainer(id) => {
                    if let Some(old) = self.containers.remove(&id) {
                        self.release(&old);
                    }
                }
                Write::PutVolume(volume) => self.volumes.put(&volume),
                Write::DeleteVolume(name) => self.volumes.remove(&name),
            }
        }
        Ok(())
    }

    fn put_container(&mut self, c: Container) {
        if let Some(old) = self.containers.get(&c.id) {
            self.release(&old);
        }
        for a in &c.attachments {
            if let Some(endpoint) = &a.endpoint {
                self.addresses
                    .entry(a.network.clone())
                    .or_default()
                    .extend(endpoint.addresses().map(|net| net.addr()));
            }
        }
        self.containers.put(c);
    }

    fn release(&mut self, c: &Container) {
        for a in &c.attachments {
            if let (Some(endpoint), Some(set)) = (&a.endpoint, self.addresses.get_mut(&a.network)) {
                for net in endpoint.addresses() {
                    set.remove(&net.addr());
                }
            }
        }
    }
}
