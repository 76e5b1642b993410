//! Local images under `<data-root>/images`, with `docker import` semantics.
//!
//! An image is a directory `<hex>/` holding `config.json` (whose sha256 is
//! the id) and `rootfs/`. `index.json` maps `repo:tag` names to ids and
//! keeps each image's size; it is rewritten atomically (temp + rename)
//! after the image directory is complete, so a crash leaves either no
//! trace of an import or a complete image. Leftovers of an interrupted
//! import or removal are swept by [`ImageStore::open`].
//!
//! This file holds the store, its index and lookups; `import` and `remove`
//! are `docker import` and `docker rmi`, the other modules the rest of what
//! images go through (commit, load/save, pull's layers, `--change`).

mod changes;
mod commit;
mod config;
mod history;
mod import;
mod layered;
mod load;
mod reference;
mod remove;
mod save;
mod sweep;
mod unpack;
mod zstd;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use changes::apply_changes;
pub use commit::{ChildImage, NewLayer};
pub use config::{Empty, ImageConfig};
pub use history::HistoryItem;
pub use import::{ImportOptions, ImportSource, Staged};
pub use layered::LayerStage;
pub use load::Loaded;
pub use reference::{ImageId, RepoTag, DEFAULT_TAG};
pub use remove::{RemovePlan, Removed};
pub use save::SavePlan;
pub use sweep::BlobPin;

use crate::error::{Error, Result};
use crate::fsutil::{create_dir_all, remove_dir_all_if_exists, write_atomic};
use crate::time::parse_rfc3339;
pub(crate) use config::go_arch;
use config::ImageDocument;
use reference::is_hex;
pub(crate) use unpack::hex as unpack_hex;

const INDEX: &str = "index.json";
/// Layer blobs, by digest: shared by pulls, loads, pushes and saves.
pub(crate) const BLOBS: &str = "blobs/sha256";
const TMP: &str = "tmp";

/// One image as `docker images` / `docker image inspect` need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: ImageId,
    /// Sorted `repo:tag` names; empty for a dangling image.
    pub repo_tags: Vec<String>,
    /// `repo@sha256:…` of the manifests it was pulled by.
    pub repo_digests: Vec<String>,
    pub created: SystemTime,
    /// Bytes of regular files in the rootfs.
    pub size: u64,
    pub config: ImageConfig,
    pub architecture: String,
    pub os: String,
    pub comment: String,
    /// `docker commit -a`.
    pub author: String,
    /// The image a commit or build step started from (`sha256:…`), or "".
    pub parent: String,
    /// The layer diff ids (`RootFS.Layers` in inspect).
    pub layers: Vec<String>,
    /// The extracted files: a container's overlay lowerdir.
    pub rootfs: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: BTreeMap<String, IndexEntry>,
    tags: BTreeMap<String, String>,
    /// `repo@sha256:…` to image hex, for pulled images.
    #[serde(default)]
    digests: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexEntry {
    size: u64,
}

/// How a reference matched.
enum Resolved {
    Tag(String, String),
    Id(String),
}

pub struct ImageStore {
    dir: PathBuf,
    index: Mutex<Index>,
    pins: sweep::Pins,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `images_dir` and sweeps
    /// what an interrupted import or removal left behind.
    pub fn open(images_dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = images_dir.into();
        create_dir_all(&dir)?;
        let index_path = dir.join(INDEX);
        let mut index: Index = match fs::read(&index_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::CorruptStore {
                path: index_path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(e) => return Err(Error::io("read", &index_path)(e)),
        };
        remove_dir_all_if_exists(&dir.join(TMP))?;
        create_dir_all(&dir.join(TMP))?;
        for entry in fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let entry = entry.map_err(Error::io("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && is_hex(&name) && !index.images.contains_key(&name) {
                tracing::warn!(image = %name, "removing image directory missing from the index");
                remove_dir_all_if_exists(&entry.path())?;
            }
        }
        let missing: Vec<String> = index
            .images
            .keys()
            .filter(|hex| !dir.join(hex).join("config.json").is_file())
            .cloned()
            .collect();
        if !missing.is_empty() {
            for hex in &missing {
                tracing::warn!(image = %hex, "dropping index entry whose files are gone");
                index.images.remove(hex);
            }
            index.tags.retain(|_, hex| !missing.contains(hex));
            index.digests.retain(|_, hex| !missing.contains(hex));
            write_index(&dir, &index)?;
        }
        let store = ImageStore {
            dir,
            index: Mutex::new(index),
            pins: sweep::Pins::default(),
        };
        // Blobs of images removed just before a crash.
        if let Err(e) = store.sweep_blobs() {
            tracing::warn!(error = %e, "layer blobs not swept");
        }
        Ok(store)
    }

    /// `<data-root>/images`.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A temp directory on the store's file system (a build's context and
    /// layers, which move into the blob store by rename); gone when
    /// dropped, and swept by [`ImageStore::open`] after a crash.
    pub fn scratch_dir(&self, prefix: &str) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(self.dir.join(TMP))
            .map_err(Error::io("create temp dir in", self.dir.join(TMP)))
    }

    /// A scratch directory with an empty `rootfs/` in it, where an image
    /// (imported, committed, pulled) is put together before it is renamed
    /// into place under its id; the rootfs's path with it.
    pub(super) fn stage_dir(&self, prefix: &str) -> Result<(tempfile::TempDir, PathBuf)> {
        let tmp = self.scratch_dir(prefix)?;
        let rootfs = tmp.path().join("rootfs");
        create_dir_all(&rootfs)?;
        Ok((tmp, rootfs))
    }

