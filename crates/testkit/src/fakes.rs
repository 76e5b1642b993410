use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_core::container::{Container, Proto};
use berth_core::network::{Network, RecordState};
use berth_core::ports::{
    BridgeSpec, DnsUpstreams, EndpointCheck, EndpointFault, Env, EtcFiles, ExitStatus, Firewall,
    FirewallChange, FirewallState, FlowMatch, Host, KernelLink, LaunchSpec, NetOps, OwnedLink,
    PortError, Runtime, RuntimeStatus, SandboxDns, Store, StoreConflict, SubInterface, VethPair,
    Write, LINK_ALIAS_PREFIX,
};
use berth_types::{ContainerId, IfName, IpNet, MacAddr, NetworkId};
use tokio::sync::watch;

use crate::fake_images::FakeImages;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FakeError(String);

fn fail(msg: impl Into<String>) -> PortError {
    Box::new(FakeError(msg.into()))
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
    /// For a veth's host end: the bridge it is enslaved to.
    pub master: Option<String>,
    pub mac: Option<MacAddr>,
    /// For a veth: the namespace and name of its other end.
    pub peer: Option<(PathBuf, String)>,
    /// Default routes through this link (sandbox ends).
    pub gateways: Vec<IpAddr>,
}

#[derive(Default)]
struct NetState {
    links: BTreeMap<String, FakeLink>,
    routes: Vec<IpNet>,
    sysctls: BTreeMap<String, String>,
    /// Names of links whose creation must fail, to test rollback.
    refuse_bridges: Vec<String>,
    /// Sandboxes: namespace file -> its links.
    namespaces: BTreeMap<PathBuf, BTreeMap<String, FakeLink>>,
    /// Endpoint creations to refuse, to test rollback.
    refuse_endpoints: usize,
    /// Ports "host processes" hold.
    bound_ports: BTreeSet<(Proto, u16)>,
    /// Every `forget_flows` call's matches, in order.
    forgotten_flows: Vec<Vec<FlowMatch>>,
    /// Link kinds this fake kernel cannot make.
    missing_kinds: BTreeSet<String>,
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

    /// As if a host process listened on this port (any address).
    pub fn bind_port(&self, proto: Proto, port: u16) {
        lock(&self.state).bound_ports.insert((proto, port));
    }

    /// Makes the next `add_endpoint` fail.
    pub fn refuse_next_endpoint(&self) {
        lock(&self.state).refuse_endpoints += 1;
    }

    /// The links inside a sandbox, if it exists.
    pub fn namespace(&self, path: &Path) -> Option<BTreeMap<String, FakeLink>> {
        lock(&self.state).namespaces.get(path).cloned()
    }

    /// The matches of each `forget_flows` call so far, in order.
    pub fn forgotten_flows(&self) -> Vec<Vec<FlowMatch>> {
        lock(&self.state).forgotten_flows.clone()
    }

    pub fn namespace_paths(&self) -> Vec<PathBuf> {
        lock(&self.state).namespaces.keys().cloned().collect()
    }

    /// As a kernel without `kind` (macvlan, ipvlan, vlan, dummy).
    pub fn lack_kernel_link(&self, kind: KernelLink) {
        lock(&self.state).missing_kinds.insert(format!("{kind:?}"));
    }

    /// Adds a namespace file as a crash might leave one.
    pub fn add_namespace(&self, path: &Path) {
        lock(&self.state)
            .namespaces
            .entry(path.to_path_buf())
            .or_default();
    }
}

impl NetOps for FakeNet {
    async fn kernel_has(&self, kind: KernelLink) -> bool {
        !lock(&self.state)
            .missing_kinds
            .contains(&format!("{kind:?}"))
    }

    async fn link_kind(&self, name: &IfName) -> Result<Option<String>, PortError> {
        Ok(lock(&self.state).links.get(name.as_str()).map(|l| {
            if l.peer.is_some() {
                "veth".to_owned()
            } else {
                String::new()
            }
        }))
    }

