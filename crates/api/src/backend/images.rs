//! The typed parameters and results of the image operations: build,
//! commit, import, pull and push (with registry credentials and progress),
//! list and remove.

use std::collections::BTreeMap;
use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::filters::Filters;

/// `POST /build` parameters berth's classic builder takes (the HTTP layer
/// refuses the others by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageBuildOptions {
    /// `t`: each name to tag the result with.
    pub tags: Vec<String>,
    /// The Dockerfile's path in the context (`Dockerfile` if not given).
    pub dockerfile: String,
    /// `--build-arg`: a `None` value means the client had none.
    pub build_args: BTreeMap<String, Option<String>>,
    pub no_cache: bool,
    /// Remove intermediate containers (dockerd's default).
    pub remove: bool,
    pub force_remove: bool,
    /// `--target`: the stage to stop at, "" for the last.
    pub target: String,
    /// `-q`: only the image id.
    pub quiet: bool,
}

/// One message of a build's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildMessage {
    /// `{"stream": …}`: text for the terminal.
    Stream(String),
    /// `{"aux": {"ID": …}}`: the built image's id.
    Aux(String),
}

/// A build's messages, in order.
pub type BuildStream = Pin<Box<dyn Stream<Item = Result<BuildMessage, ApiError>> + Send>>;

/// `POST /commit` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerCommitOptions {
    pub container: String,
    /// As for an import: `repo` may carry the tag.
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: String,
    pub author: String,
    /// Pause a running container meanwhile (dockerd's default).
    pub pause: bool,
    /// `--change` instructions, as sent.
    pub changes: Vec<String>,
}

/// `POST /images/create?fromSrc=-` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageImportOptions {
    /// The repository to tag the image with (`repo=`), as sent: it may carry
    /// a tag (`busybox:1.36`; the docker CLI sends `NAME[:TAG]` here) and is
    /// not validated. `None`: the image is untagged.
    pub repo: Option<String>,
    /// The tag (`tag=`); `None` means the one in `repo`, else `latest`.
    pub tag: Option<String>,
    /// The history comment; `Imported from -` unless the client set one.
    pub message: String,
    /// Dockerfile instructions to apply (`docker import --change`), as sent.
    pub changes: Vec<String>,
}

/// Docker's `AuthConfig` (moby `api/types/registry`): the body of `POST
/// /auth`, and base64url-encoded the `X-Registry-Auth` header of pulls and
/// pushes.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RegistryAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// base64 `username:password`, as the CLI's config file keeps it.
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub serveraddress: String,
    #[serde(default)]
    pub identitytoken: String,
    #[serde(default)]
    pub registrytoken: String,
}

/// The secrets stay out of logs.
impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("serveraddress", &self.serveraddress)
            .finish_non_exhaustive()
    }
}

/// `POST /images/create?fromImage=` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePullOptions {
    /// `fromImage`, as sent (`busybox`, `docker.io/library/busybox`,
    /// `127.0.0.1:5000/app@sha256:…`); not validated.
    pub image: String,
    /// `tag` (a tag or a digest); `None`: all tags (`docker pull -a`).
    pub tag: Option<String>,
    /// `platform` (`linux/amd64`).
    pub platform: Option<String>,
    /// The `X-Registry-Auth` header, as sent (base64url JSON).
    pub registry_auth: Option<String>,
}

/// One message of dockerd's JSON progress stream (moby
/// `jsonmessage.JSONMessage`): a layer's messages carry its short digest
/// as `id` and `progressDetail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressMessage {
    pub status: String,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `{}` or `{"current": …, "total": …}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// A pull's or push's progress messages, in order.
pub type PullStream = Pin<Box<dyn Stream<Item = Result<ProgressMessage, ApiError>> + Send>>;

/// `GET /images/json` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageListOptions {
    /// Include intermediate images.
    pub all: bool,
    pub filters: Filters,
    /// Compute `SharedSize` (API >= 1.42); otherwise it is `-1`.
    pub shared_size: bool,
}

/// `DELETE /images/{name}` parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageRemoveOptions {
    /// Remove even if tagged in several repositories or used by a stopped
    /// container.
    pub force: bool,
    /// Delete untagged parents (`noprune=` unset).
    pub prune: bool,
}
