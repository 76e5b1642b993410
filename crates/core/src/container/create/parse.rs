//! The request's strings checked and parsed as Docker does: container
//! names, ports and their bindings, addresses, MACs and extra hosts.

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_types::{ContainerId, MacAddr};

use crate::container::{PortBinding, Proto};
use crate::error::{Error, Result};

use super::invalid;

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

pub(super) fn parse_port_bindings(
    raw: &BTreeMap<String, Vec<(String, String)>>,
) -> Result<Vec<PortBinding>> {
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

pub(super) fn parse_ip(s: &str) -> Result<Option<IpAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| invalid(format!("invalid IP address: {s}")))
}

pub(super) fn parse_mac(s: &str) -> Result<Option<MacAddr>> {
    if s.is_empty() {
        return Ok(None);
    }
    MacAddr::parse(s)
        .map(Some)
        .ok_or_else(|| invalid(format!("invalid MAC address: {s}")))
}

pub(super) fn parse_extra_host(s: &str, host_gateway: Option<IpAddr>) -> Result<(String, IpAddr)> {
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