    async fn add_sub_interface(&self, sub: &SubInterface) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        if !st.links.contains_key(sub.parent.as_str()) {
            return Err(fail(format!("parent {} does not exist", sub.parent)));
        }
        let Some(sandbox) = st.namespaces.get_mut(&sub.netns) else {
            return Err(fail(format!("no namespace {}", sub.netns.display())));
        };
        if sandbox.contains_key(sub.ifname.as_str()) {
            return Err(fail(format!("{} exists", sub.ifname)));
        }
        sandbox.insert(
            sub.ifname.to_string(),
            FakeLink {
                up: true,
                addresses: sub.addresses.clone(),
                mac: Some(sub.mac),
                gateways: sub.default_gateways.clone(),
                master: Some(sub.parent.to_string()),
                ..Default::default()
            },
        );
        Ok(())
    }

    async fn delete_sandbox_link(&self, netns: &Path, ifname: &IfName) -> Result<(), PortError> {
        if let Some(sandbox) = lock(&self.state).namespaces.get_mut(netns) {
            sandbox.remove(ifname.as_str());
        }
        Ok(())
    }

    async fn sub_interface_fault(
        &self,
        sub: &SubInterface,
    ) -> Result<Option<EndpointFault>, PortError> {
        let st = lock(&self.state);
        let link = st
            .namespaces
            .get(&sub.netns)
            .and_then(|links| links.get(sub.ifname.as_str()));
        Ok(match link {
            Some(l) if l.up && sub.addresses.iter().all(|a| l.addresses.contains(a)) => None,
            _ => Some(EndpointFault::SandboxEndIncomplete),
        })
    }

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
        let mut st = lock(&self.state);
        // A deleted bridge releases its ports.
        for link in st.links.values_mut() {
            if link.master.as_deref() == Some(name.as_str()) {
                link.master = None;
            }
        }
        // Deleting one end of a veth deletes the other, as in the kernel.
        if let Some((ns, peer)) = st.links.remove(name.as_str()).and_then(|l| l.peer) {
            if let Some(links) = st.namespaces.get_mut(&ns) {
                links.remove(&peer);
            }
        }
        Ok(())
    }

    async fn set_link_down(&self, name: &IfName) -> Result<(), PortError> {
        if let Some(link) = lock(&self.state).links.get_mut(name.as_str()) {
            link.up = false;
        }
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
        // As the kernel: a link that is down has no connected routes.
        let connected = st
            .links
            .values()
            .filter(|l| l.up)
            .flat_map(|l| l.addresses.iter().map(IpNet::trunc));
        Ok(st.routes.iter().copied().chain(connected).collect())
    }

    async fn set_sysctl(&self, key: &str, value: &str) -> Result<(), PortError> {
        lock(&self.state)
            .sysctls
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    async fn create_netns(&self, path: &Path) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        let lo = FakeLink {
            up: true,
            ..Default::default()
        };
        st.namespaces
            .entry(path.to_path_buf())
            .or_insert_with(|| BTreeMap::from([("lo".to_owned(), lo)]));
        Ok(())
    }

    async fn remove_netns(&self, path: &Path) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        // A namespace's veth ends die with it, taking their host ends along.
        if let Some(links) = st.namespaces.remove(path) {
            let hosts: Vec<String> = st
                .links
                .iter()
                .filter(|(_, l)| {
                    l.peer
                        .as_ref()
                        .is_some_and(|(ns, p)| ns == path && links.contains_key(p))
                })
                .map(|(n, _)| n.clone())
                .collect();
            for h in hosts {
                st.links.remove(&h);
            }
        }
        Ok(())
    }

    async fn list_netns(&self, dir: &Path) -> Result<Vec<PathBuf>, PortError> {
        Ok(lock(&self.state)
            .namespaces
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect())
    }

    async fn veth_pair_fault(
        &self,
        spec: &VethPair,
        check: EndpointCheck,
    ) -> Result<Option<EndpointFault>, PortError> {
        let st = lock(&self.state);
        let Some(host) = st.links.get(spec.host_ifname.as_str()) else {
            return Ok(Some(EndpointFault::HostEndMissing));
        };
        if !host.up || host.alias.as_deref() != Some(spec.alias.as_str()) {
            return Ok(Some(EndpointFault::HalfMade));
        }
        if host.master.as_deref() != Some(spec.bridge.as_str())
            || !st.links.contains_key(spec.bridge.as_str())
        {
            return Ok(Some(EndpointFault::NotOnBridge));
        }
        if check == EndpointCheck::HostEnd {
            return Ok(None);
        }
        let sandbox_end = st
            .namespaces
            .get(&spec.netns)
            .and_then(|ns| ns.get(spec.ifname.as_str()));
        match sandbox_end {
            Some(l) if l.up && spec.addresses.iter().all(|a| l.addresses.contains(a)) => Ok(None),
            _ => Ok(Some(EndpointFault::SandboxEndIncomplete)),
        }
    }

    fn port_in_use(&self, proto: Proto, _ip: IpAddr, port: u16) -> bool {
        lock(&self.state).bound_ports.contains(&(proto, port))
    }

    async fn forget_flows(&self, flows: &[FlowMatch]) -> Result<usize, PortError> {
        lock(&self.state).forgotten_flows.push(flows.to_vec());
        Ok(0)
    }

    async fn add_veth_pair(&self, spec: &VethPair) -> Result<(), PortError> {
        let mut st = lock(&self.state);
        if st.refuse_endpoints > 0 {
            st.refuse_endpoints -= 1;
            return Err(fail(format!(
                "create {}: no space left on device",
                spec.host_ifname
            )));
        }
        if !st.links.contains_key(spec.bridge.as_str()) {
            return Err(fail(format!("bridge {} does not exist", spec.bridge)));
        }
        if st.links.contains_key(spec.host_ifname.as_str()) {
            return Err(fail(format!("{} exists", spec.host_ifname)));
        }
        let Some(ns) = st.namespaces.get_mut(&spec.netns) else {
            return Err(fail(format!("no namespace {}", spec.netns.display())));
        };
        if ns.contains_key(spec.ifname.as_str()) {
            return Err(fail(format!("{} exists in the sandbox", spec.ifname)));
        }
        ns.insert(
            spec.ifname.to_string(),
            FakeLink {
                mtu: spec.mtu,
                addresses: spec.addresses.clone(),
                up: true,
                mac: Some(spec.mac),
                peer: Some((PathBuf::new(), spec.host_ifname.to_string())),
                gateways: spec.default_gateways.clone(),
                ..Default::default()
            },
        );
        st.links.insert(
            spec.host_ifname.to_string(),
            FakeLink {
                alias: Some(spec.alias.clone()),
                mtu: spec.mtu,
                up: true,
                master: Some(spec.bridge.to_string()),
                peer: Some((spec.netns.clone(), spec.ifname.to_string())),
                ..Default::default()
            },
        );
        Ok(())
    }
}

