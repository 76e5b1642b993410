//! A start on a macvlan network beside one on a bridge: the second
//! driver's network part, with no bridge port and no firewall elements.

use anyhow::Result;

use super::run::run_rm_samples_on;
use super::{say, Params, Recorder};
use crate::daemon::Daemon;

const MACVLAN_NET: &str = "benchmacvlan";

/// `run -d` / `rm -f` on a macvlan network whose parent is one end of a
/// veth pair in the sandbox host (both ends up, the other end unused).
pub(super) fn macvlan(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    say(d, &format!("macvlan: run -d / rm -f x{}", p.run_n));
    d.sb.sh("ip link add mvparent type veth peer name mvpeer && ip link set mvparent up && ip link set mvpeer up")?;
    let id = d.create_macvlan_network(MACVLAN_NET, "mvparent", "10.124.0.0/16")?;
    let s = run_rm_samples_on(d, MACVLAN_NET, "mv", p.run_n, &[])?;
    rec.add("macvlan.run", "run -d, macvlan (0 running)", "ms", &s.run);
    rec.add("macvlan.rm", "rm -f, macvlan (0 running)", "ms", &s.rm);
    if let Some(netpart) = s.steps.get("network_setup") {
        rec.add(
            "macvlan.netpart",
            "  network part of start, macvlan (0 running)",
            "ms",
            netpart,
        );
    }
    d.remove_network(&id)?;
    Ok(())
}
