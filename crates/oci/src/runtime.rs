//! [`ContainerRuntime`]: images' rootfs, bundles, runc and shims tied
//! together over one [`Layout`]. This is the concrete API the daemon's
//! runtime port wraps.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_core::container::security::{Security, Shm};
use berth_types::ContainerId;
use nix::sys::signal::Signal;

use crate::error::{Error, Result, RuntimeFailure};
use crate::fsutil::{
    create_dir_all, remove_dir_all_if_exists, remove_file_if_exists, write_atomic,
};
use crate::layout::{ExecId, Layout, BUNDLE_CONFIG, EXIT_FILE, NETNS_PIN, PROCESS_JSON};
use crate::logs::{LogOptions, LogReader};
use crate::rootfs::{self, NetnsPin, Overlay};
use crate::runc::Runc;
use crate::shim::client::{read_exit_file, AttachStream, Output, ShimClient};
use crate::shim::proto::{ExitInfo, ShimStatus};
use crate::shim::{self, ShimConfig, ShimMode};
use crate::spec::security::{exec_privileges, HostSecurity};
use crate::spec::{
    cgroup_limits, render_process, render_spec, BundleSpec, ContainerOptions, EtcFiles,
    NetworkNamespace, ProcessSpec,
};

/// How long `delete` waits for a killed container's shim to finish.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The OCI runtime binary (`runc`, looked up in PATH, or a path).
    pub runtime: PathBuf,
    /// The `berth-shim` binary.
    pub shim: PathBuf,
    /// Parent of every container's cgroup, e.g. `/berth`.
    pub cgroup_parent: String,
    /// The mount holding the sandboxes' netns files, which runc runs
    /// without ([`crate::mountns`]).
    pub netns_dir: Option<PathBuf>,
    /// The init `--init` runs as PID 1 (a static tini).
    pub init: PathBuf,
}

/// What a container runs and with which namespaces and files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// The image's rootfs (`ImageStore::rootfs`): the overlay lowerdir.
    pub image_rootfs: PathBuf,
    pub process: ProcessSpec,
    pub hostname: String,
    pub network: NetworkNamespace,
    pub etc: EtcFiles,
    /// Keep stdin open for attached clients (`docker run -i`).
    pub stdin: bool,
    pub options: ContainerOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    pub shim_pid: u32,
    /// The container's init pid (created, not yet started).
    pub pid: u32,
}

/// A container's runtime state as found on disk and in runc, for a daemon
/// that (re)starts and must adopt what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A shim serves the container: attach, wait and kill work.
    Alive(ShimStatus),
    /// It exited (maybe while the daemon was down); the shim is gone.
    Exited(ExitInfo),
    /// runc still runs it but no shim serves it (the shim was killed): its
    /// output and exit code cannot be collected. Kill it
    /// ([`ContainerRuntime::kill_orphan`]).
    Orphaned { pid: u32 },
    /// Not running and no exit record (never started, deleted, or lost
    /// with a reboot).
    Gone,
}

#[derive(Debug, Clone)]
pub struct ContainerRuntime {
    layout: Layout,
    runc: Runc,
    shim_binary: PathBuf,
    cgroup_parent: String,
    init: PathBuf,
}

impl ContainerRuntime {
    pub fn new(cfg: RuntimeConfig) -> Result<Self> {
        let layout = Layout::new(cfg.data_root, cfg.exec_root);
        create_dir_all(&layout.data_root().join("containers"))?;
        create_dir_all(&layout.exec_root().join("containers"))?;
        create_dir_all(&layout.runc_root())?;
        Ok(ContainerRuntime {
            runc: Runc::new(cfg.runtime, layout.runc_root())
                .hiding(cfg.netns_dir)
                .through(cfg.shim.clone()),
            layout,
            shim_binary: cfg.shim,
            cgroup_parent: cfg.cgroup_parent,
            init: cfg.init,
        })
    }

