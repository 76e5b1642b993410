//! `docker push` of a pulled image (berth keeps the layers and manifest of
//! those; an imported image has no layer archive and is refused by name):
//! each layer the repository lacks is uploaded from the blob store as it
//! is read, then the config, then the manifest as it was pulled (so the
//! pushed digest is the pulled one, as with dockerd). Progress goes out as
//! dockerd's messages.

use berth_core::ports::StagedImage;
use berth_types::reference::ImageRef;
use futures_util::StreamExt;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::pull::{short, Reporter, PROGRESS_STEP};
use super::{OciAdapter, PullProgress};
use crate::error::Error;
use crate::image::unpack_hex;
use crate::registry::{Credentials, RegistryError, RegistryErrorKind, Session, UploadBody};
use sha2::{Digest, Sha256};

/// Bytes read from disk per upload chunk.
const CHUNK: usize = 1 << 20;

pub struct PushRequest {
    /// With a tag.
    pub reference: ImageRef,
    pub credentials: Credentials,
}

impl OciAdapter {
    /// Pushes the local image `request.reference` to its registry. Returns
    /// the image with the pushed `repo@digest`, for the engine to record.
    pub async fn push(
        &self,
        request: PushRequest,
        progress: mpsc::UnboundedSender<PullProgress>,
    ) -> Result<StagedImage, RegistryError> {
        let report = Reporter(progress);
        let named = request.reference;
        let familiar = named.familiar_string();
        let image = self.inner.images.inspect(&familiar).map_err(|_| {
            RegistryError::refused(
                RegistryErrorKind::NotFound,
                format!(
                    "An image does not exist locally with the tag: {}",
                    named.familiar_name()
                ),
            )
        })?;
        let Some((config, manifest_bytes)) = self.inner.images.pushable(&image.id)? else {
            return Err(RegistryError::refused(
                RegistryErrorKind::NotImplemented,
                format!("berth cannot push {familiar}: it was imported by an earlier berth, which kept no layer archive of imports"),
            ));
        };
        let manifest: OciImageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| RegistryError::Transport(format!("stored manifest of {familiar}: {e}")))?;
        report.say(
            None,
            &format!("The push refers to repository [{}]", named.familiar_name()),
            None,
        );
        // An `rmi` while the push runs leaves the blobs until it is done.
        let _pin = self
            .inner
            .images
            .pin_blobs(manifest.layers.iter().map(|l| l.digest.as_str()));
        let mut session = self
            .inner
            .registries
            .session(&named, &request.credentials)?;
        session.connect_for_push().await?;
        for layer in manifest.layers.iter().rev() {
            report.say(Some(&short(&layer.digest)), "Preparing", None);
        }
        for layer in manifest.layers.iter().rev() {
            let id = short(&layer.digest);
            if session.has_blob(&layer.digest).await? {
                report.say(Some(&id), "Layer already exists", None);
                continue;
            }
            let path = self.inner.blobs.path(&layer.digest)?;
            let size = u64::try_from(layer.size).unwrap_or(0);
            let body = file_body(&path, size, report.clone(), id.clone()).await?;
            session.upload(body, &layer.digest, size).await?;
            report.say(Some(&id), "Pushed", None);
        }
        upload_config(&session, &manifest.config.digest, config).await?;
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| OCI_IMAGE_MEDIA_TYPE.to_owned());
        let size = manifest_bytes.len();
        let digest = format!("sha256:{}", unpack_hex(&Sha256::digest(&manifest_bytes)));
        session.put_manifest(manifest_bytes, &media_type).await?;
        let tag = familiar.rsplit_once(':').map_or("latest", |(_, t)| t);
        report.say(None, &format!("{tag}: digest: {digest} size: {size}"), None);
        Ok(StagedImage {
            id: image.id.to_string(),
            tag: None,
            size: image.size,
            repo_digest: Some(format!("{}@{digest}", session.name())),
        })
    }
}

async fn upload_config(
    session: &Session,
    digest: &str,
    config: Vec<u8>,
) -> Result<(), RegistryError> {
    if session.has_blob(digest).await? {
        return Ok(());
    }
    let size = config.len() as u64;
    let body: UploadBody =
        futures_util::stream::once(async move { Ok(bytes::Bytes::from(config)) }).boxed();
    session.upload(body, digest, size).await
}

/// A blob file as an upload, reporting `Pushing` as it is read.
async fn file_body(
    path: &std::path::Path,
    total: u64,
    report: Reporter,
    id: String,
) -> Result<UploadBody, RegistryError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| RegistryError::from(Error::io("open layer blob", path)(e)))?;
    let state = (Some(file), 0u64, 0u64);
    Ok(
        futures_util::stream::unfold(state, move |(file, sent, reported)| {
            let (report, id) = (report.clone(), id.clone());
            async move {
                let mut file = file?;
                let mut buf = vec![0u8; CHUNK];
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        let sent = sent + n as u64;
                        let reported = if sent - reported >= PROGRESS_STEP || sent == total {
                            report.say(Some(&id), "Pushing", Some((sent, total)));
                            sent
                        } else {
                            reported
                        };
                        Some((Ok(bytes::Bytes::from(buf)), (Some(file), sent, reported)))
                    }
                    Err(e) => Some((
                        Err(OciDistributionError::IoError(e)),
                        (None, sent, reported),
                    )),
                }
            }
        })
        .boxed(),
    )
}
