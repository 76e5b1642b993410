//! berth's model and use cases. Everything that decides what the kernel,
//! firewall and store should hold lives here, behind the ports in [`ports`];
//! nothing here touches the OS, so it is tested with fakes and without root.
//!
//! Laid out by the nouns of Docker's network model: [`network`],
//! [`sandbox`], [`endpoint`], [`container`], [`volume`], each with its use cases; the
//! [`driver`] port with its drivers; the [`cluster`] port (overlay
//! networks across hosts); the one
//! in-memory [`model`] of them all; and the [`engine`]'s command loop that
//! runs the use cases one at a time, with its [`handle`].
//! `ARCHITECTURE.md` at the repository's root has the map.

#![forbid(unsafe_code)]

pub mod cluster;
pub mod config;
pub mod container;
pub mod dns_names;
pub mod driver;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod etc_files;
pub mod events;
pub mod filter;
mod firewall;
mod flows;
pub mod handle;
pub mod image;
pub mod lookup;
pub mod model;
pub mod network;
pub mod ports;
pub mod publish;
mod reconcile;
pub mod sandbox;
pub mod volume;

pub use config::{ClusterHost, DefaultBridge, EngineConfig};
pub use container::PreparedStart;
pub use engine::{Engine, ExitNotice};
pub use error::{Error, ErrorKind, Result};
pub use handle::{EngineHandle, WaitCondition, DEFAULT_STOP_TIMEOUT};
