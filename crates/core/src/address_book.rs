//! The addresses given out on each network, as the store's allocations hold
//! them. A start picks the lowest free address; reading every allocation of
//! the network from the store for that made a start slower the more
//! containers a network had. The engine, the only writer of allocations,
//! loads a network's set once and then keeps it in step; after a store
//! error it drops the set, so the next use reloads it.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use berth_types::NetworkId;

use crate::error::{Error, Result};
use crate::ports::Store;

#[derive(Default)]
pub(crate) struct AddressBook {
    by_network: HashMap<NetworkId, BTreeSet<IpAddr>>,
}

impl AddressBook {
    /// The addresses in use on `network`, loaded from `store` the first time.
    pub(crate) fn in_use<S: Store>(
        &mut self,
        store: &S,
        network: &NetworkId,
    ) -> Result<&BTreeSet<IpAddr>> {
        if !self.by_network.contains_key(network) {
            let loaded = store
                .allocated_addresses(network)
                .map_err(Error::store(format!("list addresses of network {network}")))?;
            self.by_network.insert(network.clone(), loaded);
        }
        Ok(self.by_network.entry(network.clone()).or_default())
    }

    /// The store recorded `addresses` on `network`.
    pub(crate) fn added(&mut self, network: &NetworkId, addresses: &[IpAddr]) {
        if let Some(set) = self.by_network.get_mut(network) {
            set.extend(addresses.iter().copied());
        }
    }

    /// The store released `addresses` on `network`.
    pub(crate) fn removed(&mut self, network: &NetworkId, addresses: &[IpAddr]) {
        if let Some(set) = self.by_network.get_mut(network) {
            for a in addresses {
                set.remove(a);
            }
        }
    }

    /// What the store holds for `network` is no longer known here.
    pub(crate) fn forget(&mut self, network: &NetworkId) {
        self.by_network.remove(network);
    }

    pub(crate) fn forget_all(&mut self) {
        self.by_network.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn changes_apply_only_to_loaded_networks() {
        let mut book = AddressBook::default();
        let net = NetworkId::from_bytes([1; 32]);
        // Not loaded: nothing to keep in step, the next load reads it all.
        book.added(&net, &[ip("10.0.0.2")]);
        assert!(book.by_network.is_empty());
        book.by_network.insert(net.clone(), BTreeSet::new());
        book.added(&net, &[ip("10.0.0.2"), ip("10.0.0.3")]);
        book.removed(&net, &[ip("10.0.0.2")]);
        assert_eq!(book.by_network[&net], BTreeSet::from([ip("10.0.0.3")]));
        book.forget(&net);
        assert!(book.by_network.is_empty());
    }
}
