//! Core records in Docker's JSON shapes, and Docker's requests as core
//! inputs. Pure: unit-tested without a daemon.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use berth_core::container::create::{ContainerCreate, EndpointRequest};
use berth_core::container::{
    Container, Health, HealthStatus, HealthcheckRequest, NetworkMode, Status,
};
use berth_core::network::{gwbridge, Network};
use bollard_stubs::models::{
    ConfigReference, ContainerConfig, ContainerCreateBody, ContainerInspectResponse,
    ContainerState, ContainerStateStatusEnum, ContainerSummary, ContainerSummaryHostConfig,
    ContainerSummaryNetworkSettings, ContainerSummaryStateEnum, EndpointIpamConfig,
    EndpointResource, EndpointSettings, Health as WireHealth, HealthConfig, HealthStatusEnum,
    HealthcheckResult, HostConfig, Ipam, IpamConfig, NetworkInspect, NetworkSettings,
    PortBinding as WirePortBinding, PortMap, PortSummary, PortSummaryTypeEnum, RestartPolicy,
};

/// Docker's timestamps: RFC 3339 with nanoseconds.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// What Docker shows for a time that never happened.
pub(super) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn opt_timestamp(t: Option<SystemTime>) -> String {
    t.map_or_else(|| ZERO_TIME.to_owned(), timestamp)
}

pub fn hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Docker's `units.HumanDuration`, used in `ps`'s STATUS column.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let minutes = secs / 60;
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    match () {
        _ if secs < 1 => "Less than a second".to_owned(),
        _ if secs == 1 => "1 second".to_owned(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

fn since(now: SystemTime, t: Option<SystemTime>) -> Duration {
    t.and_then(|t| now.duration_since(t).ok())
        .unwrap_or_default()
}

/// `ps`'s STATUS: `Up 2 minutes`, `Exited (0) 3 seconds ago`, `Created`.
pub fn status_text(c: &Container, health: Option<&Health>, now: SystemTime) -> String {
    if c.state.restarting {
        return format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            human_duration(since(now, c.state.finished_at))
        );
    }
    match c.state.status {
        Status::Running if c.state.paused => format!(
            "Up {} (Paused)",
            human_duration(since(now, c.state.started_at))
        ),
        Status::Running => {
            let up = human_duration(since(now, c.state.started_at));
            match health.map(|h| h.status) {
                Some(HealthStatus::Starting) => format!("Up {up} (health: starting)"),
                Some(status) => format!("Up {up} ({})", status.as_str()),
                None => format!("Up {up}"),
            }
        }
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_duration(since(now, c.state.finished_at))
        ),
        Status::Created => "Created".to_owned(),
        Status::Removing => "Removal In Progress".to_owned(),
    }
}

fn network_name<'a>(networks: &'a [Network], id: &berth_types::NetworkId) -> &'a str {
    networks
        .iter()
        .find(|n| &n.id == id)
        .map_or("", |n| n.name.as_str())
}

/// `HostConfig.NetworkMode` as Docker reports it.
pub fn network_mode_text(c: &Container, networks: &[Network]) -> String {
    match &c.network_mode {
        NetworkMode::Bridge => "bridge".to_owned(),
        NetworkMode::Host => "host".to_owned(),
        NetworkMode::None => "none".to_owned(),
        NetworkMode::Container(id) => format!("container:{id}"),
        NetworkMode::Network(id) => network_name(networks, id).to_owned(),
    }
}

fn proto_key(port: u16, proto: berth_core::container::Proto) -> String {
    format!("{port}/{}", proto.as_str())
}

