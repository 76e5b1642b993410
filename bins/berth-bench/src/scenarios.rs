//! The scenarios of issue 6, run against one daemon. Each records its
//! samples under a stable id, so berth's and Docker's rows line up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::daemon::{Daemon, Kind};
use crate::sandbox::{output, wait_for, HOST_IP};
use crate::stats::Stats;

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
        }
    }
}

/// Which scenario groups to run.
#[derive(Debug, Clone)]
pub struct Selection(pub Vec<String>);

impl Selection {
    pub const ALL: &'static [&'static str] = &[
        "net", "run", "ports", "iperf", "burst", "dns", "mem", "floor",
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

/// What the kernel and the tools take for the steps berth cannot avoid,
/// measured with `ip` and `nft` in the sandbox host (each sample includes
/// starting one process: the `ip link show lo` row is that cost alone).
fn floors(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    say(d, "kernel floors (ip, nft)");
    let n = p.run_n.max(5);
    let script = format!(
        r#"set -e
t() {{ s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo "$1 $2 $3 $4 $(( (e-s)/1000 ))"; }}
nft add table ip benchfloor
nft add set ip benchfloor s '{{ type ipv4_addr; }}'
i=0
while [ $i -lt {n} ]; do
  i=$((i+1))
  t ip link show lo
  t ip link add brf up type bridge
  t ip link del brf type bridge
  t ip link add vfa type veth peer name vfb
  t ip link del vfa type veth
  t ip netns add nsf
  t ip netns del nsf
  t nft add element ip benchfloor s "{{ 10.0.0.$i }}"
done
nft delete table ip benchfloor
"#
    );
    let out = d.sb.sh(&script)?;
    let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let (Some(us), Some(key)) = (words.last(), words.get(..words.len().saturating_sub(1))) {
            if let Ok(us) = us.parse::<f64>() {
                samples.entry(key.join(" ")).or_default().push(us / 1000.0);
            }
        }
    }
    let rows = [
        (
            "floor.spawn",
            "floor: ip link show lo (process start)",
            "ip link show lo",
        ),
        ("floor.bradd", "floor: bridge add (ip)", "ip link add brf"),
        (
            "floor.brdel",
            "floor: bridge delete (ip)",
            "ip link del brf",
        ),
        (
            "floor.vethadd",
            "floor: veth pair add (ip)",
            "ip link add vfa",
        ),
        (
            "floor.vethdel",
            "floor: veth pair delete (ip)",
            "ip link del vfa",
        ),
        (
            "floor.nsadd",
            "floor: netns add (ip netns)",
            "ip netns add nsf",
        ),
        (
            "floor.nsdel",
            "floor: netns delete (ip netns)",
            "ip netns del nsf",
        ),
        (
            "floor.nft",
            "floor: nft add element (process)",
            "nft add element ip",
        ),
    ];
    for (id, label, key) in rows {
        if let Some(v) = samples.get(key) {
            rec.add(id, label, "ms", v);
        }
    }
    Ok(())
}

/// The kernel's part of a container's network that grows with the
/// containers on its bridge (a bridge's port add and removal walk its
/// ports), with `ip` on the bridge with the most ports, at `level`
/// containers: one process adds a veth pair and makes it a port, up;
/// another deletes it.
fn port_floor(d: &Daemon, p: &Params, level: usize, rec: &mut Recorder) -> Result<()> {
    let n = p.run_n.max(5);
    let script = format!(
        r#"set -e
br=$(for b in $(ip -o link show type bridge | cut -d: -f2); do echo "$(ip -o link show master $b | wc -l) $b"; done | sort -n | tail -1 | cut -d' ' -f2)
batch=$(mktemp)
printf 'link add vpf type veth peer name vpg\nlink set vpf master %s up\n' "$br" > "$batch"
i=0
while [ $i -lt {n} ]; do
  i=$((i+1))
  s=$(date +%s%N); ip -batch "$batch"; e=$(date +%s%N); echo "add $(( (e-s)/1000 ))"
  s=$(date +%s%N); ip link del vpf; e=$(date +%s%N); echo "del $(( (e-s)/1000 ))"
done
rm -f "$batch"
"#
    );
    let out = d.sb.sh(&script)?;
    let (mut add, mut del) = (Vec::new(), Vec::new());
    for line in out.lines() {
        match line.split_once(' ') {
            Some(("add", us)) => add.extend(us.parse::<f64>().ok().map(|v| v / 1000.0)),
            Some(("del", us)) => del.extend(us.parse::<f64>().ok().map(|v| v / 1000.0)),
            _ => {}
        }
    }
    rec.add(
        &format!("floor.portadd.{level}"),
        &format!("  floor: veth add + bridge port, ip ({level} running)"),
        "ms",
        &add,
    );
    rec.add(
        &format!("floor.portdel.{level}"),
        &format!("  floor: veth delete from bridge, ip ({level} running)"),
        "ms",
        &del,
    );
    Ok(())
}

