//! `create`: a request checked against the image, the networks and the other
//! containers, turned into a [`Container`] record. Pure; every refusal has
//! Docker's status and words.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use berth_types::{ContainerId, MacAddr};

use crate::container::table::ContainerTable;
use crate::container::{
    security, Attachment, Capacity, Container, DnsConfig, Healthcheck, HealthcheckRequest,
    NetworkMode, PortBinding, ProcessConfig, Proto, Resources, RestartPolicy, RunState,
    SecurityRequest, StopSignal, Storage,
};
use crate::error::{Error, Result};
use crate::lookup::find_network;
use crate::network::Network;
use crate::ports::ImageConfig;

/// Per-network settings asked for at create (`NetworkingConfig`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ipv4: String,
    pub ipv6: String,
    pub mac: String,
}

/// A `create` request with the wire's strings, not yet validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerCreate {
    pub name: Option<String>,
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// `HostConfig.ConsoleSize`: the terminal's initial (height, width).
    pub console_size: Option<(u16, u16)>,
    pub labels: BTreeMap<String, String>,
    /// `80/tcp` keys of `ExposedPorts`.
    pub exposed_ports: Vec<String>,
    /// The deprecated container-level `MacAddress`.
    pub mac_address: String,
    /// `HostConfig.NetworkMode`: "", default, bridge, host, none, container:X or a network.
    pub network_mode: String,
    /// `NetworkingConfig.EndpointsConfig`, keyed by network name or id.
    pub endpoints: BTreeMap<String, EndpointRequest>,
    /// `HostConfig.PortBindings`: `80/tcp` -> [(HostIp, HostPort)].
    pub port_bindings: BTreeMap<String, Vec<(String, String)>>,
    pub publish_all: bool,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `NAME:IP` (or `NAME:host-gateway`).
    pub extra_hosts: Vec<String>,
    pub auto_remove: bool,
    /// `HostConfig.RestartPolicy`: its name and `MaximumRetryCount`.
    pub restart_policy: (String, i64),
    /// `Config.StopSignal`, parsed by the caller (signal numbers are the
    /// OS's).
    pub stop_signal: Option<StopSignal>,
    /// `Config.StopTimeout`, in seconds.
    pub stop_timeout: Option<i64>,
    /// `Config.Healthcheck`.
    pub healthcheck: Option<HealthcheckRequest>,
    /// `HostConfig.Links`: `NAME[:ALIAS]`.
    pub links: Vec<String>,
    pub storage: Storage,
    pub resources: Resources,
    pub security: SecurityRequest,
}

/// What the plan checks the request against.
pub struct Context<'a> {
    pub image: &'a ImageConfig,
    pub networks: &'a [Network],
    pub containers: &'a ContainerTable,
    /// The default bridge's gateway: what `host-gateway` means.
    pub host_gateway: Option<IpAddr>,
    /// What the host's cgroups can limit.
    pub capacity: Capacity,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidParameter(msg.into())
}

/// Docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an
/// optional leading slash.
pub fn check_container_name(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let valid = bare.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(bare.to_owned())
    } else {
        Err(invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

pub fn name_conflict(name: &str, holder: &ContainerId) -> Error {
    Error::Conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

/// Parses `80`, `80/tcp`, `53/udp`.
pub fn parse_port_proto(s: &str) -> Result<(u16, Proto)> {
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto = Proto::parse(&proto.to_ascii_lowercase())
        .ok_or_else(|| invalid(format!("invalid proto: {proto}")))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid(format!("invalid containerPort: {port}")))?;
    Ok((port, proto))
}

/// Parses a HostPort: empty (ephemeral), `8080`, or `8000-8010`.
fn parse_host_ports(s: &str) -> Result<Option<(u16, u16)>> {
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    // dockerd's words (validatePortBindings), with Go's %q quoting.
    let bad = || invalid(format!("invalid port specification: {s:?}"));
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a = a.parse::<u16>().map_err(|_| bad())?;
    let b = b.parse::<u16>().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

fn parse_port_bindings(raw: &BTreeMap<String, Vec<(String, String)>>) -> Result<Vec<PortBinding>> {
    let mut out = Vec::new();
    for (key, bindings) in raw {
        let port = key.split_once('/').map_or(key.as_str(), |(port, _)| port);
        if port.parse::<u16>().is_err() {
            return Err(invalid(format!("invalid port specification: {port:?}")));
        }
        let (container_port, proto) = parse_port_proto(key)?;
        for (host_ip, host_port) in bindings {
            let host_ip = match host_ip.trim_matches(['[', ']']) {
                "" => None,
                ip => Some(
                    ip.parse::<IpAddr>()
                        .map_err(|_| invalid(format!("invalid IP address: {ip}")))?,
                ),
            };
            out.push(PortBinding {
                proto,
                container_port,
                host_ip,
                host_ports: parse_host_ports(host_port)?,
            });
        }
    }
    out.sort();
    Ok(out)
}

fn parse_ip(s: &str) -> Result<Option<IpAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| invalid(format!("invalid IP address: {s}")))
}

fn parse_mac(s: &str) -> Result<Option<MacAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    MacAddr::parse(s)
        .map(Some)
        .ok_or_else(|| invalid(format!("invalid MAC address: {s}")))
}

