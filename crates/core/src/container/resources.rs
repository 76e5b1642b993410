//! A container's resource limits: cgroup limits, ulimits, `/dev/shm`'s
//! size, namespaced sysctls and devices (`--memory`, `--cpus`, `--ulimit`,
//! `--device`…), changed live by `docker update`.
//!
//! The checks are moby's (`verifyPlatformContainerResources`,
//! `verifyPlatformContainerSettings`, `Container.UpdateContainer`) with its
//! error texts; where Docker warns and drops a limit the host cannot
//! apply, berth refuses it by name instead.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Docker's `/dev/shm` size when none is asked for.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;
/// moby's `linuxMinMemory`.
const MIN_MEMORY: i64 = 6 << 20;
/// moby's `linuxMinCPUShares` and `linuxMaxCPUShares`.
const MIN_CPU_SHARES: i64 = 2;
const MAX_CPU_SHARES: i64 = 262_144;
/// The period `--cpus` is expressed in (100ms), as Docker sets it.
pub const NANO_CPUS_PERIOD: u64 = 100_000;

/// What was asked for the container's resources, after Docker's defaults
/// (`MemorySwap` twice `Memory`, `ShmSize` 64MiB) were filled in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// Bytes; 0 is no limit.
    pub memory: i64,
    /// Memory plus swap, bytes; 0 unset, -1 unlimited.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    /// CPUs in billionths (`--cpus 1.5` is 1500000000).
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// `None` is unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: u16,
    pub oom_kill_disable: bool,
    pub oom_score_adj: i64,
    pub ulimits: Vec<Ulimit>,
    /// Bytes of `/dev/shm`; 0 (a record older than this field) is the
    /// default.
    pub shm_size: i64,
    pub sysctls: BTreeMap<String, String>,
    pub devices: Vec<Device>,
}

/// One `--ulimit NAME=SOFT[:HARD]`; -1 is unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// One `--device HOST[:CONTAINER[:PERMISSIONS]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub path_on_host: String,
    pub path_in_container: String,
    /// A non-empty subset of `rwm`.
    pub permissions: String,
}

/// What the host's cgroups can limit, as the runtime found them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// CPUs this daemon may use (what `--cpus` is checked against; CPUs
    /// `0..cpus` are what `--cpuset-cpus` may name).
    pub cpus: u32,
    /// Memory nodes (`--cpuset-mems` may name `0..mems`).
    pub mems: u32,
    /// The memory cgroup limits swap (v1 `memory.memsw.*`, v2
    /// `memory.swap.max`).
    pub swap_limit: bool,
    /// `blkio.weight` (v1) or `io.weight` (v2) exists.
    pub blkio_weight: bool,
    /// v1's `memory.oom_control`.
    pub oom_kill_disable: bool,
}

/// What `docker update` may change: limits, where 0 (or `None`) leaves one
/// as it is, as in Docker, and the restart policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerUpdate {
    /// `--restart`: the policy's name and `MaximumRetryCount`, if given.
    pub restart_policy: Option<(String, i64)>,
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// `Some(0)` is unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: u16,
}

/// The `ulimit` names Docker knows (go-units).
const ULIMIT_NAMES: [&str; 16] = [
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// The IPC sysctls Docker allows (the docker CLI's `ValidateSysctl`);
/// `fs.mqueue.*` and `net.*` are allowed by prefix.
const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidParameter(message.into())
}

/// A value the host cannot apply: refused by name (Docker would warn and
/// drop it).
fn cannot_apply(flag: &str, field: &str, why: &str) -> Error {
    invalid(format!(
        "berth cannot apply {flag} (HostConfig.{field}) on this host: {why}"
    ))
}

impl Resources {
    /// Checks a create request and fills Docker's defaults in.
    /// `own_network_namespace`: whether `net.*` sysctls have a namespace of
    /// the container's own to go to.
    pub fn verified(mut self, capacity: &Capacity, own_network_namespace: bool) -> Result<Self> {
        if self.cpu_shares > 0 {
            self.cpu_shares = self.cpu_shares.clamp(MIN_CPU_SHARES, MAX_CPU_SHARES);
        }
        if self.memory > 0 && self.memory_swap == 0 {
            self.memory_swap = if capacity.swap_limit {
                self.memory * 2
            } else {
                -1
            };
        }
        if self.pids_limit.is_some_and(|limit| limit <= 0) {
            self.pids_limit = None;
        }
        if self.shm_size < 0 {
            return Err(invalid("SHM size can not be less than 0"));
        }
        if self.shm_size == 0 {
            self.shm_size = DEFAULT_SHM_SIZE;
        }
        if !(-1000..=1000).contains(&self.oom_score_adj) {
            return Err(invalid(format!(
                "Invalid value {}, range for oom score adj is [-1000, 1000]",
                self.oom_score_adj
            )));
        }
        if self.oom_kill_disable && !capacity.oom_kill_disable {
            return Err(cannot_apply(
                "--oom-kill-disable",
                "OomKillDisable",
                "the memory cgroup has no OOM killer switch (cgroup v2)",
            ));
        }
        self.check_limits(capacity, false)?;
        for ulimit in &self.ulimits {
            check_ulimit(ulimit)?;
        }
        for (name, value) in &self.sysctls {
            check_sysctl(name, value, own_network_namespace)?;
        }
        for device in &mut self.devices {
            check_device(device)?;
        }
        Ok(self)
    }