/// The 1-minute load average: other work on the machine shows here.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn networks(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    say(d, &format!("network create/rm x{}", p.net_n));
    let (mut create, mut remove, mut right_after) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..p.net_n {
        check_interrupted()?;
        let t = Instant::now();
        let id = d.create_network(&format!("bn-{i}"), None)?;
        create.push(ms(t));
        let t = Instant::now();
        d.remove_network(&id)?;
        remove.push(ms(t));
        // A bridge's teardown keeps the kernel busy (and its rtnl lock
        // taken) for tens of ms after an engine that does it in the
        // background has answered: a create issued at once waits for it.
        let t = Instant::now();
        let again = d.create_network(&format!("bn-{i}-again"), None)?;
        right_after.push(ms(t));
        d.remove_network(&again)?;
        // Each timed create and rm above starts on an idle kernel.
        std::thread::sleep(Duration::from_millis(150));
    }
    rec.add("net.create", "network create", "ms", &create);
    rec.add("net.rm", "network rm", "ms", &remove);
    rec.add(
        "net.create_after_rm",
        "network create, right after an rm",
        "ms",
        &right_after,
    );
    Ok(())
}

/// Times of `run -d` and `rm -f` of `n` containers publishing `ports`, one
/// after the other; with berthd's own timings of each step.
struct RunRm {
    run: Vec<f64>,
    rm: Vec<f64>,
    inspect: Vec<f64>,
    steps: HashMap<&'static str, Vec<f64>>,
}

fn run_rm_samples(d: &Daemon, prefix: &str, n: usize, ports: &[(u16, u16)]) -> Result<RunRm> {
    let mut out = RunRm {
        run: Vec::new(),
        rm: Vec::new(),
        inspect: Vec::new(),
        steps: HashMap::new(),
    };
    let mut ids = Vec::new();
    for i in 0..n {
        check_interrupted()?;
        let t = Instant::now();
        let id = d.run(&format!("{prefix}-{i}"), NET, ports, SLEEP)?;
        out.run.push(ms(t));
        let t = Instant::now();
        d.inspect(&id)?;
        out.inspect.push(ms(t));
        let t = Instant::now();
        d.rm_force(&id)?;
        out.rm.push(ms(t));
        ids.push(id);
    }
    let timings = d.timings();
    for op in ["network_setup", "runtime_start", "engine_remove"] {
        let by_id = timings.get(op);
        let samples: Vec<f64> = ids
            .iter()
            .filter_map(|id| by_id.and_then(|m| m.get(id)))
            .filter(|t| t.ok)
            .map(|t| t.ms)
            .collect();
        out.steps.insert(op, samples);
    }
    Ok(out)
}

fn run_rm(d: &Daemon, p: &Params, level: usize, rec: &mut Recorder) -> Result<()> {
    say(
        d,
        &format!("run -d / rm -f x{} at {level} containers", p.run_n),
    );
    let load = load_average();
    let s = run_rm_samples(d, &format!("m{level}"), p.run_n, &[])?;
    let at = format!("{level} running");
    rec.add(
        &format!("run.{level}"),
        &format!("run -d ({at})"),
        "ms",
        &s.run,
    );
    rec.note_last(format!(
        "machine load average {load:.1} before, {:.1} after",
        load_average()
    ));
    rec.add(
        &format!("rm.{level}"),
        &format!("rm -f ({at})"),
        "ms",
        &s.rm,
    );
    rec.add(
        &format!("inspect.{level}"),
        &format!("inspect ({at})"),
        "ms",
        &s.inspect,
    );
    rec.add(
        &format!("netpart.{level}"),
        &format!("  network part of start ({at})"),
        "ms",
        &s.steps["network_setup"],
    );
    rec.add(
        &format!("runtime.{level}"),
        &format!("  runtime create+start ({at})"),
        "ms",
        &s.steps["runtime_start"],
    );
    rec.add(
        &format!("enginerm.{level}"),
        &format!("  engine part of rm ({at})"),
        "ms",
        &s.steps["engine_remove"],
    );
    Ok(())
}

