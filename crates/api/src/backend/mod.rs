//! What the daemon provides to the HTTP layer (moby keeps the same interface
//! next to its routers, `daemon/server/router/*/backend.go`), and the typed
//! parameters and results that cross it. The trait is here whole; its types
//! are in one file a noun (containers, images, system), all re-exported.

mod containers;
mod images;
mod system;

use std::future::Future;
use std::pin::Pin;

pub use bollard_stubs::models::AuthResponse;
use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerPruneResponse,
    ContainerSummary, ContainerTopResponse, ContainerUpdateBody, ContainerUpdateResponse,
    ExecConfig, ExecInspectResponse, FilesystemChange, ImageDeleteResponseItem,
    ImageHistoryResponseItem, ImageInspect, ImagePruneResponse, ImageSummary,
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkInspect, NetworkPruneResponse, SystemInfo, SystemVersion, Volume, VolumeCreateRequest,
    VolumeListResponse, VolumePruneResponse,
};
use bytes::Bytes;
use futures::Stream;

pub use containers::*;
pub use images::*;
pub use system::*;

use crate::error::ApiError;
use crate::filters::Filters;
use crate::stream::{RequestBody, StreamSession};

/// The operations behind the routes. Handlers parse the request, call one of
/// these, and turn the result into a response; the backend never sees HTTP.
///
/// An `Err` is answered with the status of its [`crate::ErrorKind`] and
/// `{"message": ...}`; use Docker's wording where clients match on it (e.g.
/// `network <name> not found`, `No such container: <name>`, `No such image:
/// <name>`, `No such exec instance: <id>`).
///
/// Container, image and exec references (`id_or_name`) are passed as the
/// client sent them (percent-decoded): a full id, a name (with or without the
/// leading `/` for containers), or a unique id prefix; resolving them is the
/// backend's job, as in dockerd.
pub trait Backend: Send + Sync + 'static {
    /// `GET /version`. `ApiVersion` and `MinAPIVersion` are overwritten by the
    /// HTTP layer with [`crate::API_VERSION`] and [`crate::MIN_API_VERSION`]:
    /// only it knows which versions it serves.
    fn version(&self) -> impl Future<Output = Result<SystemVersion, ApiError>> + Send;

    /// `GET /info`, passed through as is.
    fn info(&self) -> impl Future<Output = Result<SystemInfo, ApiError>> + Send;

    /// `GET /networks`. `filters` is already normalised; unknown keys and bad
    /// values are the backend's to reject (Docker: 400 `invalid filter '<key>'`).
    fn network_list(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<Vec<NetworkInspect>, ApiError>> + Send;

    /// `GET /networks/{id}`: by full ID, exact name, or unique ID prefix.
    fn network_inspect(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<NetworkInspect, ApiError>> + Send;

    /// `POST /networks/create`. `req.name` is never empty (the HTTP layer
    /// answers Docker's 400 for that); everything else is unvalidated.
    fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> impl Future<Output = Result<NetworkCreateResponse, ApiError>> + Send;

    /// `DELETE /networks/{id}`.
    fn network_remove(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `GET /berth/nodes`, berth's own: the hosts of its cluster (503 on
    /// a daemon without a cluster store).
    fn node_list(&self) -> impl Future<Output = Result<Vec<Node>, ApiError>> + Send;

    /// `DELETE /berth/nodes/{id}`, berth's own: forgets a host gone for
    /// good (by id, unique id prefix or hostname), freeing what it held.
    fn node_remove(&self, id: String) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /networks/prune`.
    fn network_prune(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<NetworkPruneResponse, ApiError>> + Send;

    /// `POST /networks/{id}/connect` (`docker network connect`), answered
    /// `200` with no body. `req.container` may be empty (Docker then answers
    /// `No such container: `); `req.endpoint_config` is the client's, with
    /// `null`s removed.
    fn network_connect(
        &self,
        network: String,
        req: NetworkConnectRequest,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /networks/{id}/disconnect`, answered `200` with no body.
    fn network_disconnect(
        &self,
        network: String,
        req: NetworkDisconnectRequest,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/create?name=`. `name` is `None` when the client gave
    /// none (the backend picks one); it is not validated.
    ///
    /// The HTTP layer has already done what dockerd's router does before its
    /// backend: Docker's 400s for malformed bodies and for `container:<x>`
    /// network modes combined with a hostname, DNS, extra hosts, links or
    /// ports; `HostConfig.NetworkMode` `""`/`"default"` turned into
    /// `"bridge"` (and an `EndpointsConfig["default"]` moved to `"bridge"`);
    /// an empty or `null` `PortBindings` entry turned into one binding with
    /// empty `HostIp` and `HostPort` (publish on an ephemeral port, as for
    /// API < 1.53); the container-wide `MacAddress` of old clients moved to
    /// the main network's endpoint; fields newer than the client's API
    /// version cleared. `ExposedPorts`/`Volumes` keys survive `null` values.
    /// `host_config` and `networking_config` are always `Some`. Warnings the
    /// HTTP layer produced are appended to the response's.
    fn container_create(
        &self,
        name: Option<String>,
        config: ContainerCreateBody,
    ) -> impl Future<Output = Result<ContainerCreateResponse, ApiError>> + Send;

    /// `POST /containers/{id}/start`: `204`. A container that is already
    /// running is `Err(ApiError::not_modified(..))`, answered `304` as Docker
    /// does (the docker CLI treats it as success).
    fn container_start(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/{id}/stop`: `204`; a container that is not running
    /// is `not_modified` (`304`), as in Docker.
    fn container_stop(
        &self,
        id_or_name: String,
        options: StopOptions,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/{id}/kill`: `204`. `signal` is the client's text
    /// (`"KILL"`, `"SIGTERM"`, `"9"`), `None` for the default (`SIGKILL`).
    /// The HTTP layer prefixes errors with `cannot kill container: <id>: `
    /// as dockerd's router does, so return the bare reason.
    fn container_kill(
        &self,
        id_or_name: String,
        signal: Option<String>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/{id}/restart`: `204`.
    fn container_restart(
        &self,
        id_or_name: String,
        options: StopOptions,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/{id}/pause`: `204`.
    fn container_pause(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/{id}/unpause`: `204`.
    fn container_unpause(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/{id}/rename?name=NEW`: `204`.
    fn container_rename(
        &self,
        id_or_name: String,
        new_name: String,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `GET /containers/{id}/top?ps_args=`: `ps`'s columns and rows for the
    /// container's processes (`ps_args` defaults to `-ef`).
    fn container_top(
        &self,
        id_or_name: String,
        ps_args: String,
    ) -> impl Future<Output = Result<ContainerTopResponse, ApiError>> + Send;

    /// `GET /containers/{id}/stats`: resolve the container (404 if none)
    /// and return its samples, one a second while `stream`; otherwise the
    /// one document to send. The HTTP layer writes each as a JSON line; the
    /// stream ends when the container is gone, and is dropped when the
    /// client hangs up.
    fn container_stats(
        &self,
        id_or_name: String,
        options: StatsOptions,
    ) -> impl Future<Output = Result<StatsStream, ApiError>> + Send;

    /// `HEAD /containers/{id}/archive?path=`: what `path` is in the
    /// container (the last component not followed). Missing: 404 `Could
    /// not find the file <path> in container <name>`.
    fn container_stat_path(
        &self,
        id_or_name: String,
        path: String,
    ) -> impl Future<Output = Result<ContainerPathStat, ApiError>> + Send;

    /// `GET /containers/{id}/archive?path=`: the stat and a tar of `path`,
    /// sent as it is made.
    fn container_archive(
        &self,
        id_or_name: String,
        path: String,
    ) -> impl Future<Output = Result<(ContainerPathStat, ByteStream), ApiError>> + Send;

    /// `PUT /containers/{id}/archive?path=`: extracts the tar `tarball`
    /// into the directory `path` (400 if it is not one, 403 if it is
    /// read-only).
    fn container_extract(
        &self,
        id_or_name: String,
        path: String,
        options: ExtractOptions,
        tarball: RequestBody,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `GET /containers/{id}/export`: a tar of the container's file system.
    fn container_export(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<ByteStream, ApiError>> + Send;

    /// `GET /containers/{id}/changes`: what differs from the image, sorted
    /// by path.
    fn container_changes(
        &self,
        id_or_name: String,
    ) -> impl Future<Output = Result<Vec<FilesystemChange>, ApiError>> + Send;

    /// `DELETE /containers/{id}`: `204`. A running container without `force`
    /// is Docker's 409 (`cannot remove container "/x": container is running:
    /// stop the container before removing or force remove`).
    fn container_remove(
        &self,
        id_or_name: String,
        options: RemoveOptions,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `GET /containers/json` (`docker ps`). Newest first, as dockerd lists.
    /// `Names` entries carry the leading `/`. The HTTP layer drops fields the
    /// client's API version does not know (e.g. `Health` before 1.52).
    fn container_list(
        &self,
        options: ContainerListOptions,
    ) -> impl Future<Output = Result<Vec<ContainerSummary>, ApiError>> + Send;

    /// `GET /containers/{id}/json`. Return the current shape; the HTTP layer
    /// adapts it to the client's API version (for clients below 1.52 it adds
    /// the legacy top-level `NetworkSettings` fields, taken from
    /// `Networks["bridge"]`, and drops `Storage`).
    fn container_inspect(
        &self,
        id_or_name: String,
        size: bool,
    ) -> impl Future<Output = Result<ContainerInspectResponse, ApiError>> + Send;

    /// `POST /containers/{id}/wait`. Resolve the container and register the
    /// wait *now*, then return the future that completes when `condition` is
    /// met. The HTTP layer answers `200` and flushes the headers as soon as
    /// this returns, and writes the body when the future completes: the
    /// docker CLI opens this request before it starts the container, and
    /// blocks until the headers arrive. An `Err` here (no such container) is
    /// an ordinary error response; a failure later goes in the body's
    /// `Error.Message`. If the client hangs up the future is dropped.
    fn container_wait(
        &self,
        id_or_name: String,
        condition: WaitCondition,
    ) -> impl Future<Output = Result<WaitFuture, ApiError>> + Send;

    /// `GET /containers/{id}/logs`. Resolve the container and return its
    /// TTY setting and the messages; the HTTP layer adds timestamps when
    /// asked, drops streams not asked for, frames with stdcopy when the
    /// container has no TTY, and reports a stream `Err` in band as dockerd
    /// does (`Error grabbing logs: <err>`). The stream ends when the logs do
    /// (with `follow`: when the container stops); dropping it means the
    /// client went away.
    fn container_logs(
        &self,
        id_or_name: String,
        options: LogsOptions,
    ) -> impl Future<Output = Result<ContainerLogs, ApiError>> + Send;

    /// `POST /containers/{id}/attach`. Check the attach can happen (no such
    /// container: 404; paused: 409; bad detach keys: 400) and return the
    /// container's TTY setting and the session to run. The HTTP layer then
    /// answers (`101 UPGRADED` for clients that sent `Upgrade: tcp`, as the
    /// docker CLI does) and runs the session with the hijacked connection;
    /// output is stdcopy-framed exactly when `tty` is false. See
    /// [`StreamSession`] for what the session does and when it returns. The
    /// docker CLI attaches *before* it starts the container; the exit code
    /// reaches it through [`Backend::container_wait`], not this stream.
    fn container_attach(
        &self,
        id_or_name: String,
        options: AttachOptions,
    ) -> impl Future<Output = Result<ContainerAttach, ApiError>> + Send;

    /// `POST /containers/{id}/update`: change a container's limits (live
    /// when it runs); its restart policy. Docker's 200 with `Warnings`.
    fn container_update(
        &self,
        id_or_name: String,
        update: ContainerUpdateBody,
    ) -> impl Future<Output = Result<ContainerUpdateResponse, ApiError>> + Send;

    /// `POST /containers/{id}/resize`: resize the container's TTY. The
    /// docker CLI sends it right after start and on every terminal resize.
    fn container_resize(
        &self,
        id_or_name: String,
        size: TtySize,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/{id}/exec`: register an exec instance, return its id
    /// (answered `201 {"Id": ...}`). `config.cmd` is never empty (the HTTP
    /// layer answers Docker's 400 `No exec command specified`).
    fn exec_create(
        &self,
        container: String,
        config: ExecConfig,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;

    /// `POST /exec/{id}/start` with `Detach: true`: start the process and
    /// return once it runs (answered `200`, no body).
    fn exec_start_detached(
        &self,
        exec_id: String,
        options: ExecStartOptions,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /exec/{id}/start` without `Detach`: check the exec can start
    /// (no such exec: 404; already started: 409) and return the session that
    /// starts the process and pumps its stdio, as for attach. Output is
    /// stdcopy-framed exactly when `options.tty` is false (Docker decides
    /// from the start request, not the exec config). An `Err` from the
    /// session is written to the client's stdout as `<message>\r\n`, as
    /// dockerd does. Record the exit code before the session returns: the
    /// docker CLI reads it with [`Backend::exec_inspect`] as soon as the
    /// stream ends.
    fn exec_start_attached(
        &self,
        exec_id: String,
        options: ExecStartOptions,
    ) -> impl Future<Output = Result<StreamSession, ApiError>> + Send;

    /// `POST /exec/{id}/resize`.
    fn exec_resize(
        &self,
        exec_id: String,
        size: TtySize,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `GET /exec/{id}/json`.
    fn exec_inspect(
        &self,
        exec_id: String,
    ) -> impl Future<Output = Result<ExecInspectResponse, ApiError>> + Send;

    /// `POST /images/create?fromSrc=-` (`docker import`): read the tarball
    /// from `tarball` and return the new image's id (`sha256:<hex>`), which
    /// the HTTP layer reports as dockerd does (`{"status":"sha256:..."}`).
    fn image_import(
        &self,
        options: ImageImportOptions,
        tarball: RequestBody,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;

    /// `POST /images/create?fromImage=` (`docker pull`): the pull's
    /// progress, in order. An `Err` first is answered as a plain error
    /// (nothing was pulled); later, in band as dockerd does.
    fn image_pull(
        &self,
        options: ImagePullOptions,
    ) -> impl Future<Output = Result<PullStream, ApiError>> + Send;

    /// `GET /images/json` (`docker images`). The HTTP layer applies the
    /// client's API version (`Containers` is `-1` before 1.51).
    fn image_list(
        &self,
        options: ImageListOptions,
    ) -> impl Future<Output = Result<Vec<ImageSummary>, ApiError>> + Send;

    /// `GET /images/{name}/json`. `name` may contain `/` and `:`
    /// (`localhost:5000/team/app:v1`), or be an id or id prefix. Unknown:
    /// 404 `No such image: <name>`.
    fn image_inspect(
        &self,
        name: String,
    ) -> impl Future<Output = Result<ImageInspect, ApiError>> + Send;

    /// `DELETE /images/{name}` (`docker rmi`). `name` is never blank. An
    /// image a container uses is Docker's 409 unless `force`.
    fn image_remove(
        &self,
        name: String,
        options: ImageRemoveOptions,
    ) -> impl Future<Output = Result<Vec<ImageDeleteResponseItem>, ApiError>> + Send;

    /// `POST /images/{name}/push?tag=` (`docker push`), with the
    /// `X-Registry-Auth` header as sent: progress as for a pull.
    fn image_push(
        &self,
        name: String,
        tag: Option<String>,
        registry_auth: Option<String>,
    ) -> impl Future<Output = Result<PullStream, ApiError>> + Send;

    /// `GET /images/get` (`docker save`): Docker's archive of the named
    /// images, refused before a byte is sent if one cannot be saved.
    fn image_save(
        &self,
        names: Vec<String>,
    ) -> impl Future<Output = Result<ByteStream, ApiError>> + Send;

    /// `POST /images/load` (`docker load`): the images of a `docker save`
    /// archive; returns dockerd's lines (`Loaded image: busybox:latest`,
    /// `Loaded image ID: sha256:…` for an untagged one).
    fn image_load(
        &self,
        archive: RequestBody,
    ) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;

    /// `GET /images/{name}/history` (`docker history`): newest first.
    fn image_history(
        &self,
        name: String,
    ) -> impl Future<Output = Result<Vec<ImageHistoryResponseItem>, ApiError>> + Send;

    /// `POST /build` (`docker build` without BuildKit): the build's
    /// messages, in order; an `Err` first is a plain error response, later
    /// ones are in band.
    fn image_build(
        &self,
        options: ImageBuildOptions,
        context: RequestBody,
    ) -> impl Future<Output = Result<BuildStream, ApiError>> + Send;

    /// `POST /commit` (`docker commit`): the new image's id (`sha256:…`).
    fn container_commit(
        &self,
        options: ContainerCommitOptions,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;

    /// `POST /images/{name}/tag` (`docker tag`): gives the image `name`
    /// the name `repo` (which may carry the tag) with `tag`.
    fn image_tag(
        &self,
        name: String,
        repo: String,
        tag: Option<String>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /containers/prune`: the stopped containers `filters` admits
    /// (`until`, `label`, `label!`; the backend checks the keys).
    fn container_prune(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<ContainerPruneResponse, ApiError>> + Send;

    /// `POST /images/prune`: unused images, only dangling ones unless
    /// `dangling=false`.
    fn image_prune(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<ImagePruneResponse, ApiError>> + Send;

    /// `GET /events`: the kept events `query` asks for, and the new ones
    /// from now on (the handler ends the stream at `until`).
    fn events(
        &self,
        query: EventsQuery,
    ) -> impl Future<Output = Result<EventFeed, ApiError>> + Send;

    /// `POST /auth` (`docker login`): the credentials checked against the
    /// registry `serveraddress` names (Docker Hub when blank). Refused:
    /// [`crate::ErrorKind::Unauthorized`] in dockerd's words.
    fn system_auth(
        &self,
        auth: RegistryAuth,
    ) -> impl Future<Output = Result<AuthResponse, ApiError>> + Send;

    /// `GET /system/df` (`docker system df`).
    fn system_data_usage(
        &self,
        options: DataUsageOptions,
    ) -> impl Future<Output = Result<DataUsage, ApiError>> + Send;

    /// `GET /volumes`. `filters` is normalised; the backend checks its keys.
    fn volume_list(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<VolumeListResponse, ApiError>> + Send;

    /// `GET /volumes/{name}`.
    fn volume_inspect(&self, name: String)
        -> impl Future<Output = Result<Volume, ApiError>> + Send;

    /// `POST /volumes/create`, answered 201 with the volume.
    fn volume_create(
        &self,
        req: VolumeCreateRequest,
    ) -> impl Future<Output = Result<Volume, ApiError>> + Send;

    /// `DELETE /volumes/{name}?force=`, answered 204.
    fn volume_remove(
        &self,
        name: String,
        force: bool,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /volumes/prune`.
    fn volume_prune(
        &self,
        filters: Filters,
    ) -> impl Future<Output = Result<VolumePruneResponse, ApiError>> + Send;
}

/// Bytes answered as they come (a tar archive).
pub type ByteStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;
