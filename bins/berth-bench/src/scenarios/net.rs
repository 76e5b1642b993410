//! Network create and rm.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{check_interrupted, ms, say, Params, Recorder};
use crate::daemon::Daemon;

pub(super) fn networks(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
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
