//! Container use cases on the engine: create, the networked half of start,
//! exit, remove, connect and disconnect. Everything here mutates, so it runs
//! on the engine task; the runtime's slow part of a start (runc) runs outside
//! it, between `prepare_start` and `finish_start`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use berth_types::{ContainerId, EndpointId, IfName, IpNet, MacAddr, NetworkId};
use tracing::{info, warn};

use crate::container::{Attachment, Container, Endpoint, NetworkMode, PortBinding, Proto, Status};
use crate::container_create::{
    check_fixed_addresses, generated_name, plan_container, ContainerCreate, Context,
    EndpointRequest,
};
use crate::engine::{live_networks, Engine, Event};
use crate::error::{Error, Result};
use crate::etc_files::{self, ResolvConf, Resolver, SelfEntry};
use crate::lookup::find_network;
use crate::model::{BridgeSettings, Network};
use crate::ports::{
    endpoint_link_alias, BadImageReference, DnsUpstreams, EndpointRecord, EndpointSpec, Env,
    EtcFiles, ExitStatus, FirewallChange, FlowMatch, Host, Images, LaunchSpec, NetOps, NetnsRef,
    Runtime, SandboxDns, Store, StoreConflict,
};
use crate::publish::{allocate, Taken, Target};

impl<H: Host> Engine<H> {
    fn container(&self, reference: &str) -> Result<Container> {
        self.table.find(reference)
    }

    /// Writes `c` to the store, then to the table (so the table never holds
    /// what the store refused).
    pub(crate) fn save_container(&self, c: &Container) -> Result<()> {
        self.host
            .store()
            .update_container(c)
            .map_err(Error::store(format!("update container {}", c.name)))?;
        self.table.put(c);
        Ok(())
    }

    pub async fn create_container(&mut self, req: ContainerCreate) -> Result<Container> {
        if req.image.is_empty() {
            return Err(Error::InvalidParameter(
                "no image specified: Image is empty".to_owned(),
            ));
        }
        let image = self
            .host
            .images()
            .resolve(&req.image)
            .map_err(|e| match e.downcast::<BadImageReference>() {
                Ok(bad) => Error::InvalidParameter(bad.0),
                Err(e) => Error::Store {
                    what: format!("look up image {}", req.image),
                    source: e,
                },
            })?
            .ok_or_else(|| {
                Error::NotFound(format!("No such image: {}", image_display(&req.image)))
            })?;
        let networks = live_networks(self.host.store())?;
        let env = self.host.env();
        let id = ContainerId::from_bytes(env.random_id_bytes());
        let seed = env.random_id_bytes();
        let ctx = Context {
            image: &image,
            networks: &networks,
            containers: &self.table,
            host_gateway: default_gateway(&networks),
        };
        let container = plan_container(req, &ctx, id, env.now(), || {
            generated_name(&seed, |n| self.table.name_holder(n).is_some())
        })?;
        self.host
            .store()
            .insert_container(&container)
            .map_err(|e| match e.downcast::<StoreConflict>() {
                Ok(conflict) => Error::Conflict(conflict.0),
                Err(e) => Error::Store {
                    what: format!("record container {}", container.name),
                    source: e,
                },
            })?;
        self.table.put(&container);
        info!(container = %container.name, id = %container.id, "container created");
        Ok(container)
    }

