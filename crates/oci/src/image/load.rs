//! `docker load`: a `docker save` archive (`manifest.json` naming each
//! image's config, layer tars and tags; Docker 25's OCI layout puts the
//! same files under `blobs/sha256/`) is extracted to a temp directory, then
//! each image is staged from its config and layers like a pull, each layer
//! checked against its diff id. The layer files go to the blob store and a
//! manifest describing them to the image, so a loaded image can be saved
//! and pushed. Nothing is listed here: the caller records the staged
//! images and their tags.

use std::fs;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{BlobPin, ImageId, ImageStore, RepoTag, Staged};
use crate::error::{Error, Result};
use crate::fsutil::create_dir_all;

/// One image of an archive, staged, with the names it carries.
#[derive(Debug)]
pub struct Loaded {
    pub staged: Staged,
    pub tags: Vec<RepoTag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn archive_err(what: impl std::fmt::Display) -> Error {
    Error::Archive(what.to_string())
}

impl ImageStore {
    /// Stages every image of a `docker save` archive.
    pub fn stage_archive(&self, archive: impl Read) -> Result<Vec<Loaded>> {
        let tmp = self.scratch_dir("load-")?;
        let root = tmp
            .path()
            .canonicalize()
            .map_err(Error::io("canonicalize", tmp.path()))?;
        let mut tar = tar::Archive::new(archive);
        for entry in tar.entries().map_err(archive_err)? {
            let mut entry = entry.map_err(archive_err)?;
            // unpack_in refuses entries (and links) leading outside.
            entry.unpack_in(&root).map_err(archive_err)?;
        }
        let manifest_path = root.join("manifest.json");
        let manifest = fs::read(&manifest_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                archive_err("no manifest.json: not an archive docker save makes")
            }
            _ => Error::io("read", &manifest_path)(e),
        })?;
        let entries: Vec<ManifestEntry> = serde_json::from_slice(&manifest)
            .map_err(|e| archive_err(format!("manifest.json: {e}")))?;
        entries
            .into_iter()
            .map(|entry| self.stage_entry(&root, entry))
            .collect()
    }

    fn stage_entry(&self, root: &Path, entry: ManifestEntry) -> Result<Loaded> {
        let config_path = inside(root, &entry.config)?;
        let config = fs::read(&config_path).map_err(Error::io("read", &config_path))?;
        let tags = entry
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| RepoTag::parse(t))
            .collect::<Result<Vec<_>>>()?;
        let mut stage = self.begin_layers(&config)?;
        let id: ImageId = stage.id().clone();
        if let Some(staged) = self.restage(&id, None, None) {
            return Ok(Loaded { staged, tags });
        }
        if stage.layers() != entry.layers.len() {
            return Err(archive_err(format!(
                "image {}: the manifest names {} layers, the config {}",
                entry.config,
                entry.layers.len(),
                stage.layers()
            )));
        }
        let mut descriptors = Vec::new();
        // The blobs stay until the image directory naming them is in place.
        let mut pin = self.pin_blobs([]);
        for layer in &entry.layers {
            let path = inside(root, layer)?;
            let file = fs::File::open(&path).map_err(Error::io("open", &path))?;
            stage.apply(BufReader::new(file))?;
            descriptors.push(self.keep_blob(&path, &mut pin)?);
        }
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": id.to_string(),
            },
            "layers": descriptors,
        }))
        .map_err(|e| archive_err(e.to_string()))?;
        let staged = stage.finish(Some(&manifest), None, None)?;
        Ok(Loaded { staged, tags })
    }
}

impl ImageStore {
    /// Moves a verified layer file into the blob store under its digest;
    /// its manifest descriptor.
    pub(super) fn keep_blob(&self, path: &Path, pin: &mut BlobPin) -> Result<serde_json::Value> {
        let mut file = fs::File::open(path).map_err(Error::io("open", path))?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher).map_err(Error::io("read", path))?;
        let mut magic = [0u8; 4];
        let read = fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok();
        let hex = super::unpack_hex(&hasher.finalize());
        pin.add(&format!("sha256:{hex}"));
        let blob = self.blob_path(&hex);
        if !blob.exists() {
            create_dir_all(&self.dir.join(super::BLOBS))?;
            fs::rename(path, &blob).map_err(Error::io("rename into place", &blob))?;
        }
        Ok(serde_json::json!({
            "mediaType": if read && magic[..2] == [0x1f, 0x8b] {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            } else if read && magic == super::zstd::MAGIC {
                // Docker has no zstd layer type of its own.
                "application/vnd.oci.image.layer.v1.tar+zstd"
            } else {
                "application/vnd.docker.image.rootfs.diff.tar"
            },
            "size": size,
            "digest": format!("sha256:{hex}"),
        }))
    }
}

