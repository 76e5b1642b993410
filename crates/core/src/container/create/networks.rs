//! A create's network mode and the networks it joins at start, with the
//! endpoint settings asked for each and moby's checks on fixed addresses.

use std::net::IpAddr;

use berth_types::MacAddr;

use crate::container::{Attachment, NetworkMode};
use crate::error::Result;
use crate::lookup::find_network;
use crate::network::Network;

use super::parse::{parse_ip, parse_mac};
use super::{invalid, ContainerCreate, Context, EndpointRequest};

pub(super) fn resolve_network_mode(mode: &str, ctx: &Context<'_>) -> Result<NetworkMode> {
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
pub(super) fn plan_attachments(
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
