//! berth's model and use cases. Everything that decides what the kernel,
//! firewall and store should hold lives here, behind the ports in [`ports`];
//! nothing here touches the OS, so it is tested with fakes and without root.

#![forbid(unsafe_code)]

mod address_book;
pub mod config;
pub mod container;
pub mod container_create;
pub mod container_table;
mod containers;
pub mod dns_names;
pub mod engine;
pub mod error;
pub mod etc_files;
pub mod filter;
mod firewall;
mod flows;
mod image;
pub mod lookup;
pub mod model;
pub mod network;
pub mod ports;
pub mod publish;
pub mod reconcile;
mod running;

pub use config::{DefaultBridge, EngineConfig};
pub use containers::PreparedStart;
pub use engine::{Engine, EngineHandle, Event, WaitCondition, DEFAULT_STOP_TIMEOUT};
pub use error::{Error, ErrorKind, Result};
