//! Small measuring programs that berth-bench runs as itself inside a
//! namespace (`nsenter ... berth-bench probe ...`): a TCP listener, a TCP
//! connection-rate client and a DNS latency client. Each prints one JSON
//! object on stdout.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wire_format() {
        let q = dns_query(0x1234, "bg-1");
        assert_eq!(
            q,
            [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b'b', b'g', b'-', b'1', 0, 0, 1, 0, 1]
        );
    }
}
