//! How the rest of the daemon talks to the engine: mutations as commands,
//! reads straight from the engine's model (the network and container
//! tables it shares), signals and waits on its own.

use std::sync::Arc;

use berth_types::{ContainerId, NetworkId};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::warn;

pub use crate::container::control::{
    libc_sigkill, libc_sigterm, stop_grace, WaitCondition, DEFAULT_STOP_TIMEOUT,
};
use crate::container::create::{ContainerCreate, EndpointRequest};
use crate::container::table::ContainerTable;
use crate::container::{
    Container, ContainerStats, Endpoint, Health, HealthTable, LinkFacts, NetworkMode, StartKind,
    Status,
};
use crate::engine::{Command, Engine, ExitNotice, Reply};
use crate::error::{Error, Result};
use crate::events::{EventFilter, EventLog, EventSubscription, EventType};
use crate::filter::{ContainerFacts, ContainerFilter, ListFilter, PruneFilter};
use crate::lookup::find_network;
use crate::model::{has_endpoints_on, NetworkTable};
use crate::network::{Network, NetworkCreate};
use crate::ports::{Env, Host, Images, Runtime, RuntimeStatus};
use crate::volume::{users_of, Volume, VolumeCreate, VolumeFilter, VolumePrune, VolumeTable};

/// A start from the prepare on the engine through the runtime to the
/// recorded outcome; the runtime's part runs in a task of its own so a
/// requester that goes away cannot leave the container half-started.
pub(crate) async fn run_start<H: Host>(
    host: Arc<H>,
    tx: mpsc::Sender<Command>,
    reference: String,
    kind: StartKind,
) -> Result<Container> {
    let (reply, answer) = oneshot::channel();
    tx.send(Command::PrepareStart(reference.clone(), kind, reply))
        .await
        .map_err(|_| Error::ShutDown)?;
    let prepared = answer.await.map_err(|_| Error::ShutDown)??;
    let task = tokio::spawn(async move {
        let runtime = host.runtime();
        let spec = prepared.spec;
        let t0 = std::time::Instant::now();
        // Stale flows go while runc creates the container, before its
        // process can send anything.
        let forget =
            crate::flows::forget_flows(host.net(), spec.id.as_str(), &prepared.stale_flows);
        let (_, created) = tokio::join!(forget, runtime.create(&spec));
        let started = match created {
            Ok(()) => runtime.start(&spec.id).await,
            Err(e) => Err(e),
        };
        timing("runtime_start", spec.id.as_str(), t0, started.is_ok());
        let (reply, answer) = oneshot::channel();
        tx.send(Command::FinishStart(spec.id.clone(), started, reply))
            .await
            .map_err(|_| Error::ShutDown)?;
        answer.await.map_err(|_| Error::ShutDown)?
    });
    task.await.map_err(|e| Error::Internal {
        what: format!("the start task of container {reference} failed: {e}"),
    })?
}

/// What `container prune` takes: a container that is stopped and stays so
/// (Docker's `!IsRunning()`: not paused, restarting or being started).
pub(crate) fn prunable(c: &Container) -> bool {
    matches!(c.state.status, Status::Created | Status::Exited)
        && !c.state.restarting
        && !c.state.starting
        && !c.state.paused
}

/// How the rest of the daemon talks to the engine: mutations as commands,
/// reads directly from the store, signals and waits on its own.
pub struct EngineHandle<H: Host> {
    pub(crate) host: Arc<H>,
    pub(crate) networks: Arc<NetworkTable>,
    pub(crate) table: Arc<ContainerTable>,
    pub(crate) volumes: Arc<VolumeTable>,
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) exits: broadcast::Sender<ExitNotice>,
    pub(crate) event_log: Arc<EventLog>,
    pub(crate) health: Arc<HealthTable>,
}

impl<H: Host> Clone for EngineHandle<H> {
    fn clone(&self) -> Self {
        EngineHandle {
            host: Arc::clone(&self.host),
            networks: Arc::clone(&self.networks),
            table: Arc::clone(&self.table),
            volumes: Arc::clone(&self.volumes),
            tx: self.tx.clone(),
            exits: self.exits.clone(),
            event_log: Arc::clone(&self.event_log),
            health: Arc::clone(&self.health),
        }
    }
}

impl<H: Host> EngineHandle<H> {
    /// A handle on `engine`'s model and notices, sending commands on `tx`.
    pub(crate) fn new(engine: &Engine<H>, tx: mpsc::Sender<Command>) -> Self {
        EngineHandle {
            host: Arc::clone(&engine.host),
            networks: Arc::clone(&engine.model.networks),
            table: Arc::clone(&engine.model.containers),
            volumes: Arc::clone(&engine.model.volumes),
            tx,
            exits: engine.exits.clone(),
            event_log: Arc::clone(&engine.event_log),
            health: Arc::clone(&engine.health),
        }
    }

    /// Docker's events from now on (and, with `since`/`until` in Unix
    /// nanoseconds, the kept ones in that window) that pass `filter`.
    pub fn subscribe_events(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        filter: EventFilter,
    ) -> EventSubscription {
        self.event_log.subscribe(since, until, filter)
    }