fn endpoint_settings(
    c: &Container,
    a: &berth_core::container::Attachment,
    networks: &[Network],
) -> EndpointSettings {
    let user_defined = networks
        .iter()
        .any(|n| n.id == a.network && !n.is_predefined());
    let ep = a.endpoint.as_ref();
    let text = |ip: Option<IpAddr>| ip.map(|i| i.to_string()).unwrap_or_default();
    let requested = (a.ipv4.is_some() || a.ipv6.is_some()).then(|| EndpointIpamConfig {
        ipv4_address: a.ipv4.map(|i| i.to_string()),
        ipv6_address: a.ipv6.map(|i| i.to_string()),
        link_local_ips: None,
    });
    let mut dns_names = Vec::new();
    if user_defined {
        dns_names.push(c.name.clone());
        dns_names.extend(a.aliases.iter().cloned());
        dns_names.push(c.id.short().to_owned());
        if !c.dns.hostname.is_empty() && c.dns.hostname != c.id.short() {
            dns_names.push(c.dns.hostname.clone());
        }
    }
    EndpointSettings {
        ipam_config: requested,
        links: None,
        mac_address: Some(ep.map(|e| e.mac.to_string()).unwrap_or_default()),
        aliases: user_defined.then(|| a.aliases.clone()),
        driver_opts: None,
        gw_priority: Some(0),
        network_id: Some(a.network.to_string()),
        endpoint_id: Some(ep.map(|e| e.id.to_string()).unwrap_or_default()),
        gateway: Some(text(ep.and_then(|e| e.gateway4))),
        ip_address: Some(text(ep.and_then(|e| e.ipv4).map(|n| n.addr()))),
        ip_prefix_len: Some(
            ep.and_then(|e| e.ipv4)
                .map_or(0, |n| i64::from(n.prefix_len())),
        ),
        ipv6_gateway: Some(text(ep.and_then(|e| e.gateway6))),
        global_ipv6_address: Some(text(ep.and_then(|e| e.ipv6).map(|n| n.addr()))),
        global_ipv6_prefix_len: Some(
            ep.and_then(|e| e.ipv6)
                .map_or(0, |n| i64::from(n.prefix_len())),
        ),
        dns_names: user_defined.then_some(dns_names),
    }
}

/// `NetworkSettings.Networks`: one entry per attachment but the gwbridge
/// (as Docker hides `docker_gwbridge`); `host` and `none` containers show
/// that network.
pub fn container_networks(
    c: &Container,
    networks: &[Network],
) -> HashMap<String, EndpointSettings> {
    let mut out: HashMap<String, EndpointSettings> = c
        .attachments
        .iter()
        .filter(|a| {
            !networks
                .iter()
                .any(|n| n.id == a.network && gwbridge::is_gwbridge(n))
        })
        .map(|a| {
            (
                network_name(networks, &a.network).to_owned(),
                endpoint_settings(c, a, networks),
            )
        })
        .collect();
    let special = match c.network_mode {
        NetworkMode::Host => Some("host"),
        NetworkMode::None => Some("none"),
        _ => None,
    };
    if let Some(name) = special {
        let id = networks
            .iter()
            .find(|n| n.name.as_str() == name)
            .map(|n| n.id.to_string());
        out.insert(
            name.to_owned(),
            EndpointSettings {
                network_id: id,
                endpoint_id: Some(String::new()),
                gateway: Some(String::new()),
                ip_address: Some(String::new()),
                ip_prefix_len: Some(0),
                ipv6_gateway: Some(String::new()),
                global_ipv6_address: Some(String::new()),
                global_ipv6_prefix_len: Some(0),
                mac_address: Some(String::new()),
                ..Default::default()
            },
        );
    }
    out
}

/// Whether `ps` and `inspect` show the container's ports: as dockerd, only
/// while it runs with its own bridge endpoints (not on the host's network,
/// none, or another container's).
fn shows_ports(c: &Container) -> bool {
    c.is_running()
        && matches!(
            c.network_mode,
            NetworkMode::Bridge | NetworkMode::Network(_)
        )
}

