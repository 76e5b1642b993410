//! The Docker Engine API over a unix socket: HTTP in, typed calls on a
//! [`Backend`], Docker-shaped responses out.
//!
//! A request goes: version prefix (`/v1.50/...`) -> route table -> version
//! range check -> the route's handler, which parses parameters and body into
//! typed values and calls the backend -> the typed result as JSON, or the
//! [`ApiError`] rendered as `{"message": ...}` with the status of its
//! [`ErrorKind`] (mapped in [`ErrorKind::status`] only).
//!
//! Request and response bodies are `bollard_stubs::models` types, the models
//! generated from Docker's own API spec, so field names and shapes match what
//! the docker CLI and docker-py expect. Where dockerd answers older API
//! versions differently, the handlers reshape the backend's current answer.
//!
//! Streams stay on this side too: logs and waits are streamed response
//! bodies fed by backend futures and streams, and attach / exec start hand
//! the backend the two halves of the hijacked connection ([`AttachIo`]) with
//! stdcopy framing done here, so the backend never sees HTTP.

#![forbid(unsafe_code)]

mod backend;
mod error;
mod filters;
mod handlers;
mod hijack;
mod request;
mod response;
mod routes;
mod server;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;
mod version;

pub use backend::{
    AttachOptions, AuthResponse, Backend, BuildMessage, BuildStream, ByteStream, ContainerAttach,
    ContainerCommitOptions, ContainerListOptions, ContainerLogs, ContainerPathStat, DataUsage,
    DataUsageOptions, EventActor, EventFeed, EventMessage, EventsQuery, ExecStartOptions,
    ExtractOptions, ImageBuildOptions, ImageImportOptions, ImageListOptions, ImagePullOptions,
    ImageRemoveOptions, LogMessage, LogStream, LogsOptions, Node, ProgressDetail, ProgressMessage,
    PullStream, RegistryAuth, RemoveOptions, StatsOptions, StatsStream, StopOptions, TtySize,
    WaitCondition, WaitFuture,
};
pub use error::{ApiError, ErrorKind, ServeError};
pub use filters::{parse_filters, Filters};
pub use server::serve;
pub use stream::{AttachIo, ClientInput, ClientOutput, OutputStream, RequestBody, StreamSession};
pub use version::{API_VERSION, MIN_API_VERSION};
