//! Small measuring programs that berth-bench runs as itself inside a
//! namespace (`nsenter ... berth-bench probe ...`): a TCP listener, a TCP
//! connection-rate client and a DNS latency client. Each prints one JSON
//! object on stdout.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;

use crate::stats::Stats;

#[derive(Debug, Subcommand)]
pub enum Probe {
    /// Accepts and closes TCP connections on PORT until killed.
    Listen {
        port: u16,
        /// Created once the socket listens.
        #[arg(long)]
        ready: PathBuf,
    },
    /// Opens and resets TCP connections to ADDR:PORT for SECS seconds.
    Connrate { addr: String, port: u16, secs: f64 },
    /// Sends DNS A queries for the names in FILE, one outstanding per
    /// thread, for SECS seconds; latency percentiles.
    Dns {
        server: String,
        file: PathBuf,
        secs: f64,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Resolves NAME through the embedded DNS server (127.0.0.11) and
    /// pings the answer until a reply comes (or TIMEOUT_MS pass); prints
    /// the CLOCK_MONOTONIC moment of that reply, to set against the
    /// caller's own clock readings.
    Reach {
        name: String,
        /// Created once the sockets are open.
        #[arg(long)]
        ready: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
}

pub fn run(probe: Probe) -> Result<()> {
    let out = match probe {
        Probe::Listen { port, ready } => return listen(port, &ready),
        Probe::Connrate { addr, port, secs } => connrate(&addr, port, secs)?,
        Probe::Dns {
            server,
            file,
            secs,
            threads,
        } => dns(&server, &file, secs, threads)?,
        Probe::Reach {
            name,
            ready,
            timeout_ms,
        } => reach(&name, &ready, Duration::from_millis(timeout_ms))?,
    };
    println!("{out}");
    Ok(())
}

fn listen(port: u16, ready: &std::path::Path) -> Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", port)).with_context(|| format!("bind {port}"))?;
    std::fs::write(ready, b"")?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => drop(stream),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn connrate(addr: &str, port: u16, secs: f64) -> Result<serde_json::Value> {
    let target: SocketAddr = format!("{addr}:{port}").parse()?;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let start = Instant::now();
    let until = Duration::from_secs_f64(secs);
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut lat = Vec::new();
    let mut first_error = String::new();
    while start.elapsed() < until {
        let t = Instant::now();
        match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
            Ok(stream) => {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                // A reset instead of a FIN: no TIME_WAIT, so the client's
                // ports never run out however long this runs.
                let _ = nix::sys::socket::setsockopt(
                    &stream.as_fd(),
                    nix::sys::socket::sockopt::Linger,
                    &linger,
                );
                drop(stream);
                ok += 1;
            }
            Err(e) => {
                if first_error.is_empty() {
                    first_error = e.to_string();
                }
                errors += 1;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(json!({
        "ok": ok,
        "errors": errors,
        "first_error": first_error,
        "secs": elapsed,
        "rate": ok as f64 / elapsed,
        "latency_ms": Stats::of(&lat),
    }))
}

fn dns(
    server: &str,
    file: &std::path::Path,
    secs: f64,
    threads: usize,
) -> Result<serde_json::Value> {
    let names: Vec<String> = std::fs::read_to_string(file)?
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    anyhow::ensure!(!names.is_empty(), "no names in {}", file.display());
    let target: SocketAddr = format!("{server}:53").parse()?;
    let until = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let results: Vec<Result<(Vec<f64>, u64, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|t| {
                let names = &names;
                s.spawn(move || dns_worker(target, names, t, start, until))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("worker panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = String::new();
    for r in results {
        let (l, e, fe) = r?;
        lat.extend(l);
        errors += e;
        if first_error.is_empty() {
            first_error = fe;
        }
    }
    Ok(json!({
        "answered": lat.len(),
        "errors": errors,
        "first_error": first_error,
        "qps": lat.len() as f64 / elapsed,
        "latency_ms": Stats::of(&lat),
    }))
}

fn dns_worker(
    target: SocketAddr,
    names: &[String],
    offset: usize,
    start: Instant,
    until: Duration,
) -> Result<(Vec<f64>, u64, String)> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.connect(target)?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = String::new();
    let mut buf = [0u8; 1500];
    let mut i = offset;
    while start.elapsed() < until {
        let id = (i % 65536) as u16;
        let query = dns_query(id, &names[i % names.len()]);
        i += 1;
        let t = Instant::now();
        socket.send(&query)?;
        let answer = loop {
            match socket.recv(&mut buf) {
                Ok(n) if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id => {
                    break Ok(n);
                }
                Ok(_) => continue,
                Err(e) => break Err(e),
            }
        };
        match answer {
            Ok(_) => {
                let rcode = buf[3] & 0x0f;
                let answers = u16::from_be_bytes([buf[6], buf[7]]);
                if rcode == 0 && answers > 0 {
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                } else {
                    errors += 1;
                    if first_error.is_empty() {
                        first_error = format!("rcode {rcode}, {answers} answers");
                    }
                }
            }
            Err(e) => {
                errors += 1;
                if first_error.is_empty() {
                    first_error = e.to_string();
                }
            }
        }
    }
    Ok((lat, errors, first_error))
}

/// A recursive A/IN query for `name`.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

/// CLOCK_MONOTONIC in milliseconds: one clock for every process of the
/// machine, so a probe's moment compares with the bench's.
pub fn monotonic_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// How long one DNS or echo attempt waits for its answer: the resolution
/// of the reach time.
const REACH_POLL: Duration = Duration::from_millis(5);

fn reach(name: &str, ready: &std::path::Path, timeout: Duration) -> Result<serde_json::Value> {
    let dns = UdpSocket::bind("0.0.0.0:0")?;
    dns.connect("127.0.0.11:53")
        .context("connect to the embedded DNS")?;
    dns.set_read_timeout(Some(REACH_POLL))?;
    let pinger = Pinger::new()?;
    std::fs::write(ready, b"")?;
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    let mut seq: u16 = 0;
    while start.elapsed() < timeout {
        seq = seq.wrapping_add(1);
        let attempt = Instant::now();
        dns.send(&dns_query(seq, name))?;
        if let Some(ip) = answer(&dns, seq, &mut buf) {
            if pinger.echo(ip, seq, REACH_POLL)? {
                return Ok(json!({"reached_ms": monotonic_ms(), "ip": ip.to_string()}));
            }
        }
        // An instant "no such name" must not turn this into a busy loop.
        if let Some(rest) = Duration::from_millis(1).checked_sub(attempt.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    anyhow::bail!("{name} not reached by name within {timeout:?}")
}

/// The A record of the reply to query `id`, if one comes in time.
fn answer(socket: &UdpSocket, id: u16, buf: &mut [u8]) -> Option<Ipv4Addr> {
    loop {
        let n = socket.recv(buf).ok()?;
        if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            return first_a_record(&buf[..n]);
        }
    }
}

/// The first A record's address in a DNS reply.
pub fn first_a_record(msg: &[u8]) -> Option<Ipv4Addr> {
    let word = |at: usize| Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]));
    let questions = word(4)?;
    let answers = word(6)?;
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at)? + 4;
    }
    for _ in 0..answers {
        at = skip_name(msg, at)?;
        let kind = word(at)?;
        let len = usize::from(word(at + 8)?);
        let data = msg.get(at + 10..at + 10 + len)?;
        if let (1, [a, b, c, d]) = (kind, data) {
            return Some(Ipv4Addr::new(*a, *b, *c, *d));
        }
        at += 10 + len;
    }
    None
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        if len & 0xc0 == 0xc0 {
            return Some(at + 2);
        }
        if len == 0 {
            return Some(at + 1);
        }
        at += 1 + usize::from(len);
    }
}

/// ICMP echo over a raw socket (the probe runs as root in the namespace).
struct Pinger {
    socket: std::os::fd::OwnedFd,
    ident: u16,
}

impl Pinger {
    fn new() -> Result<Pinger> {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
        let socket = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Icmp,
        )
        .context("open a raw ICMP socket")?;
        Ok(Pinger {
            socket,
            ident: (std::process::id() & 0xffff) as u16,
        })
    }