/// `NetworkSettings.Ports`: every exposed port, with its host bindings or
/// `null` when it is not published.
pub fn port_map(c: &Container) -> PortMap {
    let mut map: PortMap = c
        .exposed
        .iter()
        .map(|(p, proto)| (proto_key(*p, *proto), None))
        .collect();
    for p in &c.published {
        map.entry(proto_key(p.container_port, p.proto))
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(WirePortBinding {
                host_ip: Some(p.host_ip.to_string()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    map
}

fn requested_port_map(c: &Container) -> PortMap {
    let mut map = PortMap::new();
    for b in &c.ports {
        let host_port = match b.host_ports {
            None => String::new(),
            Some((a, z)) if a == z => a.to_string(),
            Some((a, z)) => format!("{a}-{z}"),
        };
        map.entry(proto_key(b.container_port, b.proto))
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(WirePortBinding {
                host_ip: Some(b.host_ip.map(|i| i.to_string()).unwrap_or_default()),
                host_port: Some(host_port),
            });
    }
    map
}

/// `State.Health`.
fn health_state(h: &Health) -> WireHealth {
    WireHealth {
        status: Some(match h.status {
            HealthStatus::Starting => HealthStatusEnum::STARTING,
            HealthStatus::Healthy => HealthStatusEnum::HEALTHY,
            HealthStatus::Unhealthy => HealthStatusEnum::UNHEALTHY,
        }),
        failing_streak: Some(i64::from(h.failing_streak)),
        log: Some(
            h.log
                .iter()
                .map(|r| HealthcheckResult {
                    start: Some(timestamp(r.start)),
                    end: Some(timestamp(r.end)),
                    exit_code: Some(r.exit_code),
                    output: Some(r.output.clone()),
                })
                .collect(),
        ),
    }
}

pub struct Paths {
    pub resolv_conf: String,
    pub hosts: String,
    pub hostname: String,
    pub log: String,
}

pub fn container_inspect(
    c: &Container,
    health: Option<&Health>,
    link_targets: &[String],
    networks: &[Network],
    paths: Paths,
) -> ContainerInspectResponse {
    let status = match c.state.status {
        _ if c.state.restarting => ContainerStateStatusEnum::RESTARTING,
        Status::Running if c.state.paused => ContainerStateStatusEnum::PAUSED,
        Status::Created => ContainerStateStatusEnum::CREATED,
        Status::Running => ContainerStateStatusEnum::RUNNING,
        Status::Exited => ContainerStateStatusEnum::EXITED,
        Status::Removing => ContainerStateStatusEnum::REMOVING,
    };
    let (path, args) = c
        .process
        .args
        .split_first()
        .map_or((String::new(), Vec::new()), |(p, a)| {
            (p.clone(), a.to_vec())
        });
    let mut config = ContainerConfig {
        hostname: Some(c.dns.hostname.clone()),
        domainname: Some(c.dns.domainname.clone()),
        user: Some(c.process.user.clone()),
        attach_stdin: Some(c.process.attach_stdin),
        attach_stdout: Some(c.process.attach_stdout),
        attach_stderr: Some(c.process.attach_stderr),
        exposed_ports: (!c.exposed.is_empty())
            .then(|| c.exposed.iter().map(|(p, pr)| proto_key(*p, *pr)).collect()),
        tty: Some(c.process.tty),
        open_stdin: Some(c.process.open_stdin),
        stdin_once: Some(c.process.stdin_once),
        env: Some(c.process.env.clone()),
        cmd: c.process.cmd.clone(),
        image: Some(c.image.clone()),
        working_dir: Some(c.process.working_dir.clone()),
        entrypoint: c.process.entrypoint.clone(),
        labels: Some(hash_map(&c.labels)),
        stop_signal: c.stop_signal.as_ref().map(|s| s.name.clone()),
        healthcheck: c.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(h.interval),
            timeout: Some(h.timeout),
            retries: Some(h.retries),
            start_period: Some(h.start_period),
            start_interval: Some(h.start_interval),
        }),
        stop_timeout: c.stop_timeout,
        ..Default::default()
    };
    let mut host_config = HostConfig {
        network_mode: Some(network_mode_text(c, networks)),
        restart_policy: Some(RestartPolicy {
            name: c.restart.name().parse().ok(),
            maximum_retry_count: Some(i64::from(c.restart.max_retries())),
        }),
        port_bindings: Some(requested_port_map(c)),
        publish_all_ports: Some(c.publish_all),
        auto_remove: Some(c.auto_remove),
        console_size: Some(
            c.process
                .console_size
                .map_or(vec![0, 0], |(h, w)| vec![usize::from(h), usize::from(w)]),
        ),
        dns: Some(c.dns.dns.iter().map(ToString::to_string).collect()),
        dns_search: Some(c.dns.dns_search.clone()),
        dns_options: Some(c.dns.dns_options.clone()),
        // None asked: null, as Docker records what the CLI sends.
        extra_hosts: (!c.dns.extra_hosts.is_empty()).then(|| {
            c.dns
                .extra_hosts
                .iter()
                .map(|(n, ip)| format!("{n}:{ip}"))
                .collect()
        }),
        ..Default::default()
    };
    // Docker's form: `/target:/linking/alias`.
    host_config.links = (!c.links.is_empty()).then(|| {
        c.links
            .iter()
            .zip(link_targets)
            .map(|(l, target)| format!("/{target}:/{}/{}", c.name, l.alias))
            .collect()
    });
    super::storage::show(&c.storage, &mut host_config, &mut config);
    super::resources::show(&c.resources, &mut host_config);
    super::security::show(&c.security, &mut host_config);
    let network_settings = NetworkSettings {
        sandbox_id: Some(
            c.netns
                .as_ref()
                .map(|_| c.id.to_string())
                .unwrap_or_default(),
        ),
        sandbox_key: Some(
            c.netns
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ports: Some(if shows_ports(c) {
            port_map(c)
        } else {
            PortMap::new()
        }),
        networks: Some(container_networks(c, networks)),
    };
    ContainerInspectResponse {
        id: Some(c.id.to_string()),
        created: Some(timestamp(c.created)),
        path: Some(path),
        args: Some(args),
        state: Some(ContainerState {
            status: Some(status),
            running: Some(c.is_running() || c.state.restarting),
            paused: Some(c.state.paused),
            restarting: Some(c.state.restarting),
            oom_killed: Some(false),
            dead: Some(false),
            pid: Some(i64::from(c.state.pid)),
            exit_code: Some(c.state.exit_code),
            error: Some(c.state.error.clone()),
            started_at: Some(opt_timestamp(c.state.started_at)),
            finished_at: Some(opt_timestamp(c.state.finished_at)),
            health: health.map(health_state),
        }),
        image: Some(c.image_id.clone()),
        resolv_conf_path: Some(paths.resolv_conf),
        hostname_path: Some(paths.hostname),
        hosts_path: Some(paths.hosts),
        log_path: Some(paths.log),
        name: Some(format!("/{}", c.name)),
        restart_count: Some(i64::from(c.state.restart_count)),
        driver: Some("overlay".to_owned()),
        platform: Some("linux".to_owned()),
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(super::security::apparmor_profile(&c.security)),
        exec_ids: None,
        host_config: Some(host_config),
        mounts: Some(super::storage::mount_points(&c.storage)),
        config: Some(config),
        network_settings: Some(network_settings),
        ..Default::default()
    }
}

fn quote_command(args: &[String]) -> String {
    args.join(" ")
}

pub fn container_summary(
    c: &Container,
    health: Option<&Health>,
    networks: &[Network],
    now: SystemTime,
) -> ContainerSummary {
    let state = match c.state.status {
        _ if c.state.restarting => ContainerSummaryStateEnum::RESTARTING,
        Status::Running if c.state.paused => ContainerSummaryStateEnum::PAUSED,
        Status::Created => ContainerSummaryStateEnum::CREATED,
        Status::Running => ContainerSummaryStateEnum::RUNNING,
        Status::Exited => ContainerSummaryStateEnum::EXITED,
        Status::Removing => ContainerSummaryStateEnum::REMOVING,
    };
    // Docker lists ports from NetworkSettings.Ports: a stopped container,
    // or one on the host's network, shows none.
    let running = shows_ports(c);
    let mut ports: Vec<PortSummary> = c
        .published
        .iter()
        .filter(|_| running)
        .map(|p| PortSummary {
            ip: Some(p.host_ip.to_string()),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            typ: Some(port_type(p.proto)),
        })
        .collect();
    for (port, proto) in c.exposed.iter().filter(|_| running) {
        if !c
            .published
            .iter()
            .any(|p| p.container_port == *port && p.proto == *proto)
        {
            ports.push(PortSummary {
                ip: None,
                private_port: *port,
                public_port: None,
                typ: Some(port_type(*proto)),
            });
        }
    }
    ContainerSummary {
        id: Some(c.id.to_string()),
        names: Some(vec![format!("/{}", c.name)]),
        image: Some(c.image.clone()),
        image_id: Some(c.image_id.clone()),
        command: Some(quote_command(&c.process.args)),
        created: c
            .created
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok()),
        ports: Some(ports),
        labels: Some(hash_map(&c.labels)),
        state: Some(state),
        status: Some(status_text(c, health, now)),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(network_mode_text(c, networks)),
            annotations: None,
        }),
        network_settings: Some(ContainerSummaryNetworkSettings {
            networks: Some(container_networks(c, networks)),
        }),
        mounts: Some(super::storage::mount_points(&c.storage)),
        ..Default::default()
    }
}

