//! berth-core's `Runtime` and `Images` ports on top of this crate. The
//! blocking calls run on tokio's blocking pool; waiting for an exit is
//! async over the shim's socket, so a thousand running containers hold no
//! thread each.
//!
//! This file holds the adapter and its `Runtime` port; `process` resolves
//! what a process runs as (user, environment, `/etc` files), `images` and
//! `volumes` are the other ports, `pull` and `push` talk to registries.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use berth_core::container::{Capacity, ContainerStats, Resources, OUTPUT_LIMIT};
use berth_core::ports::{
    EtcFiles as CoreEtcFiles, ExitStatus, LaunchSpec, NetnsRef, PortError, ProbeSpec, Runtime,
    RuntimeStatus,
};
use berth_types::ContainerId;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::image::{ImageId, ImageStore};
use crate::layout::ExecId;
use crate::registry::{BlobStore, Registries};
use crate::runtime::{ContainerRuntime, Probe, TaskSpec};
use crate::shim::client::connect_unix;
use crate::shim::proto::{self, ExitInfo, ProcessState};
use crate::spec::{ContainerOptions, NetworkNamespace, ProcessSpec, Rlimit};

mod images;
mod process;
mod pull;
mod push;
mod volumes;

use process::write_etc;
pub use process::{process_env, resolve_user};
pub use pull::{PullProgress, PullRequest};
pub use push::PushRequest;

/// The runtime and the image store, shared by the daemon's tasks.
#[derive(Clone)]
pub struct OciAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: ContainerRuntime,
    images: ImageStore,
    registries: Registries,
    blobs: BlobStore,
    /// What the host's cgroups can limit, probed once.
    capacity: Capacity,
    /// Clients that attached before the container's shim existed (the
    /// docker CLI attaches before it starts a container): connected right
    /// after `runc create`, before the process runs, so no output is lost.
    pending: Mutex<HashMap<ContainerId, Vec<PendingAttach>>>,
}

struct PendingAttach {
    stdout: bool,
    stderr: bool,
    reply: oneshot::Sender<Result<std::os::unix::net::UnixStream>>,
}

impl OciAdapter {
    pub fn new(
        runtime: ContainerRuntime,
        images: ImageStore,
        registries: Registries,
    ) -> Result<Self> {
        let blobs = BlobStore::open(images.dir())?;
        Ok(OciAdapter {
            inner: Arc::new(Inner {
                runtime,
                images,
                registries,
                blobs,
                capacity: crate::cgroups::capacity(Path::new("/sys/fs/cgroup")),
                pending: Mutex::default(),
            }),
        })
    }

    /// Attaches to the container's shim now if it has one, else when the
    /// container is next created (its start). The stream is the shim's
    /// socket after the ATTACH request.
    pub async fn attach(
        &self,
        id: &ContainerId,
        stdout: bool,
        stderr: bool,
    ) -> Result<std::os::unix::net::UnixStream> {
        let receiver = {
            // Registered under the lock `create` takes, so a create racing
            // with this either sees the waiter or has a live shim already.
            let mut pending = lock(&self.inner.pending);
            match self.inner.runtime.attach(id, stdout, stderr) {
                Ok(stream) => return Ok(stream.into_inner()),
                Err(Error::ShimGone { .. }) => {}
                Err(e) => return Err(e),
            }
            let (reply, receiver) = oneshot::channel();
            pending.entry(id.clone()).or_default().push(PendingAttach {
                stdout,
                stderr,
                reply,
            });
            receiver
        };
        receiver.await.map_err(|_| Error::ShimGone {
            target: id.to_string(),
        })?
    }

    /// Connects the clients waiting for `id`'s shim.
    fn connect_pending(&self, id: &ContainerId) {
        let waiting = lock(&self.inner.pending).remove(id).unwrap_or_default();
        for w in waiting {
            let stream = self
                .inner
                .runtime
                .attach(id, w.stdout, w.stderr)
                .map(|s| s.into_inner());
            let _ = w.reply.send(stream);
        }
    }

    pub fn runtime(&self) -> &ContainerRuntime {
        &self.inner.runtime
    }

    pub fn images(&self) -> &ImageStore {
        &self.inner.images
    }

    /// The registries pulls and pushes talk to (`docker login` checks
    /// credentials against them).
    pub fn registries(&self) -> &Registries {
        &self.inner.registries
    }

