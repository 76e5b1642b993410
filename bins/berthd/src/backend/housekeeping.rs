//! `container prune`, `image prune` and `system df`: what the engine
//! decides (which containers and images go) with the sizes only the
//! filesystem knows.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::{ApiError, DataUsage, DataUsageOptions, Filters};
use berth_core::container::Container;
use berth_core::events::EventType;
use berth_core::filter::{ImageFacts, ImagePrune, PruneFilter};
use berth_core::ports::RemovedImage;
use berth_core::volume::users_of;
use berth_core::EngineHandle;
use berth_oci::image::Image;
use berth_oci::{Layout, OciAdapter};
use bollard_stubs::models::{ContainerPruneResponse, ImagePruneResponse, VolumeUsageData};

use super::{api_error, images, oci_error, storage, wire};
use crate::host::RealHost;

fn bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Bytes a container wrote: its overlay's upper directory.
fn rw_size(layout: &Layout, c: &Container) -> u64 {
    berth_oci::volumes::tree_size(&layout.upper_dir(&c.id))
}

pub async fn container_prune(
    engine: &EngineHandle<RealHost>,
    oci: &OciAdapter,
    filters: &Filters,
) -> Result<ContainerPruneResponse, ApiError> {
    let filter = PruneFilter::parse(filters, engine.now()).map_err(api_error)?;
    let layout = oci.runtime().layout().clone();
    let (removed, freed) = engine
        .prune_containers(&filter, |c| rw_size(&layout, c))
        .await
        .map_err(api_error)?;
    Ok(ContainerPruneResponse {
        containers_deleted: Some(removed.iter().map(ToString::to_string).collect()),
        space_reclaimed: Some(bytes(freed)),
    })
}

fn image_labels(image: &Image) -> BTreeMap<String, String> {
    image.config.labels.clone().unwrap_or_default()
}

pub async fn image_prune(
    engine: &EngineHandle<RealHost>,
    oci: &OciAdapter,
    filters: &Filters,
) -> Result<ImagePruneResponse, ApiError> {
    let filter = ImagePrune::parse(filters, engine.now()).map_err(api_error)?;
    let list = oci
        .blocking(|_, images| images.list())
        .await
        .map_err(oci_error)?;
    let containers = engine.containers();
    let mut deleted = Vec::new();
    let mut freed = 0;
    // A parent of an image that stays is no dangling image (a build's
    // intermediate images, dockerd's rule); the list is newest first, so
    // children go before their parents are weighed.
    let mut children = images::child_counts(&list);
    for image in list {
        if children.get(&image.id.to_string()).is_some_and(|n| *n > 0) {
            continue;
        }
        let labels = image_labels(&image);
        let facts = ImageFacts {
            repo_tags: &image.repo_tags,
            created: image.created,
            labels: &labels,
        };
        if images::users_of(&image, &containers).next().is_some() || !filter.matches(&facts) {
            continue;
        }
        // By id with force: every name goes with it, as Docker's prune
        // does; the engine still refuses it if a container took it since.
        match engine.remove_image(image.id.to_string(), true).await {
            Ok(removed) => {
                if removed
                    .iter()
                    .any(|r| matches!(r, RemovedImage::Deleted(_)))
                {
                    freed += image.size;
                    if let Some(n) = children.get_mut(&image.parent) {
                        *n = n.saturating_sub(1);
                    }
                }
                deleted.extend(removed.into_iter().map(images::delete_item));
            }
            Err(e) => tracing::warn!(image = %image.id, error = %e, "image not pruned"),
        }
    }
    engine.pruned_event(EventType::Image, freed);
    Ok(ImagePruneResponse {
        images_deleted: Some(deleted),
        space_reclaimed: Some(bytes(freed)),
    })
}

pub async fn data_usage(
    engine: &EngineHandle<RealHost>,
    oci: &OciAdapter,
    options: DataUsageOptions,
) -> Result<DataUsage, ApiError> {
    let containers: Arc<[Arc<Container>]> = engine.containers().into();
    let image_list = oci
        .blocking(|_, images| images.list())
        .await
        .map_err(oci_error)?;
    let mut usage = DataUsage::default();
    if options.images {
        usage.layers_size = Some(image_list.iter().map(|i| bytes(i.size)).sum());
        usage.images = Some(
            image_list
                .iter()
                .map(|image| {
                    let mut summary = images::summary(image, &containers);
                    // No layers are shared between berth's images.
                    summary.shared_size = 0;
                    summary
                })
                .collect(),
        );
    }
    if options.containers {
        let layout = oci.runtime().layout().clone();
        let networks = engine.networks();
        let now = engine.now();
        let image_sizes: BTreeMap<String, u64> = image_list
            .iter()
            .map(|i| (i.id.to_string(), i.size))
            .collect();
        let list = Arc::clone(&containers);
        let summaries = tokio::task::spawn_blocking(move || {
            list.iter()
                .map(|c| {
                    let rw = rw_size(&layout, c);
                    let base = image_sizes.get(&c.image_id).copied().unwrap_or(0);
                    let mut summary = wire::container_summary(c, None, &networks, now);
                    summary.size_rw = Some(bytes(rw));
                    summary.size_root_fs = Some(bytes(rw + base));
                    summary
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| ApiError::internal(format!("measure containers: {e}")))?;
        usage.containers = Some(summaries);
    }
    if options.volumes {
        let volumes = engine.volumes();
        let measure = move || {
            volumes
                .iter()
                .map(|v| {
                    let mut wire = storage::volume_to_wire(v);
                    wire.usage_data = Some(VolumeUsageData {
                        size: bytes(berth_oci::volumes::tree_size(std::path::Path::new(
                            &v.mountpoint,
                        ))),
                        ref_count: i64::try_from(users_of(&containers, &v.name).count())
                            .unwrap_or(i64::MAX),
                    });
                    wire
                })
                .collect::<Vec<_>>()
        };
        let wire_volumes = tokio::task::spawn_blocking(measure)
            .await
            .map_err(|e| ApiError::internal(format!("measure volumes: {e}")))?;
        usage.volumes = Some(wire_volumes);
    }
    if options.build_cache {
        // berth builds nothing, so it caches nothing.
        usage.build_cache = Some(Vec::new());
    }
    Ok(usage)
}
