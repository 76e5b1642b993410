//! The scenarios of issue 6, run against one daemon. Each records its
//! samples under a stable id, so berth's and Docker's rows line up.
//! This module holds what they share (parameters, the recorder, the
//! worker pool) and runs them in order; each family has its own file.

mod burst;
mod cluster;
mod dns;
mod events;
mod floor;
mod health;
mod iperf;
mod macvlan;
mod net;
mod options;
mod ports;
mod pull;
mod run;
mod stats;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::daemon::{Daemon, Kind};
use crate::stats::Stats;
use burst::{burst, grow};
pub use cluster::cluster;
use dns::dns;
use events::events;
use floor::{floors, port_floor};
use health::health;
use iperf::iperf;
use macvlan::macvlan;
use net::networks;
use options::options;
use ports::{many_ports, port_range};
use pull::pull;
use run::run_rm;
use stats::stats;

/// The benchmark network, big enough for 1,000+ containers.
pub const NET: &str = "benchnet";
const SUBNET: &str = "10.123.0.0/16";
const SLEEP: &[&str] = &["sleep", "1d"];

/// Set by SIGINT/SIGTERM: loops stop and everything is cleaned up.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Params {
    pub mode: &'static str,
    /// network create/rm pairs.
    pub net_n: usize,
    /// run -d / rm -f pairs at each level.
    pub run_n: usize,
    /// Containers already running on the network for the run/rm rows.
    pub levels: Vec<usize>,
    /// Containers started at once while growing to a level.
    pub grow_threads: usize,
    /// Size of the published range of the one-container range scenario.
    pub range_ports: u16,
    pub range_n: usize,
    /// Same, for dockerd (over a minute per sample there).
    pub docker_range_n: usize,
    /// Containers publishing 1,000 ports each for the many-ports scenario.
    pub port_containers: usize,
    /// Same, for dockerd (one docker-proxy process per port).
    pub docker_port_containers: usize,
    /// Add/remove-one-port pairs at 0 and at many published ports.
    pub port_n: usize,
    pub conn_secs: f64,
    pub conn_reps: usize,
    pub dns_secs: f64,
    pub dnsperf_clients: usize,
    pub iperf_secs: u32,
    pub iperf_reps: usize,
    /// `run -d` at once.
    pub burst: usize,
    /// Containers probing their healthcheck every second.
    pub health_containers: usize,
    /// Sizes of the overlay clusters (sandbox hosts on one etcd).
    pub cluster_hosts: Vec<usize>,
    /// Containers every cluster host runs for the memory row.
    pub cluster_containers: usize,
}

impl Params {
    pub fn quick() -> Params {
        Params {
            mode: "quick",
            net_n: 10,
            run_n: 5,
            levels: vec![0, 10],
            grow_threads: 2,
            range_ports: 1000,
            range_n: 3,
            docker_range_n: 1,
            port_containers: 2,
            docker_port_containers: 1,
            port_n: 3,
            conn_secs: 1.0,
            conn_reps: 1,
            dns_secs: 2.0,
            dnsperf_clients: 4,
            iperf_secs: 1,
            iperf_reps: 1,
            burst: 20,
            health_containers: 10,
            cluster_hosts: vec![3],
            cluster_containers: 3,
        }
    }

    pub fn full() -> Params {
        Params {
            mode: "full",
            net_n: 50,
            run_n: 30,
            levels: vec![0, 100, 1000],
            grow_threads: 4,
            range_ports: 1000,
            range_n: 10,
            docker_range_n: 3,
            port_containers: 10,
            // 2,000 ports are 4,000 docker-proxy processes (IPv4 and IPv6)
            // and take dockerd over 5 minutes to publish and unpublish;
            // 10,000 would take over half an hour.
            docker_port_containers: 2,
            port_n: 20,
            conn_secs: 3.0,
            conn_reps: 3,
            dns_secs: 10.0,
            dnsperf_clients: 8,
            iperf_secs: 5,
            iperf_reps: 3,
            burst: 100,
            health_containers: 100,
            cluster_hosts: vec![3, 20],
            cluster_containers: 50,
        }
    }
}

/// Which scenario groups to run.
#[derive(Debug, Clone)]
pub struct Selection(pub Vec<String>);

impl Selection {
    pub const ALL: &'static [&'static str] = &[
        "net", "run", "macvlan", "options", "stats", "health", "events", "ports", "iperf", "burst",
        "dns", "mem", "floor", "pull", "cluster",
    ];

    pub fn has(&self, group: &str) -> bool {
        self.0.iter().any(|g| g == group)
    }
}

/// One measured quantity of one daemon.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub id: String,
    pub label: String,
    pub unit: String,
    pub stats: Stats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Default)]
pub struct Recorder {
    pub rows: Vec<Measured>,
}

