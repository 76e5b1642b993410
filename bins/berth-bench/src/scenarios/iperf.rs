//! iperf3 throughput along each path to a container.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{check_interrupted, say, Params, Recorder, NET, SLEEP};
use crate::daemon::Daemon;
use crate::sandbox::HOST_IP;

pub(super) fn iperf(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
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
    iperf_between(
        d.sb.in_netns(server_ns, "iperf3"),
        || match from {
            Where::Host => d.sb.command("iperf3"),
            Where::Peer => d.sb.in_peer("iperf3"),
            Where::Netns(ns) => d.sb.in_netns(ns, "iperf3"),
        },
        addr,
        port,
        secs,
    )
}

/// One iperf3 measurement: a one-shot server on port 5201 started by
/// `server` (`iperf3` in the right namespace, no arguments yet), then the
/// client from `client` against `addr:port` (retried until the server
/// listens). Gbit/s received.
pub(super) fn iperf_between(
    mut server: Command,
    client: impl Fn() -> Command,
    addr: &str,
    port: u16,
    secs: u32,
) -> Result<f64> {
    let mut server = server
        .args(["-s", "-1", "-p", "5201"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start iperf3 -s")?;
    let result = (|| -> Result<f64> {
        let mut last = String::new();
        for _ in 0..50 {
            let out = client()
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
