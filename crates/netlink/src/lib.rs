//! berth's netlink adapter: the real [`berth_core::ports::NetOps`] on
//! `rtnetlink`, plus the sysctl writer and the namespace-bound plumbing the
//! container work builds on.
//!
//! Namespaces: a [`Netlink`] acts in the network namespace it was opened in
//! ([`Netlink::open`]: the caller's; [`Netlink::open_in_netns`]: a given one).
//! Sysctls act in the calling thread's namespace. This is the only crate that
//! calls `setns`/`unshare`, and only on short-lived threads of its own that
//! never return to a runtime's pool.
//!
//! Sandboxes' namespaces are bind-mounted files in berthd's mount namespace;
//! see `nsfs.rs` for what that assumes about mount propagation.

mod adapter;
mod bridge;
mod conntrack;
mod endpoint;
mod error;
mod netns;
mod netns_pool;
mod nsfs;
mod plan;
mod probe;
mod sub_interface;
pub mod sysctl;
mod vxlan;

pub use adapter::Netlink;
pub use error::NetlinkError;
pub use netns::{run_in_netns, VethSpec};
pub use netns_pool::DnsSockets;
