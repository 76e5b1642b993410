//! berth's netlink adapter: the real [`berth_core::ports::NetOps`] on
//! `rtnetlink`, plus the sysctl writer and the namespace-bound plumbing the
//! container work builds on.
//!
//! Namespaces: a [`Netlink`] acts in the network namespace it was opened in
//! ([`Netlink::open`]: the caller's; [`Netlink::open_in_netns`]: a given one).
//! Sysctls act in the calling thread's namespace. This is the only crate that
//! calls `setns`/`unshare`, and only on short-lived threads of its own that
//! never return to a runtime's pool.

mod adapter;
mod error;
mod netns;
mod plan;
pub mod sysctl;

pub use adapter::Netlink;
pub use error::NetlinkError;
pub use netns::VethSpec;
