//! `docker stats` readings: a container's cgroup files (v1 controllers, as
//! runc uses them on hybrid hosts, or the v2 unified tree), the host's
//! `/proc/stat` and `/proc/meminfo`, and `/proc/<pid>/net/dev` of one of
//! its processes (its network namespace). Parsing is pure, reading thin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_core::container::{
    BlockIoEntry, ContainerStats, CpuStats, MemoryStats, NetworkStats, PidsStats, Throttling,
};

use crate::error::{Error, Result};

/// The kernel's `USER_HZ`, the unit of `/proc/stat` and `cpuacct.stat`.
const CLOCK_TICKS_PER_SECOND: u64 = 100;
const NANOS_PER_TICK: u64 = 1_000_000_000 / CLOCK_TICKS_PER_SECOND;

/// Reads the stats of the container whose cgroup is `cgroup_path` (runc's
/// cgroupfs path, `/berth/<id>`) under the cgroup mount `root`
/// (`/sys/fs/cgroup`); `proc` is `/proc`.
pub fn read(root: &Path, proc: &Path, cgroup_path: &str) -> Result<ContainerStats> {
    let relative = cgroup_path.trim_start_matches('/');
    let (cpu, memory, pids, block_io, procs) = if root.join("cgroup.controllers").exists() {
        let dir = root.join(relative);
        let cpu = v2_cpu(&read_file(&dir.join("cpu.stat"))?);
        let memory = MemoryStats {
            usage: parse_u64(&read_file(&dir.join("memory.current"))?),
            max_usage: None,
            failcnt: None,
            limit: parse_limit(&read_file(&dir.join("memory.max"))?),
            stat: flat_keyed(&read_file(&dir.join("memory.stat"))?),
        };
        let pids = read_pids(&dir)?;
        let block_io = v2_io(&read_optional(&dir.join("io.stat"))?);
        (cpu, memory, pids, block_io, dir.join("cgroup.procs"))
    } else {
        let at = |controller: &str| root.join(controller).join(relative);
        let (cpuacct, cpu_dir, mem) = (at("cpuacct"), at("cpu"), at("memory"));
        let (user_ns, kernel_ns) = v1_cpuacct_stat(&read_file(&cpuacct.join("cpuacct.stat"))?);
        let cpu = CpuStats {
            total_ns: parse_u64(&read_file(&cpuacct.join("cpuacct.usage"))?),
            kernel_ns,
            user_ns,
            per_cpu_ns: read_file(&cpuacct.join("cpuacct.usage_percpu"))?
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect(),
            throttling: v1_throttling(&read_optional(&cpu_dir.join("cpu.stat"))?),
            ..CpuStats::default()
        };
        let memory = MemoryStats {
            usage: parse_u64(&read_file(&mem.join("memory.usage_in_bytes"))?),
            max_usage: Some(parse_u64(&read_file(
                &mem.join("memory.max_usage_in_bytes"),
            )?)),
            failcnt: Some(parse_u64(&read_file(&mem.join("memory.failcnt"))?)),
            limit: parse_limit(&read_file(&mem.join("memory.limit_in_bytes"))?),
            stat: flat_keyed(&read_file(&mem.join("memory.stat"))?),
        };
        let pids = read_pids(&at("pids"))?;
        let blkio = at("blkio");
        // CFQ's files where the kernel has them, the throttle layer's
        // otherwise (moby's cgroups library does the same).
        let mut block_io = v1_blkio(&read_optional(
            &blkio.join("blkio.io_service_bytes_recursive"),
        )?);
        if block_io.is_empty() {
            block_io = v1_blkio(&read_optional(
                &blkio.join("blkio.throttle.io_service_bytes_recursive"),
            )?);
        }
        (cpu, memory, pids, block_io, at("pids").join("cgroup.procs"))
    };
    let (system_ns, online_cpus) = proc_stat(&read_file(&proc.join("stat"))?);
    let host_memory = mem_total(&read_file(&proc.join("meminfo"))?);
    let networks = match read_file(&procs)?.lines().next() {
        Some(pid) => net_dev(&read_file(&proc.join(pid.trim()).join("net/dev"))?),
        None => BTreeMap::new(),
    };
    Ok(ContainerStats {
        cpu: CpuStats {
            system_ns,
            online_cpus,
            ..cpu
        },
        memory: MemoryStats {
            // No limit of its own: the host's memory, as dockerd reports.
            limit: if host_memory > 0 {
                memory.limit.min(host_memory)
            } else {
                memory.limit
            },
            ..memory
        },
        pids,
        block_io,
        networks,
    })
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(Error::io("read", PathBuf::from(path)))
}