    /// Sends one echo request to `ip`: whether its reply came within `wait`.
    fn echo(&self, ip: Ipv4Addr, seq: u16, wait: Duration) -> Result<bool> {
        use nix::sys::socket::{recv, sendto, setsockopt, sockopt, MsgFlags, SockaddrIn};
        let mut packet = [0u8; 16];
        packet[0] = 8;
        packet[4..6].copy_from_slice(&self.ident.to_be_bytes());
        packet[6..8].copy_from_slice(&seq.to_be_bytes());
        let sum = icmp_checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
        let to = SockaddrIn::from(std::net::SocketAddrV4::new(ip, 0));
        sendto(self.socket.as_raw_fd(), &packet, &to, MsgFlags::empty())
            .with_context(|| format!("ping {ip}"))?;
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 1500];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let timeout = nix::sys::time::TimeVal::new(0, left.as_micros().max(1) as _);
            setsockopt(&self.socket, sockopt::ReceiveTimeout, &timeout)?;
            let Ok(n) = recv(self.socket.as_raw_fd(), &mut buf, MsgFlags::empty()) else {
                return Ok(false);
            };
            // The raw socket hands over the IP header too.
            let header = usize::from(buf[0] & 0x0f) * 4;
            let Some(icmp) = buf[..n].get(header..header + 8) else {
                continue;
            };
            if icmp[0] == 0
                && icmp[4..6] == self.ident.to_be_bytes()
                && icmp[6..8] == seq.to_be_bytes()
            {
                return Ok(true);
            }
        }
    }
}

/// The Internet checksum (RFC 1071) of `data`.
fn icmp_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_a_record_is_found_past_compressed_names() {
        let mut reply = dns_query(7, "web");
        reply[2] = 0x81;
        reply[7] = 2;
        // A CNAME to a pointer, then the A record.
        reply.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 7]);
        assert_eq!(first_a_record(&reply), Some(Ipv4Addr::new(10, 0, 0, 7)));
        assert_eq!(first_a_record(&dns_query(7, "web")), None);
        assert_eq!(first_a_record(&reply[..reply.len() - 2]), None);
    }

    #[test]
    fn checksum_of_an_echo_request() {
        // ping's first request with id 1, seq 1 and no payload.
        let packet = [8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(icmp_checksum(&packet), 0xf7fd);
    }

    #[test]
    fn query_wire_format() {
        let q = dns_query(0x1234, "bg-1");
        assert_eq!(
            q,
            [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b'b', b'g', b'-', b'1', 0, 0, 1, 0, 1]
        );
    }
}