fn port_type(proto: berth_core::container::Proto) -> PortSummaryTypeEnum {
    match proto {
        berth_core::container::Proto::Tcp => PortSummaryTypeEnum::TCP,
        berth_core::container::Proto::Udp => PortSummaryTypeEnum::UDP,
        berth_core::container::Proto::Sctp => PortSummaryTypeEnum::SCTP,
    }
}

/// A network in Docker's inspect shape, every field present as dockerd
/// sends it (the docker CLI prints the raw JSON).
pub fn network_to_wire(
    n: &Network,
    members: &[(std::sync::Arc<Container>, berth_core::container::Endpoint)],
) -> NetworkInspect {
    let config = n
        .subnets
        .iter()
        .map(|p| IpamConfig {
            subnet: Some(p.subnet.to_string()),
            ip_range: p.ip_range.map(|r| r.to_string()),
            gateway: Some(p.gateway.to_string()),
            auxiliary_addresses: (!p.aux_addresses.is_empty()).then(|| {
                p.aux_addresses
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect()
            }),
        })
        .collect();
    let containers = members
        .iter()
        .map(|(c, e)| {
            (
                c.id.to_string(),
                EndpointResource {
                    name: Some(c.name.clone()),
                    endpoint_id: Some(e.id.to_string()),
                    mac_address: Some(e.mac.to_string()),
                    ipv4_address: Some(e.ipv4.map(|n| n.to_string()).unwrap_or_default()),
                    ipv6_address: Some(e.ipv6.map(|n| n.to_string()).unwrap_or_default()),
                },
            )
        })
        .collect();
    NetworkInspect {
        name: Some(n.name.to_string()),
        id: Some(n.id.to_string()),
        created: Some(timestamp(n.created)),
        scope: Some(n.scope().to_owned()),
        driver: Some(n.driver.to_string()),
        enable_ipv4: Some(n.enable_ipv4),
        enable_ipv6: Some(n.enable_ipv6),
        ipam: Some(Ipam {
            driver: Some("default".to_owned()),
            config: Some(config),
            options: Some(HashMap::new()),
        }),
        internal: Some(n.internal),
        attachable: Some(n.attachable),
        ingress: Some(false),
        config_from: Some(ConfigReference {
            network: Some(String::new()),
        }),
        config_only: Some(false),
        containers: Some(containers),
        options: Some(hash_map(&n.options)),
        labels: Some(hash_map(&n.labels)),
        ..Default::default()
    }
}

