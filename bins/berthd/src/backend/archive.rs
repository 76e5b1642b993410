//! `docker cp`, `export`, `diff` and the sizes of `ps -s`/`inspect -s`:
//! a container's tree through [`berth_oci::archive`], off the async threads,
//! archives streamed to the client as they are written.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_api::{ApiError, ByteStream, ContainerPathStat, ExtractOptions, RequestBody};
use berth_core::container::{Container, MountKind};
use berth_oci::archive::{self, ArchiveError, BindSpec, RequestPath, Root};
use berth_oci::rootfs::Overlay;
use berth_oci::OciAdapter;
use bollard_stubs::models::{ChangeType, FilesystemChange};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_util::io::SyncIoBridge;

use super::oci_error;

/// Archive chunks in flight to the client.
const CHUNKS_IN_FLIGHT: usize = 16;
const CHUNK: usize = 64 * 1024;

/// Paths runc makes in the upper directory as mount points, which Docker's
/// init layer hides from `diff`.
pub(super) const INIT_PATHS: &[&str] = &[
    "/.dockerenv",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

/// Where `c`'s tree is: its running process's root, or its overlay to
/// mount (`with_mounts`: its volumes and binds too).
fn tree_of(oci: &OciAdapter, c: &Container, with_mounts: bool) -> Result<Root, ApiError> {
    if c.is_running() && c.state.pid > 0 && is_the_containers(c) {
        return Ok(Root::Running(PathBuf::from(format!(
            "/proc/{}/root",
            c.state.pid
        ))));
    }
    let layout = oci.runtime().layout();
    let overlay = Overlay {
        id: c.id.to_string(),
        lower: image_rootfs(oci, c)?,
        upper: layout.upper_dir(&c.id),
        work: layout.work_dir(&c.id),
        // Made by `archive::within`.
        target: PathBuf::new(),
    };
    let binds = if with_mounts {
        c.storage
            .mounts
            .iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
            .map(|m| BindSpec {
                source: PathBuf::from(&m.source),
                destination: m.destination.clone(),
                read_only: m.read_only,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Root::Stopped {
        overlay,
        scratch_in: layout.exec_root().to_path_buf(),
        binds,
    })
}

/// Whether the recorded pid is still the container's process (its cgroup
/// is named after the container), not one that exited (its overlay is
/// gone: the tree is mounted as a stopped one's) or a stranger that got
/// the number since.
fn is_the_containers(c: &Container) -> bool {
    std::fs::read_to_string(format!("/proc/{}/cgroup", c.state.pid))
        .is_ok_and(|cgroups| cgroups.contains(c.id.as_str()))
}

fn image_rootfs(oci: &OciAdapter, c: &Container) -> Result<PathBuf, ApiError> {
    let image = berth_oci::image::ImageId::parse(&c.image_id).map_err(oci_error)?;
    Ok(oci.images().rootfs(&image))
}

fn archive_error(e: ArchiveError) -> ApiError {
    match e {
        ArchiveError::NotFound { .. } => ApiError::not_found(e.to_string()),
        ArchiveError::Invalid(m) => ApiError::invalid_parameter(m),
        ArchiveError::Io { .. } => {
            tracing::error!(error = %e, "container file system request failed");
            ApiError::internal(e.to_string())
        }
    }
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

fn joined(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(format!("container file system task failed: {e}"))
}

fn request_path(path: &str) -> Result<RequestPath, ApiError> {
    archive::split_request_path(path).map_err(archive_error)
}

fn wire_stat(s: archive::PathStat) -> ContainerPathStat {
    ContainerPathStat {
        name: s.name,
        size: s.size,
        mode: s.mode,
        mtime: s.mtime,
        link_target: s.link_target,
    }
}

/// `HEAD /archive`.
pub async fn stat_path(
    oci: &OciAdapter,
    c: Container,
    path: String,
) -> Result<ContainerPathStat, ApiError> {
    let path = request_path(&path)?;
    let tree = tree_of(oci, &c, true)?;
    let name = c.name.clone();
    tokio::task::spawn_blocking(move || {
        archive::within(tree, move |root| {
            archive::stat(root, &path, &name).map(|(_, s)| s)
        })
    })
    .await
    .map_err(joined)?
    .map(wire_stat)
    .map_err(archive_error)
}

/// `GET /archive`: the stat once known, then the tar as it is written.
pub async fn get_archive(
    oci: &OciAdapter,
    c: Container,
    path: String,
) -> Result<(ContainerPathStat, ByteStream), ApiError> {
    let path = request_path(&path)?;
    let tree = tree_of(oci, &c, true)?;
    let name = c.name.clone();
    let (stat_tx, stat_rx) = oneshot::channel::<Result<archive::PathStat, ArchiveError>>();
    // Shared so that a failure before the stat (mounting a stopped
    // container's tree) is still the response.
    let stat_tx = Arc::new(Mutex::new(Some(stat_tx)));
    let reply = Arc::clone(&stat_tx);
    let (writer, stream) = channel_writer();
    tokio::task::spawn_blocking(move || {
        let result = archive::within(tree, move |root| {
            let found = archive::stat(root, &path, &name);
            let host_and_top = found
                .as_ref()
                .map(|(host, stat)| (host.clone(), stat.name.clone()))
                .map_err(|_| ());
            let Some(tx) = take(&reply) else {
                return Ok(());
            };
            if tx.send(found.map(|(_, stat)| stat)).is_err() {
                return Ok(());
            }
            match host_and_top {
                Ok((host, top)) => archive::write_archive(&host, &top, writer),
                Err(()) => Ok(()),
            }
        });
        match (result, take(&stat_tx)) {
            (Err(e), Some(tx)) => drop(tx.send(Err(e))),
            // After the stat the client sees the archive end early.
            (Err(e), None) => {
                tracing::warn!(container = %c.name, error = %e, "archive ended early")
            }
            (Ok(()), _) => {}
        }
    });
    let stat = stat_rx
        .await
        .map_err(|_| ApiError::internal("the archive could not be made"))?
        .map_err(archive_error)?;
    Ok((wire_stat(stat), stream))
}

/// `PUT /archive`.
pub async fn put_archive(
    oci: &OciAdapter,
    c: Container,
    path: String,
    options: ExtractOptions,
    mut tarball: RequestBody,
) -> Result<(), ApiError> {
    let prepared = prepare_extract(oci, &c, &path, options);
    let (path, opts, tree) = match prepared {
        Ok(p) => p,
        Err(e) => {
            // Read what the client sends before answering: it gets the
            // error instead of a broken pipe.
            let _ = tokio::io::copy(&mut tarball, &mut tokio::io::sink()).await;
            return Err(e);
        }
    };
    let name = c.name.clone();
    let input = SyncIoBridge::new(tarball);
    tokio::task::spawn_blocking(move || {
        archive::within(tree, move |root| {
            archive::extract(root, &path, &name, input, &opts)
        })
    })
    .await
    .map_err(joined)?
    .map_err(archive_error)
}

fn prepare_extract(
    oci: &OciAdapter,
    c: &Container,
    path: &str,
    options: ExtractOptions,
) -> Result<(RequestPath, archive::ExtractOptions, Root), ApiError> {
    let path = request_path(path)?;
    check_writable(c, &path.clean)?;
    let chown = if options.copy_uid_gid {
        let user = berth_oci::adapter::resolve_user(&c.process.user, &[], &image_rootfs(oci, c)?)
            .map_err(oci_error)?;
        Some((user.uid, user.gid))
    } else {
        None
    };
    let opts = archive::ExtractOptions {
        no_overwrite_dir_non_dir: options.no_overwrite_dir_non_dir,
        chown,
    };
    Ok((path, opts, tree_of(oci, c, true)?))
}

/// dockerd's `checkIfPathIsInAVolume` and read-only root check.
fn check_writable(c: &Container, path: &str) -> Result<(), ApiError> {
    let under = |dest: &str| {
        let dest = dest.trim_end_matches('/');
        path == dest || path.starts_with(&format!("{dest}/")) || dest.is_empty()
    };
    // The deepest mount holding the path decides (mounts are parents first).
    match c
        .storage
        .mounts
        .iter()
        .rev()
        .find(|m| under(&m.destination))
    {
        Some(m) if m.read_only => Err(ApiError::forbidden("mounted volume is marked read-only")),
        Some(_) => Ok(()),
        None if c.storage.readonly_rootfs => {
            Err(ApiError::forbidden("container rootfs is marked read-only"))
        }
        None => Ok(()),
    }
}

/// `GET /export`: the container's own files (not its volumes).
pub async fn export(oci: &OciAdapter, c: Container) -> Result<ByteStream, ApiError> {
    let tree = tree_of(oci, &c, false)?;
    let (writer, stream) = channel_writer();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = archive::within(tree, move |root| archive::export(root, writer)) {
            tracing::warn!(container = %c.name, error = %e, "export ended early");
        }
    });
    Ok(stream)
}

/// `docker save`: planned (every image checked) before the stream starts.
pub async fn save(oci: &OciAdapter, names: Vec<String>) -> Result<ByteStream, ApiError> {
    let plan = oci
        .blocking(move |_, images| images.plan_save(&names))
        .await
        .map_err(oci_error)?;
    let (writer, stream) = channel_writer();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = plan.write(writer) {
            tracing::warn!(error = %e, "save ended early");
        }
    });
    Ok(stream)
}

