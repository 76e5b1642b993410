//! The engine: the one owner of mutation. API handlers send it commands and
//! await the reply, so kernel, IPAM and store changes never race, and a
//! command runs to the end even if the client that asked goes away (a
//! half-done change is what crash safety is about). Reads go to the
//! container table the engine keeps beside the store (its only writer) and
//! to the store; signals and waiting happen outside the engine.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use berth_types::{ContainerId, IfName, NetworkId};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{info, warn};

use crate::address_book::AddressBook;
use crate::config::EngineConfig;
use crate::container::{Container, Endpoint};
use crate::container_create::{ContainerCreate, EndpointRequest};
use crate::container_table::ContainerTable;
use crate::containers::network_in_use;
use crate::dns_names::NameIndex;
use crate::error::{Error, Result};
use crate::filter::{ContainerFilter, ListFilter, PruneFilter};
use crate::flows::FlowLedger;
use crate::lookup::find_network;
use crate::model::{Network, RecordState};
use crate::network::{bridge_spec, plan_network, NetworkCreate, Surroundings};
use crate::ports::{Env, ExitStatus, FirewallChange, Host, NetOps, Runtime, Store};

/// Bounded so a flood of requests queues in the API, not in memory here.
const COMMAND_QUEUE: usize = 256;
/// Exit and removal notices kept for slow listeners.
const EVENT_BUFFER: usize = 1024;
/// How long the conntrack pass of leaving endpoints waits for a command
/// that follows at once (`rm -f` sends its removal right after the exit).
const FLOW_PASS_GRACE: Duration = Duration::from_millis(2);
/// How long an exit that could not be recorded waits before the next try:
/// doubling from the first, up to the last.
const EXIT_RETRY_FIRST: Duration = Duration::from_millis(250);
const EXIT_RETRY_MAX: Duration = Duration::from_secs(10);

type Reply<T> = oneshot::Sender<Result<T>>;

pub(crate) enum Command {
    CreateNetwork(NetworkCreate, Reply<Network>),
    RemoveNetwork(String, Reply<Network>),
    PruneNetworks(PruneFilter, Reply<Vec<Network>>),
    CreateContainer(Box<ContainerCreate>, Reply<Container>),
    PrepareStart(String, Reply<crate::containers::PreparedStart>),
    FinishStart(
        ContainerId,
        std::result::Result<u32, String>,
        Reply<Container>,
    ),
    /// A process exit, from its monitor; `attempt` counts earlier tries
    /// that could not be recorded.
    Exited(ContainerId, ExitStatus, u32),
    RemoveContainer(String, Reply<Container>),
    Connect(String, String, EndpointRequest, Reply<()>),
    Disconnect(String, String, Reply<()>),
    RepairFirewall(Reply<bool>),
    RecordImage(Box<crate::ports::StagedImage>, Reply<String>),
    RemoveImage(String, bool, Reply<Vec<crate::ports::RemovedImage>>),
}

/// What happened to a container, for those waiting on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Exited(ContainerId, i64),
    Removed(ContainerId, i64),
    /// The container's process is gone but that could not be recorded
    /// (say, the data root is full): its waiters answer with this error;
    /// the engine tries again until it is recorded.
    NotRecorded(ContainerId, String),
}

pub struct Engine<H: Host> {
    pub(crate) host: Arc<H>,
    pub(crate) config: EngineConfig,
    pub(crate) events: broadcast::Sender<Event>,
    /// For exit monitors to report back; weak so the engine still stops
    /// when the last handle goes.
    pub(crate) commands: Option<mpsc::WeakSender<Command>>,
    /// What the embedded DNS answers, kept current by the engine.
    pub(crate) names: Arc<NameIndex>,
    /// The store's container records, kept in step with every write.
    pub(crate) table: Arc<ContainerTable>,
    /// Bridges of removed networks still being deleted (the kernel takes
    /// ~50 ms per bridge, so `network rm` does not wait for it); each task
    /// returns its bridge's name.
    bridge_removals: tokio::task::JoinSet<IfName>,
    removing_bridges: HashSet<IfName>,
    /// Addresses in use per network, kept in step with the store.
    pub(crate) addresses: AddressBook,
    /// Stale conntrack flows, see [`crate::flows::FlowLedger`].
    pub(crate) flows: FlowLedger,
}

