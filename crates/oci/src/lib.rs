//! berth-oci: the runtime side of containers.
//!
//! - [`image`]: local images (`docker import`), names, ids, removal.
//! - [`rootfs`]: a container's overlayfs over its image.
//! - [`spec`]: the OCI bundle (`config.json`, exec `process.json`), rendered
//!   by pure functions.
//! - [`runc`]: the runc driver, with berth's own `--root`.
//! - [`shim`]: the per-container shim's config, wire protocol and client.
//! - [`logs`]: Docker's json-file log format (written by the shim, read
//!   here).
//! - [`stats`]: `docker stats` readings from cgroup and `/proc` files.
//! - [`volumes`]: volumes' directories, their `local` driver mounts, and
//!   what a container's mounts need on the host before it starts.
//! - [`ContainerRuntime`]: the above tied together over one [`Layout`]
//!   (the on-disk layout is documented in [`layout`]).
//!
//! Everything here blocks; the daemon calls it from blocking threads.

pub mod adapter;
pub mod archive;
pub mod build;
pub mod cgroups;
pub mod error;
pub mod fsutil;
pub mod image;
pub mod layout;
pub mod logs;
pub mod mountns;
pub mod registry;
pub mod rootfs;
pub mod runc;
pub mod runtime;
pub mod shim;
pub mod spec;
pub mod stats;
pub mod time;
pub mod volumes;

pub use adapter::{OciAdapter, PullProgress, PullRequest, PushRequest};
pub use error::{Error, ErrorKind, Result, RuntimeFailure};
pub use image::{ImageId, ImageStore, RepoTag};
pub use layout::{ExecId, Layout};
pub use runtime::{ContainerRuntime, Probe, RuntimeConfig, Spawned, TaskSpec};
pub use shim::client::{AttachStream, Output, ShimClient};
pub use shim::proto::{ExitInfo, ProcessState, ShimStatus};
