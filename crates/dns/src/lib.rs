//! berth's embedded DNS server: what Docker serves on 127.0.0.11 in every
//! container on a user-defined network. Names berth knows (container names,
//! aliases, short ids, hostnames, as the asking container sees them through
//! [`NameLookup`]) are answered from memory; everything else is forwarded to
//! the sandbox's upstream servers.
//!
//! The daemon makes one [`Resolver`] and calls
//! [`Resolver::serve_sandbox`] with sockets it bound inside each
//! container's namespace; all sandboxes are served by tasks on the daemon's
//! runtime, and this crate never enters a namespace itself.
//!
//! [`NameLookup`]: berth_core::ports::NameLookup

mod answer;
mod error;
mod forward;
mod server;
mod throttle;
mod wire;

pub use error::Error;
pub use forward::{SocketFuture, SocketKind, UpstreamConnector, Upstreams, MAX_UPSTREAMS};
pub use server::{Config, Resolver, SandboxServer};
