//! Overlay networks across hosts (issue 16's `cluster` group): sandbox
//! hosts joined by an underlay bridge, a 3-member etcd on the first three,
//! a berthd on each pointed at it. Per cluster size it measures:
//! - `network create` on the first host until the last one lists it;
//! - a container's start on the first host until a container on the last
//!   one resolves its name and gets an echo reply;
//! - etcd write transactions (store revisions) per container start;
//! - iperf3 container to container across two hosts, against the same
//!   hosts' own underlay path;
//! - each berthd's RSS once every host runs `cluster_containers`.

use std::path::Path;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_sandbox::cluster::{etcd_endpoints, etcd_health, underlay_ip, UNDERLAY_IFACE};
use berth_sandbox::{EtcdMember, Underlay};
use serde_json::{json, Value};

use super::iperf::iperf_between;
use super::{check_interrupted, parallel, Params, Recorder, SLEEP};
use crate::daemon::{Daemon, Kind, Programs};
use crate::probe::monotonic_ms;
use crate::sandbox::{output, Sandbox};

/// etcd members, on the first hosts (a quorum that survives one loss).
const ETCD_MEMBERS: usize = 3;
const OVERLAY: &str = "clusternet";
/// Room for 20 hosts x 50 containers and more.
const OVERLAY_SUBNET: &str = "10.210.0.0/16";
/// How long a change may take to show before the bench gives up.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The hosts, their etcd members and the wire between them.
struct Cluster {
    daemons: Vec<Daemon>,
    _etcd: Vec<EtcdMember>,
    _underlay: Underlay,
}

impl Drop for Cluster {
    /// Every daemon removes its containers and stops first, while etcd
    /// (whose members live in the first hosts' sandboxes, killed with
    /// them) still answers; then the sandboxes, members and underlay go.
    fn drop(&mut self) {
        for d in &mut self.daemons {
            d.shutdown();
        }
    }
}

