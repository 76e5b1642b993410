//! Container use cases on the engine: create, the networked half of start,
//! exit, remove. Everything here mutates, so it runs on the engine task; the
//! runtime's slow part of a start (runc) runs outside it, between
//! [`Engine::prepare_start`] and [`Engine::finish_start`].
//!
//! A start is two transactions: one records the intent (the container
//! starting, its namespace path, its endpoints with their addresses, its
//! host ports) before any kernel work, so a crash leaves a record of all
//! there is to undo; one records the outcome.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use berth_types::ContainerId;
use tracing::{info, warn};

use crate::container::create::{generated_name, plan_container, ContainerCreate, Context};
use crate::container::restart::next_delay;
use crate::container::{security, Container, Status};
use crate::engine::{Command, Engine, ExitNotice};
use crate::error::{Error, Result};
use crate::handle::{run_start, timing};
use crate::image::image_error;
use crate::model::Txn;
use crate::network::Network;
use crate::ports::{Env, ExitStatus, FlowMatch, Host, Images, LaunchSpec, PortError, Runtime};
use crate::sandbox::Sandbox;

/// What the runtime needs to run a container whose network is made, and
/// the tracked flows to forget before its process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedStart {
    pub spec: LaunchSpec,
    /// Flows of the endpoints' addresses and of the UDP host ports just
    /// mapped: an address or port used before may still have flows the
    /// kernel tracks (a ping, a UDP exchange), whose verdicts were given
    /// under the old rules and would let the new holder bypass the current
    /// ones (icc=false, internal, isolation) or lead to a dead container.
    /// Forgotten outside the engine task, beside the runtime's create,
    /// since one pass over the kernel's table is milliseconds.
    pub stale_flows: Vec<FlowMatch>,
}

/// Who starts a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartKind {
    /// The user (`start`, `restart`, `run`).
    Manual,
    /// Its restart policy, after an exit and the back-off.
    Policy,
    /// berthd's start, for a container its policy brings back (Docker's
    /// restore: the restart count starts again).
    Boot,
}

impl<H: Host> Engine<H> {
    pub async fn create_container(&mut self, mut req: ContainerCreate) -> Result<Container> {
        if req.image.is_empty() {
            return Err(Error::InvalidParameter(
                "no image specified: Image is empty".to_owned(),
            ));
        }
        let image = self
            .host
            .images()
            .resolve(&req.image)
            .map_err(image_error(format!("look up image {}", req.image)))?
            .ok_or_else(|| {
                Error::NotFound(format!("No such image: {}", image_display(&req.image)))
            })?;
        let new_volumes = self.plan_storage(&mut req.storage, &image.volumes)?;
        let networks = self.networks();
        let env = self.host.env();
        let id = ContainerId::from_bytes(env.random_id_bytes());
        let seed = env.random_id_bytes();
        let table = &self.model.containers;
        let ctx = Context {
            image: &image,
            networks: &networks,
            containers: table,
            host_gateway: default_gateway(&networks),
            capacity: self.host.runtime().capacity(),
        };
        let container = plan_container(req, &ctx, id, env.now(), || {
            generated_name(&seed, |n| table.name_holder(n).is_some())
        })?;
        let mut txn =
            Txn::new(format!("record container {}", container.name)).put_container(&container);
        for v in &new_volumes {
            txn = txn.put_volume(v);
        }
        self.commit(txn)?;
        self.make_volume_dirs(&new_volumes).await;
        info!(container = %container.name, id = %container.id, "container created");
        for v in &new_volumes {
            self.volume_event(v, "create");
        }
        self.container_event(&container, "create", &[]);
        Ok(container)
    }

