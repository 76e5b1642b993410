//! `Netlink`: the real [`NetOps`] on an rtnetlink socket.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_core::container::Proto;
use berth_core::ports::{
    BridgeSpec, EndpointCheck, EndpointFault, FlowMatch, KernelLink, NetOps, OwnedLink, ParentLink,
    PortError, RemoteEndpoint, SubInterface, VethPair, VxlanSpec, LINK_ALIAS_PREFIX,
};
use berth_types::{IfName, IpNet, MacAddr};
use futures::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use crate::conntrack::Conntrack;
use crate::error::{errno_of, NetlinkError};
use crate::netns_pool::NetnsPool;
use crate::plan::{self, LinkFacts};
use crate::probe;
use crate::sysctl;

pub(crate) type Result<T, E = NetlinkError> = std::result::Result<T, E>;

/// The netlink adapter.
///
/// A `Netlink` acts on the network namespace it was opened in: the socket
/// keeps that namespace whichever thread later uses it. Clones share the
/// socket.
#[derive(Clone, Debug)]
pub struct Netlink {
    pub(crate) handle: Handle,
    /// Opened with the rtnetlink socket, so it acts in the same namespace.
    conntrack: Arc<Mutex<Conntrack>>,
    /// The kernel's answers to [`NetOps::kernel_has`], asked once each.
    link_kinds: Arc<Mutex<HashMap<KernelLink, bool>>>,
    /// Namespaces made ahead for [`Netlink::create_netns`].
    pub(crate) netns_pool: Arc<NetnsPool>,
}

impl Netlink {
    /// Opens an rtnetlink socket in the calling thread's network namespace and
    /// spawns its connection task on the current tokio runtime.
    pub async fn open() -> Result<Netlink> {
        Self::open_here()
    }

    /// The synchronous body of [`Netlink::open`]; needs a tokio runtime
    /// entered on this thread (to register the socket and spawn the task).
    pub(crate) fn open_here() -> Result<Netlink> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetlinkError::NoRuntime)?;
        let (connection, handle, _messages) =
            rtnetlink::new_connection().map_err(|source| NetlinkError::Open { source })?;
        let conntrack = Conntrack::open()?;
        runtime.spawn(connection);
        Ok(Netlink {
            handle,
            conntrack: Arc::new(Mutex::new(conntrack)),
            link_kinds: Arc::default(),
            netns_pool: Arc::default(),
        })
    }

    /// The link named `name`, or `None` if there is none.
    pub(crate) async fn link_by_name(&self, name: &str) -> Result<Option<LinkMessage>> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(NetlinkError::request("looking up link", name, e, &[])),
        }
    }

    /// The index of the link named `name`, or `None` if there is none.
    pub async fn link_index(&self, name: &IfName) -> Result<Option<u32>> {
        Ok(self
            .link_by_name(name.as_str())
            .await?
            .map(|l| l.header.index))
    }

    /// All links of the namespace.
    pub(crate) async fn dump_links(&self) -> Result<Vec<LinkMessage>> {
        self.handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::request("listing", "links", e, &[]))
    }

    /// [`NetOps::delete_link`] with the adapter's own error type.
    pub async fn delete_link(&self, name: &IfName) -> Result<()> {
        // RTM_DELLINK by IFLA_IFNAME: one request, no index lookup race.
        let msg = LinkUnspec::new_with_name(name.as_str()).build();
        match self.handle.link().del_with_message(msg).execute().await {
            Ok(()) => {
                tracing::info!(link = %name, "link deleted");
                Ok(())
            }
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(NetlinkError::request(
                "deleting link",
                name.as_str(),
                e,
                &[],
            )),
        }
    }

    /// [`NetOps::set_link_down`] with the adapter's own error type.
    pub async fn set_link_down(&self, name: &IfName) -> Result<()> {
        let msg = LinkUnspec::new_with_name(name.as_str()).down().build();
        match self.handle.link().change(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(NetlinkError::request("setting down", name.as_str(), e, &[])),
        }
    }

    /// [`NetOps::owned_links`] with the adapter's own error type.
    pub async fn owned_links(&self) -> Result<Vec<OwnedLink>> {
        let mut owned = Vec::new();
        for link in self.dump_links().await? {
            let Some(alias) = link_alias_of(&link) else {
                continue;
            };
            if !alias.starts_with(LINK_ALIAS_PREFIX) {
                continue;
            }
            let raw = link_name(&link).unwrap_or_default();
            // Cannot happen (IfName mirrors the kernel's rules); skipping keeps
            // one odd link from blocking start-up reconcile.
            let Ok(name) = IfName::parse(raw) else {
                tracing::warn!(
                    link = raw,
                    alias,
                    "owned link with an unusable name skipped"
                );
                continue;
            };
            owned.push(OwnedLink {
                name,
                alias: alias.to_owned(),
            });
        }
        Ok(owned)
    }

    /// [`NetOps::host_routes`] with the adapter's own error type.
    pub async fn host_routes(&self) -> Result<Vec<IpNet>> {
        let v4 = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let v6 = RouteMessageBuilder::<Ipv6Addr>::new().build();
        let mut routes = Vec::new();
        for (family, query) in [("IPv4 routes", v4), ("IPv6 routes", v6)] {
            let msgs: Vec<_> = match self.handle.route().get(query).execute().try_collect().await {
                Ok(msgs) => msgs,
                // A kernel without IPv6 has no IPv6 routes.
                Err(e) if family == "IPv6 routes" && errno_of(&e) == Some(libc::EAFNOSUPPORT) => {
                    Vec::new()
                }
                Err(e) => return Err(NetlinkError::request("listing", family, e, &[])),
            };
            for net in msgs.iter().filter_map(plan::route_destination) {
                if !routes.contains(&net) {
                    routes.push(net);
                }
            }
        }
        Ok(routes)
    }
}