fn parse_extra_host(s: &str, host_gateway: Option<IpAddr>) -> Result<(String, IpAddr)> {
    // NAME:IP, where an IPv6 IP holds colons: split at the first one.
    let (name, ip) = s
        .split_once(':')
        .or_else(|| s.split_once('='))
        .ok_or_else(|| invalid(format!("invalid extra host: {s}")))?;
    let ip = match ip {
        "host-gateway" => {
            host_gateway.ok_or_else(|| invalid("unable to derive the IP value for host-gateway"))?
        }
        ip => ip
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| invalid(format!("invalid IP address in add-host: \"{ip}\"")))?,
    };
    Ok((name.to_owned(), ip))
}

type Command = Option<Vec<String>>;

/// dockerd's merge (`daemon/commit.go`): no healthcheck asked takes the
/// image's; an asked one takes the image's test and each setting it
/// leaves at zero.
fn image_healthcheck(
    asked: Option<&HealthcheckRequest>,
    image: &ImageConfig,
) -> Option<HealthcheckRequest> {
    let Some(from_image) = &image.healthcheck else {
        return asked.cloned();
    };
    let Some(asked) = asked else {
        return Some(from_image.clone());
    };
    let or = |mine: i64, theirs: i64| if mine == 0 { theirs } else { mine };
    Some(HealthcheckRequest {
        test: if asked.test.is_empty() {
            from_image.test.clone()
        } else {
            asked.test.clone()
        },
        interval: or(asked.interval, from_image.interval),
        timeout: or(asked.timeout, from_image.timeout),
        start_period: or(asked.start_period, from_image.start_period),
        start_interval: or(asked.start_interval, from_image.start_interval),
        retries: or(asked.retries, from_image.retries),
    })
}

/// dockerd's merge of the request's entrypoint and CMD with the image's:
/// an entrypoint given in the request replaces the image's and resets its
/// CMD; `[]` clears the entrypoint only, and `[""]` (the CLI's
/// `--entrypoint ""`) clears both.
fn merge_command(
    entrypoint: Option<&Vec<String>>,
    cmd: Option<&Vec<String>>,
    image: &ImageConfig,
) -> (Command, Command) {
    let own_cmd = cmd.filter(|c| !c.is_empty()).cloned();
    let (entrypoint, cmd) = match entrypoint {
        None => (
            image.entrypoint.clone(),
            own_cmd.or_else(|| image.cmd.clone()),
        ),
        Some(e) if e.is_empty() => (None, own_cmd.or_else(|| image.cmd.clone())),
        Some(e) => (Some(e.clone()), own_cmd),
    };
    (entrypoint.filter(|e| !e.is_empty() && *e != [""]), cmd)
}

