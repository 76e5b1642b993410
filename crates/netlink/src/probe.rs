//! Which link kinds this kernel can make, asked of the kernel itself: a
//! throwaway network namespace (made by a thread of its own, which ends
//! with it) gets a veth pair and one link of the kind on top. The host's
//! namespace is never touched, and a module the kernel loads on demand
//! counts as present, which reading `/sys/module` would miss.

use std::{io, thread};

use berth_core::ports::KernelLink;
use netlink_packet_route::link::{IpVlanMode, MacVlanMode};
use nix::sched::{unshare, CloneFlags};
use rtnetlink::{Handle, LinkDummy, LinkIpVlan, LinkMacVlan, LinkUnspec, LinkVeth, LinkVlan};

use crate::error::NetlinkError;

/// Whether the kernel makes links of `kind`. Blocking (one thread spawn and
/// a few requests); the adapter asks once per kind.
pub(crate) fn kernel_has(kind: KernelLink) -> Result<bool, NetlinkError> {
    let worker = thread::Builder::new()
        .name("berth-kernel-probe".into())
        .spawn(move || -> Result<bool, NetlinkError> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetlinkError::Namespace {
                op: "making a namespace to probe the kernel's link kinds",
                source: io::Error::from(e),
            })?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|source| NetlinkError::Namespace {
                    op: "starting the probe's runtime",
                    source,
                })?;
            runtime.block_on(async move {
                let (connection, handle, _) =
                    rtnetlink::new_connection().map_err(|source| NetlinkError::Open { source })?;
                tokio::spawn(connection);
                try_make(&handle, kind).await
            })
            // The thread ends here and its namespace with it.
        })
        .map_err(|source| NetlinkError::Namespace {
            op: "spawning the kernel probe thread",
            source,
        })?;
    worker
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Makes a parent (a veth end) and one link of `kind`; `Ok(false)` if the
/// kernel refuses the kind.
async fn try_make(handle: &Handle, kind: KernelLink) -> Result<bool, NetlinkError> {
    let veth = LinkVeth::new("probe0", "probe1").build();
    handle
        .link()
        .add(veth)
        .execute()
        .await
        .map_err(|e| NetlinkError::request("creating the probe's veth pair", "probe0", e, &[]))?;
    let mut links = handle
        .link()
        .get()
        .match_name("probe0".to_owned())
        .execute();
    let parent = match futures::TryStreamExt::try_next(&mut links).await {
        Ok(Some(link)) => link.header.index,
        Ok(None) => return Ok(false),
        Err(e) => return Err(NetlinkError::request("looking up link", "probe0", e, &[])),
    };
    let message = match kind {
        KernelLink::Macvlan => LinkMacVlan::new("probe2", parent, MacVlanMode::Bridge).build(),
        KernelLink::Ipvlan => LinkIpVlan::new("probe2", parent, IpVlanMode::L2).build(),
        KernelLink::Vlan => LinkVlan::new("probe2", parent, 10).build(),
        KernelLink::Dummy => LinkDummy::new("probe2").build(),
    };
    let made = handle.link().add(message).execute().await.is_ok();
    // Gone with the namespace anyway; deleted so the kernel frees it now.
    let _ = handle
        .link()
        .del_with_message(LinkUnspec::new_with_name("probe0").build())
        .execute()
        .await;
    Ok(made)
}
