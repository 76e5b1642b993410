//! The driver port, as libnetwork's `driverapi`: what differs between
//! network drivers (their kernel plumbing, and what the firewall must know
//! of their networks) sits behind [`NetworkDriver`], so the engine never
//! asks which driver a network has. IPAM, endpoints' addresses, DNS, the
//! firewall and the store are shared above it. A new driver (macvlan,
//! overlay) is a new implementation and one line in [`Drivers::of`].

pub mod bridge;
pub mod macvlan;
pub mod overlay;
mod passive;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use berth_types::{Driver, EndpointId, IfName};

use crate::config::EngineConfig;
use crate::container::Endpoint;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::{EndpointCheck, EndpointFault, FwNetwork, Host, NetOps, SubInterface, VethPair};
use tracing::{info, warn};

pub use bridge::BridgeDriver;
pub use macvlan::MacvlanDriver;
pub use overlay::OverlayDriver;
use passive::PassiveDriver;

/// The future of a driver call: boxed, so drivers are chosen at run time.
pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The host end of a veth endpoint: `veth` and the endpoint id's first 7
/// hex digits, as Docker names them.
pub(crate) fn veth_ifname(endpoint: &EndpointId) -> Result<IfName> {
    IfName::parse(&format!("veth{}", &endpoint.as_str()[..7]))
        .map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// A veth endpoint's join (the bridge and overlay drivers): `pair` made,
/// its host end on the network's bridge.
pub(crate) async fn join_veth<H: Host>(
    host: &H,
    pair: Result<VethPair>,
    network: &Network,
) -> Result<()> {
    let pair = pair?;
    host.net()
        .add_veth_pair(&pair)
        .await
        .map_err(Error::kernel(format!(
            "create veth pair {} for network {}",
            pair.host_ifname, network.name
        )))
}

/// A veth endpoint's leave: its host end deleted (which takes the peer).
pub(crate) async fn leave_veth<H: Host>(host: &H, leave: &Leave<'_>) -> Result<()> {
    let Some(veth) = &leave.endpoint.host_ifname else {
        return Ok(());
    };
    host.net()
        .delete_link(veth)
        .await
        .map_err(Error::kernel(format!("remove veth {veth}")))
}

/// What is wrong with a veth endpoint, if anything.
pub(crate) async fn veth_fault<H: Host>(
    host: &H,
    pair: Result<VethPair>,
    check: EndpointCheck,
) -> Result<Option<EndpointFault>> {
    let pair = pair?;
    host.net()
        .veth_pair_fault(&pair, check)
        .await
        .map_err(Error::kernel(format!("check veth {}", pair.host_ifname)))
}

/// A sub-interface endpoint's join (macvlan, ipvlan, overlay): `sub` made
/// in the sandbox from its parent link; `kind` names it in errors.
pub(crate) async fn join_sub_interface<H: Host>(
    host: &H,
    sub: Result<SubInterface>,
    kind: &str,
    network: &Network,
) -> Result<()> {
    let sub = sub?;
    host.net()
        .add_sub_interface(&sub)
        .await
        .map_err(Error::kernel(format!(
            "create {kind} {} on {} for network {}",
            sub.ifname, sub.parent, network.name
        )))
}

/// A sub-interface endpoint's leave: deleted in its sandbox (a sandbox
/// that is gone took it along).
pub(crate) async fn leave_sub_interface<H: Host>(
    host: &H,
    leave: &Leave<'_>,
    kind: &str,
) -> Result<()> {
    let Some(sandbox) = leave.sandbox else {
        return Ok(());
    };
    let ifname = &leave.endpoint.ifname;
    host.net()
        .delete_sandbox_link(sandbox, ifname)
        .await
        .map_err(Error::kernel(format!(
            "remove {kind} {ifname} of network {}",
            leave.network.name
        )))
}

/// What is wrong with a sub-interface endpoint, if anything.
pub(crate) async fn sub_interface_fault<H: Host>(
    host: &H,
    sub: Result<SubInterface>,
    kind: &str,
) -> Result<Option<EndpointFault>> {
    let sub = sub?;
    host.net()
        .sub_interface_fault(&sub)
        .await
        .map_err(Error::kernel(format!("check {kind} {}", sub.ifname)))
}

/// A driver call with nothing to do: answered at once.
pub(crate) fn done<'a, T: Send + 'a>(value: T) -> DriverFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

/// One endpoint in one sandbox, as a driver joins it.
#[derive(Clone, Copy, Debug)]
pub struct Join<'a> {
    pub network: &'a Network,
    /// The sandbox's bind-mounted network namespace.
    pub sandbox: &'a Path,
    pub endpoint: &'a Endpoint,
    /// Whether the sandbox's default routes go through this endpoint (the
    /// container's first network with a gateway gives them).
    pub default_route: bool,
}

/// One endpoint leaving its sandbox, as a driver undoes it.
#[derive(Clone, Copy, Debug)]
pub struct Leave<'a> {
    pub network: &'a Network,
    /// The sandbox's namespace, if it is still there.
    pub sandbox: Option<&'a Path>,
    pub endpoint: &'a Endpoint,
}

