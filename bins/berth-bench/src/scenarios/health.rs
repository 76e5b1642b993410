//! What healthchecks cost: containers probing every second (`--health-cmd
//! true --health-interval 1s`), the daemon's CPU over a window once all
//! are healthy, and the whole machine's, since each probe is a runc exec
//! whose processes are not the daemon's.

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Map};

use super::{check_interrupted, parallel, say, Params, Recorder, NET, SLEEP};
use crate::daemon::Daemon;

/// How long the CPU is watched.
const WINDOW: Duration = Duration::from_secs(10);

/// Clock ticks of user and system time a process has used.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start past ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (busy, total) clock ticks of the whole machine.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// `/proc`'s clock ticks per second: USER_HZ, 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

pub(super) fn health(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    let n = p.health_containers;
    say(
        d,
        &format!("healthchecks: {n} containers probing every second"),
    );
    let mut host = Map::new();
    host.insert("NetworkMode".to_owned(), json!(NET));
    let names: Vec<String> = (0..n).map(|i| format!("hc-{i}")).collect();
    let started = parallel(p.grow_threads, &names, |name| {
        d.run_with_config(
            name,
            json!({
                "Image": "busybox",
                "Cmd": SLEEP,
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000i64},
                "HostConfig": host.clone(),
            }),
        )
    });
    let ids: Vec<String> = started.into_iter().collect::<Result<_>>()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        check_interrupted()?;
        let healthy = ids
            .iter()
            .filter(|id| {
                d.inspect(id)
                    .is_ok_and(|c| c["State"]["Health"]["Status"] == "healthy")
            })
            .count();
        if healthy == ids.len() {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {healthy} of {} containers became healthy", ids.len());
        }
        sleep(Duration::from_millis(200));
    }
    let pids = d.daemon_pids();
    let daemon = |pids: &[u32]| pids.iter().filter_map(|p| process_ticks(*p)).sum::<u64>();
    let (d0, m0) = (daemon(&pids), machine_ticks());
    sleep(WINDOW);
    let (d1, m1) = (daemon(&pids), machine_ticks());
    let daemon_pct = (d1 - d0) as f64 / TICKS_PER_SECOND / WINDOW.as_secs_f64() * 100.0;
    rec.one(
        "health.daemon_cpu",
        &format!("daemon CPU, {n} containers probing every 1 s"),
        "%",
        daemon_pct,
    );
    if let (Some((b0, t0)), Some((b1, t1))) = (m0, m1) {
        let machine_pct = (b1 - b0) as f64 / (t1 - t0).max(1) as f64 * 100.0;
        rec.one(
            "health.machine_cpu",
            &format!("  whole machine busy, {n} containers probing every 1 s"),
            "%",
            machine_pct,
        );
    }
    for id in &ids {
        d.rm_force(id)?;
    }
    Ok(())
}