/// The store's contract in memory, unique names and addresses included,
/// each commit all or nothing.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<MemState>,
    /// Refuses container writes, as SQLite on a full disk.
    full: std::sync::atomic::AtomicBool,
}

#[derive(Clone, Default)]
struct MemState {
    networks: BTreeMap<NetworkId, (Network, RecordState)>,
    containers: BTreeMap<ContainerId, Container>,
}

fn conflict(what: String) -> PortError {
    Box::new(StoreConflict(what))
}

impl MemState {
    fn apply(&mut self, write: &Write) -> Result<(), PortError> {
        match write {
            Write::PutNetwork(network, state) => {
                if self
                    .networks
                    .values()
                    .any(|(n, _)| n.name == network.name && n.id != network.id)
                {
                    return Err(conflict(format!("network {} exists", network.name)));
                }
                self.networks
                    .insert(network.id.clone(), (Network::clone(network), *state));
            }
            Write::DeleteNetwork(id) => {
                let in_use = self.containers.values().any(|c| {
                    c.attachments
                        .iter()
                        .any(|a| &a.network == id && a.endpoint.is_some())
                });
                if in_use {
                    return Err(conflict(format!("network {id} has active endpoints")));
                }
                self.networks.remove(id);
            }
            Write::PutContainer(container) => {
                if let Some(holder) = self
                    .containers
                    .values()
                    .find(|c| c.name == container.name && c.id != container.id)
                {
                    return Err(conflict(format!(
                        "name {} is used by {}",
                        container.name, holder.id
                    )));
                }
                for a in &container.attachments {
                    let Some(endpoint) = &a.endpoint else {
                        continue;
                    };
                    if !self.networks.contains_key(&a.network) {
                        return Err(fail(format!("no network {}", a.network)));
                    }
                    let taken = self
                        .containers
                        .values()
                        .filter(|c| c.id != container.id)
                        .flat_map(|c| c.attachments.iter())
                        .filter(|other| other.network == a.network)
                        .filter_map(|other| other.endpoint.as_ref())
                        .any(|other| {
                            other
                                .addresses()
                                .any(|x| endpoint.addresses().any(|y| x.addr() == y.addr()))
                        });
                    if taken {
                        return Err(conflict("Address already in use".to_owned()));
                    }
                }
                self.containers
                    .insert(container.id.clone(), Container::clone(container));
            }
            Write::DeleteContainer(id) => {
                self.containers.remove(id);
            }
        }
        Ok(())
    }
}

