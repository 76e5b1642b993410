//! Endpoints (Docker's CNM noun): a sandbox joined to a network. The engine
//! plans one (addresses from IPAM, names, MAC), records it with its
//! container in one transaction, then has the network's driver make it in
//! the kernel; leaving undoes the driver's work and frees the addresses.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use berth_types::{Driver, EndpointId, IfName, IpNet, MacAddr, NetworkId};
use tracing::warn;

use crate::container::{Attachment, Container, Endpoint};
use crate::driver::{Join, Leave};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::{Env, Host};

impl<H: Host> Engine<H> {
    /// Plans the endpoint of `c`'s `index`th attachment and puts it there:
    /// its addresses (requested, checked, or the lowest free ones), ids,
    /// interface names and MAC. Nothing in the kernel or the store yet, and
    /// nothing at all for a network whose driver gives no endpoints.
    pub(crate) fn plan_endpoint(&self, c: &mut Container, index: usize) -> Result<()> {
        let attachment = &c.attachments[index];
        let network = self
            .network(attachment.network.as_str())
            .map_err(|_| Error::NotFound(format!("network {} not found", attachment.network)))?;
        if !self.driver(&network).has_endpoints() {
            return Ok(());
        }
        let local = self.model.addresses_in_use(&network.id);
        let elsewhere = self.addresses_elsewhere(&network.id);
        let merged: BTreeSet<IpAddr>;
        let in_use = if elsewhere.is_empty() {
            local
        } else {
            merged = local.union(&elsewhere).copied().collect();
            &merged
        };
        let ipv4 = pick_address(&network, attachment, false, in_use)?;
        let ipv6 = if network.enable_ipv6 {
            pick_address(&network, attachment, true, in_use)?
        } else {
            None
        };
        let env = self.host.env();
        let id = EndpointId::from_bytes(env.random_id_bytes());
        let mac = attachment.mac.unwrap_or_else(|| match ipv4 {
            Some(IpNet::V4(v4)) => MacAddr::from_ipv4(v4.addr()),
            _ => random_mac(&env.random_id_bytes()),
        });
        let endpoint = Endpoint {
            ifname: next_ifname(c)?,
            host_ifname: self.driver(&network).host_ifname(&id)?,
            id,
            mac,
            ipv4,
            ipv6,
            gateway4: ipv4.and_then(|_| gateway_of(&network, false)),
            gateway6: ipv6.and_then(|_| gateway_of(&network, true)),
        };
        c.attachments[index].endpoint = Some(endpoint);
        Ok(())
    }

    /// Has the drivers make the endpoints of `c` in its sandbox at `netns`.
    pub(crate) async fn join_all(&mut self, c: &Container, netns: &Path) -> Result<()> {
        for index in 0..c.attachments.len() {
            self.join(c, index, netns).await?;
        }
        Ok(())
    }

    /// Has the network's driver make the endpoint of `c`'s `index`th
    /// attachment, if it has one.
    pub(crate) async fn join(&mut self, c: &Container, index: usize, netns: &Path) -> Result<()> {
        let networks = self.networks();
        let Some(join) = join_of(c, index, netns, &networks)? else {
            return Ok(());
        };
        self.ensure_data_plane(join.network).await?;
        self.driver(join.network).join(&self.host, join).await?;
        self.publish_endpoint(c, index).await
    }

    /// Has the network's driver undo `endpoint` in the sandbox at
    /// `sandbox` (if it is still there); its addresses are free once the
    /// container is committed without it. Best effort (logged).
    pub(crate) async fn leave(
        &mut self,
        container: &str,
        sandbox: Option<&Path>,
        network: &NetworkId,
        endpoint: &Endpoint,
    ) {
        let networks = self.networks();
        match networks.iter().find(|n| &n.id == network) {
            Some(n) => {
                let leave = Leave {
                    network: n,
                    sandbox,
                    endpoint,
                };
                if let Err(e) = self.driver(n).leave(&self.host, leave).await {
                    warn!(container, endpoint = %endpoint.id, error = %e, "endpoint not removed");
                }
                self.withdraw_endpoint(network, endpoint).await;
                self.retire_data_plane(n, &endpoint.id).await;
            }
            // The network went first (a crash between): its driver's orphan
            // sweep at the next start removes what is left.
            None => warn!(container, endpoint = %endpoint.id, "endpoint of a network that is gone"),
        }
        // The address is free for the next endpoint: no flow of this one
        // may carry over to it.
        self.flows.leaving(network, endpoint);
    }
}