/// A file some kernels lack (no CFQ, no io controller): empty if missing.
fn read_optional(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        other => other.map_err(Error::io("read", PathBuf::from(path))),
    }
}

fn read_pids(dir: &Path) -> Result<PidsStats> {
    Ok(PidsStats {
        current: parse_u64(&read_file(&dir.join("pids.current"))?),
        limit: match read_file(&dir.join("pids.max"))?.trim() {
            "max" => 0,
            n => parse_u64(n),
        },
    })
}

fn parse_u64(text: &str) -> u64 {
    text.trim().parse().unwrap_or(0)
}

/// A memory limit: v2 writes `max` for none (v1 a huge number).
fn parse_limit(text: &str) -> u64 {
    match text.trim() {
        "max" => u64::MAX,
        n => parse_u64(n),
    }
}

/// `key value` lines (`memory.stat`, `cpu.stat`).
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// v2 `cpu.stat`: microseconds, turned into Docker's nanoseconds.
fn v2_cpu(text: &str) -> CpuStats {
    let stat = flat_keyed(text);
    let get = |key: &str| stat.get(key).copied().unwrap_or(0);
    CpuStats {
        total_ns: get("usage_usec") * 1000,
        kernel_ns: get("system_usec") * 1000,
        user_ns: get("user_usec") * 1000,
        throttling: Throttling {
            periods: get("nr_periods"),
            throttled_periods: get("nr_throttled"),
            throttled_ns: get("throttled_usec") * 1000,
        },
        ..CpuStats::default()
    }
}

/// v1 `cpuacct.stat` (`user`, `system` in clock ticks): user and kernel
/// nanoseconds.
fn v1_cpuacct_stat(text: &str) -> (u64, u64) {
    let stat = flat_keyed(text);
    let get = |key: &str| stat.get(key).copied().unwrap_or(0) * NANOS_PER_TICK;
    (get("user"), get("system"))
}

/// v1 `cpu.stat` (`throttled_time` already in nanoseconds).
fn v1_throttling(text: &str) -> Throttling {
    let stat = flat_keyed(text);
    let get = |key: &str| stat.get(key).copied().unwrap_or(0);
    Throttling {
        periods: get("nr_periods"),
        throttled_periods: get("nr_throttled"),
        throttled_ns: get("throttled_time"),
    }
}

