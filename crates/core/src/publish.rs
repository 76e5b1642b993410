//! Published ports: turning `-p`/`-P` into concrete host ports at start
//! (Docker's conflict rules and texts), and into the firewall's mappings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use berth_types::IfName;
use serde::{Deserialize, Serialize};

use crate::container::{Container, PortBinding, Proto};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::gwbridge::port_attachment;
use crate::ports::{FirewallChange, FlowMatch, FwPort, Host, NetOps};

/// Where ephemeral host ports come from (Linux's default local port range,
/// which Docker uses too).
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// A port published on the host, as `port`, `ps` and `inspect` show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Published {
    pub proto: Proto,
    /// `0.0.0.0` or `::` for every local address.
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

impl Published {
    /// Whether two publications would claim the same host socket.
    pub(crate) fn clashes(&self, proto: Proto, ip: IpAddr, port: u16) -> bool {
        self.proto == proto
            && self.host_port == port
            && self.host_ip.is_ipv4() == ip.is_ipv4()
            && (self.host_ip.is_unspecified() || ip.is_unspecified() || self.host_ip == ip)
    }
}

/// What a start must not collide with.
pub struct Taken<'a> {
    /// Whether another running (or starting) container publishes a port
    /// that claims this host socket.
    pub published: &'a (dyn Fn(Proto, IpAddr, u16) -> bool + Sync),
    /// Whether a host process holds the socket (checked by binding).
    pub host_bound: &'a (dyn Fn(Proto, IpAddr, u16) -> bool + Sync),
}

fn port_taken(taken: &Taken<'_>, mine: &[Published], proto: Proto, ip: IpAddr, port: u16) -> bool {
    mine.iter().any(|p| p.clashes(proto, ip, port))
        || (taken.published)(proto, ip, port)
        || (taken.host_bound)(proto, ip, port)
}

/// The container's addresses its ports map to (on its first network).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub v4: Option<IpAddr>,
    pub v6: Option<IpAddr>,
}

impl Target {
    fn of(&self, host_ip: IpAddr) -> Option<IpAddr> {
        if host_ip.is_ipv4() {
            self.v4
        } else {
            self.v6
        }
    }
}

