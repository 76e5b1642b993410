//! Image import and removal: what changes which images exist runs on the
//! engine task, in order with the container creates that resolve image
//! names, so `rmi` cannot delete an image a create is taking at that very
//! moment. The slow part of an import (unpacking the tarball) runs outside.

use std::sync::Arc;

use berth_types::reference::parse_normalized;
use tracing::info;

use crate::container::Container;
use crate::engine::{Command, Engine};
use crate::error::{Error, Result};
use crate::handle::EngineHandle;
use crate::ports::{
    BadImageReference, Host, ImageImport, ImageRefused, ImageTarball, Images, PortError,
    RemovalPlan, RemovedImage, StagedImage,
};

/// What recorded an image: the event dockerd tells of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageRecordKind {
    Import,
    Pull,
    Load,
    Tag,
    Push,
}

impl<H: Host> Engine<H> {
    /// Lists an image staged outside the engine and moves its tag to it.
    pub(crate) fn record_image(
        &mut self,
        staged: &StagedImage,
        kind: ImageRecordKind,
    ) -> Result<String> {
        self.host
            .images()
            .record(staged)
            .map_err(image_error(format!("record image {}", staged.id)))?;
        info!(image = %staged.id, tag = ?staged.tag, digest = ?staged.repo_digest, "image recorded");
        self.recorded_events(staged, kind);
        Ok(staged.id.clone())
    }

    /// dockerd's events for an image recorded by `kind`: an import or a
    /// tag names the image by id, a pull or push by its reference.
    fn recorded_events(&self, staged: &StagedImage, kind: ImageRecordKind) {
        let familiar =
            |r: &str| parse_normalized(r).map_or_else(|_| r.to_owned(), |r| r.familiar_string());
        let reference = staged
            .tag
            .as_deref()
            .or(staged.repo_digest.as_deref())
            .map(familiar);
        match kind {
            ImageRecordKind::Import | ImageRecordKind::Tag => {
                if let Some(tag) = staged.tag.as_deref() {
                    self.image_event(&staged.id, &familiar(tag), "tag");
                }
                if kind == ImageRecordKind::Import {
                    self.image_event(&staged.id, &staged.id, "import");
                }
            }
            ImageRecordKind::Load => self.image_event(&staged.id, &staged.id, "load"),
            ImageRecordKind::Pull | ImageRecordKind::Push => {
                let name = reference.unwrap_or_else(|| staged.id.clone());
                let action = if kind == ImageRecordKind::Pull {
                    "pull"
                } else {
                    "push"
                };
                self.image_event(&name, &name, action);
            }
        }
    }

    /// `rmi`: Docker's tag rules from the store, the container rules here,
    /// then the removal, with no create in between.
    pub(crate) fn remove_image(
        &mut self,
        reference: &str,
        force: bool,
    ) -> Result<Vec<RemovedImage>> {
        let images = self.host.images();
        let plan = images
            .plan_remove(reference, force)
            .map_err(image_error(format!("look up image {reference}")))?;
        if plan.delete {
            if let Some(refusal) = removal_conflict(&plan, &self.model.containers.all(), force) {
                return Err(refusal);
            }
        }
        let removed = images
            .remove(&plan)
            .map_err(image_error(format!("remove image {}", plan.image_id)))?;
        info!(image = %plan.image_id, untagged = ?plan.untag, deleted = plan.delete, "image removed");
        for r in &removed {
            match r {
                RemovedImage::Untagged(_) => {
                    self.image_event(&plan.image_id, &plan.image_id, "untag");
                }
                RemovedImage::Deleted(id) => self.image_event(id, id, "delete"),
            }
        }
        Ok(removed)
    }
}

/// Docker's refusal to delete an image its containers use: never while one
/// of them runs (or is being started), and while a stopped one does only
/// with `force`.
fn removal_conflict(
    plan: &RemovalPlan,
    containers: &[Arc<Container>],
    force: bool,
) -> Option<Error> {
    let users = || containers.iter().filter(|c| c.image_id == plan.image_id);
    let (how, state, user) = match users().find(|c| c.is_running() || c.state.starting) {
        Some(running) => ("cannot be forced", "running", running),
        None if force => return None,
        None => ("must be forced", "stopped", users().next()?),
    };
    let image = plan
        .image_id
        .strip_prefix("sha256:")
        .unwrap_or(&plan.image_id);
    Some(Error::Conflict(format!(
        "conflict: unable to delete {} ({how}) - image is being used by {state} container {}",
        image.get(..12).unwrap_or(image),
        user.id.short()
    )))
}

