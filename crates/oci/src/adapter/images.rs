//! berth-core's `Images` port on the image store: Docker's refusals keep
//! their words as [`ImageRefused`]; unpacking an import runs on the
//! blocking pool, and the files of a removed image are deleted on a thread
//! of their own, so neither holds up the engine.

use std::path::PathBuf;

use berth_core::container::{HealthcheckRequest, Proto, StopSignal};
use berth_core::ports::{
    BadImageReference, ImageConfig as CoreImageConfig, ImageImport, ImageRefused, ImageTarball,
    Images, PortError, RemovalPlan, RemovedImage, StagedImage,
};

use super::{port_err, OciAdapter};
use crate::error::{Error, ErrorKind, Result};
use crate::fsutil::remove_dir_all_if_exists;
use crate::image::{ImageId, ImportOptions, ImportSource, RemovePlan, Removed, RepoTag, Staged};

impl Images for OciAdapter {
    fn resolve(&self, reference: &str) -> Result<Option<CoreImageConfig>, PortError> {
        let image = match self.inner.images.inspect(reference) {
            Ok(image) => image,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(Error::InvalidReference(message)) => {
                return Err(Box::new(BadImageReference(message)))
            }
            Err(e) => return Err(port_err(e)),
        };
        let config = image.config;
        let exposed = config
            .exposed_ports
            .iter()
            .flat_map(|m| m.keys())
            .filter_map(|k| {
                let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                Some((port.parse().ok()?, Proto::parse(proto)?))
            })
            .collect();
        Ok(Some(CoreImageConfig {
            id: image.id.to_string(),
            cmd: config.cmd,
            entrypoint: config.entrypoint,
            env: config.env.unwrap_or_default(),
            working_dir: config.working_dir,
            user: config.user,
            exposed,
            volumes: config
                .volumes
                .map(|v| v.into_keys().collect())
                .unwrap_or_default(),
            healthcheck: config.healthcheck.map(|h| HealthcheckRequest {
                test: h.test,
                interval: h.interval,
                timeout: h.timeout,
                start_period: h.start_period,
                start_interval: h.start_interval,
                retries: h.retries,
            }),
            stop_signal: stop_signal(&config.stop_signal),
        }))
    }

    async fn stage(
        &self,
        mut tarball: ImageTarball,
        import: ImageImport,
    ) -> Result<StagedImage, PortError> {
        let opts = ImportOptions {
            tag: import_tag(&import).map_err(refusal)?,
            changes: import.changes,
            message: import.message.filter(|m| !m.is_empty()),
        };
        let staged = self
            .blocking(move |_, images| images.stage(ImportSource::Tar(&mut tarball), &opts))
            .await
            .map_err(refusal)?;
        Ok(StagedImage {
            id: staged.id.to_string(),
            tag: staged.tag.map(|t| t.to_string()),
            size: staged.size,
            repo_digest: staged.repo_digest,
        })
    }

    fn record(&self, staged: &StagedImage) -> Result<(), PortError> {
        let staged = Staged {
            id: ImageId::parse(&staged.id).map_err(port_err)?,
            size: staged.size,
            tag: staged
                .tag
                .as_deref()
                .map(RepoTag::parse)
                .transpose()
                .map_err(refusal)?,
            repo_digest: staged.repo_digest.clone(),
        };
        self.inner
            .images
            .record(&staged)
            .map(drop)
            .map_err(port_err)
    }

    fn plan_remove(&self, reference: &str, force: bool) -> Result<RemovalPlan, PortError> {
        let plan = self
            .inner
            .images
            .plan_remove(reference, force)
            .map_err(refusal)?;
        Ok(RemovalPlan {
            image_id: plan.id.to_string(),
            untag: plan.untag,
            delete: plan.delete,
        })
    }

    fn remove(&self, plan: &RemovalPlan) -> Result<Vec<RemovedImage>, PortError> {
        let plan = RemovePlan {
            id: ImageId::parse(&plan.image_id).map_err(port_err)?,
            untag: plan.untag.clone(),
            delete: plan.delete,
        };
        let (removed, doomed) = self.inner.images.remove_deferred(&plan).map_err(refusal)?;
        if let Some(doomed) = doomed {
            delete_in_background(doomed);
        }
        Ok(removed
            .into_iter()
            .map(|r| match r {
                Removed::Untagged(tag) => RemovedImage::Untagged(tag),
                Removed::Deleted(id) => RemovedImage::Deleted(id.to_string()),
            })
            .collect())
    }
}

/// The image's `STOPSIGNAL`; one runc does not know is left to the
/// default, as a container asking for it would be refused.
fn stop_signal(name: &str) -> Option<StopSignal> {
    if name.is_empty() {
        return None;
    }
    match crate::runc::parse_signal(name) {
        Ok(signal) => Some(StopSignal {
            name: name.to_owned(),
            number: signal as i32,
        }),
        Err(e) => {
            tracing::warn!(signal = name, error = %e, "ignoring the image's unknown stop signal");
            None
        }
    }
}

/// The name an import gives its image: `repo` may carry the tag itself
/// (the docker CLI sends `NAME[:TAG]`).
fn import_tag(import: &ImageImport) -> Result<Option<RepoTag>> {
    let Some(repo) = import.repo.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    match import.tag.as_deref().filter(|t| !t.is_empty()) {
        Some(tag) => RepoTag::with_tag(repo, Some(tag)),
        None => RepoTag::parse(repo),
    }
    .map(Some)
}

/// Docker's refusals as the core tells them apart; anything else as is.
fn refusal(e: Error) -> PortError {
    let message = e.to_string();
    match e.kind() {
        ErrorKind::NotFound => Box::new(ImageRefused::NotFound(message)),
        ErrorKind::Conflict => Box::new(ImageRefused::Conflict(message)),
        ErrorKind::InvalidArgument => Box::new(ImageRefused::Invalid(message)),
        ErrorKind::Other => port_err(e),
    }
}

/// The image is already gone from the index and its files moved aside; a
/// crash before they are deleted leaves them for the store's next open.
fn delete_in_background(doomed: PathBuf) {
    let delete = |dir: &PathBuf| {
        if let Err(e) = remove_dir_all_if_exists(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "removed image's files not deleted");
        }
    };
    let thread = std::thread::Builder::new()
        .name("image-delete".to_owned())
        .spawn({
            let doomed = doomed.clone();
            move || delete(&doomed)
        });
    if thread.is_err() {
        delete(&doomed);
    }
}
