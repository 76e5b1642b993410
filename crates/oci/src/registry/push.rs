//! The registry side of `docker push`: the endpoint (as for a pull), which
//! blobs the repository has, blob uploads streamed from disk, the manifest.

use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;

use super::{RegistryError, Session};

/// A blob's bytes for an upload, read from disk as they go.
pub type UploadBody =
    futures_util::stream::BoxStream<'static, Result<bytes::Bytes, OciDistributionError>>;

impl Session {
    /// Picks the endpoint (trying the next while one cannot be reached)
    /// and authenticates for pushing.
    pub async fn connect_for_push(&mut self) -> Result<(), RegistryError> {
        let mut index = 0;
        loop {
            self.chosen = index;
            match self
                .client()
                .auth(self.reference(), &self.auth, RegistryOperation::Push)
                .await
            {
                Ok(_) => return Ok(()),
                Err(OciDistributionError::RequestError(e)) if index + 1 < self.endpoints.len() => {
                    tracing::debug!(registry = %self.host, error = %e, "endpoint unreachable, trying the next");
                    index += 1;
                }
                Err(e) => return Err(self.push_error(e)),
            }
        }
    }

    /// Whether the repository has the blob already.
    pub async fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        self.client()
            .blob_exists(self.reference(), digest)
            .await
            .map_err(|e| self.push_error(e))
    }

    /// Uploads a blob of `size` bytes.
    pub async fn upload(
        &self,
        body: UploadBody,
        digest: &str,
        size: u64,
    ) -> Result<(), RegistryError> {
        self.client()
            .push_blob_stream(self.reference(), body, digest, Some(size))
            .await
            .map(drop)
            .map_err(|e| self.push_error(e))
    }

    /// Puts the manifest under the reference's tag.
    pub async fn put_manifest(
        &self,
        manifest: Vec<u8>,
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let content_type = http::HeaderValue::from_str(media_type).map_err(|e| {
            RegistryError::Transport(format!("manifest media type {media_type:?}: {e}"))
        })?;
        self.client()
            .push_manifest_raw(self.reference(), manifest, content_type)
            .await
            .map(drop)
            .map_err(|e| self.push_error(e))
    }

    /// dockerd's words for a push the registry refuses: its code and
    /// message (`denied: requested access to the resource is denied`).
    fn push_error(&self, e: OciDistributionError) -> RegistryError {
        match e {
            OciDistributionError::RegistryError { envelope, .. } => {
                let reason = envelope
                    .errors
                    .into_iter()
                    .next()
                    .map(|first| {
                        let code = serde_json::to_value(&first.code)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_lowercase))
                            .unwrap_or_default()
                            .replace('_', " ");
                        format!("{code}: {}", first.message)
                    })
                    .unwrap_or_else(|| "the registry gave no reason".to_owned());
                RegistryError::Transport(reason)
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => {
                RegistryError::Transport("unauthorized: authentication required".to_owned())
            }
            other => self.error(other),
        }
    }
}