    /// Makes the container's network (sandbox, endpoints, `/etc` files) and
    /// returns what the runtime needs. The container is marked `starting`
    /// until [`Engine::finish_start`].
    pub async fn prepare_start(&mut self, reference: &str) -> Result<PreparedStart> {
        let mut c = self.container(reference)?;
        if c.is_running() {
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
        c.state.starting = true;
        c.state.error.clear();
        self.save_container(&c)?;
        match self.make_network(&mut c).await {
            Ok(prepared) => {
                self.save_container(&c)?;
                Ok(prepared)
            }
            Err(e) => {
                self.teardown_network(&mut c).await;
                c.state.starting = false;
                c.state.error = e.to_string();
                self.save_container(&c)?;
                self.remove_if_auto(c).await;
                Err(e)
            }
        }
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

    async fn make_network(&mut self, c: &mut Container) -> Result<PreparedStart> {
        let netns = match &c.network_mode {
            NetworkMode::Host => NetnsRef::Host,
            NetworkMode::Container(target) => {
                let target = self.container(target.as_str())?;
                if !target.is_running() {
                    return Err(Error::Conflict(format!(
                        "cannot join network namespace of a non running container: container {} is {}",
                        target.name,
                        target.state.status.as_str()
                    )));
                }
                match (&target.network_mode, &target.netns) {
                    (NetworkMode::Host, _) => NetnsRef::Host,
                    (_, Some(path)) => NetnsRef::Path(path.clone()),
                    (_, None) => {
                        return Err(Error::Conflict(format!(
                            "cannot join network namespace of container {}: it has none",
                            target.name
                        )))
                    }
                }
            }
            NetworkMode::Bridge | NetworkMode::None | NetworkMode::Network(_) => {
                let path = self.host.netns_dir().join(c.id.as_str());
                // Recorded before it exists, so a crash leaves a name to clean.
                c.netns = Some(path.clone());
                self.save_container(c)?;
                self.host
                    .net()
                    .create_netns(&path)
                    .await
                    .map_err(Error::kernel(format!(
                        "create network namespace for container {}",
                        c.name
                    )))?;
                NetnsRef::Path(path)
            }
        };
        let mut stale_flows = Vec::new();
        if let NetnsRef::Path(path) = &netns {
            if c.network_mode.owns_sandbox() {
                for index in 0..c.attachments.len() {
                    self.join(c, index, path).await?;
                    if let Some(endpoint) = &c.attachments[index].endpoint {
                        let network = c.attachments[index].network.clone();
                        stale_flows.extend(self.flows.joining(&network, endpoint));
                    }
                }
                stale_flows.extend(self.publish(c).await?);
                self.publish_names(c)?;
            }
        }
        let etc = self.etc_files(c)?;
        if let (NetnsRef::Path(path), Some(upstreams)) = (&netns, self.dns_upstreams(c)?) {
            if c.network_mode.owns_sandbox() {
                self.host
                    .dns()
                    .serve(&c.id, path, upstreams)
                    .await
                    .map_err(Error::kernel(format!(
                        "start the embedded DNS server of container {}",
                        c.name
                    )))?;
            }
        }
        Ok(PreparedStart {
            spec: LaunchSpec {
                id: c.id.clone(),
                image_id: c.image_id.clone(),
                process: c.process.clone(),
                hostname: c.dns.hostname.clone(),
                domainname: c.dns.domainname.clone(),
                netns,
                etc,
            },
            stale_flows,
        })
    }

    /// The `/etc` files: a `container:` joiner gets its target's.
    pub(crate) fn etc_files(&self, c: &Container) -> Result<EtcFiles> {
        let source = match &c.network_mode {
            NetworkMode::Container(target) => self.container(target.as_str())?,
            _ => c.clone(),
        };
        let networks = live_networks(self.host.store())?;
        let user_network = source.attachments.iter().any(|a| {
            networks
                .iter()
                .any(|n| n.id == a.network && !n.is_predefined())
        });
        let resolver = if user_network {
            Resolver::Embedded
        } else {
            Resolver::Host
        };
        let host_conf = ResolvConf::parse(&self.host.env().host_resolv_conf());
        let mut names = vec![source.dns.hostname.clone()];
        if !source.dns.domainname.is_empty() {
            names.insert(
                0,
                format!("{}.{}", source.dns.hostname, source.dns.domainname),
            );
        }
        let own: Vec<SelfEntry<'_>> = source
            .attachments
            .iter()
            .filter_map(|a| a.endpoint.as_ref())
            .flat_map(|e| e.ipv4.iter().chain(e.ipv6.iter()))
            .map(|net| SelfEntry {
                address: net.addr(),
                names: &names,
            })
            .collect();
        let mut dns = source.dns.clone();
        if dns.dns.is_empty() {
            dns.dns = self.config.dns.clone();
        }
        Ok(etc_files::render(
            &dns,
            &host_conf,
            resolver,
            if source.dns.hostname.is_empty() {
                &[]
            } else {
                &own
            },
        ))
    }

    /// Where the embedded DNS forwards for `c`, or `None` if `c` is on no
    /// user-defined network (the default bridge has no embedded DNS).
    pub(crate) fn dns_upstreams(&self, c: &Container) -> Result<Option<DnsUpstreams>> {
        let networks = live_networks(self.host.store())?;
        let user: Vec<&Network> = c
            .attachments
            .iter()
            .filter_map(|a| {
                networks
                    .iter()
                    .find(|n| n.id == a.network && !n.is_predefined())
            })
            .collect();
        if user.is_empty() {
            return Ok(None);
        }
        let explicit = if c.dns.dns.is_empty() {
            &self.config.dns
        } else {
            &c.dns.dns
        };
        Ok(Some(if !explicit.is_empty() {
            DnsUpstreams::Container(explicit.clone())
        } else if user.iter().all(|n| n.internal) {
            DnsUpstreams::None
        } else {
            let host = ResolvConf::parse(&self.host.env().host_resolv_conf());
            DnsUpstreams::Host(host.nameservers)
        }))
    }

    /// Attaches `c` to its `index`th network: addresses, record, veth.
    async fn join(
        &mut self,
        c: &mut Container,
        index: usize,
        netns: &std::path::Path,
    ) -> Result<()> {
        let attachment = c.attachments[index].clone();
        let networks = live_networks(self.host.store())?;
        let network = find_network(&networks, attachment.network.as_str())
            .map_err(|_| Error::NotFound(format!("network {} not found", attachment.network)))?
            .clone();
        let Some(bridge) = &network.bridge else {
            return Ok(());
        };
        let in_use = self.addresses.in_use(self.host.store(), &network.id)?;
        let ipv4 = pick_address(&network, &attachment, false, in_use)?;
        let ipv6 = if network.enable_ipv6 {
            pick_address(&network, &attachment, true, in_use)?
        } else {
            None
        };
        let env = self.host.env();
        let endpoint_id = EndpointId::from_bytes(env.random_id_bytes());
        let mac = attachment.mac.unwrap_or_else(|| match ipv4 {
            Some(IpNet::V4(v4)) => MacAddr::from_ipv4(v4.addr()),
            _ => random_mac(&env.random_id_bytes()),
        });
        let ifname = next_ifname(c)?;
        let host_ifname = veth_name(&endpoint_id)?;
        let first_with_gateway = !c.attachments.iter().any(|a| {
            a.endpoint
                .as_ref()
                .is_some_and(|e| e.gateway4.is_some() || e.gateway6.is_some())
        });
        let gateway4 = ipv4.and_then(|_| gateway_of(&network, false));
        let gateway6 = ipv6.and_then(|_| gateway_of(&network, true));
        let endpoint = Endpoint {
            id: endpoint_id,
            ifname,
            host_ifname,
            mac,
            ipv4,
            ipv6,
            gateway4,
            gateway6,
        };
        let record = EndpointRecord {
            id: endpoint.id.clone(),
            network: network.id.clone(),
            container: c.id.clone(),
            ifname: endpoint.ifname.clone(),
            host_ifname: endpoint.host_ifname.clone(),
            addresses: ipv4.iter().chain(ipv6.iter()).map(IpNet::addr).collect(),
        };
        self.host.store().insert_endpoint(&record).map_err(|e| {
            match e.downcast::<StoreConflict>() {
                Ok(conflict) => Error::Forbidden(conflict.0),
                Err(e) => Error::Store {
                    what: format!("record endpoint of {} on {}", c.name, network.name),
                    source: e,
                },
            }
        })?;
        self.addresses.added(&network.id, &record.addresses);
        // Recorded in the container too before the kernel work, so teardown
        // after a failure (or a crash) knows what to remove.
        c.attachments[index].endpoint = Some(endpoint.clone());
        self.save_container(c)?;
        let spec = endpoint_spec(netns, bridge, &endpoint, first_with_gateway);
        self.host
            .net()
            .add_endpoint(&spec)
            .await
            .map_err(Error::kernel(format!(
                "attach container {} to network {}",
                c.name, network.name
            )))
    }

    /// Allocates the container's host ports and maps them, as one firewall
    /// transaction (a 1,000-port range included); returns the flows to
    /// forget once they are mapped.
    async fn publish(&mut self, c: &mut Container) -> Result<Vec<FlowMatch>> {
        if c.ports.is_empty() && !c.publish_all {
            return Ok(Vec::new());
        }
        let networks = live_networks(self.host.store())?;
        let table = &self.table;
        let published = |proto, ip, port| table.port_held(&c.id, proto, ip, port);
        let net = self.host.net();
        let host_bound = |proto, ip, port| net.port_in_use(proto, ip, port);
        // The network's host_binding_ipv4 is the default host address.
        let binding_ip = c
            .attachments
            .first()
            .and_then(|a| networks.iter().find(|n| n.id == a.network))
            .and_then(|n| n.bridge.as_ref())
            .map(|b| b.host_binding_ipv4)
            .filter(|ip| !ip.is_unspecified());
        let bindings: Vec<PortBinding> = c
            .ports
            .iter()
            .map(|b| PortBinding {
                host_ip: b.host_ip.or(binding_ip),
                ..b.clone()
            })
            .collect();
        let endpoint = c.attachments.first().and_then(|a| a.endpoint.as_ref());
        let target = Target {
            v4: endpoint.and_then(|e| e.ipv4).map(|n| n.addr()),
            v6: endpoint.and_then(|e| e.ipv6).map(|n| n.addr()),
        };
        let taken = Taken {
            published: &published,
            host_bound: &host_bound,
        };
        c.published = allocate(&bindings, &c.exposed, c.publish_all, target, &taken).map_err(
            |e| match (e, endpoint) {
                // Docker's prefix: the bridge driver failed for this endpoint.
                (Error::Conflict(why), Some(ep)) => Error::Conflict(format!(
                    "failed to set up container networking: driver failed programming external connectivity on endpoint {} ({}): {why}",
                    c.name, ep.id
                )),
                (e, _) => e,
            },
        )?;
        self.save_container(c)?;
        let add_ports = self.fw_ports(c, &networks);
        // A client that kept sending to a UDP host port holds a flow whose
        // verdict (DNAT to the previous publisher, or none) outlives the
        // mapping: it must be forgotten so the next datagram meets the new
        // one.
        let udp: Vec<FlowMatch> = add_ports
            .iter()
            .filter(|p| p.proto == Proto::Udp)
            .map(|p| FlowMatch::DestPort {
                proto: Proto::Udp,
                ports: p.host_ports,
            })
            .collect();
        let change = FirewallChange {
            add_ports,
            ..Default::default()
        };
        self.update_firewall(change).await?;
        Ok(udp)
    }

    /// Removes everything `make_network` made. Best effort: each failure is
    /// logged and the rest still goes; reconcile retries what is left.
    pub(crate) async fn teardown_network(&mut self, c: &mut Container) {
        if !c.published.is_empty() {
            let networks = live_networks(self.host.store()).unwrap_or_default();
            let change = FirewallChange {
                remove_ports: self.fw_ports(c, &networks),
                ..Default::default()
            };
            if let Err(e) = self.update_firewall(change).await {
                warn!(container = %c.name, error = %e, "published ports not unmapped");
            }
            c.published.clear();
        }
        for attachment in &mut c.attachments {
            if let Some(endpoint) = attachment.endpoint.take() {
                self.remove_endpoint(&c.name, &attachment.network, &endpoint)
                    .await;
            }
        }
        self.names.remove_container(&c.id);
        if let Some(path) = c.netns.take() {
            self.host.dns().stop(&c.id).await;
            if let Err(e) = self.host.net().remove_netns(&path).await {
                warn!(container = %c.name, path = %path.display(), error = %e, "network namespace not removed");
            }
        }
    }

    async fn remove_endpoint(&mut self, container: &str, network: &NetworkId, endpoint: &Endpoint) {
        if let Err(e) = self.host.net().delete_link(&endpoint.host_ifname).await {
            warn!(container, veth = %endpoint.host_ifname, error = %e, "veth not removed");
        }
        // The address is free for the next endpoint: no flow of this one
        // may carry over to it.
        self.flows.leaving(network, endpoint);
        match self.host.store().delete_endpoint(&endpoint.id) {
            Ok(()) => {
                let released: Vec<IpAddr> = endpoint
                    .ipv4
                    .iter()
                    .chain(endpoint.ipv6.iter())
                    .map(IpNet::addr)
                    .collect();
                self.addresses.removed(network, &released);
            }
            Err(e) => {
                self.addresses.forget(network);
                warn!(container, endpoint = %endpoint.id, error = %e, "endpoint record not removed");
            }
        }
    }

    /// Records the outcome of the runtime's start.
    pub async fn finish_start(
        &mut self,
        id: &ContainerId,
        started: std::result::Result<u32, String>,
    ) -> Result<Container> {
        let mut c = self.container(id.as_str())?;
        c.state.starting = false;
        match started {
            Ok(pid) => {
                c.state.status = Status::Running;
                c.state.pid = pid;
                c.state.exit_code = 0;
                c.state.started_at = Some(self.host.env().now());
                c.state.finished_at = None;
                self.save_container(&c)?;
                self.publish_names(&c)?;
                self.watch_exit(&c.id);
                info!(container = %c.name, pid, "container started");
                Ok(c)
            }
            Err(message) => {
                self.teardown_network(&mut c).await;
                if let Err(e) = self.host.runtime().delete(&c.id).await {
                    warn!(container = %c.name, error = %e, "runtime state not removed after a failed start");
                }
                let (error, exit_code) = start_failure(message.clone());
                c.state.error = message;
                c.state.exit_code = exit_code;
                self.save_container(&c)?;
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
    /// if it was started with `--rm`.
    pub(crate) async fn record_exit(&mut self, mut c: Container, exit: ExitStatus) -> Result<()> {
        self.teardown_network(&mut c).await;
        c.state.starting = false;
        c.state.status = Status::Exited;
        c.state.pid = 0;
        c.state.exit_code = exit.code;
        c.state.finished_at = Some(exit.finished_at);
        self.save_container(&c)?;
        self.names.remove_container(&c.id);
        info!(container = %c.name, code = exit.code, "container exited");
        let _ = self.events.send(Event::Exited(c.id.clone(), exit.code));
        if c.auto_remove {
            self.destroy_container(c).await?;
        }
        Ok(())
    }

    /// Removes a container that is not running.
    pub async fn remove_container(&mut self, reference: &str) -> Result<Container> {
        let c = self.container(reference)?;
        if c.is_running() || c.state.starting {
            return Err(Error::Conflict(format!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                c.name
            )));
        }
        self.destroy_container(c.clone()).await?;
        Ok(c)
    }

    pub(crate) async fn destroy_container(&mut self, mut c: Container) -> Result<()> {
        c.state.status = Status::Removing;
        self.save_container(&c)?;
        self.teardown_network(&mut c).await;
        self.host
            .runtime()
            .delete(&c.id)
            .await
            .map_err(Error::kernel(format!(
                "remove the runtime state of container {}",
                c.name
            )))?;
        self.host
            .store()
            .delete_container(&c.id)
            .map_err(Error::store(format!("forget container {}", c.name)))?;
        self.table.remove(&c.id);
        self.names.remove_container(&c.id);
        info!(container = %c.name, "container removed");
        let _ = self
            .events
            .send(Event::Removed(c.id.clone(), c.state.exit_code));
        Ok(())
    }

    pub async fn connect(
        &mut self,
        network: &str,
        container: &str,
        req: EndpointRequest,
    ) -> Result<()> {
        let networks = live_networks(self.host.store())?;
        let network = find_network(&networks, network)?.clone();
        let mut c = self.container(container)?;
        check_connectable(&c, &network)?;
        if c.attachments.iter().any(|a| a.network == network.id) {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.name, network.name
            )));
        }
        let ipv4 = parse_requested(&req.ipv4)?;
        let ipv6 = parse_requested(&req.ipv6)?;
        let mac =
            match req.mac.as_str() {
                "" => None,
                text => Some(MacAddr::parse(text).ok_or_else(|| {
                    Error::InvalidParameter(format!("invalid MAC address: {text}"))
                })?),
            };
        if (ipv4.is_some() || ipv6.is_some()) && network.is_predefined() {
            return Err(Error::InvalidParameter(
                "user specified IP address is supported on user defined networks only".to_owned(),
            ));
        }
        check_fixed_addresses(&network, ipv4.iter().chain(ipv6.iter()).copied())?;
        for ip in ipv4.iter().chain(ipv6.iter()) {
            if !network.subnets.iter().any(|p| p.contains(*ip)) {
                return Err(Error::InvalidParameter(format!(
                    "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {ip}"
                )));
            }
        }
        let had_embedded_dns = self.dns_upstreams(&c)?.is_some();
        c.attachments.push(Attachment {
            network: network.id.clone(),
            aliases: req.aliases,
            ipv4,
            ipv6,
            mac,
            endpoint: None,
        });
        let index = c.attachments.len() - 1;
        if c.is_running() {
            let Some(path) = c.netns.clone() else {
                return Err(Error::Conflict(format!(
                    "container {} has no network namespace",
                    c.name
                )));
            };
            // Saved with the endpoint by `join`, before the veth exists.
            c.state.networks_changing = true;
            if let Err(e) = self.join(&mut c, index, &path).await {
                if let Some(endpoint) = c.attachments[index].endpoint.take() {
                    self.remove_endpoint(&c.name, &network.id, &endpoint).await;
                }
                c.attachments.pop();
                c.state.networks_changing = false;
                self.save_container(&c)?;
                return Err(e);
            }
            if let Some(endpoint) = &c.attachments[index].endpoint {
                let flows = self.flows.joining(&network.id, endpoint);
                forget_flows(self.host.net(), &c.name, &flows).await;
            }
        }
        self.save_container(&c)?;
        self.publish_names(&c)?;
        self.refresh_resolution(&c, had_embedded_dns).await?;
        self.networks_changed(&mut c)?;
        info!(container = %c.name, network = %network.name, "connected");
        Ok(())
    }

    pub async fn disconnect(&mut self, network: &str, container: &str) -> Result<()> {
        let networks = live_networks(self.host.store())?;
        let network = find_network(&networks, network)?.clone();
        let mut c = self.container(container)?;
        let Some(index) = c.attachments.iter().position(|a| a.network == network.id) else {
            return Err(Error::Forbidden(format!(
                "container {} is not connected to network {}",
                c.id, network.name
            )));
        };
        if matches!(
            c.network_mode,
            NetworkMode::Host | NetworkMode::None | NetworkMode::Container(_)
        ) || network.name.as_str() == "host"
        {
            return Err(Error::InvalidParameter(
                "container cannot be disconnected from host network or connected to host network"
                    .to_owned(),
            ));
        }
        let had_embedded_dns = self.dns_upstreams(&c)?.is_some();
        let attachment = c.attachments.remove(index);
        // Recorded before the veth goes: after a crash in between, the
        // endpoint belongs to no container and reconcile's orphan sweep
        // finishes the removal (and rewrites the `/etc` files).
        c.state.networks_changing = c.is_running();
        self.save_container(&c)?;
        if let Some(endpoint) = &attachment.endpoint {
            self.remove_endpoint(&c.name, &network.id, endpoint).await;
        }
        self.publish_names(&c)?;
        self.refresh_resolution(&c, had_embedded_dns).await?;
        self.networks_changed(&mut c)?;
        info!(container = %c.name, network = %network.name, "disconnected");
        Ok(())
    }

    /// Marks a change of networks finished (see
    /// [`crate::container::RunState::networks_changing`]).
    pub(crate) fn networks_changed(&self, c: &mut Container) -> Result<()> {
        if c.state.networks_changing {
            c.state.networks_changing = false;
            self.save_container(c)?;
        }
        Ok(())
    }

    /// After a running container's networks changed, as Docker does: the
    /// embedded DNS starts when it first joins a user-defined network (and
    /// stops when it leaves the last), and its `/etc` files are rewritten
    /// (its addresses in hosts; 127.0.0.11 or the host's servers).
    async fn refresh_resolution(&self, c: &Container, had_embedded_dns: bool) -> Result<()> {
        let (true, Some(path)) = (c.is_running(), &c.netns) else {
            return Ok(());
        };
        match (had_embedded_dns, self.dns_upstreams(c)?) {
            (false, Some(upstreams)) => self
                .host
                .dns()
                .serve(&c.id, path, upstreams)
                .await
                .map_err(Error::kernel(format!(
                    "start the embedded DNS server of container {}",
                    c.name
                )))?,
            (true, None) => self.host.dns().stop(&c.id).await,
            _ => {}
        }
        let etc = self.etc_files(c)?;
        self.host
            .runtime()
            .write_etc(&c.id, &etc)
            .await
            .map_err(Error::kernel(format!(
                "rewrite the /etc files of container {}",
                c.name
            )))
    }

    /// Makes the embedded DNS answer for `c` as it is now.
    pub(crate) fn publish_names(&self, c: &Container) -> Result<()> {
        let networks = live_networks(self.host.store())?;
        self.names.set_container(c, &networks);
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
                let _ = commands
                    .send(crate::engine::Command::Exited(id, exit, 0))
                    .await;
            }
        });
    }
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

