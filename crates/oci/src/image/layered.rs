//! Images made of registry layers. The layers are applied in order onto one
//! rootfs in a temp directory, each checked against its diff id in the
//! config; the registry's config is kept byte for byte (so the id is the
//! config's digest, as in Docker), and the image is renamed into place only
//! once every layer is in. A pull that stops halfway leaves nothing here.

use std::fs;
use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::config::ImageDocument;
use super::unpack::{apply_layer, hex};
use super::{ImageId, ImageStore, RepoTag, Staged};
use crate::error::{Error, Result};

/// The pulled image's manifest in its directory.
pub(super) const MANIFEST: &str = "manifest.json";

/// An image being assembled from its layers.
pub struct LayerStage {
    id: ImageId,
    config: Vec<u8>,
    diff_ids: Vec<String>,
    applied: usize,
    size: u64,
    tmp: TempDir,
    final_dir: PathBuf,
}

impl ImageStore {
    /// The listed image with this id, staged again under a new name: a pull
    /// of an image that is here already.
    pub fn restage(
        &self,
        id: &ImageId,
        tag: Option<RepoTag>,
        repo_digest: Option<String>,
    ) -> Option<Staged> {
        let index = self.lock();
        let entry = index.images.get(id.hex())?;
        Some(Staged {
            id: id.clone(),
            size: entry.size,
            tag,
            repo_digest,
        })
    }

    /// The config and the registry manifest of a pulled image, as they
    /// were pulled; `None` for an imported one (berth keeps no layer
    /// archive of those).
    pub fn pushable(&self, id: &ImageId) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let dir = self.dir.join(id.hex());
        let manifest = match fs::read(dir.join(MANIFEST)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", dir.join(MANIFEST))(e)),
        };
        let config = fs::read(dir.join("config.json"))
            .map_err(Error::io("read", dir.join("config.json")))?;
        Ok(Some((config, manifest)))
    }

    /// Starts an image from its config JSON (the registry's bytes).
    pub fn begin_layers(&self, config: &[u8]) -> Result<LayerStage> {
        let doc: ImageDocument = serde_json::from_slice(config)
            .map_err(|e| Error::Archive(format!("image config: {e}")))?;
        let hex = hex(&Sha256::digest(config));
        let (tmp, _) = self.stage_dir("pull-")?;
        Ok(LayerStage {
            final_dir: self.dir.join(&hex),
            id: ImageId::from_hex(hex),
            config: config.to_vec(),
            diff_ids: doc.rootfs.diff_ids,
            applied: 0,
            size: 0,
            tmp,
        })
    }
}

impl LayerStage {
    pub fn id(&self) -> &ImageId {
        &self.id
    }

    /// How many layers the config names.
    pub fn layers(&self) -> usize {
        self.diff_ids.len()
    }

    /// Applies the next layer (plain, gzip or zstd tar), refusing one whose
    /// content is not the config's next diff id.
    pub fn apply(&mut self, layer: impl Read) -> Result<()> {
        let Some(expected) = self.diff_ids.get(self.applied) else {
            return Err(Error::Archive(format!(
                "the manifest has more layers than the config's {}",
                self.diff_ids.len()
            )));
        };
        let unpacked = apply_layer(layer, &self.tmp.path().join("rootfs"))?;
        if unpacked.diff_id != *expected {
            return Err(Error::Archive(format!(
                "layer {} has diff id {}, the config says {expected}",
                self.applied + 1,
                unpacked.diff_id
            )));
        }
        self.applied += 1;
        self.size += unpacked.size;
        Ok(())
    }

