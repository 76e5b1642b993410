//! [`FakeRuntime`]: a container runtime that runs nothing and records.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use berth_core::container::{
    Capacity, ContainerStats, CpuStats, MemoryStats, NetworkStats, PidsStats, Resources,
};
use berth_core::ports::{
    EtcFiles, ExitStatus, LaunchSpec, PortError, ProbeSpec, Runtime, RuntimeStatus,
};
use berth_types::ContainerId;
use tokio::sync::watch;

use super::{fail, lock};

/// A container process as the fake runtime keeps it.
#[derive(Clone, Debug)]
pub struct FakeProcess {
    pub spec: LaunchSpec,
    pub status: RuntimeStatus,
    pub signals: Vec<i32>,
    pub etc: EtcFiles,
    pub paused: bool,
    /// The limits it runs with: the created ones, then each update's.
    pub resources: Resources,
}

/// Runs nothing: records what it was asked and lets tests end processes.
pub struct FakeRuntime {
    processes: Mutex<BTreeMap<ContainerId, FakeProcess>>,
    /// Bumped on every change, so `wait` wakes up.
    changed: watch::Sender<u64>,
    fail_next_start: Mutex<Option<String>>,
    fail_next_update: Mutex<Option<String>>,
    /// What health probes answer: an exit code, or `None` for a probe
    /// that runs past its timeout.
    probe_answer: Mutex<Option<i64>>,
    /// What the host's cgroups can limit.
    pub capacity: Capacity,
    /// When set, SIGTERM/SIGKILL end the process at once with 128+signal.
    pub signals_kill: bool,
    next_pid: AtomicU64,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime {
            processes: Mutex::default(),
            changed: watch::channel(0).0,
            fail_next_start: Mutex::default(),
            fail_next_update: Mutex::default(),
            probe_answer: Mutex::new(Some(0)),
            capacity: Capacity {
                cpus: 2,
                mems: 1,
                swap_limit: true,
                blkio_weight: true,
                oom_kill_disable: true,
            },
            signals_kill: true,
            next_pid: AtomicU64::new(1000),
        }
    }
}

impl FakeRuntime {
    pub fn process(&self, id: &ContainerId) -> Option<FakeProcess> {
        lock(&self.processes).get(id).cloned()
    }