fn gateway_of(network: &Network, v6: bool) -> Option<IpAddr> {
    network
        .subnets
        .iter()
        .find(|p| p.gateway.is_ipv6() == v6)
        .map(|p| p.gateway)
}

fn parse_requested(s: &str) -> Result<Option<IpAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| Error::InvalidParameter(format!("invalid IP address: {s}")))
}

/// The requested address (checked) or the next free one, with its prefix.
fn pick_address(
    network: &Network,
    attachment: &Attachment,
    v6: bool,
    in_use: &BTreeSet<IpAddr>,
) -> Result<Option<IpNet>> {
    let Some(plan) = network
        .subnets
        .iter()
        .find(|p| p.subnet.addr().is_ipv6() == v6)
    else {
        return Ok(None);
    };
    let requested = if v6 { attachment.ipv6 } else { attachment.ipv4 };
    let ip = match requested {
        Some(ip) => {
            plan.check_requested(ip, in_use)?;
            ip
        }
        None => plan.allocate(in_use, None).map_err(|e| match e.kind() {
            berth_ipam::ErrorKind::Unavailable => Error::Unavailable(format!(
                "no available {} addresses on this network's address pools: {} ({})",
                if v6 { "IPv6" } else { "IPv4" },
                network.name,
                network.id
            )),
            _ => Error::from(e),
        })?,
    };
    IpNet::new(ip, plan.prefix_len())
        .map(Some)
        .map_err(|_| Error::InvalidParameter(format!("invalid prefix for {ip}")))
}