    /// Makes the container's network (sandbox, endpoints, published ports,
    /// `/etc` files, DNS) and returns what the runtime needs. The container
    /// is marked `starting` until [`Engine::finish_start`].
    pub async fn prepare_start(
        &mut self,
        reference: &str,
        kind: StartKind,
    ) -> Result<PreparedStart> {
        let mut c = self.container(reference)?;
        // A policy's restart that the user overtook (start, stop, rm) has
        // nothing left to do.
        if c.is_running() || (kind != StartKind::Manual && !c.state.restarting) {
            return Err(Error::NotModified);
        }
        if c.state.starting {
            return Err(Error::Conflict(format!(
                "container {} is already being started",
                c.name
            )));
        }
        if c.state.status == Status::Removing {
            return Err(Error::Conflict(format!(
                "container {} is marked for removal and cannot be started",
                c.name
            )));
        }
        let sandbox = self.sandbox_of(&c)?;
        self.check_links(&c)?;
        c.state.starting = true;
        c.state.error.clear();
        // A policy's restart shows as restarting until it runs.
        c.state.restarting = kind != StartKind::Manual;
        c.state.manually_stopped = false;
        if kind != StartKind::Policy {
            c.state.restart_count = 0;
            c.state.restart_delay_ms = 0;
        }
        self.stopping.remove(&c.id);
        if let Some(path) = sandbox.own_path() {
            c.netns = Some(path.to_path_buf());
            self.fit_gwbridge(&mut c).await?;
            for index in 0..c.attachments.len() {
                self.plan_endpoint(&mut c, index)?;
            }
            self.plan_publications(&mut c)?;
            let all = 0..c.attachments.len();
            self.claim_overlay_addresses(&mut c, all).await?;
        }
        // An address another endpoint holds is Docker's 403. Unsynced
        // unless the cluster store holds claims for it: what it records
        // (the namespace, endpoints and ports about to be made) a reboot
        // erases too, and the outcome's commit flushes it; an overlay
        // claim outlives a reboot, so its record must too.
        let remote = c
            .attachments
            .iter()
            .any(|a| self.overlay_network(&a.network).is_some());
        let mut txn = Txn::new(format!("record the start of container {}", c.name))
            .on_conflict(Error::Forbidden)
            .put_container(&c);
        if !remote {
            txn = txn.unsynced();
        }
        let t = Instant::now();
        if let Err(e) = self.commit(txn) {
            self.release_overlay_addresses(&c, 0..c.attachments.len())
                .await;
            return Err(e);
        }
        timing("start_record", c.id.as_str(), t, true);
        let made = match self.activate_volumes(&c).await {
            Ok(()) => self.make_container_network(&c, &sandbox).await,
            Err(e) => Err(e),
        };
        match made {
            Ok(prepared) => Ok(prepared),
            Err(e) => {
                self.tear_down_sandbox(&mut c).await;
                self.deactivate_volumes(&c).await;
                c.state.starting = false;
                c.state.restarting = false;
                c.state.error = e.to_string();
                self.commit(
                    Txn::new(format!("record the failed start of container {}", c.name))
                        .put_container(&c),
                )?;
                self.remove_if_auto(c).await;
                Err(e)
            }
        }
    }

    /// The kernel half of a start, for a container whose endpoints and
    /// ports are recorded.
    async fn make_container_network(
        &mut self,
        c: &Container,
        sandbox: &Sandbox,
    ) -> Result<PreparedStart> {
        let security = security::launch(&c.id, &c.security, &self.model.containers)?;
        let mut stale_flows = Vec::new();
        let id = c.id.as_str();
        if let Some(path) = sandbox.own_path() {
            let t = Instant::now();
            self.make_sandbox(c, sandbox).await?;
            timing("start_netns", id, t, true);
            let t = Instant::now();
            self.join_all(c, path).await?;
            timing("start_join", id, t, true);
            for a in &c.attachments {
                if let Some(endpoint) = &a.endpoint {
                    stale_flows.extend(self.flows.joining(&a.network, endpoint));
                }
            }
            let t = Instant::now();
            stale_flows.extend(self.map_ports(c).await?);
            timing("start_ports", id, t, true);
            self.publish_names(c);
        }
        let t = Instant::now();
        let etc = self.etc_files(c)?;
        self.serve_dns(c, sandbox).await?;
        timing("start_etc_dns", id, t, true);
        let mut process = c.process.clone();
        process.env = self.link_facts(c).env_before(&process.env);
        Ok(PreparedStart {
            spec: LaunchSpec {
                id: c.id.clone(),
                image_id: c.image_id.clone(),
                process,
                hostname: c.dns.hostname.clone(),
                domainname: c.dns.domainname.clone(),
                netns: sandbox.netns.clone(),
                etc,
                storage: c.storage.clone(),
                resources: c.resources.clone(),
                security,
            },
            stale_flows,
        })
    }

