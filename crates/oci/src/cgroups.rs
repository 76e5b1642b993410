//! What the host's cgroups can limit, read once from `/sys/fs/cgroup`
//! (v1, v2 or hybrid, where runc uses the v1 controllers).

use std::path::Path;

use berth_core::container::Capacity;

/// Probes the cgroup mount at `root` (`/sys/fs/cgroup`).
pub fn capacity(root: &Path) -> Capacity {
    let has = |file: &str| root.join(file).exists();
    let cpus = usable_cpus();
    if has("cgroup.controllers") {
        let controllers =
            std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let controller = |name: &str| controllers.split_whitespace().any(|c| c == name);
        return Capacity {
            cpus,
            mems: memory_nodes(&root.join("cpuset.mems.effective")),
            swap_limit: controller("memory"),
            blkio_weight: controller("io"),
            oom_kill_disable: false,
        };
    }
    Capacity {
        cpus,
        mems: memory_nodes(&root.join("cpuset/cpuset.mems")),
        swap_limit: has("memory/memory.memsw.limit_in_bytes"),
        blkio_weight: has("blkio/blkio.weight") || has("blkio/blkio.bfq.weight"),
        oom_kill_disable: has("memory/memory.oom_control"),
    }
}

/// The CPUs this process may run on (Go's `runtime.NumCPU`, which Docker
/// checks `--cpus` against).
fn usable_cpus() -> u32 {
    let counted = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).map(|set| {
        (0..nix::sched::CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .count()
    });
    match counted {
        Ok(n) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX),
        _ => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    }
}

/// How many memory nodes a cpuset list (`0-1`) names; 1 if unreadable.
fn memory_nodes(list: &Path) -> u32 {
    let text = std::fs::read_to_string(list).unwrap_or_default();
    text.trim()
        .split(',')
        .filter_map(|part| part.rsplit('-').next()?.parse::<u32>().ok())
        .max()
        .map_or(1, |highest| highest + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_hierarchies_are_read() {
        let v1 = tempfile::tempdir().unwrap();
        for dir in ["memory", "blkio", "cpuset"] {
            std::fs::create_dir(v1.path().join(dir)).unwrap();
        }
        std::fs::write(v1.path().join("memory/memory.memsw.limit_in_bytes"), "").unwrap();
        std::fs::write(v1.path().join("memory/memory.oom_control"), "").unwrap();
        std::fs::write(v1.path().join("cpuset/cpuset.mems"), "0-1\n").unwrap();
        let c = capacity(v1.path());
        assert!(c.swap_limit && c.oom_kill_disable && !c.blkio_weight);
        assert_eq!(c.mems, 2);
        assert!(c.cpus >= 1);

        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(
            v2.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let c = capacity(v2.path());
        assert!(c.swap_limit && c.blkio_weight && !c.oom_kill_disable);
        assert_eq!(c.mems, 1);
    }
}