impl Cluster {
    fn start(size: usize, programs: &Programs, busybox: &Path, keep: bool) -> Result<Cluster> {
        let underlay = Underlay::new()?;
        let members = size.min(ETCD_MEMBERS);
        let mut sandboxes = Vec::with_capacity(size);
        let mut etcd = Vec::with_capacity(members);
        for i in 0..size {
            let sb = Sandbox::new(&format!("berth-bench-cluster{i}-"), keep)?;
            underlay.attach(sb.host(), i)?;
            if i < members {
                etcd.push(EtcdMember::start(sb.host(), i, members)?);
            }
            sandboxes.push(sb);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = etcd_health(sandboxes[0].host(), members) {
            if Instant::now() > deadline {
                bail!("etcd not healthy: {e}");
            }
            sleep(Duration::from_millis(200));
        }
        let store = format!("etcd://{}", etcd_endpoints(members).join(","));
        let args = [
            "--cluster-store".to_owned(),
            store,
            "--cluster-advertise".to_owned(),
            UNDERLAY_IFACE.to_owned(),
        ];
        let mut daemons = Vec::with_capacity(size);
        for sb in sandboxes {
            let d = Daemon::start_in(Kind::Berth, programs, sb, &args)?;
            d.import_busybox(busybox)?;
            daemons.push(d);
        }
        Ok(Cluster {
            daemons,
            _etcd: etcd,
            _underlay: underlay,
        })
    }

    fn first(&self) -> &Daemon {
        &self.daemons[0]
    }

    fn last(&self) -> &Daemon {
        &self.daemons[self.daemons.len() - 1]
    }

    /// The etcd store's revision: it moves by one per write transaction.
    fn etcd_revision(&self) -> Result<u64> {
        let out = output(
            self.first()
                .sb
                .command("etcdctl")
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", etcd_endpoints(1)[0]))
                .args(["endpoint", "status", "-w", "json"]),
        )?;
        let v: Value = serde_json::from_str(&out).context("etcdctl endpoint status")?;
        v[0]["Status"]["header"]["revision"]
            .as_u64()
            .with_context(|| format!("no revision in {out}"))
    }
}

pub fn cluster(
    programs: &Programs,
    p: &Params,
    busybox: &Path,
    keep: bool,
    rec: &mut Recorder,
) -> Result<()> {
    for &size in &p.cluster_hosts {
        check_interrupted()?;
        eprintln!("[berth] cluster of {size} hosts");
        let c = Cluster::start(size, programs, busybox, keep)?;
        one_size(&c, size, p, rec)?;
    }
    Ok(())
}

fn one_size(c: &Cluster, size: usize, p: &Params, rec: &mut Recorder) -> Result<()> {
    let samples = p.run_n.max(3);
    let mut visible = Vec::with_capacity(samples);
    for i in 0..samples {
        check_interrupted()?;
        let name = format!("seen{i}");
        let t = Instant::now();
        let id = create_overlay(c.first(), &name, None)?;
        wait_listed(c.last(), &name)?;
        visible.push(t.elapsed().as_secs_f64() * 1e3);
        c.first().remove_network(&id)?;
    }
    rec.add(
        &format!("cluster.{size}.visible"),
        &format!("overlay create on host 1 until host {size} lists it ({size} hosts)"),
        "ms",
        &visible,
    );
    create_overlay(c.first(), OVERLAY, Some(OVERLAY_SUBNET))?;
    for d in &c.daemons {
        wait_listed(d, OVERLAY)?;
    }
    reach(c, size, samples, rec)?;
    throughput(c, size, p, rec)?;
    memory(c, size, p, rec)
}

/// Starts on the first host against a container on the last one probing
/// for the new name; and the etcd writes those starts made.
fn reach(c: &Cluster, size: usize, samples: usize, rec: &mut Recorder) -> Result<()> {
    let watcher = c.last().run("watcher", OVERLAY, &[], SLEEP)?;
    let (_, netns) = c.last().address_and_netns(&watcher, OVERLAY)?;
    let revision = c.etcd_revision()?;
    let mut reached = Vec::with_capacity(samples);
    for i in 0..samples {
        check_interrupted()?;
        let name = format!("reach{i}");
        let id = c.first().create_with_config(
            &name,
            json!({"Image": "busybox", "Cmd": SLEEP, "HostConfig": {"NetworkMode": OVERLAY}}),
        )?;
        let probe = ReachProbe::spawn(c.last(), &netns, &name)?;
        // The moment the start is asked: the network is wired (and so
        // answers pings) before the process runs and the start returns.
        let asked = monotonic_ms();
        c.first().start_container(&id)?;
        reached.push(probe.reached()? - asked);
    }
    let writes = c.etcd_revision()?.saturating_sub(revision);
    rec.add(
        &format!("cluster.{size}.reach"),
        &format!("start on host 1 -> pingable by name from host {size}"),
        "ms",
        &reached,
    );
    rec.one(
        &format!("cluster.{size}.txns"),
        &format!("etcd write transactions per container start ({size} hosts)"),
        "txns",
        writes as f64 / samples as f64,
    );
    rec.note_last(format!("{writes} store revisions over {samples} starts"));
    Ok(())
}

/// `berth-bench probe reach NAME` in a container's namespace, ready once
/// its sockets are open.
struct ReachProbe {
    child: Child,
    _dir: tempfile::TempDir,
}

impl ReachProbe {
    fn spawn(d: &Daemon, netns: &Path, name: &str) -> Result<ReachProbe> {
        let dir = tempfile::tempdir()?;
        let ready = dir.path().join("ready");
        let child =
            d.sb.in_netns(netns, std::env::current_exe()?)
                .args(["probe", "reach", name, "--ready"])
                .arg(&ready)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("start the reach probe")?;
        let deadline = Instant::now() + VISIBLE_TIMEOUT;
        while !ready.exists() {
            if Instant::now() > deadline {
                bail!("the reach probe did not start");
            }
            sleep(Duration::from_millis(2));
        }
        Ok(ReachProbe { child, _dir: dir })
    }

