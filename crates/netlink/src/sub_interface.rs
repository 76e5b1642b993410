//! Endpoints made from a parent link (macvlan, ipvlan): one RTM_NEWLINK on
//! the host's socket makes the sub-interface of the parent born inside the
//! sandbox under its final name (a macvlan with its MAC); then, through a
//! socket in the sandbox, its addresses, link up, `lo` up, default routes.
//! A failure after it exists deletes it, so the sandbox is left as it was.
//! Also the parent links berth makes for such networks (802.1q, dummy).

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;

use berth_core::ports::{
    EndpointFault, ParentLink, ParentLinkKind, SubInterface, SubInterfaceKind,
};
use berth_types::IfName;
use netlink_packet_route::link::{IpVlanMode, LinkMessage, MacVlanMode};
use rtnetlink::{LinkDummy, LinkIpVlan, LinkMacVlan, LinkUnspec, LinkVlan};

use crate::adapter::{link_alias_of, link_facts, Netlink, Result};
use crate::endpoint::sandbox_end_fault;
use crate::error::NetlinkError;
use crate::nsfs::open_netns;

/// The RTM_NEWLINK of `sub`: a macvlan with its MAC, or an ipvlan (which
/// has its parent's), born in the sandbox `netns`.
fn sub_interface_message(sub: &SubInterface, parent: u32, netns: RawFd) -> LinkMessage {
    let name = sub.ifname.as_str();
    let macvlan = |mode| {
        LinkMacVlan::new(name, parent, mode)
            .address(sub.mac.0.to_vec())
            .setns_by_fd(netns)
            .build()
    };
    let ipvlan = |mode| {
        LinkIpVlan::new(name, parent, mode)
            .setns_by_fd(netns)
            .build()
    };
    match sub.kind {
        SubInterfaceKind::MacvlanBridge => macvlan(MacVlanMode::Bridge),
        SubInterfaceKind::MacvlanPrivate => macvlan(MacVlanMode::Private),
        SubInterfaceKind::MacvlanVepa => macvlan(MacVlanMode::Vepa),
        SubInterfaceKind::MacvlanPassthru => macvlan(MacVlanMode::Passthrough),
        SubInterfaceKind::IpvlanL2 => ipvlan(IpVlanMode::L2),
        SubInterfaceKind::IpvlanL3 => ipvlan(IpVlanMode::L3),
        SubInterfaceKind::IpvlanL3s => ipvlan(IpVlanMode::L3S),
    }
}

/// The kernel's link kind of `sub`.
fn kind_name(kind: SubInterfaceKind) -> &'static str {
    match kind {
        SubInterfaceKind::MacvlanBridge
        | SubInterfaceKind::MacvlanPrivate
        | SubInterfaceKind::MacvlanVepa
        | SubInterfaceKind::MacvlanPassthru => "macvlan",
        SubInterfaceKind::IpvlanL2 | SubInterfaceKind::IpvlanL3 | SubInterfaceKind::IpvlanL3s => {
            "ipvlan"
        }
    }
}

impl Netlink {
    /// [`berth_core::ports::NetOps::add_sub_interface`] with the adapter's
    /// own error type.
    pub async fn add_sub_interface(&self, sub: &SubInterface) -> Result<()> {
        let describe = || {
            format!(
                "{} on {} in {}",
                sub.ifname,
                sub.parent,
                sub.netns.display()
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
        let netns = open_netns(&sub.netns)
            .map_err(|e| fail("opening the sandbox's network namespace", e, None))?;
        let parent = self
            .require_index(&sub.parent, "making a sub-interface of it")
            .await
            .map_err(|e| fail("looking up the parent link", e, None))?;
        let message = sub_interface_message(sub, parent, netns.as_raw_fd());
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| {
                let object = format!("{} on {}", sub.ifname, sub.parent);
                let err = NetlinkError::request(
                    kind_name(sub.kind),
                    object,
                    e,
                    &[
                        (libc::EEXIST, "the sandbox already has an interface of that name"),
                        (
                            libc::EBUSY,
                            "the parent is taken (passthru takes it whole, and a parent in passthru takes no other)",
                        ),
                    ],
                );
                fail("creating the sub-interface", err, None)
            })?;
        let inside = self
            .netlink_inside(&sub.netns, netns.as_fd())
            .map_err(|e| fail("opening netlink in the sandbox", e, None))?;
        let configured = inside
            .configure_sandbox_end(&sub.ifname, &sub.addresses, &sub.default_gateways)
            .await;
        match configured {
            Ok(()) => {
                tracing::info!(endpoint = %describe(), "sub-interface added");
                Ok(())
            }
            Err((step, source)) => {
                let cleanup = inside.delete_link(&sub.ifname).await.err().map(|e| {
                    tracing::warn!(endpoint = %describe(), error = %e, "removing a half-made sub-interface failed");
                    e.to_string()
                });
                Err(fail(step, source, cleanup))
            }
        }
    }

    /// Deletes `ifname` in the sandbox at `netns`; gone, or the sandbox
    /// gone, is success.
    pub async fn delete_sandbox_link(&self, netns: &Path, ifname: &IfName) -> Result<()> {
        let file = match open_netns(netns) {
            Ok(file) => file,
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        };
        Netlink::open_in_netns(file.as_fd())?
            .delete_link(ifname)
            .await
    }

    /// What is wrong with `sub` in its sandbox, if anything: it must be
    /// there, up, with every address.
    pub async fn sub_interface_fault(&self, sub: &SubInterface) -> Result<Option<EndpointFault>> {
        sandbox_end_fault(&sub.netns, &sub.ifname, kind_name(sub.kind), &sub.addresses).await
    }

    /// [`berth_core::ports::NetOps::add_parent_link`] with the adapter's own
    /// error type.
    pub async fn add_parent_link(&self, link: &ParentLink) -> Result<()> {
        let name = link.name.as_str();
        let message = match &link.kind {
            ParentLinkKind::Vlan { base, id } => {
                let base = self
                    .require_index(base, "making an 802.1q link of it")
                    .await?;
                LinkVlan::new(name, base, *id).up().build()
            }
            ParentLinkKind::Dummy => LinkDummy::new(name).up().build(),
        };
        if let Err(e) = self.handle.link().add(message).execute().await {
            let err = NetlinkError::request("creating parent link", name, e, &[]);
            // Made by an earlier try (a crash before it was recorded ready).
            let ours = match self.link_by_name(name).await? {
                Some(found) => link_alias_of(&found) == Some(link.alias.as_str()),
                None => false,
            };
            if err.errno() != Some(libc::EEXIST) || !ours {
                return Err(err);
            }
        }
        // The kernel ignores the alias on creation.
        let alias = LinkUnspec::new_with_name(name)
            .alias(link.alias.as_str())
            .build();
        self.handle
            .link()
            .change(alias)
            .execute()
            .await
            .map_err(|e| NetlinkError::request("setting alias", name, e, &[]))?;
        tracing::info!(link = name, "parent link added");
        Ok(())
    }

    /// The kind of the link `name` (`""` for a plain device), or `None`.
    pub async fn link_kind(&self, name: &IfName) -> Result<Option<String>> {
        Ok(self
            .link_by_name(name.as_str())
            .await?
            .map(|link| link_facts(&link).kind.unwrap_or_default()))
    }
}