/// What the driver needs to join `c`'s `index`th endpoint. The sandbox's
/// default routes go through the first endpoint with a gateway.
pub(crate) fn join_of<'a>(
    c: &'a Container,
    index: usize,
    netns: &'a Path,
    networks: &'a [Network],
) -> Result<Option<Join<'a>>> {
    let Some(endpoint) = &c.attachments[index].endpoint else {
        return Ok(None);
    };
    let network_of = |id: &NetworkId| {
        networks
            .iter()
            .find(|n| &n.id == id)
            .ok_or_else(|| Error::NotFound(format!("network {id} not found")))
    };
    // An overlay endpoint's gateway is no way out (its driver makes no
    // route through it): the gwbridge endpoint after it takes the route.
    let routes = |a: &Attachment| {
        a.endpoint
            .as_ref()
            .is_some_and(|e| e.gateway4.is_some() || e.gateway6.is_some())
            && network_of(&a.network).is_ok_and(|n| n.driver != Driver::Overlay)
    };
    let default_route = routes(&c.attachments[index]) && !c.attachments[..index].iter().any(routes);
    let network = network_of(&c.attachments[index].network)?;
    Ok(Some(Join {
        network,
        sandbox: netns,
        endpoint,
        default_route,
    }))
}

fn gateway_of(network: &Network, v6: bool) -> Option<IpAddr> {
    network
        .subnets
        .iter()
        .find(|p| p.gateway.is_ipv6() == v6)
        .map(|p| p.gateway)
}

/// The requested address (checked) or the next free one, with its prefix.
fn pick_address(
    network: &Network,
    attachment: &Attachment,
    v6: bool,
    in_use: &BTreeSet<IpAddr>,
) -> Result<Option<IpNet>> {
    let Some(plan) = network
        .subnets
        .iter()
        .find(|p| p.subnet.addr().is_ipv6() == v6)
    else {
        return Ok(None);
    };
    let requested = if v6 { attachment.ipv6 } else { attachment.ipv4 };
    let ip = match requested {
        Some(ip) => {
            plan.check_requested(ip, in_use)?;
            ip
        }
        None => plan.allocate(in_use, None).map_err(|e| match e.kind() {
            berth_ipam::ErrorKind::Unavailable => Error::Unavailable(format!(
                "no available {} addresses on this network's address pools: {} ({})",
                if v6 { "IPv6" } else { "IPv4" },
                network.name,
                network.id
            )),
            _ => Error::from(e),
        })?,
    };
    IpNet::new(ip, plan.prefix_len())
        .map(Some)
        .map_err(|_| Error::InvalidParameter(format!("invalid prefix for {ip}")))
}

/// `eth<N>` with the lowest N no current endpoint of the container uses.
fn next_ifname(c: &Container) -> Result<IfName> {
    let used: BTreeSet<&str> = c
        .attachments
        .iter()
        .filter_map(|a| a.endpoint.as_ref())
        .map(|e| e.ifname.as_str())
        .collect();
    let name = (0..)
        .map(|n| format!("eth{n}"))
        .find(|n| !used.contains(n.as_str()))
        .unwrap_or_else(|| "eth0".to_owned());
    IfName::parse(&name).map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// A locally administered unicast MAC for endpoints without IPv4.
fn random_mac(bytes: &[u8; 32]) -> MacAddr {
    MacAddr([0x02, 0x42, bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Endpoint ids of a container's live endpoints (for reconcile).
pub(crate) fn live_endpoint_ids(c: &Container) -> impl Iterator<Item = &EndpointId> {
    c.attachments
        .iter()
        .filter_map(|a| a.endpoint.as_ref())
        .map(|e| &e.id)
}
