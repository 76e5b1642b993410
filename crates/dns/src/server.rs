//! Serving one sandbox's sockets on the daemon's runtime: UDP receive
//! tasks that answer berth names inline and hand forwards to tasks of their
//! own, and a TCP acceptor with one task per connection.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use berth_core::ports::NameLookup;
use berth_types::ContainerId;
use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;
use tracing::{debug, info, warn, Instrument};

use crate::answer::{Answerer, Outcome, Scratch};
use crate::error::Error;
use crate::forward::{Forwarder, Upstreams};
use crate::throttle::LogThrottle;
use crate::wire::{self, Transport, MAX_UDP_PAYLOAD};

/// Tunables; the defaults follow Docker where it has a number.
#[derive(Clone, Debug)]
pub struct Config {
    /// TTL of berth's own answers (Docker's `respTTL`, 600 s).
    pub ttl: u32,
    /// How long one upstream server gets (UDP and any TCP retry) before
    /// the next is tried.
    pub upstream_timeout: Duration,
    /// Bound on all attempts for one query: SERVFAIL comes by then, before
    /// glibc's 5 s resend.
    pub forward_deadline: Duration,
    /// Forwarded queries in flight per sandbox; more get REFUSED at once
    /// (Docker's `maxConcurrent` 1024, after which it answers REFUSED).
    pub max_forwards: usize,
    /// TCP connections per sandbox; more are closed at once.
    pub max_tcp_connections: usize,
    /// A TCP connection that brings no complete query for this long is
    /// closed (miekg/dns's idle timeout, 8 s).
    pub tcp_idle_timeout: Duration,
    /// Tasks receiving on each sandbox's UDP socket: more than one lets a
    /// single busy sandbox use more than one core.
    pub udp_workers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ttl: 600,
            upstream_timeout: Duration::from_millis(1500),
            forward_deadline: Duration::from_secs(4),
            max_forwards: 1024,
            max_tcp_connections: 128,
            tcp_idle_timeout: Duration::from_secs(8),
            udp_workers: 2,
        }
    }
}

/// The embedded DNS server: one per daemon, serving every sandbox.
pub struct Resolver {
    answerer: Arc<Answerer>,
    config: Config,
}

impl Resolver {
    pub fn new(lookup: Arc<dyn NameLookup>, config: Config) -> Self {
        Self {
            answerer: Arc::new(Answerer::new(lookup, config.ttl)),
            config,
        }
    }

    /// Serves DNS for the container `asker` on `udp` and `tcp`, which the
    /// caller bound to 127.0.0.11:53 inside the container's network
    /// namespace (sockets keep the namespace they were made in, so nothing
    /// here enters one). Must be called within a tokio runtime; the tasks
    /// run on it until the returned handle is stopped or dropped.
    pub fn serve_sandbox(
        &self,
        asker: ContainerId,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        upstreams: Upstreams,
    ) -> Result<SandboxServer, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime {
            asker: asker.clone(),
        })?;
        let socket_error = |what: &'static str| {
            let asker = asker.clone();
            move |source| Error::Socket {
                asker,
                what,
                source,
            }
        };
        udp.set_nonblocking(true)
            .map_err(socket_error("UDP socket"))?;
        tcp.set_nonblocking(true)
            .map_err(socket_error("TCP listener"))?;
        let udp_addr = udp.local_addr().map_err(socket_error("UDP socket"))?;
        let udp = Arc::new(UdpSocket::from_std(udp).map_err(socket_error("UDP socket"))?);
        let tcp = TcpListener::from_std(tcp).map_err(socket_error("TCP listener"))?;

        let sandbox = Arc::new(Sandbox {
            asker: asker.clone(),
            answerer: self.answerer.clone(),
            forwarder: Forwarder::new(
                upstreams,
                self.config.upstream_timeout,
                self.config.forward_deadline,
            ),
            // Clamped: tokio panics above its maximum.
            forwards: Arc::new(Semaphore::new(
                self.config.max_forwards.min(Semaphore::MAX_PERMITS),
            )),
            refusals: LogThrottle::new(Duration::from_secs(2)),
            rotation: AtomicUsize::new(0),
            config: self.config.clone(),
        });
        let (shutdown, stopping) = watch::channel(());
        let span = tracing::debug_span!("dns", container = %asker.short());
        let mut tasks = Vec::new();
        for _ in 0..self.config.udp_workers.max(1) {
            let worker = serve_udp(sandbox.clone(), udp.clone(), stopping.clone());
            tasks.push(runtime.spawn(worker.instrument(span.clone())));
        }
        tasks.push(runtime.spawn(serve_tcp(sandbox.clone(), tcp, stopping).instrument(span)));
        info!(container = %asker.short(), address = %udp_addr, forwarding = sandbox.forwarder.is_some(), "serving DNS");
        Ok(SandboxServer {
            asker,
            shutdown: Some(shutdown),
            tasks,
        })
    }
}

/// A sandbox being served. Dropping it ends its tasks (in the background);
/// [`SandboxServer::stop`] also waits for them.
pub struct SandboxServer {
    asker: ContainerId,
    shutdown: Option<watch::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl SandboxServer {
    /// Ends the sandbox's tasks, in-flight forwards and TCP connections,
    /// and returns once they are gone and the sockets closed, so the
    /// namespace's 127.0.0.11:53 can be bound again.
    pub async fn stop(mut self) {
        // Workers see the closed channel and shut down what they own.
        self.shutdown.take();
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                warn!(container = %self.asker.short(), error = %e, "DNS task ended abnormally");
            }
        }
        debug!(container = %self.asker.short(), "stopped serving DNS");
    }
}

