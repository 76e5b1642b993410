//! Overlay endpoints across hosts: each address claimed in the cluster
//! store before it is recorded here (one create-if-absent key per address,
//! so no address is ever given twice), each local endpoint published under
//! this host's lease once joined, and other hosts' endpoints, from the
//! store's watch, made reachable through the VXLAN device (static FDB and
//! neighbour entries).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::Range;

use berth_types::{Driver, EndpointId, NetworkId};
use tracing::{debug, info, warn};

use crate::cluster::{ClusterError, EndpointRecord};
use crate::container::{Attachment, Container, Endpoint};
use crate::dns_names::names_of;
use crate::driver::overlay::vxlan_name;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::global::cluster_error;
use crate::network::Network;
use crate::ports::{Host, NetOps, RemoteEndpoint};

/// How many addresses a start tries to claim before it gives up on a
/// network other hosts keep winning addresses of.
const CLAIM_TRIES: usize = 64;

impl<H: Host> Engine<H> {
    pub(crate) fn overlay_network(&self, id: &NetworkId) -> Option<Network> {
        self.networks()
            .iter()
            .find(|n| &n.id == id && n.driver == Driver::Overlay)
            .cloned()
    }

    /// Addresses of `network` other hosts hold, as far as this host knows:
    /// their published endpoints and the claims it lost.
    pub(crate) fn addresses_elsewhere(&self, network: &NetworkId) -> BTreeSet<IpAddr> {
        let mut held: BTreeSet<IpAddr> = self
            .remote_endpoints
            .values()
            .filter(|r| &r.network == network)
            .map(|r| r.ip)
            .collect();
        if let Some(lost) = self.lost_claims.get(network) {
            held.extend(lost);
        }
        held
    }

    /// Claims in the cluster store the address of each of `c`'s planned
    /// endpoints on an overlay network among the attachments `which`; one
    /// another host holds is planned again (a fixed `--ip` is refused).
    /// All or nothing.
    pub(crate) async fn claim_overlay_addresses(
        &mut self,
        c: &mut Container,
        which: Range<usize>,
    ) -> Result<()> {
        let mut claimed = Vec::new();
        let result = self.claim_each(c, which, &mut claimed).await;
        if result.is_err() {
            for (network, ip, endpoint) in &claimed {
                self.release_address(network, *ip, endpoint).await;
            }
        }
        result
    }

    async fn claim_each(
        &mut self,
        c: &mut Container,
        which: Range<usize>,
        claimed: &mut Vec<(NetworkId, IpAddr, EndpointId)>,
    ) -> Result<()> {
        for index in which {
            let network = c.attachments[index].network.clone();
            if self.overlay_network(&network).is_none() {
                continue;
            }
            let cluster = self.cluster_store()?;
            for attempt in 0.. {
                let Some(endpoint) = c.attachments[index].endpoint.clone() else {
                    break;
                };
                let Some(ip) = endpoint.ipv4.map(|n| n.addr()) else {
                    break;
                };
                match cluster.claim_address(&network, ip, &endpoint.id).await {
                    Ok(()) => {
                        claimed.push((network.clone(), ip, endpoint.id.clone()));
                        break;
                    }
                    Err(ClusterError::Taken(_)) if c.attachments[index].ipv4.is_some() => {
                        return Err(Error::Forbidden("Address already in use".to_owned()));
                    }
                    Err(ClusterError::Taken(_)) if attempt < CLAIM_TRIES => {
                        debug!(%network, %ip, "address taken on another host: planning again");
                        self.lost_claims
                            .entry(network.clone())
                            .or_default()
                            .insert(ip);
                        c.attachments[index].endpoint = None;
                        self.plan_endpoint(c, index)?;
                    }
                    Err(ClusterError::Taken(_)) => {
                        return Err(Error::Unavailable(format!(
                            "no address of network {network} could be claimed, try again"
                        )))
                    }
                    Err(ClusterError::Missing) => {
                        return Err(Error::NotFound(format!("network {network} not found")))
                    }
                    Err(e) => return Err(cluster_error(e)),
                }
            }
        }
        Ok(())
    }

