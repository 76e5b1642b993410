//! Docker's requests as core inputs: a create's body (with its endpoint
//! links moved to `HostConfig.Links`) and a connect's endpoint settings.

use berth_core::container::create::{ContainerCreate, EndpointRequest};
use berth_core::container::HealthcheckRequest;
use bollard_stubs::models::{ContainerCreateBody, EndpointSettings};

use crate::backend::{resources, security, storage};

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
    let storage = storage::requested(&body, &host);
    let resources = resources::requested(&host);
    let security = security::requested(&host);
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
