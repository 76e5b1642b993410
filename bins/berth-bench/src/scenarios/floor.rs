//! Kernel floors: what `ip` and `nft` take for the steps berth cannot
//! avoid, beside berth's own rows.

use std::collections::HashMap;

use anyhow::Result;

use super::{say, Params, Recorder};
use crate::daemon::Daemon;

/// What the kernel and the tools take for the steps berth cannot avoid,
/// measured with `ip` and `nft` in the sandbox host (each sample includes
/// starting one process: the `ip link show lo` row is that cost alone).
pub(super) fn floors(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    say(d, "kernel floors (ip, nft)");
    let n = p.run_n.max(5);
    let script = format!(
        r#"set -e
t() {{ s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo "$1 $2 $3 $4 $(( (e-s)/1000 ))"; }}
nft add table ip benchfloor
nft add set ip benchfloor s '{{ type ipv4_addr; }}'
i=0
while [ $i -lt {n} ]; do
  i=$((i+1))
  t ip link show lo
  t ip link add brf up type bridge
  t ip link del brf type bridge
  t ip link add vfa type veth peer name vfb
  t ip link del vfa type veth
  t ip netns add nsf
  t ip netns del nsf
  t nft add element ip benchfloor s "{{ 10.0.0.$i }}"
done
nft delete table ip benchfloor
"#
    );
    let out = d.sb.sh(&script)?;
    let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let (Some(us), Some(key)) = (words.last(), words.get(..words.len().saturating_sub(1))) {
            if let Ok(us) = us.parse::<f64>() {
                samples.entry(key.join(" ")).or_default().push(us / 1000.0);
            }
        }
    }
    let rows = [
        (
            "floor.spawn",
            "floor: ip link show lo (process start)",
            "ip link show lo",
        ),
        ("floor.bradd", "floor: bridge add (ip)", "ip link add brf"),
        (
            "floor.brdel",
            "floor: bridge delete (ip)",
            "ip link del brf",
        ),
        (
            "floor.vethadd",
            "floor: veth pair add (ip)",
            "ip link add vfa",
        ),
        (
            "floor.vethdel",
            "floor: veth pair delete (ip)",
            "ip link del vfa",
        ),
        (
            "floor.nsadd",
            "floor: netns add (ip netns)",
            "ip netns add nsf",
        ),
        (
            "floor.nsdel",
            "floor: netns delete (ip netns)",
            "ip netns del nsf",
        ),
        (
            "floor.nft",
            "floor: nft add element (process)",
            "nft add element ip",
        ),
    ];
    for (id, label, key) in rows {
        if let Some(v) = samples.get(key) {
            rec.add(id, label, "ms", v);
        }
    }
    Ok(())
}

/// The kernel's part of a container's network that grows with the
/// containers on its bridge (a bridge's port add and removal walk its
/// ports), with `ip` on the bridge with the most ports, at `level`
/// containers: one process adds a veth pair and makes it a port, up;
/// another deletes it.
pub(super) fn port_floor(d: &Daemon, p: &Params, level: usize, rec: &mut Recorder) -> Result<()> {
    let n = p.run_n.max(5);
    let script = format!(
        r#"set -e
br=$(for b in $(ip -o link show type bridge | cut -d: -f2); do echo "$(ip -o link show master $b | wc -l) $b"; done | sort -n | tail -1 | cut -d' ' -f2)
batch=$(mktemp)
printf 'link add vpf type veth peer name vpg\nlink set vpf master %s up\n' "$br" > "$batch"
i=0
while [ $i -lt {n} ]; do
  i=$((i+1))
  s=$(date +%s%N); ip -batch "$batch"; e=$(date +%s%N); echo "add $(( (e-s)/1000 ))"
  s=$(date +%s%N); ip link del vpf; e=$(date +%s%N); echo "del $(( (e-s)/1000 ))"
done
rm -f "$batch"
"#
    );
    let out = d.sb.sh(&script)?;
    let (mut add, mut del) = (Vec::new(), Vec::new());
    for line in out.lines() {
        match line.split_once(' ') {
            Some(("add", us)) => add.extend(us.parse::<f64>().ok().map(|v| v / 1000.0)),
            Some(("del", us)) => del.extend(us.parse::<f64>().ok().map(|v| v / 1000.0)),
            _ => {}
        }
    }
    rec.add(
        &format!("floor.portadd.{level}"),
        &format!("  floor: veth add + bridge port, ip ({level} running)"),
        "ms",
        &add,
    );
    rec.add(
        &format!("floor.portdel.{level}"),
        &format!("  floor: veth delete from bridge, ip ({level} running)"),
        "ms",
        &del,
    );
    Ok(())
}