impl<H: Host> Engine<H> {
    /// Loads the container records; fails only if the store cannot be read.
    pub fn new(host: Arc<H>, config: EngineConfig) -> Result<Self> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let records = host
            .store()
            .containers()
            .map_err(Error::store("load containers"))?;
        Ok(Engine {
            host,
            config,
            events,
            commands: None,
            names: Arc::default(),
            table: Arc::new(ContainerTable::new(records)),
            bridge_removals: tokio::task::JoinSet::new(),
            removing_bridges: HashSet::new(),
            addresses: AddressBook::default(),
            flows: FlowLedger::default(),
        })
    }

    /// The name index the embedded DNS server answers from.
    pub fn names(&self) -> Arc<NameIndex> {
        Arc::clone(&self.names)
    }

    /// Runs the engine on its own task; returns the handle to talk to it and
    /// the task, which ends when every handle is dropped. Call after
    /// [`Engine::reconcile`].
    pub fn spawn(mut self) -> (EngineHandle<H>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        self.commands = Some(tx.downgrade());
        let handle = EngineHandle {
            host: Arc::clone(&self.host),
            table: Arc::clone(&self.table),
            tx,
            events: self.events.clone(),
        };
        // Containers found running at start get their exit monitors now
        // that there is a channel to report on.
        for c in self.table.all().iter().filter(|c| c.is_running()) {
            self.watch_exit(&c.id);
        }
        (handle, tokio::spawn(self.run(rx)))
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut next = None;
        loop {
            let command = match next.take() {
                Some(command) => command,
                None => match rx.recv().await {
                    Some(command) => command,
                    None => break,
                },
            };
            // No address is handed out while flows of a former holder may
            // still be there.
            if matches!(command, Command::PrepareStart(..) | Command::Connect(..)) {
                self.forget_leaving_flows().await;
            }
            self.handle(command).await;
            if self.flows.has_leaving() {
                // A command that follows at once goes first.
                match tokio::time::timeout(FLOW_PASS_GRACE, rx.recv()).await {
                    Ok(Some(command)) => next = Some(command),
                    Ok(None) => break,
                    Err(_) => self.forget_leaving_flows().await,
                }
            }
        }
        self.forget_leaving_flows().await;
        self.finish_bridge_removals().await;
    }

    /// Runs one command. A requester that hung up is no reason to stop:
    /// the work is done either way, so send errors are ignored.
    async fn handle(&mut self, command: Command) {
        match command {
            Command::CreateNetwork(req, reply) => {
                let _ = reply.send(self.create_network(req).await);
            }
            Command::RemoveNetwork(reference, reply) => {
                let _ = reply.send(self.remove_network(&reference).await);
            }
            Command::PruneNetworks(filter, reply) => {
                let _ = reply.send(self.prune_networks(&filter).await);
            }
            Command::CreateContainer(req, reply) => {
                let _ = reply.send(self.create_container(*req).await);
            }
            Command::PrepareStart(reference, reply) => {
                let started = std::time::Instant::now();
                let result = self.prepare_start(&reference).await;
                timing("network_setup", &reference, started, result.is_ok());
                let _ = reply.send(result);
            }
            Command::FinishStart(id, started, reply) => {
                let _ = reply.send(self.finish_start(&id, started).await);
            }
            Command::Exited(id, exit, attempt) => {
                if let Err(e) = self.container_exited(&id, exit).await {
                    self.exit_not_recorded(id, exit, attempt, e);
                }
            }
            Command::RemoveContainer(reference, reply) => {
                let started = std::time::Instant::now();
                let result = self.remove_container(&reference).await;
                timing("engine_remove", &reference, started, result.is_ok());
                let _ = reply.send(result);
            }
            Command::Connect(network, container, req, reply) => {
                let _ = reply.send(self.connect(&network, &container, req).await);
            }
            Command::Disconnect(network, container, reply) => {
                let _ = reply.send(self.disconnect(&network, &container).await);
            }
            Command::RepairFirewall(reply) => {
                let _ = reply.send(self.repair_firewall().await);
            }
            Command::RecordImage(staged, reply) => {
                let _ = reply.send(self.record_image(&staged));
            }
            Command::RemoveImage(reference, force, reply) => {
                let _ = reply.send(self.remove_image(&reference, force));
            }
        }
    }

    /// The process is gone but the store refused the record: whoever waits
    /// on the container gets the error now, and the exit is tried again
    /// later, so the state converges once the store takes writes again.
    fn exit_not_recorded(&self, id: ContainerId, exit: ExitStatus, attempt: u32, e: Error) {
        let delay = EXIT_RETRY_FIRST
            .saturating_mul(1 << attempt.min(8))
            .min(EXIT_RETRY_MAX);
        warn!(container = %id, error = %e, retry_in_ms = delay.as_millis() as u64, "exit not recorded");
        let _ = self.events.send(Event::NotRecorded(
            id.clone(),
            format!(
                "the container's process has exited, but berth could not record the change: {e}"
            ),
        ));
        let Some(commands) = self.commands.clone() else {
            return;
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(commands) = commands.upgrade() {
                let _ = commands
                    .send(Command::Exited(id, exit, attempt.saturating_add(1)))
                    .await;
            }
        });
    }

    /// Waits for the bridges of removed networks to be gone (shutdown,
    /// reconcile, and a new network that wants one of their names).
    pub async fn finish_bridge_removals(&mut self) {
        while self.bridge_removals.join_next().await.is_some() {}
        self.removing_bridges.clear();
    }

    /// Forgets the deletions that have finished.
    fn reap_bridge_removals(&mut self) {
        while let Some(done) = self.bridge_removals.try_join_next() {
            if let Ok(name) = done {
                self.removing_bridges.remove(&name);
            }
        }
    }

    fn live_networks(&self) -> Result<Vec<Network>> {
        live_networks(self.host.store())
    }

    pub async fn create_network(&mut self, req: NetworkCreate) -> Result<Network> {
        let existing = self.live_networks()?;
        let host_routes = self
            .host
            .net()
            .host_routes()
            .await
            .map_err(Error::kernel("list the host's routes"))?;
        let env = self.host.env();
        let id = NetworkId::from_bytes(env.random_id_bytes());
        let around = Surroundings {
            existing: &existing,
            host_routes: &host_routes,
        };
        let network = plan_network(req, &around, &self.config, id, env.now())?;
        // A removed network's bridge is down, so its subnet is free at once;
        // its name is free once it is deleted.
        self.reap_bridge_removals();
        if let Some(bridge) = &network.bridge {
            if self.removing_bridges.contains(&bridge.name) {
                self.finish_bridge_removals().await;
            }
        }

        let store = self.host.store();
        store
            .insert_network(&network, RecordState::Creating)
            .map_err(Error::store(format!("record network {}", network.name)))?;
        if let Err(e) = self.make_bridge(&network).await {
            self.undo_create(&network).await;
            return Err(e);
        }
        let change = FirewallChange {
            add_networks: self.fw_network(&network).into_iter().collect(),
            ..Default::default()
        };
        if let Err(e) = self.update_firewall(change).await {
            self.undo_create(&network).await;
            return Err(e);
        }
        store
            .set_network_state(&network.id, RecordState::Ready)
            .map_err(Error::store(format!("mark network {} ready", network.name)))?;
        info!(network = %network.name, id = %network.id, "network created");
        Ok(network)
    }

    /// The bridge, its `route_localnet` (so 127.0.0.1 reaches published
    /// ports) and the network's firewall elements.
    pub(crate) async fn make_bridge(&self, network: &Network) -> Result<()> {
        let Some(spec) = bridge_spec(network) else {
            return Ok(());
        };
        let net = self.host.net();
        net.ensure_bridge(&spec)
            .await
            .map_err(|source| Error::Kernel {
                what: format!("create bridge {} for network {}", spec.name, network.name),
                source,
            })?;
        if self.config.firewall {
            let key = format!("net/ipv4/conf/{}/route_localnet", spec.name);
            net.set_sysctl(&key, "1")
                .await
                .map_err(Error::kernel(format!(
                    "enable route_localnet on {}",
                    spec.name
                )))?;
        }
        // As dockerd: an IPv6 network turns IPv6 forwarding on, or its
        // containers could not reach past the host.
        if self.config.ip_forward && network.enable_ipv6 {
            net.set_sysctl("net.ipv6.conf.all.forwarding", "1")
                .await
                .map_err(Error::kernel("enable net.ipv6.conf.all.forwarding"))?;
        }
        Ok(())
    }

    /// Best effort: the error that made us undo is the one worth reporting;
    /// what cannot be undone now, start-up reconcile finishes.
    async fn undo_create(&self, network: &Network) {
        if let Some(bridge) = &network.bridge {
            if let Err(e) = self.host.net().delete_link(&bridge.name).await {
                warn!(bridge = %bridge.name, error = %e, "undo: bridge not removed");
            }
        }
        if let Err(e) = self.host.store().delete_network(&network.id) {
            warn!(network = %network.name, error = %e, "undo: record not removed");
        }
    }

    fn endpoints(&self) -> Result<Vec<crate::ports::EndpointRecord>> {
        self.host
            .store()
            .endpoints()
            .map_err(Error::store("list endpoints"))
    }

    pub async fn remove_network(&mut self, reference: &str) -> Result<Network> {
        let networks = self.live_networks()?;
        let network = find_network(&networks, reference)?.clone();
        if network.is_predefined() {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                network.name
            )));
        }
        if network_in_use(&self.endpoints()?, &network.id) {
            return Err(Error::Forbidden(format!(
                "error while removing network: network {} has active endpoints",
                network.name
            )));
        }
        self.destroy_network(&network).await?;
        Ok(network)
    }

    /// Removes a custom network that has been checked to be removable: its
    /// record, its firewall elements and its bridge's routes (by setting it
    /// down) now; the bridge itself in the background. The record goes
    /// first: a crash after it leaves firewall elements and a bridge no
    /// record claims, and start-up reconcile's full firewall apply and
    /// orphan sweep remove both.
    async fn destroy_network(&mut self, network: &Network) -> Result<()> {
        self.host
            .store()
            .delete_network(&network.id)
            .map_err(Error::store(format!("forget network {}", network.name)))?;
        self.addresses.forget(&network.id);
        self.flows.forget_network(&network.id);
        let change = FirewallChange {
            remove_networks: self.fw_network(network).into_iter().collect(),
            ..Default::default()
        };
        if let Err(e) = self.update_firewall(change).await {
            // Stale elements for a gone bridge match nothing; the next full
            // apply drops them.
            warn!(network = %network.name, error = %e, "firewall elements not removed");
        }
        if let Some(bridge) = network.bridge.as_ref().map(|b| b.name.clone()) {
            if let Err(e) = self.host.net().set_link_down(&bridge).await {
                warn!(network = %network.name, %bridge, error = %e, "bridge not set down");
            }
            self.reap_bridge_removals();
            self.removing_bridges.insert(bridge.clone());
            let host = Arc::clone(&self.host);
            let name = network.name.clone();
            self.bridge_removals.spawn(async move {
                if let Err(e) = host.net().delete_link(&bridge).await {
                    warn!(network = %name, %bridge, error = %e, "bridge not removed: the next start removes it");
                }
                bridge
            });
        }
        info!(network = %network.name, id = %network.id, "network removed");
        Ok(())
    }

    pub async fn prune_networks(&mut self, filter: &PruneFilter) -> Result<Vec<Network>> {
        let endpoints = self.endpoints()?;
        let mut removed = Vec::new();
        for network in self.live_networks()? {
            if network.is_predefined()
                || !filter.matches(&network)
                || network_in_use(&endpoints, &network.id)
            {
                continue;
            }
            match self.destroy_network(&network).await {
                Ok(()) => removed.push(network),
                // Docker's prune skips what it cannot remove and carries on.
                Err(e) => warn!(network = %network.name, error = %e, "prune: network not removed"),
            }
        }
        Ok(removed)
    }
}