    /// Docker removes a `--rm` container whose start failed: the client
    /// waits for the removal before it starts it.
    async fn remove_if_auto(&mut self, c: Container) {
        if !c.auto_remove {
            return;
        }
        let name = c.name.clone();
        if let Err(e) = self.destroy_container(c).await {
            warn!(container = %name, error = %e, "not removed after a failed start");
        }
    }

    /// Records the outcome of the runtime's start.
    pub async fn finish_start(
        &mut self,
        id: &ContainerId,
        started: std::result::Result<u32, PortError>,
    ) -> Result<Container> {
        let mut c = self.container(id.as_str())?;
        c.state.starting = false;
        c.state.restarting = false;
        match started {
            Ok(pid) => {
                c.state.status = Status::Running;
                c.state.pid = pid;
                c.state.exit_code = 0;
                c.state.started_at = Some(self.host.env().now());
                c.state.finished_at = None;
                self.commit(
                    Txn::new(format!("record container {} running", c.name)).put_container(&c),
                )?;
                self.publish_names(&c);
                self.watch_exit(&c.id);
                self.watch_health(&c);
                info!(container = %c.name, pid, "container started");
                self.attachment_events(&c, "connect");
                self.volume_mount_events(&c, true);
                self.container_event(&c, "start", &[]);
                Ok(c)
            }
            Err(source) => {
                self.tear_down_sandbox(&mut c).await;
                self.deactivate_volumes(&c).await;
                if let Err(e) = self.host.runtime().delete(&c.id).await {
                    warn!(container = %c.name, error = %e, "runtime state not removed after a failed start");
                }
                let (error, exit_code) = start_failure(source);
                c.state.error = error.to_string();
                c.state.exit_code = exit_code;
                self.commit(
                    Txn::new(format!("record the failed start of container {}", c.name))
                        .put_container(&c),
                )?;
                self.remove_if_auto(c).await;
                Err(error)
            }
        }
    }

    /// The process exited (reported by its monitor).
    pub async fn container_exited(&mut self, id: &ContainerId, exit: ExitStatus) -> Result<()> {
        let Ok(c) = self.container(id.as_str()) else {
            return Ok(());
        };
        if !c.is_running() {
            // A `--rm` container whose exit was recorded but whose removal
            // failed: this is the retry.
            if c.auto_remove && matches!(c.state.status, Status::Exited | Status::Removing) {
                return self.destroy_container(c).await;
            }
            return Ok(());
        }
        self.record_exit(c, exit).await
    }