/// `GET /changes`.
pub async fn changes(oci: &OciAdapter, c: Container) -> Result<Vec<FilesystemChange>, ApiError> {
    let layout = oci.runtime().layout();
    let upper = layout.upper_dir(&c.id);
    let lower = image_rootfs(oci, &c)?;
    let found = tokio::task::spawn_blocking(move || {
        if !upper.exists() {
            return Ok(Vec::new());
        }
        archive::changes(&upper, &lower, INIT_PATHS)
    })
    .await
    .map_err(joined)?
    .map_err(archive_error)?;
    Ok(found
        .into_iter()
        .map(|ch| FilesystemChange {
            path: ch.path,
            kind: match ch.kind {
                archive::ChangeKind::Modified => ChangeType::_0,
                archive::ChangeKind::Added => ChangeType::_1,
                archive::ChangeKind::Deleted => ChangeType::_2,
            },
        })
        .collect())
}

/// `SizeRw` (the upper directory) and `SizeRootFs` (that and the image).
pub async fn sizes(oci: &OciAdapter, c: &Container) -> Result<(i64, i64), ApiError> {
    let upper = oci.runtime().layout().upper_dir(&c.id);
    let image_size = oci
        .images()
        .inspect(&c.image_id)
        .map(|i| i.size)
        .unwrap_or(0);
    let rw = tokio::task::spawn_blocking(move || archive::dir_size(&upper))
        .await
        .map_err(joined)?
        .map_err(archive_error)?;
    let rw = i64::try_from(rw).unwrap_or(i64::MAX);
    Ok((
        rw,
        rw.saturating_add(i64::try_from(image_size).unwrap_or(0)),
    ))
}

/// A `Write` for blocking threads whose bytes come out of the returned
/// stream in chunks; it fails (broken pipe) once the client is gone.
fn channel_writer() -> (ChannelWriter, ByteStream) {
    let (tx, rx) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        ChannelWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
        },
        Box::pin(stream),
    )
}

struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Bytes>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