fn endpoint_request(e: &EndpointSettings) -> EndpointRequest {
    let ipam = e.ipam_config.clone().unwrap_or_default();
    EndpointRequest {
        aliases: e.aliases.clone().unwrap_or_default(),
        ipv4: ipam.ipv4_address.unwrap_or_default(),
        ipv6: ipam.ipv6_address.unwrap_or_default(),
        mac: e.mac_address.clone().unwrap_or_default(),
    }
}

pub fn connect_request(e: Option<&EndpointSettings>) -> EndpointRequest {
    e.map(endpoint_request).unwrap_or_default()
}

/// `[height, width]`; zeros (the CLI's "no terminal") mean none.
fn console_size(size: Option<&[usize]>) -> Option<(u16, u16)> {
    match size? {
        [height, width] if *height > 0 && *width > 0 => Some((
            u16::try_from(*height).unwrap_or(u16::MAX),
            u16::try_from(*width).unwrap_or(u16::MAX),
        )),
        _ => None,
    }
}

/// The docker CLI sends `run --network NET --link X` as the endpoint's
/// links; berth keeps links per container (as the default bridge's), so a
/// create's endpoint links join `HostConfig.Links`.
pub fn links_to_host_config(body: &mut ContainerCreateBody) {
    let endpoint_links: Vec<String> = body
        .networking_config
        .iter_mut()
        .flat_map(|n| n.endpoints_config.iter_mut().flat_map(|e| e.values_mut()))
        .flat_map(|e| e.links.take().unwrap_or_default())
        .collect();
    if !endpoint_links.is_empty() {
        body.host_config
            .get_or_insert_with(Default::default)
            .links
            .get_or_insert_with(Vec::new)
            .extend(endpoint_links);
    }
}