    /// Tears the network down and records the exit; removes the container
    /// if it was started with `--rm` (marked for removal in the same
    /// transaction).
    pub(crate) async fn record_exit(&mut self, mut c: Container, exit: ExitStatus) -> Result<()> {
        self.stop_health(&c.id);
        self.tear_down_sandbox(&mut c).await;
        self.deactivate_volumes(&c).await;
        c.state.starting = false;
        c.state.status = if c.auto_remove {
            Status::Removing
        } else {
            Status::Exited
        };
        c.state.pid = 0;
        c.state.paused = false;
        c.state.exit_code = exit.code;
        c.state.finished_at = Some(exit.finished_at);
        let restart_in = self.restart_after_exit(&mut c, &exit);
        self.commit(
            Txn::new(format!("record the exit of container {}", c.name)).put_container(&c),
        )?;
        self.stopping.remove(&c.id);
        info!(container = %c.name, code = exit.code, "container exited");
        self.attachment_events(&c, "disconnect");
        self.volume_mount_events(&c, false);
        let ran = ran_for(&c, &exit);
        self.container_event(
            &c,
            "die",
            &[
                ("exitCode", exit.code.to_string()),
                ("execDuration", ran.as_secs().to_string()),
            ],
        );
        let _ = self.exits.send(ExitNotice::Exited(c.id.clone(), exit.code));
        if let Some(delay) = restart_in {
            info!(container = %c.name, restarts = c.state.restart_count, delay_ms = delay.as_millis() as u64, "restarting by its restart policy");
            self.send_later(delay, Command::Restart(c.id.clone(), StartKind::Policy));
        }
        if c.auto_remove {
            self.destroy_container(c).await?;
        }
        Ok(())
    }

    /// Whether the exit just recorded in `c` brings it back, and after
    /// what back-off; counts the restart in `c` if so.
    fn restart_after_exit(&self, c: &mut Container, exit: &ExitStatus) -> Option<Duration> {
        let restarts = !c.auto_remove
            && !self.stopping.contains(&c.id)
            && c.restart
                .restarts_after(exit.code, c.state.manually_stopped, c.state.restart_count);
        if !restarts {
            return None;
        }
        let ran = ran_for(c, exit);
        let delay = next_delay(Duration::from_millis(c.state.restart_delay_ms), ran);
        c.state.restart_count = c.state.restart_count.saturating_add(1);
        c.state.restart_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        c.state.restarting = true;
        Some(delay)
    }

    /// Starts a container its restart policy (or berthd's start) brings
    /// back: the whole start, in a task of its own, as a user's would be.
    pub(crate) fn restart_container(&self, id: ContainerId, kind: StartKind) {
        let Some(commands) = self.commands.as_ref().and_then(|c| c.upgrade()) else {
            return;
        };
        let host = std::sync::Arc::clone(&self.host);
        tokio::spawn(async move {
            match run_start(host, commands, id.to_string(), kind).await {
                Ok(_) | Err(Error::NotModified | Error::NotFound(_)) => {}
                Err(e) => warn!(container = %id, error = %e, "restart by policy failed"),
            }
        });
    }

    /// The user stops or kills `reference`: see [`Command::StopRequested`].
    pub(crate) fn stop_requested(&mut self, reference: &str, ends_it: bool) -> Result<bool> {
        let mut c = self.container(reference)?;
        let was_restarting = c.state.restarting;
        if ends_it {
            self.stopping.insert(c.id.clone());
            c.state.restarting = false;
        }
        if c.state.manually_stopped && !was_restarting {
            return Ok(false);
        }
        c.state.manually_stopped = true;
        self.commit(
            Txn::new(format!(
                "record that container {} was stopped by hand",
                c.name
            ))
            .put_container(&c),
        )?;
        Ok(was_restarting && ends_it)
    }

