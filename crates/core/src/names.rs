//! The embedded DNS's view of containers: per network, which names map to
//! which addresses. Kept in memory and changed per container (start, exit,
//! connect, disconnect), so a query costs a few hash lookups whatever the
//! number of containers, and a change costs work for one container only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use berth_types::{ContainerId, NetworkId};

use crate::container::Container;
use crate::model::Network;
use crate::ports::NameLookup;

/// One container's presence on one network.
#[derive(Clone, Debug)]
struct Membership {
    network: NetworkId,
    addresses: Vec<IpAddr>,
    /// Lowercased: name, aliases, short id, hostname.
    names: Vec<String>,
    /// What PTR answers give (the container's name).
    canonical: String,
}

/// Who answers to one name on one network, with their addresses there.
type Holders = Vec<(ContainerId, Vec<IpAddr>)>;

#[derive(Default)]
struct Index {
    /// network -> lowercased name -> holders.
    by_name: HashMap<NetworkId, HashMap<String, Holders>>,
    /// network -> address -> canonical name.
    by_address: HashMap<NetworkId, HashMap<IpAddr, String>>,
    memberships: HashMap<ContainerId, Vec<Membership>>,
}

/// Thread-safe name index implementing [`NameLookup`].
#[derive(Default)]
pub struct NameIndex {
    index: RwLock<Index>,
}

impl NameIndex {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        // The index holds no invariant a panicking writer could break
        // half-way that matters more than serving names.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `c` as it is now: its live endpoints on user-defined
    /// networks (the default bridge has no embedded DNS, as in Docker).
    pub fn set_container(&self, c: &Container, networks: &[Network]) {
        let mut memberships = Vec::new();
        for attachment in &c.attachments {
            let Some(endpoint) = &attachment.endpoint else {
                continue;
            };
            if !networks
                .iter()
                .any(|n| n.id == attachment.network && !n.is_predefined())
            {
                continue;
            }
            let mut names = vec![c.name.to_lowercase(), c.id.short().to_owned()];
            if !c.dns.hostname.is_empty() {
                names.push(c.dns.hostname.to_lowercase());
            }
            names.extend(attachment.aliases.iter().map(|a| a.to_lowercase()));
            names.sort();
            names.dedup();
            memberships.push(Membership {
                network: attachment.network.clone(),
                addresses: endpoint
                    .ipv4
                    .iter()
                    .chain(endpoint.ipv6.iter())
                    .map(|n| n.addr())
                    .collect(),
                names,
                canonical: c.name.clone(),
            });
        }
        let mut index = self.write();
        index.remove(&c.id);
        // Starting counts: the process may query before the start is recorded.
        if (c.is_running() || c.state.starting) && !memberships.is_empty() {
            index.add(&c.id, memberships);
        }
    }

    pub fn remove_container(&self, id: &ContainerId) {
        self.write().remove(id);
    }
}

impl Index {
    fn remove(&mut self, id: &ContainerId) {
        for m in self.memberships.remove(id).unwrap_or_default() {
            if let Some(names) = self.by_name.get_mut(&m.network) {
                for name in &m.names {
                    if let Some(holders) = names.get_mut(name) {
                        holders.retain(|(c, _)| c != id);
                        if holders.is_empty() {
                            names.remove(name);
                        }
                    }
                }
            }
            if let Some(addresses) = self.by_address.get_mut(&m.network) {
                for a in &m.addresses {
                    addresses.remove(a);
                }
            }
        }
    }

    fn add(&mut self, id: &ContainerId, memberships: Vec<Membership>) {
        for m in &memberships {
            let names = self.by_name.entry(m.network.clone()).or_default();
            for name in &m.names {
                names
                    .entry(name.clone())
                    .or_default()
                    .push((id.clone(), m.addresses.clone()));
            }
            let addresses = self.by_address.entry(m.network.clone()).or_default();
            for a in &m.addresses {
                addresses.insert(*a, m.canonical.clone());
            }
        }
        self.memberships.insert(id.clone(), memberships);
    }
}

impl NameLookup for NameIndex {
    fn resolve(&self, asker: &ContainerId, name: &str) -> Option<Vec<IpAddr>> {
        let name = name.trim_end_matches('.').to_lowercase();
        let index = self.read();
        let mut found: Option<Vec<IpAddr>> = None;
        for m in index.memberships.get(asker)? {
            if let Some(holders) = index.by_name.get(&m.network).and_then(|n| n.get(&name)) {
                let list = found.get_or_insert_with(Vec::new);
                for (_, addresses) in holders {
                    list.extend(
                        addresses
                            .iter()
                            .filter(|a| !list.contains(a))
                            .copied()
                            .collect::<Vec<_>>(),
                    );
                }
            }
        }
        found
    }

    fn reverse(&self, asker: &ContainerId, ip: IpAddr) -> Option<String> {
        let index = self.read();
        index
            .memberships
            .get(asker)?
            .iter()
            .find_map(|m| index.by_address.get(&m.network)?.get(&ip).cloned())
    }
}
