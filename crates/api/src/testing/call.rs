//! [`Call`]: what the stub records of each backend call, for tests to
//! compare with what they sent.

use crate::{
    AttachOptions, ContainerCommitOptions, ContainerListOptions, DataUsageOptions, EventsQuery,
    ExecStartOptions, Filters, ImageBuildOptions, ImageImportOptions, ImageListOptions,
    ImagePullOptions, ImageRemoveOptions, LogsOptions, RemoveOptions, StatsOptions, StopOptions,
    TtySize, WaitCondition,
};
use bollard_stubs::models::{
    ContainerCreateBody, ContainerUpdateBody, ExecConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest, VolumeCreateRequest,
};

/// A backend call as the stub saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Version,
    Info,
    NetworkList(Filters),
    NetworkInspect(String),
    NetworkCreate(Box<NetworkCreateRequest>),
    NetworkRemove(String),
    NetworkPrune(Filters),
    NetworkConnect(String, Box<NetworkConnectRequest>),
    NetworkDisconnect(String, NetworkDisconnectRequest),
    ContainerCreate(Option<String>, Box<ContainerCreateBody>),
    ContainerStart(String),
    ContainerStop(String, StopOptions),
    ContainerKill(String, Option<String>),
    ContainerRestart(String, StopOptions),
    ContainerPause(String),
    ContainerUnpause(String),
    ContainerRename(String, String),
    ContainerTop(String, String),
    ContainerStats(String, StatsOptions),
    ContainerRemove(String, RemoveOptions),
    ContainerList(ContainerListOptions),
    ContainerInspect(String),
    ContainerWait(String, WaitCondition),
    ContainerLogs(String, LogsOptions),
    ContainerAttach(String, AttachOptions),
    ContainerResize(String, TtySize),
    ContainerUpdate(String, Box<ContainerUpdateBody>),
    ExecCreate(String, Box<ExecConfig>),
    ExecStart(String, ExecStartOptions, bool),
    ExecResize(String, TtySize),
    ExecInspect(String),
    ImageImport(ImageImportOptions, usize),
    ImagePull(ImagePullOptions),
    ImageTag(String, String, Option<String>),
    ImageHistory(String),
    ImageBuild(ImageBuildOptions),
    ContainerCommit(ContainerCommitOptions),
    ImageList(ImageListOptions),
    ImageInspect(String),
    ImageRemove(String, ImageRemoveOptions),
    VolumeList(Filters),
    VolumeInspect(String),
    VolumeCreate(Box<VolumeCreateRequest>),
    VolumeRemove(String, bool),
    VolumePrune(Filters),
    ContainerPrune(Filters),
    ImagePrune(Filters),
    SystemDataUsage(DataUsageOptions),
    /// The username and server of a `POST /auth`.
    SystemAuth(String, String),
    Events(EventsQuery),
}
