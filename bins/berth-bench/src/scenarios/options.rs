//! `run -d` of a container as real workloads ask for it (three bind
//! mounts, a named volume, memory, CPU and PID limits) beside a plain
//! `run -d`, and a plain one without Docker's default seccomp profile
//! (what the profile costs runc to load), taken in turns so that all see
//! the same machine.

use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::{check_interrupted, ms, say, Params, Recorder, NET, SLEEP};
use crate::daemon::Daemon;

const VOLUME: &str = "benchvolume";

/// What `docker run -v A:/a -v B:/b -v C:/c:ro -v benchvolume:/data
/// --memory 64m --cpus 0.5 --pids-limit 100` sends.
fn workload_host_config(bind_dir: &str) -> Map<String, Value> {
    let mut host = Map::new();
    host.insert(
        "Binds".to_owned(),
        json!([
            format!("{bind_dir}/a:/a"),
            format!("{bind_dir}/b:/b"),
            format!("{bind_dir}/c:/c:ro"),
            format!("{VOLUME}:/data"),
        ]),
    );
    host.insert("Memory".to_owned(), json!(64 << 20));
    host.insert("NanoCpus".to_owned(), json!(500_000_000));
    host.insert("PidsLimit".to_owned(), json!(100));
    host
}

pub(super) fn options(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    say(
        d,
        &format!(
            "run -d with 3 binds, a named volume and limits, beside plain run -d x{}",
            p.run_n
        ),
    );
    let bind_dir = d.sb.dir().join("bench-binds").display().to_string();
    d.sb.sh(&format!("mkdir -p {bind_dir}/a {bind_dir}/b {bind_dir}/c"))?;
    let (mut plain, mut workload, mut unconfined) = (Vec::new(), Vec::new(), Vec::new());
    let mut no_seccomp = Map::new();
    no_seccomp.insert("SecurityOpt".to_owned(), json!(["seccomp=unconfined"]));
    for i in 0..p.run_n {
        check_interrupted()?;
        for (prefix, samples, host) in [
            ("plain", &mut plain, Map::new()),
            ("workload", &mut workload, workload_host_config(&bind_dir)),
            ("unconfined", &mut unconfined, no_seccomp.clone()),
        ] {
            let t = Instant::now();
            let id = d.run_with(&format!("{prefix}-{i}"), NET, &[], SLEEP, host)?;
            samples.push(ms(t));
            d.rm_force(&id)?;
        }
    }
    rec.add("options.plain", "run -d, plain (0 running)", "ms", &plain);
    rec.add(
        "options.run",
        "run -d, 3 binds + a named volume + limits (0 running)",
        "ms",
        &workload,
    );
    rec.add(
        "options.unconfined",
        "run -d, seccomp=unconfined (0 running)",
        "ms",
        &unconfined,
    );
    d.remove_volume(VOLUME)?;
    Ok(())
}
