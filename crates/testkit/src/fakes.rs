use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_core::model::{Network, RecordState};
use berth_core::ports::{
    BridgeSpec, Env, Host, NetOps, OwnedLink, PortError, Store, LINK_ALIAS_PREFIX,
};
use berth_types::{IfName, IpNet, NetworkId};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FakeError(String);

fn fail(msg: impl Into<String>) -> PortError {
    Box::new(FakeError(msg.into()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has already failed.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A link as the fake kernel holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeLink {
    pub alias: Option<String>,
    pub mtu: u32,
    pub addresses: Vec<IpNet>,
    pub up: bool,
}

#[derive(Default)]
struct NetState {
    links: BTreeMap<String, FakeLink>,
    routes: Vec<IpNet>,
    sysctls: BTreeMap<String, String>,
    /// Names of links whose creation must fail, to test rollback.
    refuse_bridges: Vec<String>,
}

/// A model of the host namespace: it holds links and answers like the
/// kernel, so tests assert the final state rather than a call log.
#[derive(Default)]
pub struct FakeNet {
    state: Mutex<NetState>,
}

impl FakeNet {
    pub fn link(&self, name: &str) -> Option<FakeLink> {
        lock(&self.state).links.get(name).cloned()
    }

    pub fn link_names(&self) -> Vec<String> {
        lock(&self.state).links.keys().cloned().collect()
    }

    /// Puts a link there as if someone (or an earlier run) made it.
    pub fn add_link(&self, name: &str, link: FakeLink) {
        lock(&self.state).links.insert(name.to_owned(), link);
    }

    pub fn add_route(&self, dest: IpNet) {
        lock(&self.state).routes.push(dest);
    }

    pub fn sysctl(&self, key: &str) -> Option<String> {
        lock(&self.state).sysctls.get(key).cloned()
    }

    /// Makes `ensure_bridge` fail for this bridge name.
    pub fn refuse_bridge(&self, name: &str) {
        lock(&self.state).refuse_bridges.push(name.to_owned());
    }
}

impl NetOps for FakeNet {
    async fn ensure_bridge(&self, spec: &BridgeSpec) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        if st.refuse_bridges.iter().any(|n| n == spec.name.as_str()) {
            return Err(fail(format!(
                "create {}: operation not permitted",
                spec.name
            )));
        }
        let link = st.links.entry(spec.name.to_string()).or_default();
        link.alias = Some(spec.alias.clone());
        link.mtu = spec.mtu;
        link.addresses = spec.addresses.clone();
        link.up = true;
        Ok(())
    }

    async fn delete_link(&self, name: &IfName) -> Result<(), PortError> {
        lock(&self.state).links.remove(name.as_str());
        Ok(())
    }

    async fn owned_links(&self) -> Result<Vec<OwnedLink>, PortError> {
        let st = lock(&self.state);
        Ok(st
            .links
            .iter()
            .filter_map(|(name, l)| {
                let alias = l
                    .alias
                    .as_ref()
                    .filter(|a| a.starts_with(LINK_ALIAS_PREFIX))?;
                Some(OwnedLink {
                    name: IfName::parse(name).ok()?,
                    alias: alias.clone(),
                })
            })
            .collect())
    }

    async fn host_routes(&self) -> Result<Vec<IpNet>, PortError> {
        let st = lock(&self.state);
        let connected = st
            .links
            .values()
            .flat_map(|l| l.addresses.iter().map(IpNet::trunc));
        Ok(st.routes.iter().copied().chain(connected).collect())
    }

    async fn set_sysctl(&self, key: &str, value: &str) -> Result<(), PortError> {
        lock(&self.state)
            .sysctls
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

/// The store's contract in memory, unique names included.
#[derive(Default)]
pub struct MemStore {
    networks: Mutex<BTreeMap<NetworkId, (Network, RecordState)>>,
}

impl MemStore {
    pub fn state_of(&self, id: &NetworkId) -> Option<RecordState> {
        lock(&self.networks).get(id).map(|(_, s)| *s)
    }
}

impl Store for MemStore {
    fn networks(&self) -> Result<Vec<(Network, RecordState)>, PortError> {
        Ok(lock(&self.networks).values().cloned().collect())
    }

    fn insert_network(&self, network: &Network, state: RecordState) -> Result<(), PortError> {
        let mut nets = lock(&self.networks);
        if nets.contains_key(&network.id) || nets.values().any(|(n, _)| n.name == network.name) {
            return Err(fail(format!("network {} exists", network.name)));
        }
        nets.insert(network.id.clone(), (network.clone(), state));
        Ok(())
    }

    fn update_network(&self, network: &Network, state: RecordState) -> Result<(), PortError> {
        match lock(&self.networks).get_mut(&network.id) {
            Some(slot) => {
                *slot = (network.clone(), state);
                Ok(())
            }
            None => Err(fail(format!("no network {}", network.id))),
        }
    }

    fn set_network_state(&self, id: &NetworkId, state: RecordState) -> Result<(), PortError> {
        match lock(&self.networks).get_mut(id) {
            Some((_, s)) => {
                *s = state;
                Ok(())
            }
            None => Err(fail(format!("no network {id}"))),
        }
    }

    fn delete_network(&self, id: &NetworkId) -> Result<(), PortError> {
        lock(&self.networks).remove(id);
        Ok(())
    }
}

/// Time starts at a fixed instant and advances a second per call; ids count up.
#[derive(Default)]
pub struct FixedEnv {
    ticks: AtomicU64,
    ids: AtomicU64,
}

impl Env for FixedEnv {
    fn now(&self) -> SystemTime {
        let t = self.ticks.fetch_add(1, Ordering::Relaxed);
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + t)
    }

    fn random_id_bytes(&self) -> [u8; 32] {
        let n = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        // The count leads, so short ids (and bridge names) differ too.
        let mut bytes = [0x5a; 32];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        bytes
    }
}

#[derive(Default)]
pub struct FakeHost {
    pub net: FakeNet,
    pub store: MemStore,
    pub env: FixedEnv,
}

impl Host for FakeHost {
    type Net = FakeNet;
    type Store = MemStore;
    type Env = FixedEnv;

    fn net(&self) -> &FakeNet {
        &self.net
    }

    fn store(&self) -> &MemStore {
        &self.store
    }

    fn env(&self) -> &FixedEnv {
        &self.env
    }
}
