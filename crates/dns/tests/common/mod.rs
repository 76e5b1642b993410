//! Shared by the server tests: a fake `NameLookup`, a fake upstream DNS
//! server of our own, and a small client. Everything stays on 127.0.0.1.
#![allow(dead_code)] // each test binary uses its own part of this

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_core::ports::NameLookup;
use berth_dns::{Resolver, SandboxServer, Upstreams};
use berth_types::ContainerId;
use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

pub fn container(n: u8) -> ContainerId {
    ContainerId::from_bytes([n; 32])
}

/// Per-asker names, like berth's index: `web` (container 1) sees `db`.
#[derive(Default)]
pub struct FakeLookup {
    names: HashMap<(ContainerId, String), Vec<IpAddr>>,
    reverse: HashMap<(ContainerId, IpAddr), String>,
}

impl FakeLookup {
    pub fn with(mut self, asker: &ContainerId, name: &str, ips: &[&str]) -> Self {
        let ips: Vec<IpAddr> = ips.iter().map(|s| s.parse().unwrap()).collect();
        for ip in &ips {
            self.reverse
                .entry((asker.clone(), *ip))
                .or_insert_with(|| name.to_owned());
        }
        self.names.insert((asker.clone(), name.to_lowercase()), ips);
        self
    }
}

impl NameLookup for FakeLookup {
    fn resolve(&self, asker: &ContainerId, name: &str) -> Option<Vec<IpAddr>> {
        self.names
            .get(&(asker.clone(), name.to_lowercase()))
            .cloned()
    }
    fn reverse(&self, asker: &ContainerId, ip: IpAddr) -> Option<String> {
        self.reverse.get(&(asker.clone(), ip)).cloned()
    }
}

pub fn lookup() -> Arc<FakeLookup> {
    Arc::new(
        FakeLookup::default()
            .with(&container(1), "db", &["172.18.0.2", "fd00::2"])
            .with(&container(1), "web", &["172.18.0.3"])
            .with(&container(2), "cache", &["172.19.0.2"]),
    )
}

/// A sandbox served on an ephemeral loopback port, UDP and TCP alike as on
/// 127.0.0.11:53.
pub struct Served {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub server: SandboxServer,
}

pub fn serve(resolver: &Resolver, asker: ContainerId, upstreams: Upstreams) -> Served {
    let (udp, tcp) = (0..100)
        .find_map(|_| {
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let tcp = std::net::TcpListener::bind(udp.local_addr().unwrap()).ok()?;
            Some((udp, tcp))
        })
        .expect("no free UDP+TCP port pair on 127.0.0.1");
    let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let server = resolver.serve_sandbox(asker, udp, tcp, upstreams).unwrap();
    Served {
        udp: udp_addr,
        tcp: tcp_addr,
        server,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Serves `example.test` (A, AAAA), `big.example.test` (TXT, too long
    /// for 512 bytes: truncated over UDP whatever the EDNS size, like a
    /// server without EDNS) and `fail.example.test` (SERVFAIL); others
    /// NXDOMAIN.
    Normal,
    /// SERVFAIL for everything.
    Failing,
}

/// Our own upstream DNS server on 127.0.0.1, UDP and TCP on one port.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub udp_queries: Arc<AtomicUsize>,
    pub tcp_queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub const EXAMPLE_V4: &str = "192.0.2.10";
pub const BIG_RECORDS: usize = 40;

impl FakeUpstream {
    pub async fn start(behaviour: Behaviour) -> Self {
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().unwrap();
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let udp = Arc::new(udp);
        let counter = udp_queries.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = upstream_reply(&buf[..n], behaviour, true) {
                    let _ = udp.send_to(&reply, peer).await;
                }
            }
        });
        let counter = tcp_queries.clone();
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = tcp.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    while let Ok(len) = stream.read_u16().await {
                        let mut msg = vec![0u8; usize::from(len)];
                        if stream.read_exact(&mut msg).await.is_err() {
                            return;
                        }
                        counter.fetch_add(1, Ordering::SeqCst);
                        if let Some(reply) = upstream_reply(&msg, behaviour, false) {
                            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                            framed.extend_from_slice(&reply);
                            let _ = stream.write_all(&framed).await;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            udp_queries,
            tcp_queries,
            tasks: vec![udp_task, tcp_task],
        }
    }
}

async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no free UDP+TCP port pair on 127.0.0.1");
}

fn upstream_reply(msg: &[u8], behaviour: Behaviour, udp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(msg).ok()?;
    let q = query.queries.first()?.clone();
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(q.clone());
    let name = q.name().to_lowercase().to_ascii();
    if behaviour == Behaviour::Failing {
        reply.metadata.response_code = ResponseCode::ServFail;
        return reply.to_vec().ok();
    }
    match (name.as_str(), q.query_type()) {
        ("example.test.", RecordType::A) => {
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A(EXAMPLE_V4.parse().unwrap())),
            ));
        }
        ("example.test.", RecordType::AAAA) => {
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::AAAA(AAAA("2001:db8::10".parse().unwrap())),
            ));
        }
        ("big.example.test.", RecordType::TXT) => {
            if udp {
                reply.metadata.truncation = true;
            } else {
                for i in 0..BIG_RECORDS {
                    let text = format!("{i:02}-{}", "x".repeat(50));
                    reply.add_answer(Record::from_rdata(
                        q.name().clone(),
                        60,
                        RData::TXT(TXT::new(vec![text])),
                    ));
                }
            }
        }
        ("fail.example.test.", _) => reply.metadata.response_code = ResponseCode::ServFail,
        _ => reply.metadata.response_code = ResponseCode::NXDomain,
    }
    reply.to_vec().ok()
}

/// A UDP port that answers nothing and sends no ICMP: queries to it time out.
pub struct Blackhole {
    pub addr: SocketAddr,
    _udp: UdpSocket,
    _tcp: TcpListener,
}

pub async fn blackhole() -> Blackhole {
    let (udp, tcp) = bind_pair().await;
    Blackhole {
        addr: udp.local_addr().unwrap(),
        _udp: udp,
        _tcp: tcp,
    }
}

/// A port nobody listens on: UDP gets "port unreachable", TCP a reset.
pub async fn dead_addr() -> SocketAddr {
    let (udp, tcp) = bind_pair().await;
    let addr = udp.local_addr().unwrap();
    drop((udp, tcp));
    addr
}

pub fn query(id: u16, name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut msg = Message::query();
    msg.metadata.id = id;
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(payload) = edns {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        msg.set_edns(e);
    }
    msg.to_vec().unwrap()
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn udp_exchange(server: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(msg, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(CLIENT_TIMEOUT, socket.recv(&mut buf))
        .await
        .expect("no UDP reply in time")
        .unwrap();
    buf.truncate(n);
    buf
}

pub async fn udp_query(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let reply = udp_exchange(server, &query(0x4242, name, qtype, None)).await;
    let msg = Message::from_vec(&reply).unwrap();
    assert_eq!(msg.metadata.id, 0x4242);
    assert_eq!(msg.metadata.message_type, MessageType::Response);
    msg
}

pub async fn tcp_send(stream: &mut TcpStream, msg: &[u8]) {
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    stream.write_all(&framed).await.unwrap();
}

pub async fn tcp_recv(stream: &mut TcpStream) -> Message {
    let read = async {
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    };
    let buf = tokio::time::timeout(CLIENT_TIMEOUT, read)
        .await
        .expect("no TCP reply in time");
    Message::from_vec(&buf).unwrap()
}

pub fn ips(msg: &Message) -> Vec<IpAddr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}