    /// moby's `verifyPlatformContainerResources` for the cgroup limits.
    fn check_limits(&self, capacity: &Capacity, update: bool) -> Result<()> {
        if self.memory != 0 && self.memory < MIN_MEMORY {
            return Err(invalid("Minimum memory limit allowed is 6MB"));
        }
        if self.memory_swap > 0 && !capacity.swap_limit {
            return Err(cannot_apply(
                "--memory-swap",
                "MemorySwap",
                "the memory cgroup does not limit swap",
            ));
        }
        if self.memory > 0 && self.memory_swap > 0 && self.memory_swap < self.memory {
            return Err(invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
        if self.memory == 0 && self.memory_swap > 0 && !update {
            return Err(invalid(
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ));
        }
        if self.memory_reservation != 0 && self.memory_reservation < MIN_MEMORY {
            return Err(invalid("Minimum memory reservation allowed is 6MB"));
        }
        if self.memory > 0 && self.memory_reservation > 0 && self.memory < self.memory_reservation {
            return Err(invalid(
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ));
        }
        if self.nano_cpus > 0 && self.cpu_period > 0 {
            return Err(invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ));
        }
        if self.nano_cpus > 0 && self.cpu_quota > 0 {
            return Err(invalid(
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
            ));
        }
        let cpus = i64::from(capacity.cpus);
        if self.nano_cpus < 0 || self.nano_cpus > cpus * 1_000_000_000 {
            return Err(invalid(format!(
                "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            )));
        }
        if self.cpu_period != 0 && !(1000..=1_000_000).contains(&self.cpu_period) {
            return Err(invalid(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
            ));
        }
        if self.cpu_quota > 0 && self.cpu_quota < 1000 {
            return Err(invalid(
                "CPU cfs quota can not be less than 1ms (i.e. 1000)",
            ));
        }
        check_cpuset(&self.cpuset_cpus, capacity.cpus, "cpus", "CPUs")?;
        check_cpuset(&self.cpuset_mems, capacity.mems, "mems", "memory nodes")?;
        if self.blkio_weight > 0 && !(10..=1000).contains(&self.blkio_weight) {
            return Err(invalid("Range of blkio weight is from 10 to 1000"));
        }
        if self.blkio_weight > 0 && !capacity.blkio_weight {
            return Err(cannot_apply(
                "--blkio-weight",
                "BlkioWeight",
                "the kernel has no block I/O weight (no blkio.weight or io.weight cgroup file)",
            ));
        }
        Ok(())
    }

    /// `docker update`: the limits after `change`, by moby's
    /// `UpdateContainer` rules (0 leaves a limit as it is).
    pub fn updated(&self, change: &ContainerUpdate, capacity: &Capacity) -> Result<Resources> {
        let asked = Resources {
            memory: change.memory,
            memory_swap: change.memory_swap,
            memory_reservation: change.memory_reservation,
            nano_cpus: change.nano_cpus,
            cpu_shares: change.cpu_shares,
            cpu_period: change.cpu_period,
            cpu_quota: change.cpu_quota,
            cpuset_cpus: change.cpuset_cpus.clone(),
            cpuset_mems: change.cpuset_mems.clone(),
            blkio_weight: change.blkio_weight,
            ..Resources::default()
        };
        asked.check_limits(capacity, true)?;
        let conflict = |message: &str| Err(Error::Conflict(message.to_owned()));
        let mut next = self.clone();
        if change.blkio_weight != 0 {
            next.blkio_weight = change.blkio_weight;
        }
        if change.cpu_shares != 0 {
            next.cpu_shares = change.cpu_shares.clamp(MIN_CPU_SHARES, MAX_CPU_SHARES);
        }
        if change.nano_cpus != 0 {
            if self.cpu_period != 0 {
                return conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
            }
            if self.cpu_quota != 0 {
                return conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
            }
            next.nano_cpus = change.nano_cpus;
        }
        if change.cpu_period != 0 {
            if self.nano_cpus != 0 {
                return conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
            }
            next.cpu_period = change.cpu_period;
        }
        if change.cpu_quota != 0 {
            if self.nano_cpus != 0 {
                return conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
            }
            next.cpu_quota = change.cpu_quota;
        }
        if !change.cpuset_cpus.is_empty() {
            next.cpuset_cpus = change.cpuset_cpus.clone();
        }
        if !change.cpuset_mems.is_empty() {
            next.cpuset_mems = change.cpuset_mems.clone();
        }
        if change.memory != 0 {
            // A limit above the recorded swap limit needs a new swap limit.
            if change.memory > self.memory_swap && change.memory_swap == 0 {
                return conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
            }
            next.memory = change.memory;
        }
        if change.memory_swap != 0 {
            next.memory_swap = change.memory_swap;
        }
        if change.memory_reservation != 0 {
            next.memory_reservation = change.memory_reservation;
        }
        if let Some(limit) = change.pids_limit {
            next.pids_limit = (limit > 0).then_some(limit);
        }
        next.check_limits(capacity, true)?;
        Ok(next)
    }

    /// What Docker warns about limits it applies.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.oom_kill_disable && self.memory == 0 {
            out.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".to_owned());
        }
        out
    }

    /// `/dev/shm`'s size in bytes.
    pub fn shm_bytes(&self) -> i64 {
        if self.shm_size > 0 {
            self.shm_size
        } else {
            DEFAULT_SHM_SIZE
        }
    }

    /// The CFS quota and period the CPU limits come to, if any.
    pub fn cfs(&self) -> (Option<i64>, Option<u64>) {
        if self.nano_cpus > 0 {
            let period = NANO_CPUS_PERIOD;
            let quota = self.nano_cpus * period as i64 / 1_000_000_000;
            return (Some(quota), Some(period));
        }
        let quota = (self.cpu_quota != 0).then_some(self.cpu_quota);
        let period = u64::try_from(self.cpu_period).ok().filter(|p| *p > 0);
        (quota, period)
    }
}

fn check_ulimit(ulimit: &Ulimit) -> Result<()> {
    if !ULIMIT_NAMES.contains(&ulimit.name.as_str()) {
        return Err(invalid(format!("invalid ulimit type: {}", ulimit.name)));
    }
    // -1 is unlimited, above any number.
    let rank = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    if rank(ulimit.soft) > rank(ulimit.hard) {
        return Err(invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {} > {}",
            ulimit.soft, ulimit.hard
        )));
    }
    Ok(())
}

