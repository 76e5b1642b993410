//! Start-up: make the kernel match the model. Records say what was meant;
//! anything half-done by a crash is finished or undone here, and berth's own
//! kernel objects that no record claims are removed.

use std::collections::BTreeSet;

use berth_types::{Driver, NetworkId};
use tracing::{info, warn};

use crate::container::{Container, Status};
use crate::driver::bridge::default_network;
use crate::driver::Leave;
use crate::endpoint::{join_of, live_endpoint_ids};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Txn;
use crate::network::{driverless_network, Network, RecordState};
use crate::ports::{EndpointCheck, Env, Host, NetOps, Runtime, RuntimeStatus, SandboxDns, Store};

impl<H: Host> Engine<H> {
    /// Brings the host in line with the model. Fails only where the daemon
    /// cannot serve: the store is unreadable or the default bridge cannot be
    /// made. A user network whose kernel objects fail is logged and retried
    /// at the next start.
    pub async fn reconcile(&mut self) -> Result<()> {
        self.settle_drivers().await;
        if self.config.ip_forward {
            self.host
                .net()
                .set_sysctl("net.ipv4.ip_forward", "1")
                .await
                .map_err(Error::kernel("enable net.ipv4.ip_forward"))?;
        }
        for driver in self.drivers.all::<H>() {
            driver.start(&self.host, &self.config).await?;
        }
        let mut records = self
            .host
            .store()
            .networks()
            .map_err(Error::store("list networks"))?;
        // Earlier berthd versions marked a network `removing` while deleting
        // its kernel objects; a database they left may still hold such records.
        for (network, _) in records.iter().filter(|(_, s)| *s == RecordState::Removing) {
            self.finish_removal(network).await;
        }
        records.retain(|(_, s)| *s != RecordState::Removing);
        self.ensure_predefined(&mut records)?;

        for (network, state) in &records {
            let made = self.restore_kernel_objects(network).await;
            match made {
                Ok(()) if *state != RecordState::Ready => self.commit(
                    Txn::new(format!("mark network {} ready", network.name))
                        .put_network(network, RecordState::Ready),
                )?,
                Ok(()) => {}
                Err(e) if network.name.as_str() == "bridge" => return Err(e),
                Err(e) => warn!(network = %network.name, error = %e, "kernel objects not restored"),
            }
        }

        self.reconcile_containers().await?;
        self.mark_policy_restarts()?;
        self.reconcile_volumes().await;
        self.remove_orphans().await?;
        self.forget_leaving_flows().await;
        self.apply_firewall().await
    }

    /// Stopped containers whose restart policy brings them back when the
    /// daemon starts (Docker's restore: `always`, `unless-stopped` unless
    /// stopped by hand, `on-failure` after a failure within its count) are
    /// marked to restart; [`Engine::spawn`] starts them.
    fn mark_policy_restarts(&mut self) -> Result<()> {
        for c in self.model.containers.all() {
            let comes_back = !c.is_running()
                && !c.state.starting
                && !c.state.restarting
                && c.state.started_at.is_some()
                && c.restart.restarts_after(
                    c.state.exit_code,
                    c.state.manually_stopped,
                    c.state.restart_count,
                );
            if comes_back {
                let mut c = Container::clone(&c);
                c.state.restarting = true;
                self.commit(
                    Txn::new(format!("mark container {} to restart", c.name)).put_container(&c),
                )?;
            }
        }
        Ok(())
    }