fn device(text: &str) -> Option<(u64, u64)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// v1 `blkio.*io_service_bytes_recursive`: `MAJ:MIN Op bytes` lines, then
/// a device-less `Total`.
fn v1_blkio(text: &str) -> Vec<BlockIoEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (major, minor) = device(fields.next()?)?;
            let op = fields.next()?.to_owned();
            let value = fields.next()?.parse().ok()?;
            Some(BlockIoEntry {
                major,
                minor,
                op,
                value,
            })
        })
        .collect()
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N ...`, as moby turns it into
/// `read` and `write` entries.
fn v2_io(text: &str) -> Vec<BlockIoEntry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(device) else {
            continue;
        };
        for field in fields {
            let op = match field.split_once('=') {
                Some(("rbytes", v)) => ("read", v),
                Some(("wbytes", v)) => ("write", v),
                _ => continue,
            };
            entries.push(BlockIoEntry {
                major,
                minor,
                op: op.0.to_owned(),
                value: parse_u64(op.1),
            });
        }
    }
    entries
}

/// `/proc/stat`: nanoseconds all CPUs spent (the first seven columns of
/// the `cpu` line, as dockerd sums them) and how many CPUs are online.
fn proc_stat(text: &str) -> (u64, u32) {
    let mut total_ns = 0;
    let mut online = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let ticks: u64 = fields.take(7).filter_map(|f| f.parse::<u64>().ok()).sum();
                total_ns = ticks * NANOS_PER_TICK;
            }
            Some(name) if name.starts_with("cpu") => online += 1,
            _ => {}
        }
    }
    (total_ns, online)
}

/// `/proc/meminfo`'s `MemTotal`, in bytes.
fn mem_total(text: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// `/proc/<pid>/net/dev`: every interface but `lo`.
fn net_dev(text: &str) -> BTreeMap<String, NetworkStats> {
    text.lines()
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let name = name.trim();
            let n: Vec<u64> = counters
                .split_whitespace()
                .map(|c| c.parse().ok())
                .collect::<Option<_>>()?;
            if name == "lo" || n.len() < 12 {
                return None;
            }
            Some((
                name.to_owned(),
                NetworkStats {
                    rx_bytes: n[0],
                    rx_packets: n[1],
                    rx_errors: n[2],
                    rx_dropped: n[3],
                    tx_bytes: n[8],
                    tx_packets: n[9],
                    tx_errors: n[10],
                    tx_dropped: n[11],
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_STAT: &str = "cpu  100 5 50 1000 10 1 2 7 0 0\n\
                             cpu0 50 2 25 500 5 1 1 0 0 0\n\
                             cpu1 50 3 25 500 5 0 1 0 0 0\n\
                             intr 12345\nctxt 999\n";
    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit\n \
        face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
        lo:     168       2    0    0    0     0          0         0      168       2    0    0    0     0       0          0\n  \
        eth0:    1554      15    1    2    0     0          0         0      700       7    3    4    0     0       0          0\n";
    const MEMINFO: &str = "MemTotal:        2048 kB\nMemFree:          100 kB\n";

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    fn proc_dir() -> tempfile::TempDir {
        let proc = tempfile::tempdir().unwrap();
        write(
            proc.path(),
            &[
                ("stat", PROC_STAT),
                ("meminfo", MEMINFO),
                ("42/net/dev", NET_DEV),
            ],
        );
        proc
    }

    #[test]
    fn host_cpu_memory_and_interfaces() {
        assert_eq!(proc_stat(PROC_STAT), (1168 * NANOS_PER_TICK, 2));
        assert_eq!(mem_total(MEMINFO), 2048 * 1024);
        let nets = net_dev(NET_DEV);
        assert_eq!(nets.len(), 1, "lo is left out");
        let eth0 = nets["eth0"];
        assert_eq!(
            (eth0.rx_bytes, eth0.rx_packets, eth0.rx_errors),
            (1554, 15, 1)
        );
        assert_eq!(
            (eth0.rx_dropped, eth0.tx_bytes, eth0.tx_packets),
            (2, 700, 7)
        );
        assert_eq!((eth0.tx_errors, eth0.tx_dropped), (3, 4));
    }

    #[test]
    fn a_v1_cgroup_is_read_per_controller() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            &[
                ("cpuacct/berth/c1/cpuacct.usage", "3000000000\n"),
                (
                    "cpuacct/berth/c1/cpuacct.usage_percpu",
                    "1000000000 2000000000 \n",
                ),
                ("cpuacct/berth/c1/cpuacct.stat", "user 120\nsystem 30\n"),
                (
                    "cpu/berth/c1/cpu.stat",
                    "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n",
                ),
                ("memory/berth/c1/memory.usage_in_bytes", "1048576\n"),
                ("memory/berth/c1/memory.max_usage_in_bytes", "2097152\n"),
                ("memory/berth/c1/memory.failcnt", "0\n"),
                ("memory/berth/c1/memory.limit_in_bytes", "1024\n"),
                (
                    "memory/berth/c1/memory.stat",
                    "cache 4096\nrss 8192\ntotal_inactive_file 4096\n",
                ),
                ("pids/berth/c1/pids.current", "3\n"),
                ("pids/berth/c1/pids.max", "max\n"),
                ("pids/berth/c1/cgroup.procs", "42\n43\n"),
                (
                    "blkio/berth/c1/blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n",
                ),
            ],
        );
        let proc = proc_dir();
        let stats = read(root.path(), proc.path(), "/berth/c1").unwrap();
        let cpu = &stats.cpu;
        assert_eq!(cpu.total_ns, 3_000_000_000);
        assert_eq!(cpu.per_cpu_ns, [1_000_000_000, 2_000_000_000]);
        assert_eq!((cpu.user_ns, cpu.kernel_ns), (1_200_000_000, 300_000_000));
        assert_eq!(cpu.throttling.throttled_periods, 2);
        assert_eq!((cpu.system_ns, cpu.online_cpus), (1168 * NANOS_PER_TICK, 2));
        let mem = &stats.memory;
        assert_eq!(
            (mem.usage, mem.max_usage, mem.failcnt),
            (1 << 20, Some(2 << 20), Some(0))
        );
        assert_eq!(mem.limit, 1024, "its own limit, below the host's");
        assert_eq!(mem.stat["total_inactive_file"], 4096);
        assert_eq!(
            stats.pids,
            PidsStats {
                current: 3,
                limit: 0
            }
        );
        let ops: Vec<(&str, u64)> = stats
            .block_io
            .iter()
            .map(|e| (e.op.as_str(), e.value))
            .collect();
        assert_eq!(ops, [("Read", 4096), ("Write", 512), ("Total", 4608)]);
        assert_eq!(stats.networks["eth0"].rx_bytes, 1554);
    }

    #[test]
    fn a_v2_cgroup_is_read_from_the_unified_tree() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            &[
                ("cgroup.controllers", "cpu io memory pids\n"),
                (
                    "berth/c1/cpu.stat",
                    "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
                ),
                ("berth/c1/memory.current", "65536\n"),
                ("berth/c1/memory.max", "max\n"),
                ("berth/c1/memory.stat", "anon 8192\nfile 4096\ninactive_file 1024\n"),
                ("berth/c1/pids.current", "1\n"),
                ("berth/c1/pids.max", "100\n"),
                ("berth/c1/cgroup.procs", ""),
                (
                    "berth/c1/io.stat",
                    "8:0 rbytes=2048 wbytes=1024 rios=2 wios=1 dbytes=0 dios=0\n",
                ),
            ],
        );
        let proc = proc_dir();
        let stats = read(root.path(), proc.path(), "/berth/c1").unwrap();
        let cpu = &stats.cpu;
        assert_eq!(
            (cpu.total_ns, cpu.user_ns, cpu.kernel_ns),
            (1_500_000, 1_000_000, 500_000)
        );
        assert!(cpu.per_cpu_ns.is_empty());
        assert_eq!(cpu.throttling.throttled_ns, 7000);
        let mem = &stats.memory;
        assert_eq!((mem.usage, mem.max_usage), (65536, None));
        assert_eq!(mem.limit, 2048 * 1024, "no limit: the host's memory");
        assert_eq!(mem.stat["inactive_file"], 1024);
        assert_eq!(
            stats.pids,
            PidsStats {
                current: 1,
                limit: 100
            }
        );
        let ops: Vec<(&str, u64)> = stats
            .block_io
            .iter()
            .map(|e| (e.op.as_str(), e.value))
            .collect();
        assert_eq!(ops, [("read", 2048), ("write", 1024)]);
        assert!(
            stats.networks.is_empty(),
            "no process to read a namespace of"
        );
    }
}