fn range(first: u16, count: u16) -> Vec<(u16, u16)> {
    (first..first.saturating_add(count))
        .map(|p| (p, p))
        .collect()
}

fn port_range(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    let n = match d.kind {
        Kind::Berth => p.range_n,
        Kind::Docker => p.docker_range_n,
    };
    say(d, &format!("{}-port range vs none x{n}", p.range_ports));
    let ports = range(10000, p.range_ports);
    let (mut none, mut ranged) = (Vec::new(), Vec::new());
    for i in 0..n {
        none.push(run_rm_samples(d, &format!("pn{i}"), 1, &[])?);
        ranged.push(run_rm_samples(d, &format!("pr{i}"), 1, &ports)?);
    }
    let flat = |v: &[RunRm], f: &dyn Fn(&RunRm) -> Vec<f64>| -> Vec<f64> {
        v.iter().flat_map(f).collect()
    };
    let label = format!("{}-port range", p.range_ports);
    let none_run = flat(&none, &|s| s.run.clone());
    let range_run = flat(&ranged, &|s| s.run.clone());
    rec.add("ports.none.run", "run -d, no ports", "ms", &none_run);
    rec.add(
        "ports.range.run",
        &format!("run -d, {label}"),
        "ms",
        &range_run,
    );
    rec.add(
        "ports.range.rm",
        &format!("rm -f, {label}"),
        "ms",
        &flat(&ranged, &|s| s.rm.clone()),
    );
    let none_net = flat(&none, &|s| s.steps["network_setup"].clone());
    let range_net = flat(&ranged, &|s| s.steps["network_setup"].clone());
    rec.add(
        "ports.none.netpart",
        "  network part, no ports",
        "ms",
        &none_net,
    );
    rec.add(
        "ports.range.netpart",
        &format!("  network part, {label}"),
        "ms",
        &range_net,
    );
    if let (Some(a), Some(b)) = (Stats::of(&range_run), Stats::of(&none_run)) {
        rec.one(
            "ports.range.delta",
            &format!("{label} cost over none (run -d medians)"),
            "ms",
            a.median - b.median,
        );
    }
    Ok(())
}

fn many_ports(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    let containers = match d.kind {
        Kind::Berth => p.port_containers,
        Kind::Docker => p.docker_port_containers,
    };
    let total = containers * 1000;
    say(
        d,
        &format!("add/remove one port at 0 and at {total} published ports"),
    );
    let one = [(31000u16, 80u16)];
    let at0 = run_rm_samples(d, "p1a", p.port_n, &one)?;
    let mut publish = Vec::new();
    let mut ids = Vec::new();
    for c in 0..containers {
        check_interrupted()?;
        let first = 20000 + u16::try_from(c * 1000)?;
        let t = Instant::now();
        ids.push(d.run(&format!("pc-{c}"), NET, &range(first, 1000), SLEEP)?);
        publish.push(ms(t));
    }
    let (proxies, proxies_pss) = d.proxies();
    let atn = run_rm_samples(d, "p1b", p.port_n, &one)?;
    rec.add(
        "ports.publish1000",
        "run -d, 1,000 ports, while growing",
        "ms",
        &publish,
    );
    if proxies > 0 {
        rec.note_last(format!(
            "{proxies} docker-proxy processes running, {proxies_pss:.0} MB PSS in all"
        ));
    }
    let n = format!("{total}");
    rec.add(
        "ports.add.0",
        "add 1 port: run -d, 0 published",
        "ms",
        &at0.run,
    );
    rec.add(
        &format!("ports.add.{n}"),
        &format!("add 1 port: run -d, {n} published"),
        "ms",
        &atn.run,
    );
    rec.add(
        "ports.rm.0",
        "remove 1 port: rm -f, 0 published",
        "ms",
        &at0.rm,
    );
    rec.add(
        &format!("ports.rm.{n}"),
        &format!("remove 1 port: rm -f, {n} published"),
        "ms",
        &atn.rm,
    );
    rec.add(
        "ports.addnet.0",
        "  network part, 0 published",
        "ms",
        &at0.steps["network_setup"],
    );
    rec.add(
        &format!("ports.addnet.{n}"),
        &format!("  network part, {n} published"),
        "ms",
        &atn.steps["network_setup"],
    );
    rec.add(
        "ports.rmeng.0",
        "  engine part of rm, 0 published",
        "ms",
        &at0.steps["engine_remove"],
    );
    rec.add(
        &format!("ports.rmeng.{n}"),
        &format!("  engine part of rm, {n} published"),
        "ms",
        &atn.steps["engine_remove"],
    );
    if let (Some(first), Some(last)) = (ids.first(), ids.last()) {
        let first_port = 20000u16;
        let last_port = 20000 + u16::try_from(total - 1)?;
        for (which, id, port) in [("first", first, first_port), ("last", last, last_port)] {
            let rates = conn_rate(d, p, id, port, false)?;
            rec.add(
                &format!("conn.{which}.{total}"),
                &format!("connections/s, peer -> {which} port ({port})"),
                "conn/s",
                &rates,
            );
        }
        let rates = conn_rate(d, p, first, first_port, true)?;
        rec.add(
            "conn.direct",
            "connections/s, host -> container address (no NAT)",
            "conn/s",
            &rates,
        );
    }
    for id in &ids {
        d.rm_force(id)?;
    }
    Ok(())
}