    /// A container event of what the daemon does outside the engine
    /// (exec, attach, resize, top, export, copies).
    pub fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        self.event_log
            .container(c, action, extra, self.host.env().now());
    }

    /// An event of another kind the daemon tells (image prunes).
    pub fn pruned_event(&self, kind: EventType, reclaimed: u64) {
        self.event_log
            .pruned(kind, reclaimed, self.host.env().now());
    }

    /// A running container's health, if it has a healthcheck.
    pub fn health(&self, id: &ContainerId) -> Option<Health> {
        self.health.get(id)
    }

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

    /// Applies what the cluster store's watch saw (overlay networks other
    /// hosts made or removed).
    pub async fn cluster_event(&self, event: crate::cluster::ClusterEvent) -> Result<()> {
        self.ask(|r| Command::Cluster(event, r)).await
    }

    /// Every network that exists for users, oldest first.
    pub fn networks(&self) -> Arc<[Network]> {
        self.networks.snapshot()
    }

    /// Networks matching `filter`, sorted by name as `docker network ls` shows them.
    pub fn list_networks(&self, filter: &ListFilter) -> Vec<Network> {
        let containers = self.table.all();
        let mut networks: Vec<Network> = self
            .networks()
            .iter()
            .filter(|n| filter.matches(n, has_endpoints_on(&containers, &n.id)))
            .cloned()
            .collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));
        networks
    }

    pub fn inspect_network(&self, reference: &str) -> Result<Network> {
        find_network(&self.networks(), reference).cloned()
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
    /// A status filter looks at stopped containers too, as Docker's does;
    /// `before`/`since` name containers that must exist.
    pub fn list_containers(
        &self,
        all: bool,
        filter: &ContainerFilter,
    ) -> Result<Vec<Arc<Container>>> {
        let networks = self.networks();
        let created = |reference: Option<&str>| -> Result<_> {
            reference
                .map(|r| self.table.find(r).map(|c| c.created))
                .transpose()
        };
        let ancestor_ids = self.image_ids(filter.ancestors());
        let mut facts = ContainerFacts {
            networks: &networks,
            health: None,
            ancestor_ids: &ancestor_ids,
            before: created(filter.before())?,
            since: created(filter.since())?,
        };
        let all = all || filter.lists_stopped();
        let mut list: Vec<Arc<Container>> = self
            .table
            .all()
            .into_iter()
            .filter(|c| {
                facts.health = self.health(&c.id).map(|h| h.status);
                (all || c.is_running() || c.state.restarting) && filter.matches(c, &facts)
            })
            .collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.created));
        Ok(list)
    }

    /// The ids of the images `references` name; one that names none
    /// matches nothing, as in Docker's `ancestor` filter.
    fn image_ids(&self, references: &[String]) -> Vec<String> {
        references
            .iter()
            .filter_map(|r| match self.host.images().resolve(r) {
                Ok(image) => image.map(|i| i.id),
                Err(e) => {
                    warn!(image = %r, error = %e, "image not resolved for a filter");
                    None
                }
            })
            .collect()
    }

    /// `container prune`: removes the stopped containers `filter` admits,
    /// each measured by `size_of` first; returns their ids and the bytes
    /// freed. One that cannot go (started meanwhile) is left, as Docker does.
    pub async fn prune_containers(
        &self,
        filter: &PruneFilter,
        size_of: impl Fn(&Container) -> u64,
    ) -> Result<(Vec<ContainerId>, u64)> {
        let mut removed = Vec::new();
        let mut freed = 0;
        for c in self.table.all() {
            if !prunable(&c) || !filter.admits(c.created, &c.labels) {
                continue;
            }
            let size = size_of(&c);
            match self
                .ask(|r| Command::RemoveContainer(c.id.to_string(), false, r))
                .await
            {
                Ok(_) => {
                    freed += size;
                    removed.push(c.id.clone());
                }
                Err(Error::ShutDown) => return Err(Error::ShutDown),
                Err(e) => warn!(container = %c.name, error = %e, "container not pruned"),
            }
        }
        self.event_log
            .pruned(EventType::Container, freed, self.host.env().now());
        Ok((removed, freed))
    }

    pub async fn create_container(&self, req: ContainerCreate) -> Result<Container> {
        self.ask(|r| Command::CreateContainer(Box::new(req), r))
            .await
    }

    /// `docker update`: new limits, applied live if the container runs.
    pub async fn update_container(
        &self,
        reference: &str,
        change: crate::container::ContainerUpdate,
    ) -> Result<Container> {
        self.ask(|r| Command::UpdateContainer(reference.to_owned(), change, r))
            .await
    }

    /// Starts a container: the engine makes its network, the runtime runs
    /// it (outside the engine, in a task of its own so a client hanging up
    /// cannot leave it half-started), and the engine records the outcome.
    pub async fn start_container(&self, reference: &str) -> Result<Container> {
        run_start(
            Arc::clone(&self.host),
            self.tx.clone(),
            reference.to_owned(),
            StartKind::Manual,
        )
        .await
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

    pub async fn create_volume(&self, req: VolumeCreate) -> Result<Volume> {
        self.ask(|r| Command::CreateVolume(req, r)).await
    }

    pub async fn remove_volume(&self, name: String, force: bool) -> Result<()> {
        self.ask(|r| Command::RemoveVolume(name, force, r)).await
    }

    /// Removes unused volumes; returns their names and the bytes freed.
    pub async fn prune_volumes(&self, filter: VolumePrune) -> Result<(Vec<String>, u64)> {
        self.ask(|r| Command::PruneVolumes(filter, r)).await
    }

    /// Volumes matching `filter`, by name.
    pub fn list_volumes(&self, filter: &VolumeFilter) -> Vec<Volume> {
        let containers = self.table.all();
        let mut list: Vec<Volume> = self
            .volumes
            .snapshot()
            .iter()
            .filter(|v| filter.matches(v, users_of(&containers, &v.name).next().is_some()))
            .cloned()
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    pub fn inspect_volume(&self, name: &str) -> Result<Volume> {
        self.volumes
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("get {name}: no such volume")))
    }

    /// Every volume, oldest first.
    pub fn volumes(&self) -> Arc<[Volume]> {
        self.volumes.snapshot()
    }
}

