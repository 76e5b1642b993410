//! Legacy links (`--link NAME[:ALIAS]`), as Docker keeps them: the target
//! is resolved at create, and at each start the linking container gets an
//! `/etc/hosts` entry for it (alias, hostname and name) and, as moby's
//! `links` package writes them, `ALIAS_PORT_*`, `ALIAS_NAME` and
//! `ALIAS_ENV_*` variables.

use std::net::IpAddr;

use berth_types::ContainerId;
use serde::{Deserialize, Serialize};

use crate::container::table::ContainerTable;
use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ports::Host;

/// One `--link`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub target: ContainerId,
    pub alias: String,
}

/// Resolves `--link NAME[:ALIAS]` requests against the containers there
/// are, with Docker's error for an unknown one (a 400, not a 404, so the
/// client does not report a missing image).
pub fn resolve_links(asked: &[String], containers: &ContainerTable) -> Result<Vec<Link>> {
    asked
        .iter()
        .map(|link| {
            let (name, alias) = link.split_once(':').unwrap_or((link, link));
            let name = name.trim_start_matches('/');
            let target = containers.find(name).map_err(|e| {
                Error::InvalidParameter(format!("could not get container for {name}: {e}"))
            })?;
            Ok(Link {
                target: target.id.clone(),
                alias: alias.trim_start_matches('/').to_owned(),
            })
        })
        .collect()
}

/// moby's error for a link whose target is not running at start.
fn not_running(target: &Container, alias: &str, linking: &str) -> Error {
    Error::InvalidParameter(format!(
        "Cannot link to a non running container: /{} AS /{linking}/{alias}",
        target.name
    ))
}

/// The `/etc/hosts` names of a link: its alias, the target's hostname and,
/// unless the alias is it, the target's name.
fn host_names(link: &Link, target: &Container) -> String {
    let mut names = format!("{} {}", link.alias, target.dns.hostname);
    if link.alias != target.name {
        names.push(' ');
        names.push_str(&target.name);
    }
    names
}

/// moby's `Link.ToEnv`: the variables a link gives the linking container
/// `linking`, for a target at `ip`.
fn env(link: &Link, linking: &str, target: &Container, ip: IpAddr) -> Vec<String> {
    let alias = link.alias.to_ascii_uppercase().replace('-', "_");
    let mut ports = target.exposed.clone();
    ports.sort();
    let mut out = Vec::new();
    if let Some((port, proto)) = ports.first() {
        out.push(format!("{alias}_PORT={}://{ip}:{port}", proto.as_str()));
    }
    for (port, proto) in &ports {
        let p = proto.as_str();
        let key = format!("{alias}_PORT_{port}_{}", p.to_ascii_uppercase());
        out.push(format!("{key}={p}://{ip}:{port}"));
        out.push(format!("{key}_ADDR={ip}"));
        out.push(format!("{key}_PORT={port}"));
        out.push(format!("{key}_PROTO={p}"));
    }
    out.push(format!("{alias}_NAME=/{linking}/{}", link.alias));
    for var in &target.process.env {
        let Some((name, value)) = var.split_once('=') else {
            continue;
        };
        // What image builds add, of no use to the linking container.
        if name == "HOME" || name == "PATH" {
            continue;
        }
        out.push(format!("{alias}_ENV_{name}={value}"));
    }
    out
}

/// The target's address the linking container reaches: on the first
/// network they share.
fn address(c: &Container, target: &Container) -> Option<IpAddr> {
    c.attachments.iter().find_map(|mine| {
        target
            .attachments
            .iter()
            .filter(|theirs| theirs.network == mine.network)
            .find_map(|theirs| theirs.endpoint.as_ref()?.ipv4.map(|net| net.addr()))
    })
}

impl<H: Host> Engine<H> {
    /// Docker refuses to start a container whose link targets do not run.
    pub(crate) fn check_links(&self, c: &Container) -> Result<()> {
        for link in &c.links {
            let target = self.container(link.target.as_str())?;
            if !target.is_running() {
                return Err(not_running(&target, &link.alias, &c.name));
            }
        }
        Ok(())
    }

    pub(crate) fn link_facts(&self, c: &Container) -> LinkFacts {
        link_facts(c, &self.model.containers)
    }
}

/// What the links of a container give it, from their targets as they run
/// now: `/etc/hosts` entries (names, address) and variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkFacts {
    pub hosts: Vec<(String, IpAddr)>,
    pub env: Vec<String>,
}

impl LinkFacts {
    /// `env` with the links' variables in front, except those it sets
    /// itself (the container's own win, as in Docker).
    pub fn env_before(&self, env: &[String]) -> Vec<String> {
        let key = |var: &str| var.split('=').next().unwrap_or(var).to_owned();
        let own: std::collections::HashSet<String> = env.iter().map(|v| key(v)).collect();
        self.env
            .iter()
            .filter(|v| !own.contains(&key(v)))
            .chain(env)
            .cloned()
            .collect()
    }
}

pub fn link_facts(c: &Container, containers: &ContainerTable) -> LinkFacts {
    let mut facts = LinkFacts::default();
    for link in &c.links {
        let Ok(target) = containers.find(link.target.as_str()) else {
            continue;
        };
        let Some(ip) = address(c, &target) else {
            continue;
        };
        facts.hosts.push((host_names(link, &target), ip));
        facts.env.extend(env(link, &c.name, &target, ip));
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Proto;

    #[test]
    fn env_is_mobys() {
        let mut target = crate::container::table::tests::container(1, "db");
        target.exposed = vec![(6379, Proto::Tcp), (53, Proto::Udp)];
        target.process.env = vec!["PATH=/bin".into(), "PASSWORD=x".into(), "HOME=/root".into()];
        target.dns.hostname = "0123456789ab".into();
        let link = Link {
            target: target.id.clone(),
            alias: "my-db".into(),
        };
        let ip: IpAddr = "172.17.0.3".parse().unwrap();
        let env = env(&link, "web", &target, ip);
        assert_eq!(
            env,
            [
                "MY_DB_PORT=udp://172.17.0.3:53",
                "MY_DB_PORT_53_UDP=udp://172.17.0.3:53",
                "MY_DB_PORT_53_UDP_ADDR=172.17.0.3",
                "MY_DB_PORT_53_UDP_PORT=53",
                "MY_DB_PORT_53_UDP_PROTO=udp",
                "MY_DB_PORT_6379_TCP=tcp://172.17.0.3:6379",
                "MY_DB_PORT_6379_TCP_ADDR=172.17.0.3",
                "MY_DB_PORT_6379_TCP_PORT=6379",
                "MY_DB_PORT_6379_TCP_PROTO=tcp",
                "MY_DB_NAME=/web/my-db",
                "MY_DB_ENV_PASSWORD=x",
            ]
        );
        assert_eq!(host_names(&link, &target), "my-db 0123456789ab db");
        let same = Link {
            target: target.id.clone(),
            alias: "db".into(),
        };
        assert_eq!(host_names(&same, &target), "db 0123456789ab");
    }
}
