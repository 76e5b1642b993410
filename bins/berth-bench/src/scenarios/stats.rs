//! `docker stats --no-stream` with ten containers running: what the CLI
//! does, the running containers listed and one `stream=false` request per
//! container, all at once. Each answer takes two samples a second apart
//! (dockerd's CPU priming), so the floor is about a second.

use std::time::Instant;

use anyhow::{anyhow, Result};

use super::{check_interrupted, ms, say, Params, Recorder, NET, SLEEP};
use crate::daemon::Daemon;

/// Containers running while `stats` is timed.
const RUNNING: usize = 10;

pub(super) fn stats(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    say(
        d,
        &format!("stats --no-stream at {RUNNING} running x{}", p.run_n),
    );
    let mut ids = Vec::new();
    for i in 0..RUNNING {
        ids.push(d.run(&format!("stats-{i}"), NET, &[], SLEEP)?);
    }
    let mut samples = Vec::new();
    for _ in 0..p.run_n {
        check_interrupted()?;
        let t = Instant::now();
        no_stream(d)?;
        samples.push(ms(t));
    }
    rec.add(
        "stats.nostream",
        &format!("stats --no-stream ({RUNNING} running)"),
        "ms",
        &samples,
    );
    for id in &ids {
        d.rm_force(id)?;
    }
    Ok(())
}

/// One `docker stats --no-stream`: the list, then every container's
/// document concurrently.
fn no_stream(d: &Daemon) -> Result<()> {
    let running = d
        .api
        .get("/containers/json")?
        .ok("list containers")?
        .json()?;
    let ids: Vec<String> = running
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Id"].as_str().map(str::to_owned))
        .collect();
    std::thread::scope(|scope| {
        let requests: Vec<_> = ids
            .iter()
            .map(|id| {
                let api = d.api.clone();
                scope.spawn(move || {
                    api.get(&format!("/containers/{id}/stats?stream=false"))?
                        .ok(&format!("stats of {id}"))
                        .map(drop)
                })
            })
            .collect();
        for request in requests {
            request
                .join()
                .map_err(|_| anyhow!("a stats request panicked"))??;
        }
        Ok(())
    })
}