impl MemStore {
    pub fn state_of(&self, id: &NetworkId) -> Option<RecordState> {
        lock(&self.state).networks.get(id).map(|(_, s)| *s)
    }

    /// While set, container writes fail as on a full disk.
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::Relaxed);
    }

    /// Every stored endpoint, with its container.
    pub fn endpoints(&self) -> Vec<StoredEndpoint> {
        lock(&self.state)
            .containers
            .values()
            .flat_map(|c| {
                c.attachments.iter().filter_map(|a| {
                    Some(StoredEndpoint {
                        container: c.id.clone(),
                        network: a.network.clone(),
                        endpoint: a.endpoint.clone()?,
                    })
                })
            })
            .collect()
    }

    /// Writes `container` as a crashed daemon may have left it.
    pub fn update_container(&self, container: &Container) -> Result<(), PortError> {
        self.commit(&[Write::PutContainer(Box::new(container.clone()))])
    }

    /// Sets a network's record state as a crashed daemon may have left it.
    pub fn set_network_state(&self, id: &NetworkId, state: RecordState) -> Result<(), PortError> {
        let network = lock(&self.state)
            .networks
            .get(id)
            .map(|(n, _)| n.clone())
            .ok_or_else(|| fail(format!("no network {id}")))?;
        self.commit(&[Write::PutNetwork(Box::new(network), state)])
    }

    /// The addresses allocated on `network`, as the store holds them.
    pub fn allocated_addresses(&self, network: &NetworkId) -> BTreeSet<IpAddr> {
        lock(&self.state)
            .containers
            .values()
            .flat_map(|c| c.attachments.iter())
            .filter(|a| &a.network == network)
            .filter_map(|a| a.endpoint.as_ref())
            .flat_map(|e| e.addresses().map(|net| net.addr()))
            .collect()
    }
}

/// An endpoint as [`MemStore::endpoints`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEndpoint {
    pub container: ContainerId,
    pub network: NetworkId,
    pub endpoint: berth_core::container::Endpoint,
}

impl Store for MemStore {
    fn networks(&self) -> Result<Vec<(Network, RecordState)>, PortError> {
        Ok(lock(&self.state).networks.values().cloned().collect())
    }

    fn containers(&self) -> Result<Vec<Container>, PortError> {
        Ok(lock(&self.state).containers.values().cloned().collect())
    }

    fn commit(&self, writes: &[Write]) -> Result<(), PortError> {
        let touches_containers = writes
            .iter()
            .any(|w| matches!(w, Write::PutContainer(_) | Write::DeleteContainer(_)));
        if touches_containers && self.full.load(Ordering::Relaxed) {
            return Err(fail("database or disk is full"));
        }
        let mut state = lock(&self.state);
        let mut next = state.clone();
        for write in writes {
            next.apply(write)?;
        }
        *state = next;
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

    fn host_resolv_conf(&self) -> String {
        "nameserver 10.0.0.2\nsearch example.test\n".to_owned()
    }
}

/// A container process as the fake runtime keeps it.
#[derive(Clone, Debug)]
pub struct FakeProcess {
    pub spec: LaunchSpec,
    pub status: RuntimeStatus,
    pub signals: Vec<i32>,
    pub etc: EtcFiles,
}

/// Runs nothing: records what it was asked and lets tests end processes.
pub struct FakeRuntime {
    processes: Mutex<BTreeMap<ContainerId, FakeProcess>>,
    /// Bumped on every change, so `wait` wakes up.
    changed: watch::Sender<u64>,
    fail_next_start: Mutex<Option<String>>,
    /// When set, SIGTERM/SIGKILL end the process at once with 128+signal.
    pub signals_kill: bool,
    next_pid: AtomicU64,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime {
            processes: Mutex::default(),
            changed: watch::channel(0).0,
            fail_next_start: Mutex::default(),
            signals_kill: true,
            next_pid: AtomicU64::new(1000),
        }
    }
}

