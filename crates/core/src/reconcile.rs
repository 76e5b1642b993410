//! Start-up: make the kernel match the store. Records say what was meant;
//! anything half-done by a crash is finished or undone here, and berth's own
//! kernel objects that no record claims are removed.

use std::collections::{BTreeMap, BTreeSet};

use berth_types::{Driver, NetworkId};
use tracing::{info, warn};

use crate::container::{Container, Status};
use crate::containers::{endpoint_spec, live_endpoint_ids};
use crate::engine::{live_networks, Engine};
use crate::error::{Error, Result};
use crate::model::{Network, RecordState};
use crate::network::{default_bridge_network, driverless_network};
use crate::ports::{
    endpoint_id_from_alias, network_id_from_alias, EndpointCheck, Env, Host, NetOps, Runtime,
    RuntimeStatus, SandboxDns, Store,
};

impl<H: Host> Engine<H> {
    /// Brings the host in line with the store. Fails only where the daemon
    /// cannot serve: the store is unreadable or the default bridge cannot be
    /// made. A user network whose bridge fails is logged and retried at the
    /// next start.
    pub async fn reconcile(&mut self) -> Result<()> {
        self.finish_bridge_removals().await;
        let net = self.host.net();
        if self.config.ip_forward {
            net.set_sysctl("net.ipv4.ip_forward", "1")
                .await
                .map_err(Error::kernel("enable net.ipv4.ip_forward"))?;
        }

        if self.config.firewall {
            // Docker's default: bridged traffic passes the ip/ip6 hooks, so
            // icc=false can drop traffic within one bridge.
            for key in [
                "net.bridge.bridge-nf-call-iptables",
                "net.bridge.bridge-nf-call-ip6tables",
            ] {
                if let Err(e) = net.set_sysctl(key, "1").await {
                    warn!(key, error = %e, "br_netfilter unavailable: enable_icc=false cannot be enforced");
                }
            }
        }
        let mut records = self
            .host
            .store()
            .networks()
            .map_err(Error::store("list networks"))?;
        // Earlier berthd versions marked a network `removing` while deleting
        // its bridge; a database they left may still hold such records.
        for (network, _) in records.iter().filter(|(_, s)| *s == RecordState::Removing) {
            self.finish_removal(network).await;
        }
        records.retain(|(_, s)| *s != RecordState::Removing);
        self.ensure_predefined(&mut records)?;

        for (network, state) in &records {
            let made = self.make_bridge(network).await;
            match made {
                Ok(()) => {
                    if *state != RecordState::Ready {
                        self.host
                            .store()
                            .set_network_state(&network.id, RecordState::Ready)
                            .map_err(Error::store(format!(
                                "mark network {} ready",
                                network.name
                            )))?;
                    }
                }
                Err(e) if network.name.as_str() == "bridge" => return Err(e),
                Err(e) => warn!(network = %network.name, error = %e, "bridge not restored"),
            }
        }

        self.remove_orphan_bridges(&records).await?;
        self.reconcile_containers().await?;
        // Allocations were removed behind the book's back above.
        self.addresses.forget_all();
        self.forget_leaving_flows().await;
        self.apply_firewall().await
    }

