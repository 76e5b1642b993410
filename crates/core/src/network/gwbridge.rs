//! `berth_gwbridge`: Docker's `docker_gwbridge` model for the egress and
//! published ports of overlay containers. An overlay network has no way
//! out of the cluster, so a container whose networks are overlays (not
//! `--internal`) and give it no other way out gets a second endpoint on a
//! local bridge network, `berth_gwbridge`, made on first need like any
//! bridge network (a subnet from the local pools, masquerade) but with
//! inter-container communication off: two overlay containers cannot meet
//! through it. Its default route is there and its `-p` ports map to its
//! address there ([`port_attachment`]).
//!
//! The gwbridge endpoint is an attachment like the others (recorded,
//! joined, left, reconciled with them): it is fitted at each start
//! ([`Engine::fit_gwbridge`]) and follows `connect`/`disconnect` of a
//! network that gives the container a way out.

use std::collections::BTreeMap;

use berth_types::Driver;

use crate::container::create::EndpointRequest;
use crate::container::{Attachment, Container};
use crate::driver::bridge::opt;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::{Network, NetworkCreate};
use crate::ports::{FirewallChange, FwPort, Host};

/// The gwbridge network's name, and its bridge's.
pub const GWBRIDGE: &str = "berth_gwbridge";

/// Whether `network` is this host's gwbridge network.
pub fn is_gwbridge(network: &Network) -> bool {
    network.name.as_str() == GWBRIDGE && network.driver == Driver::Bridge
}

/// Whether `network` gives its containers a way out of the host: a bridge
/// or macvlan network that is not internal (the gwbridge aside).
fn gives_egress(network: &Network) -> bool {
    !network.internal
        && !is_gwbridge(network)
        && matches!(network.driver, Driver::Bridge | Driver::Macvlan)
}

/// Whether `c` needs a gwbridge endpoint: it is on an overlay network that
/// is not internal and on no network that gives it a way out.
pub fn needs_gwbridge(c: &Container, networks: &[Network]) -> bool {
    let attached = || {
        c.attachments
            .iter()
            .filter_map(|a| networks.iter().find(|n| n.id == a.network))
    };
    attached().any(|n| n.driver == Driver::Overlay && !n.internal) && !attached().any(gives_egress)
}

/// The attachment whose endpoint `c`'s `-p` ports map to: the first one,
/// or for a container first on an overlay network (which publishes no
/// ports), its first attachment on a network that does (its gwbridge).
pub fn port_attachment<'a>(c: &'a Container, networks: &[Network]) -> Option<&'a Attachment> {
    let network_of = |a: &Attachment| networks.iter().find(|n| n.id == a.network);
    let first = c.attachments.first()?;
    if network_of(first).is_some_and(|n| n.driver == Driver::Overlay) {
        c.attachments
            .iter()
            .find(|a| network_of(a).is_some_and(|n| n.driver == Driver::Bridge))
    } else {
        Some(first)
    }
}

/// `network create` of the gwbridge: Docker's options of `docker_gwbridge`.
fn gwbridge_request() -> NetworkCreate {
    let options = BTreeMap::from([
        (opt::BRIDGE_NAME.to_owned(), GWBRIDGE.to_owned()),
        (opt::ENABLE_ICC.to_owned(), "false".to_owned()),
        (opt::ENABLE_IP_MASQUERADE.to_owned(), "true".to_owned()),
    ]);
    NetworkCreate {
        name: GWBRIDGE.to_owned(),
        driver: Driver::Bridge.as_str().to_owned(),
        ipam_driver: String::new(),
        ipam: Vec::new(),
        enable_ipv4: None,
        enable_ipv6: None,
        internal: false,
        attachable: false,
        options,
        labels: BTreeMap::new(),
    }
}

impl<H: Host> Engine<H> {
    /// The gwbridge network, created if this host has none yet.
    pub(crate) async fn gwbridge(&mut self) -> Result<Network> {
        if let Some(n) = self.networks().iter().find(|n| is_gwbridge(n)) {
            return Ok(n.clone());
        }
        self.create_network(gwbridge_request()).await
    }

