//! The embedded DNS server's adapter: core's `SandboxDns` over berth-dns,
//! with listeners and `--dns` upstream sockets made inside each sandbox's
//! namespace by berth-netlink's namespace thread.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use berth_core::ports::{DnsUpstreams, NameLookup, PortError, SandboxDns};
use berth_dns::{Resolver, SandboxServer, SocketFuture, SocketKind, UpstreamConnector, Upstreams};
use berth_types::ContainerId;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// Docker's embedded resolver address.
const LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)), 53);

#[derive(Default)]
pub struct EmbeddedDns {
    /// Set once the engine's name index exists (it is made with the engine).
    resolver: OnceLock<Resolver>,
    servers: Mutex<HashMap<ContainerId, SandboxServer>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the embedded DNS server is not ready (no name index yet)")]
struct NotReady;

impl EmbeddedDns {
    /// Connects the resolver to the engine's names.
    pub fn attach(&self, names: Arc<dyn NameLookup>) {
        let _ = self
            .resolver
            .set(Resolver::new(names, berth_dns::Config::default()));
    }
}

/// Makes `--dns` upstream sockets inside the container's namespace.
struct InSandbox {
    netns: PathBuf,
}

impl UpstreamConnector for InSandbox {
    fn socket(&self, server: SocketAddr, kind: SocketKind) -> SocketFuture<'_> {
        let netns = self.netns.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                berth_netlink::run_in_netns(&netns, || {
                    let family = if server.is_ipv4() {
                        AddressFamily::Inet
                    } else {
                        AddressFamily::Inet6
                    };
                    let kind = match kind {
                        SocketKind::Udp => SockType::Datagram,
                        SocketKind::Tcp => SockType::Stream,
                    };
                    socket(family, kind, SockFlag::SOCK_CLOEXEC, None).map_err(std::io::Error::from)
                })
                .map_err(std::io::Error::other)
            })
            .await
            .map_err(std::io::Error::other)?
        })
    }
}

fn with_port(servers: &[IpAddr]) -> Vec<SocketAddr> {
    servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect()
}

fn bind_in(netns: &Path) -> Result<(UdpSocket, TcpListener), PortError> {
    berth_netlink::run_in_netns(netns, || {
        Ok((UdpSocket::bind(LISTEN)?, TcpListener::bind(LISTEN)?))
    })
    .map_err(|e| -> PortError { Box::new(e) })
}

impl SandboxDns for EmbeddedDns {
    async fn serve(
        &self,
        asker: &ContainerId,
        netns: &Path,
        upstreams: DnsUpstreams,
    ) -> Result<(), PortError> {
        let resolver = self
            .resolver
            .get()
            .ok_or_else(|| -> PortError { Box::new(NotReady) })?;
        let upstreams = match upstreams {
            DnsUpstreams::Host(servers) => Upstreams::Host(with_port(&servers)),
            DnsUpstreams::Container(servers) => Upstreams::Container {
                servers: with_port(&servers),
                connect: Arc::new(InSandbox {
                    netns: netns.to_path_buf(),
                }),
            },
            DnsUpstreams::None => Upstreams::None,
        };
        // A server already there (a restart) holds 127.0.0.11:53: stop it first.
        self.stop(asker).await;
        let netns = netns.to_path_buf();
        let (udp, tcp) = tokio::task::spawn_blocking(move || bind_in(&netns))
            .await
            .map_err(|e| -> PortError { Box::new(e) })??;
        let server = resolver.serve_sandbox(asker.clone(), udp, tcp, upstreams)?;
        self.servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(asker.clone(), server);
        Ok(())
    }

    async fn stop(&self, asker: &ContainerId) {
        let server = self
            .servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(asker);
        if let Some(server) = server {
            server.stop().await;
        }
    }
}
