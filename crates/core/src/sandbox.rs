//! Sandboxes (Docker's CNM noun): a container's network namespace and what
//! lives in it, its `/etc/hosts`, `/etc/resolv.conf` and hostname, and the
//! embedded DNS server that answers there. A container has its own sandbox
//! (`bridge`, `none`, a user network), shares another container's
//! (`container:X`), or runs in the host's (`host`).

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::container::{Container, NetworkMode};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::etc_files::{self, ResolvConf, Resolver, SelfEntry};
use crate::network::gwbridge::is_gwbridge;
use crate::network::Network;
use crate::ports::{
    DnsUpstreams, Env, EtcFiles, FirewallChange, Host, NetOps, NetnsRef, Runtime, SandboxDns,
};

/// The sandbox a container's process runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    /// The namespace the process joins.
    pub netns: NetnsRef,
    /// Whether the sandbox is the container's own: berth makes and removes
    /// it, and joins it to the container's networks.
    pub owned: bool,
}

impl Sandbox {
    /// The namespace file of an owned sandbox.
    pub fn own_path(&self) -> Option<&Path> {
        match (&self.netns, self.owned) {
            (NetnsRef::Path(path), true) => Some(path),
            _ => None,
        }
    }
}

impl<H: Host> Engine<H> {
    /// Where `c`'s process will run: its own sandbox at
    /// `<exec-root>/netns/<id>`, its `container:` target's (which must be
    /// running), or the host's namespace.
    pub(crate) fn sandbox_of(&self, c: &Container) -> Result<Sandbox> {
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
                NetnsRef::Path(self.netns_path(c))
            }
        };
        Ok(Sandbox {
            netns,
            owned: c.network_mode.owns_sandbox(),
        })
    }

    fn netns_path(&self, c: &Container) -> PathBuf {
        self.host.netns_dir().join(c.id.as_str())
    }

    /// Makes an owned sandbox's namespace (idempotent).
    pub(crate) async fn make_sandbox(&self, c: &Container, sandbox: &Sandbox) -> Result<()> {
        let Some(path) = sandbox.own_path() else {
            return Ok(());
        };
        self.host
            .net()
            .create_netns(path)
            .await
            .map_err(Error::kernel(format!(
                "create network namespace for container {}",
                c.name
            )))
    }

    /// Starts the embedded DNS server in `c`'s own sandbox if `c` is on a
    /// user-defined network.
    pub(crate) async fn serve_dns(&self, c: &Container, sandbox: &Sandbox) -> Result<()> {
        let (Some(path), Some(upstreams)) = (sandbox.own_path(), self.dns_upstreams(c)) else {
            return Ok(());
        };
        self.start_dns(c, path, upstreams).await
    }

    async fn start_dns(&self, c: &Container, path: &Path, upstreams: DnsUpstreams) -> Result<()> {
        self.host
            .dns()
            .serve(&c.id, path, upstreams)
            .await
            .map_err(Error::dns(format!(
                "start the server of container {}",
                c.name
            )))
    }

    /// The `/etc` files: a `container:` joiner gets its target's.
    pub(crate) fn etc_files(&self, c: &Container) -> Result<EtcFiles> {
        let source = match &c.network_mode {
            NetworkMode::Container(target) => self.container(target.as_str())?,
            _ => c.clone(),
        };
        let networks = self.networks();
        let resolver = if user_networks(&source, &networks).next().is_some() {
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
            .flat_map(|e| e.addresses())
            .map(|net| SelfEntry {
                address: net.addr(),
                names: &names,
            })
            .collect();
        let mut dns = source.dns.clone();
        dns.extra_hosts.extend(self.link_facts(c).hosts);
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
    pub(crate) fn dns_upstreams(&self, c: &Container) -> Option<DnsUpstreams> {
        let networks = self.networks();
        let user: Vec<&Network> = user_networks(c, &networks).collect();
        if user.is_empty() {
            return None;
        }
        let explicit = if c.dns.dns.is_empty() {
            &self.config.dns
        } else {
            &c.dns.dns
        };
        Some(if !explicit.is_empty() {
            DnsUpstreams::Container(explicit.clone())
        } else if user.iter().all(|n| n.internal) {
            DnsUpstreams::None
        } else {
            let host = ResolvConf::parse(&self.host.env().host_resolv_conf());
            DnsUpstreams::Host(host.nameservers)
        })
    }

    /// After a running container's networks changed, as Docker does: the
    /// embedded DNS starts when it first joins a user-defined network (and
    /// stops when it leaves the last), and its `/etc` files are rewritten
    /// (its addresses in hosts; 127.0.0.11 or the host's servers).
    pub(crate) async fn refresh_resolution(
        &self,
        c: &Container,
        had_embedded_dns: bool,
    ) -> Result<()> {
        let (true, Some(path)) = (c.is_running(), &c.netns) else {
            return Ok(());
        };
        match (had_embedded_dns, self.dns_upstreams(c)) {
            (false, Some(upstreams)) => self.start_dns(c, path, upstreams).await?,
            (true, None) => self.host.dns().stop(&c.id).await,
            _ => {}
        }
        let etc = self.etc_files(c)?;
        self.host
            .runtime()
            .write_etc(&c.id, &etc)
            .await
            .map_err(Error::runtime(format!(
                "rewrite the /etc files of container {}",
                c.name
            )))
    }

    /// Makes the embedded DNS answer for `c` as it is now.
    pub(crate) fn publish_names(&self, c: &Container) {
        self.names.set_container(c, &self.networks());
    }

    /// Takes down everything a start made of `c`'s networking: published
    /// ports, endpoints, names, DNS server, its own namespace. Changes `c`
    /// to match, for the caller to commit. Best effort: each failure is
    /// logged and the rest still goes; reconcile retries what is left.
    pub(crate) async fn tear_down_sandbox(&mut self, c: &mut Container) {
        if !c.published.is_empty() {
            let change = FirewallChange {
                remove_ports: self.fw_ports(c, &self.networks()),
                ..Default::default()
            };
            if let Err(e) = self.update_firewall(change).await {
                warn!(container = %c.name, error = %e, "published ports not unmapped");
            }
            c.published.clear();
        }
        for attachment in &mut c.attachments {
            if let Some(endpoint) = attachment.endpoint.take() {
                self.leave(&c.name, c.netns.as_deref(), &attachment.network, &endpoint)
                    .await;
            }
        }
        // The gwbridge attachment is fitted at each start: a stopped
        // container holds none, so the gwbridge may go while it is stopped.
        let networks = self.networks();
        c.attachments
            .retain(|a| !networks.iter().any(|n| n.id == a.network && is_gwbridge(n)));
        self.names.remove_container(&c.id);
        if let Some(path) = c.netns.take() {
            self.host.dns().stop(&c.id).await;
            if let Err(e) = self.host.net().remove_netns(&path).await {
                warn!(container = %c.name, path = %path.display(), error = %e, "network namespace not removed");
            }
        }
    }
}

/// The user-defined networks of `c` with embedded DNS (not the gwbridge).
fn user_networks<'a>(
    c: &'a Container,
    networks: &'a [Network],
) -> impl Iterator<Item = &'a Network> + 'a {
    c.attachments.iter().filter_map(move |a| {
        networks
            .iter()
            .find(|n| n.id == a.network && !n.is_predefined() && !is_gwbridge(n))
    })
}