    /// Before a start: `c` keeps, gets or loses its gwbridge attachment as
    /// its networks now ask (a `connect` while it was stopped may have
    /// given it another way out). The gwbridge comes last: `eth0` stays
    /// the user's first network.
    pub(crate) async fn fit_gwbridge(&mut self, c: &mut Container) -> Result<()> {
        let networks = self.networks();
        let gw = networks
            .iter()
            .find(|n| is_gwbridge(n))
            .map(|n| n.id.clone());
        c.attachments.retain(|a| Some(&a.network) != gw.as_ref());
        if !needs_gwbridge(c, &networks) {
            return Ok(());
        }
        let gw = self.gwbridge().await?;
        c.attachments.push(Attachment {
            network: gw.id,
            aliases: Vec::new(),
            ipv4: None,
            ipv6: None,
            mac: None,
            endpoint: None,
        });
        Ok(())
    }

    /// `network connect`. A running container that gets a way out leaves
    /// the gwbridge first, so that the new endpoint takes the default
    /// route (Docker moves it); one that needs the gwbridge afterwards (a
    /// first non-internal overlay) joins it.
    pub async fn connect(
        &mut self,
        network: &str,
        container: &str,
        req: EndpointRequest,
    ) -> Result<()> {
        let target = self.network(network)?;
        refuse_gwbridge(&target)?;
        let c = self.container(container)?;
        let ports = self.fw_ports(&c, &self.networks());
        if c.is_running() && gives_egress(&target) && self.on_gwbridge(&c) {
            self.disconnect_one(GWBRIDGE, c.id.as_str()).await?;
        }
        let connected = self.connect_one(network, container, req).await;
        let refitted = self.refit_gwbridge(c.id.as_str()).await;
        connected.and(refitted)?;
        self.remap_ports(c.id.as_str(), ports).await
    }

    /// `network disconnect`. A running container left without a way out
    /// but on an overlay network joins the gwbridge.
    pub async fn disconnect(&mut self, network: &str, container: &str) -> Result<()> {
        refuse_gwbridge(&self.network(network)?)?;
        let c = self.container(container)?;
        let ports = self.fw_ports(&c, &self.networks());
        self.disconnect_one(network, container).await?;
        self.refit_gwbridge(c.id.as_str()).await?;
        self.remap_ports(c.id.as_str(), ports).await
    }

    /// A running overlay container's `-p` ports follow its way out (the
    /// gwbridge endpoint, or the bridge network that took its place):
    /// `before` are the mappings it had.
    async fn remap_ports(&self, container: &str, before: Vec<FwPort>) -> Result<()> {
        let c = self.container(container)?;
        let networks = self.networks();
        let first_overlay = c
            .attachments
            .first()
            .and_then(|a| networks.iter().find(|n| n.id == a.network))
            .is_some_and(|n| n.driver == Driver::Overlay);
        let after = self.fw_ports(&c, &networks);
        if !first_overlay || after == before {
            return Ok(());
        }
        let change = FirewallChange {
            remove_ports: before,
            add_ports: after,
            ..Default::default()
        };
        self.update_firewall(change).await
    }

    fn on_gwbridge(&self, c: &Container) -> bool {
        let networks = self.networks();
        c.attachments
            .iter()
            .any(|a| networks.iter().any(|n| n.id == a.network && is_gwbridge(n)))
    }

    /// A running container's gwbridge endpoint joined or left as its
    /// networks now ask.
    async fn refit_gwbridge(&mut self, container: &str) -> Result<()> {
        let c = self.container(container)?;
        if !c.is_running() {
            return Ok(());
        }
        let needs = needs_gwbridge(&c, &self.networks());
        match (needs, self.on_gwbridge(&c)) {
            (true, false) => {
                self.gwbridge().await?;
                self.connect_one(GWBRIDGE, container, EndpointRequest::default())
                    .await
            }
            (false, true) => self.disconnect_one(GWBRIDGE, container).await,
            _ => Ok(()),
        }
    }
}

/// The gwbridge's endpoints are berth's to make and remove: a user's
/// `connect`/`disconnect` of it would be undone at the next start.
fn refuse_gwbridge(network: &Network) -> Result<()> {
    if is_gwbridge(network) {
        return Err(Error::Forbidden(format!(
            "{GWBRIDGE} is berth's own network: containers join it through overlay networks"
        )));
    }
    Ok(())
}
