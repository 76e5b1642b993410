//! `docker pull`: the manifest and config from the registry, the layers
//! downloaded in parallel into the blob store (three at a time, as dockerd
//! does) while the ones already down are applied in order onto the new
//! image's rootfs, then the image renamed into place, unlisted: the engine
//! lists it ([`berth_core::EngineHandle::record_staged_image`]). Progress
//! goes out as dockerd's messages. A pull that fails leaves verified blobs
//! (a retry finds them) and nothing else.

use std::collections::VecDeque;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use berth_core::ports::StagedImage;
use berth_types::reference::ImageRef;
use oci_client::manifest::OciDescriptor;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{AbortHandle, JoinHandle};

use super::OciAdapter;
use crate::error::Error;
use crate::image::{unpack_hex, ImageId, LayerStage, RepoTag, Staged};
use crate::registry::{Credentials, Fetched, Platform, RegistryError, Session};

/// dockerd's `max-concurrent-downloads` default.
const CONCURRENT_DOWNLOADS: usize = 3;
/// Bytes between two progress messages of one layer.
pub(super) const PROGRESS_STEP: u64 = 512 << 10;

pub struct PullRequest {
    /// With a tag or a digest.
    pub reference: ImageRef,
    /// `--platform`; this machine's when `None`.
    pub platform: Option<Platform>,
    pub credentials: Credentials,
}

/// One of dockerd's progress messages: `id` is a layer's short digest (or
/// the tag, for the first line), `detail` its `current`/`total` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullProgress {
    pub id: Option<String>,
    pub status: String,
    pub detail: Option<(u64, u64)>,
}

#[derive(Clone)]
pub(super) struct Reporter(pub(super) mpsc::UnboundedSender<PullProgress>);

impl Reporter {
    /// A client that went away stops reading; the pull goes on.
    pub(super) fn say(&self, id: Option<&str>, status: &str, detail: Option<(u64, u64)>) {
        let _ = self.0.send(PullProgress {
            id: id.map(str::to_owned),
            status: status.to_owned(),
            detail,
        });
    }
}

/// Aborts the downloads still running when the pull gives up.
struct AbortOnDrop(Vec<AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

pub(super) fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex).to_owned()
}

fn size_of(layer: &OciDescriptor) -> u64 {
    u64::try_from(layer.size).unwrap_or(0)
}

impl OciAdapter {
    /// Pulls `request.reference` and stages the image (not listed yet).
    /// Its `repo_digest` names the manifest it came by.
    pub async fn pull(
        &self,
        request: PullRequest,
        progress: mpsc::UnboundedSender<PullProgress>,
    ) -> Result<StagedImage, RegistryError> {
        let report = Reporter(progress);
        let named = request.reference;
        let familiar = named.familiar_string();
        let (tag, by) = match familiar.rsplit_once('@') {
            Some((_, digest)) => (None, digest.to_owned()),
            None => {
                let tag = RepoTag::parse(&familiar)?;
                let by = tag.tag().to_owned();
                (Some(tag), by)
            }
        };
        let mut session = self
            .inner
            .registries
            .pull_session(&named, &request.credentials)?;
        let resolved = session.resolve(request.platform.as_ref()).await?;
        report.say(
            Some(&by),
            &format!("Pulling from {}", pulling_name(&named)),
            None,
        );
        let repo_digest = format!("{}@{}", session.name(), resolved.digest);
        let id = ImageId::from_hex(unpack_hex(&Sha256::digest(&resolved.config)));
        let layers = resolved.manifest.layers;
        let manifest = resolved.manifest_bytes;
        if let Some(staged) = self
            .inner
            .images
            .restage(&id, tag.clone(), Some(repo_digest.clone()))
        {
            for layer in &layers {
                report.say(Some(&short(&layer.digest)), "Already exists", None);
            }
            return Ok(core_staged(staged));
        }
        let stage = self.inner.images.begin_layers(&resolved.config)?;
        if stage.layers() != layers.len() {
            return Err(RegistryError::Transport(format!(
                "the manifest of {familiar} has {} layers, its config {}",
                layers.len(),
                stage.layers()
            )));
        }
        // Before the blobs are looked for: a removal's sweep either sees
        // them in use or has removed them, and then they are downloaded.
        let _pin = self
            .inner
            .images
            .pin_blobs(layers.iter().map(|l| l.digest.as_str()));
        for layer in &layers {
            let status = if self.inner.blobs.has(&layer.digest) {
                "Already exists"
            } else {
                "Pulling fs layer"
            };
            report.say(Some(&short(&layer.digest)), status, None);
        }
        let downloads = self.download_all(Arc::new(session), &layers, &report);
        let _abort = AbortOnDrop(downloads.iter().map(JoinHandle::abort_handle).collect());
        let mut pending: VecDeque<_> = downloads.into();
        let stage = match self
            .apply_in_order(stage, &layers, &mut pending, &report)
            .await
        {
            Ok(stage) => stage,
            Err(e) => {
                // The downloads still running stop, and their temp files
                // are gone, before the client hears of the failure.
                for download in &pending {
                    download.abort();
                }
                for download in pending {
                    let _ = download.await;
                }
                return Err(e);
            }
        };
        let staged = tokio::task::spawn_blocking(move || {
            stage.finish(Some(&manifest), tag, Some(repo_digest))
        })
        .await
        .map_err(|e| RegistryError::Transport(format!("unpack task failed: {e}")))??;
        Ok(core_staged(staged))
    }