/// Connection rate from the outside peer to `port` on the sandbox host's
/// address, DNAT'ed to a listener in container `id`; or, `direct`, from
/// the sandbox host to the container's own address (the no-NAT baseline).
fn conn_rate(d: &Daemon, p: &Params, id: &str, port: u16, direct: bool) -> Result<Vec<f64>> {
    let (ip, netns) = d.address_and_netns(id, NET)?;
    let me = std::env::current_exe()?;
    let ready = d.sb.dir().join(format!("listen-{port}"));
    let listener =
        d.sb.in_netns(&netns, &me)
            .args(["probe", "listen", &port.to_string(), "--ready"])
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("start a listener")?;
    let mut rates = Vec::new();
    let result = (|| -> Result<()> {
        wait_for(Duration::from_secs(10), "the listener", || ready.exists())?;
        let connrate = |secs: f64| -> Result<String> {
            let (mut cmd, addr) = if direct {
                (d.sb.command(&me), ip.as_str())
            } else {
                (d.sb.in_peer(&me), HOST_IP)
            };
            output(cmd.args([
                "probe",
                "connrate",
                addr,
                &port.to_string(),
                &secs.to_string(),
            ]))
        };
        // Warm-up (neighbour tables, caches), not recorded.
        connrate(0.3)?;
        for _ in 0..p.conn_reps {
            check_interrupted()?;
            let out = connrate(p.conn_secs)?;
            let v: Value = serde_json::from_str(&out)?;
            if v["errors"].as_u64().unwrap_or(0) > 0 {
                eprintln!(
                    "[{}] connection errors to port {port}: {} ({})",
                    d.name(),
                    v["errors"],
                    v["first_error"]
                );
            }
            rates.push(v["rate"].as_f64().unwrap_or(0.0));
        }
        Ok(())
    })();
    let mut listener = listener;
    let _ = listener.kill();
    let _ = listener.wait();
    result.map(|()| rates)
}

fn iperf(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    say(
        d,
        &format!("iperf3 paths, {} s x{}", p.iperf_secs, p.iperf_reps),
    );
    let a = d.run("ipa", NET, &[(15201, 5201)], SLEEP)?;
    let b = d.run("ipb", NET, &[], SLEEP)?;
    let (a_ip, a_ns) = d.address_and_netns(&a, NET)?;
    let (_, b_ns) = d.address_and_netns(&b, NET)?;
    let proxies = d.sb.sh("ss -Hltn 'sport = :15201' | wc -l")?;
    let proxies: usize = proxies.trim().parse().unwrap_or(0);
    let paths: [(&str, &str, Where, &str, u16); 5] = [
        (
            "iperf.c2c",
            "iperf3 container -> container",
            Where::Netns(b_ns.clone()),
            &a_ip,
            5201,
        ),
        (
            "iperf.host",
            "iperf3 host -> container address",
            Where::Host,
            &a_ip,
            5201,
        ),
        (
            "iperf.lo",
            "iperf3 host -> 127.0.0.1:published",
            Where::Host,
            "127.0.0.1",
            15201,
        ),
        (
            "iperf.own",
            "iperf3 host -> own address:published",
            Where::Host,
            HOST_IP,
            15201,
        ),
        (
            "iperf.peer",
            "iperf3 outside peer -> published",
            Where::Peer,
            HOST_IP,
            15201,
        ),
    ];
    for (id, label, from, addr, port) in paths {
        let mut gbits = Vec::new();
        for _ in 0..p.iperf_reps {
            check_interrupted()?;
            gbits.push(iperf_once(d, &a_ns, &from, addr, port, p.iperf_secs)?);
        }
        rec.add(id, label, "Gbit/s", &gbits);
    }
    if let (Some(lo), Some(host)) = (rec.median("iperf.lo"), rec.median("iperf.host")) {
        rec.one(
            "iperf.lo_ratio",
            "127.0.0.1:published / host -> container",
            "%",
            100.0 * lo / host,
        );
        rec.note_last(format!(
            "{proxies} user-space listener(s) on the published port"
        ));
    }
    d.rm_force(&a)?;
    d.rm_force(&b)?;
    Ok(())
}

