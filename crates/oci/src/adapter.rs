//! berth-core's `Runtime` and `Images` ports on top of this crate. The
//! blocking calls run on tokio's blocking pool; waiting for an exit is
//! async over the shim's socket, so a thousand running containers hold no
//! thread each.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use berth_core::ports::{
    EtcFiles as CoreEtcFiles, ExitStatus, LaunchSpec, NetnsRef, PortError, Runtime, RuntimeStatus,
};
use berth_types::ContainerId;
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::image::{ImageId, ImageStore};
use crate::runtime::{ContainerRuntime, Probe, TaskSpec};
use crate::shim::client::connect_unix;
use crate::shim::proto::{self, ExitInfo, ProcessState};
use crate::spec::{ContainerOptions, EtcFiles, NetworkNamespace, ProcessSpec, Rlimit, User};

mod images;
mod volumes;

/// The runtime and the image store, shared by the daemon's tasks.
#[derive(Clone)]
pub struct OciAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: ContainerRuntime,
    images: ImageStore,
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
    pub fn new(runtime: ContainerRuntime, images: ImageStore) -> Self {
        OciAdapter {
            inner: Arc::new(Inner {
                runtime,
                images,
                pending: Mutex::default(),
            }),
        }
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

/// Docker's `--user`: `uid[:gid]` numbers, `root` or empty. Names would
/// need the image's /etc/passwd; berth's images are built from busybox,
/// whose only user of note is root.
pub fn parse_user(user: &str) -> Result<User> {
    if user.is_empty() || user == "root" || user == "0" {
        return Ok(User::ROOT);
    }
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let uid = u.parse().map_err(|_| Error::InvalidSpec {
        id: user.to_owned(),
        reason: format!("unable to find user {u}: no matching entries in passwd file"),
    })?;
    let gid = if g.is_empty() {
        uid
    } else {
        g.parse().map_err(|_| Error::InvalidSpec {
            id: user.to_owned(),
            reason: format!("unable to find group {g}: no matching entries in group file"),
        })?
    };
    Ok(User { uid, gid })
}

/// Docker's `--user` for a container's process: as [`parse_user`], and
/// user and group names looked up in the image's `/etc/passwd` and
/// `/etc/group` (a user's own group unless one is given).
pub fn resolve_user(user: &str, image_rootfs: &Path) -> Result<User> {
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let named = |s: &str| !s.is_empty() && s.parse::<u32>().is_err();
    if !named(u) && !named(g) {
        return parse_user(user);
    }
    let not_found = |what: &str, name: &str, file: &str| Error::InvalidSpec {
        id: user.to_owned(),
        reason: format!("unable to find {what} {name}: no matching entries in {file} file"),
    };
    let number = |field: Option<&String>| field.and_then(|f| f.parse::<u32>().ok());
    let (uid, own_gid) = if named(u) {
        match image_entry(image_rootfs, "passwd", u) {
            Some(entry) => number(entry.get(2))
                .zip(number(entry.get(3)))
                .ok_or_else(|| not_found("user", u, "passwd"))?,
            None if u == "root" => (0, 0),
            None => return Err(not_found("user", u, "passwd")),
        }
    } else {
        let numeric = parse_user(u)?;
        (numeric.uid, numeric.gid)
    };
    let gid = if g.is_empty() {
        own_gid
    } else if named(g) {
        match image_entry(image_rootfs, "group", g) {
            Some(entry) => number(entry.get(2)).ok_or_else(|| not_found("group", g, "group"))?,
            None if g == "root" => 0,
            None => return Err(not_found("group", g, "group")),
        }
    } else {
        parse_user(&format!("0:{g}"))?.gid
    };
    Ok(User { uid, gid })
}

/// The `name` line of the image's `/etc/<file>`, split at `:`. The image is
/// berth's own unpacked copy, but a link in it could point anywhere on the
/// host: none is followed.
fn image_entry(image_rootfs: &Path, file: &str, name: &str) -> Option<Vec<String>> {
    let mut path = image_rootfs.to_path_buf();
    for part in ["etc", file] {
        path.push(part);
        if path.symlink_metadata().ok()?.file_type().is_symlink() {
            return None;
        }
    }
    let text = std::fs::read_to_string(&path).ok()?;
    text.lines()
        .map(|line| line.split(':').map(str::to_owned).collect::<Vec<_>>())
        .find(|fields| fields.first().map(String::as_str) == Some(name))
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
                user: resolve_user(&spec.process.user, &images.rootfs(&image))?,
                nofile: Rlimit::inherited_nofile(),
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

    async fn write_etc(&self, id: &ContainerId, files: &CoreEtcFiles) -> Result<(), PortError> {
        let id = id.clone();
        let files = files.clone();
        self.blocking(move |rt, _| {
            write_etc(&rt.layout().container_data_dir(&id), &files).map(drop)
        })
        .await
        .map_err(port_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_as_docker_reads_them() {
        assert_eq!(parse_user("").unwrap(), User::ROOT);
        assert_eq!(parse_user("root").unwrap(), User::ROOT);
        assert_eq!(
            parse_user("1000").unwrap(),
            User {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(parse_user("1000:50").unwrap(), User { uid: 1000, gid: 50 });
        assert!(parse_user("alice")
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
        std::fs::write(etc.join("group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let resolve = |user: &str| resolve_user(user, rootfs.path());
        assert_eq!(
            resolve("nobody").unwrap(),
            User {
                uid: 65534,
                gid: 65533
            }
        );
        assert_eq!(
            resolve("nobody:staff").unwrap(),
            User {
                uid: 65534,
                gid: 50
            }
        );
        assert_eq!(resolve("1000:staff").unwrap(), User { uid: 1000, gid: 50 });
        assert_eq!(resolve("nobody:7").unwrap(), User { uid: 65534, gid: 7 });
        assert_eq!(resolve("7").unwrap(), parse_user("7").unwrap());
        assert!(resolve("alice")
            .unwrap_err()
            .to_string()
            .contains("unable to find user alice: no matching entries in passwd file"));
        assert!(resolve("nobody:wheel")
            .unwrap_err()
            .to_string()
            .contains("unable to find group wheel"));

        // A link is not followed, even to a real passwd file.
        let linked = tempfile::tempdir().unwrap();
        std::fs::create_dir(linked.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(etc.join("passwd"), linked.path().join("etc/passwd")).unwrap();
        assert!(resolve_user("nobody", linked.path()).is_err());
        assert_eq!(resolve_user("root", linked.path()).unwrap(), User::ROOT);
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
