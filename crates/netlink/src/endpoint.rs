//! `add_endpoint`: a container's attachment to a bridge, made all or nothing.
//!
//! Host side, through the adapter's own socket: one RTM_NEWLINK makes the
//! veth pair with the host end enslaved and sized (still down) and the peer
//! born inside the sandbox under its final name with its MAC; IPv6 is
//! turned off on the host end; a second request sets it up with its alias
//! (the kernel ignores `IFLA_IFALIAS` on creation, for veth as for bridges)
//! and hairpin mode. Sandbox side, through a socket opened in the
//! sandbox (made with a pooled namespace, else for this call only; no
//! thread ever changes namespace, see [`Netlink::open_in_netns`]):
//! addresses, link up, default routes.
//!
//! Any failure after the pair exists deletes the host end, which takes the
//! peer with it, so the sandbox is left as it was.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::path::Path;

use berth_core::ports::{EndpointCheck, EndpointFault, VethPair};
use berth_types::{IfName, IpNet};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoBridgePort, InfoPortData, InfoPortKind,
    LinkAttribute,
};
use rtnetlink::{LinkUnspec, RouteMessageBuilder};

use crate::adapter::{link_facts, Netlink, Result};
use crate::error::NetlinkError;
use crate::netns::VethSpec;
use crate::nsfs::open_netns;
use crate::sysctl::{interface_key, write_sysctl};

impl Netlink {
    /// [`berth_core::ports::NetOps::add_veth_pair`] with the adapter's own
    /// error type. On error nothing of the endpoint is left (see
    /// [`NetlinkError::Endpoint`] for the rare exception).
    pub async fn add_veth_pair(&self, spec: &VethPair) -> Result<()> {
        let describe = || {
            format!(
                "{} ({} on {}, {} in {})",
                spec.alias,
                spec.host_ifname,
                spec.bridge,
                spec.ifname,
                spec.netns.display()
            )
        };
        let fail = |step: &'static str, source: NetlinkError, cleanup: Option<String>| {
            NetlinkError::Endpoint {
                endpoint: describe(),
                step,
                source: Box::new(source),
                cleanup,
            }
        };

        // Nothing exists yet: failures here need no cleanup.
        let netns = open_netns(&spec.netns)
            .map_err(|e| fail("opening the sandbox's network namespace", e, None))?;
        let veth = VethSpec {
            host_name: spec.host_ifname.clone(),
            bridge: Some(spec.bridge.clone()),
            mtu: spec.mtu,
            peer_name: spec.ifname.clone(),
            peer_netns: netns.as_fd(),
            peer_mac: Some(spec.mac),
            // Up only once IPv6 is off on it (see configure_endpoint).
            host_up: false,
        };
        self.add_veth(&veth)
            .await
            .map_err(|e| fail("creating the veth pair", e, None))?;