impl FakeRuntime {
    pub fn process(&self, id: &ContainerId) -> Option<FakeProcess> {
        lock(&self.processes).get(id).cloned()
    }

    /// Ends a running process with `code`, as if it exited by itself.
    pub fn exit(&self, id: &ContainerId, code: i64) {
        if let Some(p) = lock(&self.processes).get_mut(id) {
            p.status = RuntimeStatus::Exited(ExitStatus {
                code,
                finished_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            });
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Makes the next start fail with this message.
    pub fn fail_next_start(&self, message: &str) {
        *lock(&self.fail_next_start) = Some(message.to_owned());
    }

    /// Forgets a process, as after a reboot.
    pub fn forget(&self, id: &ContainerId) {
        lock(&self.processes).remove(id);
        self.changed.send_modify(|n| *n += 1);
    }
}

impl Runtime for FakeRuntime {
    async fn create(&self, spec: &LaunchSpec) -> Result<(), PortError> {
        lock(&self.processes).insert(
            spec.id.clone(),
            FakeProcess {
                spec: spec.clone(),
                status: RuntimeStatus::Created,
                signals: Vec::new(),
                etc: spec.etc.clone(),
            },
        );
        Ok(())
    }

    async fn start(&self, id: &ContainerId) -> Result<u32, PortError> {
        if let Some(message) = lock(&self.fail_next_start).take() {
            return Err(fail(message));
        }
        let pid = u32::try_from(self.next_pid.fetch_add(1, Ordering::Relaxed)).unwrap_or(1);
        match lock(&self.processes).get_mut(id) {
            Some(p) => p.status = RuntimeStatus::Running { pid },
            None => return Err(fail(format!("no container {id}"))),
        }
        self.changed.send_modify(|n| *n += 1);
        Ok(pid)
    }

    async fn signal(&self, id: &ContainerId, signal: i32) -> Result<(), PortError> {
        let mut processes = lock(&self.processes);
        let Some(p) = processes.get_mut(id) else {
            return Err(fail(format!("no container {id}")));
        };
        p.signals.push(signal);
        if self.signals_kill
            && matches!(p.status, RuntimeStatus::Running { .. })
            && (signal == 9 || signal == 15)
        {
            p.status = RuntimeStatus::Exited(ExitStatus {
                code: 128 + i64::from(signal),
                finished_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            });
            drop(processes);
            self.changed.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, PortError> {
        let mut changes = self.changed.subscribe();
        loop {
            match lock(&self.processes).get(id).map(|p| p.status) {
                Some(RuntimeStatus::Exited(exit)) => return Ok(exit),
                None => return Err(fail(format!("no container {id}"))),
                Some(_) => {}
            }
            if changes.changed().await.is_err() {
                return Err(fail("runtime gone"));
            }
        }
    }

    async fn status(&self, id: &ContainerId) -> Result<RuntimeStatus, PortError> {
        Ok(lock(&self.processes)
            .get(id)
            .map_or(RuntimeStatus::Missing, |p| p.status))
    }

    async fn delete(&self, id: &ContainerId) -> Result<(), PortError> {
        self.forget(id);
        Ok(())
    }

    async fn write_etc(&self, id: &ContainerId, files: &EtcFiles) -> Result<(), PortError> {
        if let Some(p) = lock(&self.processes).get_mut(id) {
            p.etc = files.clone();
        }
        Ok(())
    }
}

/// berth's tables as a model: what `apply` and `update` leave, and a way
/// to delete them "from outside".
#[derive(Default)]
pub struct FakeFirewall {
    state: Mutex<Option<FirewallState>>,
    /// What berth last wrote (`None`: never wrote), to tell drift.
    written: Mutex<Option<FirewallState>>,
    /// Transactions seen, to check that a change is one transaction.
    pub transactions: AtomicU64,
}

impl FakeFirewall {
    /// The tables' content, `None` if they do not exist.
    pub fn state(&self) -> Option<FirewallState> {
        lock(&self.state).clone()
    }

    /// Like `nft flush ruleset` run by someone else.
    pub fn flush(&self) {
        *lock(&self.state) = None;
    }

    /// Changes the tables' content as someone else might (`nft delete
    /// element …`); no-op if they do not exist.
    pub fn tamper(&self, change: impl FnOnce(&mut FirewallState)) {
        if let Some(state) = lock(&self.state).as_mut() {
            change(state);
        }
    }

    fn wrote(&self, state: Option<FirewallState>) {
        *lock(&self.written) = state;
    }
}

impl Firewall for FakeFirewall {
    async fn apply(&self, state: &FirewallState) -> Result<(), PortError> {
        *lock(&self.state) = Some(state.clone());
        self.wrote(Some(state.clone()));
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn update(&self, change: &FirewallChange) -> Result<(), PortError> {
        let mut guard = lock(&self.state);
        let Some(state) = guard.as_mut() else {
            return Err(fail("table ip berth does not exist"));
        };
        state
            .networks
            .retain(|n| !change.remove_networks.contains(n));
        state.networks.extend(change.add_networks.iter().cloned());
        state.ports.retain(|p| !change.remove_ports.contains(p));
        state.ports.extend(change.add_ports.iter().cloned());
        state.networks.sort();
        state.ports.sort();
        let written = state.clone();
        drop(guard);
        self.wrote(Some(written));
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn drift(&self) -> Result<Option<String>, PortError> {
        let written = lock(&self.written).clone();
        let now = lock(&self.state).clone();
        Ok(match (written, now) {
            (None, _) => None,
            (Some(_), None) => Some("berth's tables are gone".to_owned()),
            (Some(w), Some(n)) if w == n => None,
            (Some(_), Some(_)) => Some("berth's tables' content changed".to_owned()),
        })
    }
}

/// Which sandboxes have an embedded DNS server, and where it forwards.
#[derive(Default)]
pub struct FakeDns {
    served: Mutex<BTreeMap<ContainerId, (PathBuf, DnsUpstreams)>>,
}

impl FakeDns {
    pub fn serving(&self, id: &ContainerId) -> Option<(PathBuf, DnsUpstreams)> {
        lock(&self.served).get(id).cloned()
    }
}

impl SandboxDns for FakeDns {
    async fn serve(
        &self,
        asker: &ContainerId,
        netns: &Path,
        upstreams: DnsUpstreams,
    ) -> Result<(), PortError> {
        lock(&self.served).insert(asker.clone(), (netns.to_path_buf(), upstreams));
        Ok(())
    }

    async fn stop(&self, asker: &ContainerId) {
        lock(&self.served).remove(asker);
    }
}

pub struct FakeHost {
    pub net: FakeNet,
    pub store: MemStore,
    pub env: FixedEnv,
    pub runtime: FakeRuntime,
    pub images: FakeImages,
    pub firewall: FakeFirewall,
    pub dns: FakeDns,
    pub netns_dir: PathBuf,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost {
            net: FakeNet::default(),
            store: MemStore::default(),
            env: FixedEnv::default(),
            runtime: FakeRuntime::default(),
            images: FakeImages::default(),
            firewall: FakeFirewall::default(),
            dns: FakeDns::default(),
            netns_dir: PathBuf::from("/run/berth/netns"),
        }
    }
}

impl Host for FakeHost {
    type Net = FakeNet;
    type Store = MemStore;
    type Env = FixedEnv;
    type Runtime = FakeRuntime;
    type Images = FakeImages;
    type Firewall = FakeFirewall;
    type Dns = FakeDns;

    fn dns(&self) -> &FakeDns {
        &self.dns
    }

    fn firewall(&self) -> &FakeFirewall {
        &self.firewall
    }

    fn runtime(&self) -> &FakeRuntime {
        &self.runtime
    }

    fn images(&self) -> &FakeImages {
        &self.images
    }

    fn netns_dir(&self) -> &Path {
        &self.netns_dir
    }

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
