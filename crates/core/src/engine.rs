//! The engine: the one owner of mutation, as a command loop. API handlers
//! send it commands through an [`EngineHandle`] and await the reply, so
//! kernel, IPAM and store changes never race, and a command runs to the
//! end even if the client that asked goes away (a half-done change is what
//! crash safety is about). The use cases themselves live with their nouns:
//! [`crate::network`], [`crate::container`], [`crate::endpoint`],
//! [`crate::sandbox`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use berth_types::ContainerId;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::warn;

use crate::cluster::{ClusterEvent, ClusterStore};
use crate::config::EngineConfig;
use crate::container::create::{ContainerCreate, EndpointRequest};
use crate::container::{Container, HealthTable, PreparedStart, StartKind};
use crate::dns_names::NameIndex;
use crate::driver::{Drivers, NetworkDriver};
use crate::error::{Error, Result};
use crate::events::EventLog;
use crate::filter::PruneFilter;
use crate::flows::FlowLedger;
use crate::handle::{timing, EngineHandle};
use crate::lookup::find_network;
use crate::model::{Model, Txn};
use crate::network::{Network, NetworkCreate};
use crate::ports::{ExitStatus, Host, PortError};

/// Bounded so a flood of requests queues in the API, not in memory here.
const COMMAND_QUEUE: usize = 256;
/// Exit and removal notices kept for slow listeners.
const EXIT_BUFFER: usize = 1024;
/// How long the conntrack pass of leaving endpoints waits for a command
/// that follows at once (`rm -f` sends its removal right after the exit).
const FLOW_PASS_GRACE: Duration = Duration::from_millis(2);
/// How long an exit that could not be recorded waits before the next try:
/// doubling from the first, up to the last.
const EXIT_RETRY_FIRST: Duration = Duration::from_millis(250);
const EXIT_RETRY_MAX: Duration = Duration::from_secs(10);

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

pub(crate) enum Command {
    CreateNetwork(NetworkCreate, Reply<Network>),
    RemoveNetwork(String, Reply<Network>),
    PruneNetworks(PruneFilter, Reply<Vec<Network>>),
    /// What the cluster store's watch saw.
    Cluster(ClusterEvent, Reply<()>),
    CreateContainer(Box<ContainerCreate>, Reply<Container>),
    PrepareStart(String, StartKind, Reply<PreparedStart>),
    /// The runtime's answer to a start: the process's pid, or its error.
    FinishStart(
        ContainerId,
        std::result::Result<u32, PortError>,
        Reply<Container>,
    ),
    /// A process exit, from its monitor; `attempt` counts earlier tries
    /// that could not be recorded.
    Exited(ContainerId, ExitStatus, u32),
    /// Its restart policy (or berthd's start) brings the container back.
    Restart(ContainerId, StartKind),
    /// The user stops or kills the container: it is manually stopped, and
    /// with `true` (a signal that ends it) its next exit restarts nothing.
    /// The answer: whether it was waiting to restart (and no longer is).
    StopRequested(String, bool, Reply<bool>),
    /// `pause` (`true`) or `unpause`.
    SetPaused(String, bool, Reply<Container>),
    /// `rename`: the container, its new name.
    Rename(String, String, Reply<()>),
    /// A container, and with `true` its anonymous volumes.
    RemoveContainer(String, bool, Reply<Container>),
    UpdateContainer(String, crate::container::ContainerUpdate, Reply<Container>),
    Connect(String, String, EndpointRequest, Reply<()>),
    Disconnect(String, String, Reply<()>),
    RepairFirewall(Reply<bool>),
    RecordImage(
        Box<crate::ports::StagedImage>,
        crate::image::ImageRecordKind,
        Reply<String>,
    ),
    RemoveImage(String, bool, Reply<Vec<crate::ports::RemovedImage>>),
    CreateVolume(crate::volume::VolumeCreate, Reply<crate::volume::Volume>),
    /// A volume by name; with `true` (force) a missing one is success.
    RemoveVolume(String, bool, Reply<()>),
    PruneVolumes(crate::volume::VolumePrune, Reply<(Vec<String>, u64)>),
}

/// What happened to a container, for those waiting on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitNotice {
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
    pub(crate) drivers: Drivers,
    /// Networks, containers, endpoints, allocations: see [`Model`].
    pub(crate) model: Model,
    /// What the embedded DNS answers, kept current by the engine.
    pub(crate) names: Arc<NameIndex>,
    pub(crate) exits: broadcast::Sender<ExitNotice>,
    /// Docker's events (`GET /events`).
    pub(crate) event_log: Arc<EventLog>,
    /// For exit monitors to report back; weak so the engine still stops
    /// when the last handle goes.
    pub(crate) commands: Option<mpsc::WeakSender<Command>>,
    /// Stale conntrack flows, see [`crate::flows::FlowLedger`].
    pub(crate) flows: FlowLedger,
    /// Containers the user is stopping: their next exit restarts nothing
    /// (Docker's restart manager, cancelled).
    pub(crate) stopping: HashSet<ContainerId>,
    /// Running containers' health, read by the API.
    pub(crate) health: Arc<HealthTable>,
    /// The probe task of each running container with a healthcheck.
    pub(crate) health_probes: HashMap<ContainerId, tokio::task::AbortHandle>,
    /// The cluster store overlay networks live in; `None` on a single host.
    pub(crate) cluster: Option<Arc<dyn ClusterStore>>,
    /// Other hosts' endpoints on overlay networks, from the store's watch.
    pub(crate) remote_endpoints: std::collections::BTreeMap<
        (berth_types::NetworkId, berth_types::EndpointId),
        crate::cluster::EndpointRecord,
    >,
    /// Overlay addresses this host lost a claim of (held elsewhere).
    pub(crate) lost_claims:
        HashMap<berth_types::NetworkId, std::collections::BTreeSet<std::net::IpAddr>>,
    /// The overlay networks whose data plane (VXLAN device, remote
    /// endpoints' entries) is made on this host: those with endpoints here.
    pub(crate) overlay_planes: std::collections::BTreeSet<berth_types::NetworkId>,
}