    /// The probe's CLOCK_MONOTONIC moment of the first echo reply.
    fn reached(self) -> Result<f64> {
        let out = self.child.wait_with_output()?;
        if !out.status.success() {
            bail!("reach probe: {}", String::from_utf8_lossy(&out.stderr));
        }
        let v: Value = serde_json::from_slice(&out.stdout)?;
        v["reached_ms"]
            .as_f64()
            .with_context(|| format!("reach probe said {v}"))
    }
}

/// iperf3 from a container on the last host to one on the first, over the
/// overlay, each run paired with one between the same two hosts' underlay
/// addresses. On shared cores a run's throughput swings with whatever
/// else runs (1.5-3x between runs here), so the ratio is the median of
/// the pairs' ratios, and the pairs alternate which path goes first.
fn throughput(c: &Cluster, size: usize, p: &Params, rec: &mut Recorder) -> Result<()> {
    let server = c.first().run("iperfserver", OVERLAY, &[], SLEEP)?;
    let client = c.last().run("iperfclient", OVERLAY, &[], SLEEP)?;
    let (server_ip, server_ns) = c.first().address_and_netns(&server, OVERLAY)?;
    let (_, client_ns) = c.last().address_and_netns(&client, OVERLAY)?;
    let over = || {
        iperf_between(
            c.first().sb.in_netns(&server_ns, "iperf3"),
            || c.last().sb.in_netns(&client_ns, "iperf3"),
            &server_ip,
            5201,
            p.iperf_secs,
        )
    };
    let under = || {
        iperf_between(
            c.first().sb.command("iperf3"),
            || c.last().sb.command("iperf3"),
            &underlay_ip(0),
            5201,
            p.iperf_secs,
        )
    };
    let (mut overlay, mut underlay, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..p.iperf_reps.max(2) * 2 {
        check_interrupted()?;
        let (o, u) = if pair % 2 == 0 {
            (over()?, under()?)
        } else {
            let u = under()?;
            (over()?, u)
        };
        overlay.push(o);
        underlay.push(u);
        ratios.push(100.0 * o / u);
    }
    rec.add(
        &format!("cluster.{size}.iperf_overlay"),
        "iperf3 container -> container across hosts (overlay)",
        "Gbit/s",
        &overlay,
    );
    rec.add(
        &format!("cluster.{size}.iperf_underlay"),
        "iperf3 host -> host over the same underlay",
        "Gbit/s",
        &underlay,
    );
    rec.add(
        &format!("cluster.{size}.iperf_ratio"),
        "overlay / underlay throughput, per back-to-back pair",
        "%",
        &ratios,
    );
    Ok(())
}

/// Every host runs `cluster_containers` on the overlay; each berthd's RSS.
fn memory(c: &Cluster, size: usize, p: &Params, rec: &mut Recorder) -> Result<()> {
    let work: Vec<(usize, usize)> = (0..size)
        .flat_map(|h| (0..p.cluster_containers).map(move |i| (h, i)))
        .collect();
    for r in parallel(p.grow_threads, &work, |(h, i)| {
        c.daemons[*h].run(&format!("load{h}x{i}"), OVERLAY, &[], SLEEP)
    }) {
        r?;
    }
    // Let every host take in the others' endpoints before reading.
    sleep(Duration::from_secs(2));
    let rss: Vec<f64> = c.daemons.iter().map(Daemon::daemon_rss_mb).collect();
    rec.add(
        &format!("cluster.{size}.rss"),
        &format!(
            "berthd RSS per host, {size} hosts x {} containers",
            p.cluster_containers
        ),
        "MB",
        &rss,
    );
    Ok(())
}

fn create_overlay(d: &Daemon, name: &str, subnet: Option<&str>) -> Result<String> {
    let mut body = json!({"Name": name, "Driver": "overlay", "CheckDuplicate": true});
    if let Some(subnet) = subnet {
        body["IPAM"] = json!({"Config": [{"Subnet": subnet}]});
    }
    let reply = d
        .api
        .post("/networks/create", &body)?
        .ok(&format!("create overlay network {name}"))?;
    reply.json()?["Id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no Id creating {name}"))
}

/// Polls `GET /networks/NAME` until the daemon knows it.
fn wait_listed(d: &Daemon, name: &str) -> Result<()> {
    let deadline = Instant::now() + VISIBLE_TIMEOUT;
    let path = format!("/networks/{name}");
    loop {
        if d.api.get(&path)?.status == 200 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "network {name} not listed on {} within {VISIBLE_TIMEOUT:?}",
                d.sb.dir().display()
            );
        }
        sleep(Duration::from_micros(500));
    }
}