    /// Containers against the runtime: starts cut short are undone, exits
    /// that happened while berthd was away are recorded, removals finished.
    async fn reconcile_containers(&mut self) -> Result<()> {
        for c in self.model.containers.all() {
            let mut c = Container::clone(&c);
            if c.state.status == Status::Removing {
                let name = c.name.clone();
                if let Err(e) = self.destroy_container(c).await {
                    warn!(container = %name, error = %e, "interrupted removal not finished");
                }
                continue;
            }
            let was_up = c.is_running() || c.state.starting;
            let status = match self.host.runtime().status(&c.id).await {
                Ok(s) => s,
                Err(e) => {
                    warn!(container = %c.name, error = %e, "runtime state unknown: left as recorded");
                    continue;
                }
            };
            match (was_up, status) {
                (true, RuntimeStatus::Running { pid }) => {
                    if c.state.starting {
                        c.state.starting = false;
                        c.state.status = Status::Running;
                        c.state.pid = pid;
                        c.state.started_at = Some(self.host.env().now());
                        self.commit(
                            Txn::new(format!("record container {} running", c.name))
                                .put_container(&c),
                        )?;
                        info!(container = %c.name, "finished an interrupted start");
                    }
                    self.repair_endpoints(&c).await;
                    if c.state.networks_changing {
                        let etc = self.etc_files(&c)?;
                        if let Err(e) = self.host.runtime().write_etc(&c.id, &etc).await {
                            warn!(container = %c.name, error = %e, "/etc files not rewritten");
                        }
                        self.networks_changed(&mut c)?;
                        info!(container = %c.name, "finished an interrupted connect or disconnect");
                    }
                    self.publish_names(&c);
                    // The old daemon's DNS sockets died with it.
                    if let (Some(path), Some(upstreams)) = (&c.netns, self.dns_upstreams(&c)) {
                        if let Err(e) = self.host.dns().serve(&c.id, path, upstreams).await {
                            warn!(container = %c.name, error = %e, "embedded DNS not restored");
                        }
                    }
                }
                (true, RuntimeStatus::Exited(exit)) if c.is_running() => {
                    info!(container = %c.name, code = exit.code, "exited while berthd was away");
                    self.record_exit(c, exit).await?;
                }
                (true, _) => {
                    // A start cut short (or a process that vanished without
                    // a trace): undo the network and the runtime's half.
                    self.tear_down_sandbox(&mut c).await;
                    if let Err(e) = self.host.runtime().delete(&c.id).await {
                        warn!(container = %c.name, error = %e, "runtime state not removed");
                    }
                    if c.is_running() {
                        c.state.status = Status::Exited;
                        c.state.exit_code = 255;
                        c.state.finished_at = Some(self.host.env().now());
                    }
                    c.state.starting = false;
                    c.state.pid = 0;
                    self.commit(
                        Txn::new(format!("undo the start of container {}", c.name))
                            .put_container(&c),
                    )?;
                    info!(container = %c.name, "undid an interrupted start");
                }
                (false, RuntimeStatus::Running { .. }) => {
                    warn!(container = %c.name, "runtime runs a container recorded as stopped; leaving it");
                }
                (false, _) => {
                    if c.netns.is_some() || c.attachments.iter().any(|a| a.endpoint.is_some()) {
                        self.tear_down_sandbox(&mut c).await;
                        self.commit(
                            Txn::new(format!("forget the network of container {}", c.name))
                                .put_container(&c),
                        )?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A running container's endpoints as its record says: one deleted
    /// behind berthd's back (or released by a deleted bridge), or left
    /// half-made by a crash during `connect`, is made again with the same
    /// names, MAC and addresses. Each repair is logged; one that fails is
    /// logged and left for the next start.
    async fn repair_endpoints(&self, c: &Container) {
        let (true, Some(netns)) = (c.network_mode.owns_sandbox(), c.netns.as_deref()) else {
            return;
        };
        let networks = self.networks();
        // Only a connect a crash cut short can leave the sandbox end
        // behind a complete host end.
        let check = if c.state.networks_changing {
            EndpointCheck::BothEnds
        } else {
            EndpointCheck::HostEnd
        };
        for index in 0..c.attachments.len() {
            let join = match join_of(c, index, netns, &networks) {
                Ok(Some(join)) => join,
                Ok(None) => continue,
                Err(e) => {
                    warn!(container = %c.name, error = %e, "endpoint not checked");
                    continue;
                }
            };
            let (network, endpoint) = (&join.network.name, &join.endpoint.id);
            let driver = self.driver(join.network);
            let fault = match driver.endpoint_fault(&self.host, join, check).await {
                Ok(None) => continue,
                Ok(Some(fault)) => fault,
                Err(e) => {
                    warn!(container = %c.name, %network, %endpoint, error = %e, "endpoint not checked");
                    continue;
                }
            };
            warn!(container = %c.name, %network, %endpoint, %fault, "endpoint broken: rebuilding it");
            // Leaving takes a half-made interface along.
            let leave = Leave {
                network: join.network,
                sandbox: Some(join.sandbox),
                endpoint: join.endpoint,
            };
            if let Err(e) = driver.leave(&self.host, leave).await {
                warn!(container = %c.name, %endpoint, error = %e, "broken endpoint not removed");
            }
            match driver.join(&self.host, join).await {
                Ok(()) => info!(container = %c.name, %network, %endpoint, "endpoint rebuilt"),
                Err(e) => {
                    warn!(container = %c.name, %network, %endpoint, error = %e, "endpoint not rebuilt")
                }
            }
        }
    }

    /// The drivers' kernel objects and the namespace files that no network
    /// and no running container owns.
    async fn remove_orphans(&mut self) -> Result<()> {
        let containers = self.model.containers.all();
        let running: Vec<&Container> = containers
            .iter()
            .map(|c| c.as_ref())
            .filter(|c| c.is_running())
            .collect();
        let live: BTreeSet<&str> = running
            .iter()
            .flat_map(|c| live_endpoint_ids(c))
            .map(|id| id.as_str())
            .collect();
        let networks = self.networks_with_kernel_objects();
        for driver in self.drivers.all::<H>() {
            driver.remove_orphans(&self.host, &networks, &live).await?;
        }
        let net = self.host.net();
        let owned: BTreeSet<&std::path::Path> =
            running.iter().filter_map(|c| c.netns.as_deref()).collect();
        let files = net
            .list_netns(self.host.netns_dir())
            .await
            .map_err(Error::kernel("list network namespaces"))?;
        for path in files.iter().filter(|p| !owned.contains(p.as_path())) {
            match net.remove_netns(path).await {
                Ok(()) => {
                    info!(path = %path.display(), "removed a network namespace no container owns")
                }
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "orphan network namespace not removed")
                }
            }
        }
        Ok(())
    }

    async fn finish_removal(&mut self, network: &Network) {
        let driver = self.driver(network);
        let deleted = match driver.delete_network(&self.host, network).await {
            Ok(()) => driver.settle(Some(network)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            warn!(network = %network.name, error = %e, "interrupted removal: kernel objects still there");
            return;
        }
        let txn = Txn::new(format!("forget network {}", network.name)).delete_network(&network.id);
        match self.commit(txn) {
            Ok(()) => info!(network = %network.name, "finished an interrupted removal"),
            Err(e) => {
                warn!(network = %network.name, error = %e, "interrupted removal: record kept")
            }
        }
    }

    /// `bridge`, `host` and `none` exist from the first start and keep their
    /// ids; `bridge` follows the current `--bip`, MTU and switches.
    fn ensure_predefined(&mut self, records: &mut Vec<(Network, RecordState)>) -> Result<()> {
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            let driverless = driver != Driver::Bridge;
            let env = self.host.env();
            let existing = records.iter().position(|(n, _)| n.name.as_str() == name);
            let (id, created) = match existing {
                Some(i) => (records[i].0.id.clone(), records[i].0.created),
                None => (NetworkId::from_bytes(env.random_id_bytes()), env.now()),
            };
            let wanted = if driverless {
                driverless_network(name, driver, id, created)?
            } else {
                default_network(&self.config, id, created)?
            };
            match existing {
                Some(i) if records[i].0 == wanted => {}
                Some(i) => {
                    self.commit(
                        Txn::new(format!("update network {name}"))
                            .put_network(&wanted, RecordState::Creating),
                    )?;
                    // A renamed default bridge leaves the old one behind
                    // with this network's alias: the orphan sweep removes it.
                    records[i] = (wanted, RecordState::Creating);
                }
                None => {
                    self.commit(
                        Txn::new(format!("create network {name}"))
                            .put_network(&wanted, RecordState::Creating),
                    )?;
                    records.push((wanted, RecordState::Creating));
                }
            }
        }
        Ok(())
    }
}
