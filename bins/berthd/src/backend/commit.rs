//! `docker commit` and `docker history` (moby `daemon/commit.go`,
//! `daemon/images/image_history.go`): the container's changes become a
//! layer on its image, staged on the blocking pool and listed by the
//! engine like any other image.

use berth_api::{ApiError, ContainerCommitOptions};
use berth_core::container::Container;
use berth_core::image::ImageRecordKind;
use berth_core::ports::StagedImage;
use berth_core::EngineHandle;
use berth_oci::image::{apply_changes, ChildImage, Empty, ImageConfig, NewLayer};
use berth_oci::{OciAdapter, RepoTag};
use bollard_stubs::models::ImageHistoryResponseItem;

use super::archive::INIT_PATHS;
use super::{api_error, oci_error};
use crate::host::RealHost;

/// Commits `c`, pausing it meanwhile when asked and it is running (a
/// container paused already stays so).
pub async fn commit(
    engine: &EngineHandle<RealHost>,
    oci: &OciAdapter,
    c: Container,
    options: ContainerCommitOptions,
) -> Result<String, ApiError> {
    let tag = match &options.repo {
        Some(repo) => Some(RepoTag::with_tag(repo, options.tag.as_deref()).map_err(oci_error)?),
        None => None,
    };
    let parent = oci.images().inspect(&c.image_id).map_err(oci_error)?;
    let mut config = container_config(&c, parent.config);
    // Bad changes are refused before anything is paused or written.
    apply_changes(&mut config, &options.changes).map_err(oci_error)?;
    let child = ChildImage {
        config,
        author: options.author,
        comment: options.comment.clone(),
        created_by: c.process.cmd.as_ref().unwrap_or(&c.process.args).join(" "),
        tag: tag.clone(),
    };
    let pause = options.pause && c.is_running() && !c.state.paused;
    if pause {
        engine
            .pause_container(c.id.as_str())
            .await
            .map_err(api_error)?;
    }
    let upper = oci.runtime().layout().upper_dir(&c.id);
    let parent_id = parent.id.clone();
    let staged = oci
        .blocking(move |_, images| {
            let layer = NewLayer::Changes {
                upper: &upper,
                skip: INIT_PATHS,
            };
            images.stage_child(Some(&parent_id), layer, child)
        })
        .await;
    if pause {
        if let Err(e) = engine.unpause_container(c.id.as_str()).await {
            tracing::warn!(container = %c.id, error = %e, "unpausing after a commit failed");
        }
    }
    let staged = staged.map_err(oci_error)?;
    let id = engine
        .record_staged_image(
            StagedImage {
                id: staged.id.to_string(),
                tag: tag.as_ref().map(ToString::to_string),
                size: staged.size,
                repo_digest: None,
            },
            ImageRecordKind::Tag,
        )
        .await
        .map_err(api_error)?;
    let image_ref = tag.map(|t| t.to_string()).unwrap_or_default();
    engine.container_event(
        &c,
        "commit",
        &[
            ("comment", options.comment),
            ("imageID", id.clone()),
            ("imageRef", image_ref),
        ],
    );
    Ok(id)
}

/// dockerd commits the container's own config (its command, environment,
/// user, workdir, labels and ports, which started from the image's) over
/// what only the image has (volumes, healthcheck, stop signal).
fn container_config(c: &Container, image: ImageConfig) -> ImageConfig {
    let p = &c.process;
    let mut labels = image.labels.unwrap_or_default();
    labels.extend(c.labels.clone());
    let mut ports = image.exposed_ports.unwrap_or_default();
    ports.extend(
        c.exposed
            .iter()
            .map(|(port, proto)| (format!("{port}/{}", proto.as_str()), Empty {})),
    );
    ImageConfig {
        cmd: p.cmd.clone(),
        entrypoint: p.entrypoint.clone(),
        env: (!p.env.is_empty()).then(|| p.env.clone()),
        working_dir: p.working_dir.clone(),
        user: p.user.clone(),
        exposed_ports: (!ports.is_empty()).then_some(ports),
        labels: (!labels.is_empty()).then_some(labels),
        ..image
    }
}

/// `GET /images/{name}/history`.
pub async fn history(
    oci: &OciAdapter,
    name: String,
) -> Result<Vec<ImageHistoryResponseItem>, ApiError> {
    let items = oci
        .blocking(move |_, images| images.history(&name))
        .await
        .map_err(oci_error)?;
    Ok(items
        .into_iter()
        .map(|item| ImageHistoryResponseItem {
            id: item
                .id
                .map_or_else(|| "<missing>".to_owned(), |id| id.to_string()),
            created: super::images::unix_seconds(item.created),
            created_by: item.created_by,
            tags: item.tags,
            size: i64::try_from(item.size).unwrap_or(i64::MAX),
            comment: item.comment,
        })
        .collect())
}