pub fn create_request(name: Option<String>, mut body: ContainerCreateBody) -> ContainerCreate {
    let host = body.host_config.take().unwrap_or_default();
    let storage = super::storage::requested(&body, &host);
    let resources = super::resources::requested(&host);
    let security = super::security::requested(&host);
    let endpoints = body
        .networking_config
        .and_then(|n| n.endpoints_config)
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| (k.clone(), endpoint_request(v)))
        .collect();
    let port_bindings = host
        .port_bindings
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let list = v
                .unwrap_or_default()
                .into_iter()
                .map(|b| {
                    (
                        b.host_ip.unwrap_or_default(),
                        b.host_port.unwrap_or_default(),
                    )
                })
                .collect();
            (k, list)
        })
        .collect();
    ContainerCreate {
        name,
        image: body.image.unwrap_or_default(),
        cmd: body.cmd,
        entrypoint: body.entrypoint,
        env: body.env.unwrap_or_default(),
        working_dir: body.working_dir.unwrap_or_default(),
        user: body.user.unwrap_or_default(),
        hostname: body.hostname.unwrap_or_default(),
        domainname: body.domainname.unwrap_or_default(),
        tty: body.tty.unwrap_or(false),
        open_stdin: body.open_stdin.unwrap_or(false),
        stdin_once: body.stdin_once.unwrap_or(false),
        attach_stdin: body.attach_stdin.unwrap_or(false),
        attach_stdout: body.attach_stdout.unwrap_or(false),
        attach_stderr: body.attach_stderr.unwrap_or(false),
        console_size: console_size(host.console_size.as_deref()),
        labels: body.labels.unwrap_or_default().into_iter().collect(),
        exposed_ports: body.exposed_ports.unwrap_or_default(),
        mac_address: String::new(),
        network_mode: host.network_mode.unwrap_or_default(),
        endpoints,
        port_bindings,
        publish_all: host.publish_all_ports.unwrap_or(false),
        dns: host.dns.unwrap_or_default(),
        dns_search: host.dns_search.unwrap_or_default(),
        dns_options: host.dns_options.unwrap_or_default(),
        extra_hosts: host.extra_hosts.unwrap_or_default(),
        auto_remove: host.auto_remove.unwrap_or(false),
        restart_policy: host.restart_policy.map_or_else(Default::default, |p| {
            (
                p.name.map(|n| n.as_ref().to_owned()).unwrap_or_default(),
                p.maximum_retry_count.unwrap_or(0),
            )
        }),
        stop_signal: None,
        stop_timeout: body.stop_timeout,
        links: host.links.clone().unwrap_or_default(),
        healthcheck: body.healthcheck.as_ref().map(|h| HealthcheckRequest {
            test: h.test.clone().unwrap_or_default(),
            interval: h.interval.unwrap_or(0),
            timeout: h.timeout.unwrap_or(0),
            start_period: h.start_period.unwrap_or(0),
            start_interval: h.start_interval.unwrap_or(0),
            retries: h.retries.unwrap_or(0),
        }),
        storage,
        resources,
        security,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_as_docker_prints_them() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(42)), "42 seconds");
        assert_eq!(human_duration(s(61)), "About a minute");
        assert_eq!(human_duration(s(600)), "10 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
        assert_eq!(human_duration(s(20 * 86400)), "2 weeks");
        assert_eq!(human_duration(s(90 * 86400)), "3 months");
        assert_eq!(human_duration(s(800 * 86400)), "2 years");
    }
}
