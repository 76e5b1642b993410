//! Joining a cluster (DESIGN.md, "Cluster"): the etcd store wired into the
//! engine as its cluster port, this host's record kept alive under a
//! lease, and the store's watch forwarded to the engine as commands.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use berth_cluster::{EtcdStore, NodeName, Watched};
use berth_core::cluster::ClusterEvent;
use berth_core::ports::Host;
use berth_core::{ClusterHost, Engine, EngineHandle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Advertise, ClusterConfig};
use crate::host::RealHost;

/// Watch events waiting for the engine.
const EVENT_QUEUE: usize = 64;

/// A cluster store connected, not yet running its tasks.
pub struct Cluster {
    store: EtcdStore,
    advertise: IpAddr,
    view: ClusterView,
}

/// What the API shows of the cluster (`info`) and asks of it (`node ls`,
/// `node rm`).
#[derive(Clone)]
pub struct ClusterView {
    pub store: EtcdStore,
    /// `etcd://HOST:PORT[,...]`, as `--cluster-store` takes it.
    pub store_url: String,
    pub advertise: IpAddr,
    pub node_id: String,
}

/// Where this host's cluster id is kept, in the data root.
const NODE_ID_FILE: &str = "node-id";

impl Cluster {
    /// Makes the (lazy) etcd client and hands the store to the engine.
    pub async fn join(
        config: &ClusterConfig,
        advertise: IpAddr,
        data_root: &Path,
        engine: &mut Engine<RealHost>,
    ) -> Result<Cluster> {
        let node = node_name(data_root)?;
        let node_id = node.id.clone();
        let store = EtcdStore::connect(&config.endpoints, node)
            .await
            .context("the cluster store")?;
        engine.set_cluster_store(Arc::new(store.clone()));
        info!(endpoints = ?config.endpoints, %advertise, node = node_id, "cluster store configured");
        let hosts: Vec<&str> = config
            .endpoints
            .iter()
            .map(|e| e.strip_prefix("http://").unwrap_or(e))
            .collect();
        let view = ClusterView {
            store: store.clone(),
            store_url: format!("etcd://{}", hosts.join(",")),
            advertise,
            node_id,
        };
        Ok(Cluster {
            store,
            advertise,
            view,
        })
    }

    pub fn view(&self) -> ClusterView {
        self.view.clone()
    }

    /// Starts the host record's lease and the watch; the tasks end when
    /// aborted.
    pub fn spawn(self, engine: EngineHandle<RealHost>) -> Vec<JoinHandle<()>> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        vec![
            tokio::spawn(self.store.clone().keep_host_alive(self.advertise)),
            tokio::spawn(self.store.clone().watch(Watched::Networks, tx.clone())),
            tokio::spawn(self.store.watch(Watched::Endpoints, tx)),
            tokio::spawn(forward(rx, engine)),
        ]
    }
}

/// This host's id in the cluster (made on its first join, kept in the
/// data root so that a restart is the same host) and its hostname.
fn node_name(data_root: &Path) -> Result<NodeName> {
    let path = data_root.join(NODE_ID_FILE);
    let id = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 16];
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow::anyhow!("random bytes for this host's cluster id: {e}"))?;
            let id = hex::encode(bytes);
            std::fs::write(&path, &id).with_context(|| format!("write {}", path.display()))?;
            id
        }
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{}: not a cluster id: {id:?}", path.display());
    }
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .context("this host's name")?;
    Ok(NodeName { id, hostname })
}

/// Hands each watch event to the engine, in order.
async fn forward(mut events: mpsc::Receiver<ClusterEvent>, engine: EngineHandle<RealHost>) {
    while let Some(event) = events.recv().await {
        match engine.cluster_event(event).await {
            Ok(()) => {}
            Err(berth_core::Error::ShutDown) => return,
            Err(e) => warn!(error = %e, "cluster change not applied"),
        }
    }
}

/// VXLAN's own headers: outer IPv4, UDP, VXLAN and inner Ethernet.
const VXLAN_OVERHEAD: u32 = 50;

/// This host's VTEP (the advertise address: given, or the interface's
/// first IPv4 address) and the overlay MTU its interface allows.
pub async fn cluster_host(config: &ClusterConfig, host: &RealHost) -> Result<ClusterHost> {
    let addrs: Vec<_> = nix::ifaddrs::getifaddrs()
        .context("list the host's addresses")?
        .collect();
    let ip_of = |a: &nix::ifaddrs::InterfaceAddress| -> Option<IpAddr> {
        let addr = a.address.as_ref()?;
        if let Some(v4) = addr.as_sockaddr_in() {
            return Some(IpAddr::V4(v4.ip()));
        }
        addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
    };
    let (iface, advertise) = match &config.advertise {
        Advertise::Ip(ip) => match addrs.iter().find(|a| ip_of(a) == Some(*ip)) {
            Some(a) => (a.interface_name.clone(), *ip),
            None => bail!("--cluster-advertise {ip}: no interface of this host has that address"),
        },
        Advertise::Interface(name) => match addrs
            .iter()
            .filter(|a| &a.interface_name == name)
            .find_map(|a| ip_of(a).filter(IpAddr::is_ipv4))
        {
            Some(ip) => (name.clone(), ip),
            None => bail!(
                "--cluster-advertise {name}: the interface has no IPv4 address (or does not exist)"
            ),
        },
    };
    let mtu = host
        .net()
        .link_mtu(&iface)
        .await?
        .with_context(|| format!("the MTU of {iface}"))?;
    Ok(ClusterHost {
        advertise,
        overlay_mtu: mtu.saturating_sub(VXLAN_OVERHEAD),
    })
}