        match self.configure_endpoint(spec, &veth).await {
            Ok(()) => {
                tracing::info!(endpoint = %describe(), "endpoint added");
                Ok(())
            }
            Err((step, source)) => {
                let cleanup = match self.delete_link(&spec.host_ifname).await {
                    Ok(()) => None,
                    Err(e) => {
                        tracing::warn!(endpoint = %describe(), error = %e, "removing a half-made endpoint failed");
                        Some(e.to_string())
                    }
                };
                Err(fail(step, source, cleanup))
            }
        }
    }

    /// [`berth_core::ports::NetOps::veth_pair_fault`] with the adapter's own
    /// error type: the host end is an up veth with its alias on the bridge;
    /// with [`EndpointCheck::BothEnds`], the sandbox end is up with every
    /// address of `spec`.
    pub async fn veth_pair_fault(
        &self,
        spec: &VethPair,
        check: EndpointCheck,
    ) -> Result<Option<EndpointFault>> {
        let Some(host) = self.link_by_name(spec.host_ifname.as_str()).await? else {
            return Ok(Some(EndpointFault::HostEndMissing));
        };
        let facts = link_facts(&host);
        if facts.kind.as_deref() != Some("veth")
            || !facts.up
            || facts.alias.as_deref() != Some(spec.alias.as_str())
        {
            return Ok(Some(EndpointFault::HalfMade));
        }
        let master = host.attributes.iter().find_map(|a| match a {
            LinkAttribute::Controller(index) => Some(*index),
            _ => None,
        });
        let bridge = self.link_index(&spec.bridge).await?;
        if master.is_none() || master != bridge {
            return Ok(Some(EndpointFault::NotOnBridge));
        }
        if check == EndpointCheck::HostEnd {
            return Ok(None);
        }
        sandbox_end_fault(&spec.netns, &spec.ifname, "veth", &spec.addresses).await
    }

    /// Everything after the pair exists; the error names the failed step.
    async fn configure_endpoint(
        &self,
        spec: &VethPair,
        veth: &VethSpec<'_>,
    ) -> std::result::Result<(), (&'static str, NetlinkError)> {
        let host = spec.host_ifname.as_str();
        // A bridge port needs no addresses of its own. With IPv6 on, each
        // host end would add link-local and multicast routes to the host's
        // IPv6 table, and every later link change or removal walks that
        // whole table (fib6_clean_all): with 1,000 containers, the
        // biggest share of the kernel's time in a start or rm. So IPv6 is
        // turned off on it before it comes up.
        match write_sysctl(&interface_key("net/ipv6/conf", host, "disable_ipv6"), "1") {
            Ok(()) => {}
            // A kernel without IPv6 has no such file and no such routes.
            Err(e) if e.errno() == Some(libc::ENOENT) => {}
            Err(e) => return Err(("turning IPv6 off on the host end", e)),
        }
        // Hairpin mode lets a frame go back out of the port it came in by:
        // a container reaching its own published port through a host
        // address gets its DNATed packets back on its own veth.
        let msg = LinkUnspec::new_with_name(host)
            .up()
            .alias(spec.alias.as_str())
            .set_port_kind(InfoPortKind::Bridge)
            .set_port_data(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )]))
            .build();
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| {
                (
                    "setting the host end up with its alias and hairpin mode",
                    NetlinkError::request(
                        "setting alias and hairpin mode",
                        format!("{:?} on {host}", spec.alias),
                        e,
                        &[],
                    ),
                )
            })?;

        let inside = self
            .netlink_inside(&spec.netns, veth.peer_netns)
            .map_err(|e| ("opening netlink in the sandbox", e))?;
        inside
            .configure_sandbox_end(&spec.ifname, &spec.addresses, &spec.default_gateways)
            .await
    }

    /// The sandbox side of an endpoint, through a socket opened in the
    /// sandbox: its interface's addresses, the interface up, the default
    /// routes. (`lo` is up since the namespace was made: see
    /// [`Netlink::create_netns`].) The error names the failed step.
    pub(crate) async fn configure_sandbox_end(
        &self,
        ifname: &IfName,
        addresses: &[IpNet],
        default_gateways: &[IpAddr],
    ) -> std::result::Result<(), (&'static str, NetlinkError)> {
        let index = self
            .require_index(ifname, "configuring the sandbox end")
            .await
            .map_err(|e| ("looking up the sandbox end", e))?;
        let name = ifname.as_str();
        if !addresses.iter().any(|net| net.addr().is_ipv6()) {
            self.no_link_local_address(index, name)
                .await
                .map_err(|e| ("turning off the sandbox end's IPv6 link-local address", e))?;
        }
        for net in addresses {
            self.add_address(name, index, *net)
                .await
                .map_err(|e| ("adding the sandbox end's addresses", e))?;
        }
        let up = LinkUnspec::new_with_index(index).up().build();
        self.handle.link().change(up).execute().await.map_err(|e| {
            (
                "setting the sandbox end up",
                NetlinkError::request("setting up", name, e, &[]),
            )
        })?;
        for gateway in default_gateways {
            self.add_default_route(name, index, *gateway)
                .await
                .map_err(|e| ("adding the sandbox's default routes", e))?;
        }
        Ok(())
    }

    /// `ip link set NAME addrgenmode none`, before the link is up: an
    /// interface with no IPv6 address then gets no link-local one either,
    /// so it sends no duplicate detection, no multicast listener reports
    /// and no router solicitations. From 1,000 containers, that chatter
    /// flooded over the bridge's ports kept the kernel's softirq threads
    /// busy beside every start, and each detection took rtnl a second
    /// after its start. (Docker turns IPv6 off through `/proc/sys`; a
    /// `/proc/sys/net` lookup in each sandbox lengthens one dcache hash
    /// chain that every later `/proc/sys/net` lookup on the host walks:
    /// +3 ms per start at 1,000 running.)
    async fn no_link_local_address(&self, index: u32, name: &str) -> Result<()> {
        let mode = AfSpecInet6::AddrGenMode(In6AddrGenMode::None);
        let msg = LinkUnspec::new_with_index(index)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![mode],
            )]))
            .build();
        match self.handle.link().change(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = NetlinkError::request("setting addrgenmode none", name, e, &[]);
                // A kernel without IPv6 makes no link-local address anyway.
                if err.errno() == Some(libc::EAFNOSUPPORT) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// `ip route add default via GATEWAY dev NAME`.
    async fn add_default_route(&self, name: &str, index: u32, gateway: IpAddr) -> Result<()> {
        let msg = match gateway {
            IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build(),
            IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new()
                .gateway(gw)
                .output_interface(index)
                .build(),
        };
        self.handle.route().add(msg).execute().await.map_err(|e| {
            NetlinkError::request(
                "adding default route",
                format!("via {gateway} dev {name}"),
                e,
                &[
                    (
                        libc::ENETUNREACH,
                        "the gateway is not inside a subnet of the endpoint's addresses",
                    ),
                    (libc::EEXIST, "the sandbox already has a default route"),
                ],
            )
        })?;
        tracing::debug!(link = name, %gateway, "default route added");
        Ok(())
    }
}

/// What is wrong with an endpoint's interface `ifname` in the sandbox at
/// `netns`, if anything: it must be there, of link kind `kind`, up, with
/// every one of `addresses`.
pub(crate) async fn sandbox_end_fault(
    netns: &Path,
    ifname: &IfName,
    kind: &str,
    addresses: &[IpNet],
) -> Result<Option<EndpointFault>> {
    let netns = open_netns(netns)?;
    let inside = Netlink::open_in_netns(netns.as_fd())?;
    let Some(link) = inside.link_by_name(ifname.as_str()).await? else {
        return Ok(Some(EndpointFault::SandboxEndIncomplete));
    };
    let facts = link_facts(&link);
    let present: Vec<IpNet> = inside
        .addresses_of(facts.index, ifname.as_str())
        .await?
        .into_iter()
        .map(|(a, _)| a.net)
        .collect();
    if facts.kind.as_deref() != Some(kind)
        || !facts.up
        || addresses.iter().any(|a| !present.contains(a))
    {
        return Ok(Some(EndpointFault::SandboxEndIncomplete));
    }
    Ok(None)
}
