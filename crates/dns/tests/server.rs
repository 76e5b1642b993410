//! The resolver serving real sockets on 127.0.0.1, with upstream DNS
//! servers of the tests' own.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_dns::{Config, Resolver, SocketFuture, SocketKind, UpstreamConnector, Upstreams};
use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};

fn resolver() -> Resolver {
    Resolver::new(lookup(), Config::default())
}

fn quick() -> Config {
    Config {
        upstream_timeout: Duration::from_millis(300),
        forward_deadline: Duration::from_millis(1000),
        ..Config::default()
    }
}

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn answers_berth_names_over_udp_and_tcp() {
    let resolver = resolver();
    let served = serve(&resolver, container(1), Upstreams::None);

    let reply = udp_query(served.udp, "DB", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ips(&reply), vec![v4("172.18.0.2")]);
    assert_eq!(reply.answers[0].ttl, 600);
    let reply = udp_query(served.udp, "db.", RecordType::AAAA).await;
    assert_eq!(ips(&reply), vec!["fd00::2".parse::<IpAddr>().unwrap()]);
    // Known name, other family: empty NOERROR, not forwarded (no upstream
    // here would have made it SERVFAIL).
    let reply = udp_query(served.udp, "web", RecordType::AAAA).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    // Another container's name is not ours to see.
    let reply = udp_query(served.udp, "cache", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

    // Several queries on one TCP connection, answered in order.
    let mut stream = TcpStream::connect(served.tcp).await.unwrap();
    for (id, name) in [(1u16, "db"), (2, "web"), (3, "db")] {
        tcp_send(&mut stream, &query(id, name, RecordType::A, None)).await;
        let reply = tcp_recv(&mut stream).await;
        assert_eq!(reply.metadata.id, id);
        assert_eq!(ips(&reply).len(), 1);
    }
    let reply = {
        tcp_send(
            &mut stream,
            &query(9, "3.0.18.172.in-addr.arpa", RecordType::PTR, None),
        )
        .await;
        tcp_recv(&mut stream).await
    };
    match &reply.answers[0].data {
        RData::PTR(ptr) => assert_eq!(ptr.0.to_ascii(), "web."),
        other => panic!("unexpected {other:?}"),
    }
    served.server.stop().await;
}

#[tokio::test]
async fn forwards_other_names_and_keeps_the_query_id() {
    let upstream = FakeUpstream::start(Behaviour::Normal).await;
    let resolver = resolver();
    let served = serve(
        &resolver,
        container(1),
        Upstreams::Host(vec![upstream.addr]),
    );

    let raw = udp_exchange(
        served.udp,
        &query(0xabcd, "Example.Test", RecordType::A, Some(1232)),
    )
    .await;
    let reply = Message::from_vec(&raw).unwrap();
    assert_eq!(reply.metadata.id, 0xabcd);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ips(&reply), vec![v4(EXAMPLE_V4)]);
    assert_eq!(upstream.udp_queries.load(Ordering::SeqCst), 1);

    let reply = udp_query(served.udp, "nothing.example.test", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);

    // TCP clients are forwarded over TCP.
    let mut stream = TcpStream::connect(served.tcp).await.unwrap();
    tcp_send(
        &mut stream,
        &query(0x77, "example.test", RecordType::AAAA, None),
    )
    .await;
    let reply = tcp_recv(&mut stream).await;
    assert_eq!(reply.metadata.id, 0x77);
    assert_eq!(ips(&reply), vec!["2001:db8::10".parse::<IpAddr>().unwrap()]);
    assert_eq!(upstream.tcp_queries.load(Ordering::SeqCst), 1);

    // Berth's own names never leave.
    let before = upstream.udp_queries.load(Ordering::SeqCst);
    udp_query(served.udp, "db", RecordType::A).await;
    udp_query(served.udp, "db", RecordType::MX).await;
    assert_eq!(upstream.udp_queries.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn fails_over_from_a_dead_or_failing_first_upstream() {
    let good = FakeUpstream::start(Behaviour::Normal).await;
    let failing = FakeUpstream::start(Behaviour::Failing).await;
    let dead = dead_addr().await;
    let resolver = Resolver::new(lookup(), quick());

    let served = serve(
        &resolver,
        container(1),
        Upstreams::Host(vec![dead, good.addr]),
    );
    let started = Instant::now();
    let reply = udp_query(served.udp, "example.test", RecordType::A).await;
    assert_eq!(ips(&reply), vec![v4(EXAMPLE_V4)]);
    // Port unreachable fails the first at once, without waiting out its
    // 300 ms (the bound is loose for loaded CI machines).
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );

    let served = serve(
        &resolver,
        container(1),
        Upstreams::Host(vec![failing.addr, good.addr]),
    );
    let reply = udp_query(served.udp, "example.test", RecordType::A).await;
    assert_eq!(ips(&reply), vec![v4(EXAMPLE_V4)]);
    assert_eq!(failing.udp_queries.load(Ordering::SeqCst), 1);

    // An upstream's SERVFAIL after all others failed too is SERVFAIL.
    let reply = udp_query(served.udp, "fail.example.test", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

    // Past the third, upstreams are ignored.
    let served = serve(
        &resolver,
        container(1),
        Upstreams::Host(vec![dead, dead, dead, good.addr]),
    );
    let reply = udp_query(served.udp, "example.test", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn servfail_within_a_few_seconds_when_no_upstream_answers() {
    let holes = [blackhole().await, blackhole().await, blackhole().await];
    let resolver = resolver(); // default timeouts
    let served = serve(
        &resolver,
        container(1),
        Upstreams::Host(holes.iter().map(|h| h.addr).collect()),
    );
    let started = Instant::now();
    let reply = udp_query(served.udp, "example.test", RecordType::A).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(reply.metadata.id, 0x4242);
    assert!(
        elapsed >= Duration::from_millis(1400),
        "gave up too early: {elapsed:?}"
    );
    assert!(
        elapsed <= Duration::from_millis(4800),
        "too slow: {elapsed:?}"
    );

    // All refused: SERVFAIL at once.
    let dead = vec![dead_addr().await, dead_addr().await];
    let served = serve(&resolver, container(1), Upstreams::Host(dead));
    let started = Instant::now();
    let reply = udp_query(served.udp, "example.test", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn truncated_upstream_answers_are_retried_over_tcp() {
    let upstream = FakeUpstream::start(Behaviour::Normal).await;
    let resolver = resolver();
    let served = serve(
        &resolver,
        container(1),
        Upstreams::Host(vec![upstream.addr]),
    );

    // The client takes 4096 bytes: it gets the whole answer over UDP.
    let raw = udp_exchange(
        served.udp,
        &query(5, "big.example.test", RecordType::TXT, Some(4096)),
    )
    .await;
    let reply = Message::from_vec(&raw).unwrap();
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), BIG_RECORDS);
    assert!(raw.len() > 512);
    assert_eq!(upstream.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(upstream.tcp_queries.load(Ordering::SeqCst), 1);

    // A client without EDNS gets TC and comes back over TCP.
    let raw = udp_exchange(
        served.udp,
        &query(6, "big.example.test", RecordType::TXT, None),
    )
    .await;
    assert!(raw.len() <= 512);
    let reply = Message::from_vec(&raw).unwrap();
    assert_eq!(reply.metadata.id, 6);
    assert!(reply.metadata.truncation);
    assert!(reply.answers.is_empty());
    let mut stream = TcpStream::connect(served.tcp).await.unwrap();
    tcp_send(
        &mut stream,
        &query(7, "big.example.test", RecordType::TXT, None),
    )
    .await;
    let reply = tcp_recv(&mut stream).await;
    assert_eq!(reply.metadata.id, 7);
    assert_eq!(reply.answers.len(), BIG_RECORDS);
}

/// Makes sockets in this process's namespace, as the daemon's netns
/// thread does in a container's, and counts them.
#[derive(Default)]
struct CountingConnector {
    udp: AtomicUsize,
    tcp: AtomicUsize,
}

impl UpstreamConnector for CountingConnector {
    fn socket(&self, server: SocketAddr, kind: SocketKind) -> SocketFuture<'_> {
        Box::pin(async move {
            let (ty, counter) = match kind {
                SocketKind::Udp => (socket2::Type::DGRAM, &self.udp),
                SocketKind::Tcp => (socket2::Type::STREAM, &self.tcp),
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let socket = socket2::Socket::new(socket2::Domain::for_address(server), ty, None)?;
            Ok(OwnedFd::from(socket))
        })
    }
}

#[tokio::test]
async fn container_upstreams_are_reached_through_the_connector() {
    let upstream = FakeUpstream::start(Behaviour::Normal).await;
    let connector = Arc::new(CountingConnector::default());
    let resolver = resolver();
    let own = "127.0.0.11:53".parse().unwrap();
    let served = serve(
        &resolver,
        container(1),
        Upstreams::Container {
            servers: vec![own, upstream.addr],
            connect: connector.clone(),
        },
    );
    let reply = udp_query(served.udp, "example.test", RecordType::A).await;
    assert_eq!(ips(&reply), vec![v4(EXAMPLE_V4)]);
    // 127.0.0.11 (ourselves) was skipped, not tried.
    assert_eq!(connector.udp.load(Ordering::SeqCst), 1);

    let raw = udp_exchange(
        served.udp,
        &query(5, "big.example.test", RecordType::TXT, Some(4096)),
    )
    .await;
    assert_eq!(Message::from_vec(&raw).unwrap().answers.len(), BIG_RECORDS);
    assert_eq!(connector.tcp.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn internal_networks_never_forward() {
    let resolver = resolver();
    let served = serve(&resolver, container(1), Upstreams::None);
    let reply = udp_query(served.udp, "example.test", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        ips(&udp_query(served.udp, "db", RecordType::A).await),
        vec![v4("172.18.0.2")]
    );
}

#[tokio::test]
async fn forwards_in_flight_are_bounded() {
    let hole = blackhole().await;
    let resolver = Resolver::new(
        lookup(),
        Config {
            max_forwards: 2,
            upstream_timeout: Duration::from_secs(2),
            forward_deadline: Duration::from_secs(2),
            ..Config::default()
        },
    );
    let served = serve(&resolver, container(1), Upstreams::Host(vec![hole.addr]));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for id in 1..=3u16 {
        client
            .send_to(&query(id, "example.test", RecordType::A, None), served.udp)
            .await
            .unwrap();
    }
    // The third is refused at once; the first two wait for the upstream.
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_millis(1500), client.recv(&mut buf))
        .await
        .expect("excess query not refused at once")
        .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.metadata.id, 3);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    // Berth names are still answered meanwhile.
    assert_eq!(
        ips(&udp_query(served.udp, "db", RecordType::A).await).len(),
        1
    );
    for _ in 0..2 {
        let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            Message::from_vec(&buf[..n]).unwrap().metadata.response_code,
            ResponseCode::ServFail
        );
    }
}

#[tokio::test]
async fn malformed_input_never_stalls_the_server() {
    let resolver = resolver();
    let served = serve(&resolver, container(1), Upstreams::None);

    // A header and half a question: FORMERR with the id.
    let mut cut = query(0x1111, "db", RecordType::A, None);
    cut.truncate(15);
    let reply = Message::from_vec(&udp_exchange(served.udp, &cut).await).unwrap();
    assert_eq!(reply.metadata.id, 0x1111);
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);

    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let len = (next() % 600) as usize;
        let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        client.send_to(&garbage, served.udp).await.unwrap();
    }
    // TCP: garbage framed and unframed, a length with nothing behind it.
    for _ in 0..20 {
        let mut stream = TcpStream::connect(served.tcp).await.unwrap();
        let len = (next() % 300) as usize;
        let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        tcp_send(&mut stream, &garbage).await;
        drop(stream);
    }
    let mut half = TcpStream::connect(served.tcp).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut half, &[0x01])
        .await
        .unwrap();

    assert_eq!(
        ips(&udp_query(served.udp, "db", RecordType::A).await).len(),
        1
    );
    let mut stream = TcpStream::connect(served.tcp).await.unwrap();
    tcp_send(&mut stream, &query(1, "db", RecordType::A, None)).await;
    assert_eq!(ips(&tcp_recv(&mut stream).await).len(), 1);
}

#[tokio::test]
async fn idle_tcp_connections_are_closed() {
    let resolver = Resolver::new(
        lookup(),
        Config {
            tcp_idle_timeout: Duration::from_millis(200),
            ..Config::default()
        },
    );
    let served = serve(&resolver, container(1), Upstreams::None);
    let mut stream = TcpStream::connect(served.tcp).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "connection should be closed by the server");
}

