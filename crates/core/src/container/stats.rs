//! A sample of a container's resource use (`docker stats`), as the runtime
//! reads it from the container's cgroup and network namespace.

use std::collections::BTreeMap;

/// One reading. Counters are cumulative since the container started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerStats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    /// Bytes read and written per device (`Read`/`Write` on cgroup v1,
    /// `read`/`write` on v2, as Docker reports them).
    pub block_io: Vec<BlockIoEntry>,
    /// Per interface of the container's namespace, `lo` left out; empty
    /// when it has no namespace of its own.
    pub networks: BTreeMap<String, NetworkStats>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Nanoseconds of CPU the container's processes used.
    pub total_ns: u64,
    pub kernel_ns: u64,
    pub user_ns: u64,
    /// Per CPU (cgroup v1 only; empty on v2).
    pub per_cpu_ns: Vec<u64>,
    /// Nanoseconds all CPUs of the host spent, busy or idle (`/proc/stat`),
    /// which the client divides the container's share by.
    pub system_ns: u64,
    pub online_cpus: u32,
    pub throttling: Throttling,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub usage: u64,
    /// The highest usage seen (cgroup v1 only).
    pub max_usage: Option<u64>,
    /// Times the limit was hit (cgroup v1 only).
    pub failcnt: Option<u64>,
    /// The container's limit, or the host's memory if it has none.
    pub limit: u64,
    /// `memory.stat` as the kernel names its lines.
    pub stat: BTreeMap<String, u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PidsStats {
    pub current: u64,
    /// 0 for no limit, as Docker reports it.
    pub limit: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockIoEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}
