//! berth-core's `Runtime` and `Images` ports on top of this crate. The
//! blocking calls run on tokio's blocking pool; waiting for an exit is
//! async over the shim's socket, so a thousand running containers hold no
//! thread each.

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
use crate::spec::{ContainerOptions, EtcFiles, NetworkNamespace, ProcessSpec, Rlimit, User};

mod images;
mod pull;
mod push;
mod volumes;

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

/// Docker's `--user` (libcontainer's `GetExecUser`) with `--group-add`
/// (`GetAdditionalGroups`), read from the image's `/etc/passwd` and
/// `/etc/group`: `user[:group]`, each a name or a number. A user found in
/// passwd (by name or uid) gets its primary group and, unless a group is
/// given, the groups listing it as a member; a number that is nobody's is
/// taken as is (with group 0). The supplementary groups start with the
/// primary one, as Docker's do.
pub fn resolve_user(user: &str, group_add: &[String], image_rootfs: &Path) -> Result<User> {
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let invalid = |reason: String| Error::InvalidSpec {
        id: user.to_owned(),
        reason,
    };
    let passwd = image_table(image_rootfs, "passwd");
    let group = image_table(image_rootfs, "group");
    let number = |field: Option<&String>| field.and_then(|f| f.parse::<u32>().ok());
    let uid_arg = u.parse::<u32>().ok();
    let found = passwd.iter().find(|e| match uid_arg {
        _ if u.is_empty() => number(e.get(2)) == Some(0),
        Some(uid) => number(e.get(2)) == Some(uid),
        None => e.first().map(String::as_str) == Some(u),
    });
    let (uid, mut gid, name) = match found {
        Some(e) => (
            number(e.get(2)).unwrap_or(0),
            number(e.get(3)).unwrap_or(0),
            e.first().cloned(),
        ),
        None if u.is_empty() => (0, 0, None),
        None => match uid_arg {
            Some(uid) => (uid, 0, None),
            // Root needs no passwd entry (an image without one runs as root).
            None if u == "root" => (0, 0, None),
            None => {
                return Err(invalid(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                )))
            }
        },
    };
    let group_name = |e: &Vec<String>| e.first().cloned().unwrap_or_default();
    let group_gid = |e: &Vec<String>| number(e.get(2));
    let mut additional = Vec::new();
    if !g.is_empty() {
        let gid_arg = g.parse::<u32>().ok();
        let found = group.iter().find(|e| match gid_arg {
            Some(n) => group_gid(e) == Some(n),
            None => group_name(e) == g,
        });
        gid = match (found.and_then(group_gid), gid_arg) {
            (Some(found), _) => found,
            (None, Some(n)) => n,
            (None, None) if g == "root" => 0,
            (None, None) => {
                return Err(invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                )))
            }
        };
    } else if let Some(name) = &name {
        additional.extend(
            group
                .iter()
                .filter(|e| e.get(3).is_some_and(|m| m.split(',').any(|m| m == name)))
                .filter_map(group_gid),
        );
    }
    let mut added = Vec::new();
    for wanted in group_add {
        let found = group
            .iter()
            .find(|e| {
                group_name(e) == *wanted
                    || group_gid(e).map(|n| n.to_string()).as_ref() == Some(wanted)
            })
            .and_then(group_gid);
        match found.or_else(|| wanted.parse().ok()) {
            Some(n) => added.push(n),
            None => {
                return Err(invalid(format!(
                    "Unable to find group {wanted}: no matching entries in group file"
                )))
            }
        }
    }
    added.sort_unstable();
    added.dedup();
    let mut additional_gids = vec![gid];
    additional_gids.extend(additional);
    additional_gids.extend(added);
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