    /// Containers against the runtime: starts cut short are undone, exits
    /// that happened while berthd was away are recorded, removals finished;
    /// then endpoints, veths and namespace files that no running container
    /// owns are removed.
    async fn reconcile_containers(&mut self) -> Result<()> {
        for c in self.table.all() {
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
                        self.save_container(&c)?;
                        info!(container = %c.name, "finished an interrupted start");
                    }
                    self.repair_endpoints(&c).await?;
                    if c.state.networks_changing {
                        let etc = self.etc_files(&c)?;
                        if let Err(e) = self.host.runtime().write_etc(&c.id, &etc).await {
                            warn!(container = %c.name, error = %e, "/etc files not rewritten");
                        }
                        self.networks_changed(&mut c)?;
                        info!(container = %c.name, "finished an interrupted connect or disconnect");
                    }
                    self.publish_names(&c)?;
                    // The old daemon's DNS sockets died with it.
                    if let (Some(path), Some(upstreams)) = (&c.netns, self.dns_upstreams(&c)?) {
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
                    self.teardown_network(&mut c).await;
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
                    self.save_container(&c)?;
                    info!(container = %c.name, "undid an interrupted start");
                }
                (false, RuntimeStatus::Running { .. }) => {
                    warn!(container = %c.name, "runtime runs a container recorded as stopped; leaving it");
                }
                (false, _) => {
                    if c.netns.is_some() || c.attachments.iter().any(|a| a.endpoint.is_some()) {
                        self.teardown_network(&mut c).await;
                        self.save_container(&c)?;
                    }
                }
            }
        }
        self.remove_orphan_endpoints().await
    }

    /// A running container's veth pairs as its record says: one deleted
    /// behind berthd's back (or released by a deleted bridge), or left
    /// half-made by a crash during `connect`, is made again with the same
    /// names, MAC and addresses. Each repair is logged; one that fails is
    /// logged and left for the next start.
    async fn repair_endpoints(&self, c: &Container) -> Result<()> {
        let (true, Some(netns)) = (c.network_mode.owns_sandbox(), c.netns.as_deref()) else {
            return Ok(());
        };
        let networks = live_networks(self.host.store())?;
        let net = self.host.net();
        let mut gateway_given = false;
        for attachment in &c.attachments {
            let Some(endpoint) = &attachment.endpoint else {
                continue;
            };
            let has_gateway = endpoint.gateway4.is_some() || endpoint.gateway6.is_some();
            let with_gateways = has_gateway && !gateway_given;
            gateway_given |= has_gateway;
            let Some(network) = networks.iter().find(|n| n.id == attachment.network) else {
                continue;
            };
            let Some(bridge) = &network.bridge else {
                continue;
            };
            let spec = endpoint_spec(netns, bridge, endpoint, with_gateways);
            let veth = &endpoint.host_ifname;
            // Only a connect a crash cut short can leave the sandbox end
            // behind a complete host end.
            let check = if c.state.networks_changing {
                EndpointCheck::BothEnds
            } else {
                EndpointCheck::HostEnd
            };
            let fault = match net.endpoint_fault(&spec, check).await {
                Ok(None) => continue,
                Ok(Some(fault)) => fault,
                Err(e) => {
                    warn!(container = %c.name, network = %network.name, %veth, error = %e, "endpoint not checked");
                    continue;
                }
            };
            warn!(container = %c.name, network = %network.name, %veth, %fault, "endpoint broken: rebuilding it");
            // Deleting the host end takes a half-made sandbox end along.
            if let Err(e) = net.delete_link(veth).await {
                warn!(container = %c.name, %veth, error = %e, "broken veth not removed");
            }
            match net.add_endpoint(&spec).await {
                Ok(()) => {
                    info!(container = %c.name, network = %network.name, %veth, "endpoint rebuilt")
                }
                Err(e) => {
                    warn!(container = %c.name, network = %network.name, %veth, error = %e, "endpoint not rebuilt")
                }
            }
        }
        Ok(())
    }

    async fn remove_orphan_endpoints(&mut self) -> Result<()> {
        let containers = self.table.all();
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
        let store = self.host.store();
        let net = self.host.net();
        for record in store.endpoints().map_err(Error::store("list endpoints"))? {
            if !live.contains(record.id.as_str()) {
                if let Err(e) = net.delete_link(&record.host_ifname).await {
                    warn!(veth = %record.host_ifname, error = %e, "orphan veth not removed");
                }
                if let Err(e) = store.delete_endpoint(&record.id) {
                    warn!(endpoint = %record.id, error = %e, "orphan endpoint record not removed");
                }
            }
        }
        for link in net
            .owned_links()
            .await
            .map_err(Error::kernel("list berth's links"))?
        {
            if endpoint_id_from_alias(&link.alias).is_some_and(|id| !live.contains(id)) {
                match net.delete_link(&link.name).await {
                    Ok(()) => info!(veth = %link.name, "removed a veth no container owns"),
                    Err(e) => warn!(veth = %link.name, error = %e, "orphan veth not removed"),
                }
            }
        }
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

    async fn finish_removal(&self, network: &Network) {
        if let Some(bridge) = &network.bridge {
            if let Err(e) = self.host.net().delete_link(&bridge.name).await {
                warn!(network = %network.name, error = %e, "interrupted removal: bridge still there");
                return;
            }
        }
        match self.host.store().delete_network(&network.id) {
            Ok(()) => info!(network = %network.name, "finished an interrupted removal"),
            Err(e) => {
                warn!(network = %network.name, error = %e, "interrupted removal: record kept")
            }
        }
    }

    /// `bridge`, `host` and `none` exist from the first start and keep their
    /// ids; `bridge` follows the current `--bip`, MTU and switches.
    fn ensure_predefined(&self, records: &mut Vec<(Network, RecordState)>) -> Result<()> {
        let env = self.host.env();
        let store = self.host.store();
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            let existing = records.iter().position(|(n, _)| n.name.as_str() == name);
            let (id, created) = match existing {
                Some(i) => (records[i].0.id.clone(), records[i].0.created),
                None => (NetworkId::from_bytes(env.random_id_bytes()), env.now()),
            };
            let wanted = match driver {
                Driver::Bridge => default_bridge_network(&self.config, id, created)?,
                Driver::Host | Driver::Null => driverless_network(name, driver, id, created)?,
            };
            match existing {
                Some(i) if records[i].0 == wanted => {}
                Some(i) => {
                    store
                        .update_network(&wanted, RecordState::Creating)
                        .map_err(Error::store(format!("update network {name}")))?;
                    // A renamed default bridge leaves the old one behind
                    // with this network's alias: the orphan sweep removes it.
                    records[i] = (wanted, RecordState::Creating);
                }
                None => {
                    store
                        .insert_network(&wanted, RecordState::Creating)
                        .map_err(Error::store(format!("create network {name}")))?;
                    records.push((wanted, RecordState::Creating));
                }
            }
        }
        Ok(())
    }

    /// Removes bridges that carry a network alias but belong to no record
    /// (or no longer carry their record's bridge name).
    async fn remove_orphan_bridges(&self, records: &[(Network, RecordState)]) -> Result<()> {
        let net = self.host.net();
        let wanted: BTreeMap<&str, &str> = records
            .iter()
            .filter_map(|(n, _)| Some((n.id.as_str(), n.bridge.as_ref()?.name.as_str())))
            .collect();
        let links = net
            .owned_links()
            .await
            .map_err(Error::kernel("list berth's links"))?;
        let orphans: BTreeSet<_> = links
            .into_iter()
            .filter(|l| match network_id_from_alias(&l.alias) {
                Some(id) => wanted.get(id) != Some(&l.name.as_str()),
                None => false,
            })
            .map(|l| l.name)
            .collect();
        for name in orphans {
            match net.delete_link(&name).await {
                Ok(()) => info!(bridge = %name, "removed a bridge no network owns"),
                Err(e) => warn!(bridge = %name, error = %e, "orphan bridge not removed"),
            }
        }
        Ok(())
    }
}