/// Validates `req` and builds the container record (status `created`).
pub fn plan_container(
    req: ContainerCreate,
    ctx: &Context<'_>,
    id: ContainerId,
    created: SystemTime,
    generated_name: impl FnOnce() -> String,
) -> Result<Container> {
    let name = match &req.name {
        Some(n) if !n.is_empty() => check_container_name(n)?,
        _ => generated_name(),
    };
    if let Some(holder) = ctx.containers.name_holder(&name) {
        return Err(name_conflict(&name, &holder));
    }
    let restart = RestartPolicy::parse(&req.restart_policy.0, req.restart_policy.1)?;
    let links = super::links::resolve_links(&req.links, ctx.containers)?;
    let healthcheck = match image_healthcheck(req.healthcheck.as_ref(), ctx.image) {
        Some(asked) => Healthcheck::from_request(&asked)?,
        None => None,
    };
    if req.auto_remove && restart != RestartPolicy::No {
        return Err(Error::InvalidParameter(
            "can't create 'AutoRemove' container with restart policy".to_owned(),
        ));
    }

    let (entrypoint, cmd) = merge_command(req.entrypoint.as_ref(), req.cmd.as_ref(), ctx.image);
    let args: Vec<String> = entrypoint
        .iter()
        .flatten()
        .chain(cmd.iter().flatten())
        .cloned()
        .collect();
    if args.is_empty() {
        return Err(invalid("no command specified"));
    }
    let mut env = ctx.image.env.clone();
    for var in &req.env {
        let key = var.split('=').next().unwrap_or(var);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(var.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        );
    }

    let network_mode = resolve_network_mode(&req.network_mode, ctx)?;
    let resources = req
        .resources
        .clone()
        .verified(&ctx.capacity, network_mode.owns_sandbox())?;
    let mut exposed = ctx.image.exposed.clone();
    for p in &req.exposed_ports {
        exposed.push(parse_port_proto(p)?);
    }
    let mut ports = parse_port_bindings(&req.port_bindings)?;
    // IPv6 has no route_localnet: a DNAT from ::1 never reaches a bridge.
    if ports
        .iter()
        .any(|p| p.host_ip == Some(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)))
    {
        return Err(invalid(
            "publishing on [::1] is not supported: IPv6 loopback traffic cannot be forwarded to a container (use 127.0.0.1)",
        ));
    }
    for p in &ports {
        if !exposed.contains(&(p.container_port, p.proto)) {
            exposed.push((p.container_port, p.proto));
        }
    }
    exposed.sort();
    exposed.dedup();

    let dns = DnsConfig {
        hostname: String::new(),
        domainname: req.domainname.clone(),
        dns: req
            .dns
            .iter()
            .map(|s| parse_ip(s).map(|o| o.into_iter()))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect(),
        dns_search: req.dns_search.clone(),
        dns_options: req.dns_options.clone(),
        extra_hosts: req
            .extra_hosts
            .iter()
            .map(|h| parse_extra_host(h, ctx.host_gateway))
            .collect::<Result<Vec<_>>>()?,
    };

    let container_mac = parse_mac(&req.mac_address)?;
    let mut publish_all = req.publish_all;
    match &network_mode {
        NetworkMode::Container(_) => {
            let conflict = |what: &str| {
                Err(invalid(format!(
                    "conflicting options: {what} and the network mode"
                )))
            };
            if !req.hostname.is_empty() {
                return conflict("hostname");
            }
            if !dns.dns.is_empty() || !dns.dns_search.is_empty() || !dns.dns_options.is_empty() {
                return conflict("dns");
            }
            if !dns.extra_hosts.is_empty() {
                return conflict("custom host-to-IP mapping");
            }
            if container_mac.is_some() || req.endpoints.values().any(|e| !e.mac.is_empty()) {
                return conflict("mac-address");
            }
            if !ports.is_empty() || req.publish_all {
                return Err(invalid(
                    "conflicting options: port publishing and the container type network mode",
                ));
            }
            if !req.exposed_ports.is_empty() {
                return Err(invalid(
                    "conflicting options: port exposing and the container type network mode",
                ));
            }
        }
        // Docker drops published ports in host mode (with a warning): the
        // container's ports are the host's already.
        NetworkMode::Host => {
            ports.clear();
            publish_all = false;
        }
        NetworkMode::Bridge | NetworkMode::None | NetworkMode::Network(_) => {}
    }

    let attachments = plan_attachments(&network_mode, &req, container_mac, ctx)?;
    let security = security::plan(req.security.clone(), &req.hostname, ctx.containers)?;
    let hostname = if req.hostname.is_empty() {
        match network_mode {
            // In the host's namespace the container sees the host's name.
            NetworkMode::Host => String::new(),
            _ if security.uts_host => String::new(),
            _ => id.short().to_owned(),
        }
    } else {
        req.hostname.clone()
    };

    Ok(Container {
        name,
        created,
        image: req.image.clone(),
        image_id: ctx.image.id.clone(),
        process: ProcessConfig {
            args,
            entrypoint,
            cmd,
            env,
            working_dir: if req.working_dir.is_empty() {
                ctx.image.working_dir.clone()
            } else {
                req.working_dir.clone()
            },
            user: if req.user.is_empty() {
                ctx.image.user.clone()
            } else {
                req.user.clone()
            },
            tty: req.tty,
            open_stdin: req.open_stdin,
            stdin_once: req.stdin_once,
            attach_stdin: req.attach_stdin,
            attach_stdout: req.attach_stdout,
            attach_stderr: req.attach_stderr,
            console_size: req.console_size.filter(|_| req.tty),
        },
        dns: DnsConfig { hostname, ..dns },
        labels: req.labels,
        network_mode,
        attachments,
        ports,
        publish_all,
        exposed,
        auto_remove: req.auto_remove,
        restart,
        links,
        healthcheck,
        stop_signal: req.stop_signal.or_else(|| ctx.image.stop_signal.clone()),
        stop_timeout: req.stop_timeout,
        storage: req.storage,
        resources,
        security,
        published: Vec::new(),
        state: RunState::created(),
        netns: None,
        id,
    })
}

