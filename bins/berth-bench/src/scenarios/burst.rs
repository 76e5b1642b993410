//! The background containers: a burst of `run -d` at once starts the
//! first ones, then they grow to each level.

use std::time::Instant;

use anyhow::{Context, Result};

use super::{ms, parallel, say, Background, Params, Recorder, NET, SLEEP};
use crate::daemon::Daemon;

pub(super) fn burst(d: &Daemon, p: &Params, rec: &mut Recorder, bg: &mut Background) -> Result<()> {
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
pub(super) fn grow(
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
