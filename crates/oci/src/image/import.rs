//! `docker import`: a tar stream unpacked into a new image, its bytes kept
//! as the image's one layer blob, in two halves (staging the files,
//! recording them in the index) so the slow one holds no lock.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::config::{History, ImageDocument, RootFs};
use super::{
    apply_changes, go_arch, layered, unpack, write_index, Image, ImageConfig, ImageId, ImageStore,
    IndexEntry, RepoTag,
};
use crate::error::{Error, Result};
use crate::fsutil::remove_file_if_exists;
use crate::time::format_rfc3339_nano;

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

impl ImageStore {
    /// `docker import`: extracts `source` into a new image and, if asked,
    /// tags it (moving the tag off any previous image).
    pub fn import(&self, source: ImportSource<'_>, opts: &ImportOptions) -> Result<Image> {
        let staged = self.stage(source, opts)?;
        self.record(&staged)
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
}

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