/// Networks that exist for users: not those being removed.
pub(crate) fn live_networks<S: Store>(store: &S) -> Result<Vec<Network>> {
    let all = store.networks().map_err(Error::store("list networks"))?;
    Ok(all
        .into_iter()
        .filter(|(_, state)| *state != RecordState::Removing)
        .map(|(n, _)| n)
        .collect())
}

/// Docker's `stop` default grace period.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// `wait`'s conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// How the rest of the daemon talks to the engine: mutations as commands,
/// reads directly from the store, signals and waits on its own.
pub struct EngineHandle<H: Host> {
    pub(crate) host: Arc<H>,
    table: Arc<ContainerTable>,
    tx: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
}

impl<H: Host> Clone for EngineHandle<H> {
    fn clone(&self) -> Self {
        EngineHandle {
            host: Arc::clone(&self.host),
            table: Arc::clone(&self.table),
            tx: self.tx.clone(),
            events: self.events.clone(),
        }
    }
}

impl<H: Host> EngineHandle<H> {
    pub(crate) async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| Error::ShutDown)?;
        answer.await.map_err(|_| Error::ShutDown)?
    }

    pub async fn create_network(&self, req: NetworkCreate) -> Result<Network> {
        self.ask(|r| Command::CreateNetwork(req, r)).await
    }

    pub async fn remove_network(&self, reference: String) -> Result<Network> {
        self.ask(|r| Command::RemoveNetwork(reference, r)).await
    }

    pub async fn prune_networks(&self, filter: PruneFilter) -> Result<Vec<Network>> {
        self.ask(|r| Command::PruneNetworks(filter, r)).await
    }

    /// Every network that exists for users, unsorted.
    pub fn networks(&self) -> Result<Vec<Network>> {
        live_networks(self.host.store())
    }

    /// Networks matching `filter`, sorted by name as `docker network ls` shows them.
    pub fn list_networks(&self, filter: &ListFilter) -> Result<Vec<Network>> {
        let endpoints = self
            .host
            .store()
            .endpoints()
            .map_err(Error::store("list endpoints"))?;
        let mut networks: Vec<Network> = self
            .networks()?
            .into_iter()
            .filter(|n| filter.matches(n, network_in_use(&endpoints, &n.id)))
            .collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(networks)
    }

    pub fn inspect_network(&self, reference: &str) -> Result<Network> {
        let networks = self.networks()?;
        find_network(&networks, reference).cloned()
    }

    /// The running containers attached to a network, with their endpoints.
    pub fn network_members(&self, network: &NetworkId) -> Vec<(Arc<Container>, Endpoint)> {
        self.table
            .all()
            .into_iter()
            .filter_map(|c| {
                let endpoint = c
                    .attachments
                    .iter()
                    .find(|a| &a.network == network)
                    .and_then(|a| a.endpoint.clone())?;
                Some((c, endpoint))
            })
            .collect()
    }

    pub fn now(&self) -> std::time::SystemTime {
        self.host.env().now()
    }

    /// Every container, in id order.
    pub fn containers(&self) -> Vec<Arc<Container>> {
        self.table.all()
    }

    pub fn inspect_container(&self, reference: &str) -> Result<Container> {
        self.table.find(reference)
    }

    /// Containers matching `filter`, newest first as `docker ps` lists them.
    pub fn list_containers(
        &self,
        all: bool,
        filter: &ContainerFilter,
    ) -> Result<Vec<Arc<Container>>> {
        let networks = self.networks()?;
        let mut list: Vec<Arc<Container>> = self
            .table
            .all()
            .into_iter()
            .filter(|c| (all || c.is_running()) && filter.matches(c, &networks))
            .collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.created));
        Ok(list)
    }

    pub async fn create_container(&self, req: ContainerCreate) -> Result<Container> {
        self.ask(|r| Command::CreateContainer(Box::new(req), r))
            .await
    }

    /// Starts a container: the engine makes its network, the runtime runs
    /// it (outside the engine, in a task of its own so a client hanging up
    /// cannot leave it half-started), and the engine records the outcome.
    pub async fn start_container(&self, reference: &str) -> Result<Container> {
        let prepared = self
            .ask(|r| Command::PrepareStart(reference.to_owned(), r))
            .await?;
        let host = Arc::clone(&self.host);
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let runtime = host.runtime();
            let spec = prepared.spec;
            let t0 = std::time::Instant::now();
            // Stale flows go while runc creates the container, before its
            // process can send anything.
            let forget = crate::containers::forget_flows(
                host.net(),
                spec.id.as_str(),
                &prepared.stale_flows,
            );
            let (_, created) = tokio::join!(forget, runtime.create(&spec));
            let started = match created {
                Ok(()) => runtime.start(&spec.id).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            timing("runtime_start", spec.id.as_str(), t0, started.is_ok());
            let (reply, answer) = oneshot::channel();
            tx.send(Command::FinishStart(spec.id.clone(), started, reply))
                .await
                .map_err(|_| Error::ShutDown)?;
            answer.await.map_err(|_| Error::ShutDown)?
        });
        task.await
            .map_err(|e| Error::Runtime(format!("start task failed: {e}")))?
    }

    /// Sends `signal`; Docker's error if the container is not running.
    pub async fn kill_container(&self, reference: &str, signal: i32) -> Result<()> {
        let c = self.running_container(reference)?;
        self.host
            .runtime()
            .signal(&c.id, signal)
            .await
            .map_err(Error::kernel(format!("signal container {}", c.name)))
    }

    /// SIGTERM (or `signal`), then SIGKILL after `timeout`; returns false if
    /// the container was not running (Docker's 304).
    pub async fn stop_container(
        &self,
        reference: &str,
        signal: i32,
        timeout: Duration,
    ) -> Result<bool> {
        let mut events = self.events.subscribe();
        let c = self.inspect_container(reference)?;
        if !c.is_running() {
            return Ok(false);
        }
        let runtime = self.host.runtime();
        if let Err(e) = runtime.signal(&c.id, signal).await {
            warn!(container = %c.name, error = %e, "stop signal not delivered");
        }
        match tokio::time::timeout(timeout, self.exited(&c.id, &mut events)).await {
            Ok(exited) => exited?,
            Err(_) => {
                info!(container = %c.name, "did not stop in time: killing");
                runtime
                    .signal(&c.id, libc_sigkill())
                    .await
                    .map_err(Error::kernel(format!("kill container {}", c.name)))?;
                self.exited(&c.id, &mut events).await?;
            }
        }
        Ok(true)
    }

    /// Resolves once the container is no longer running (by event, or
    /// because the store already says so); fails if its exit could not be
    /// recorded.
    async fn exited(
        &self,
        id: &ContainerId,
        events: &mut broadcast::Receiver<Event>,
    ) -> Result<()> {
        loop {
            match self.inspect_container(id.as_str()) {
                Ok(c) if c.is_running() => {}
                _ => return Ok(()),
            }
            match events.recv().await {
                Ok(Event::Exited(e, _) | Event::Removed(e, _)) if &e == id => return Ok(()),
                Ok(Event::NotRecorded(e, why)) if &e == id => return Err(Error::NotRecorded(why)),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// `restart`: [`Self::stop_container`] with `signal`, then start.
    pub async fn restart_container(
        &self,
        reference: &str,
        signal: i32,
        timeout: Duration,
    ) -> Result<Container> {
        self.stop_container(reference, signal, timeout).await?;
        self.start_container(reference).await
    }

    /// `rm`; with `force`, a running container is killed first.
    pub async fn remove_container(&self, reference: &str, force: bool) -> Result<Container> {
        let c = self.inspect_container(reference)?;
        if force && c.is_running() {
            let mut events = self.events.subscribe();
            if let Err(e) = self.host.runtime().signal(&c.id, libc_sigkill()).await {
                warn!(container = %c.name, error = %e, "kill before removal failed");
            }
            self.exited(&c.id, &mut events).await?;
        }
        self.ask(|r| Command::RemoveContainer(c.id.to_string(), r))
            .await
    }

    /// Docker's `wait`: subscribes now (so an exit right after this returns
    /// is not missed) and returns the future of the exit code once the
    /// condition holds.
    pub fn wait_container(
        &self,
        reference: &str,
        condition: WaitCondition,
    ) -> Result<impl std::future::Future<Output = Result<i64>> + Send + 'static> {
        let mut events = self.events.subscribe();
        let c = self.inspect_container(reference)?;
        let done_now =
            (condition == WaitCondition::NotRunning && !c.is_running() && !c.state.starting)
                .then_some(c.state.exit_code);
        Ok(async move {
            if let Some(code) = done_now {
                return Ok(code);
            }
            loop {
                match events.recv().await {
                    Ok(Event::Exited(id, code))
                        if id == c.id && condition != WaitCondition::Removed =>
                    {
                        return Ok(code)
                    }
                    Ok(Event::Removed(id, code)) if id == c.id => return Ok(code),
                    Ok(Event::NotRecorded(id, why)) if id == c.id => {
                        return Err(Error::NotRecorded(why))
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(Error::ShutDown),
                }
            }
        })
    }

    pub async fn connect(
        &self,
        network: String,
        container: String,
        req: EndpointRequest,
    ) -> Result<()> {
        self.ask(|r| Command::Connect(network, container, req, r))
            .await
    }

    /// Puts berth's tables back if someone else changed them; true if it had to.
    pub async fn repair_firewall(&self) -> Result<bool> {
        self.ask(Command::RepairFirewall).await
    }

    pub async fn disconnect(&self, network: String, container: String) -> Result<()> {
        self.ask(|r| Command::Disconnect(network, container, r))
            .await
    }
}

/// One debug line per timed step (target `berth::timing`), which
/// `berth-bench` reads from the daemon's log.
fn timing(op: &str, container: &str, started: std::time::Instant, ok: bool) {
    tracing::debug!(target: "berth::timing", op, container, ok, us = started.elapsed().as_micros() as u64, "timing");
}

/// Signal numbers are the same on every Linux architecture berth runs on.
pub const fn libc_sigterm() -> i32 {
    15
}

pub const fn libc_sigkill() -> i32 {
    9
}
