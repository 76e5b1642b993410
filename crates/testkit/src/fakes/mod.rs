//! Fakes of the core's ports, one file each, and what they share: their
//! error and a lock that survives a panicked test.

mod cluster;
mod dns;
mod env;
mod firewall;
mod host;
mod net;
mod runtime;
mod store;
mod volumes;

use std::sync::{Mutex, MutexGuard};

use berth_core::ports::PortError;

pub use cluster::FakeCluster;
pub use dns::FakeDns;
pub use env::FixedEnv;
pub use firewall::FakeFirewall;
pub use host::FakeHost;
pub use net::{FakeLink, FakeNet};
pub use runtime::{FakeProcess, FakeRuntime};
pub use store::MemStore;
pub use volumes::FakeVolumes;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FakeError(String);

fn fail(msg: impl Into<String>) -> PortError {
    Box::new(FakeError(msg.into()))
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has already failed.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