    /// Applies each layer as its download finishes, in the manifest's
    /// order; the downloads not yet awaited stay in `pending`.
    async fn apply_in_order(
        &self,
        mut stage: LayerStage,
        layers: &[OciDescriptor],
        pending: &mut VecDeque<JoinHandle<Result<PathBuf, RegistryError>>>,
        report: &Reporter,
    ) -> Result<LayerStage, RegistryError> {
        for layer in layers {
            let Some(download) = pending.pop_front() else {
                break;
            };
            let path = download
                .await
                .map_err(|e| RegistryError::Transport(format!("download task failed: {e}")))??;
            stage = self.extract(stage, layer, path, report).await?;
        }
        Ok(stage)
    }

    /// One task per layer, at most [`CONCURRENT_DOWNLOADS`] downloading.
    fn download_all(
        &self,
        session: Arc<Session>,
        layers: &[OciDescriptor],
        report: &Reporter,
    ) -> Vec<JoinHandle<Result<PathBuf, RegistryError>>> {
        let permits = Arc::new(Semaphore::new(CONCURRENT_DOWNLOADS));
        layers
            .iter()
            .map(|layer| {
                let (adapter, session, permits) =
                    (self.clone(), Arc::clone(&session), Arc::clone(&permits));
                let (layer, report) = (layer.clone(), report.clone());
                tokio::spawn(async move {
                    let _permit = permits
                        .acquire_owned()
                        .await
                        .map_err(|e| RegistryError::Transport(e.to_string()))?;
                    let id = short(&layer.digest);
                    let total = size_of(&layer);
                    let mut reported = 0;
                    let (path, fetched) = adapter
                        .inner
                        .blobs
                        .fetch(
                            &layer.digest,
                            total,
                            || session.blob(&layer),
                            |current| {
                                if current - reported >= PROGRESS_STEP || current == total {
                                    reported = current;
                                    report.say(Some(&id), "Downloading", Some((current, total)));
                                }
                            },
                        )
                        .await?;
                    if fetched == Fetched::Downloaded {
                        report.say(Some(&id), "Verifying Checksum", None);
                        report.say(Some(&id), "Download complete", None);
                    }
                    Ok(path)
                })
            })
            .collect()
    }

    /// Applies one downloaded layer on the blocking pool.
    async fn extract(
        &self,
        mut stage: LayerStage,
        layer: &OciDescriptor,
        blob: PathBuf,
        report: &Reporter,
    ) -> Result<LayerStage, RegistryError> {
        let id = short(&layer.digest);
        let total = size_of(layer);
        let counting = report.clone();
        let task_id = id.clone();
        let stage = tokio::task::spawn_blocking(move || -> Result<LayerStage, Error> {
            let file = std::fs::File::open(&blob).map_err(Error::io("open", &blob))?;
            let reader = Counting {
                inner: BufReader::new(file),
                read: 0,
                reported: 0,
                report: move |current| {
                    counting.say(Some(&task_id), "Extracting", Some((current, total)));
                },
            };
            stage.apply(reader)?;
            Ok(stage)
        })
        .await
        .map_err(|e| RegistryError::Transport(format!("unpack task failed: {e}")))??;
        report.say(Some(&id), "Pull complete", None);
        Ok(stage)
    }
}

/// What dockerd's "Pulling from" line names: the repository path for Docker
/// Hub (`library/busybox`), the familiar name elsewhere.
fn pulling_name(named: &ImageRef) -> String {
    if named.domain() == "docker.io" {
        named.path().to_owned()
    } else {
        named.familiar_name()
    }
}

fn core_staged(staged: Staged) -> StagedImage {
    StagedImage {
        id: staged.id.to_string(),
        tag: staged.tag.map(|t| t.to_string()),
        size: staged.size,
        repo_digest: staged.repo_digest,
    }
}

/// Reports how much of a compressed layer has been read.
struct Counting<R, F> {
    inner: R,
    read: u64,
    reported: u64,
    report: F,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read - self.reported >= PROGRESS_STEP || (n == 0 && self.read > self.reported) {
            self.reported = self.read;
            (self.report)(self.read);
        }
        Ok(n)
    }
}
