//! Forwarding what berth does not know to the upstream servers, as Docker's
//! `forwardExtDNS` does (moby `daemon/libnetwork/resolver.go`): at most three
//! servers in order, the next one tried on a timeout, an error, SERVFAIL or
//! REFUSED; the client's query sent as is but for its id; SERVFAIL when none
//! answers. Unlike Docker, a truncated UDP reply is retried over TCP with the
//! same server (a server without EDNS truncates at 512 bytes although the
//! client may take more), and the time spent is bounded per server and
//! overall, so the client gets SERVFAIL within seconds instead of after 4 s
//! per server.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::{timeout, Instant};
use tracing::{debug, warn};

use crate::throttle::LogThrottle;
use crate::wire::{self, ReplyWriter, Transport, MAX_UDP_PAYLOAD};

/// Docker's `maxExtDNS`: servers past the third are ignored.
pub const MAX_UPSTREAMS: usize = 3;

/// The embedded resolver's own address: as an upstream inside a container
/// it would be this very server (Docker's `filterExtServers`).
const RESOLVER_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11));

/// Where a sandbox's queries for names berth does not know go.
pub enum Upstreams {
    /// The host's resolvers (from its `/etc/resolv.conf`), queried with
    /// sockets of the daemon's own network namespace, so loopback ones such
    /// as systemd-resolved's 127.0.0.53 work.
    Host(Vec<SocketAddr>),
    /// The container's `--dns` servers, queried from inside its network
    /// namespace with sockets `connect` makes there (Docker's
    /// `HostLoopback: false` entries).
    Container {
        servers: Vec<SocketAddr>,
        connect: Arc<dyn UpstreamConnector>,
    },
    /// Never forward: names berth does not know get SERVFAIL (what Docker
    /// answers on an `--internal` network without `--dns`).
    None,
}

/// The kind of socket [`UpstreamConnector::socket`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// `SOCK_DGRAM`.
    Udp,
    /// `SOCK_STREAM`.
    Tcp,
}

/// The future [`UpstreamConnector::socket`] returns.
pub type SocketFuture<'a> = Pin<Box<dyn Future<Output = io::Result<OwnedFd>> + Send + 'a>>;

/// Makes sockets inside one container's network namespace.
pub trait UpstreamConnector: Send + Sync + 'static {
    /// A new socket of `server`'s address family and of `kind`, created in
    /// the container's network namespace, neither bound nor connected (the
    /// resolver connects it from its own threads: a socket stays in the
    /// namespace it was made in). Close-on-exec; blocking or not does not
    /// matter.
    fn socket(&self, server: SocketAddr, kind: SocketKind) -> SocketFuture<'_>;
}

/// Where upstream sockets come from.
enum Source {
    /// The daemon's namespace: the resolver's tasks run on threads that
    /// never leave it.
    Host,
    Container(Arc<dyn UpstreamConnector>),
}

impl Source {
    async fn udp(&self, server: SocketAddr) -> io::Result<UdpSocket> {
        let socket = match self {
            Source::Host => UdpSocket::bind(unspecified(server)).await?,
            Source::Container(connect) => {
                let socket =
                    std::net::UdpSocket::from(connect.socket(server, SocketKind::Udp).await?);
                socket.set_nonblocking(true)?;
                UdpSocket::from_std(socket)?
            }
        };
        // Connected, so datagrams from anyone else are filtered out by the
        // kernel and an ICMP "port unreachable" fails the receive at once.
        socket.connect(server).await?;
        Ok(socket)
    }

    async fn tcp(&self, server: SocketAddr) -> io::Result<TcpStream> {
        match self {
            Source::Host => TcpStream::connect(server).await,
            Source::Container(connect) => {
                let stream =
                    std::net::TcpStream::from(connect.socket(server, SocketKind::Tcp).await?);
                stream.set_nonblocking(true)?;
                TcpSocket::from_std_stream(stream).connect(server).await
            }
        }
    }
}

fn unspecified(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("its TCP reply does not answer the query")]
    Mismatch,
}

/// A sandbox's upstream servers and how to reach them.
pub(crate) struct Forwarder {
    servers: Vec<SocketAddr>,
    source: Source,
    attempt_timeout: Duration,
    deadline: Duration,
    failures: LogThrottle,
}

impl Forwarder {
    /// `None` when there is nobody to forward to.
    pub(crate) fn new(
        upstreams: Upstreams,
        attempt_timeout: Duration,
        deadline: Duration,
    ) -> Option<Self> {
        let (mut servers, source) = match upstreams {
            Upstreams::None => return None,
            Upstreams::Host(servers) => (servers, Source::Host),
            Upstreams::Container {
                mut servers,
                connect,
            } => {
                servers.retain(|s| {
                    let own = s.ip() == RESOLVER_ADDRESS;
                    if own {
                        debug!(server = %s, "not using the embedded resolver's own address as an upstream");
                    }
                    !own
                });
                (servers, Source::Container(connect))
            }
        };
        if servers.len() > MAX_UPSTREAMS {
            warn!(ignored = ?&servers[MAX_UPSTREAMS..], "only the first {MAX_UPSTREAMS} upstream DNS servers are used");
            servers.truncate(MAX_UPSTREAMS);
        }
        if servers.is_empty() {
            return None;
        }
        Some(Self {
            servers,
            source,
            attempt_timeout,
            deadline,
            failures: LogThrottle::new(Duration::from_secs(2)),
        })
    }

