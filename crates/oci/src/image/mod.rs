//! Local images under `<data-root>/images`, with `docker import` semantics.
//!
//! An image is a directory `<hex>/` holding `config.json` (whose sha256 is
//! the id) and `rootfs/`. `index.json` maps `repo:tag` names to ids and
//! keeps each image's size; it is rewritten atomically (temp + rename)
//! after the image directory is complete, so a crash leaves either no
//! trace of an import or a complete image. Leftovers of an interrupted
//! import or removal are swept by [`ImageStore::open`].

mod changes;
mod commit;
mod config;
mod history;
mod layered;
mod load;
mod reference;
mod save;
mod sweep;
mod unpack;
mod zstd;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use changes::apply_changes;
pub use commit::{ChildImage, NewLayer};
pub use config::{Empty, ImageConfig};
pub use history::HistoryItem;
pub use layered::LayerStage;
pub use load::Loaded;
pub use reference::{ImageId, RepoTag, DEFAULT_TAG};
pub use save::SavePlan;
pub use sweep::BlobPin;

use crate::error::{Error, Result};
use crate::fsutil::{
    create_dir_all, remove_dir_all_if_exists, remove_file_if_exists, write_atomic,
};
use crate::time::{format_rfc3339_nano, parse_rfc3339};
pub(crate) use config::go_arch;
use config::{History, ImageDocument, RootFs};
use reference::is_hex;
pub(crate) use unpack::hex as unpack_hex;

const INDEX: &str = "index.json";
/// Layer blobs, by digest: shared by pulls, loads, pushes and saves.
pub(crate) const BLOBS: &str = "blobs/sha256";
const TMP: &str = "tmp";

/// Where an import's files come from.
pub enum ImportSource<'a> {
    /// A tar stream, plain or compressed.
    Tar(&'a mut dyn Read),
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo:tag` to give the new image; an existing tag moves to it.
    pub tag: Option<RepoTag>,
    /// `--change` lines (`CMD`, `ENTRYPOINT`, `ENV`, `WORKDIR`, `EXPOSE`,
    /// `LABEL`).
    pub changes: Vec<String>,
    /// `--message`; Docker's default is `Imported from -`.
    pub message: Option<String>,
}

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

/// What removing a reference will do, decided before doing it so the
/// caller can refuse (an image still used by a container) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovePlan {
    pub id: ImageId,
    pub untag: Vec<String>,
    pub delete: bool,
}

/// An import whose files are in place under the image's id but which the
/// index does not list yet; [`ImageStore::record`] lists it. One never
/// recorded is swept by [`ImageStore::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub id: ImageId,
    pub size: u64,
    pub tag: Option<RepoTag>,
    /// `repo@sha256:…` of the manifest a pull found it by.
    pub repo_digest: Option<String>,
}

