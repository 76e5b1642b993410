//! Groundwork for container endpoints: a netlink socket bound to another
//! network namespace, and veth pairs whose peer is born inside the container's
//! namespace under its final name (netavark's trick: no temporary host-side
//! name, no move, no rename).
//!
//! `add_endpoint` (in `endpoint.rs`) builds on these.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;
use std::{io, panic, thread};

use berth_types::{IfName, MacAddr};
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use nix::sched::{setns, CloneFlags};
use rtnetlink::{LinkUnspec, LinkVeth};

use crate::adapter::{Netlink, Result};
use crate::error::NetlinkError;

/// A veth pair: the host end (optionally enslaved to a bridge, up) and the
/// peer, created directly inside `peer_netns` as `peer_name` (down, so the
/// caller configures it before traffic flows).
#[derive(Debug)]
pub struct VethSpec<'a> {
    /// Host end, e.g. `veth1a2b3c4`.
    pub host_name: IfName,
    /// Bridge the host end joins, if any.
    pub bridge: Option<IfName>,
    /// MTU of both ends (the bridge's).
    pub mtu: u32,
    /// Final name inside the sandbox, e.g. `eth0`.
    pub peer_name: IfName,
    /// The sandbox's network namespace (an open `/proc/…/ns/net` or bind mount).
    pub peer_netns: BorrowedFd<'a>,
    /// MAC of the peer (Docker's `02:42:` + IPv4), else a random one.
    pub peer_mac: Option<MacAddr>,
    /// Whether the host end is set up at once (else its creator does, once
    /// it is configured).
    pub host_up: bool,
}

impl Netlink {
    /// Opens a socket inside the network namespace `netns`.
    ///
    /// A netlink socket belongs to the namespace of the thread that creates
    /// it, so this joins `netns` on a short-lived thread of its own, creates
    /// the socket there (registering it with the current tokio runtime) and
    /// lets the thread end: no thread ever has to switch back, and the
    /// calling thread (a runtime worker) never changes namespace. Blocks the
    /// caller for the duration of one thread spawn.
    pub fn open_in_netns(netns: BorrowedFd<'_>) -> Result<Netlink> {
        Self::open_in_netns_with(netns, || Ok(())).map(|(netlink, ())| netlink)
    }