/// The rule that a request needs the container's process up, in one place
/// and in Docker's words (`kill`, `exec`, a terminal resize).
impl<H: Host> EngineHandle<H> {
    /// The container, if its process runs; Docker's 409 otherwise.
    pub fn running_container(&self, reference: &str) -> Result<Container> {
        let c = self.inspect_container(reference)?;
        if c.is_running() {
            Ok(c)
        } else {
            Err(not_running(&c))
        }
    }

    /// What `c`'s links give it now (an exec gets their variables too).
    pub fn link_facts(&self, c: &Container) -> LinkFacts {
        crate::container::links::link_facts(c, &self.table)
    }

    /// A running container an exec may enter: Docker's 409 if it is
    /// paused.
    pub fn exec_target(&self, reference: &str) -> Result<Container> {
        let c = self.running_container(reference)?;
        if c.state.paused {
            return Err(Error::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        Ok(c)
    }

    pub async fn pause_container(&self, reference: &str) -> Result<()> {
        self.ask(|r| Command::SetPaused(reference.to_owned(), true, r))
            .await
            .map(drop)
    }

    pub async fn unpause_container(&self, reference: &str) -> Result<()> {
        self.ask(|r| Command::SetPaused(reference.to_owned(), false, r))
            .await
            .map(drop)
    }

    pub async fn rename_container(&self, reference: &str, name: &str) -> Result<()> {
        self.ask(|r| Command::Rename(reference.to_owned(), name.to_owned(), r))
            .await
    }

    /// The host pids of a running container's processes (`top`).
    pub async fn container_pids(&self, reference: &str) -> Result<Vec<u32>> {
        let c = self.running_container(reference)?;
        self.host
            .runtime()
            .pids(&c.id)
            .await
            .map_err(Error::runtime(format!(
                "list the processes of container {}",
                c.name
            )))
    }

    /// The container and, if its process runs, a reading of its resource
    /// use (`docker stats`); a container that stops meanwhile has none, as
    /// Docker answers for a stopped one.
    pub async fn container_stats(
        &self,
        reference: &str,
    ) -> Result<(Container, Option<ContainerStats>)> {
        let c = self.inspect_container(reference)?;
        if !c.is_running() {
            return Ok((c, None));
        }
        match self.host.runtime().stats(&c.id).await {
            Ok(mut stats) => {
                // The host's interfaces are not the container's traffic.
                if c.network_mode == NetworkMode::Host {
                    stats.networks.clear();
                }
                Ok((c, Some(stats)))
            }
            // Its process may have ended before the engine heard of it.
            Err(e) => match self.host.runtime().status(&c.id).await {
                Ok(RuntimeStatus::Running { .. }) => Err(Error::runtime(format!(
                    "read the resource use of container {}",
                    c.name
                ))(e)),
                _ => Ok((c, None)),
            },
        }
    }

    /// As [`Self::running_container`], but a container berth is still
    /// starting counts: a client may size the terminal of a `docker run`
    /// before the start is recorded.
    pub fn resizable_container(&self, reference: &str) -> Result<Container> {
        let c = self.inspect_container(reference)?;
        if c.is_running() || c.state.starting {
            Ok(c)
        } else {
            Err(not_running(&c))
        }
    }
}

fn not_running(c: &Container) -> Error {
    Error::Conflict(format!("container {} is not running", c.id))
}

/// One debug line per timed step (target `berth::timing`), which
/// `berth-bench` reads from the daemon's log.
pub(crate) fn timing(op: &str, container: &str, started: std::time::Instant, ok: bool) {
    tracing::debug!(target: "berth::timing", op, container, ok, us = started.elapsed().as_micros() as u64, "timing");
}