/// One line of Docker's `DELETE /images/{name}` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(ImageId),
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

    /// `docker import`: extracts `source` into a new image and, if asked,
    /// tags it (moving the tag off any previous image).
    pub fn import(&self, source: ImportSource<'_>, opts: &ImportOptions) -> Result<Image> {
        let staged = self.stage(source, opts)?;
        self.record(&staged)
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

    /// The slow half of an import: extracts `source` and writes the
    /// image's config, renamed into place under its id, without touching
    /// the index (so nothing lists it yet).
    pub fn stage(&self, source: ImportSource<'_>, opts: &ImportOptions) -> Result<Staged> {
        // Refuse bad changes before reading a byte, as Docker does.
        let mut config = ImageConfig::default();
        apply_changes(&mut config, &opts.changes)?;

        let (tmp, rootfs) = self.stage_dir("import-")?;
        // The tar's bytes are kept as they came, to be the image's one
        // layer blob (so it can be pushed and saved).
        let layer = tmp.path().join("layer");
        let ImportSource::Tar(r) = source;
        let unpacked = unpack_keeping(r, &rootfs, &layer)?;
        let comment = opts
            .message
            .clone()
            .unwrap_or_else(|| "Imported from -".to_owned());
        let created = format_rfc3339_nano(SystemTime::now());
        let doc = ImageDocument {
            architecture: go_arch().to_owned(),
            author: String::new(),
            comment: comment.clone(),
            config,
            created: created.clone(),
            history: vec![History {
                created,
                comment,
                ..History::default()
            }],
            os: "linux".to_owned(),
            parent: String::new(),
            rootfs: RootFs {
                kind: "layers".to_owned(),
                diff_ids: vec![unpacked.diff_id],
            },
        };
        let bytes = serde_json::to_vec(&doc).map_err(|e| Error::Archive(e.to_string()))?;
        let hex = unpack::hex(&Sha256::digest(&bytes));
        let config_path = tmp.path().join("config.json");
        fs::write(&config_path, &bytes).map_err(Error::io("write", &config_path))?;
        // The blob is named by no manifest until the directory is in place.
        let mut pin = self.pin_blobs([]);
        let descriptor = self.keep_blob(&layer, &mut pin)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": bytes.len(),
                "digest": format!("sha256:{hex}"),
            },
            "layers": [descriptor],
        });
        let path = tmp.path().join(layered::MANIFEST);
        let out = serde_json::to_vec(&manifest).map_err(|e| Error::Archive(e.to_string()))?;
        fs::write(&path, out).map_err(Error::io("write", &path))?;
        // A layer the blob store had already is left here by keep_blob.
        remove_file_if_exists(&layer)?;
        self.place_image_dir(tmp, &hex)?;
        Ok(Staged {
            id: ImageId::from_hex(hex),
            size: unpacked.size,
            tag: opts.tag.clone(),
            repo_digest: None,
        })
    }

    /// The quick half of an import: lists a staged image and moves its
    /// tag to it.
    pub fn record(&self, staged: &Staged) -> Result<Image> {
        let hex = staged.id.hex();
        let config = self.dir.join(hex).join("config.json");
        if !config.is_file() {
            return Err(Error::NoSuchImage(staged.id.to_string()));
        }
        let mut index = self.lock();
        index
            .images
            .insert(hex.to_owned(), IndexEntry { size: staged.size });
        if let Some(tag) = &staged.tag {
            index.tags.insert(tag.to_string(), hex.to_owned());
        }
        if let Some(digest) = &staged.repo_digest {
            index.digests.insert(digest.clone(), hex.to_owned());
        }
        write_index(&self.dir, &index)?;
        tracing::info!(image = %hex, tag = ?staged.tag.as_ref().map(ToString::to_string), size = staged.size, "imported image");
        self.load(&index, hex)
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

    /// Docker's rules: a name untags (and deletes the image when it was the
    /// last name); an id deletes, refusing without `force` when several
    /// names point at the image. Checking containers is the caller's job.
    pub fn plan_remove(&self, reference: &str, force: bool) -> Result<RemovePlan> {
        let index = self.lock();
        let tags_of = |hex: &str| -> Vec<String> {
            index
                .tags
                .iter()
                .filter(|(_, h)| h.as_str() == hex)
                .map(|(t, _)| t.clone())
                .collect()
        };
        let digests_of = |hex: &str| -> Vec<String> {
            index
                .digests
                .iter()
                .filter(|(_, h)| h.as_str() == hex)
                .map(|(d, _)| d.clone())
                .collect()
        };
        // A parent of another image (a commit's, a build step's) stays
        // while its children do, as in dockerd.
        let has_children = |hex: &str| {
            let parent = format!("sha256:{hex}");
            index.images.keys().any(|other| {
                self.document(&ImageId::from_hex(other.clone()))
                    .is_ok_and(|doc| doc.parent == parent)
            })
        };
        match resolve(&index, reference)? {
            Resolved::Tag(name, hex) => {
                // Docker: the image goes with its last tag, and with it the
                // digests it was pulled by; a digest alone untags itself
                // and deletes only an image with no tag left.
                let tags = tags_of(&hex);
                let delete = tags.iter().all(|t| *t == name) && !has_children(&hex);
                let mut untag = vec![name.clone()];
                if delete {
                    untag.extend(digests_of(&hex).into_iter().filter(|d| *d != name));
                }
                Ok(RemovePlan {
                    id: ImageId::from_hex(hex),
                    untag,
                    delete,
                })
            }
            Resolved::Id(hex) => {
                if has_children(&hex) {
                    return Err(Error::ImageHasChildren(hex[..12].to_owned()));
                }
                let tags = tags_of(&hex);
                if tags.len() > 1 && !force {
                    return Err(Error::ImageReferencedByTags(hex[..12].to_owned()));
                }
                let mut untag = tags;
                untag.extend(digests_of(&hex));
                Ok(RemovePlan {
                    id: ImageId::from_hex(hex),
                    untag,
                    delete: true,
                })
            }
        }
    }

    /// Carries out a plan from [`ImageStore::plan_remove`]. The index is
    /// updated first; the files are then moved aside and deleted and the
    /// layer blobs no image uses any more removed, so a crash leaves at
    /// worst a directory or blobs that `open` sweeps.
    pub fn remove(&self, plan: &RemovePlan) -> Result<Vec<Removed>> {
        let (removed, doomed) = self.remove_deferred(plan)?;
        if let Some(doomed) = doomed {
            remove_dir_all_if_exists(&doomed)?;
        }
        Ok(removed)
    }

    /// [`ImageStore::remove`] up to moving the files aside: returns the
    /// directory they are in, for the caller to delete when it suits it
    /// (deleting a large rootfs takes a while).
    pub fn remove_deferred(&self, plan: &RemovePlan) -> Result<(Vec<Removed>, Option<PathBuf>)> {
        let mut index = self.lock();
        let hex = plan.id.hex();
        if !index.images.contains_key(hex) {
            return Err(Error::NoSuchImage(plan.id.to_string()));
        }
        let mut out = Vec::new();
        for tag in &plan.untag {
            if index.tags.get(tag).map(String::as_str) == Some(hex) {
                index.tags.remove(tag);
                out.push(Removed::Untagged(tag.clone()));
            } else if index.digests.get(tag).map(String::as_str) == Some(hex) {
                index.digests.remove(tag);
                out.push(Removed::Untagged(tag.clone()));
            }
        }
        if plan.delete {
            index.images.remove(hex);
            index.tags.retain(|_, h| h != hex);
            index.digests.retain(|_, h| h != hex);
        }
        write_index(&self.dir, &index)?;
        if !plan.delete {
            return Ok((out, None));
        }
        let doomed = self.dir.join(TMP).join(format!("delete-{hex}"));
        let dir = self.dir.join(hex);
        fs::rename(&dir, &doomed).map_err(Error::io("move aside", &dir))?;
        out.push(Removed::Deleted(plan.id.clone()));
        tracing::info!(image = %hex, "deleted image");
        // The image is gone whatever happens to its blobs: one left here is
        // swept by the next removal or open.
        if let Err(e) = self.sweep_blobs() {
            tracing::warn!(error = %e, "layer blobs not swept");
        }
        Ok((out, Some(doomed)))
    }

    /// Plans and carries out a removal in one step, for callers with no
    /// container check to make.
    pub fn remove_reference(&self, reference: &str, force: bool) -> Result<Vec<Removed>> {
        let plan = self.plan_remove(reference, force)?;
        self.remove(&plan)
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

/// Unpacks the tar stream `r` into `rootfs` while writing its bytes, as
/// read, to `copy` (the rest past the tar's end too).
fn unpack_keeping(r: &mut dyn Read, rootfs: &Path, copy: &Path) -> Result<unpack::Unpacked> {
    let file = fs::File::create(copy).map_err(Error::io("create", copy))?;
    let mut tee = Tee {
        inner: r,
        copy: std::io::BufWriter::new(file),
    };
    let unpacked = unpack::unpack_stream(&mut tee, rootfs)?;
    std::io::copy(&mut tee, &mut std::io::sink()).map_err(Error::io("read the rest of", copy))?;
    let file = tee
        .copy
        .into_inner()
        .map_err(|e| Error::io("write", copy)(e.into_error()))?;
    file.sync_all().map_err(Error::io("sync", copy))?;
    Ok(unpacked)
}

/// A reader that writes what it reads to `copy`.
struct Tee<'a, W: std::io::Write> {
    inner: &'a mut dyn Read,
    copy: W,
}

impl<W: std::io::Write> Read for Tee<'_, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}