enum Where {
    Host,
    Peer,
    Netns(PathBuf),
}

fn iperf_once(
    d: &Daemon,
    server_ns: &Path,
    from: &Where,
    addr: &str,
    port: u16,
    secs: u32,
) -> Result<f64> {
    let mut server =
        d.sb.in_netns(server_ns, "iperf3")
            .args(["-s", "-1", "-p", "5201"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start iperf3 -s")?;
    let result = (|| -> Result<f64> {
        let mut last = String::new();
        for _ in 0..50 {
            let mut cmd = match from {
                Where::Host => d.sb.command("iperf3"),
                Where::Peer => d.sb.in_peer("iperf3"),
                Where::Netns(ns) => d.sb.in_netns(ns, "iperf3"),
            };
            let out = cmd
                .args([
                    "-c",
                    addr,
                    "-p",
                    &port.to_string(),
                    "-t",
                    &secs.to_string(),
                    "-J",
                ])
                .stdin(Stdio::null())
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64() {
                return Ok(bps / 1e9);
            }
            // The server may not listen yet: try again shortly.
            last = v["error"].as_str().unwrap_or(&text).to_owned();
            sleep(Duration::from_millis(100));
        }
        bail!("iperf3 to {addr}:{port}: {last}")
    })();
    let _ = server.kill();
    let _ = server.wait();
    result
}

fn burst(d: &Daemon, p: &Params, rec: &mut Recorder, bg: &mut Background) -> Result<()> {
    say(d, &format!("{} run -d at once", p.burst));
    let names: Vec<String> = (0..p.burst).map(|i| format!("bg-{i}")).collect();
    bg.serial = p.burst;
    let t = Instant::now();
    let results = parallel(p.burst, &names, |name| d.run(name, NET, &[], SLEEP));
    let wall = ms(t);
    let mut errors = Vec::new();
    let mut ips = std::collections::BTreeSet::new();
    for (name, r) in names.iter().zip(results) {
        match r {
            Ok(id) => {
                if let Ok((ip, _)) = d.address_and_netns(&id, NET) {
                    ips.insert(ip);
                }
                bg.containers.push((id, name.clone()));
            }
            Err(e) => errors.push(format!("{name}: {e:#}")),
        }
    }
    let n = p.burst;
    rec.one(
        "burst.wall",
        &format!("{n} run -d at once: wall time"),
        "ms",
        wall,
    );
    rec.one(
        "burst.errors",
        &format!("{n} run -d at once: errors"),
        "count",
        errors.len() as f64,
    );
    if let Some(first) = errors.first() {
        rec.note_last(first.clone());
        eprintln!("[{}] burst errors: {errors:#?}", d.name());
    }
    rec.one(
        "burst.distinct",
        &format!("{n} run -d at once: distinct addresses"),
        "count",
        ips.len() as f64,
    );
    Ok(())
}

/// Starts or removes background containers until `level` run.
fn grow(
    d: &Daemon,
    p: &Params,
    level: usize,
    bg: &mut Background,
    rec: &mut Recorder,
) -> Result<()> {
    while bg.containers.len() > level {
        if let Some((id, _)) = bg.containers.pop() {
            d.rm_force(&id)?;
        }
    }
    let missing = level - bg.containers.len();
    if missing == 0 {
        return Ok(());
    }
    say(
        d,
        &format!("starting {missing} containers to reach {level}"),
    );
    let names: Vec<String> = (bg.serial..bg.serial + missing)
        .map(|i| format!("bg-{i}"))
        .collect();
    bg.serial += missing;
    let t = Instant::now();
    let results = parallel(p.grow_threads, &names, |name| d.run(name, NET, &[], SLEEP));
    let wall = t.elapsed().as_secs_f64();
    for (name, r) in names.iter().zip(results) {
        let id = r.with_context(|| format!("start background container {name}"))?;
        bg.containers.push((id, name.clone()));
    }
    rec.one(
        &format!("grow.{level}"),
        &format!(
            "start rate growing to {level} ({} at a time)",
            p.grow_threads
        ),
        "run/s",
        missing as f64 / wall,
    );
    Ok(())
}

fn dns(d: &Daemon, p: &Params, bg: &Background, rec: &mut Recorder) -> Result<()> {
    let Some((client, _)) = bg.containers.first() else {
        return Ok(());
    };
    let n = bg.containers.len();
    say(d, &format!("DNS with {n} containers registered"));
    let (_, netns) = d.address_and_netns(client, NET)?;
    let file = d.sb.dir().join("dns-queries.txt");
    let text: String = bg
        .containers
        .iter()
        .map(|(_, name)| format!("{name} A\n"))
        .collect();
    std::fs::write(&file, text)?;
    let me = std::env::current_exe()?;
    let probe = |secs: f64| -> Result<Value> {
        let out = output(
            d.sb.in_netns(&netns, &me)
                .args(["probe", "dns", "127.0.0.11"])
                .arg(&file)
                .arg(secs.to_string()),
        )?;
        Ok(serde_json::from_str(&out)?)
    };
    // Unloaded latency, one query at a time.
    let idle = probe(p.dns_secs / 2.0)?;
    if idle["answered"].as_u64().unwrap_or(0) == 0 {
        bail!("the embedded DNS answered nothing: {idle}");
    }
    let lat_row = |rec: &mut Recorder, id: &str, label: &str, v: &Value| {
        if let Ok(stats) = serde_json::from_value::<Stats>(v["latency_ms"].clone()) {
            rec.rows.push(crate::scenarios::Measured {
                id: id.to_owned(),
                label: label.to_owned(),
                unit: "ms".to_owned(),
                stats,
                note: Some(format!("{} errors", v["errors"])),
            });
        }
    };
    lat_row(
        rec,
        "dns.lat.idle",
        "DNS latency, one query at a time",
        &idle,
    );
    // Throughput: dnsperf saturating, the probe measuring latency meanwhile.
    let dnsperf =
        d.sb.in_netns(&netns, "dnsperf")
            .args(["-s", "127.0.0.11", "-d"])
            .arg(&file)
            .args(["-l", &p.dns_secs.to_string()])
            .args(["-c", &p.dnsperf_clients.to_string(), "-q", "200", "-T", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start dnsperf (Debian package dnsperf)")?;
    sleep(Duration::from_millis(500));
    let loaded = probe((p.dns_secs - 1.0).max(0.5));
    let out = dnsperf.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let loaded = loaded?;
    let qps = dnsperf_field(&text, "Queries per second:");
    let lost = dnsperf_field(&text, "Queries lost:");
    let avg = dnsperf_field(&text, "Average Latency (s):").map(|s| s * 1e3);
    match qps {
        Some(qps) => {
            rec.one("dns.qps", "DNS queries/s (dnsperf)", "qps", qps);
            rec.note_last(format!(
                "{} clients, lost {}, avg latency {} ms",
                p.dnsperf_clients,
                lost.unwrap_or(f64::NAN),
                avg.map(|a| format!("{a:.2}")).unwrap_or_default()
            ));
        }
        None => bail!(
            "dnsperf printed no rate: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    lat_row(
        rec,
        "dns.lat.load",
        "DNS latency under dnsperf load",
        &loaded,
    );
    Ok(())
}

fn dnsperf_field(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.trim_start().starts_with(key))?;
    line.trim_start()[key.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsperf_output_parses() {
        let text = "  Queries sent:         100\n  Queries lost:         3 (3.00%)\n  Queries per second:   48123.456789\n  Average Latency (s):  0.001234 (min 0.000100, max 0.010000)\n";
        assert_eq!(
            dnsperf_field(text, "Queries per second:"),
            Some(48123.456789)
        );
        assert_eq!(dnsperf_field(text, "Queries lost:"), Some(3.0));
        assert_eq!(dnsperf_field(text, "Average Latency (s):"), Some(0.001234));
    }

    #[test]
    fn parallel_keeps_order() {
        let items: Vec<u32> = (0..50).collect();
        let out = parallel(4, &items, |i| Ok(i * 2));
        let out: Vec<u32> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
    }
}