    /// The reply for a client's `query` (already checked to parse): the
    /// first upstream reply that is neither SERVFAIL nor REFUSED, with the
    /// client's id, marked truncated if it is too long for the client's UDP
    /// limit; SERVFAIL when no server answered in time. `None` only if
    /// `query` does not parse after all.
    pub(crate) async fn forward(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let request = wire::parse_request(query).ok()?;
        let limit = request.reply_limit(transport);
        let client_id = request.metadata.id;
        let mut upstream_query = query.to_vec();
        let deadline = Instant::now() + self.deadline;
        for &server in &self.servers {
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                break;
            };
            // An id of our own per attempt, since the client's may be
            // predictable; the new socket brings a new source port too.
            let id = random_id().unwrap_or(client_id);
            wire::set_id(&mut upstream_query, id);
            let budget = self.attempt_timeout.min(left);
            let exchange = self.exchange(server, &upstream_query, id, request.question, transport);
            match timeout(budget, exchange).await {
                Err(_) => debug!(%server, ?budget, "upstream DNS server did not answer in time"),
                Ok(Err(e)) => debug!(%server, error = %e, "upstream DNS server failed"),
                Ok(Ok((_, rcode)))
                    if matches!(rcode, ResponseCode::ServFail | ResponseCode::Refused) =>
                {
                    // Possibly transient: Docker tries the next server too.
                    debug!(%server, %rcode, "upstream DNS server refused; trying the next");
                }
                Ok(Ok((mut reply, rcode))) => {
                    wire::set_id(&mut reply, client_id);
                    if reply.len() <= limit {
                        return Some(reply);
                    }
                    let mut out = Vec::new();
                    let mut writer = ReplyWriter::new(&mut out, &request, limit).ok()?;
                    writer.mark_truncated();
                    writer.finish(rcode).ok()?;
                    return Some(out);
                }
            }
        }
        if self.failures.allow() {
            warn!(servers = ?self.servers, "no upstream DNS server answered; replying SERVFAIL");
        }
        let mut out = Vec::new();
        wire::write_rcode(&mut out, &request, limit, ResponseCode::ServFail).ok()?;
        Some(out)
    }

    /// One server's reply: over UDP for UDP clients, then over TCP if that
    /// was truncated; over TCP for TCP clients (who typically come back
    /// after a truncated UDP answer).
    async fn exchange(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        question: &[u8],
        transport: Transport,
    ) -> Result<(Vec<u8>, ResponseCode), ExchangeError> {
        if transport == Transport::Udp {
            match self.exchange_udp(server, query, id, question).await? {
                Some(reply) => return Ok(reply),
                None => debug!(%server, "truncated UDP reply; asking again over TCP"),
            }
        }
        self.exchange_tcp(server, query, id, question).await
    }

    /// `None` for a truncated reply.
    async fn exchange_udp(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        question: &[u8],
    ) -> Result<Option<(Vec<u8>, ResponseCode)>, ExchangeError> {
        let socket = self.source.udp(server).await?;
        socket.send(query).await?;
        // One byte more than we take shows when a reply did not fit.
        let mut buf = vec![0u8; MAX_UDP_PAYLOAD + 1];
        loop {
            let n = socket.recv(&mut buf).await?;
            let Some(reply) = wire::check_upstream_reply(&buf[..n], id, question) else {
                debug!(%server, "ignoring a UDP datagram that does not answer the query");
                continue;
            };
            if reply.truncated || n > MAX_UDP_PAYLOAD {
                return Ok(None);
            }
            buf.truncate(n);
            return Ok(Some((buf, reply.rcode)));
        }
    }

    async fn exchange_tcp(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        question: &[u8],
    ) -> Result<(Vec<u8>, ResponseCode), ExchangeError> {
        let mut stream = self.source.tcp(server).await?;
        let len = u16::try_from(query.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "query longer than a DNS message",
            )
        })?;
        let mut framed = Vec::with_capacity(2 + query.len());
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream.write_all(&framed).await?;
        let len = stream.read_u16().await?;
        let mut reply = vec![0u8; usize::from(len)];
        stream.read_exact(&mut reply).await?;
        let checked =
            wire::check_upstream_reply(&reply, id, question).ok_or(ExchangeError::Mismatch)?;
        Ok((reply, checked.rcode))
    }
}

fn random_id() -> Option<u16> {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).ok()?;
    Some(u16::from_be_bytes(bytes))
}