/// Image store failures: Docker's refusals keep their status and words,
/// anything else says what the engine was doing.
pub(crate) fn image_error(what: impl Into<String>) -> impl FnOnce(PortError) -> Error {
    let what = what.into();
    move |source| {
        let source = match source.downcast::<ImageRefused>() {
            Ok(refused) => {
                return match *refused {
                    ImageRefused::NotFound(m) => Error::NotFound(m),
                    ImageRefused::Conflict(m) => Error::Conflict(m),
                    ImageRefused::Invalid(m) => Error::InvalidParameter(m),
                }
            }
            Err(source) => source,
        };
        match source.downcast::<BadImageReference>() {
            Ok(bad) => Error::InvalidParameter(bad.0),
            Err(source) => Error::Image { what, source },
        }
    }
}

impl<H: Host> EngineHandle<H> {
    /// `docker import`: the tarball is unpacked outside the engine, then
    /// the engine lists the image and moves its tag. Both run in a task of
    /// their own, so a client hanging up cannot leave files unlisted.
    /// Returns the image's id.
    pub async fn import_image(&self, tarball: ImageTarball, import: ImageImport) -> Result<String> {
        let handle = self.clone();
        let task = tokio::spawn(async move {
            let staged = handle
                .host
                .images()
                .stage(tarball, import)
                .await
                .map_err(image_error("import image"))?;
            handle
                .ask(|r| Command::RecordImage(Box::new(staged), ImageRecordKind::Import, r))
                .await
        });
        task.await.map_err(|e| Error::Image {
            what: "import image".to_owned(),
            source: Box::new(e),
        })?
    }

    /// Lists an image an adapter staged outside the engine (a pull, a load,
    /// a tag, a push) and moves its tag and digest to it. Returns the
    /// image's id.
    pub async fn record_staged_image(
        &self,
        staged: StagedImage,
        kind: ImageRecordKind,
    ) -> Result<String> {
        self.ask(|r| Command::RecordImage(Box::new(staged), kind, r))
            .await
    }

    /// `rmi`, with Docker's answer lines.
    pub async fn remove_image(&self, reference: String, force: bool) -> Result<Vec<RemovedImage>> {
        self.ask(|r| Command::RemoveImage(reference, force, r))
            .await
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::container::Status;

    const IMAGE: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn user(id: u8, status: Status) -> Arc<Container> {
        let mut c = crate::container::table::tests::container(id, &format!("c{id}"));
        c.image_id = IMAGE.to_owned();
        c.state.status = status;
        Arc::new(c)
    }

    fn plan() -> RemovalPlan {
        RemovalPlan {
            image_id: IMAGE.to_owned(),
            untag: vec!["busybox:latest".to_owned()],
            delete: true,
        }
    }

    fn refusal(containers: &[Arc<Container>], force: bool) -> Option<String> {
        removal_conflict(&plan(), containers, force).map(|e| {
            assert_eq!(e.kind(), crate::ErrorKind::Conflict);
            e.to_string()
        })
    }

    #[test]
    fn a_stopped_user_refuses_unless_forced() {
        let stopped = [user(1, Status::Created)];
        assert_eq!(
            refusal(&stopped, false).as_deref(),
            Some("conflict: unable to delete 0123456789ab (must be forced) - image is being used by stopped container 010101010101")
        );
        assert_eq!(refusal(&stopped, true), None);
    }

    #[test]
    fn a_running_user_refuses_even_forced_whatever_comes_first() {
        // The stopped user sorts first; the running one still decides.
        let users = [user(1, Status::Exited), user(2, Status::Running)];
        let expected = "conflict: unable to delete 0123456789ab (cannot be forced) - image is being used by running container 020202020202";
        assert_eq!(refusal(&users, true).as_deref(), Some(expected));
        assert_eq!(refusal(&users, false).as_deref(), Some(expected));
        let mut starting = (*user(3, Status::Created)).clone();
        starting.state.starting = true;
        assert!(
            refusal(&[Arc::new(starting)], true).is_some_and(|m| m.contains("(cannot be forced)"))
        );
    }

    #[test]
    fn other_images_users_do_not_count() {
        let mut other = (*user(1, Status::Running)).clone();
        other.image_id = format!("sha256:{}", "f".repeat(64));
        assert_eq!(refusal(&[Arc::new(other)], false), None);
    }

    #[test]
    fn refusals_keep_their_status_and_words() {
        let refused = |r: ImageRefused| image_error("x")(Box::new(r));
        assert!(matches!(
            refused(ImageRefused::NotFound("No such image: a:latest".into())),
            Error::NotFound(m) if m == "No such image: a:latest"
        ));
        assert_eq!(
            refused(ImageRefused::Conflict("c".into())).kind(),
            crate::ErrorKind::Conflict
        );
        assert_eq!(
            refused(ImageRefused::Invalid("i".into())).kind(),
            crate::ErrorKind::InvalidParameter
        );
        let other = image_error("remove image a")(Box::new(std::io::Error::other("disk full")));
        assert_eq!(other.kind(), crate::ErrorKind::Internal);
        assert_eq!(other.to_string(), "remove image a: disk full");
    }
}
