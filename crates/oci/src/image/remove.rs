//! Removing images as `docker rmi` does: a plan decided first (what to
//! untag, whether the image goes), so the caller can refuse before
//! anything changes, then carried out index first.

use std::fs;
use std::path::PathBuf;

use super::{resolve, write_index, ImageId, ImageStore, Resolved, TMP};
use crate::error::{Error, Result};
use crate::fsutil::remove_dir_all_if_exists;

/// What removing a reference will do, decided before doing it so the
/// caller can refuse (an image still used by a container) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovePlan {
    pub id: ImageId,
    pub untag: Vec<String>,
    pub delete: bool,
}

/// One line of Docker's `DELETE /images/{name}` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(ImageId),
}

impl ImageStore {
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
}
