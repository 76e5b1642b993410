//! The embedded DNS server: the names it answers ([`NameLookup`]), where it
//! sends the rest and [`SandboxDns`], its listeners.

use std::future::Future;
use std::net::IpAddr;
use std::path::Path;

use berth_types::ContainerId;

use super::PortError;

/// What the embedded DNS server asks of berth: names as one container sees
/// them (scoped to the networks it shares with others).
pub trait NameLookup: Send + Sync + 'static {
    /// Addresses `name` (a container name, network alias, short id or
    /// hostname; case-insensitive) has for `asker`: on each network both
    /// share, the other's address there. `None`: not a name berth knows
    /// for this asker, so the query is forwarded.
    fn resolve(&self, asker: &ContainerId, name: &str) -> Option<Vec<IpAddr>>;
    /// The name of the container holding `ip` on a network `asker` is on.
    fn reverse(&self, asker: &ContainerId, ip: IpAddr) -> Option<String>;
}

/// Where the embedded DNS server sends names berth does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsUpstreams {
    /// The host's resolvers, queried from the host's namespace (loopback
    /// ones included: the query leaves from the host).
    Host(Vec<IpAddr>),
    /// `--dns` servers, queried from the container's namespace.
    Container(Vec<IpAddr>),
    /// Never forward (`--internal` networks without `--dns`).
    None,
}

/// The embedded DNS server, one listener pair per sandbox on 127.0.0.11:53.
pub trait SandboxDns: Send + Sync + 'static {
    /// Starts answering inside the sandbox mounted at `netns`, as `asker`.
    fn serve(
        &self,
        asker: &ContainerId,
        netns: &Path,
        upstreams: DnsUpstreams,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Stops the sandbox's server (no-op if none runs).
    fn stop(&self, asker: &ContainerId) -> impl Future<Output = ()> + Send;
}