impl NetOps for Netlink {
    async fn ensure_bridge(&self, spec: &BridgeSpec) -> Result<(), PortError> {
        Netlink::ensure_bridge(self, spec).await.map_err(Into::into)
    }

    async fn delete_link(&self, name: &IfName) -> Result<(), PortError> {
        Netlink::delete_link(self, name).await.map_err(Into::into)
    }

    async fn set_link_down(&self, name: &IfName) -> Result<(), PortError> {
        Netlink::set_link_down(self, name).await.map_err(Into::into)
    }

    async fn owned_links(&self) -> Result<Vec<OwnedLink>, PortError> {
        Netlink::owned_links(self).await.map_err(Into::into)
    }

    async fn host_routes(&self) -> Result<Vec<IpNet>, PortError> {
        Netlink::host_routes(self).await.map_err(Into::into)
    }

    /// Acts in the calling thread's network namespace (the host's, in
    /// berthd); see [`crate::sysctl`] for the key syntax.
    async fn set_sysctl(&self, key: &str, value: &str) -> Result<(), PortError> {
        sysctl::write_sysctl(key, value).map_err(Into::into)
    }

    /// See [`Netlink::create_netns`]: the mount is made in the calling
    /// process's mount namespace.
    async fn create_netns(&self, path: &Path) -> Result<(), PortError> {
        Netlink::create_netns(self, path).await.map_err(Into::into)
    }

    async fn remove_netns(&self, path: &Path) -> Result<(), PortError> {
        Netlink::remove_netns(self, path).await.map_err(Into::into)
    }

    async fn list_netns(&self, dir: &Path) -> Result<Vec<PathBuf>, PortError> {
        Netlink::list_netns(self, dir).await.map_err(Into::into)
    }

    async fn add_veth_pair(&self, spec: &VethPair) -> Result<(), PortError> {
        Netlink::add_veth_pair(self, spec).await.map_err(Into::into)
    }

    async fn veth_pair_fault(
        &self,
        spec: &VethPair,
        check: EndpointCheck,
    ) -> Result<Option<EndpointFault>, PortError> {
        Netlink::veth_pair_fault(self, spec, check)
            .await
            .map_err(Into::into)
    }

