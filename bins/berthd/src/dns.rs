//! The embedded DNS server's adapter: core's `SandboxDns` over berth-dns,
//! with listeners and `--dns` upstream sockets made inside each sandbox's
//! namespace: the listeners with the namespace when berth-netlink's pool
//! made it, else (and the upstream sockets always) by berth-netlink's
//! namespace thread.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use berth_core::ports::{DnsUpstreams, NameLookup, PortError, SandboxDns};
use berth_dns::{Resolver, SandboxServer, SocketFuture, SocketKind, UpstreamConnector, Upstreams};
use berth_netlink::{DnsSockets, Netlink};
use berth_types::ContainerId;
use nix::sys::socket::{
    bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrIn,
};

/// Docker's embedded resolver address.
const LISTEN_V4: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 11), 53);
const LISTEN: SocketAddr = SocketAddr::V4(LISTEN_V4);
/// The TCP listener's backlog, as `TcpListener::bind` sets it.
const TCP_BACKLOG: i32 = 128;

pub struct EmbeddedDns {
    /// Set once the engine's name index exists (it is made with the engine).
    resolver: OnceLock<Resolver>,
    servers: Mutex<HashMap<ContainerId, SandboxServer>>,
    /// Where sockets made with a pooled namespace come from.
    net: Netlink,
}

#[derive(Debug, thiserror::Error)]
#[error("the embedded DNS server is not ready (no name index yet)")]
struct NotReady;

#[derive(Debug, thiserror::Error)]
#[error("listening on {LISTEN} in the sandbox {}", netns.display())]
struct Listen {
    netns: PathBuf,
    #[source]
    source: std::io::Error,
}

impl EmbeddedDns {
    pub fn new(net: Netlink) -> EmbeddedDns {
        EmbeddedDns {
            resolver: OnceLock::new(),
            servers: Mutex::default(),
            net,
        }
    }

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

/// Binds sockets made inside a sandbox to the resolver's address there
/// (`TcpListener::bind`'s steps): no thread has to enter the sandbox.
fn listen_on(sockets: DnsSockets) -> std::io::Result<(UdpSocket, TcpListener)> {
    let address = SockaddrIn::from(LISTEN_V4);
    bind(sockets.udp.as_raw_fd(), &address)?;
    setsockopt(&sockets.tcp, sockopt::ReuseAddr, &true)?;
    bind(sockets.tcp.as_raw_fd(), &address)?;
    listen(&sockets.tcp, Backlog::new(TCP_BACKLOG)?)?;
    Ok((UdpSocket::from(sockets.udp), TcpListener::from(sockets.tcp)))
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
        let (udp, tcp) = match self.net.take_dns_sockets(netns) {
            Some(sockets) => listen_on(sockets).map_err(|source| Listen {
                netns: netns.to_path_buf(),
                source,
            })?,
            None => {
                let netns = netns.to_path_buf();
                tokio::task::spawn_blocking(move || bind_in(&netns))
                    .await
                    .map_err(|e| -> PortError { Box::new(e) })??
            }
        };
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