/// The lines of the image's `/etc/<file>`, split at `:`; empty if it has
/// none. The image is berth's own unpacked copy, but a link in it could
/// point anywhere on the host: none is followed.
fn image_table(image_rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    let mut path = image_rootfs.to_path_buf();
    for part in ["etc", file] {
        path.push(part);
        match path.symlink_metadata() {
            Ok(meta) if !meta.file_type().is_symlink() => {}
            _ => return Vec::new(),
        }
    }
    std::fs::read_to_string(&path)
        .map(|text| {
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(|line| line.split(':').map(str::to_owned).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// The environment Docker gives a process: the container's, plus
/// HOSTNAME and (with a terminal) TERM unless set. A bare `KEY` (what
/// the docker CLI sends for `-e KEY` when KEY is unset on the client)
/// unsets KEY, as in Docker.
pub fn process_env(env: &[String], hostname: &str, tty: bool) -> Vec<String> {
    let mut out: Vec<String> = env.iter().filter(|e| e.contains('=')).cloned().collect();
    let has = |key: &str| env.iter().any(|e| e.split('=').next() == Some(key));
    if !hostname.is_empty() && !has("HOSTNAME") {
        out.push(format!("HOSTNAME={hostname}"));
    }
    if tty && !has("TERM") {
        out.push("TERM=xterm".to_owned());
    }
    out
}

fn write_etc(dir: &Path, files: &CoreEtcFiles) -> Result<EtcFiles> {
    std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
    let mut paths = EtcFiles::default();
    for (name, text, slot) in [
        ("hosts", &files.hosts, &mut paths.hosts),
        ("resolv.conf", &files.resolv_conf, &mut paths.resolv_conf),
        ("hostname", &files.hostname, &mut paths.hostname),
    ] {
        let path = dir.join(name);
        // In place, not by rename: a running container has the file
        // bind-mounted, and a bind mount keeps the inode it was made with.
        std::fs::write(&path, text.as_bytes()).map_err(Error::io("write", &path))?;
        *slot = Some(path);
    }
    Ok(paths)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, gid: u32, additional_gids: &[u32]) -> User {
        User {
            uid,
            gid,
            additional_gids: additional_gids.to_vec(),
        }
    }

    #[test]
    fn users_as_docker_reads_them_without_passwd() {
        let none = tempfile::tempdir().unwrap();
        let resolve = |u: &str| resolve_user(u, &[], none.path());
        assert_eq!(resolve("").unwrap(), user(0, 0, &[0]));
        assert_eq!(resolve("root").unwrap(), user(0, 0, &[0]));
        // A uid that is nobody's keeps group 0, as in Docker.
        assert_eq!(resolve("1000").unwrap(), user(1000, 0, &[0]));
        assert_eq!(resolve("1000:50").unwrap(), user(1000, 50, &[50]));
        assert!(resolve("alice")
            .unwrap_err()
            .to_string()
            .contains("unable to find user alice"));
    }

    #[test]
    fn user_and_group_names_come_from_the_image() {
        let rootfs = tempfile::tempdir().unwrap();
        let etc = rootfs.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65533:nobody:/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("group"),
            "root:x:0:\nwheel:x:10:root,nobody\nstaff:x:50:\naudio:x:29:nobody\n",
        )
        .unwrap();
        let resolve = |u: &str| resolve_user(u, &[], rootfs.path());
        // Members of groups get them, primary first (Docker's `id`).
        assert_eq!(resolve("").unwrap(), user(0, 0, &[0, 10]));
        assert_eq!(
            resolve("nobody").unwrap(),
            user(65534, 65533, &[65533, 10, 29])
        );
        // By uid too, since passwd names it.
        assert_eq!(
            resolve("65534").unwrap(),
            user(65534, 65533, &[65533, 10, 29])
        );
        // An explicit group: no supplementary groups.
        assert_eq!(resolve("nobody:staff").unwrap(), user(65534, 50, &[50]));
        assert_eq!(resolve("1000:staff").unwrap(), user(1000, 50, &[50]));
        assert_eq!(resolve("nobody:7").unwrap(), user(65534, 7, &[7]));
        assert!(resolve("alice")
            .unwrap_err()
            .to_string()
            .contains("unable to find user alice: no matching entries in passwd file"));
        assert!(resolve("nobody:wheel2")
            .unwrap_err()
            .to_string()
            .contains("unable to find group wheel2"));

        // --group-add: names or numbers, known or not, after the user's own.
        let added = |u: &str, groups: &[&str]| {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            resolve_user(u, &groups, rootfs.path())
        };
        assert_eq!(
            added("1000:1000", &["staff", "4242", "10"]).unwrap(),
            user(1000, 1000, &[1000, 10, 50, 4242])
        );
        assert!(added("", &["nosuch"])
            .unwrap_err()
            .to_string()
            .contains("Unable to find group nosuch: no matching entries in group file"));

        // A link is not followed, even to a real passwd file.
        let linked = tempfile::tempdir().unwrap();
        std::fs::create_dir(linked.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(etc.join("passwd"), linked.path().join("etc/passwd")).unwrap();
        assert!(resolve_user("nobody", &[], linked.path()).is_err());
        assert_eq!(
            resolve_user("root", &[], linked.path()).unwrap(),
            user(0, 0, &[0])
        );
    }

    #[test]
    fn env_gets_hostname_and_term() {
        let env = process_env(&["PATH=/bin".to_owned()], "abc", true);
        assert_eq!(env, vec!["PATH=/bin", "HOSTNAME=abc", "TERM=xterm"]);
        let env = process_env(&["TERM=dumb".to_owned()], "", true);
        assert_eq!(env, vec!["TERM=dumb"]);
    }

    #[test]
    fn a_bare_key_unsets_it() {
        let env = ["PATH=/bin", "UNSET", "HOSTNAME"].map(str::to_owned);
        assert_eq!(process_env(&env, "abc", false), vec!["PATH=/bin"]);
    }
}
