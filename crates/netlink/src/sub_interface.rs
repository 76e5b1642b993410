//! Endpoints made from a parent link (macvlan): one RTM_NEWLINK on the
//! host's socket makes the sub-interface of the parent born inside the
//! sandbox under its final name, with its MAC; then, through a socket in
//! the sandbox, its addresses, link up, `lo` up, default routes. A failure
//! after it exists deletes it, so the sandbox is left as it was.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use berth_core::ports::{EndpointFault, SubInterface, SubInterfaceKind};
use berth_types::{IfName, IpNet};
use netlink_packet_route::link::MacVlanMode;
use rtnetlink::LinkMacVlan;

use crate::adapter::{link_facts, Netlink, Result};
use crate::error::NetlinkError;
use crate::nsfs::open_netns;

fn macvlan_mode(kind: SubInterfaceKind) -> MacVlanMode {
    match kind {
        SubInterfaceKind::MacvlanBridge => MacVlanMode::Bridge,
        SubInterfaceKind::MacvlanPrivate => MacVlanMode::Private,
        SubInterfaceKind::MacvlanVepa => MacVlanMode::Vepa,
        SubInterfaceKind::MacvlanPassthru => MacVlanMode::Passthrough,
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
        let message = LinkMacVlan::new(sub.ifname.as_str(), parent, macvlan_mode(sub.kind))
            .address(sub.mac.0.to_vec())
            .setns_by_fd(netns.as_raw_fd())
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| {
                let object = format!("{} on {}", sub.ifname, sub.parent);
                let err = NetlinkError::request(
                    "creating macvlan",
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
        let inside = Netlink::open_in_netns(netns.as_fd())
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
        let netns = open_netns(&sub.netns)?;
        let inside = Netlink::open_in_netns(netns.as_fd())?;
        let Some(link) = inside.link_by_name(sub.ifname.as_str()).await? else {
            return Ok(Some(EndpointFault::SandboxEndIncomplete));
        };
        let facts = link_facts(&link);
        let present: Vec<IpNet> = inside
            .addresses_of(facts.index, sub.ifname.as_str())
            .await?
            .into_iter()
            .map(|(a, _)| a.net)
            .collect();
        if facts.kind.as_deref() != Some("macvlan")
            || !facts.up
            || sub.addresses.iter().any(|a| !present.contains(a))
        {
            return Ok(Some(EndpointFault::SandboxEndIncomplete));
        }
        Ok(None)
    }

    /// The kind of the link `name` (`""` for a plain device), or `None`.
    pub async fn link_kind(&self, name: &IfName) -> Result<Option<String>> {
        Ok(self
            .link_by_name(name.as_str())
            .await?
            .map(|link| link_facts(&link).kind.unwrap_or_default()))
    }
}
