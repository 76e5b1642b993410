//! Load test of the embedded DNS server on loopback: berth names over UDP.
//!
//! `cargo run --release -p berth-dns --example dns_bench -- [--seconds 5]
//! [--clients 2] [--window 16] [--threads 2] [--workers 2] [--names 1000]
//! [--sandboxes 1]`
//!
//! The server runs on a tokio runtime of `--threads` workers; `--clients`
//! OS threads each keep `--window` queries outstanding on their own UDP
//! socket against one of `--sandboxes` servers, and record each query's
//! round trip. The lookup behind it is a read-locked hash map that clones
//! the address list per query, as berth-core's name index does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failure report

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use berth_core::ports::NameLookup;
use berth_dns::{Config, Resolver, Upstreams};
use berth_types::ContainerId;

struct MapLookup {
    names: RwLock<HashMap<String, Vec<IpAddr>>>,
}

impl NameLookup for MapLookup {
    fn resolve(&self, _asker: &ContainerId, name: &str) -> Option<Vec<IpAddr>> {
        self.names.read().unwrap().get(name).cloned()
    }
    fn reverse(&self, _asker: &ContainerId, _ip: IpAddr) -> Option<String> {
        None
    }
}

struct Args {
    seconds: u64,
    clients: usize,
    window: usize,
    threads: usize,
    workers: usize,
    names: usize,
    sandboxes: usize,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        clients: 2,
        window: 16,
        threads: 2,
        workers: Config::default().udp_workers,
        names: 1000,
        sandboxes: 1,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).expect("every option takes a value");
        let n: usize = value.parse().expect("values are numbers");
        match pair[0].as_str() {
            "--seconds" => a.seconds = n as u64,
            "--clients" => a.clients = n,
            "--window" => a.window = n,
            "--threads" => a.threads = n,
            "--workers" => a.workers = n,
            "--names" => a.names = n,
            "--sandboxes" => a.sandboxes = n,
            other => panic!("unknown option {other}"),
        }
    }
    a
}

/// A query for `name` (type A, RD set) with id 0, patched per send.
fn query(name: &str) -> Vec<u8> {
    let mut q = vec![0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

struct ClientResult {
    latencies_us: Vec<u32>,
    lost: usize,
    errors: usize,
}

fn client(
    server: SocketAddr,
    names: usize,
    window: usize,
    until: Instant,
    seed: usize,
) -> ClientResult {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let queries: Vec<Vec<u8>> = (0..64)
        .map(|i| query(&format!("c{}", (seed * 64 + i) % names)))
        .collect();
    let mut sent_at = vec![None::<Instant>; 65536];
    let mut next_id: u16 = 0;
    let mut result = ClientResult {
        latencies_us: Vec::with_capacity(1 << 20),
        lost: 0,
        errors: 0,
    };
    let mut send = |socket: &UdpSocket, sent_at: &mut Vec<Option<Instant>>| {
        let id = next_id;
        next_id = next_id.wrapping_add(1);
        let mut q = queries[usize::from(id) % queries.len()].clone();
        q[..2].copy_from_slice(&id.to_be_bytes());
        sent_at[usize::from(id)] = Some(Instant::now());
        socket.send(&q).unwrap();
    };
    for _ in 0..window {
        send(&socket, &mut sent_at);
    }
    let mut buf = [0u8; 512];
    while Instant::now() < until {
        match socket.recv(&mut buf) {
            Ok(n) if n >= 12 => {
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                // One A record for every name: rcode 0 and ANCOUNT 1.
                if buf[3] & 0x0f != 0 || buf[7] != 1 {
                    result.errors += 1;
                }
                if let Some(t) = sent_at[usize::from(id)].take() {
                    result.latencies_us.push(t.elapsed().as_micros() as u32);
                }
                send(&socket, &mut sent_at);
            }
            Ok(_) => result.errors += 1,
            Err(_) => {
                // Timed out: count what is outstanding as lost and refill.
                let outstanding = sent_at.iter_mut().filter_map(Option::take).count();
                result.lost += outstanding;
                for _ in 0..window {
                    send(&socket, &mut sent_at);
                }
            }
        }
    }
    result
}

fn main() {
    let a = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads)
        .enable_all()
        .build()
        .unwrap();
    let names: HashMap<String, Vec<IpAddr>> = (0..a.names)
        .map(|i| {
            let ip = Ipv4Addr::new(10, 88, (i / 250) as u8, (i % 250 + 2) as u8);
            (format!("c{i}"), vec![IpAddr::V4(ip)])
        })
        .collect();
    let lookup = Arc::new(MapLookup {
        names: RwLock::new(names),
    });
    let resolver = Resolver::new(
        lookup,
        Config {
            udp_workers: a.workers,
            ..Config::default()
        },
    );
    let (servers, addrs): (Vec<_>, Vec<_>) = runtime.block_on(async {
        (0..a.sandboxes)
            .map(|i| {
                let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
                let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = udp.local_addr().unwrap();
                let asker = ContainerId::from_bytes([i as u8; 32]);
                (
                    resolver
                        .serve_sandbox(asker, udp, tcp, Upstreams::None)
                        .unwrap(),
                    addr,
                )
            })
            .unzip()
    });

    // Warm up, then measure.
    let warm = Instant::now() + Duration::from_millis(300);
    std::thread::scope(|s| {
        for (i, addr) in addrs.iter().enumerate() {
            s.spawn(move || client(*addr, a.names, 4, warm, i));
        }
    });
    let started = Instant::now();
    let until = started + Duration::from_secs(a.seconds);
    let results: Vec<ClientResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..a.clients)
            .map(|i| {
                let addr = addrs[i % addrs.len()];
                s.spawn(move || client(addr, a.names, a.window, until, i))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all: Vec<u32> = results
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let lost: usize = results.iter().map(|r| r.lost).sum();
    let errors: usize = results.iter().map(|r| r.errors).sum();
    println!(
        "profile={} threads={} workers={} sandboxes={} clients={} window={} names={}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        a.threads,
        a.workers,
        a.sandboxes,
        a.clients,
        a.window,
        a.names
    );
    println!("| queries | qps | p50 µs | p99 µs | p99.9 µs | max µs | lost | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {} | {:.0} | {} | {} | {} | {} | {} | {} |",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(0.999),
        all.last().copied().unwrap_or(0),
        lost,
        errors
    );
    runtime.block_on(async {
        for s in servers {
            s.stop().await;
        }
    });
}
