//! An in-memory cluster store that enforces the claims as etcd's
//! transactions do (one name, VNI and subnet per network), can be made
//! unreachable, and can let "another host" win the next claim.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use std::net::IpAddr;

use berth_core::cluster::{ClusterError, ClusterFuture, ClusterStore, EndpointRecord, Taken};
use berth_core::network::Network;
use berth_types::{EndpointId, NetworkId};

use super::{fail, lock};

#[derive(Default)]
pub struct FakeCluster {
    networks: Mutex<BTreeMap<NetworkId, Network>>,
    /// Address claims: (network, address) -> endpoint.
    addresses: Mutex<BTreeMap<(NetworkId, IpAddr), EndpointId>>,
    /// Published endpoints.
    endpoints: Mutex<BTreeMap<(NetworkId, EndpointId), EndpointRecord>>,
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

    /// The claimed addresses, with their endpoints.
    pub fn claims(&self) -> BTreeMap<(NetworkId, IpAddr), EndpointId> {
        lock(&self.addresses).clone()
    }

    /// Claims an address as another host would.
    pub fn claim_for_other(&self, network: &NetworkId, ip: IpAddr, endpoint: EndpointId) {
        lock(&self.addresses).insert((network.clone(), ip), endpoint);
    }

    pub fn published(&self) -> Vec<EndpointRecord> {
        lock(&self.endpoints).values().cloned().collect()
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

    fn claim_address<'a>(
        &'a self,
        network: &'a NetworkId,
        ip: IpAddr,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()> {
        Box::pin(async move {
            self.reachable()?;
            if !lock(&self.networks).contains_key(network) {
                return Err(ClusterError::Missing);
            }
            let mut claims = lock(&self.addresses);
            match claims.get(&(network.clone(), ip)) {
                Some(holder) if holder != endpoint => Err(ClusterError::Taken(Taken::Address(ip))),
                _ => {
                    claims.insert((network.clone(), ip), endpoint.clone());
                    Ok(())
                }
            }
        })
    }

    fn release_address<'a>(
        &'a self,
        network: &'a NetworkId,
        ip: IpAddr,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()> {
        Box::pin(async move {
            self.reachable()?;
            let mut claims = lock(&self.addresses);
            if claims.get(&(network.clone(), ip)) == Some(endpoint) {
                claims.remove(&(network.clone(), ip));
            }
            Ok(())
        })
    }

    fn publish_endpoint<'a>(&'a self, record: &'a EndpointRecord) -> ClusterFuture<'a, ()> {
        Box::pin(async move {
            self.reachable()?;
            lock(&self.endpoints).insert(
                (record.network.clone(), record.endpoint.clone()),
                record.clone(),
            );
            Ok(())
        })
    }

    fn withdraw_endpoint<'a>(
        &'a self,
        network: &'a NetworkId,
        endpoint: &'a EndpointId,
    ) -> ClusterFuture<'a, ()> {
        Box::pin(async move {
            self.reachable()?;
            lock(&self.endpoints).remove(&(network.clone(), endpoint.clone()));
            Ok(())
        })
    }

    fn remove_network<'a>(&'a self, network: &'a Network) -> ClusterFuture<'a, ()> {
        Box::pin(async move {
            self.reachable()?;
            let endpoints = lock(&self.endpoints)
                .keys()
                .filter(|(n, _)| n == &network.id)
                .count();
            if endpoints > 0 {
                return Err(ClusterError::InUse(
                    i64::try_from(endpoints).unwrap_or(i64::MAX),
                ));
            }
            match lock(&self.networks).remove(&network.id) {
                Some(_) => Ok(()),
                None => Err(ClusterError::Missing),
            }
        })
    }
}