#[tokio::test]
async fn stop_releases_the_sockets() {
    let resolver = resolver();
    let served = serve(&resolver, container(1), Upstreams::None);
    // A TCP connection held open must not keep the server alive.
    let _client = TcpStream::connect(served.tcp).await.unwrap();
    served.server.stop().await;
    std::net::UdpSocket::bind(served.udp).expect("UDP port still held after stop");
    std::net::TcpListener::bind(served.tcp).expect("TCP port still held after stop");
}

#[tokio::test]
async fn dropping_the_handle_stops_serving() {
    let resolver = resolver();
    let served = serve(&resolver, container(1), Upstreams::None);
    drop(served.server);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = vec![0u8; 512];
    let mut unanswered = false;
    // Give the tasks a moment to notice; after that nothing answers.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = client
            .send_to(&query(1, "db", RecordType::A, None), served.udp)
            .await;
        if tokio::time::timeout(Duration::from_millis(50), client.recv(&mut buf))
            .await
            .is_err()
        {
            unanswered = true;
            break;
        }
    }
    assert!(unanswered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once_are_all_answered() {
    let upstream = FakeUpstream::start(Behaviour::Normal).await;
    let resolver = resolver();
    let servers: Vec<_> = (0..20)
        .map(|_| {
            serve(
                &resolver,
                container(1),
                Upstreams::Host(vec![upstream.addr]),
            )
        })
        .collect();
    let mut clients = Vec::new();
    for (i, served) in servers.iter().enumerate() {
        let addr = served.udp;
        clients.push(tokio::spawn(async move {
            for j in 0..100u16 {
                let name = if j % 2 == 0 { "db" } else { "example.test" };
                let reply = udp_query(addr, name, RecordType::A).await;
                assert_eq!(ips(&reply).len(), 1, "client {i} query {j}");
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}