    /// Writes the config and the registry's manifest (what a push sends;
    /// `None` for a loaded image) and renames the image into place under
    /// its id, unlisted until [`ImageStore::record`].
    pub fn finish(
        self,
        manifest: Option<&[u8]>,
        tag: Option<RepoTag>,
        repo_digest: Option<String>,
    ) -> Result<Staged> {
        if self.applied != self.diff_ids.len() {
            return Err(Error::Archive(format!(
                "the manifest has {} layers, the config {}",
                self.applied,
                self.diff_ids.len()
            )));
        }
        let config_path = self.tmp.path().join("config.json");
        fs::write(&config_path, &self.config).map_err(Error::io("write", &config_path))?;
        if let Some(manifest) = manifest {
            let manifest_path = self.tmp.path().join(MANIFEST);
            fs::write(&manifest_path, manifest).map_err(Error::io("write", &manifest_path))?;
        }
        if !self.final_dir.exists() {
            let tmp_path = self.tmp.keep();
            fs::rename(&tmp_path, &self.final_dir)
                .map_err(Error::io("rename into place", &self.final_dir))?;
        }
        Ok(Staged {
            id: self.id,
            size: self.size,
            tag,
            repo_digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::TMP;
    use super::*;

    fn layer(name: &str, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
        b.into_inner().unwrap()
    }

    fn config(layers: &[&[u8]]) -> Vec<u8> {
        let ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", hex(&Sha256::digest(l))))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": ["sh"], "User": "nobody"},
            "rootfs": {"type": "layers", "diff_ids": ids},
        }))
        .unwrap()
    }

    #[test]
    fn layers_become_one_image_with_the_configs_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let (a, b) = (layer("a", b"1"), layer("b", b"22"));
        let cfg = config(&[&a, &b]);
        let mut stage = store.begin_layers(&cfg).unwrap();
        assert_eq!(stage.layers(), 2);
        stage.apply(&a[..]).unwrap();
        // Nothing is listed or in place before the end.
        assert!(!dir.path().join(stage.id().hex()).exists());
        stage.apply(&b[..]).unwrap();
        let tag = RepoTag::parse("reg:5000/app:v1").unwrap();
        let digest = format!("reg:5000/app@sha256:{}", "d".repeat(64));
        let staged = stage
            .finish(Some(b"{}"), Some(tag), Some(digest.clone()))
            .unwrap();
        assert_eq!(staged.id.hex(), hex(&Sha256::digest(&cfg)));
        let image = store.record(&staged).unwrap();
        assert_eq!(image.size, 3);
        assert_eq!(image.repo_tags, ["reg:5000/app:v1"]);
        assert_eq!(image.repo_digests, std::slice::from_ref(&digest));
        assert_eq!(image.config.user, "nobody");
        assert!(image.rootfs.join("a").is_file() && image.rootfs.join("b").is_file());
        assert_eq!(store.resolve(&digest).unwrap(), image.id);
        assert_eq!(
            store
                .resolve(&format!(
                    "reg:5000/app:v1@{}",
                    digest.split('@').nth(1).unwrap()
                ))
                .unwrap(),
            image.id
        );
        assert!(store.restage(&image.id, None, None).is_some());
        assert_eq!(
            store.pushable(&image.id).unwrap(),
            Some((cfg.clone(), b"{}".to_vec()))
        );

        // Removing the last tag takes the digest with it.
        let plan = store.plan_remove("reg:5000/app:v1", false).unwrap();
        assert!(plan.delete);
        assert_eq!(plan.untag, ["reg:5000/app:v1".to_owned(), digest]);
    }

    #[test]
    fn a_wrong_layer_or_a_missing_one_stages_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let (a, b) = (layer("a", b"1"), layer("b", b"22"));
        let cfg = config(&[&a, &b]);
        let mut stage = store.begin_layers(&cfg).unwrap();
        let e = stage.apply(&b[..]).unwrap_err();
        assert!(e.to_string().contains("the config says"), "{e}");
        drop(stage);
        let mut stage = store.begin_layers(&cfg).unwrap();
        stage.apply(&a[..]).unwrap();
        let id = stage.id().clone();
        assert!(stage.finish(None, None, None).is_err());
        assert!(!dir.path().join(id.hex()).exists());
        assert_eq!(fs::read_dir(dir.path().join(TMP)).unwrap().count(), 0);
    }
}
