//! What the core needs from the operating system, as intent-level traits.
//! The daemon wires the real adapters (`berth-netlink`, `berth-store`); tests
//! use the fakes in `berth-testkit`. Nothing here names a concrete adapter.
//!
//! One submodule a concern; every item is re-exported here, so its path is
//! `crate::ports::Item` whichever file holds it.

mod dns;
mod firewall;
mod net;
mod runtime;
mod storage;
mod store;

use std::path::Path;
use std::time::SystemTime;

pub use dns::*;
pub use firewall::*;
pub use net::*;
pub use runtime::*;
pub use storage::*;
pub use store::*;

/// Adapters report failures as boxed errors; the core wraps them with what it
/// was doing and which object it was doing it to.
pub type PortError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Time and randomness, injected so use cases are deterministic in tests.
pub trait Env: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
    /// 32 random bytes for a new id.
    fn random_id_bytes(&self) -> [u8; 32];
    /// The host's `/etc/resolv.conf` as it is now (empty if unreadable).
    fn host_resolv_conf(&self) -> String;
}

/// The set of adapters an engine runs on.
pub trait Host: Send + Sync + 'static {
    type Net: NetOps;
    type Store: Store;
    type Env: Env;
    type Runtime: Runtime;
    type Images: Images;
    type Firewall: Firewall;
    type Dns: SandboxDns;
    type Volumes: Volumes;

    fn net(&self) -> &Self::Net;
    fn store(&self) -> &Self::Store;
    fn env(&self) -> &Self::Env;
    fn runtime(&self) -> &Self::Runtime;
    fn images(&self) -> &Self::Images;
    fn firewall(&self) -> &Self::Firewall;
    fn dns(&self) -> &Self::Dns;
    fn volumes(&self) -> &Self::Volumes;
    /// Where sandboxes' namespace files live (`<exec-root>/netns`).
    fn netns_dir(&self) -> &Path;
}