    /// runc's cgroupfs path of the container, e.g. `/berth/<id>`.
    pub fn cgroups_path(&self, id: &ContainerId) -> String {
        format!("{}/{id}", self.cgroup_parent.trim_end_matches('/'))
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn runc(&self) -> &Runc {
        &self.runc
    }

    /// The container's overlay over `image_rootfs`, mounted at the bundle's
    /// `rootfs` by its shim, in `runc create`'s own mount namespace (see
    /// [`crate::rootfs`]).
    fn overlay(&self, id: &ContainerId, image_rootfs: &Path) -> Overlay {
        Overlay {
            id: id.to_string(),
            lower: image_rootfs.to_path_buf(),
            upper: self.layout.upper_dir(id),
            work: self.layout.work_dir(id),
            target: self.layout.rootfs(id),
        }
    }

    /// Unmounts the rootfs in this mount namespace, where berth no longer
    /// mounts it (one `umount2` that finds nothing) but an earlier berthd
    /// did, for containers it started.
    pub fn unmount_rootfs(&self, id: &ContainerId) -> Result<()> {
        rootfs::unmount(id.as_str(), &self.layout.rootfs(id))
    }

    /// Where `runc create` finds the network namespace it joins: a path in
    /// the bundle its shim binds the namespace to (see [`crate::rootfs`]).
    fn netns_pin(&self, id: &ContainerId, network: &NetworkNamespace) -> Option<NetnsPin> {
        match network {
            NetworkNamespace::Path(source) => Some(NetnsPin {
                source: source.clone(),
                pin: self.layout.bundle_dir(id).join(NETNS_PIN),
            }),
            NetworkNamespace::Host | NetworkNamespace::New => None,
        }
    }

    /// Renders and writes the bundle's `config.json`.
    pub fn write_bundle(&self, id: &ContainerId, task: &TaskSpec) -> Result<PathBuf> {
        let network = match self.netns_pin(id, &task.network) {
            Some(pin) => NetworkNamespace::Path(pin.pin),
            None => task.network.clone(),
        };
        let spec = render_spec(&BundleSpec {
            id: id.to_string(),
            rootfs: self.layout.rootfs(id),
            process: task.process.clone(),
            hostname: task.hostname.clone(),
            network,
            etc: task.etc.clone(),
            cgroups_path: self.cgroups_path(id),
            options: task.options.clone(),
            host_security: HostSecurity {
                shm: match &task.options.security.shm {
                    Shm::Shared(owner) => Some(self.layout.shm_dir(owner)),
                    _ => None,
                },
                ..HostSecurity::probe(&task.options.security.asked, &self.init)?
            },
        })?;
        let path = self.layout.bundle_dir(id).join(BUNDLE_CONFIG);
        let bytes = serde_json::to_vec_pretty(&spec).map_err(|e| Error::InvalidSpec {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
        write_atomic(&path, &bytes)?;
        Ok(path)
    }

    fn target(id: &ContainerId) -> String {
        format!("container {id}")
    }

    pub fn shim(&self, id: &ContainerId) -> ShimClient {
        ShimClient::new(
            self.layout.shim_socket(id),
            self.layout.exit_file(id),
            Self::target(id),
        )
    }

    /// Writes the bundle and starts the container's shim, which mounts the
    /// rootfs and runs `runc create` (see [`crate::rootfs`]); returns once
    /// the container is created (not started: see
    /// [`ContainerRuntime::start`]). Also used to start an exited container
    /// again: its log is appended to.
    pub fn spawn_shim(&self, id: &ContainerId, task: &TaskSpec) -> Result<Spawned> {
        let client = self.shim(id);
        if client.is_alive() {
            return Err(Error::Shim {
                target: Self::target(id),
                message: "a shim is already running for this container".into(),
            });
        }
        create_dir_all(&self.layout.container_data_dir(id))?;
        create_dir_all(&self.layout.bundle_dir(id))?;
        // Leftovers of a previous run: its exit record and, if its shim
        // died, runc's state for the same id.
        remove_file_if_exists(&self.layout.exit_file(id))?;
        self.delete_runc_state(id)?;
        if task.options.security.shm == Shm::Shared(id.clone()) {
            mount_shm(&self.layout.shm_dir(id))?;
        }
        self.write_bundle(id, task)?;
        let cfg = ShimConfig {
            id: id.to_string(),
            target: Self::target(id),
            runtime: self.runc_binary(),
            runtime_root: self.layout.runc_root(),
            runc_hides: self.runc.hidden().map(Path::to_path_buf),
            dir: self.layout.bundle_dir(id),
            mode: ShimMode::Container {
                log_file: self.layout.log_file(id),
                rootfs: self.overlay(id, &task.image_rootfs),
                netns: self.netns_pin(id, &task.network),
            },
            exit_file: self.layout.exit_file(id),
            tty: task.process.tty,
            stdin: task.stdin,
        };
        let shim_pid = shim::spawn(&self.shim_binary, &cfg)?;
        let pid = read_pid(&cfg.init_pid_file())?;
        tracing::info!(container = %id, shim_pid, pid, "container created");
        Ok(Spawned { shim_pid, pid })
    }

    fn runc_binary(&self) -> PathBuf {
        self.runc.binary().to_path_buf()
    }

    fn delete_runc_state(&self, id: &ContainerId) -> Result<()> {
        // runc keeps a directory per container under its root: none means
        // nothing to delete, and no runc process to pay for.
        if !self.layout.runc_root().join(id.as_str()).exists() {
            return Ok(());
        }
        match self.runc.delete(id.as_str(), true) {
            Ok(()) => Ok(()),
            Err(Error::Runtime {
                failure: RuntimeFailure::NotFound,
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts a created container; returns its pid.
    pub fn start(&self, id: &ContainerId) -> Result<u32> {
        self.shim(id).start()
    }

    /// Applies new cgroup limits to the running container.
    pub fn update(
        &self,
        id: &ContainerId,
        resources: &berth_core::container::Resources,
    ) -> Result<()> {
        let limits = serde_json::to_vec(&cgroup_limits(resources, true)).map_err(|e| {
            Error::InvalidSpec {
                id: id.to_string(),
                reason: e.to_string(),
            }
        })?;
        self.runc.update(id.as_str(), &limits)
    }

    pub fn attach(&self, id: &ContainerId, stdout: bool, stderr: bool) -> Result<AttachStream> {
        self.shim(id).attach(stdout, stderr)
    }

    pub fn resize(&self, id: &ContainerId, width: u16, height: u16) -> Result<()> {
        self.shim(id).resize(width, height)
    }

    /// Signals the container's init. A container runc does not know is
    /// reported as not running (ErrorKind::Conflict).
    pub fn kill(&self, id: &ContainerId, signal: Signal) -> Result<()> {
        self.runc.kill(id.as_str(), signal).map_err(|e| match e {
            Error::Runtime {
                op,
                id,
                failure: RuntimeFailure::NotFound,
                message,
            } => Error::Runtime {
                op,
                id,
                failure: RuntimeFailure::NotRunning,
                message,
            },
            e => e,
        })
    }

    /// Waits for the container to exit (`Ok(None)` after `timeout`).
    pub fn wait(&self, id: &ContainerId, timeout: Option<Duration>) -> Result<Option<ExitInfo>> {
        self.shim(id).wait(timeout)
    }

    pub fn read_exit(&self, id: &ContainerId) -> Result<Option<ExitInfo>> {
        read_exit_file(&self.layout.exit_file(id))
    }

    /// What state the container is in; call it for every container the
    /// daemon believes created or running when it starts.
    pub fn probe(&self, id: &ContainerId) -> Result<Probe> {
        match self.shim(id).status() {
            Ok(s) => return Ok(Probe::Alive(s)),
            Err(Error::ShimGone { .. }) => {}
            // A shim that accepts but does not answer is treated as gone
            // too, after the exit record and runc have been consulted.
            Err(e) => tracing::warn!(container = %id, error = %e, "shim did not answer"),
        }
        if let Some(exit) = self.read_exit(id)? {
            return Ok(Probe::Exited(exit));
        }
        match self.runc.state(id.as_str())? {
            Some(s) if s.status != "stopped" => Ok(Probe::Orphaned { pid: s.pid }),
            _ => Ok(Probe::Gone),
        }
    }

    /// A container whose shim died: nothing can collect its output or its
    /// exit code any more, so it is killed (as containerd does after a
    /// shim dies) and reported as killed by SIGKILL. `None` if runc no
    /// longer runs it.
    pub fn kill_orphan(&self, id: &ContainerId) -> Result<Option<ExitInfo>> {
        let Some(state) = self.runc.state(id.as_str())? else {
            return Ok(None);
        };
        let running = state.status != "stopped";
        if running {
            tracing::warn!(container = %id, pid = state.pid, "its shim died: killing the container, whose output and exit code can no longer be collected");
        }
        // `runc delete --force` kills what still runs and waits for it.
        self.delete_runc_state(id)?;
        Ok(running.then(|| ExitInfo {
            exit_code: 128 + Signal::SIGKILL as i32,
            finished_at: crate::time::format_rfc3339_nano(std::time::SystemTime::now()),
            error: Some("the container's shim died: the container was killed".into()),
        }))
    }

    /// The container's json-file log. Following ends when the container
    /// has exited (its exit record exists) or nothing serves it any more.
    pub fn logs(&self, id: &ContainerId, opts: LogOptions) -> Result<LogReader> {
        let shim = self.shim(id);
        let exit_file = self.layout.exit_file(id);
        let done = Box::new(move || exit_file.exists() || !shim.is_alive());
        LogReader::open(id.as_str(), &self.layout.log_file(id), opts, done)
    }

    /// Removes everything of the container: kills it if it runs (the
    /// caller decides whether that is allowed), deletes runc's state,
    /// unmounts the rootfs and removes its directories (log included).
    /// Every step is tried; the first failure is returned.
    pub fn delete(&self, id: &ContainerId) -> Result<()> {
        let mut errors: Vec<Error> = Vec::new();
        if let Err(e) = self.stop_shim(id) {
            errors.push(e);
        }
        if let Err(e) = self.delete_runc_state(id) {
            errors.push(e);
        }
        if let Err(e) = self.unmount_rootfs(id) {
            errors.push(e);
        }
        if let Err(e) = rootfs::unmount(id.as_str(), &self.layout.shm_dir(id)) {
            errors.push(e);
        }
        if errors.is_empty() {
            for dir in [
                self.layout.bundle_dir(id),
                self.layout.container_data_dir(id),
            ] {
                if let Err(e) = remove_dir_all_if_exists(&dir) {
                    errors.push(e);
                }
            }
        }
        for e in errors.iter().skip(1) {
            tracing::warn!(container = %id, error = %e, "container removal");
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => {
                tracing::info!(container = %id, "container deleted");
                Ok(())
            }
        }
    }

    /// Kills a running container and waits for its shim to finish; kills
    /// the shim itself if it does not.
    fn stop_shim(&self, id: &ContainerId) -> Result<()> {
        let shim = self.shim(id);
        if !shim.is_alive() {
            return Ok(());
        }
        if let Err(e) = self.kill(id, Signal::SIGKILL) {
            tracing::debug!(container = %id, error = %e, "kill before delete");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match shim.wait(Some(deadline - Instant::now())) {
                Ok(Some(_)) | Err(Error::ShimGone { .. }) => break,
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        // The shim deletes its socket as it leaves; if it is still there
        // the shim is stuck: kill it (its pid is in our own pid file).
        if shim.is_alive() {
            let pid_file = self.layout.bundle_dir(id).join(crate::layout::SHIM_PID);
            if let Ok(pid) = read_pid(&pid_file) {
                tracing::warn!(container = %id, shim_pid = pid, "shim did not finish; killing it");
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        Ok(())
    }

    // ---- exec ----

    fn exec_target(id: &ContainerId, exec: &ExecId) -> String {
        format!("exec {exec} in container {id}")
    }

    /// Prepares an exec: writes its `process.json` (with its container's
    /// privileges, or every capability berthd holds when `privileged`) and
    /// starts its shim, which runs `runc exec` on `START` (so a client can
    /// attach first).
    pub fn exec_spawn(
        &self,
        id: &ContainerId,
        exec: &ExecId,
        process: &ProcessSpec,
        stdin: bool,
        privileged: bool,
    ) -> Result<u32> {
        let dir = self.layout.exec_dir(id, exec);
        create_dir_all(&dir)?;
        let invalid = |e: serde_json::Error| Error::InvalidSpec {
            id: id.to_string(),
            reason: e.to_string(),
        };
        let mut rendered =
            serde_json::to_value(render_process(id.as_str(), process)?).map_err(invalid)?;
        let config = self.layout.bundle_dir(id).join(BUNDLE_CONFIG);
        let container: serde_json::Value =
            serde_json::from_slice(&fs::read(&config).map_err(Error::io("read", &config))?)
                .map_err(invalid)?;
        exec_privileges(&mut rendered, &container);
        if privileged {
            let all = HostSecurity::probe(&Security::default(), &self.init)?.capabilities;
            rendered["capabilities"] = serde_json::json!({
                "bounding": all, "effective": all, "permitted": all,
            });
        }
        let bytes = serde_json::to_vec_pretty(&rendered).map_err(invalid)?;
        write_atomic(&dir.join(PROCESS_JSON), &bytes)?;
        remove_file_if_exists(&dir.join(EXIT_FILE))?;
        let cfg = ShimConfig {
            id: id.to_string(),
            target: Self::exec_target(id, exec),
            runtime: self.runc_binary(),
            runtime_root: self.layout.runc_root(),
            runc_hides: self.runc.hidden().map(Path::to_path_buf),
            dir: dir.clone(),
            mode: ShimMode::Exec,
            exit_file: dir.join(EXIT_FILE),
            tty: process.tty,
            stdin,
        };
        shim::spawn(&self.shim_binary, &cfg)
    }

    /// Runs `process` in the container as a short-lived exec (a health
    /// probe) and returns its exit code and the first `limit` bytes of its
    /// output; `Ok(None)` if it was still running after `timeout`, when it
    /// is killed. Its files are removed either way.
    pub fn run_probe(
        &self,
        id: &ContainerId,
        exec: &ExecId,
        process: &ProcessSpec,
        timeout: Duration,
        limit: usize,
    ) -> Result<Option<(i64, Vec<u8>)>> {
        self.exec_spawn(id, exec, process, false, false)?;
        let shim = self.exec_shim(id, exec);
        let ran = (|| {
            let mut stream = shim.attach(true, true)?;
            let pid = shim.start()?;
            let deadline = Instant::now() + timeout;
            let mut output = Vec::new();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
                    let _ = nix::sys::signal::kill(target, Signal::SIGKILL);
                    return Ok(None);
                }
                stream.set_read_timeout(Some(left))?;
                match stream.next_output() {
                    Ok(Some(Output::Stdout(bytes) | Output::Stderr(bytes))) => {
                        let room = limit.saturating_sub(output.len());
                        output.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    }
                    Ok(Some(Output::Exit(exit))) => {
                        return Ok(Some((i64::from(exit.exit_code), output)))
                    }
                    // The shim went before its exit frame: its exit file
                    // says how the process ended.
                    Ok(None) => {
                        return Ok(shim
                            .wait(Some(left))?
                            .map(|exit| (i64::from(exit.exit_code), output)))
                    }
                    // A read that timed out: the deadline check above ends it.
                    Err(_) if Instant::now() >= deadline => {}
                    Err(e) => return Err(e),
                }
            }
        })();
        if let Err(e) = self.exec_remove(id, exec) {
            tracing::warn!(container = %id, error = %e, "probe files not removed");
        }
        ran
    }

    pub fn exec_shim(&self, id: &ContainerId, exec: &ExecId) -> ShimClient {
        let dir = self.layout.exec_dir(id, exec);
        ShimClient::new(
            dir.join(crate::layout::SHIM_SOCKET),
            dir.join(EXIT_FILE),
            Self::exec_target(id, exec),
        )
    }

    /// Forgets a finished exec (its directory). A running exec's shim keeps
    /// serving until its process exits.
    pub fn exec_remove(&self, id: &ContainerId, exec: &ExecId) -> Result<()> {
        remove_dir_all_if_exists(&self.layout.exec_dir(id, exec))
    }
}

/// Mounts a shareable `/dev/shm` at `dir` in berthd's mount namespace
/// (Docker's default size and flags), unless one is there already: the
/// shims started later copy it, so containers joining the IPC namespace
/// can bind it.
fn mount_shm(dir: &Path) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    if rootfs::mounted_fs_type(dir)? == Some(nix::sys::statfs::TMPFS_MAGIC) {
        return Ok(());
    }
    create_dir_all(dir)?;
    mount(
        Some("shm"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )
    .map_err(|e| Error::Io {
        what: "mount a shareable /dev/shm at",
        path: dir.to_path_buf(),
        source: e.into(),
    })
}

fn read_pid(path: &Path) -> Result<u32> {
    let text = fs::read_to_string(path).map_err(Error::io("read", path))?;
    text.trim().parse().map_err(|e| Error::Io {
        what: "parse pid in",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}