    /// [`Netlink::open_in_netns`], plus whatever `extra` makes on the same
    /// thread inside `netns` (other sockets).
    pub(crate) fn open_in_netns_with<T: Send>(
        netns: BorrowedFd<'_>,
        extra: impl FnOnce() -> io::Result<T> + Send,
    ) -> Result<(Netlink, T)> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetlinkError::NoRuntime)?;
        thread::scope(|scope| {
            let worker = thread::Builder::new()
                .name("berth-netns-open".into())
                .spawn_scoped(scope, move || {
                    setns(netns, CloneFlags::CLONE_NEWNET).map_err(|e| {
                        NetlinkError::Namespace {
                            op: "entering network namespace to open a netlink socket",
                            source: io::Error::from(e),
                        }
                    })?;
                    let _entered = runtime.enter();
                    let netlink = Netlink::open_here()?;
                    let made = extra().map_err(|source| NetlinkError::Namespace {
                        op: "making sockets inside a network namespace",
                        source,
                    })?;
                    Ok((netlink, made))
                    // The thread ends here, still in `netns`: nothing to restore.
                })
                .map_err(|source| NetlinkError::Namespace {
                    op: "spawning the namespace thread",
                    source,
                })?;
            worker.join().unwrap_or_else(|p| panic::resume_unwind(p))
        })
    }

    /// A netlink connection inside the sandbox namespace at `path` (open as
    /// `netns`): the one the pool made with it if still unused, else a new
    /// one.
    pub(crate) fn netlink_inside(&self, path: &Path, netns: BorrowedFd<'_>) -> Result<Netlink> {
        match self.netns_pool.take_netlink(path) {
            Some(inside) => Ok(inside),
            None => Netlink::open_in_netns(netns),
        }
    }

    /// Creates the veth pair of `spec` and returns the host end's index.
    pub async fn create_veth(&self, spec: &VethSpec<'_>) -> Result<u32> {
        self.add_veth(spec).await?;
        self.require_index(&spec.host_name, "creating a veth pair")
            .await
    }

    /// [`Netlink::create_veth`] without looking up the new host end: one
    /// bridge lookup (if any) and one RTM_NEWLINK.
    pub(crate) async fn add_veth(&self, spec: &VethSpec<'_>) -> Result<()> {
        let host = spec.host_name.as_str();
        let controller = match &spec.bridge {
            Some(bridge) => Some(self.require_index(bridge, "creating a veth pair").await?),
            None => None,
        };
        // One queue each way on both ends, asked for at creation: left to
        // the kernel, each end is made with a queue per CPU and then cut
        // down to one, and that cut waits for an RCU grace period under
        // rtnl (up to 9 ms each at 1,000 containers). The result is the same.
        let mut peer = LinkUnspec::new_with_name(spec.peer_name.as_str())
            .mtu(spec.mtu)
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1))
            .setns_by_fd(spec.peer_netns.as_raw_fd());
        if let Some(mac) = spec.peer_mac {
            peer = peer.address(mac.0.to_vec());
        }
        let mut msg = LinkVeth::new(host, spec.peer_name.as_str())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1))
            .mtu(spec.mtu);
        if spec.host_up {
            msg = msg.up();
        }
        if let Some(index) = controller {
            msg = msg.controller(index);
        }
        if let Err(e) = self.handle.link().add(msg.build()).execute().await {
            let object = format!("{host} (peer {})", spec.peer_name);
            let mut err = NetlinkError::request("creating veth pair", object, e, &[]);
            if err.errno() == Some(libc::EEXIST) {
                let which = if self.link_by_name(host).await.ok().flatten().is_some() {
                    format!("interface {host} already exists on the host")
                } else {
                    format!(
                        "interface {} already exists in the target namespace",
                        spec.peer_name
                    )
                };
                err = err.with_hint(which);
            }
            return Err(err);
        }
        tracing::debug!(host, peer = %spec.peer_name, "veth pair created");
        Ok(())
    }

    /// Enslaves `link` to `bridge` (`ip link set LINK master BRIDGE`).
    pub async fn enslave(&self, link: &IfName, bridge: &IfName) -> Result<()> {
        let index = self.require_index(link, "enslaving it").await?;
        let controller = self.require_index(bridge, "enslaving a link to it").await?;
        let msg = LinkUnspec::new_with_index(index)
            .controller(controller)
            .build();
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::request("enslaving", format!("{link} to {bridge}"), e, &[]))
    }

    /// Sets the Ethernet address of `link`.
    pub async fn set_mac(&self, link: &IfName, mac: MacAddr) -> Result<()> {
        let index = self.require_index(link, "setting its MAC").await?;
        let msg = LinkUnspec::new_with_index(index)
            .address(mac.0.to_vec())
            .build();
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::request("setting MAC", format!("{mac} on {link}"), e, &[]))
    }

    pub(crate) async fn require_index(&self, name: &IfName, op: &'static str) -> Result<u32> {
        self.link_index(name)
            .await?
            .ok_or_else(|| NetlinkError::NoSuchLink {
                name: name.to_string(),
                op,
            })
    }
}

/// Runs `work` on a short-lived thread that has joined the namespace
/// mounted at `path`, and returns its result: sockets made there belong to
/// that namespace for good (the embedded DNS server's listeners, its
/// upstream sockets for `--dns`). The thread ends inside the namespace, so
/// nothing has to switch back; the caller's thread never changes namespace.
pub fn run_in_netns<T: Send>(
    path: &Path,
    work: impl FnOnce() -> io::Result<T> + Send,
) -> Result<T> {
    let file = crate::nsfs::open_netns(path)?;
    thread::scope(|scope| {
        let worker = thread::Builder::new()
            .name("berth-netns-work".into())
            .spawn_scoped(scope, move || {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| NetlinkError::Namespace {
                    op: "entering a sandbox's network namespace",
                    source: io::Error::from(e),
                })?;
                work().map_err(|source| NetlinkError::Namespace {
                    op: "working inside a sandbox's network namespace",
                    source,
                })
            })
            .map_err(|source| NetlinkError::Namespace {
                op: "spawning the namespace thread",
                source,
            })?;
        worker.join().unwrap_or_else(|p| panic::resume_unwind(p))
    })
}