impl Drop for SandboxServer {
    fn drop(&mut self) {
        // Closing the channel is enough: each task notices at its next
        // poll and drops its children and its socket.
        self.shutdown.take();
    }
}

/// What a sandbox's tasks share.
struct Sandbox {
    asker: ContainerId,
    answerer: Arc<Answerer>,
    forwarder: Option<Forwarder>,
    forwards: Arc<Semaphore>,
    refusals: LogThrottle,
    rotation: AtomicUsize,
    config: Config,
}

impl Sandbox {
    fn answer(&self, msg: &[u8], transport: Transport, scratch: &mut Scratch) -> Outcome {
        self.answerer.answer(
            &self.asker,
            msg,
            transport,
            &self.rotation,
            self.forwarder.is_some(),
            scratch,
        )
    }

    /// A slot for forwarding `msg`, held until the forward ends; when
    /// none is free, REFUSED is written into `scratch` instead.
    fn forward_slot(
        &self,
        msg: &[u8],
        transport: Transport,
        scratch: &mut Scratch,
    ) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.forwards.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.refusals.allow() {
            warn!(
                limit = self.config.max_forwards,
                "too many DNS queries being forwarded; refusing more"
            );
        }
        if let Ok(request) = wire::parse_request(msg) {
            let limit = request.reply_limit(transport);
            if wire::write_rcode(&mut scratch.out, &request, limit, ResponseCode::Refused).is_err()
            {
                scratch.out.clear();
            }
        }
        None
    }

    async fn forward(&self, msg: &[u8], transport: Transport) -> Option<Vec<u8>> {
        self.forwarder.as_ref()?.forward(msg, transport).await
    }
}

async fn serve_udp(
    sandbox: Arc<Sandbox>,
    socket: Arc<UdpSocket>,
    mut stopping: watch::Receiver<()>,
) {
    // Longer queries are cut by the receive and then fail to parse.
    let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
    let mut scratch = Scratch::default();
    let mut forwards = JoinSet::new();
    loop {
        let received = tokio::select! {
            // Polled first so that a flood of queries cannot delay a stop.
            biased;
            _ = stopping.changed() => break,
            Some(_) = forwards.join_next(), if !forwards.is_empty() => continue,
            received = socket.recv_from(&mut buf) => received,
        };
        let (len, peer) = match received {
            Ok(received) => received,
            Err(e) => {
                debug!(error = %e, "DNS UDP receive failed");
                // Errors that persist (a closed socket) must not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let msg = &buf[..len];
        match sandbox.answer(msg, Transport::Udp, &mut scratch) {
            Outcome::Reply => send(&socket, &scratch.out, peer).await,
            Outcome::Drop => {}
            Outcome::Forward => {
                let Some(slot) = sandbox.forward_slot(msg, Transport::Udp, &mut scratch) else {
                    send(&socket, &scratch.out, peer).await;
                    continue;
                };
                let sandbox = sandbox.clone();
                let socket = socket.clone();
                let query = msg.to_vec();
                forwards.spawn(async move {
                    let _slot = slot;
                    if let Some(reply) = sandbox.forward(&query, Transport::Udp).await {
                        send(&socket, &reply, peer).await;
                    }
                });
            }
        }
    }
    forwards.shutdown().await;
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if reply.is_empty() {
        return;
    }
    if let Err(e) = socket.send_to(reply, peer).await {
        debug!(%peer, error = %e, "cannot send DNS reply");
    }
}

async fn serve_tcp(
    sandbox: Arc<Sandbox>,
    listener: TcpListener,
    mut stopping: watch::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stopping.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() < sandbox.config.max_tcp_connections => {
                    connections.spawn(serve_connection(sandbox.clone(), stream));
                }
                Ok((_, peer)) => debug!(%peer, "too many DNS TCP connections; closing a new one"),
                Err(e) => {
                    // Out of file descriptors and the like: back off
                    // rather than spin on a listener that stays ready.
                    warn!(error = %e, "cannot accept a DNS TCP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

/// Length-prefixed queries (RFC 1035 4.2.2), several per connection,
/// answered in order.
async fn serve_connection(sandbox: Arc<Sandbox>, mut stream: TcpStream) {
    let idle = sandbox.config.tcp_idle_timeout;
    let mut scratch = Scratch::default();
    let mut msg = Vec::new();
    let mut framed = Vec::new();
    loop {
        // End of stream, an error or silence all end the connection.
        let Ok(Ok(len)) = timeout(idle, stream.read_u16()).await else {
            return;
        };
        msg.resize(usize::from(len), 0);
        let Ok(Ok(_)) = timeout(idle, stream.read_exact(&mut msg)).await else {
            return;
        };
        let forwarded;
        let reply: &[u8] = match sandbox.answer(&msg, Transport::Tcp, &mut scratch) {
            Outcome::Reply => &scratch.out,
            Outcome::Drop => continue,
            Outcome::Forward => match sandbox.forward_slot(&msg, Transport::Tcp, &mut scratch) {
                Some(_slot) => {
                    forwarded = sandbox.forward(&msg, Transport::Tcp).await;
                    match &forwarded {
                        Some(reply) => reply,
                        None => continue,
                    }
                }
                None => &scratch.out,
            },
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            continue;
        };
        if len == 0 {
            continue;
        }
        framed.clear();
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(reply);
        let Ok(Ok(())) = timeout(idle, stream.write_all(&framed)).await else {
            return;
        };
    }
}
