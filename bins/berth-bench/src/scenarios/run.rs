//! `run -d`, `inspect` and `rm -f` at each level of running containers,
//! with berthd's own timings of each step.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Result;

use super::{check_interrupted, ms, say, Params, Recorder, NET, SLEEP};
use crate::daemon::Daemon;

/// The 1-minute load average: other work on the machine shows here.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// berthd's timings of the network part's phases, and their rows' labels.
const NETWORK_PHASES: [(&str, &str); 5] = [
    ("start_record", "record the start (one transaction)"),
    ("start_netns", "network namespace"),
    ("start_join", "endpoints (veth, addresses, routes)"),
    ("start_ports", "published ports (nft)"),
    ("start_etc_dns", "/etc files and embedded DNS"),
];

/// Times of `run -d` and `rm -f` of `n` containers publishing `ports`, one
/// after the other; with berthd's own timings of each step.
pub(super) struct RunRm {
    pub(super) run: Vec<f64>,
    pub(super) rm: Vec<f64>,
    pub(super) inspect: Vec<f64>,
    pub(super) steps: HashMap<&'static str, Vec<f64>>,
}

pub(super) fn run_rm_samples(
    d: &Daemon,
    prefix: &str,
    n: usize,
    ports: &[(u16, u16)],
) -> Result<RunRm> {
    run_rm_samples_on(d, NET, prefix, n, ports)
}

/// [`run_rm_samples`] on `network`.
pub(super) fn run_rm_samples_on(
    d: &Daemon,
    network: &str,
    prefix: &str,
    n: usize,
    ports: &[(u16, u16)],
) -> Result<RunRm> {
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
        let id = d.run(&format!("{prefix}-{i}"), network, ports, SLEEP)?;
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
    for op in ["network_setup", "runtime_start", "engine_remove"]
        .into_iter()
        .chain(NETWORK_PHASES.iter().map(|(op, _)| *op))
    {
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

pub(super) fn run_rm(d: &Daemon, p: &Params, level: usize, rec: &mut Recorder) -> Result<()> {
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
    for (op, label) in NETWORK_PHASES {
        rec.add(
            &format!("netpart.{op}.{level}"),
            &format!("    {label} ({at})"),
            "ms",
            &s.steps[op],
        );
    }
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
