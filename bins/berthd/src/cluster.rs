//! Joining a cluster (DESIGN.md, "Cluster"): the etcd store wired into the
//! engine as its cluster port, this host's record kept alive under a
//! lease, and the store's watch forwarded to the engine as commands.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use berth_cluster::EtcdStore;
use berth_core::cluster::ClusterEvent;
use berth_core::{Engine, EngineHandle};
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
}

impl Cluster {
    /// Resolves the advertise address and makes the (lazy) etcd client,
    /// and hands the store to the engine.
    pub async fn join(config: &ClusterConfig, engine: &mut Engine<RealHost>) -> Result<Cluster> {
        let advertise = resolve_advertise(&config.advertise)?;
        let store = EtcdStore::connect(&config.endpoints)
            .await
            .context("the cluster store")?;
        engine.set_cluster_store(Arc::new(store.clone()));
        info!(endpoints = ?config.endpoints, %advertise, "cluster store configured");
        Ok(Cluster { store, advertise })
    }

    /// Starts the host record's lease and the watch; the tasks end when
    /// aborted.
    pub fn spawn(self, engine: EngineHandle<RealHost>) -> Vec<JoinHandle<()>> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        vec![
            tokio::spawn(self.store.clone().keep_host_alive(self.advertise)),
            tokio::spawn(self.store.watch_networks(tx)),
            tokio::spawn(forward(rx, engine)),
        ]
    }
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

/// The advertise address: given, or the interface's first IPv4 address.
fn resolve_advertise(advertise: &Advertise) -> Result<IpAddr> {
    let name = match advertise {
        Advertise::Ip(ip) => return Ok(*ip),
        Advertise::Interface(name) => name,
    };
    let addrs = nix::ifaddrs::getifaddrs().context("list the host's addresses")?;
    for ifaddr in addrs.filter(|a| &a.interface_name == name) {
        if let Some(sin) = ifaddr.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
            return Ok(IpAddr::V4(sin.ip()));
        }
    }
    bail!("--cluster-advertise {name}: the interface has no IPv4 address (or does not exist)")
}