/// Only sysctls the container's own namespaces scope are allowed: Docker's
/// list, and `net.*` only with a network namespace of the container's own
/// (runc's texts for the rest).
fn check_sysctl(name: &str, value: &str, own_network_namespace: bool) -> Result<()> {
    let ipc = IPC_SYSCTLS.contains(&name) || name.starts_with("fs.mqueue.");
    let net = name.starts_with("net.");
    if !ipc && !net {
        return Err(invalid(format!(
            "sysctl {name:?} is not in a separate kernel namespace"
        )));
    }
    if net && !own_network_namespace {
        return Err(invalid(format!(
            "sysctl {name:?} not allowed in host network namespace"
        )));
    }
    if value.contains('\n') {
        return Err(invalid(format!("invalid value for sysctl {name:?}")));
    }
    Ok(())
}

/// Fills the defaults in: the same path in the container, `rwm`.
fn check_device(device: &mut Device) -> Result<()> {
    if !device.path_on_host.starts_with('/') {
        return Err(invalid(format!(
            "{} is not an absolute path",
            device.path_on_host
        )));
    }
    if device.path_in_container.is_empty() {
        device.path_in_container = device.path_on_host.clone();
    }
    if !device.path_in_container.starts_with('/') {
        return Err(invalid(format!(
            "bad format for path: {}",
            device.path_in_container
        )));
    }
    if device.permissions.is_empty() {
        device.permissions = "rwm".to_owned();
    }
    let mut seen = String::new();
    for c in device.permissions.chars() {
        if !"rwm".contains(c) || seen.contains(c) {
            return Err(invalid(format!(
                "invalid device mode: {}",
                device.permissions
            )));
        }
        seen.push(c);
    }
    Ok(())
}

/// A cpuset list (`0-2,4`), each number below `available`.
fn check_cpuset(list: &str, available: u32, which: &str, what: &str) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let bad = |why: &str| invalid(format!("Invalid value {list} for cpuset {which}: {why}"));
    let mut highest = 0u32;
    for part in list.split(',') {
        let (low, high) = part.split_once('-').unwrap_or((part, part));
        let low: u32 = low
            .parse()
            .map_err(|_| bad(&format!("invalid format: {list}")))?;
        let high: u32 = high
            .parse()
            .map_err(|_| bad(&format!("invalid format: {list}")))?;
        if high < low {
            return Err(bad(&format!("invalid range: {part}")));
        }
        highest = highest.max(high);
    }
    if highest >= available {
        let have = if available <= 1 {
            "0".to_owned()
        } else {
            format!("0-{}", available - 1)
        };
        return Err(invalid(format!(
            "Requested {what} are not available - requested {list}, available: {have}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
