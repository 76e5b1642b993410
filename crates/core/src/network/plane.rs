//! An overlay network's data plane on this host (its bridge, VXLAN device and
//! the other hosts' endpoints' FDB and neighbour entries) exists only while
//! a container here has an endpoint on it, as Docker's overlay driver made
//! its sandbox at the first join and removed it at the last leave. A host
//! hears of every overlay network of the cluster; making each one's links
//! on every host at create would put link work (and the rtnl lock) on the
//! path of every `network create` in the cluster for networks most hosts
//! never use.

use berth_types::{Driver, EndpointId, NetworkId};
use tracing::{info, warn};

use crate::engine::Engine;
use crate::error::Result;
use crate::model::has_endpoints_on;
use crate::network::Network;
use crate::ports::Host;

impl<H: Host> Engine<H> {
    /// Whether `network`'s data plane is on this host (every network but
    /// an overlay one has its kernel objects from its creation).
    pub(crate) fn has_data_plane(&self, network: &NetworkId) -> bool {
        self.overlay_planes.contains(network)
    }

    /// Makes `network`'s data plane here if it is an overlay network
    /// without one, with the entries of the other hosts' endpoints on it:
    /// before an endpoint joins it.
    pub(crate) async fn ensure_data_plane(&mut self, network: &Network) -> Result<()> {
        if network.driver != Driver::Overlay || self.has_data_plane(&network.id) {
            return Ok(());
        }
        self.driver(network)
            .create_network(&self.host, network, &self.config)
            .await?;
        self.overlay_planes.insert(network.id.clone());
        self.install_remotes(&network.id).await;
        info!(network = %network.name, "overlay data plane made on this host");
        Ok(())
    }

    /// Removes `network`'s data plane here once `leaving` was its last
    /// endpoint on this host. Best effort (logged): a plane left behind is
    /// taken by the next start's orphan sweep.
    pub(crate) async fn retire_data_plane(&mut self, network: &Network, leaving: &EndpointId) {
        if !self.has_data_plane(&network.id) || self.has_other_endpoints(&network.id, leaving) {
            return;
        }
        self.overlay_planes.remove(&network.id);
        match self
            .driver(network)
            .delete_network(&self.host, network)
            .await
        {
            Ok(()) => {
                info!(network = %network.name, "overlay data plane removed: no endpoint here")
            }
            Err(e) => warn!(network = %network.name, error = %e, "overlay data plane not removed"),
        }
    }

    /// Whether an endpoint other than `leaving` is on `network` here (the
    /// leaving one may or may not be committed away yet).
    fn has_other_endpoints(&self, network: &NetworkId, leaving: &EndpointId) -> bool {
        self.model.containers.all().iter().any(|c| {
            c.attachments.iter().any(|a| {
                &a.network == network && a.endpoint.as_ref().is_some_and(|e| &e.id != leaving)
            })
        })
    }

    /// Start-up: makes `network`'s kernel objects as its record says; an
    /// overlay network's only if a container here has an endpoint on it.
    pub(crate) async fn restore_kernel_objects(&mut self, network: &Network) -> Result<()> {
        if network.driver != Driver::Overlay {
            return self
                .driver(network)
                .create_network(&self.host, network, &self.config)
                .await;
        }
        if has_endpoints_on(&self.model.containers.all(), &network.id) {
            self.ensure_data_plane(network).await?;
        }
        Ok(())
    }

    /// Forgets `network`'s data plane here: whether it had kernel objects
    /// for its driver to delete (an overlay network without a plane here
    /// has none).
    pub(crate) fn forget_kernel_objects(&mut self, network: &Network) -> bool {
        network.driver != Driver::Overlay || self.overlay_planes.remove(&network.id)
    }

    /// The networks whose kernel objects the drivers' orphan sweeps keep.
    pub(crate) fn networks_with_kernel_objects(&self) -> Vec<Network> {
        self.networks()
            .iter()
            .filter(|n| n.driver != Driver::Overlay || self.has_data_plane(&n.id))
            .cloned()
            .collect()
    }
}