    /// Best effort (logged): a claim left behind only keeps one address
    /// from being given again.
    async fn release_address(&self, network: &NetworkId, ip: IpAddr, endpoint: &EndpointId) {
        if let Some(cluster) = &self.cluster {
            if let Err(e) = cluster.release_address(network, ip, endpoint).await {
                warn!(%network, %ip, error = %e, "overlay address not released");
            }
        }
    }

    /// Releases the claims of `c`'s overlay endpoints among the
    /// attachments `which` (a start or connect whose record failed).
    pub(crate) async fn release_overlay_addresses(&self, c: &Container, which: Range<usize>) {
        for a in &c.attachments[which] {
            if let (Some(e), Some(_)) = (&a.endpoint, self.overlay_network(&a.network)) {
                if let Some(ip) = e.ipv4 {
                    self.release_address(&a.network, ip.addr(), &e.id).await;
                }
            }
        }
    }

    fn record_of(&self, c: &Container, attachment: &Attachment) -> Option<EndpointRecord> {
        let endpoint = attachment.endpoint.as_ref()?;
        let network = self.overlay_network(&attachment.network)?;
        Some(EndpointRecord {
            network: network.id.clone(),
            endpoint: endpoint.id.clone(),
            ip: endpoint.ipv4?.addr(),
            mac: endpoint.mac,
            vtep: self.config.cluster_host?.advertise,
            container: c.id.clone(),
            names: names_of(c, attachment),
            canonical: format!("{}.{}", c.name, network.name),
        })
    }

    /// Publishes the joined endpoint of `c`'s `index`th attachment, if it
    /// is on an overlay network.
    pub(crate) async fn publish_endpoint(&self, c: &Container, index: usize) -> Result<()> {
        let attachment = &c.attachments[index];
        if self.overlay_network(&attachment.network).is_none() {
            return Ok(());
        }
        let record = self
            .record_of(c, attachment)
            .ok_or_else(|| Error::Internal {
                what: format!("overlay endpoint of {} has no IPv4 address", c.name),
            })?;
        self.cluster_store()?
            .publish_endpoint(&record)
            .await
            .map_err(cluster_error)
    }