    /// Where the blob `sha256:<hex>` lives.
    pub(crate) fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir.join(BLOBS).join(hex)
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock cannot leave the index half
        // written on disk (it is replaced atomically), so keep going.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves a staged image's directory (made in `tmp`) to its place by
    /// id; one already there (the same image) is kept.
    pub(super) fn place_image_dir(&self, tmp: tempfile::TempDir, hex: &str) -> Result<()> {
        let final_dir = self.dir.join(hex);
        if !final_dir.exists() {
            let tmp_path = tmp.keep();
            fs::rename(&tmp_path, &final_dir)
                .map_err(Error::io("rename into place", &final_dir))?;
        }
        Ok(())
    }

    /// All images, newest first (as `docker images` lists them).
    pub fn list(&self) -> Result<Vec<Image>> {
        let index = self.lock();
        let mut images = index
            .images
            .keys()
            .map(|hex| self.load(&index, hex))
            .collect::<Result<Vec<_>>>()?;
        images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(images)
    }

    pub fn inspect(&self, reference: &str) -> Result<Image> {
        let index = self.lock();
        let hex = match resolve(&index, reference)? {
            Resolved::Tag(_, hex) | Resolved::Id(hex) => hex,
        };
        self.load(&index, &hex)
    }

    /// A name (`repo[:tag]`), a full id (with or without `sha256:`) or a
    /// unique id prefix, to the image id.
    pub fn resolve(&self, reference: &str) -> Result<ImageId> {
        match resolve(&self.lock(), reference)? {
            Resolved::Tag(_, hex) | Resolved::Id(hex) => Ok(ImageId::from_hex(hex)),
        }
    }

    /// The directory a container's overlay uses as its lowerdir.
    pub fn rootfs(&self, id: &ImageId) -> PathBuf {
        self.dir.join(id.hex()).join("rootfs")
    }

    fn load(&self, index: &Index, hex: &str) -> Result<Image> {
        let entry = index
            .images
            .get(hex)
            .ok_or_else(|| Error::NoSuchImage(format!("sha256:{hex}")))?;
        let path = self.dir.join(hex).join("config.json");
        let bytes = fs::read(&path).map_err(Error::io("read", &path))?;
        let doc: ImageDocument =
            serde_json::from_slice(&bytes).map_err(|e| Error::CorruptStore {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let created = if doc.created.is_empty() {
            SystemTime::UNIX_EPOCH
        } else {
            parse_rfc3339(&doc.created).ok_or_else(|| Error::CorruptStore {
                path: path.clone(),
                reason: format!("bad created time {:?}", doc.created),
            })?
        };
        Ok(Image {
            id: ImageId::from_hex(hex.to_owned()),
            repo_tags: index
                .tags
                .iter()
                .filter(|(_, h)| h.as_str() == hex)
                .map(|(t, _)| t.clone())
                .collect(),
            repo_digests: index
                .digests
                .iter()
                .filter(|(_, h)| h.as_str() == hex)
                .map(|(d, _)| d.clone())
                .collect(),
            created,
            size: entry.size,
            config: doc.config,
            architecture: doc.architecture,
            os: doc.os,
            comment: doc.comment,
            author: doc.author,
            parent: doc.parent,
            layers: doc.rootfs.diff_ids,
            rootfs: self.dir.join(hex).join("rootfs"),
        })
    }
}

fn write_index(dir: &Path, index: &Index) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(index).map_err(|e| Error::CorruptStore {
        path: dir.join(INDEX),
        reason: e.to_string(),
    })?;
    write_atomic(&dir.join(INDEX), &bytes)
}

fn resolve(index: &Index, reference: &str) -> Result<Resolved> {
    let not_found = || Error::NoSuchImage(reference.to_owned());
    if let Some(hex) = reference.strip_prefix("sha256:") {
        return by_id_prefix(index, hex).ok_or_else(not_found)?;
    }
    if reference.len() == 64 && is_hex(reference) {
        return by_id_prefix(index, reference).ok_or_else(not_found)?;
    }
    if reference.contains('@') {
        let named = berth_types::reference::parse_normalized(reference)
            .map_err(|e| Error::InvalidReference(e.to_string()))?;
        // `name:tag@digest` is looked up by its digest alone.
        let digest = reference.rsplit_once('@').map_or("", |(_, d)| d);
        let key = format!("{}@{digest}", named.familiar_name());
        return match index.digests.get(&key) {
            Some(hex) => Ok(Resolved::Tag(key, hex.clone())),
            None => Err(Error::NoSuchImage(key)),
        };
    }
    let name_err = match RepoTag::parse(reference) {
        Ok(tag) => {
            let key = tag.to_string();
            if let Some(hex) = index.tags.get(&key) {
                return Ok(Resolved::Tag(key, hex.clone()));
            }
            Error::NoSuchImage(key)
        }
        Err(e) => e,
    };
    // A short hex string that is no name: an id prefix (`docker rmi 3f2a`).
    if is_hex(reference) {
        if let Some(found) = by_id_prefix(index, reference) {
            return found;
        }
    }
    Err(name_err)
}

/// `None` when nothing matches; `Some(Err)` when several do.
fn by_id_prefix(index: &Index, prefix: &str) -> Option<Result<Resolved>> {
    if !is_hex(prefix) {
        return None;
    }
    let mut matches = index.images.keys().filter(|h| h.starts_with(prefix));
    let first = matches.next()?;
    if matches.next().is_some() {
        return Some(Err(Error::AmbiguousImage(prefix.to_owned())));
    }
    Some(Ok(Resolved::Id(first.clone())))
}

#[cfg(test)]
pub(crate) mod tests;
