//! `--network` and the flags that belong to the first network (`--ip`,
//! `--ip6`, `--mac-address`, `--network-alias`): docker's
//! `NetworkAttachmentOpts` and `parseNetworkOpts`, down to the endpoint
//! settings its client sends.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{or_empty, ContainerOptions};
use crate::opts;

/// One `--network` value (docker's `NetworkAttachmentOpts`).
#[derive(Debug, Default, Clone)]
pub(super) struct Attachment {
    target: String,
    aliases: Vec<String>,
    ipv4: String,
    ipv6: String,
    mac: String,
    driver_opts: BTreeMap<String, String>,
}

/// docker's `NetworkOpt.Set`: a name, or `name=…,alias=…,ip=…` (the long
/// syntax, recognised by any `word=word` in it).
pub(super) fn parse_network(value: &str) -> Result<Attachment, String> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let long = value
        .match_indices('=')
        .any(|(i, _)| value[..i].ends_with(word) && value[i + 1..].starts_with(word));
    if !long {
        return Ok(Attachment {
            target: value.to_string(),
            ..Attachment::default()
        });
    }
    let mut a = Attachment::default();
    for field in value.split(',') {
        let Some((key, val)) = field.split_once('=') else {
            return Err(format!("invalid field {field}"));
        };
        let (key, val) = (key.trim().to_lowercase(), val.trim().to_string());
        match key.as_str() {
            "name" => a.target = val,
            "alias" => a.aliases.push(val),
            "ip" => a.ipv4 = val,
            "ip6" => a.ipv6 = val,
            "mac-address" => a.mac = val,
            "driver-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val.as_str(), ""));
                a.driver_opts
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
            "" => return Err(format!("invalid field {field}")),
            other => return Err(format!("invalid field key {other}")),
        }
    }
    Ok(a)
}

/// docker's `NetworkMode.IsUserDefined`.
fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// docker's endpoint settings as its client sends them: every field, the
/// unset ones empty.
fn endpoint(a: &Attachment) -> Result<Value, String> {
    if a.target.trim().is_empty() {
        return Err("no name set for network".to_string());
    }
    if !is_user_defined(&a.target) && !a.aliases.is_empty() {
        return Err(
            "network-scoped aliases are only supported for user-defined networks".to_string(),
        );
    }
    if !a.mac.is_empty() && !opts::is_mac(a.mac.trim()) {
        return Err(format!("{} is not a valid mac address", a.mac));
    }
    let mut ipam = Map::new();
    if !a.ipv4.is_empty() {
        ipam.insert("IPv4Address".into(), a.ipv4.clone().into());
    }
    if !a.ipv6.is_empty() {
        ipam.insert("IPv6Address".into(), a.ipv6.clone().into());
    }
    Ok(json!({
        "IPAMConfig": if ipam.is_empty() { Value::Null } else { Value::Object(ipam) },
        "Links": null,
        "Aliases": if a.aliases.is_empty() { Value::Null } else { json!(a.aliases) },
        "MacAddress": a.mac,
        "DriverOpts": if a.driver_opts.is_empty() { Value::Null } else { json!(a.driver_opts) },
        "GwPriority": 0,
        "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "DNSNames": null,
    }))
}

fn is_empty_endpoint(a: &Attachment) -> bool {
    a.aliases.is_empty()
        && a.ipv4.is_empty()
        && a.ipv6.is_empty()
        && a.mac.is_empty()
        && a.driver_opts.is_empty()
}

impl ContainerOptions {
    /// docker's `applyContainerOptions`: `--network-alias`, `--ip`,
    /// `--ip6` and `--mac-address` belong to the first network.
    fn apply_to_first(&self, a: &mut Attachment) -> Result<(), String> {
        let conflict = |what: &str| Err(format!("conflicting options: cannot specify both {what}"));
        if !a.aliases.is_empty() && !self.network_alias.is_empty() {
            return conflict("--network-alias and per-network alias");
        }
        let (ip, ip6, mac) = (
            or_empty(&self.ip),
            or_empty(&self.ip6),
            or_empty(&self.mac_address),
        );
        if !a.ipv4.is_empty() && !ip.is_empty() {
            return conflict("--ip and per-network IPv4 address");
        }
        if !a.ipv6.is_empty() && !ip6.is_empty() {
            return conflict("--ip6 and per-network IPv6 address");
        }
        if !a.mac.is_empty() && !mac.is_empty() {
            return conflict("--mac-address and per-network MAC address");
        }
        if !self.network_alias.is_empty() {
            a.aliases = self.network_alias.clone();
        }
        if !ip.is_empty() {
            a.ipv4 = ip.to_string();
        }
        if !ip6.is_empty() {
            a.ipv6 = ip6.to_string();
        }
        if !mac.is_empty() {
            a.mac = mac.to_string();
        }
        Ok(())
    }

    /// docker's `parseNetworkOpts`: the network mode and the endpoints.
    pub(super) fn networks(
        &self,
        attachments: Vec<Attachment>,
    ) -> Result<(String, Map<String, Value>), String> {
        let mut endpoints = Map::new();
        if attachments.is_empty() {
            let mut a = Attachment {
                target: "default".to_string(),
                ..Attachment::default()
            };
            self.apply_to_first(&mut a)?;
            endpoints.insert("default".into(), endpoint(&a)?);
            return Ok(("default".to_string(), endpoints));
        }
        let count = attachments.len();
        let mode = attachments[0].target.clone();
        let (mut user, mut builtin) = (false, false);
        for (i, mut a) in attachments.into_iter().enumerate() {
            if is_user_defined(&a.target) {
                user = true;
            } else {
                builtin = true;
            }
            if i == 0 {
                self.apply_to_first(&mut a)?;
            }
            let ep = endpoint(&a)?;
            if endpoints.contains_key(&a.target) {
                return Err(format!(
                    "network {:?} is specified multiple times",
                    a.target
                ));
            }
            // A lone network without settings gets no endpoint: the
            // daemon makes it.
            if i == 0 && count == 1 && is_empty_endpoint(&a) {
                continue;
            }
            endpoints.insert(a.target.clone(), ep);
        }
        if user && builtin {
            return Err("conflicting options: cannot attach both user-defined and non-user-defined network-modes".to_string());
        }
        Ok((mode, endpoints))
    }
}