    /// Ends a running process with `code`, as if it exited by itself.
    pub fn exit(&self, id: &ContainerId, code: i64) {
        if let Some(p) = lock(&self.processes).get_mut(id) {
            p.status = RuntimeStatus::Exited(ExitStatus {
                code,
                finished_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            });
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Makes the next start fail with this message.
    pub fn fail_next_start(&self, message: &str) {
        *lock(&self.fail_next_start) = Some(message.to_owned());
    }

    /// Makes the next update fail with this message.
    pub fn fail_next_update(&self, message: &str) {
        *lock(&self.fail_next_update) = Some(message.to_owned());
    }

    /// Makes every health probe from now on exit with `code` (`None`: run
    /// past its timeout).
    pub fn answer_probes(&self, code: Option<i64>) {
        *lock(&self.probe_answer) = code;
    }

    /// Forgets a process, as after a reboot.
    pub fn forget(&self, id: &ContainerId) {
        lock(&self.processes).remove(id);
        self.changed.send_modify(|n| *n += 1);
    }
}

impl Runtime for FakeRuntime {
    async fn create(&self, spec: &LaunchSpec) -> Result<(), PortError> {
        lock(&self.processes).insert(
            spec.id.clone(),
            FakeProcess {
                spec: spec.clone(),
                status: RuntimeStatus::Created,
                signals: Vec::new(),
                paused: false,
                etc: spec.etc.clone(),
                resources: spec.resources.clone(),
            },
        );
        Ok(())
    }

    async fn start(&self, id: &ContainerId) -> Result<u32, PortError> {
        if let Some(message) = lock(&self.fail_next_start).take() {
            return Err(fail(message));
        }
        let pid = u32::try_from(self.next_pid.fetch_add(1, Ordering::Relaxed)).unwrap_or(1);
        match lock(&self.processes).get_mut(id) {
            Some(p) => p.status = RuntimeStatus::Running { pid },
            None => return Err(fail(format!("no container {id}"))),
        }
        self.changed.send_modify(|n| *n += 1);
        Ok(pid)
    }

    async fn signal(&self, id: &ContainerId, signal: i32) -> Result<(), PortError> {
        let mut processes = lock(&self.processes);
        let Some(p) = processes.get_mut(id) else {
            return Err(fail(format!("no container {id}")));
        };
        p.signals.push(signal);
        if self.signals_kill
            && matches!(p.status, RuntimeStatus::Running { .. })
            && (signal == 9 || signal == 15)
        {
            p.status = RuntimeStatus::Exited(ExitStatus {
                code: 128 + i64::from(signal),
                finished_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            });
            drop(processes);
            self.changed.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, PortError> {
        let mut changes = self.changed.subscribe();
        loop {
            match lock(&self.processes).get(id).map(|p| p.status) {
                Some(RuntimeStatus::Exited(exit)) => return Ok(exit),
                None => return Err(fail(format!("no container {id}"))),
                Some(_) => {}
            }
            if changes.changed().await.is_err() {
                return Err(fail("runtime gone"));
            }
        }
    }

    async fn status(&self, id: &ContainerId) -> Result<RuntimeStatus, PortError> {
        Ok(lock(&self.processes)
            .get(id)
            .map_or(RuntimeStatus::Missing, |p| p.status))
    }

    async fn delete(&self, id: &ContainerId) -> Result<(), PortError> {
        self.forget(id);
        Ok(())
    }

    async fn set_paused(&self, id: &ContainerId, paused: bool) -> Result<(), PortError> {
        let mut processes = lock(&self.processes);
        // Thawing a process that a signal ended while frozen (which the
        // fake lets happen at once) still thaws it.
        match processes.get_mut(id) {
            Some(p) if !paused || matches!(p.status, RuntimeStatus::Running { .. }) => {
                p.paused = paused;
                Ok(())
            }
            _ => Err(fail(format!("container {id} is not running"))),
        }
    }

    async fn probe(&self, probe: &ProbeSpec) -> Result<Option<(i64, Vec<u8>)>, PortError> {
        match lock(&self.processes).get(&probe.id).map(|p| p.status) {
            Some(RuntimeStatus::Running { .. }) => {}
            _ => return Err(fail(format!("container {} is not running", probe.id))),
        }
        Ok(lock(&self.probe_answer)
            .map(|code| (code, format!("probe {}", probe.args.join(" ")).into_bytes())))
    }

    async fn pids(&self, id: &ContainerId) -> Result<Vec<u32>, PortError> {
        match lock(&self.processes).get(id).map(|p| p.status) {
            Some(RuntimeStatus::Running { pid }) => Ok(vec![pid]),
            _ => Err(fail(format!("container {id} is not running"))),
        }
    }

    async fn write_etc(&self, id: &ContainerId, files: &EtcFiles) -> Result<(), PortError> {
        if let Some(p) = lock(&self.processes).get_mut(id) {
            p.etc = files.clone();
        }
        Ok(())
    }

    async fn update(&self, id: &ContainerId, resources: &Resources) -> Result<(), PortError> {
        if let Some(message) = lock(&self.fail_next_update).take() {
            return Err(fail(message));
        }
        match lock(&self.processes).get_mut(id) {
            Some(p) if matches!(p.status, RuntimeStatus::Running { .. }) => {
                p.resources = resources.clone();
                Ok(())
            }
            _ => Err(fail(format!("container {id} is not running"))),
        }
    }

    fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// One process using 1 MiB, within its limits (or 1 GiB of host), with
    /// one packet each way on `eth0`.
    async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, PortError> {
        let processes = lock(&self.processes);
        let process = processes
            .get(id)
            .filter(|p| matches!(p.status, RuntimeStatus::Running { .. }))
            .ok_or_else(|| fail(format!("container {id} is not running")))?;
        let limit = u64::try_from(process.resources.memory)
            .ok()
            .filter(|&m| m > 0)
            .unwrap_or(1 << 30);
        let packet = NetworkStats {
            rx_bytes: 98,
            rx_packets: 1,
            tx_bytes: 98,
            tx_packets: 1,
            ..NetworkStats::default()
        };
        Ok(ContainerStats {
            cpu: CpuStats {
                online_cpus: self.capacity.cpus,
                ..CpuStats::default()
            },
            memory: MemoryStats {
                usage: 1 << 20,
                limit,
                ..MemoryStats::default()
            },
            pids: PidsStats {
                current: 1,
                limit: process
                    .resources
                    .pids_limit
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or(0),
            },
            block_io: Vec::new(),
            networks: [("eth0".to_owned(), packet)].into(),
        })
    }
}
