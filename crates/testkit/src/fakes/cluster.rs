//! An in-memory cluster store that enforces the claims as etcd's
//! transactions do (one name, VNI and subnet per network), can be made
//! unreachable, and can let "another host" win the next claim.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use berth_core::cluster::{ClusterError, ClusterFuture, ClusterStore, Taken};
use berth_core::network::Network;
use berth_types::NetworkId;

use super::{fail, lock};

#[derive(Default)]
pub struct FakeCluster {
    networks: Mutex<BTreeMap<NetworkId, Network>>,
    /// Every call answers "unavailable" while set.
    pub unreachable: AtomicBool,
    /// Recorded just before the next claim is checked: another host
    /// winning a race.
    pub before_next_claim: Mutex<Option<Network>>,
}

impl FakeCluster {
    /// Records `network` as another host would (no claim checks).
    pub fn insert(&self, network: Network) {
        lock(&self.networks).insert(network.id.clone(), network);
    }

    pub fn all(&self) -> Vec<Network> {
        lock(&self.networks).values().cloned().collect()
    }

    fn reachable(&self) -> Result<(), ClusterError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(ClusterError::Unavailable(fail("etcd: no answer")));
        }
        Ok(())
    }

    fn claim(&self, network: &Network) -> Result<(), ClusterError> {
        self.reachable()?;
        if let Some(winner) = lock(&self.before_next_claim).take() {
            self.insert(winner);
        }
        let mut networks = lock(&self.networks);
        for other in networks.values() {
            if other.name == network.name {
                return Err(ClusterError::Taken(Taken::Name));
            }
            if let (Some(a), Some(b)) = (&other.overlay, &network.overlay) {
                if a.vni == b.vni {
                    return Err(ClusterError::Taken(Taken::Vni(a.vni)));
                }
            }
            if let Some(p) = network
                .subnets
                .iter()
                .find(|p| other.subnets.iter().any(|o| o.subnet == p.subnet))
            {
                return Err(ClusterError::Taken(Taken::Subnet(p.subnet)));
            }
        }
        networks.insert(network.id.clone(), network.clone());
        Ok(())
    }
}

impl ClusterStore for FakeCluster {
    fn networks(&self) -> ClusterFuture<'_, Vec<Network>> {
        Box::pin(async move {
            self.reachable()?;
            Ok(self.all())
        })
    }

    fn create_network<'a>(&'a self, network: &'a Network) -> ClusterFuture<'a, ()> {
        Box::pin(async move { self.claim(network) })
    }

    fn remove_network<'a>(&'a self, network: &'a Network) -> ClusterFuture<'a, ()> {
        Box::pin(async move {
            self.reachable()?;
            match lock(&self.networks).remove(&network.id) {
                Some(_) => Ok(()),
                None => Err(ClusterError::Missing),
            }
        })
    }
}
