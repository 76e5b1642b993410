//! The crate's one error type. Every variant names the object it is about
//! (container, image, path) and, for the runtime, carries runc's own words.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure this is, so callers can map it to an API status in
/// one place without matching on every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named image, container or exec instance does not exist.
    NotFound,
    /// The request conflicts with the object's state (e.g. an image with
    /// several tags removed by id, a container that is not running).
    Conflict,
    /// The caller passed something malformed.
    InvalidArgument,
    /// Anything else: I/O, the runtime, the shim.
    Other,
}

/// How runc failed, read from its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeFailure {
    /// runc has no such container (never created, or already deleted).
    NotFound,
    /// The container exists but is not running.
    NotRunning,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("No such image: {0}")]
    NoSuchImage(String),

    /// The whole message, in Docker's words (`invalid reference format...`).
    #[error("{0}")]
    InvalidReference(String),

    #[error("multiple IDs found with provided prefix: {0}")]
    AmbiguousImage(String),

    /// Docker's words for `rmi <id>` of an image with several tags.
    #[error("conflict: unable to delete {0} (must be forced) - image is referenced in multiple repositories")]
    ImageReferencedByTags(String),

    /// Docker's words for `rmi` of a build's or commit's parent image.
    #[error(
        "conflict: unable to delete {0} (cannot be forced) - image has dependent child images"
    )]
    ImageHasChildren(String),

    /// A `--change` line docker import would refuse.
    #[error("{0}")]
    InvalidChange(String),

    /// An import's tarball that cannot be read or unpacked.
    #[error("tarball: {0}")]
    Archive(String),

    #[error("image store {}: {reason}", path.display())]
    CorruptStore { path: PathBuf, reason: String },

    #[error("rootfs of container {id} at {}: {reason}", path.display())]
    Rootfs {
        id: String,
        path: PathBuf,
        reason: String,
    },

    #[error("invalid OCI spec for {id}: {reason}")]
    InvalidSpec { id: String, reason: String },

    #[error("invalid exec id {0:?}")]
    InvalidExecId(String),

    /// runc failed; `message` is what runc said (stderr or its error log).
    #[error("runc {op} {id}: {message}")]
    Runtime {
        op: &'static str,
        id: String,
        failure: RuntimeFailure,
        message: String,
    },

    /// The shim refused a request or could not be started.
    #[error("shim of {target}: {message}")]
    Shim { target: String, message: String },

    /// Nothing answers on the shim's socket: the container (or exec) is not
    /// running under a shim.
    #[error("{target} is not running (no shim)")]
    ShimGone { target: String },

    #[error("log of container {id}: {reason}")]
    Log { id: String, reason: String },

    /// A mount's propagation the host's mount of its source cannot give,
    /// in Docker's words.
    #[error("{0}")]
    Propagation(String),

    /// A volume's device could not be mounted or unmounted.
    #[error("volume {name}: {reason}")]
    Volume { name: String, reason: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchImage(_) => ErrorKind::NotFound,
            Error::Runtime {
                failure: RuntimeFailure::NotFound,
                ..
            } => ErrorKind::NotFound,
            Error::ImageReferencedByTags(_)
            | Error::ImageHasChildren(_)
            | Error::ShimGone { .. }
            | Error::Runtime {
                failure: RuntimeFailure::NotRunning,
                ..
            } => ErrorKind::Conflict,
            Error::InvalidReference(_)
            | Error::AmbiguousImage(_)
            | Error::InvalidChange(_)
            | Error::InvalidSpec { .. }
            | Error::InvalidExecId(_) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Other,
        }
    }

    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
