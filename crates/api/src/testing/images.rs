//! Images: the busybox every stub starts with and those imported since.

use std::collections::HashMap;

use bollard_stubs::models::{ImageDeleteResponseItem, ImageInspect, ImageSummary};
use tokio::io::AsyncReadExt;

use super::engine::{new_id, normalise_image, FakeImage};
use super::{lock, Call, StubBackend};
use crate::{ApiError, ImageImportOptions, ImageListOptions, ImageRemoveOptions, RequestBody};

pub(super) async fn image_import(
    stub: &StubBackend,
    options: ImageImportOptions,
    mut tarball: RequestBody,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    tarball
        .read_to_end(&mut bytes)
        .await
        .map_err(|err| ApiError::invalid_parameter(format!("reading the tarball: {err}")))?;
    stub.record(Call::ImageImport(options.clone(), bytes.len()));
    let mut engine = lock(&stub.engine);
    engine.next += 1;
    let id = format!("sha256:{}", new_id(engine.next));
    let tags = match (&options.repo, &options.tag) {
        (Some(repo), Some(tag)) => vec![format!("{repo}:{tag}")],
        (Some(repo), None) => vec![normalise_image(repo)],
        (None, _) => Vec::new(),
    };
    engine.images.push(FakeImage {
        id: id.clone(),
        tags,
    });
    Ok(id)
}

pub(super) async fn image_list(
    stub: &StubBackend,
    options: ImageListOptions,
) -> Result<Vec<ImageSummary>, ApiError> {
    stub.record(Call::ImageList(options));
    let engine = lock(&stub.engine);
    Ok(engine
        .images
        .iter()
        .map(|image| ImageSummary {
            id: image.id.clone(),
            parent_id: String::new(),
            repo_tags: image.tags.clone(),
            repo_digests: Vec::new(),
            created: 1_700_000_000,
            size: 1_234_567,
            shared_size: -1,
            labels: HashMap::new(),
            containers: 3,
            manifests: None,
            descriptor: None,
        })
        .collect())
}

pub(super) async fn image_inspect(
    stub: &StubBackend,
    name: String,
) -> Result<ImageInspect, ApiError> {
    stub.record(Call::ImageInspect(name.clone()));
    let engine = lock(&stub.engine);
    let image = engine
        .image(&name)
        .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
    Ok(ImageInspect {
        id: Some(image.id.clone()),
        repo_tags: Some(image.tags.clone()),
        architecture: Some("amd64".to_owned()),
        os: Some("linux".to_owned()),
        size: Some(1_234_567),
        ..Default::default()
    })
}

pub(super) async fn image_remove(
    stub: &StubBackend,
    name: String,
    options: ImageRemoveOptions,
) -> Result<Vec<ImageDeleteResponseItem>, ApiError> {
    stub.record(Call::ImageRemove(name.clone(), options));
    let mut engine = lock(&stub.engine);
    let id = engine
        .image(&name)
        .map(|image| image.id.clone())
        .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
    let tags = engine
        .images
        .iter()
        .find(|image| image.id == id)
        .map(|image| image.tags.clone())
        .unwrap_or_default();
    engine.images.retain(|image| image.id != id);
    let mut items: Vec<ImageDeleteResponseItem> = tags
        .into_iter()
        .map(|tag| ImageDeleteResponseItem {
            untagged: Some(tag),
            deleted: None,
        })
        .collect();
    items.push(ImageDeleteResponseItem {
        untagged: None,
        deleted: Some(id),
    });
    Ok(items)
}
