//! Bridges and their addresses: made or put back as a [`BridgeSpec`]
//! says (idempotent, so start-up reconcile can call it again), with the
//! addresses diffed against what the kernel holds.

use std::net::IpAddr;

use berth_core::ports::{BridgeSpec, LINK_ALIAS_PREFIX};
use berth_types::IpNet;
use futures::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use rtnetlink::{LinkBridge, LinkUnspec};

use crate::adapter::{link_facts, Netlink, Result};
use crate::error::{errno_of, NetlinkError};
use crate::plan::{self, AddrFacts, LinkChange};
use crate::sysctl;

const IPV6_DISABLED: &str =
    "is IPv6 disabled in the kernel or on this interface (net.ipv6.conf.*.disable_ipv6)?";

impl Netlink {
    /// The addresses on link `index`, with the kernel's messages (needed to
    /// delete them).
    pub(crate) async fn addresses_of(
        &self,
        index: u32,
        name: &str,
    ) -> Result<Vec<(AddrFacts, AddressMessage)>> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetlinkError::request("listing addresses of", name, e, &[]))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| address_facts(&m).map(|f| (f, m)))
            .collect())
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> Result<()> {
        let name = spec.name.as_str();
        // The kernel ignores IFLA_IFALIAS on creation (checked on 6.x); it is
        // sent anyway and set again by the follow-up change if missing.
        // Born with its MAC: an address given at creation is one the kernel
        // never replaces with a port's.
        let msg = LinkBridge::new(name)
            .mtu(spec.mtu)
            .address(spec.mac.0.to_vec())
            .alias(spec.alias.as_str())
            .build();
        match self.handle.link().add(msg).execute().await {
            Ok(()) => {
                tracing::info!(bridge = name, "bridge created");
                Ok(())
            }
            // Created concurrently: the caller re-reads and checks it.
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(NetlinkError::request(
                "creating bridge",
                name,
                e,
                &[(
                    libc::EOPNOTSUPP,
                    "is the bridge module available (modprobe bridge)?",
                )],
            )),
        }
    }

    async fn apply_link_change(&self, name: &str, index: u32, change: &LinkChange) -> Result<()> {
        let mut msg = LinkUnspec::new_with_index(index);
        if let Some(alias) = &change.alias {
            msg = msg.alias(alias.as_str());
        }
        if let Some(mtu) = change.mtu {
            msg = msg.mtu(mtu);
        }
        if change.up {
            msg = msg.up();
        }
        if let Some(mac) = change.mac {
            msg = msg.address(mac.0.to_vec());
        }
        self.handle
            .link()
            .change(msg.build())
            .execute()
            .await
            .map_err(|e| {
                let hint = match change.mtu {
                    Some(_) => &[(libc::EINVAL, "is the MTU within the link's limits?")][..],
                    None => &[][..],
                };
                NetlinkError::request("configuring bridge", name, e, hint)
            })?;
        tracing::debug!(bridge = name, ?change, "bridge configured");
        Ok(())
    }

    /// Adds `net` to link `index` (named `name`, for messages); IPv6 without
    /// duplicate address detection.
    pub(crate) async fn add_address(&self, name: &str, index: u32, net: IpNet) -> Result<()> {
        let mut req = self
            .handle
            .address()
            .add(index, net.addr(), net.prefix_len());
        if net.addr().is_ipv6() {
            // No duplicate address detection: a gateway address must be
            // usable at once (a tentative address cannot be bound), and the
            // bridge is ours. Same effect as `accept_dad=0`, without a sysctl.
            req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        req.execute().await.map_err(|e| {
            let hints: &[(i32, &'static str)] = if net.addr().is_ipv6() {
                &[
                    (libc::EACCES, IPV6_DISABLED),
                    (libc::EAFNOSUPPORT, IPV6_DISABLED),
                ]
            } else {
                &[]
            };
            NetlinkError::request("adding address", format!("{net} on {name}"), e, hints)
        })?;
        tracing::debug!(link = name, %net, "address added");
        Ok(())
    }

    async fn remove_address(&self, name: &str, net: IpNet, msg: AddressMessage) -> Result<()> {
        match self.handle.address().del(msg).execute().await {
            Ok(()) => {
                tracing::debug!(bridge = name, %net, "address removed");
                Ok(())
            }
            // Already gone (e.g. removed together with its primary address).
            Err(e) if errno_of(&e) == Some(libc::EADDRNOTAVAIL) => Ok(()),
            Err(e) => Err(NetlinkError::request(
                "removing address",
                format!("{net} from {name}"),
                e,
                &[],
            )),
        }
    }

    /// [`NetOps::ensure_bridge`] with the adapter's own error type.
    pub async fn ensure_bridge(&self, spec: &BridgeSpec) -> Result<()> {
        let name = spec.name.as_str();
        let mut created = false;
        let link = match self.link_by_name(name).await? {
            Some(link) => link,
            None => {
                created = true;
                self.create_bridge(spec).await?;
                self.link_by_name(name)
                    .await?
                    .ok_or_else(|| NetlinkError::LinkVanished {
                        name: name.to_owned(),
                        op: "creating it",
                    })?
            }
        };
        let facts = link_facts(&link);
        if facts.kind.as_deref() != Some("bridge") {
            return Err(NetlinkError::NotABridge {
                name: name.to_owned(),
                kind: facts.kind.unwrap_or_else(|| "kind-less".into()),
            });
        }
        if let Some(old) = facts.alias.as_deref() {
            if old != spec.alias && !old.starts_with(LINK_ALIAS_PREFIX) {
                tracing::warn!(bridge = name, old, new = %spec.alias, "taking over a bridge with a foreign alias");
            }
        }
        let change = plan::plan_link(spec, &facts);
        if change.mac.is_some() && !created {
            // A bridge made before its MAC was fixed (or changed by hand):
            // announce the new MAC by gratuitous ARP, so containers that
            // hold the old one for their gateway update at once.
            sysctl::write_sysctl(&format!("net/ipv4/conf/{name}/arp_notify"), "1")?;
        }
        if !change.is_noop() {
            self.apply_link_change(name, facts.index, &change).await?;
        }
        self.sync_addresses(name, facts.index, &spec.addresses)
            .await
    }

    async fn sync_addresses(&self, name: &str, index: u32, desired: &[IpNet]) -> Result<()> {
        let current = self.addresses_of(index, name).await?;
        let facts: Vec<AddrFacts> = current.iter().map(|(f, _)| *f).collect();
        let diff = plan::diff_addresses(desired, &facts);
        if diff.is_noop() {
            return Ok(());
        }
        let mut current = current;
        for net in &diff.remove {
            if let Some(pos) = current.iter().position(|(f, _)| f.net == *net) {
                let (_, msg) = current.swap_remove(pos);
                self.remove_address(name, *net, msg).await?;
            }
        }
        // Removing an IPv4 primary can take its secondaries with it, so look
        // again before adding.
        let to_add = if diff.remove.is_empty() {
            diff.add
        } else {
            let facts: Vec<AddrFacts> = self
                .addresses_of(index, name)
                .await?
                .into_iter()
                .map(|(f, _)| f)
                .collect();
            plan::diff_addresses(desired, &facts).add
        };
        for net in to_add {
            self.add_address(name, index, net).await?;
        }
        Ok(())
    }
}

/// The address (IFA_LOCAL if present, else IFA_ADDRESS, as iproute2 shows)
/// with its prefix length and DAD state.
fn address_facts(msg: &AddressMessage) -> Option<AddrFacts> {
    let pick = |want_local: bool| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(ip) if want_local => Some(*ip),
            AddressAttribute::Address(ip) if !want_local => Some(*ip),
            _ => None,
        })
    };
    let addr: IpAddr = pick(true).or_else(|| pick(false))?;
    let net = IpNet::new(addr, msg.header.prefix_len).ok()?;
    let flags_attr = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Flags(f) => Some(*f),
        _ => None,
    });
    let dad_failed = match flags_attr {
        Some(f) => f.contains(AddressFlags::Dadfailed),
        None => msg.header.flags.contains(AddressHeaderFlags::Dadfailed),
    };
    Some(AddrFacts { net, dad_failed })
}
