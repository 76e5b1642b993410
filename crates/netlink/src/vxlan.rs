//! Overlay networks' data plane on this host: the VXLAN port of a network's
//! bridge, and the static FDB and neighbour entries that make remote
//! endpoints reachable through it (no learning, no flooding: DESIGN.md,
//! "Cluster").

use std::net::IpAddr;

use berth_core::ports::{RemoteEndpoint, VxlanSpec};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::neighbour::{NeighbourFlags, NeighbourMessage, NeighbourState};
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
        let bridge = self
            .require_index(&spec.bridge, "adding a VXLAN port to it")
            .await?;
        match self.link_by_name(name).await? {
            Some(found) if link_alias_of(&found) == Some(spec.alias.as_str()) => {}
            Some(_) => {
                return Err(NetlinkError::NotOurs {
                    name: name.to_owned(),
                    what: "VXLAN port",
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
                    .map_err(|e| NetlinkError::request("creating VXLAN port", name, e, &[]))?;
            }
        }
        let msg = LinkUnspec::new_with_name(name)
            .controller(bridge)
            .mtu(spec.mtu)
            .alias(spec.alias.as_str())
            .up()
            .build();
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::request("attaching VXLAN port", name, e, &[]))?;
        tracing::info!(link = name, vni = spec.vni, "VXLAN port ready");
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
