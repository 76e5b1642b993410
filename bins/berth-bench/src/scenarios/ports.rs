//! Published ports: a range against none, one port added and removed at 0
//! and at many published ports, and the connection rate through them.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;

use super::run::{run_rm_samples, RunRm};
use super::{check_interrupted, ms, say, Params, Recorder, NET, SLEEP};
use crate::daemon::{Daemon, Kind};
use crate::sandbox::{output, wait_for, HOST_IP};
use crate::stats::Stats;

fn range(first: u16, count: u16) -> Vec<(u16, u16)> {
    (first..first.saturating_add(count))
        .map(|p| (p, p))
        .collect()
}

pub(super) fn port_range(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
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

pub(super) fn many_ports(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
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