impl<H: Host> Engine<H> {
    /// Loads the model from the store; fails only if it cannot be read.
    pub fn new(host: Arc<H>, config: EngineConfig) -> Result<Self> {
        let (exits, _) = broadcast::channel(EXIT_BUFFER);
        let model = Model::load(host.store())?;
        Ok(Engine {
            host,
            config,
            drivers: Drivers::default(),
            model,
            names: Arc::default(),
            exits,
            event_log: Arc::default(),
            commands: None,
            flows: FlowLedger::default(),
            stopping: HashSet::new(),
            health: Arc::default(),
            health_probes: HashMap::new(),
            cluster: None,
            remote_endpoints: Default::default(),
            lost_claims: HashMap::new(),
            overlay_planes: Default::default(),
        })
    }

    /// Joins the engine to a cluster: overlay networks are made in `store`
    /// (and reach this engine from it as [`ClusterEvent`]s).
    pub fn set_cluster_store(&mut self, store: Arc<dyn ClusterStore>) {
        self.cluster = Some(store);
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
        let handle = EngineHandle::new(&self, tx);
        // Containers found running at start get their exit monitors now
        // that there is a channel to report on.
        for c in self
            .model
            .containers
            .all()
            .iter()
            .filter(|c| c.is_running())
        {
            self.watch_exit(&c.id);
        }
        let running: Vec<Arc<Container>> = self
            .model
            .containers
            .all()
            .into_iter()
            .filter(|c| c.is_running())
            .collect();
        for c in running {
            self.watch_health(&c);
        }
        // Those reconcile found waiting to restart come back now.
        for c in self
            .model
            .containers
            .all()
            .iter()
            .filter(|c| c.state.restarting)
        {
            self.send_later(
                Duration::ZERO,
                Command::Restart(c.id.clone(), StartKind::Boot),
            );
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
        self.settle_drivers().await;
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
            Command::Cluster(event, reply) => {
                let _ = reply.send(self.cluster_event(event).await);
            }
            Command::CreateContainer(req, reply) => {
                let _ = reply.send(self.create_container(*req).await);
            }
            Command::PrepareStart(reference, kind, reply) => {
                let started = std::time::Instant::now();
                let result = self.prepare_start(&reference, kind).await;
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
            Command::Restart(id, kind) => self.restart_container(id, kind),
            Command::StopRequested(reference, ends_it, reply) => {
                let _ = reply.send(self.stop_requested(&reference, ends_it));
            }
            Command::SetPaused(reference, paused, reply) => {
                let _ = reply.send(self.set_paused(&reference, paused).await);
            }
            Command::Rename(reference, name, reply) => {
                let _ = reply.send(self.rename_container(&reference, &name));
            }
            Command::RemoveContainer(reference, volumes, reply) => {
                let started = std::time::Instant::now();
                let result = self.remove_container(&reference, volumes).await;
                timing("engine_remove", &reference, started, result.is_ok());
                let _ = reply.send(result);
            }
            Command::UpdateContainer(reference, change, reply) => {
                let _ = reply.send(self.update_container(&reference, &change).await);
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
            Command::RecordImage(staged, kind, reply) => {
                let _ = reply.send(self.record_image(&staged, kind));
            }
            Command::RemoveImage(reference, force, reply) => {
                let _ = reply.send(self.remove_image(&reference, force));
            }
            Command::CreateVolume(req, reply) => {
                let _ = reply.send(self.create_volume(req).await);
            }
            Command::RemoveVolume(name, force, reply) => {
                let _ = reply.send(self.remove_volume(&name, force).await);
            }
            Command::PruneVolumes(filter, reply) => {
                let _ = reply.send(self.prune_volumes(&filter).await);
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
        let _ = self.exits.send(ExitNotice::NotRecorded(
            id.clone(),
            format!(
                "the container's process has exited, but berth could not record the change: {e}"
            ),
        ));
        self.send_later(delay, Command::Exited(id, exit, attempt.saturating_add(1)));
    }

    /// Sends `command` to this engine after `delay`, unless it has stopped.
    pub(crate) fn send_later(&self, delay: Duration, command: Command) {
        let Some(commands) = self.commands.clone() else {
            return;
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(commands) = commands.upgrade() {
                let _ = commands.send(command).await;
            }
        });
    }

    /// Waits for the drivers' background removals (shutdown, reconcile).
    pub async fn settle_drivers(&self) {
        for driver in self.drivers.all::<H>() {
            if let Err(e) = driver.settle(None).await {
                warn!(error = %e, "driver removals not finished");
            }
        }
    }

    /// Commits `txn` to the store and the model.
    pub(crate) fn commit(&mut self, txn: Txn) -> Result<()> {
        self.model.commit(self.host.store(), txn)
    }

    /// The driver of `network`.
    pub(crate) fn driver(&self, network: &Network) -> &dyn NetworkDriver<H> {
        self.drivers.of::<H>(network.driver)
    }

    /// Every network that exists for users.
    pub(crate) fn networks(&self) -> Arc<[Network]> {
        self.model.networks.snapshot()
    }

    pub(crate) fn network(&self, reference: &str) -> Result<Network> {
        find_network(&self.networks(), reference).cloned()
    }

    pub(crate) fn container(&self, reference: &str) -> Result<Container> {
        self.model.containers.find(reference)
    }
}
