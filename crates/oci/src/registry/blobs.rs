//! Content-addressed blobs under `<data-root>/images/blobs/sha256/<hex>`,
//! shared by every image that has them. A blob is written to a temp file
//! while its digest is computed and renamed to its name only when the
//! digest and size are right, so a name always holds its content; a pull
//! that breaks off leaves at most a temp file, swept when the image store
//! opens (`tmp/`). One download per digest runs at a time: a second pull
//! wanting the same blob waits for the first and then finds it on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use oci_client::errors::DigestError;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::error::RegistryError;
use crate::error::Error;
use crate::fsutil::create_dir_all;
use crate::image::unpack_hex;

/// A blob's bytes as they arrive.
pub type BlobBody = BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What [`BlobStore::fetch`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// It was on disk already.
    Present,
    /// This call downloaded it.
    Downloaded,
}

impl BlobStore {
    /// `images_dir` is the image store's directory; blobs go under it and
    /// their temp files in its `tmp/`.
    pub fn open(images_dir: &Path) -> crate::Result<Self> {
        let dir = images_dir.join(crate::image::BLOBS);
        create_dir_all(&dir)?;
        Ok(BlobStore {
            dir,
            tmp: images_dir.join("tmp"),
            fetching: Mutex::default(),
        })
    }

    /// Where the blob `sha256:<hex>` lives (whether or not it is there).
    pub fn path(&self, digest: &str) -> Result<PathBuf, RegistryError> {
        match digest.strip_prefix("sha256:") {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(self.dir.join(hex.to_ascii_lowercase()))
            }
            _ => Err(RegistryError::Transport(format!(
                "unsupported digest {digest:?}: berth keeps sha256 blobs only"
            ))),
        }
    }

    pub fn has(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    /// Makes sure the blob is on disk: downloads `body` (a byte stream
    /// whose digest must be `digest` and length `size`) unless it is there
    /// or another pull is fetching it, in which case this waits for that
    /// one. `progress` gets the bytes written so far.
    pub async fn fetch<S>(
        &self,
        digest: &str,
        size: u64,
        body: impl FnOnce() -> S,
        mut progress: impl FnMut(u64),
    ) -> Result<(PathBuf, Fetched), RegistryError>
    where
        S: std::future::Future<Output = Result<BlobBody, RegistryError>>,
    {
        let path = self.path(digest)?;
        let gate = {
            let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(fetching.entry(digest.to_owned()).or_default())
        };
        let held = gate.lock().await;
        let outcome = if path.is_file() {
            Ok(Fetched::Present)
        } else {
            self.download(&path, digest, size, body, &mut progress)
                .await
                .map(|()| Fetched::Downloaded)
        };
        drop(held);
        {
            let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
            // Only the map and this call hold the gate: nobody waits on it.
            if Arc::strong_count(&gate) == 2 {
                fetching.remove(digest);
            }
        }
        outcome.map(|fetched| (path, fetched))
    }

    async fn download<S>(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
        body: impl FnOnce() -> S,
        progress: &mut impl FnMut(u64),
    ) -> Result<(), RegistryError>
    where
        S: std::future::Future<Output = Result<BlobBody, RegistryError>>,
    {
        let temp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.tmp)
            .map_err(Error::io("create temp file in", &self.tmp))?;
        let mut file = tokio::fs::File::from_std(
            temp.reopen()
                .map_err(Error::io("open", temp.path().to_path_buf()))?,
        );
        let mut stream = body().await?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                let mismatch = e
                    .get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<DigestError>().is_some());
                if mismatch {
                    verification_failed(digest)
                } else {
                    RegistryError::Transport(format!(
                        "read blob {digest}: {}",
                        super::error::with_causes(&e)
                    ))
                }
            })?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(Error::io("write", temp.path().to_path_buf()))?;
            written += chunk.len() as u64;
            progress(written);
        }
        file.sync_all()
            .await
            .map_err(Error::io("sync", temp.path().to_path_buf()))?;
        let actual = format!("sha256:{}", unpack_hex(&hasher.finalize()));
        if actual != digest || written != size {
            tracing::warn!(%digest, %actual, written, size, "blob does not match its digest");
            return Err(verification_failed(digest));
        }
        temp.persist(path)
            .map_err(|e| Error::io("rename into place", path)(e.error))?;
        Ok(())
    }
}

/// dockerd's words for a blob that is not what its digest says.
fn verification_failed(digest: &str) -> RegistryError {
    RegistryError::Transport(format!(
        "filesystem layer verification failed for digest {digest}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn body(
        chunks: Vec<&'static [u8]>,
    ) -> impl std::future::Future<Output = Result<BlobBody, RegistryError>> {
        let items: Vec<Result<bytes::Bytes, std::io::Error>> = chunks
            .into_iter()
            .map(|c| Ok(bytes::Bytes::from_static(c)))
            .collect();
        async move { Ok(stream::iter(items).boxed()) }
    }

    fn digest(data: &[u8]) -> String {
        format!("sha256:{}", unpack_hex(&Sha256::digest(data)))
    }

    #[tokio::test]
    async fn verified_blobs_land_once_and_bad_ones_never() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        let d = digest(b"hello world");
        let mut seen = Vec::new();
        let (path, fetched) = blobs
            .fetch(&d, 11, || body(vec![b"hello ", b"world"]), |n| seen.push(n))
            .await
            .unwrap();
        assert_eq!(fetched, Fetched::Downloaded);
        assert_eq!(seen, [6, 11]);
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        let (_, again) = blobs.fetch(&d, 11, || body(vec![]), |_| {}).await.unwrap();
        assert_eq!(again, Fetched::Present);

        // Wrong content: no blob, no temp file.
        let other = digest(b"other");
        let e = blobs
            .fetch(&other, 5, || body(vec![b"evil!"]), |_| {})
            .await
            .unwrap_err();
        assert!(e.to_string().contains("verification failed"), "{e}");
        assert!(!blobs.has(&other));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        assert!(blobs.path("md5:00").is_err());
        assert!(blobs.fetching.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn concurrent_fetches_of_one_blob_download_it_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let blobs = Arc::new(BlobStore::open(dir.path()).unwrap());
        let d = digest(b"shared");
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let blobs = Arc::clone(&blobs);
                let d = d.clone();
                tokio::spawn(async move {
                    blobs
                        .fetch(&d, 6, || body(vec![b"sha", b"red"]), |_| {})
                        .await
                        .unwrap()
                        .1
                })
            })
            .collect();
        let mut downloads = 0;
        for t in tasks {
            if t.await.unwrap() == Fetched::Downloaded {
                downloads += 1;
            }
        }
        assert_eq!(downloads, 1);
    }
}
