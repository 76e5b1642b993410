//! `docker import` and `rmi` through the engine (they change which images
//! exist, in order with container creates); `images` and `image inspect`
//! read the image store directly.

use std::collections::HashMap;
use std::time::SystemTime;

use berth_api::{ApiError, ImageImportOptions, ImageListOptions, ImageRemoveOptions, RequestBody};
use std::sync::Arc;

use berth_core::container::Container;
use berth_core::filter::{ImageFacts, ImageFilter};
use berth_core::image::ImageRecordKind;
use berth_core::ports::{ImageImport, RemovedImage, StagedImage};
use berth_core::EngineHandle;
use berth_oci::image::Image;
use berth_oci::OciAdapter;
use berth_oci::RepoTag;
use bollard_stubs::models::{
    HealthConfig, ImageConfig, ImageDeleteResponseItem, ImageInspect, ImageInspectRootFs,
    ImageSummary,
};
use tokio_util::io::SyncIoBridge;

use super::{api_error, oci_error, wire};
use crate::host::RealHost;

pub(super) fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

fn size(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

pub async fn import(
    engine: &EngineHandle<RealHost>,
    options: ImageImportOptions,
    tarball: RequestBody,
) -> Result<String, ApiError> {
    let import = ImageImport {
        repo: options.repo,
        tag: options.tag,
        changes: options.changes,
        message: Some(options.message),
    };
    // The store reads synchronously; the body arrives asynchronously.
    let tarball = Box::new(SyncIoBridge::new(tarball));
    engine
        .import_image(tarball, import)
        .await
        .map_err(api_error)
}

/// `docker load`: the archive is staged on the blocking pool, then the
/// engine lists each image under each of its names. In a task of its own,
/// so a client hanging up cannot leave a staged image unlisted.
pub async fn load(
    engine: &EngineHandle<RealHost>,
    oci: &OciAdapter,
    archive: RequestBody,
) -> Result<Vec<String>, ApiError> {
    let (engine, oci) = (engine.clone(), oci.clone());
    let task = tokio::spawn(async move {
        let reader = SyncIoBridge::new(archive);
        let loaded = oci
            .blocking(move |_, images| images.stage_archive(reader))
            .await
            .map_err(oci_error)?;
        let mut lines = Vec::new();
        for image in loaded {
            let staged = |tag: Option<String>| StagedImage {
                id: image.staged.id.to_string(),
                tag,
                size: image.staged.size,
                repo_digest: None,
            };
            if image.tags.is_empty() {
                engine
                    .record_staged_image(staged(None), ImageRecordKind::Load)
                    .await
                    .map_err(api_error)?;
                lines.push(format!("Loaded image ID: {}", image.staged.id));
            }
            for tag in &image.tags {
                engine
                    .record_staged_image(staged(Some(tag.to_string())), ImageRecordKind::Load)
                    .await
                    .map_err(api_error)?;
                lines.push(format!("Loaded image: {tag}"));
            }
        }
        Ok(lines)
    });
    task.await
        .map_err(|e| ApiError::internal(format!("load task failed: {e}")))?
}

/// `docker tag`: the engine moves the new name to the image, in order with
/// creates and removals, as it does for an import.
pub async fn tag(
    engine: &EngineHandle<RealHost>,
    oci: &OciAdapter,
    name: &str,
    repo: &str,
    tag: Option<&str>,
) -> Result<(), ApiError> {
    if repo.contains('@') {
        return Err(ApiError::invalid_parameter(
            "refusing to create a tag with a digest reference",
        ));
    }
    let target = RepoTag::with_tag(repo, tag).map_err(oci_error)?;
    let image = oci.images().inspect(name).map_err(oci_error)?;
    engine
        .record_staged_image(
            StagedImage {
                id: image.id.to_string(),
                tag: Some(target.to_string()),
                size: image.size,
                repo_digest: None,
            },
            ImageRecordKind::Tag,
        )
        .await
        .map(drop)
        .map_err(api_error)
}

/// How many of `images` name each image as their parent.
pub(super) fn child_counts(images: &[Image]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for image in images.iter().filter(|i| !i.parent.is_empty()) {
        *counts.entry(image.parent.clone()).or_insert(0) += 1;
    }
    counts
}

pub(super) fn users_of<'a>(
    image: &Image,
    containers: &'a [Arc<Container>],
) -> impl Iterator<Item = &'a Arc<Container>> {
    let id = image.id.to_string();
    containers.iter().filter(move |c| c.image_id == id)
}

/// `docker images`, with Docker's filters (`docker images REPO[:TAG]`
/// arrives as `reference`).
pub async fn list(
    oci: &OciAdapter,
    options: &ImageListOptions,
    containers: &[Arc<Container>],
) -> Result<Vec<ImageSummary>, ApiError> {
    let filter = ImageFilter::parse(&options.filters).map_err(api_error)?;
    let images = oci
        .blocking(|_, images| images.list())
        .await
        .map_err(oci_error)?;
    let created = |reference: Option<&str>| -> Result<Option<SystemTime>, ApiError> {
        reference
            .map(|r| oci.images().inspect(r).map(|i| i.created))
            .transpose()
            .map_err(oci_error)
    };
    let before = created(filter.before())?;
    let since = created(filter.since())?;
    let children = child_counts(&images);
    Ok(images
        .iter()
        // A build's intermediate images only with `-a`, as dockerd.
        .filter(|image| {
            options.all
                || !image.repo_tags.is_empty()
                || !children.contains_key(&image.id.to_string())
        })
        .filter(|image| {
            let labels = image.config.labels.clone().unwrap_or_default();
            let facts = ImageFacts {
                repo_tags: &image.repo_tags,
                created: image.created,
                labels: &labels,
            };
            filter.matches(&facts, before, since)
        })
        .map(|image| summary(image, containers))
        .collect())
}

/// One image as `docker images` lists it.
pub(super) fn summary(image: &Image, containers: &[Arc<Container>]) -> ImageSummary {
    ImageSummary {
        id: image.id.to_string(),
        parent_id: image.parent.clone(),
        repo_tags: image.repo_tags.clone(),
        repo_digests: image.repo_digests.clone(),
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
    }
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
        repo_digests: Some(image.repo_digests.clone()),
        comment: Some(image.comment.clone()),
        created: Some(wire::timestamp(image.created)),
        author: Some(image.author.clone()),
        config: Some(ImageConfig {
            user: Some(config.user.clone()),
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
            volumes: config.volumes.as_ref().map(|v| v.keys().cloned().collect()),
            healthcheck: config.healthcheck.as_ref().map(|h| HealthConfig {
                test: Some(h.test.clone()),
                interval: Some(h.interval),
                timeout: Some(h.timeout),
                start_period: Some(h.start_period),
                start_interval: Some(h.start_interval),
                retries: Some(h.retries),
            }),
            stop_signal: (!config.stop_signal.is_empty()).then(|| config.stop_signal.clone()),
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
    engine: &EngineHandle<RealHost>,
    name: String,
    options: ImageRemoveOptions,
) -> Result<Vec<ImageDeleteResponseItem>, ApiError> {
    let removed = engine
        .remove_image(name, options.force)
        .await
        .map_err(api_error)?;
    Ok(removed.into_iter().map(delete_item).collect())
}

/// One line of Docker's removal answer.
pub(super) fn delete_item(removed: RemovedImage) -> ImageDeleteResponseItem {
    match removed {
        RemovedImage::Untagged(tag) => ImageDeleteResponseItem {
            untagged: Some(tag),
            deleted: None,
        },
        RemovedImage::Deleted(id) => ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id),
        },
    }
}