/// `eth<N>` with the lowest N no current endpoint of the container uses.
fn next_ifname(c: &Container) -> Result<IfName> {
    let used: BTreeSet<&str> = c
        .attachments
        .iter()
        .filter_map(|a| a.endpoint.as_ref())
        .map(|e| e.ifname.as_str())
        .collect();
    let name = (0..)
        .map(|n| format!("eth{n}"))
        .find(|n| !used.contains(n.as_str()))
        .unwrap_or_else(|| "eth0".to_owned());
    IfName::parse(&name).map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// `veth` + 7 hex digits of the endpoint id, as Docker names host ends.
fn veth_name(endpoint: &EndpointId) -> Result<IfName> {
    IfName::parse(&format!("veth{}", &endpoint.as_str()[..7]))
        .map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// moby's `translateContainerdStartErr`: a start that the container's own
/// settings doom (no such command, not executable, unknown user) is the
/// client's error, with the exit code a shell gives; anything else is ours.
fn start_failure(message: String) -> (Error, i64) {
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
        (Error::Runtime(message), 127)
    }
}

/// A locally administered unicast MAC for endpoints without IPv4.
fn random_mac(bytes: &[u8; 32]) -> MacAddr {
    MacAddr([0x02, 0x42, bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// runconfig's `ErrConflict*Network`: validation errors, Docker's 400.
fn check_connectable(c: &Container, network: &Network) -> Result<()> {
    match (&c.network_mode, network.name.as_str()) {
        (_, "host") | (NetworkMode::Host, _) => Err(Error::InvalidParameter(
            "container cannot be disconnected from host network or connected to host network".to_owned(),
        )),
        (NetworkMode::Container(_), _) => Err(Error::InvalidParameter(
            "container sharing network namespace with another container or host cannot be connected to any other network".to_owned(),
        )),
        (NetworkMode::None, _) | (_, "none") => Err(Error::InvalidParameter(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode".to_owned(),
        )),
        _ => Ok(()),
    }
}

/// The veth pair of `endpoint` in the sandbox at `netns`; the default
/// routes go through it if `with_gateways` (the container's first network
/// with a gateway).
pub(crate) fn endpoint_spec(
    netns: &std::path::Path,
    bridge: &BridgeSettings,
    endpoint: &Endpoint,
    with_gateways: bool,
) -> EndpointSpec {
    EndpointSpec {
        netns: netns.to_path_buf(),
        bridge: bridge.name.clone(),
        host_ifname: endpoint.host_ifname.clone(),
        ifname: endpoint.ifname.clone(),
        mac: endpoint.mac,
        mtu: bridge.mtu,
        addresses: endpoint
            .ipv4
            .iter()
            .chain(endpoint.ipv6.iter())
            .copied()
            .collect(),
        default_gateways: if with_gateways {
            endpoint
                .gateway4
                .iter()
                .chain(endpoint.gateway6.iter())
                .copied()
                .collect()
        } else {
            Vec::new()
        },
        alias: endpoint_link_alias(&endpoint.id),
    }
}

/// Endpoint ids of a container's live endpoints (for reconcile).
pub(crate) fn live_endpoint_ids(c: &Container) -> impl Iterator<Item = &EndpointId> {
    c.attachments
        .iter()
        .filter_map(|a| a.endpoint.as_ref())
        .map(|e| &e.id)
}

pub(crate) fn network_in_use(endpoints: &[EndpointRecord], id: &NetworkId) -> bool {
    endpoints.iter().any(|e| &e.network == id)
}

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

/// Deletes the tracked flows `flows` match. A failure is logged, not fatal,
/// as Docker's bridge driver does: a kernel without connection tracking
/// over netlink must not stop every container.
pub(crate) async fn forget_flows<N: NetOps>(net: &N, container: &str, flows: &[FlowMatch]) {
    if flows.is_empty() {
        return;
    }
    match net.forget_flows(flows).await {
        Ok(0) => {}
        Ok(deleted) => info!(container, deleted, "stale conntrack entries deleted"),
        Err(e) => warn!(container, error = %e, "stale conntrack entries not deleted"),
    }
}