    /// Removes a container that is not running; with `volumes`
    /// (`rm -v`), its anonymous volumes too.
    pub async fn remove_container(&mut self, reference: &str, volumes: bool) -> Result<Container> {
        let c = self.container(reference)?;
        if c.state.restarting {
            return Err(Error::Conflict(format!(
                "cannot remove container \"/{}\": container is restarting: stop the container before removing or force remove",
                c.name
            )));
        }
        if c.is_running() || c.state.starting {
            return Err(Error::Conflict(format!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                c.name
            )));
        }
        self.destroy_container_with(c.clone(), volumes).await?;
        Ok(c)
    }

    /// Takes down what is left of `c` and forgets it. A container that
    /// still holds kernel objects is first marked for removal, so a crash
    /// in between leaves reconcile a record to finish; one that holds none
    /// (stopped: its network went at exit) needs no mark, as a crash then
    /// leaves at worst its runtime state gone, which its next start makes
    /// again and its next removal skips.
    pub(crate) async fn destroy_container(&mut self, c: Container) -> Result<()> {
        self.destroy_container_with(c, false).await
    }

    /// [`Self::destroy_container`]; the container's anonymous volumes go
    /// with it when `volumes` or it was started with `--rm` (forgotten in
    /// the same transaction, their directories removed after).
    async fn destroy_container_with(&mut self, mut c: Container, volumes: bool) -> Result<()> {
        let holds_kernel_objects = c.netns.is_some()
            || !c.published.is_empty()
            || c.attachments.iter().any(|a| a.endpoint.is_some());
        if holds_kernel_objects && c.state.status != Status::Removing {
            c.state.status = Status::Removing;
            self.commit(
                Txn::new(format!("mark container {} for removal", c.name)).put_container(&c),
            )?;
        }
        self.tear_down_sandbox(&mut c).await;
        self.host
            .runtime()
            .delete(&c.id)
            .await
            .map_err(Error::runtime(format!(
                "remove the runtime state of container {}",
                c.name
            )))?;
        let doomed = if volumes || c.auto_remove {
            self.anonymous_volumes_of(&c)
        } else {
            Vec::new()
        };
        let mut txn = Txn::new(format!("forget container {}", c.name)).delete_container(&c.id);
        for v in &doomed {
            txn = txn.delete_volume(&v.name);
        }
        self.commit(txn)?;
        self.remove_volume_dirs(&doomed).await;
        self.names.remove_container(&c.id);
        info!(container = %c.name, "container removed");
        self.container_event(&c, "destroy", &[]);
        for v in &doomed {
            self.volume_event(v, "destroy");
        }
        let _ = self
            .exits
            .send(ExitNotice::Removed(c.id.clone(), c.state.exit_code));
        Ok(())
    }

    /// Starts a task that reports the container's exit to the engine.
    pub(crate) fn watch_exit(&self, id: &ContainerId) {
        let host = std::sync::Arc::clone(&self.host);
        let commands = self.commands.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let exit = match host.runtime().wait(&id).await {
                Ok(exit) => exit,
                Err(e) => {
                    warn!(container = %id, error = %e, "lost track of the container's process");
                    ExitStatus {
                        code: 255,
                        finished_at: host.env().now(),
                    }
                }
            };
            if let Some(commands) = commands.and_then(|c| c.upgrade()) {
                let _ = commands.send(Command::Exited(id, exit, 0)).await;
            }
        });
    }
}

/// How long the process that just exited ran.
fn ran_for(c: &Container, exit: &ExitStatus) -> Duration {
    c.state
        .started_at
        .and_then(|at| exit.finished_at.duration_since(at).ok())
        .unwrap_or_default()
}

fn image_display(reference: &str) -> String {
    if reference.contains(':') || reference.starts_with("sha256") {
        reference.to_owned()
    } else {
        format!("{reference}:latest")
    }
}

/// The default bridge's gateway: what `host-gateway` resolves to.
fn default_gateway(networks: &[Network]) -> Option<IpAddr> {
    networks
        .iter()
        .find(|n| n.name.as_str() == "bridge")
        .and_then(|n| n.subnets.iter().find(|p| p.gateway.is_ipv4()))
        .map(|p| p.gateway)
}

/// moby's `translateContainerdStartErr`: a start that the container's own
/// settings doom (no such command, not executable, unknown user) is the
/// client's error, with the exit code a shell gives; anything else is ours.
fn start_failure(source: PortError) -> (Error, i64) {
    let message = source.to_string();
    let has = |words: &str| message.contains(words);
    if has("permission denied") {
        (Error::InvalidParameter(message), 126)
    } else if has("executable file not found")
        || has("no such file or directory")
        || has("unable to find user")
        || has("unable to find group")
    {
        (Error::InvalidParameter(message), 127)
    } else {
        (Error::StartFailed { source }, 127)
    }
}
