//! `network connect` and `network disconnect`: a container's attachments
//! change, and a running container's endpoints with them. For a running
//! container each is two transactions around the kernel work: the change
//! with `networks_changing` set, then its end.

use berth_types::MacAddr;
use tracing::info;

use crate::container::create::{check_fixed_addresses, EndpointRequest};
use crate::container::{Attachment, Container, NetworkMode};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::flows::forget_flows;
use crate::model::Txn;
use crate::network::Network;
use crate::ports::Host;

impl<H: Host> Engine<H> {
    /// One attachment added (see [`Engine::connect`]).
    pub(crate) async fn connect_one(
        &mut self,
        network: &str,
        container: &str,
        req: EndpointRequest,
    ) -> Result<()> {
        let network = self.network(network)?;
        let mut c = self.container(container)?;
        check_connectable(&c, &network)?;
        if c.attachments.iter().any(|a| a.network == network.id) {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.name, network.name
            )));
        }
        let ipv4 = parse_requested(&req.ipv4)?;
        let ipv6 = parse_requested(&req.ipv6)?;
        let mac =
            match req.mac.as_str() {
                "" => None,
                text => Some(MacAddr::parse(text).ok_or_else(|| {
                    Error::InvalidParameter(format!("invalid MAC address: {text}"))
                })?),
            };
        if (ipv4.is_some() || ipv6.is_some()) && network.is_predefined() {
            return Err(Error::InvalidParameter(
                "user specified IP address is supported on user defined networks only".to_owned(),
            ));
        }
        check_fixed_addresses(&network, ipv4.iter().chain(ipv6.iter()).copied())?;
        for ip in ipv4.iter().chain(ipv6.iter()) {
            if !network.subnets.iter().any(|p| p.contains(*ip)) {
                return Err(Error::InvalidParameter(format!(
                    "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {ip}"
                )));
            }
        }
        let had_embedded_dns = self.dns_upstreams(&c).is_some();
        c.attachments.push(Attachment {
            network: network.id.clone(),
            aliases: req.aliases,
            ipv4,
            ipv6,
            mac,
            endpoint: None,
        });
        let what = format!("connect container {} to network {}", c.name, network.name);
        if !c.is_running() {
            return self.commit(Txn::new(what).put_container(&c));
        }
        let Some(path) = c.netns.clone() else {
            return Err(Error::Conflict(format!(
                "container {} has no network namespace",
                c.name
            )));
        };
        let index = c.attachments.len() - 1;
        self.plan_endpoint(&mut c, index)?;
        self.claim_overlay_addresses(&mut c, index..index + 1)
            .await?;
        // Recorded before the interface exists, so a crash in between
        // leaves reconcile a record of what to finish.
        c.state.networks_changing = true;
        if let Err(e) = self.commit(
            Txn::new(what)
                .on_conflict(Error::Forbidden)
                .put_container(&c),
        ) {
            self.release_overlay_addresses(&c, index..index + 1).await;
            return Err(e);
        }
        if let Err(e) = self.join(&c, index, &path).await {
            if let Some(endpoint) = c.attachments[index].endpoint.take() {
                self.leave(&c.name, Some(&path), &network.id, &endpoint)
                    .await;
            }
            c.attachments.pop();
            c.state.networks_changing = false;
            self.commit(
                Txn::new(format!("undo the connect of container {}", c.name)).put_container(&c),
            )?;
            return Err(e);
        }
        if let Some(endpoint) = &c.attachments[index].endpoint {
            let flows = self.flows.joining(&network.id, endpoint);
            forget_flows(self.host.net(), &c.name, &flows).await;
        }
        self.publish_names(&c);
        self.refresh_resolution(&c, had_embedded_dns).await?;
        self.networks_changed(&mut c)?;
        info!(container = %c.name, network = %network.name, "connected");
        self.network_event(&network, "connect", &[("container", c.id.to_string())]);
        Ok(())
    }

    /// One attachment removed (see [`Engine::disconnect`]).
    pub(crate) async fn disconnect_one(&mut self, network: &str, container: &str) -> Result<()> {
        let network = self.network(network)?;
        let mut c = self.container(container)?;
        let Some(index) = c.attachments.iter().position(|a| a.network == network.id) else {
            return Err(Error::Forbidden(format!(
                "container {} is not connected to network {}",
                c.id, network.name
            )));
        };
        if matches!(
            c.network_mode,
            NetworkMode::Host | NetworkMode::None | NetworkMode::Container(_)
        ) || network.name.as_str() == "host"
        {
            return Err(Error::InvalidParameter(
                "container cannot be disconnected from host network or connected to host network"
                    .to_owned(),
            ));
        }
        let had_embedded_dns = self.dns_upstreams(&c).is_some();
        let attachment = c.attachments.remove(index);
        // Recorded before the interface goes: after a crash in between, the
        // endpoint belongs to no container and the driver's orphan sweep
        // finishes the removal (and reconcile rewrites the `/etc` files).
        c.state.networks_changing = c.is_running();
        self.commit(
            Txn::new(format!(
                "disconnect container {} from network {}",
                c.name, network.name
            ))
            .put_container(&c),
        )?;
        if let Some(endpoint) = &attachment.endpoint {
            self.leave(&c.name, c.netns.as_deref(), &network.id, endpoint)
                .await;
        }
        self.publish_names(&c);
        self.refresh_resolution(&c, had_embedded_dns).await?;
        self.networks_changed(&mut c)?;
        info!(container = %c.name, network = %network.name, "disconnected");
        if attachment.endpoint.is_some() {
            self.network_event(&network, "disconnect", &[("container", c.id.to_string())]);
        }
        Ok(())
    }

    /// Marks a change of networks finished (see
    /// [`crate::container::RunState::networks_changing`]).
    pub(crate) fn networks_changed(&mut self, c: &mut Container) -> Result<()> {
        if c.state.networks_changing {
            c.state.networks_changing = false;
            self.commit(
                Txn::new(format!("finish the network change of container {}", c.name))
                    .put_container(c),
            )?;
        }
        Ok(())
    }
}

fn parse_requested(s: &str) -> Result<Option<std::net::IpAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| Error::InvalidParameter(format!("invalid IP address: {s}")))
}

/// runconfig's `ErrConflict*Network`: validation errors, Docker's 400.
fn check_connectable(c: &Container, network: &Network) -> Result<()> {
    match (&c.network_mode, network.name.as_str()) {
        (_, "host") | (NetworkMode::Host, _) => Err(Error::InvalidParameter(
            "container cannot be disconnected from host network or connected to host network".to_owned(),
        )),
        (NetworkMode::Container(_), _) => Err(Error::InvalidParameter(
            "container sharing network namespace with another container or host cannot be connected to any other network".to_owned(),
        )),
        (NetworkMode::None, _) | (_, "none") => Err(Error::InvalidParameter(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode".to_owned(),
        )),
        _ => Ok(()),
    }
}
