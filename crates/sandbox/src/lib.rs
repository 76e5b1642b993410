//! The one sandbox-host harness (DESIGN.md, "Testing"), shared by the
//! end-to-end tests (through berth-testkit), the adapters' root tests and
//! berth-bench: namespaces held by a `sleep` ([`host`]), an outside peer,
//! a daemon process started and stopped in them ([`daemon`]), a minimal
//! HTTP client on the daemon's unix socket ([`http`]) and "run this on a
//! thread of its own in a fresh network namespace" ([`netns`]), and the
//! cluster plumbing: an underlay joining hosts and etcd members ([`cluster`]).
//!
//! It depends on no berth crate: everything it does goes through
//! processes, the kernel and the socket.

pub mod cluster;
pub mod daemon;
pub mod host;
pub mod http;
pub mod netns;
pub mod proc;

use std::process::ExitStatus;

pub use cluster::{EtcdMember, Underlay};
pub use daemon::DaemonProcess;
pub use host::{Host, Peer, HOST_OUTSIDE_IP, HOST_OUTSIDE_IP6, PEER_IP, PEER_IP6};
pub use http::{Client, Reply};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {output}")]
    Command {
        command: String,
        status: ExitStatus,
        output: String,
    },
    #[error("timed out waiting for {0}")]
    Timeout(String),
    #[error("{what} exited with {status} before serving; log:\n{log}")]
    ExitedEarly {
        what: String,
        status: ExitStatus,
        log: String,
    },
    #[error("{what} did not answer in time; log:\n{log}")]
    NoAnswer { what: String, log: String },
    #[error("{request}: bad HTTP reply: {detail}")]
    BadReply { request: String, detail: String },
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Context for an I/O error.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