    /// Probed in a namespace of its own (see [`crate::probe`]); a probe
    /// that cannot run counts as "no", with the reason logged.
    async fn kernel_has(&self, kind: KernelLink) -> bool {
        let known = self
            .link_kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&kind)
            .copied();
        if let Some(has) = known {
            return has;
        }
        let has = match tokio::task::spawn_blocking(move || probe::kernel_has(kind)).await {
            Ok(Ok(has)) => has,
            Ok(Err(e)) => {
                tracing::warn!(?kind, error = %e, "kernel probe failed");
                false
            }
            Err(e) => {
                tracing::warn!(?kind, error = %e, "kernel probe task failed");
                false
            }
        };
        self.link_kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind, has);
        has
    }

    async fn link_kind(&self, name: &IfName) -> Result<Option<String>, PortError> {
        Netlink::link_kind(self, name).await.map_err(Into::into)
    }

    async fn ensure_vxlan(&self, spec: &VxlanSpec) -> Result<(), PortError> {
        Netlink::ensure_vxlan(self, spec).await.map_err(Into::into)
    }

    async fn add_remote_endpoint(&self, remote: &RemoteEndpoint) -> Result<(), PortError> {
        Netlink::add_remote_endpoint(self, remote)
            .await
            .map_err(Into::into)
    }

    async fn remote_endpoints_on(&self, vxlan: &IfName) -> Result<Vec<RemoteEndpoint>, PortError> {
        Netlink::remote_endpoints_on(self, vxlan)
            .await
            .map_err(Into::into)
    }

    async fn remove_remote_endpoint(&self, remote: &RemoteEndpoint) -> Result<(), PortError> {
        Netlink::remove_remote_endpoint(self, remote)
            .await
            .map_err(Into::into)
    }

    async fn add_parent_link(&self, link: &ParentLink) -> Result<(), PortError> {
        Netlink::add_parent_link(self, link)
            .await
            .map_err(Into::into)
    }

    async fn add_sub_interface(&self, sub: &SubInterface) -> Result<(), PortError> {
        Netlink::add_sub_interface(self, sub)
            .await
            .map_err(Into::into)
    }

    async fn delete_sandbox_link(&self, netns: &Path, ifname: &IfName) -> Result<(), PortError> {
        Netlink::delete_sandbox_link(self, netns, ifname)
            .await
            .map_err(Into::into)
    }

    async fn sub_interface_fault(
        &self,
        sub: &SubInterface,
    ) -> Result<Option<EndpointFault>, PortError> {
        Netlink::sub_interface_fault(self, sub)
            .await
            .map_err(Into::into)
    }

    fn port_in_use(&self, proto: Proto, ip: IpAddr, port: u16) -> bool {
        port_in_use(proto, ip, port)
    }

    /// Acts in the namespace the adapter was opened in (its socket's).
    async fn forget_flows(&self, flows: &[FlowMatch]) -> Result<usize, PortError> {
        if flows.is_empty() {
            return Ok(0);
        }
        let flows = flows.to_vec();
        let conntrack = Arc::clone(&self.conntrack);
        tokio::task::spawn_blocking(move || {
            // A panic mid-request leaves at most stale replies, which the
            // next request skips by sequence number.
            let mut conntrack = conntrack.lock().unwrap_or_else(|p| p.into_inner());
            conntrack.forget(&flows)
        })
        .await
        .map_err(|e| NetlinkError::ConntrackMessage(format!("the conntrack task failed: {e}")))?
        .map_err(Into::into)
    }
}

/// Whether binding `ip:port` fails because something holds it. berthd runs
/// in the host's namespace, so this asks the host. SCTP is not checked
/// (std has no SCTP sockets; the kernel refuses nothing for a DNAT anyway).
fn port_in_use(proto: Proto, ip: IpAddr, port: u16) -> bool {
    let addr = std::net::SocketAddr::new(ip, port);
    let result = match proto {
        Proto::Tcp => std::net::TcpListener::bind(addr).map(drop),
        Proto::Udp => std::net::UdpSocket::bind(addr).map(drop),
        Proto::Sctp => Ok(()),
    };
    matches!(result, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
}

pub(crate) fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

pub(crate) fn link_alias_of(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfAlias(n) => Some(n.as_str()),
        _ => None,
    })
}

pub(crate) fn link_facts(link: &LinkMessage) -> LinkFacts {
    let mut facts = LinkFacts {
        index: link.header.index,
        kind: None,
        mtu: None,
        alias: None,
        up: link.header.flags.contains(LinkFlags::Up),
        mac: None,
    };
    for attr in &link.attributes {
        match attr {
            LinkAttribute::Mtu(m) => facts.mtu = Some(*m),
            LinkAttribute::IfAlias(a) => facts.alias = Some(a.clone()),
            LinkAttribute::Address(a) => {
                facts.mac = <[u8; 6]>::try_from(a.as_slice()).ok().map(MacAddr)
            }
            LinkAttribute::LinkInfo(infos) => {
                facts.kind = infos.iter().find_map(|i| match i {
                    LinkInfo::Kind(k) => Some(k.to_string()),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    facts
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn a_listening_port_is_in_use_and_a_free_one_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lo: IpAddr = Ipv4Addr::LOCALHOST.into();
        assert!(port_in_use(Proto::Tcp, lo, port));
        assert!(
            port_in_use(Proto::Tcp, Ipv4Addr::UNSPECIFIED.into(), port),
            "any-address overlaps"
        );
        drop(listener);
        assert!(!port_in_use(Proto::Tcp, lo, port));
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(port_in_use(
            Proto::Udp,
            lo,
            udp.local_addr().unwrap().port()
        ));
    }
}
