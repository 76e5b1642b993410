//! What lives as files under the data root: the image store ([`Images`])
//! with what an import, a removal and an image's defaults carry, and
//! volumes' data directories ([`Volumes`]).

use std::future::Future;

use crate::container::Proto;
use crate::volume::Volume;

use super::PortError;

/// The error an image store returns for a reference that cannot name an
/// image (`UPPER`, `a b`), so the core can answer the client's 400.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadImageReference(pub String);

/// An image's defaults for the containers made from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub id: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub exposed: Vec<(u16, Proto)>,
    /// `VOLUME`s: paths that get an anonymous volume in each container.
    pub volumes: Vec<String>,
    /// `HEALTHCHECK`, merged under the request's as Docker does.
    pub healthcheck: Option<crate::container::HealthcheckRequest>,
    /// `STOPSIGNAL`, unless the request names one.
    pub stop_signal: Option<crate::container::StopSignal>,
}

/// The tar stream of a `docker import`, read on a blocking thread.
pub type ImageTarball = Box<dyn std::io::Read + Send>;

/// A `docker import` as the client asked for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageImport {
    /// The name to give the image: `repo`, which may carry the tag itself
    /// (the docker CLI sends `NAME[:TAG]`), or `repo` and `tag`.
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// `--change` lines.
    pub changes: Vec<String>,
    /// `--message`.
    pub message: Option<String>,
}

/// An imported image whose files are complete but which the store does not
/// list yet: [`Images::record`] makes it one of its images. One never
/// recorded (a crash, a daemon stopping) is swept when the store opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedImage {
    /// `sha256:<64 hex>`.
    pub id: String,
    /// The normalized `repo:tag` to move to the image, if any.
    pub tag: Option<String>,
    /// Bytes of its files, for `docker images`.
    pub size: u64,
    /// `repo@sha256:…` of the manifest a pull found it by.
    pub repo_digest: Option<String>,
}

/// What removing a reference does by Docker's tag rules, decided first so
/// the engine can refuse (an image its containers use) before anything
/// changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovalPlan {
    /// `sha256:<64 hex>`.
    pub image_id: String,
    /// The `repo:tag` names it takes off the image.
    pub untag: Vec<String>,
    /// Whether the image itself goes (no name is left on it).
    pub delete: bool,
}

/// One line of Docker's `DELETE /images/{name}` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemovedImage {
    Untagged(String),
    /// The image's id.
    Deleted(String),
}

/// The error an image store returns when Docker's rules refuse a request,
/// in Docker's words, so the core answers with Docker's status.
#[derive(Debug, thiserror::Error)]
pub enum ImageRefused {
    /// No image by that reference (404).
    #[error("{0}")]
    NotFound(String),
    /// The image's names forbid it (409: an id with several names).
    #[error("{0}")]
    Conflict(String),
    /// A malformed name, id prefix or `--change` line (400).
    #[error("{0}")]
    Invalid(String),
}

/// The local image store. Reads and the slow unpacking of an import may
/// run anywhere; what changes which images exist or what names say
/// ([`Images::record`], [`Images::remove`]) runs on the engine task, in
/// order with the container creates that resolve names.
pub trait Images: Send + Sync + 'static {
    /// Resolves `busybox`, `busybox:latest`, `sha256:…` or an id prefix.
    fn resolve(&self, reference: &str) -> Result<Option<ImageConfig>, PortError>;

    /// Unpacks `tarball` into a new image's files, without listing it
    /// (slow: it runs outside the engine task). A bad name or `--change`
    /// line fails with [`ImageRefused::Invalid`] before a byte is read.
    fn stage(
        &self,
        tarball: ImageTarball,
        import: ImageImport,
    ) -> impl Future<Output = Result<StagedImage, PortError>> + Send;

    /// Lists a staged image and moves its tag to it (off any other image).
    fn record(&self, staged: &StagedImage) -> Result<(), PortError>;

    /// What removing `reference` does: a name untags (and deletes the image
    /// when it was its last name); an id deletes, refused without `force`
    /// when several names point at the image. Containers are the core's
    /// business.
    fn plan_remove(&self, reference: &str, force: bool) -> Result<RemovalPlan, PortError>;

    /// Carries out a plan; what the image's files take to delete happens in
    /// the background.
    fn remove(&self, plan: &RemovalPlan) -> Result<Vec<RemovedImage>, PortError>;
}

/// Volumes' files: each volume's data directory under the data root,
/// and what its `local` driver options mount there.
pub trait Volumes: Send + Sync + 'static {
    /// The data directory of volume `name` (`<data-root>/volumes/<name>/_data`).
    fn mountpoint(&self, name: &str) -> String;
    /// Makes the volume's data directory; one that exists is success.
    fn create(&self, volume: &Volume) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Before a container using it starts: the data directory exists and,
    /// with `type`/`device`/`o` options, the device is mounted on it (one
    /// mounted already is kept).
    fn activate(&self, volume: &Volume) -> impl Future<Output = Result<(), PortError>> + Send;
    /// After its last running user stopped: its device is unmounted (not
    /// mounted is success).
    fn deactivate(&self, volume: &Volume) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Unmounts anything on the data directory and removes the volume's
    /// directory; returns the bytes it held. Missing is success.
    fn remove(&self, volume: &Volume) -> impl Future<Output = Result<u64, PortError>> + Send;
    /// The names of the volume directories there are (for start-up).
    fn list(&self) -> Result<Vec<String>, PortError>;
    /// Whether `path` exists on the host (`--mount type=bind` needs its
    /// source to).
    fn host_path_exists(&self, path: &str) -> bool;
}
