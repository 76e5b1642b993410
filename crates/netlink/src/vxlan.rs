//! Overlay networks' data plane on this host: a network's VXLAN device
//! (its endpoints are macvlan sub-interfaces of it), and the static FDB and
//! neighbour entries that make remote endpoints reachable through it (no learning, no flooding: DESIGN.md,
//! "Cluster").

use std::net::{IpAddr, Ipv4Addr};

use berth_core::ports::{RemoteEndpoint, VxlanSpec};
use berth_types::{IfName, MacAddr};
use futures::TryStreamExt;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{LinkUnspec, LinkVxlan};

use crate::adapter::{link_alias_of, Netlink, Result};
use crate::error::NetlinkError;

impl Netlink {
    /// The MTU of the link `name`, or `None` if there is no such link.
    pub async fn link_mtu(&self, name: &str) -> Result<Option<u32>> {
        Ok(self.link_by_name(name).await?.and_then(|link| {
            link.attributes.iter().find_map(|a| match a {
                LinkAttribute::Mtu(mtu) => Some(*mtu),
                _ => None,
            })
        }))
    }

    pub async fn ensure_vxlan(&self, spec: &VxlanSpec) -> Result<()> {
        let name = spec.name.as_str();
        match self.link_by_name(name).await? {
            Some(found) if link_alias_of(&found) == Some(spec.alias.as_str()) => {}
            Some(_) => {
                return Err(NetlinkError::NotOurs {
                    name: name.to_owned(),
                    what: "VXLAN device",
                })
            }
            None => {
                let builder = LinkVxlan::new(name, spec.vni)
                    .port(spec.port)
                    .learning(false)
                    // ARP and neighbour solicitations are answered from
                    // the neighbour entries, never flooded.
                    .proxy(true);
                let builder = match spec.local {
                    IpAddr::V4(v4) => builder.local(v4),
                    IpAddr::V6(v6) => builder.local6(v6),
                };
                self.handle
                    .link()
                    .add(builder.mtu(spec.mtu).build())
                    .execute()
                    .await
                    .map_err(|e| NetlinkError::request("creating VXLAN device", name, e, &[]))?;
            }
        }
        // No controller: its endpoints are its macvlans, which a bridge
        // port cannot have (an earlier berth made it one).
        let msg = LinkUnspec::new_with_name(name)
            .nocontroller()
            .mtu(spec.mtu)
            .alias(spec.alias.as_str())
            .up()
            .build();
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::request("setting up VXLAN device", name, e, &[]))?;
        tracing::info!(link = name, vni = spec.vni, "VXLAN device ready");
        Ok(())
    }

    /// The FDB entry (MAC -> VTEP, on the port itself) and the neighbour
    /// entry (IP -> MAC) of `remote`.
    fn remote_entries(&self, index: u32, remote: &RemoteEndpoint) -> [NeighbourMessage; 2] {
        let mut fdb = self
            .handle
            .neighbours()
            .add_bridge(index, &remote.mac.0)
            .flags(NeighbourFlags::Own)
            .state(NeighbourState::Permanent)
            .destination(remote.vtep);
        let mut neigh = self
            .handle
            .neighbours()
            .add(index, remote.ip)
            .link_layer_address(&remote.mac.0)
            .state(NeighbourState::Permanent);
        [fdb.message_mut().clone(), neigh.message_mut().clone()]
    }

    pub async fn add_remote_endpoint(&self, remote: &RemoteEndpoint) -> Result<()> {
        let vxlan = remote.vxlan.as_str();
        let index = self
            .require_index(&remote.vxlan, "adding a remote endpoint")
            .await?;
        let [fdb, neigh] = self.remote_entries(index, remote);
        for (what, message) in [("adding FDB entry", fdb), ("adding neighbour", neigh)] {
            let mut request = self.handle.neighbours().add(index, remote.ip).replace();
            *request.message_mut() = message;
            request
                .execute()
                .await
                .map_err(|e| NetlinkError::request(what, vxlan, e, &[]))?;
        }
        Ok(())
    }

    /// The permanent neighbour entries of the port, each with the VTEP of
    /// its MAC's FDB entry, and FDB entries no neighbour entry names (with
    /// an unspecified IP).
    pub async fn remote_endpoints_on(&self, vxlan: &IfName) -> Result<Vec<RemoteEndpoint>> {
        let Some(index) = self.link_index(vxlan).await? else {
            return Ok(Vec::new());
        };
        let dump = |family| async move {
            self.handle
                .neighbours()
                .get()
                .set_address_family(family)
                .execute()
                .try_collect::<Vec<NeighbourMessage>>()
                .await
                .map_err(|e| NetlinkError::request("listing neighbours of", vxlan.as_str(), e, &[]))
        };
        let mac_of = |m: &NeighbourMessage| {
            m.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::LinkLayerAddress(bytes) => {
                    <[u8; 6]>::try_from(bytes.as_slice()).ok().map(MacAddr)
                }
                _ => None,
            })
        };
        let ip_of = |m: &NeighbourMessage| {
            m.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                    Some(IpAddr::V4(*v4))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                    Some(IpAddr::V6(*v6))
                }
                // An FDB entry's (family AF_BRIDGE) destination comes raw.
                NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => {
                    match bytes.len() {
                        4 => <[u8; 4]>::try_from(bytes.as_slice()).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(bytes.as_slice())
                            .ok()
                            .map(IpAddr::from),
                        _ => None,
                    }
                }
                _ => None,
            })
        };
        let mut fdb: Vec<(MacAddr, IpAddr)> = dump(AddressFamily::Bridge)
            .await?
            .iter()
            .filter(|m| m.header.ifindex == index && m.header.flags.contains(NeighbourFlags::Own))
            .filter_map(|m| Some((mac_of(m)?, ip_of(m)?)))
            .collect();
        let mut remotes = Vec::new();
        for m in dump(AddressFamily::Inet).await? {
            if m.header.ifindex != index || m.header.state != NeighbourState::Permanent {
                continue;
            }
            let (Some(ip), Some(mac)) = (ip_of(&m), mac_of(&m)) else {
                continue;
            };
            let vtep = match fdb.iter().position(|(fdb_mac, _)| *fdb_mac == mac) {
                Some(at) => fdb.remove(at).1,
                None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            };
            remotes.push(RemoteEndpoint {
                vxlan: vxlan.clone(),
                mac,
                ip,
                vtep,
            });
        }
        remotes.extend(fdb.into_iter().map(|(mac, vtep)| RemoteEndpoint {
            vxlan: vxlan.clone(),
            mac,
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            vtep,
        }));
        Ok(remotes)
    }

    pub async fn remove_remote_endpoint(&self, remote: &RemoteEndpoint) -> Result<()> {
        let vxlan = remote.vxlan.as_str();
        let Some(index) = self.link_index(&remote.vxlan).await? else {
            return Ok(());
        };
        for (message, what) in self
            .remote_entries(index, remote)
            .into_iter()
            .zip(["deleting FDB entry", "deleting neighbour"])
        {
            match self.handle.neighbours().del(message).execute().await {
                Ok(()) => {}
                Err(e) if crate::error::errno_of(&e) == Some(libc::ENOENT) => {}
                Err(e) => return Err(NetlinkError::request(what, vxlan, e, &[])),
            }
        }
        Ok(())
    }
}