/// Concrete host ports for `bindings` (and, with `publish_all`, every
/// `exposed` port not bound explicitly), or Docker's error for the first
/// one that cannot be had.
pub fn allocate(
    bindings: &[PortBinding],
    exposed: &[(u16, Proto)],
    publish_all: bool,
    target: Target,
    taken: &Taken<'_>,
) -> Result<Vec<Published>> {
    let want_ipv6 = target.v6.is_some();
    let mut wanted: Vec<PortBinding> = bindings.to_vec();
    if publish_all {
        for &(port, proto) in exposed {
            if !wanted
                .iter()
                .any(|b| b.container_port == port && b.proto == proto)
            {
                wanted.push(PortBinding {
                    proto,
                    container_port: port,
                    host_ip: None,
                    host_ports: None,
                });
            }
        }
    }
    let mut out: Vec<Published> = Vec::new();
    for b in &wanted {
        // No address means all of them: IPv4, and IPv6 where the container has it.
        let ips: Vec<IpAddr> = match b.host_ip {
            Some(ip) => vec![ip],
            None if want_ipv6 => vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()],
            None => vec![Ipv4Addr::UNSPECIFIED.into()],
        };
        let (first, last, fixed) = match b.host_ports {
            Some((a, z)) => (a, z, a == z),
            None => (EPHEMERAL_PORTS.0, EPHEMERAL_PORTS.1, false),
        };
        let free = |port: u16| {
            ips.iter()
                .all(|ip| !port_taken(taken, &out, b.proto, *ip, port))
        };
        let port = if fixed {
            // Docker 28's words: its port allocator's for a port it
            // published itself, the kernel's for one a host process holds.
            for &ip in &ips {
                if (taken.published)(b.proto, ip, first)
                    || out.iter().any(|p| p.clashes(b.proto, ip, first))
                {
                    return Err(Error::Conflict(format!(
                        "Bind for {} failed: port is already allocated",
                        socket_text(ip, first)
                    )));
                }
                if (taken.host_bound)(b.proto, ip, first) {
                    let container = target
                        .of(ip)
                        .map(|c| format!("{}:", bracketed(c)))
                        .unwrap_or_default();
                    return Err(Error::Conflict(format!(
                        "failed to bind host port for {}:{container}{}/{}: address already in use",
                        socket_text(ip, first),
                        b.container_port,
                        b.proto.as_str()
                    )));
                }
            }
            first
        } else {
            (first..=last).find(|p| free(*p)).ok_or_else(|| {
                Error::Conflict(format!(
                    "Bind for {} failed: port is already allocated",
                    socket_text(ips[0], first)
                ))
            })?
        };
        for ip in ips {
            out.push(Published {
                proto: b.proto,
                host_ip: ip,
                host_port: port,
                container_port: b.container_port,
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn socket_text(ip: IpAddr, port: u16) -> String {
    format!("{}:{port}", bracketed(ip))
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Firewall mappings for one container's publications: runs of consecutive
/// ports with the same offset become one range.
pub fn firewall_ports(
    published: &[Published],
    container_v4: Option<IpAddr>,
    container_v6: Option<IpAddr>,
    bridge: &IfName,
) -> Vec<FwPort> {
    let mut sorted: Vec<&Published> = published.iter().collect();
    sorted.sort_by_key(|p| (p.proto, p.host_ip, p.host_port));
    let mut out: Vec<FwPort> = Vec::new();
    for p in sorted {
        let target = if p.host_ip.is_ipv4() {
            container_v4
        } else {
            container_v6
        };
        let Some(container_ip) = target else {
            continue;
        };
        let host_ip = (!p.host_ip.is_unspecified()).then_some(p.host_ip);
        if let Some(last) = out.last_mut() {
            let extends = last.proto == p.proto
                && last.host_ip == host_ip
                && last.container_ip == container_ip
                && u32::from(last.host_ports.1) + 1 == u32::from(p.host_port)
                && u32::from(last.container_ports.1) + 1 == u32::from(p.container_port);
            if extends {
                last.host_ports.1 = p.host_port;
                last.container_ports.1 = p.container_port;
                continue;
            }
        }
        out.push(FwPort {
            proto: p.proto,
            host_ip,
            host_ports: (p.host_port, p.host_port),
            container_ip,
            container_ports: (p.container_port, p.container_port),
            bridge: bridge.clone(),
        });
    }
    out
}

impl<H: Host> Engine<H> {
    /// Picks the host ports of `c`'s publications (Docker's conflict rules
    /// against other containers and host processes) into `c.published`.
    /// Its endpoints must be planned: the ports map to its first one.
    pub(crate) fn plan_publications(&self, c: &mut Container) -> Result<()> {
        if c.ports.is_empty() && !c.publish_all {
            return Ok(());
        }
        let networks = self.networks();
        // Docker ignores `-p` on a container whose first network's driver
        // has no published ports (macvlan); the create warned about it.
        // An overlay container's ports go to its gwbridge endpoint.
        let attachment = port_attachment(c, &networks);
        let first = attachment.and_then(|a| networks.iter().find(|n| n.id == a.network));
        if first.is_some_and(|n| !self.driver(n).publishes_ports()) {
            return Ok(());
        }
        let table = &self.model.containers;
        let published = |proto, ip, port| table.port_held(&c.id, proto, ip, port);
        let net = self.host.net();
        let host_bound = |proto, ip, port| net.port_in_use(proto, ip, port);
        // The first network's driver gives the default host address.
        let binding_ip = first.and_then(|n| self.driver(n).default_host_ip(n));
        let bindings: Vec<PortBinding> = c
            .ports
            .iter()
            .map(|b| PortBinding {
                host_ip: b.host_ip.or(binding_ip),
                ..b.clone()
            })
            .collect();
        let endpoint = attachment.and_then(|a| a.endpoint.as_ref());
        let target = Target {
            v4: endpoint.and_then(|e| e.ipv4).map(|n| n.addr()),
            v6: endpoint.and_then(|e| e.ipv6).map(|n| n.addr()),
        };
        let taken = Taken {
            published: &published,
            host_bound: &host_bound,
        };
        c.published = allocate(&bindings, &c.exposed, c.publish_all, target, &taken).map_err(
            |e| match (e, endpoint) {
                // Docker's prefix: the driver failed for this endpoint.
                (Error::Conflict(why), Some(ep)) => Error::Conflict(format!(
                    "failed to set up container networking: driver failed programming external connectivity on endpoint {} ({}): {why}",
                    c.name, ep.id
                )),
                (e, _) => e,
            },
        )?;
        Ok(())
    }

    /// Maps `c`'s publications as one firewall transaction (a 1,000-port
    /// range included); returns the flows to forget once they are mapped.
    pub(crate) async fn map_ports(&self, c: &Container) -> Result<Vec<FlowMatch>> {
        if c.published.is_empty() {
            return Ok(Vec::new());
        }
        let add_ports = self.fw_ports(c, &self.networks());
        // A client that kept sending to a UDP host port holds a flow whose
        // verdict (DNAT to the previous publisher, or none) outlives the
        // mapping: it must be forgotten so the next datagram meets the new
        // one.
        let udp: Vec<FlowMatch> = add_ports
            .iter()
            .filter(|p| p.proto == Proto::Udp)
            .map(|p| FlowMatch::DestPort {
                proto: Proto::Udp,
                ports: p.host_ports,
            })
            .collect();
        let change = FirewallChange {
            add_ports,
            ..Default::default()
        };
        self.update_firewall(change).await?;
        Ok(udp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(cport: u16, host: Option<(u16, u16)>, ip: Option<&str>) -> PortBinding {
        PortBinding {
            proto: Proto::Tcp,
            container_port: cport,
            host_ip: ip.map(|s| s.parse().unwrap()),
            host_ports: host,
        }
    }

    fn none_bound(_: Proto, _: IpAddr, _: u16) -> bool {
        false
    }

    /// What `published` (other containers' publications) and `bound`
    /// (host sockets) hold. The check outlives the call, so it is leaked:
    /// tests only.
    fn taken<'a>(
        published: &'a [Published],
        bound: &'a (dyn Fn(Proto, IpAddr, u16) -> bool + Sync),
    ) -> Taken<'a> {
        let held: Box<dyn Fn(Proto, IpAddr, u16) -> bool + Sync + 'a> =
            Box::new(move |proto, ip, port| published.iter().any(|p| p.clashes(proto, ip, port)));
        Taken {
            published: Box::leak(held),
            host_bound: bound,
        }
    }

    #[test]
    fn fixed_port_and_conflict_text() {
        let first = allocate(
            &[binding(80, Some((8080, 8080)), None)],
            &[],
            false,
            Target::default(),
            &taken(&[], &none_bound),
        )
        .unwrap();
        assert_eq!(first[0].host_port, 8080);
        assert_eq!(first[0].host_ip, IpAddr::from(Ipv4Addr::UNSPECIFIED));
        let err = allocate(
            &[binding(81, Some((8080, 8080)), None)],
            &[],
            false,
            Target::default(),
            &taken(&first, &none_bound),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        // A specific address clashes with "all addresses" too.
        let err = allocate(
            &[binding(81, Some((8080, 8080)), Some("127.0.0.1"))],
            &[],
            false,
            Target::default(),
            &taken(&first, &none_bound),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        // Another protocol does not.
        let mut udp = binding(81, Some((8080, 8080)), None);
        udp.proto = Proto::Udp;
        assert!(allocate(
            &[udp],
            &[],
            false,
            Target::default(),
            &taken(&first, &none_bound)
        )
        .is_ok());
    }

    #[test]
    fn host_process_holding_the_port_is_refused() {
        let bound = |_: Proto, _: IpAddr, port: u16| port == 9000;
        let target = Target {
            v4: Some("172.17.0.2".parse().unwrap()),
            v6: None,
        };
        let err = allocate(
            &[binding(80, Some((9000, 9000)), None)],
            &[],
            false,
            target,
            &taken(&[], &bound),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to bind host port for 0.0.0.0:9000:172.17.0.2:80/tcp: address already in use"
        );
        let target = Target {
            v4: Some("172.17.0.2".parse().unwrap()),
            v6: Some("fd00::2".parse().unwrap()),
        };
        let v6_bound = |_: Proto, ip: IpAddr, _: u16| ip.is_ipv6();
        let err = allocate(
            &[binding(80, Some((9000, 9000)), None)],
            &[],
            false,
            target,
            &taken(&[], &v6_bound),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to bind host port for [::]:9000:[fd00::2]:80/tcp: address already in use"
        );
    }

    #[test]
    fn ephemeral_and_range_pick_free_ports() {
        let bound = |_: Proto, _: IpAddr, port: u16| port == EPHEMERAL_PORTS.0;
        let got = allocate(
            &[binding(80, None, None)],
            &[],
            false,
            Target::default(),
            &taken(&[], &bound),
        )
        .unwrap();
        assert_eq!(got[0].host_port, EPHEMERAL_PORTS.0 + 1);
        let got = allocate(
            &[binding(80, Some((8000, 8010)), None)],
            &[],
            false,
            Target::default(),
            &taken(&[], &|_, _, p| p < 8005),
        )
        .unwrap();
        assert_eq!(got[0].host_port, 8005);
    }

    #[test]
    fn publish_all_covers_exposed_ports() {
        let got = allocate(
            &[],
            &[(80, Proto::Tcp), (53, Proto::Udp)],
            true,
            Target::default(),
            &taken(&[], &none_bound),
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|p| p.host_port >= EPHEMERAL_PORTS.0));
    }

    #[test]
    fn consecutive_ports_merge_into_ranges() {
        let bindings: Vec<PortBinding> = (0..1000)
            .map(|i| binding(8000 + i, Some((8000 + i, 8000 + i)), None))
            .collect();
        let got = allocate(
            &bindings,
            &[],
            false,
            Target::default(),
            &taken(&[], &none_bound),
        )
        .unwrap();
        let bridge = IfName::parse("berth0").unwrap();
        let fw = firewall_ports(&got, Some("172.17.0.2".parse().unwrap()), None, &bridge);
        assert_eq!(fw.len(), 1);
        assert_eq!(
            (fw[0].host_ports, fw[0].container_ports),
            ((8000, 8999), (8000, 8999))
        );
    }
}
