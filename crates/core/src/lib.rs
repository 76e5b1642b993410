//! berth's model and use cases. Everything that decides what the kernel,
//! firewall and store should hold lives here, behind the ports in [`ports`];
//! nothing here touches the OS, so it is tested with fakes and without root.

pub mod config;
pub mod engine;
pub mod error;
pub mod filter;
pub mod lookup;
pub mod model;
pub mod network;
pub mod ports;
pub mod reconcile;

pub use config::{DefaultBridge, EngineConfig};
pub use engine::{Engine, EngineHandle};
pub use error::{Error, ErrorKind, Result};
