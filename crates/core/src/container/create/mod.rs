//! `create`: a request checked against the image, the networks and the other
//! containers, turned into a [`Container`] record. Pure; every refusal has
//! Docker's status and words. Here the request, the plan and the merge with
//! the image's defaults; parsing the request's strings, its networks and
//! generated names each in their own file.

mod names;
mod networks;
mod parse;

pub use names::*;
pub use networks::*;
pub use parse::*;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use berth_types::ContainerId;

use crate::container::table::ContainerTable;
use crate::container::{
    security, Capacity, Container, DnsConfig, Healthcheck, HealthcheckRequest, NetworkMode,
    ProcessConfig, Resources, RestartPolicy, RunState, SecurityRequest, StopSignal, Storage,
};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::ports::ImageConfig;
use networks::{plan_attachments, resolve_network_mode};
use parse::{parse_extra_host, parse_ip, parse_mac, parse_port_bindings};

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