/// A path the archive's manifest names, which must stay inside it (after
/// the archive's own symlinks are followed).
fn inside(root: &Path, name: &str) -> Result<PathBuf> {
    let rel = Path::new(name);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(archive_err(format!("{name:?} is outside of the archive")));
    }
    let path = root
        .join(rel)
        .canonicalize()
        .map_err(|e| archive_err(format!("{name}: {e}")))?;
    if !path.starts_with(root) {
        return Err(archive_err(format!("{name:?} is outside of the archive")));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::super::TMP;
    use super::*;
    use crate::image::tests::tarball as tar_of;

    fn digest(data: &[u8]) -> String {
        format!("sha256:{}", super::super::unpack_hex(&Sha256::digest(data)))
    }

    /// A `docker save` archive of one image whose one layer is `layer`
    /// (a plain tar), stored under `names.1` as `stored`; its config too.
    fn archive_of(
        names: (&str, &str),
        layer: &[u8],
        stored: &[u8],
        tags: &[&str],
    ) -> (Vec<u8>, Vec<u8>) {
        let (config_name, layer_name) = names;
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["cat", "/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!([{
            "Config": config_name, "RepoTags": tags, "Layers": [layer_name],
        }]))
        .unwrap();
        let archive = tar_of(&[
            (config_name, &config),
            (layer_name, stored),
            ("manifest.json", &manifest),
        ]);
        (config, archive)
    }

    /// `docker save` of one image.
    fn saved(store: &ImageStore, id: &ImageId) -> Vec<u8> {
        let mut saved = Vec::new();
        store
            .plan_save(&[id.to_string()])
            .unwrap()
            .write(&mut saved)
            .unwrap();
        saved
    }

    #[test]
    fn a_saved_archive_stages_its_images_with_their_tags() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let layer = tar_of(&[("hello", b"world")]);
        let (config, archive) = archive_of(
            ("blobs/sha256/cfg", "blobs/sha256/layer"),
            &layer,
            &layer,
            &["app:v1", "app:latest"],
        );
        let loaded = store.stage_archive(&archive[..]).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].staged.id.hex(), &digest(&config)[7..]);
        assert_eq!(
            loaded[0]
                .tags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["app:v1", "app:latest"]
        );
        let image = store.record(&loaded[0].staged).unwrap();
        assert!(image.rootfs.join("hello").is_file());
        assert!(store.blob_path(&digest(&layer)[7..]).is_file());

        // Saved again, it is an archive load takes back.
        let saved = saved(&store, &image.id);
        let other = tempfile::tempdir().unwrap();
        let copy = ImageStore::open(other.path()).unwrap();
        let again = copy.stage_archive(&saved[..]).unwrap();
        assert_eq!(again[0].staged.id, image.id);
        assert!(again[0].tags.is_empty());
        assert_eq!(fs::read_dir(dir.path().join(TMP)).unwrap().count(), 0);

        let evil = serde_json::to_vec(&serde_json::json!([{
            "Config": "../../etc/passwd", "Layers": []
        }]))
        .unwrap();
        let e = store
            .stage_archive(&tar_of(&[("manifest.json", &evil)])[..])
            .unwrap_err();
        assert!(e.to_string().contains("outside of the archive"), "{e}");
        let e = store.stage_archive(&tar_of(&[("x", b"")])[..]).unwrap_err();
        assert!(e.to_string().contains("no manifest.json"), "{e}");
    }

    #[test]
    fn a_zstd_layer_loads_and_saves_as_a_plain_tar() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let layer = tar_of(&[("hello", b"zstd")]);
        let zst = ruzstd::encoding::compress_to_vec(
            &layer[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let (_, archive) = archive_of(("cfg.json", "layer.tar.zst"), &layer, &zst, &["z:1"]);
        let loaded = store.stage_archive(&archive[..]).unwrap();
        let image = store.record(&loaded[0].staged).unwrap();
        assert_eq!(fs::read(image.rootfs.join("hello")).unwrap(), b"zstd");
        let (_, stored) = store.pushable(&image.id).unwrap().unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(
            stored["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        let saved = saved(&store, &image.id);
        let mut found = false;
        for entry in tar::Archive::new(&saved[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().ends_with("layer.tar") {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                assert_eq!(bytes, layer);
                found = true;
            }
        }
        assert!(found);
    }
}
