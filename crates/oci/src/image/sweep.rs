//! Layer blobs nobody refers to any more go. A blob is referred to by the
//! `manifest.json` of an image directory (listed, or staged and about to
//! be listed) or pinned by a pull, load, push or save at work. An image's
//! index entry goes first and its directory is moved aside before its
//! blobs are swept, so a crash midway leaves at worst a blob no image names, which
//! the sweep of the next open removes; never an image naming a missing
//! blob.
//!
//! The sweep holds the pins' lock from its look at the manifests to its
//! last unlink, and a pull pins its layers before it looks for them on
//! disk and unpins only once its image directory is in place: a blob is
//! either seen in use or gone before anyone counts on it.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Deserialize;

use super::reference::is_hex;
use super::{ImageStore, BLOBS};
use crate::error::{Error, Result};
use crate::fsutil::remove_file_if_exists;

/// How many workers hold each blob digest (`sha256:<hex>`).
#[derive(Default, Clone)]
pub(crate) struct Pins(Arc<Mutex<HashMap<String, usize>>>);

impl Pins {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        // Counts are whole after any panic: keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Blobs kept from the sweep while it lives.
pub struct BlobPin {
    pins: Pins,
    digests: Vec<String>,
}

impl BlobPin {
    /// Pins one more digest.
    pub fn add(&mut self, digest: &str) {
        *self.pins.lock().entry(digest.to_owned()).or_default() += 1;
        self.digests.push(digest.to_owned());
    }
}

impl Drop for BlobPin {
    fn drop(&mut self) {
        let mut pins = self.pins.lock();
        for digest in &self.digests {
            if let Some(count) = pins.get_mut(digest) {
                *count -= 1;
                if *count == 0 {
                    pins.remove(digest);
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct ManifestLayers {
    #[serde(default)]
    layers: Vec<LayerDigest>,
}

#[derive(Deserialize)]
struct LayerDigest {
    digest: String,
}

impl ImageStore {
    /// Keeps `digests` from the sweep until the pin is dropped.
    pub fn pin_blobs<'a>(&self, digests: impl IntoIterator<Item = &'a str>) -> BlobPin {
        let mut pin = BlobPin {
            pins: self.pins.clone(),
            digests: Vec::new(),
        };
        for digest in digests {
            pin.add(digest);
        }
        pin
    }

    /// Removes every blob that no image directory's manifest names and no
    /// pin holds; returns how many went. An unreadable manifest stops the
    /// sweep before anything is removed.
    pub fn sweep_blobs(&self) -> Result<usize> {
        let pins = self.pins.lock();
        let mut used = HashSet::new();
        for entry in fs::read_dir(&self.dir).map_err(Error::io("list", &self.dir))? {
            let entry = entry.map_err(Error::io("list", &self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() != 64 || !is_hex(&name) {
                continue;
            }
            let path = entry.path().join(super::layered::MANIFEST);
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                // An imported image has no layer blobs.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read", &path)(e)),
            };
            let manifest: ManifestLayers =
                serde_json::from_slice(&bytes).map_err(|e| Error::CorruptStore {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            used.extend(manifest.layers.into_iter().map(|l| l.digest));
        }
        let blobs = self.dir.join(BLOBS);
        let entries = match fs::read_dir(&blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("list", &blobs)(e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(Error::io("list", &blobs))?;
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            if used.contains(&digest) || pins.contains_key(&digest) {
                continue;
            }
            remove_file_if_exists(&entry.path())?;
            tracing::info!(%digest, "removed a layer blob no image uses");
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(digests: &[&str]) -> Vec<u8> {
        let layers: Vec<_> = digests
            .iter()
            .map(|d| serde_json::json!({"digest": d, "size": 1, "mediaType": "x"}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "layers": layers})).unwrap()
    }

    #[test]
    fn only_blobs_no_image_names_and_nobody_pins_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let blobs = dir.path().join(BLOBS);
        fs::create_dir_all(&blobs).unwrap();
        let (a, b, c, d) = (
            "a".repeat(64),
            "b".repeat(64),
            "c".repeat(64),
            "d".repeat(64),
        );
        for hex in [&a, &b, &c, &d] {
            fs::write(blobs.join(hex), b"x").unwrap();
        }
        let image = dir.path().join("1".repeat(64));
        fs::create_dir(&image).unwrap();
        fs::write(
            image.join(super::super::layered::MANIFEST),
            manifest(&[&format!("sha256:{a}"), &format!("sha256:{b}")]),
        )
        .unwrap();
        let pinned = format!("sha256:{c}");
        let pin = store.pin_blobs([pinned.as_str()]);
        assert_eq!(store.sweep_blobs().unwrap(), 1);
        assert!(!blobs.join(&d).exists());
        drop(pin);
        assert_eq!(store.sweep_blobs().unwrap(), 1);
        assert!(!blobs.join(&c).exists());
        assert!(blobs.join(&a).exists() && blobs.join(&b).exists());

        // A manifest that cannot be read keeps everything.
        fs::write(image.join(super::super::layered::MANIFEST), b"{").unwrap();
        fs::write(blobs.join(&d), b"x").unwrap();
        assert!(store.sweep_blobs().is_err());
        assert!(blobs.join(&d).exists());

        // What a crash leaves goes when the store opens again: this image
        // directory was never listed, so it goes and its blobs with it.
        drop(store);
        ImageStore::open(dir.path()).unwrap();
        assert!(!image.exists());
        assert_eq!(fs::read_dir(&blobs).unwrap().count(), 0);
    }
}
