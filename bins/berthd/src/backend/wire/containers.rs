//! Containers in Docker's shapes: `inspect` (state, config, host config,
//! network settings, health), `ps`'s summary and STATUS, published ports.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::SystemTime;

use berth_core::container::{Container, Health, HealthStatus, NetworkMode, Status};
use berth_core::network::{gwbridge, Network};
use bollard_stubs::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    ContainerSummary, ContainerSummaryHostConfig, ContainerSummaryNetworkSettings,
    ContainerSummaryStateEnum, EndpointIpamConfig, EndpointSettings, Health as WireHealth,
    HealthConfig, HealthStatusEnum, HealthcheckResult, HostConfig, NetworkSettings,
    PortBinding as WirePortBinding, PortMap, PortSummary, PortSummaryTypeEnum, RestartPolicy,
};

use super::{hash_map, human_duration, opt_timestamp, since, timestamp};
use crate::backend::{resources, security, storage};

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
    storage::show(&c.storage, &mut host_config, &mut config);
    resources::show(&c.resources, &mut host_config);
    security::show(&c.security, &mut host_config);
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
        app_armor_profile: Some(security::apparmor_profile(&c.security)),
        exec_ids: None,
        host_config: Some(host_config),
        mounts: Some(storage::mount_points(&c.storage)),
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
        mounts: Some(storage::mount_points(&c.storage)),
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
