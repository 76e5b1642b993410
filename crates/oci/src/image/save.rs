//! `docker save`: Docker's archive of images (`manifest.json`,
//! `repositories`, `<config hex>.json`, `<diff id hex>/layer.tar` with
//! each layer uncompressed), which `docker load` takes, berth's and
//! dockerd's alike. Only images whose layer archives berth keeps (pulled
//! or loaded ones) can be saved: an imported image has its files only.
//! Everything is checked before the first byte is written.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;

use oci_client::manifest::OciImageManifest;
use serde_json::json;

use super::config::ImageDocument;
use super::{BlobPin, ImageStore, TMP};
use crate::error::{Error, Result};

/// What `docker save` of some references writes.
pub struct SavePlan {
    images: Vec<SavedImage>,
    tmp: PathBuf,
    /// The layer blobs stay until the archive is written, whatever `rmi`
    /// does meanwhile.
    _pin: BlobPin,
}

struct SavedImage {
    hex: String,
    config: Vec<u8>,
    /// `repo:tag` names saved with it.
    tags: Vec<String>,
    /// Blob files in order, with the diff id each unpacks to.
    layers: Vec<(PathBuf, String)>,
}

impl ImageStore {
    /// Resolves each reference (a name saves under that name; an id, with
    /// no name) and finds its layer archives.
    pub fn plan_save(&self, references: &[String]) -> Result<SavePlan> {
        let mut images: Vec<SavedImage> = Vec::new();
        let mut pin = self.pin_blobs([]);
        for reference in references {
            let id = self.resolve(reference)?;
            let image = self.inspect(id.hex())?;
            let tag = image
                .repo_tags
                .iter()
                .find(|t| super::RepoTag::parse(reference).is_ok_and(|r| r.to_string() == **t))
                .cloned();
            if let Some(saved) = images.iter_mut().find(|s| s.hex == id.hex()) {
                saved.tags.extend(tag);
                continue;
            }
            let Some((config, manifest)) = self.pushable(&id)? else {
                return Err(Error::Archive(format!(
                    "berth cannot save {reference}: it was imported by an earlier berth, which kept no layer archive of imports"
                )));
            };
            let manifest: OciImageManifest = serde_json::from_slice(&manifest)
                .map_err(|e| Error::Archive(format!("stored manifest of {reference}: {e}")))?;
            let doc: ImageDocument = serde_json::from_slice(&config)
                .map_err(|e| Error::Archive(format!("config of {reference}: {e}")))?;
            let layers = manifest
                .layers
                .iter()
                .zip(doc.rootfs.diff_ids)
                .map(|(layer, diff_id)| {
                    // Pinned before it is looked for: a sweep either
                    // sees the pin or has removed the blob already.
                    pin.add(&layer.digest);
                    let hex = layer.digest.trim_start_matches("sha256:");
                    let path = self.blob_path(hex);
                    if path.is_file() {
                        Ok((path, diff_id))
                    } else {
                        Err(Error::Archive(format!(
                            "layer {} of {reference} is missing from the blob store",
                            layer.digest
                        )))
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            images.push(SavedImage {
                hex: id.hex().to_owned(),
                config,
                tags: tag.into_iter().collect(),
                layers,
            });
        }
        Ok(SavePlan {
            images,
            tmp: self.dir.join(TMP),
            _pin: pin,
        })
    }
}

impl SavePlan {
    /// Writes the archive. A gzip layer is decompressed to a temp file
    /// first: a tar entry needs its size before its bytes.
    pub fn write(self, out: impl Write) -> Result<()> {
        let mut tar = tar::Builder::new(out);
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut written = std::collections::HashSet::new();
        for image in &self.images {
            let config_name = format!("{}.json", image.hex);
            append(
                &mut tar,
                &config_name,
                image.config.len() as u64,
                &image.config[..],
            )?;
            let mut names = Vec::new();
            for (blob, diff_id) in &image.layers {
                let name = format!("{}/layer.tar", diff_id.trim_start_matches("sha256:"));
                if written.insert(name.clone()) {
                    let (size, reader) = self.uncompressed(blob)?;
                    append(&mut tar, &name, size, reader)?;
                }
                names.push(name);
            }
            let top = names
                .last()
                .and_then(|n| n.split('/').next())
                .unwrap_or_default()
                .to_owned();
            for tag in &image.tags {
                if let Some((repo, t)) = tag.rsplit_once(':') {
                    repositories
                        .entry(repo.to_owned())
                        .or_default()
                        .insert(t.to_owned(), top.clone());
                }
            }
            manifest.push(json!({"Config": config_name, "RepoTags": image.tags, "Layers": names}));
        }
        let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Archive(e.to_string()))?;
        append(
            &mut tar,
            "manifest.json",
            manifest.len() as u64,
            &manifest[..],
        )?;
        if !repositories.is_empty() {
            let repos =
                serde_json::to_vec(&repositories).map_err(|e| Error::Archive(e.to_string()))?;
            append(&mut tar, "repositories", repos.len() as u64, &repos[..])?;
        }
        tar.into_inner()
            .and_then(|mut out| out.flush())
            .map_err(|e| Error::Archive(format!("write the archive: {e}")))
    }

    /// The layer's tar: the blob itself, or a decompressed copy of a gzip
    /// or zstd one.
    fn uncompressed(&self, blob: &PathBuf) -> Result<(u64, fs::File)> {
        let mut file = fs::File::open(blob).map_err(Error::io("open", blob))?;
        let mut magic = [0u8; 4];
        let read = file.read_exact(&mut magic).is_ok();
        file.rewind().map_err(Error::io("rewind", blob))?;
        let mut decoded: Box<dyn Read> = if read && magic[..2] == [0x1f, 0x8b] {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else if read && magic == super::zstd::MAGIC {
            Box::new(super::zstd::ZstdReader::new(io::BufReader::new(file)))
        } else {
            let size = file.metadata().map_err(Error::io("stat", blob))?.len();
            return Ok((size, file));
        };
        let mut plain = tempfile::tempfile_in(&self.tmp)
            .map_err(Error::io("create temp file in", &self.tmp))?;
        let size = io::copy(&mut decoded, &mut plain)
            .map_err(|e| Error::Archive(format!("decompress {}: {e}", blob.display())))?;
        plain.rewind().map_err(Error::io("rewind", &self.tmp))?;
        Ok((size, plain))
    }
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    tar.append_data(&mut header, name, data)
        .map_err(|e| Error::Archive(format!("write {name} to the archive: {e}")))
}
