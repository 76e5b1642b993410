//! An image store by Docker's tag rules, in memory: `busybox` is there from
//! the start.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use berth_core::ports::{
    ImageConfig, ImageImport, ImageRefused, ImageTarball, Images, PortError, RemovalPlan,
    RemovedImage, StagedImage,
};

use crate::fakes::lock;

/// The id of the `busybox` a new [`FakeImages`] holds.
pub fn busybox_id() -> String {
    format!("sha256:{}", "b".repeat(64))
}

pub struct FakeImages {
    /// Listed images by id (`sha256:…`).
    pub images: Mutex<BTreeMap<String, ImageConfig>>,
    /// `repo:tag` to image id.
    pub tags: Mutex<BTreeMap<String, String>>,
    /// Unpacked by `stage`, not listed until `record`.
    pub staged: Mutex<BTreeMap<String, ImageConfig>>,
    imported: AtomicU64,
}

impl Default for FakeImages {
    fn default() -> Self {
        let busybox = ImageConfig {
            id: busybox_id(),
            cmd: Some(vec!["sh".to_owned()]),
            ..Default::default()
        };
        FakeImages {
            images: Mutex::new(BTreeMap::from([(busybox_id(), busybox)])),
            tags: Mutex::new(BTreeMap::from([(
                "busybox:latest".to_owned(),
                busybox_id(),
            )])),
            staged: Mutex::default(),
            imported: AtomicU64::new(0),
        }
    }
}

/// `name` with Docker's default tag.
fn tagged(name: &str) -> String {
    if name.contains(':') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

fn refused(r: ImageRefused) -> PortError {
    Box::new(r)
}

/// How a reference matched: a name, or an id (full or prefix).
enum Found {
    Tag(String, String),
    Id(String),
}

impl FakeImages {
    fn find(&self, reference: &str) -> Option<Found> {
        let name = tagged(reference);
        if let Some(id) = lock(&self.tags).get(&name) {
            return Some(Found::Tag(name, id.clone()));
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        lock(&self.images)
            .keys()
            .find(|id| id["sha256:".len()..].starts_with(hex))
            .map(|id| Found::Id(id.clone()))
    }

    fn tags_of(&self, id: &str) -> Vec<String> {
        lock(&self.tags)
            .iter()
            .filter(|(_, i)| i.as_str() == id)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

impl Images for FakeImages {
    fn resolve(&self, reference: &str) -> Result<Option<ImageConfig>, PortError> {
        let id = match self.find(reference) {
            Some(Found::Tag(_, id) | Found::Id(id)) => id,
            None => return Ok(None),
        };
        Ok(lock(&self.images).get(&id).cloned())
    }

    /// Any bytes make an image; each import gets the next id.
    async fn stage(
        &self,
        mut tarball: ImageTarball,
        import: ImageImport,
    ) -> Result<StagedImage, PortError> {
        let tag = match (import.repo.as_deref(), import.tag.as_deref()) {
            (None | Some(""), _) => None,
            (Some(repo), None | Some("")) => Some(tagged(repo)),
            (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        };
        if tag
            .as_deref()
            .is_some_and(|t| t.chars().any(char::is_uppercase))
        {
            return Err(refused(ImageRefused::Invalid(
                "invalid reference format: repository name (library/UPPER) must be lowercase"
                    .to_owned(),
            )));
        }
        let mut bytes = Vec::new();
        tarball
            .read_to_end(&mut bytes)
            .map_err(|e| -> PortError { Box::new(e) })?;
        let n = self.imported.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("sha256:{n:064x}");
        let config = ImageConfig {
            id: id.clone(),
            cmd: Some(vec!["sh".to_owned()]),
            ..Default::default()
        };
        lock(&self.staged).insert(id.clone(), config);
        Ok(StagedImage {
            id,
            tag,
            size: bytes.len() as u64,
            repo_digest: None,
        })
    }

    fn record(&self, staged: &StagedImage) -> Result<(), PortError> {
        let config = lock(&self.staged).remove(&staged.id).ok_or_else(|| {
            refused(ImageRefused::NotFound(format!(
                "No such image: {}",
                staged.id
            )))
        })?;
        lock(&self.images).insert(staged.id.clone(), config);
        if let Some(tag) = &staged.tag {
            lock(&self.tags).insert(tag.clone(), staged.id.clone());
        }
        Ok(())
    }

    fn plan_remove(&self, reference: &str, force: bool) -> Result<RemovalPlan, PortError> {
        match self.find(reference) {
            None => Err(refused(ImageRefused::NotFound(format!(
                "No such image: {}",
                tagged(reference)
            )))),
            Some(Found::Tag(tag, id)) => Ok(RemovalPlan {
                delete: self.tags_of(&id).len() == 1,
                image_id: id,
                untag: vec![tag],
            }),
            Some(Found::Id(id)) => {
                let untag = self.tags_of(&id);
                if untag.len() > 1 && !force {
                    return Err(refused(ImageRefused::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        id.get(7..19).unwrap_or(&id)
                    ))));
                }
                Ok(RemovalPlan {
                    image_id: id,
                    untag,
                    delete: true,
                })
            }
        }
    }

    fn remove(&self, plan: &RemovalPlan) -> Result<Vec<RemovedImage>, PortError> {
        if !lock(&self.images).contains_key(&plan.image_id) {
            return Err(refused(ImageRefused::NotFound(format!(
                "No such image: {}",
                plan.image_id
            ))));
        }
        let mut out = Vec::new();
        let mut tags = lock(&self.tags);
        for tag in &plan.untag {
            if tags.get(tag) == Some(&plan.image_id) {
                tags.remove(tag);
                out.push(RemovedImage::Untagged(tag.clone()));
            }
        }
        if plan.delete {
            tags.retain(|_, id| id != &plan.image_id);
            lock(&self.images).remove(&plan.image_id);
            out.push(RemovedImage::Deleted(plan.image_id.clone()));
        }
        Ok(out)
    }
}
