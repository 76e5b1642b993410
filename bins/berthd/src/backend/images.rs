//! `docker import`, `images`, `image inspect`, `rmi` over the image store.

use std::collections::HashMap;
use std::time::SystemTime;

use berth_api::{ApiError, ImageImportOptions, ImageListOptions, ImageRemoveOptions, RequestBody};
use std::sync::Arc;

use berth_core::container::Container;
use berth_oci::image::{Image, ImportOptions, ImportSource, Removed};
use berth_oci::{OciAdapter, RepoTag};
use bollard_stubs::models::{
    ImageConfig, ImageDeleteResponseItem, ImageInspect, ImageInspectRootFs, ImageSummary,
};
use tokio_util::io::SyncIoBridge;

use super::{oci_error, wire};

fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

fn size(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// `repo` may carry the tag itself (the docker CLI sends `NAME[:TAG]`).
fn import_tag(options: &ImageImportOptions) -> Result<Option<RepoTag>, ApiError> {
    let Some(repo) = options.repo.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let tagged = match options.tag.as_deref().filter(|t| !t.is_empty()) {
        Some(tag) => RepoTag::with_tag(repo, Some(tag)),
        None => RepoTag::parse(repo),
    };
    tagged.map(Some).map_err(oci_error)
}

pub async fn import(
    oci: &OciAdapter,
    options: ImageImportOptions,
    tarball: RequestBody,
) -> Result<String, ApiError> {
    let opts = ImportOptions {
        tag: import_tag(&options)?,
        changes: options.changes.clone(),
        message: Some(options.message.clone()).filter(|m| !m.is_empty()),
    };
    // The store reads synchronously; the body arrives asynchronously.
    let mut reader = SyncIoBridge::new(tarball);
    let image = oci
        .blocking(move |_, images| images.import(ImportSource::Tar(&mut reader), &opts))
        .await
        .map_err(oci_error)?;
    Ok(image.id.to_string())
}

fn users_of<'a>(
    image: &Image,
    containers: &'a [Arc<Container>],
) -> impl Iterator<Item = &'a Arc<Container>> {
    let id = image.id.to_string();
    containers.iter().filter(move |c| c.image_id == id)
}

pub async fn list(
    oci: &OciAdapter,
    _options: &ImageListOptions,
    containers: &[Arc<Container>],
) -> Result<Vec<ImageSummary>, ApiError> {
    let images = oci
        .blocking(|_, images| images.list())
        .await
        .map_err(oci_error)?;
    Ok(images
        .iter()
        .map(|image| ImageSummary {
            id: image.id.to_string(),
            parent_id: String::new(),
            repo_tags: image.repo_tags.clone(),
            repo_digests: Vec::new(),
            created: unix_seconds(image.created),
            size: size(image.size),
            shared_size: -1,
            labels: image
                .config
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            containers: i64::try_from(users_of(image, containers).count()).unwrap_or(0),
            manifests: None,
            descriptor: None,
        })
        .collect())
}

pub async fn inspect(oci: &OciAdapter, name: &str) -> Result<ImageInspect, ApiError> {
    let name = name.to_owned();
    let image = oci
        .blocking(move |_, images| images.inspect(&name))
        .await
        .map_err(oci_error)?;
    let config = &image.config;
    Ok(ImageInspect {
        id: Some(image.id.to_string()),
        repo_tags: Some(image.repo_tags.clone()),
        repo_digests: Some(Vec::new()),
        comment: Some(image.comment.clone()),
        created: Some(wire::timestamp(image.created)),
        author: Some(String::new()),
        config: Some(ImageConfig {
            user: Some(String::new()),
            exposed_ports: config
                .exposed_ports
                .as_ref()
                .map(|m| m.keys().cloned().collect()),
            env: config.env.clone(),
            cmd: config.cmd.clone(),
            working_dir: Some(config.working_dir.clone()),
            entrypoint: config.entrypoint.clone(),
            labels: config
                .labels
                .clone()
                .map(|l| l.into_iter().collect::<HashMap<_, _>>()),
            ..Default::default()
        }),
        architecture: Some(image.architecture.clone()),
        os: Some(image.os.clone()),
        size: Some(size(image.size)),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".to_owned(),
            layers: Some(image.layers.clone()),
        }),
        ..Default::default()
    })
}

pub async fn remove(
    oci: &OciAdapter,
    name: &str,
    options: ImageRemoveOptions,
    containers: &[Arc<Container>],
) -> Result<Vec<ImageDeleteResponseItem>, ApiError> {
    let reference = name.to_owned();
    let force = options.force;
    let plan = oci
        .blocking(move |_, images| images.plan_remove(&reference, force))
        .await
        .map_err(oci_error)?;
    if plan.delete {
        let id = plan.id.to_string();
        if let Some(user) = containers.iter().find(|c| c.image_id == id) {
            // Docker: a running container's image is never removed; a stopped
            // one's only with force.
            let (how, what) = if user.is_running() {
                ("cannot be forced", "running")
            } else if force {
                ("", "")
            } else {
                ("must be forced", "stopped")
            };
            if !how.is_empty() {
                return Err(ApiError::conflict(format!(
                    "conflict: unable to delete {} ({how}) - image is being used by {what} container {}",
                    plan.id.short(),
                    user.id.short()
                )));
            }
        }
    }
    let removed = oci
        .blocking(move |_, images| images.remove(&plan))
        .await
        .map_err(oci_error)?;
    Ok(removed
        .into_iter()
        .map(|r| match r {
            Removed::Untagged(tag) => ImageDeleteResponseItem {
                untagged: Some(tag),
                deleted: None,
            },
            Removed::Deleted(id) => ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(id.to_string()),
            },
        })
        .collect())
}