    /// Runs blocking work of this crate off the async threads.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&ContainerRuntime, &ImageStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner.runtime, &inner.images))
            .await
            .map_err(|e| Error::Shim {
                target: "berth runtime".to_owned(),
                message: format!("blocking task failed: {e}"),
            })?
    }

    /// Waits for the exit without holding a thread: one WAIT request on the
    /// shim's socket, then an async read of the EXIT frame.
    async fn wait_exit(&self, id: &ContainerId) -> Result<ExitInfo> {
        let shim = self.inner.runtime.shim(id);
        let connected = connect_unix(shim.socket()).and_then(|s| {
            std::io::Write::write_all(&mut &s, &proto::encode(proto::WAIT, &[]))?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        if let Ok(stream) = connected {
            let mut stream = tokio::net::UnixStream::from_std(stream).map_err(|e| Error::Shim {
                target: id.to_string(),
                message: format!("register the socket: {e}"),
            })?;
            let mut header = [0u8; proto::HEADER_LEN];
            if stream.read_exact(&mut header).await.is_ok() {
                let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                let mut payload = vec![0u8; len.min(proto::MAX_PAYLOAD)];
                if header[0] == proto::EXIT && stream.read_exact(&mut payload).await.is_ok() {
                    return serde_json::from_slice(&payload).map_err(|e| Error::Shim {
                        target: id.to_string(),
                        message: format!("bad exit record: {e}"),
                    });
                }
            }
        }
        // The shim is gone (or went while we waited): it wrote the exit
        // file before it stopped serving, unless it was killed; then the
        // container it left is killed too.
        let id = id.clone();
        self.blocking(move |rt, _| match rt.read_exit(&id)? {
            Some(exit) => Ok(exit),
            None => rt.kill_orphan(&id)?.ok_or(Error::ShimGone {
                target: id.to_string(),
            }),
        })
        .await
    }
}

/// Health probes run so far, for their exec ids.
static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn port_err(e: Error) -> PortError {
    Box::new(e)
}

fn exit_status(info: &ExitInfo) -> ExitStatus {
    ExitStatus {
        code: i64::from(info.exit_code),
        finished_at: crate::time::parse_rfc3339(&info.finished_at).unwrap_or_else(SystemTime::now),
    }
}

impl Runtime for OciAdapter {
    async fn create(&self, spec: &LaunchSpec) -> Result<(), PortError> {
        let id = spec.id.clone();
        let spec = spec.clone();
        self.blocking(move |rt, images| {
            let image = ImageId::parse(&spec.image_id)?;
            let hostname = if spec.hostname.is_empty() {
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                spec.hostname.clone()
            };
            let etc = write_etc(&rt.layout().container_data_dir(&spec.id), &spec.etc)?;
            crate::volumes::prepare_mounts(&spec.storage, &images.rootfs(&image))?;
            let process = ProcessSpec {
                args: spec.process.args.clone(),
                env: process_env(&spec.process.env, &hostname, spec.process.tty),
                cwd: if spec.process.working_dir.is_empty() {
                    "/".to_owned()
                } else {
                    spec.process.working_dir.clone()
                },
                tty: spec.process.tty,
                console_size: spec.process.console_size,
                user: resolve_user(
                    &spec.process.user,
                    &spec.security.asked.group_add,
                    &images.rootfs(&image),
                )?,
                nofile: Rlimit::inherited_nofile(),
                ulimits: spec.resources.ulimits.clone(),
            };
            let task = TaskSpec {
                image_rootfs: images.rootfs(&image),
                process,
                hostname,
                network: match &spec.netns {
                    NetnsRef::Path(p) => NetworkNamespace::Path(p.clone()),
                    NetnsRef::Host => NetworkNamespace::Host,
                },
                etc,
                stdin: spec.process.open_stdin,
                options: ContainerOptions {
                    storage: spec.storage.clone(),
                    resources: spec.resources.clone(),
                    security: spec.security.clone(),
                },
            };
            rt.spawn_shim(&spec.id, &task).map(drop)
        })
        .await
        .map_err(port_err)?;
        let adapter = self.clone();
        let target = id.to_string();
        tokio::task::spawn_blocking(move || adapter.connect_pending(&id))
            .await
            .map_err(|e| {
                port_err(Error::Shim {
                    target,
                    message: format!("attach waiting clients: {e}"),
                })
            })
    }

    async fn start(&self, id: &ContainerId) -> Result<u32, PortError> {
        let id = id.clone();
        self.blocking(move |rt, _| rt.start(&id))
            .await
            .map_err(port_err)
    }

    async fn signal(&self, id: &ContainerId, signal: i32) -> Result<(), PortError> {
        let id = id.clone();
        let signal = nix::sys::signal::Signal::try_from(signal).map_err(|_| {
            port_err(Error::InvalidSpec {
                id: id.to_string(),
                reason: format!("Invalid signal: {signal}"),
            })
        })?;
        self.blocking(move |rt, _| rt.kill(&id, signal))
            .await
            .map_err(port_err)
    }

    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, PortError> {
        self.wait_exit(id)
            .await
            .map(|e| exit_status(&e))
            .map_err(port_err)
    }

    async fn status(&self, id: &ContainerId) -> Result<RuntimeStatus, PortError> {
        let id = id.clone();
        self.blocking(move |rt, _| {
            Ok(match rt.probe(&id)? {
                Probe::Alive(s) => match s.state {
                    ProcessState::Created => RuntimeStatus::Created,
                    // An exited process still draining counts as running
                    // until its exit arrives through `wait`.
                    ProcessState::Running | ProcessState::Exited => {
                        RuntimeStatus::Running { pid: s.pid }
                    }
                },
                Probe::Exited(info) => RuntimeStatus::Exited(exit_status(&info)),
                Probe::Orphaned { .. } => match rt.kill_orphan(&id)? {
                    Some(exit) => RuntimeStatus::Exited(exit_status(&exit)),
                    None => RuntimeStatus::Missing,
                },
                Probe::Gone => RuntimeStatus::Missing,
            })
        })
        .await
        .map_err(port_err)
    }

    async fn delete(&self, id: &ContainerId) -> Result<(), PortError> {
        // Clients waiting for a start that will never come are let go.
        lock(&self.inner.pending).remove(id);
        let id = id.clone();
        self.blocking(move |rt, _| rt.delete(&id))
            .await
            .map_err(port_err)
    }

    async fn set_paused(&self, id: &ContainerId, paused: bool) -> Result<(), PortError> {
        let id = id.clone();
        self.blocking(move |rt, _| {
            if paused {
                rt.runc().pause(id.as_str())
            } else {
                rt.runc().resume(id.as_str())
            }
        })
        .await
        .map_err(port_err)
    }

    async fn probe(&self, probe: &ProbeSpec) -> Result<Option<(i64, Vec<u8>)>, PortError> {
        let probe = probe.clone();
        // Unique among this daemon's probes: a run counter.
        let exec = ExecId::parse(&format!(
            "probe-{}",
            PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ))
        .map_err(port_err)?;
        self.blocking(move |rt, images| {
            let image = ImageId::parse(&probe.image_id)?;
            let process = ProcessSpec {
                args: probe.args.clone(),
                env: process_env(&probe.process.env, &probe.hostname, false),
                cwd: if probe.process.working_dir.is_empty() {
                    "/".to_owned()
                } else {
                    probe.process.working_dir.clone()
                },
                tty: false,
                console_size: None,
                user: resolve_user(
                    &probe.process.user,
                    &probe.group_add,
                    &images.rootfs(&image),
                )?,
                nofile: Rlimit::inherited_nofile(),
                ulimits: Vec::new(),
            };
            rt.run_probe(&probe.id, &exec, &process, probe.timeout, OUTPUT_LIMIT)
        })
        .await
        .map_err(port_err)
    }

    async fn pids(&self, id: &ContainerId) -> Result<Vec<u32>, PortError> {
        let id = id.clone();
        self.blocking(move |rt, _| rt.runc().pids(id.as_str()))
            .await
            .map_err(port_err)
    }

    async fn write_etc(&self, id: &ContainerId, files: &CoreEtcFiles) -> Result<(), PortError> {
        let id = id.clone();
        let files = files.clone();
        self.blocking(move |rt, _| {
            write_etc(&rt.layout().container_data_dir(&id), &files).map(drop)
        })
        .await
        .map_err(port_err)
    }

    async fn update(&self, id: &ContainerId, resources: &Resources) -> Result<(), PortError> {
        let id = id.clone();
        let resources = resources.clone();
        self.blocking(move |rt, _| rt.update(&id, &resources))
            .await
            .map_err(port_err)
    }

    fn capacity(&self) -> Capacity {
        self.inner.capacity
    }

    async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, PortError> {
        let cgroup = self.inner.runtime.cgroups_path(id);
        self.blocking(move |_, _| {
            crate::stats::read(Path::new("/sys/fs/cgroup"), Path::new("/proc"), &cgroup)
        })
        .await
        .map_err(port_err)
    }
}