    /// Withdraws a leaving endpoint of an overlay network and releases its
    /// address. Best effort (logged).
    pub(crate) async fn withdraw_endpoint(&self, network: &NetworkId, endpoint: &Endpoint) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        if self.overlay_network(network).is_none() {
            return;
        }
        if let Err(e) = cluster.withdraw_endpoint(network, &endpoint.id).await {
            warn!(%network, endpoint = %endpoint.id, error = %e, "overlay endpoint not withdrawn");
        }
        if let Some(ip) = endpoint.ipv4 {
            self.release_address(network, ip.addr(), &endpoint.id).await;
        }
    }

    /// Publishes every joined endpoint of this host's overlay networks
    /// again (after the watch lost track, or a restart).
    async fn publish_local_endpoints(&self) {
        for c in self
            .model
            .containers
            .all()
            .iter()
            .filter(|c| c.netns.is_some())
        {
            for index in 0..c.attachments.len() {
                if c.attachments[index].endpoint.is_none() {
                    continue;
                }
                if let Err(err) = self.publish_endpoint(c, index).await {
                    warn!(container = %c.name, error = %err, "overlay endpoint not published");
                }
            }
        }
    }

    fn remote_of(&self, record: &EndpointRecord) -> Option<RemoteEndpoint> {
        let network = self.overlay_network(&record.network)?;
        Some(RemoteEndpoint {
            vxlan: vxlan_name(&network).ok()?,
            mac: record.mac,
            ip: record.ip,
            vtep: record.vtep,
        })
    }

    fn is_own(&self, record: &EndpointRecord) -> bool {
        self.config.cluster_host.map(|h| h.advertise) == Some(record.vtep)
    }

    /// Makes a remote endpoint reachable (FDB and neighbour entries) and
    /// its names resolvable, if its network is here.
    async fn install_remote(&self, record: &EndpointRecord) {
        let Some(network) = self.overlay_network(&record.network) else {
            return;
        };
        // Without a data plane here, its entries come with the plane.
        if let (Some(remote), true) = (self.remote_of(record), self.has_data_plane(&network.id)) {
            if let Err(e) = self.host.net().add_remote_endpoint(&remote).await {
                warn!(ip = %remote.ip, error = %e, "remote overlay endpoint not installed");
            }
        }
        self.names.set_remote(record, &network);
    }

    async fn add_remote(&mut self, record: EndpointRecord) {
        if self.is_own(&record) {
            return;
        }
        self.install_remote(&record).await;
        self.remote_endpoints
            .insert((record.network.clone(), record.endpoint.clone()), record);
    }

    async fn remove_remote(&mut self, network: &NetworkId, endpoint: &EndpointId) {
        let Some(record) = self
            .remote_endpoints
            .remove(&(network.clone(), endpoint.clone()))
        else {
            return;
        };
        if let Some(lost) = self.lost_claims.get_mut(network) {
            lost.remove(&record.ip);
        }
        self.names.remove_remote(&record.container, network);
        if let (Some(remote), true) = (self.remote_of(&record), self.has_data_plane(network)) {
            if let Err(e) = self.host.net().remove_remote_endpoint(&remote).await {
                warn!(ip = %remote.ip, error = %e, "remote overlay endpoint not removed");
            }
        }
    }

    /// Installs the remote endpoints known for `network` (just made here).
    pub(crate) async fn install_remotes(&self, network: &NetworkId) {
        for record in self.remote_endpoints.values() {
            if &record.network == network {
                self.install_remote(record).await;
            }
        }
    }

    pub(crate) async fn endpoint_snapshot(&mut self, records: Vec<EndpointRecord>) {
        let now: BTreeSet<(NetworkId, EndpointId)> = records
            .iter()
            .map(|r| (r.network.clone(), r.endpoint.clone()))
            .collect();
        let gone: Vec<(NetworkId, EndpointId)> = self
            .remote_endpoints
            .keys()
            .filter(|k| !now.contains(k))
            .cloned()
            .collect();
        for (network, endpoint) in gone {
            self.remove_remote(&network, &endpoint).await;
        }
        for record in records {
            self.add_remote(record).await;
        }
        self.remove_stale_remotes().await;
        self.publish_local_endpoints().await;
    }

    /// Removes the FDB and neighbour entries of this host's VXLAN devices
    /// that no known remote endpoint claims (left by a berthd that died
    /// before it heard of an endpoint going).
    async fn remove_stale_remotes(&self) {
        let net = self.host.net();
        for network in self
            .networks()
            .iter()
            .filter(|n| self.has_data_plane(&n.id))
        {
            let Ok(vxlan) = vxlan_name(network) else {
                continue;
            };
            let installed = match net.remote_endpoints_on(&vxlan).await {
                Ok(installed) => installed,
                Err(e) => {
                    warn!(%vxlan, error = %e, "remote overlay endpoints not listed");
                    continue;
                }
            };
            for remote in installed {
                let known = self
                    .remote_endpoints
                    .values()
                    .any(|r| r.network == network.id && r.ip == remote.ip && r.mac == remote.mac);
                if known {
                    continue;
                }
                match net.remove_remote_endpoint(&remote).await {
                    Ok(()) => info!(%vxlan, ip = %remote.ip, "removed a stale remote endpoint"),
                    Err(e) => {
                        warn!(%vxlan, ip = %remote.ip, error = %e, "stale remote endpoint not removed")
                    }
                }
            }
        }
    }

    pub(crate) async fn endpoint_put(&mut self, record: EndpointRecord) {
        self.add_remote(record).await;
    }

    pub(crate) async fn endpoint_deleted(&mut self, network: &NetworkId, endpoint: &EndpointId) {
        self.remove_remote(network, endpoint).await;
    }
}