/// A network driver. Every call is idempotent where it makes something, so
/// start-up reconcile can call it again for a record a crash cut short.
pub trait NetworkDriver<H: Host>: Send + Sync {
    /// Reads the driver's options of `network create` into `network`
    /// (Docker's errors for bad ones, and a refusal naming the kernel
    /// feature the network would need and the kernel lacks); `others` are
    /// the networks that exist.
    fn plan<'a>(
        &'a self,
        host: &'a H,
        network: &'a mut Network,
        others: &'a [Network],
        config: &'a EngineConfig,
    ) -> DriverFuture<'a, ()>;

    /// Whether the network's containers get endpoints of their own
    /// (addresses, an interface): not `host`'s and `none`'s.
    fn has_endpoints(&self) -> bool;

    /// Once per daemon start, before any network is made.
    fn start<'a>(&'a self, host: &'a H, config: &'a EngineConfig) -> DriverFuture<'a, ()>;

    /// Makes the network's kernel objects as `network` says, or puts them
    /// back as it says (start-up).
    fn create_network<'a>(
        &'a self,
        host: &'a H,
        network: &'a Network,
        config: &'a EngineConfig,
    ) -> DriverFuture<'a, ()>;

    /// Takes the network's kernel objects away: what carries its traffic at
    /// once, the rest possibly in the background (see [`Self::settle`]).
    fn delete_network<'a>(&'a self, host: &'a Arc<H>, network: &'a Network)
        -> DriverFuture<'a, ()>;

    /// Waits until no background removal stands in the way of `network`
    /// (its bridge name still being deleted), or until all are done.
    fn settle<'a>(&'a self, network: Option<&'a Network>) -> DriverFuture<'a, ()>;

    /// Removes the driver's kernel objects that neither `networks` nor
    /// `live_endpoints` (endpoint ids) claim (start-up reconcile).
    fn remove_orphans<'a>(
        &'a self,
        host: &'a H,
        networks: &'a [Network],
        live_endpoints: &'a BTreeSet<&'a str>,
    ) -> DriverFuture<'a, ()>;

    /// The name of a new endpoint's interface in the host's namespace, if
    /// the driver makes one.
    fn host_ifname(&self, endpoint: &EndpointId) -> Result<Option<IfName>>;

    /// Makes the endpoint's interface in the sandbox, all or nothing.
    fn join<'a>(&'a self, host: &'a H, join: Join<'a>) -> DriverFuture<'a, ()>;

    /// Removes what [`Self::join`] made; gone already is success.
    fn leave<'a>(&'a self, host: &'a H, leave: Leave<'a>) -> DriverFuture<'a, ()>;

    /// What is wrong with a joined endpoint in the kernel, if anything.
    fn endpoint_fault<'a>(
        &'a self,
        host: &'a H,
        join: Join<'a>,
        check: EndpointCheck,
    ) -> DriverFuture<'a, Option<EndpointFault>>;

    /// What the firewall must know of the network: a bridge to masquerade
    /// and isolate, or nothing.
    fn firewall(&self, network: &Network, config: &EngineConfig) -> Option<FwNetwork>;

    /// Whether containers whose first network this is can publish ports
    /// (Docker ignores `-p` on macvlan and ipvlan, with a warning).
    fn publishes_ports(&self) -> bool;

    /// The host address `-p` binds to when it names none.
    fn default_host_ip(&self, network: &Network) -> Option<IpAddr>;
}

/// Deletes berth's links whose alias `orphan` judges unowned (it names
/// their kind, for the log): each driver's start-up sweep.
pub(crate) async fn remove_owned_links<N: NetOps>(
    net: &N,
    orphan: impl Fn(&str, &str) -> Option<&'static str>,
) -> Result<()> {
    let links = net
        .owned_links()
        .await
        .map_err(Error::kernel("list berth's links"))?;
    for link in links {
        let Some(kind) = orphan(&link.alias, link.name.as_str()) else {
            continue;
        };
        match net.delete_link(&link.name).await {
            Ok(()) => info!(link = %link.name, kind, "removed a link nothing of berth's owns"),
            Err(e) => warn!(link = %link.name, kind, error = %e, "orphan link not removed"),
        }
    }
    Ok(())
}

/// The drivers this daemon has.
pub struct Drivers {
    bridge: BridgeDriver,
    host: PassiveDriver,
    null: PassiveDriver,
    macvlan: MacvlanDriver,
    ipvlan: MacvlanDriver,
    overlay: OverlayDriver,
}

impl Default for Drivers {
    fn default() -> Self {
        Drivers {
            bridge: BridgeDriver::default(),
            host: PassiveDriver,
            null: PassiveDriver,
            macvlan: MacvlanDriver::new(Driver::Macvlan),
            ipvlan: MacvlanDriver::new(Driver::Ipvlan),
            overlay: OverlayDriver::default(),
        }
    }
}

impl Drivers {
    pub fn of<H: Host>(&self, driver: Driver) -> &dyn NetworkDriver<H> {
        match driver {
            Driver::Bridge => &self.bridge,
            Driver::Host => &self.host,
            Driver::Null => &self.null,
            Driver::Macvlan => &self.macvlan,
            Driver::Ipvlan => &self.ipvlan,
            Driver::Overlay => &self.overlay,
        }
    }

    /// Every driver once (for start-up and reconcile).
    pub fn all<H: Host>(&self) -> [&dyn NetworkDriver<H>; 6] {
        [
            &self.bridge,
            &self.host,
            &self.null,
            &self.macvlan,
            &self.ipvlan,
            &self.overlay,
        ]
    }
}