fn resolve_network_mode(mode: &str, ctx: &Context<'_>) -> Result<NetworkMode> {
    match mode {
        "" | "default" | "bridge" => Ok(NetworkMode::Bridge),
        "host" => Ok(NetworkMode::Host),
        "none" => Ok(NetworkMode::None),
        m => match m.strip_prefix("container:") {
            Some(target) => {
                let target = ctx.containers.find(target)?;
                Ok(NetworkMode::Container(target.id))
            }
            None => {
                let network = find_network(ctx.networks, m)?;
                Ok(match network.name.as_str() {
                    "bridge" => NetworkMode::Bridge,
                    "host" => NetworkMode::Host,
                    "none" => NetworkMode::None,
                    _ => NetworkMode::Network(network.id.clone()),
                })
            }
        },
    }
}

/// The networks a container joins at start, with what was asked for each.
fn plan_attachments(
    mode: &NetworkMode,
    req: &ContainerCreate,
    container_mac: Option<MacAddr>,
    ctx: &Context<'_>,
) -> Result<Vec<Attachment>> {
    let primary = match mode {
        NetworkMode::Bridge => find_network(ctx.networks, "bridge")?,
        NetworkMode::Network(id) => find_network(ctx.networks, id.as_str())?,
        NetworkMode::Host | NetworkMode::None | NetworkMode::Container(_) => {
            // Only the mode's own network may carry settings here.
            if req
                .endpoints
                .values()
                .any(|e| !e.ipv4.is_empty() || !e.ipv6.is_empty())
            {
                return Err(invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            if req.endpoints.values().any(|e| !e.aliases.is_empty()) {
                return Err(invalid("network-scoped alias is supported only for containers in user defined networks"));
            }
            return Ok(Vec::new());
        }
    };
    let mut attachments = Vec::new();
    let mut requested: Vec<(&Network, EndpointRequest)> = Vec::new();
    for (key, settings) in &req.endpoints {
        let network = find_network(ctx.networks, key)?;
        requested.push((network, settings.clone()));
    }
    if !requested.iter().any(|(n, _)| n.id == primary.id) {
        requested.insert(0, (primary, EndpointRequest::default()));
    }
    // The mode's network first: it is eth0 and provides the default route.
    requested.sort_by_key(|(n, _)| n.id != primary.id);
    for (network, settings) in requested {
        crate::driver::overlay::check_publishable(network, req)?;
        let user_defined = !network.is_predefined();
        let ipv4 = parse_ip(&settings.ipv4)?;
        let ipv6 = parse_ip(&settings.ipv6)?;
        if (ipv4.is_some() || ipv6.is_some()) && !user_defined {
            return Err(invalid(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        if !settings.aliases.is_empty() && !user_defined {
            return Err(invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
        check_fixed_addresses(network, ipv4.iter().chain(ipv6.iter()).copied())?;
        for ip in ipv4.iter().chain(ipv6.iter()) {
            if !network.subnets.iter().any(|p| p.contains(*ip)) {
                return Err(invalid(format!(
                    "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {ip}"
                )));
            }
        }
        let mac = parse_mac(&settings.mac)?.or(if network.id == primary.id {
            container_mac
        } else {
            None
        });
        attachments.push(Attachment {
            network: network.id.clone(),
            aliases: settings.aliases,
            ipv4,
            ipv6,
            mac,
            endpoint: None,
        });
    }
    Ok(attachments)
}

/// moby's `validateEndpointSettings`: a fixed address needs a subnet of its
/// family that the user configured, not one taken from the pools.
pub fn check_fixed_addresses(
    network: &Network,
    mut addresses: impl Iterator<Item = IpAddr>,
) -> Result<()> {
    if addresses.any(|ip| !network.has_user_subnet_for(ip)) {
        return Err(invalid(
            "invalid endpoint settings:\nuser specified IP address is supported only when connecting to networks with user configured subnets",
        ));
    }
    Ok(())
}

/// Docker-style generated names: `adjective_surname`.
pub fn generated_name(seed: &[u8; 32], taken: impl Fn(&str) -> bool) -> String {
    const LEFT: [&str; 24] = [
        "admiring",
        "bold",
        "brave",
        "clever",
        "dazzling",
        "eager",
        "elated",
        "focused",
        "gallant",
        "happy",
        "jolly",
        "keen",
        "kind",
        "lucid",
        "modest",
        "nifty",
        "optimistic",
        "quirky",
        "serene",
        "sharp",
        "stoic",
        "tender",
        "vibrant",
        "zealous",
    ];
    const RIGHT: [&str; 24] = [
        "albattani",
        "babbage",
        "curie",
        "darwin",
        "einstein",
        "feynman",
        "galileo",
        "hopper",
        "hypatia",
        "johnson",
        "kepler",
        "lamarr",
        "lovelace",
        "meitner",
        "newton",
        "noether",
        "pasteur",
        "ritchie",
        "shannon",
        "tesla",
        "thompson",
        "torvalds",
        "turing",
        "wozniak",
    ];
    let base = format!(
        "{}_{}",
        LEFT[usize::from(seed[0]) % LEFT.len()],
        RIGHT[usize::from(seed[1]) % RIGHT.len()]
    );
    if !taken(&base) {
        return base;
    }
    // Docker appends a digit on a clash; count up until free.
    (1..)
        .map(|n| format!("{base}{n}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_images_healthcheck_fills_what_the_request_leaves_out() {
        let from_image = HealthcheckRequest {
            test: list(&["CMD-SHELL", "true"]),
            interval: 5,
            retries: 3,
            ..Default::default()
        };
        let image = ImageConfig {
            healthcheck: Some(from_image.clone()),
            ..Default::default()
        };
        assert_eq!(image_healthcheck(None, &image), Some(from_image.clone()));
        let asked = HealthcheckRequest {
            interval: 9,
            ..Default::default()
        };
        let merged = image_healthcheck(Some(&asked), &image).unwrap();
        assert_eq!(
            (merged.test, merged.interval, merged.retries),
            (from_image.test.clone(), 9, 3)
        );
        let none = HealthcheckRequest {
            test: list(&["NONE"]),
            ..Default::default()
        };
        assert_eq!(
            image_healthcheck(Some(&none), &image).unwrap().test,
            list(&["NONE"])
        );
        assert_eq!(image_healthcheck(None, &ImageConfig::default()), None);
    }

    #[test]
    fn entrypoint_and_cmd_merge_with_the_image_as_dockerd_does() {
        let image = ImageConfig {
            entrypoint: Some(list(&["/entry"])),
            cmd: Some(list(&["sh"])),
            ..Default::default()
        };
        let merge = |e: Option<&[&str]>, c: Option<&[&str]>| {
            merge_command(e.map(list).as_ref(), c.map(list).as_ref(), &image)
        };
        let some = |items: &[&str]| Some(list(items));
        assert_eq!(merge(None, None), (some(&["/entry"]), some(&["sh"])));
        assert_eq!(
            merge(None, Some(&["ls"])),
            (some(&["/entry"]), some(&["ls"]))
        );
        assert_eq!(merge(Some(&["echo"]), None), (some(&["echo"]), None));
        // `--entrypoint ""`: no entrypoint, and only the request's CMD.
        assert_eq!(merge(Some(&[""]), Some(&["ls"])), (None, some(&["ls"])));
        assert_eq!(merge(Some(&[""]), None), (None, None));
        // An empty list clears the entrypoint and keeps the image's CMD.
        assert_eq!(merge(Some(&[]), None), (None, some(&["sh"])));
    }
}