impl Recorder {
    pub fn add(&mut self, id: &str, label: &str, unit: &str, samples: &[f64]) {
        if let Some(stats) = Stats::of(samples) {
            self.rows.push(Measured {
                id: id.to_owned(),
                label: label.to_owned(),
                unit: unit.to_owned(),
                stats,
                note: None,
            });
        }
    }

    pub fn one(&mut self, id: &str, label: &str, unit: &str, value: f64) {
        self.add(id, label, unit, &[value]);
    }

    fn note_last(&mut self, note: String) {
        if let Some(row) = self.rows.last_mut() {
            row.note = Some(note);
        }
    }

    pub fn median(&self, id: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.stats.median)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn say(d: &Daemon, what: &str) {
    eprintln!("[{}] {what}", d.name());
}

/// Runs `f` on every item with `threads` workers; results in item order.
/// Stops early (errors for the rest) once interrupted.
pub fn parallel<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    parallel_inner(threads, items, true, f)
}

/// [`parallel`] that goes on when interrupted: for the clean-up.
pub fn parallel_always<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    parallel_inner(threads, items, false, f)
}

fn parallel_inner<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    interruptible: bool,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<R>>> = (0..items.len()).map(|_| None).collect();
    let results: Vec<Vec<(usize, Result<R>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1).min(items.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = if interruptible {
                            check_interrupted().and_then(|()| f(item))
                        } else {
                            f(item)
                        };
                        done.push((i, r));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, r) in results.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Err(anyhow::anyhow!("worker died"))))
        .collect()
}

/// The containers on the network besides the measured ones.
struct Background {
    containers: Vec<(String, String)>,
    serial: usize,
}

pub fn run_all(d: &Daemon, p: &Params, sel: &Selection, busybox: &Path) -> Result<Recorder> {
    let mut rec = Recorder::default();
    say(d, "importing busybox");
    d.import_busybox(busybox)?;
    if sel.has("mem") {
        sleep(Duration::from_millis(500));
        rec.one("mem.idle", "daemon RSS, idle", "MB", d.daemon_rss_mb());
        if d.kind == Kind::Docker {
            rec.note_last("dockerd + containerd".to_owned());
        }
    }
    if sel.has("floor") && d.kind == Kind::Berth {
        floors(d, p, &mut rec)?;
    }
    if sel.has("net") {
        networks(d, p, &mut rec)?;
    }
    d.create_network(NET, Some(SUBNET))?;
    let mut bg = Background {
        containers: Vec::new(),
        serial: 0,
    };
    let max_level = p.levels.iter().copied().max().unwrap_or(0);
    let mut levels = p.levels.clone();
    levels.sort_unstable();
    levels.dedup();
    if levels.first() == Some(&0) && sel.has("run") {
        run_rm(d, p, 0, &mut rec)?;
        if d.kind == Kind::Berth {
            port_floor(d, p, 0, &mut rec)?;
        }
    }
    if sel.has("macvlan") {
        macvlan(d, p, &mut rec)?;
    }
    if sel.has("options") {
        options(d, p, &mut rec)?;
    }
    if sel.has("health") {
        health(d, p, &mut rec)?;
    }
    if sel.has("stats") {
        stats(d, p, &mut rec)?;
    }
    if sel.has("events") {
        events(d, p, &mut rec)?;
    }
    if sel.has("pull") {
        pull(d, p, &mut rec)?;
    }
    if sel.has("ports") {
        port_range(d, p, &mut rec)?;
        many_ports(d, p, &mut rec)?;
    }
    if sel.has("iperf") {
        iperf(d, p, &mut rec)?;
    }
    if sel.has("burst") {
        burst(d, p, &mut rec, &mut bg)?;
    }
    // Growing to a level is only worth it for what is measured there.
    let at_levels = sel.has("run") || sel.has("mem") || sel.has("dns");
    for &level in levels.iter().filter(|l| **l > 0 && at_levels) {
        check_interrupted()?;
        grow(d, p, level, &mut bg, &mut rec)?;
        if sel.has("run") {
            run_rm(d, p, level, &mut rec)?;
            if d.kind == Kind::Berth {
                port_floor(d, p, level, &mut rec)?;
            }
        }
        if sel.has("mem") {
            rec.one(
                &format!("mem.{level}"),
                &format!("daemon RSS, {level} containers"),
                "MB",
                d.daemon_rss_mb(),
            );
        }
        if level == max_level {
            if sel.has("mem") {
                let (count, pss) = d.shims_pss_mb();
                if count > 0 {
                    rec.one(
                        "mem.shim",
                        "shim PSS per container",
                        "MB",
                        pss / bg.containers.len().max(1) as f64,
                    );
                    rec.note_last(format!("{count} shims, {pss:.1} MB PSS in all"));
                }
            }
            if sel.has("dns") {
                dns(d, p, &bg, &mut rec)?;
            }
        }
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_keeps_order() {
        let items: Vec<u32> = (0..50).collect();
        let out = parallel(4, &items, |i| Ok(i * 2));
        let out: Vec<u32> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
    }
}
