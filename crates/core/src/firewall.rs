//! The engine's side of the firewall: what berth's tables must express,
//! derived from the model, and the element changes each use case makes.

use tracing::{info, warn};

use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::gwbridge::port_attachment;
use crate::network::Network;
use crate::ports::{Firewall, FirewallChange, FirewallState, FwNetwork, FwPort, Host};
use crate::publish::firewall_ports;

impl<H: Host> Engine<H> {
    /// What the firewall must know of `n`, as its driver says.
    pub(crate) fn fw_network(&self, n: &Network) -> Option<FwNetwork> {
        self.driver(n).firewall(n, &self.config)
    }

    /// The mappings a running container's publications need: to its address
    /// on its first network (Docker's rule), none on internal networks.
    pub(crate) fn fw_ports(&self, c: &Container, networks: &[Network]) -> Vec<FwPort> {
        let Some(attachment) = port_attachment(c, networks) else {
            return Vec::new();
        };
        let Some(endpoint) = &attachment.endpoint else {
            return Vec::new();
        };
        let Some(network) = networks.iter().find(|n| n.id == attachment.network) else {
            return Vec::new();
        };
        let Some(fw) = self.fw_network(network) else {
            return Vec::new();
        };
        if network.internal {
            return Vec::new();
        }
        firewall_ports(
            &c.published,
            endpoint.ipv4.map(|n| n.addr()),
            endpoint.ipv6.map(|n| n.addr()),
            &fw.bridge,
        )
    }

    pub(crate) fn firewall_state(&self) -> FirewallState {
        let networks = self.networks();
        let containers = self.model.containers.all();
        let mut state = FirewallState {
            networks: networks.iter().filter_map(|n| self.fw_network(n)).collect(),
            // A starting container's ports are mapped already (before its
            // process runs): a reload in between must keep them.
            ports: containers
                .iter()
                .filter(|c| c.is_running() || c.state.starting)
                .flat_map(|c| self.fw_ports(c, &networks))
                .collect(),
        };
        state.networks.sort();
        state.ports.sort();
        state
    }

    /// Rewrites berth's tables from the model: at start, and when someone
    /// else changed them.
    pub async fn apply_firewall(&self) -> Result<()> {
        if !self.config.firewall {
            return Ok(());
        }
        let state = self.firewall_state();
        self.host
            .firewall()
            .apply(&state)
            .await
            .map_err(Error::firewall("load berth's nftables tables"))
    }

    /// One transaction of element changes; a no-op with `--iptables=false`.
    pub(crate) async fn update_firewall(&self, change: FirewallChange) -> Result<()> {
        if !self.config.firewall || change == FirewallChange::default() {
            return Ok(());
        }
        match self.host.firewall().update(&change).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // An element update fails whole if the tables drifted (an
                // element already gone, a table flushed): rewrite them from
                // the model, which already holds the change's intent.
                warn!(error = %e, "firewall update refused: reloading berth's tables");
                self.apply_firewall().await
            }
        }
    }

    /// Puts berth's tables back if someone else changed them; true if it
    /// had to.
    pub async fn repair_firewall(&self) -> Result<bool> {
        if !self.config.firewall {
            return Ok(false);
        }
        match self.host.firewall().drift().await {
            Ok(None) => Ok(false),
            Ok(Some(drift)) => {
                warn!(%drift, "berth's nftables tables were changed from outside: restoring them");
                self.apply_firewall().await?;
                info!("berth's nftables tables restored");
                Ok(true)
            }
            Err(e) => Err(Error::Firewall {
                what: "check berth's nftables tables".to_owned(),
                source: e,
            }),
        }
    }
}
