//! `docker history`: an image's history entries, newest first, as dockerd
//! lists them (moby `daemon/images/image_history.go`): each entry that made
//! a layer shows that layer's size, metadata-only ones 0; the top entry
//! carries the image's id and tags, an entry where a parent image (a
//! commit's or build step's) ends carries that image's, the rest none.

use std::fs;
use std::io::{BufReader, Read};
use std::time::SystemTime;

use super::config::ImageDocument;
use super::{ImageId, ImageStore};
use crate::error::{Error, Result};
use crate::time::parse_rfc3339;

/// One line of `docker history`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    /// `None`: dockerd's `<missing>` (no local image ends there).
    pub id: Option<ImageId>,
    pub created: SystemTime,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}

impl ImageStore {
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryItem>> {
        let image = self.inspect(reference)?;
        let doc = self.document(&image.id)?;
        let sizes = self.layer_sizes(&image.id, image.size, &doc.rootfs.diff_ids)?;
        let mut items = Vec::new();
        let mut layer = 0;
        for entry in &doc.history {
            let size = if entry.empty_layer {
                0
            } else {
                layer += 1;
                sizes.get(layer - 1).copied().unwrap_or(0)
            };
            items.push(HistoryItem {
                id: None,
                created: parse_rfc3339(&entry.created).unwrap_or(image.created),
                created_by: entry.created_by.clone(),
                tags: Vec::new(),
                size,
                comment: entry.comment.clone(),
            });
        }
        if items.is_empty() {
            // An image whose config keeps no history: one line per layer.
            items = sizes
                .iter()
                .map(|size| HistoryItem {
                    id: None,
                    created: image.created,
                    created_by: String::new(),
                    tags: Vec::new(),
                    size: *size,
                    comment: String::new(),
                })
                .collect();
        }
        // Name the entries where this image and its local parents end.
        let mut current = Some((image.id.clone(), doc));
        while let Some((id, doc)) = current.take() {
            let Some(item) = doc
                .history
                .len()
                .checked_sub(1)
                .and_then(|i| items.get_mut(i))
            else {
                break;
            };
            item.tags = self
                .inspect(id.hex())
                .map(|i| i.repo_tags)
                .unwrap_or_default();
            item.id = Some(id);
            current = ImageId::parse(&doc.parent)
                .ok()
                .filter(|p| self.inspect(p.hex()).is_ok())
                .and_then(|p| self.document(&p).ok().map(|d| (p, d)));
        }
        if items.iter().all(|i| i.id.is_none()) {
            if let Some(top) = items.last_mut() {
                top.id = Some(image.id.clone());
                top.tags = image.repo_tags.clone();
            }
        }
        items.reverse();
        Ok(items)
    }

    pub(super) fn document(&self, id: &ImageId) -> Result<ImageDocument> {
        let path = self.dir.join(id.hex()).join("config.json");
        let bytes = fs::read(&path).map_err(Error::io("read", &path))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptStore {
            path,
            reason: e.to_string(),
        })
    }

    /// Each layer's file bytes, read from its blob: the manifest's, or
    /// one kept under the diff id (an uncompressed layer, as commits
    /// write). A single layer with no blob (an import's) is what the
    /// image's size leaves.
    fn layer_sizes(&self, id: &ImageId, image_size: u64, diff_ids: &[String]) -> Result<Vec<u64>> {
        let manifest: Option<serde_json::Value> = match self.pushable(id)? {
            Some((_, bytes)) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Archive(format!("stored manifest: {e}")))?,
            ),
            None => None,
        };
        let sizes: Vec<Option<u64>> = diff_ids
            .iter()
            .enumerate()
            .map(|(i, diff_id)| {
                let digest = manifest
                    .as_ref()
                    .and_then(|m| m["layers"][i]["digest"].as_str())
                    .unwrap_or(diff_id);
                tar_file_bytes(&self.blob_path(digest.trim_start_matches("sha256:")))
            })
            .collect();
        let known: u64 = sizes.iter().flatten().sum();
        let unknown = sizes.iter().filter(|s| s.is_none()).count();
        Ok(sizes
            .into_iter()
            .map(|s| match (s, unknown) {
                (Some(size), _) => size,
                (None, 1) => image_size.saturating_sub(known),
                (None, _) => 0,
            })
            .collect())
    }
}

/// The regular files' bytes in a plain or gzip layer tar.
fn tar_file_bytes(path: &std::path::Path) -> Option<u64> {
    let mut file = BufReader::new(fs::File::open(path).ok()?);
    let mut magic = [0u8; 2];
    file.read_exact(&mut magic).ok()?;
    let head = std::io::Cursor::new(magic).chain(file);
    let reader: Box<dyn Read> = if magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(head))
    } else {
        Box::new(head)
    };
    let mut archive = tar::Archive::new(reader);
    let mut total = 0;
    for entry in archive.entries().ok()? {
        let entry = entry.ok()?;
        if entry.header().entry_type().is_file() {
            total += entry.header().size().ok()?;
        }
    }
    Some(total)
}
