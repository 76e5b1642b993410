//! A recording stub [`Backend`] for tests of the API and its clients
//! (feature `testing`): the API tests and the CLI tests run `serve` over
//! it. Networks are canned answers, or a table
//! ([`StubBackend::with_networks`]); containers, execs and images are a
//! small in-memory fake engine whose "processes" are scripted by their
//! command, so the real docker CLI can run them:
//!
//! - `echo ARGS...`: prints ARGS on stdout and exits.
//! - `fail CODE [MESSAGE...]`: prints MESSAGE on stderr (without one,
//!   `about to fail` on stdout, then `failing` on stderr) and exits with
//!   CODE.
//! - `sh`: answers each input line with `got: LINE` until the line `exit`
//!   (or `exit CODE`) or the end of its stdin; `cat` echoes each line as
//!   it came.
//! - `nosuch`: is not in the image: a container fails to start, an exec
//!   prints runc's error and exits 127.
//! - `sleep ...`: runs until stopped (exit 143) or killed (exit 137).
//!
//! A successful process exits with the `EXIT` variable of its environment
//! (`docker run -e EXIT=3`), else 0; `WARNING=TEXT` there makes create
//! answer with that warning.
//!
//! The stub is split by concern: `call` is what it records, `engine` holds
//! the fake engine's state, `process` the scripted processes, and the
//! [`Backend`] implementation below hands each call to its area
//! (`networks`, `containers`, `inspect`, `streams`, `exec`, `images`).

mod archive;
mod call;
mod containers;
mod engine;
mod exec;
mod images;
mod inspect;
mod networks;
mod process;
mod streams;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{
    ApiError, AttachOptions, AuthResponse, Backend, BuildMessage, BuildStream, ByteStream,
    ContainerAttach, ContainerCommitOptions, ContainerListOptions, ContainerLogs,
    ContainerPathStat, DataUsage, DataUsageOptions, EventActor, EventFeed, EventMessage,
    EventsQuery, ExecStartOptions, ExtractOptions, Filters, ImageBuildOptions, ImageImportOptions,
    ImageListOptions, ImagePullOptions, ImageRemoveOptions, LogsOptions, PullStream, RegistryAuth,
    RemoveOptions, RequestBody, StatsOptions, StatsStream, StopOptions, StreamSession, TtySize,
    WaitCondition, WaitFuture,
};
use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerPruneResponse,
    ContainerStatsResponse, ContainerSummary, ContainerTopResponse, ContainerUpdateBody,
    ContainerUpdateResponse, ExecConfig, ExecInspectResponse, FilesystemChange,
    ImageDeleteResponseItem, ImageHistoryResponseItem, ImageInspect, ImagePruneResponse,
    ImageSummary, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkInspect, NetworkPruneResponse, SystemInfo, SystemVersion,
    Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
};

pub use call::Call;
pub use engine::new_id;
use engine::Engine;
pub use networks::network;

pub const BRIDGE_ID: &str = "f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566";
pub const CREATED_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The image every stub starts with.
pub const BUSYBOX_ID: &str =
    "sha256:b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
/// Records every call. Network names pick failures: `missing` is not
/// found, `taken` already exists, `bridge` is predefined, `busy` is in use,
/// and `kind-<name>` fails with that error kind; or, made
/// [`StubBackend::with_networks`], the networks are a table.
#[derive(Default)]
pub struct StubBackend {
    calls: Mutex<Vec<Call>>,
    engine: Arc<Mutex<Engine>>,
    /// The networks list, inspect, remove and prune answer from, in list
    /// order; `None` for the canned answers.
    networks: Option<Mutex<Vec<NetworkInspect>>>,
    /// Containers listed after the stub's own, as given.
    listed: Vec<ContainerSummary>,
}

impl StubBackend {
    /// A stub whose networks are `networks`: listed as given (filters
    /// ignored), found by name or id prefix, and removed by `rm` and
    /// `prune` unless predefined.
    pub fn with_networks(self, networks: Vec<NetworkInspect>) -> StubBackend {
        StubBackend {
            networks: Some(Mutex::new(networks)),
            ..self
        }
    }

    /// A stub that lists `containers` after its own (only the running
    /// ones without `all`; filters ignored): shapes no create makes.
    pub fn with_listed_containers(self, containers: Vec<ContainerSummary>) -> StubBackend {
        StubBackend {
            listed: containers,
            ..self
        }
    }

    /// The names of the containers that exist.
    pub fn container_names(&self) -> Vec<String> {
        lock(&self.engine)
            .containers
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    fn record(&self, call: Call) {
        lock(&self.calls).push(call);
    }
}

/// A panic on one test task must not hide what the others recorded.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Backend for StubBackend {
    async fn version(&self) -> Result<SystemVersion, ApiError> {
        self.record(Call::Version);
        Ok(SystemVersion {
            version: Some("0.1.0".to_owned()),
            // Deliberately wrong: the HTTP layer must overwrite both.
            api_version: Some("9.99".to_owned()),
            min_api_version: Some("0.1".to_owned()),
            os: Some("linux".to_owned()),
            arch: Some("amd64".to_owned()),
            ..Default::default()
        })
    }

    async fn info(&self) -> Result<SystemInfo, ApiError> {
        self.record(Call::Info);
        Ok(SystemInfo {
            name: Some("stub-host".to_owned()),
            ..Default::default()
        })
    }

    async fn node_list(&self) -> Result<Vec<crate::Node>, ApiError> {
        Ok(Vec::new())
    }

    async fn node_remove(&self, id: String) -> Result<(), ApiError> {
        Err(ApiError::not_found(format!("node {id} not found")))
    }

    async fn network_list(&self, filters: Filters) -> Result<Vec<NetworkInspect>, ApiError> {
        networks::network_list(self, filters).await
    }

    async fn network_inspect(&self, id_or_name: String) -> Result<NetworkInspect, ApiError> {
        networks::network_inspect(self, id_or_name).await
    }

    async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError> {
        networks::network_create(self, req).await
    }

    async fn network_remove(&self, id_or_name: String) -> Result<(), ApiError> {
        networks::network_remove(self, id_or_name).await
    }

    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse, ApiError> {
        networks::network_prune(self, filters).await
    }

    async fn network_connect(
        &self,
        network: String,
        req: NetworkConnectRequest,
    ) -> Result<(), ApiError> {
        networks::network_connect(self, network, req).await
    }

    async fn network_disconnect(
        &self,
        network: String,
        req: NetworkDisconnectRequest,
    ) -> Result<(), ApiError> {
        networks::network_disconnect(self, network, req).await
    }

    async fn container_create(
        &self,
        name: Option<String>,
        config: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse, ApiError> {
        containers::container_create(self, name, config).await
    }

    async fn container_start(&self, id_or_name: String) -> Result<(), ApiError> {
        containers::container_start(self, id_or_name).await
    }

    async fn container_stop(
        &self,
        id_or_name: String,
        options: StopOptions,
    ) -> Result<(), ApiError> {
        containers::container_stop(self, id_or_name, options).await
    }

    async fn container_kill(
        &self,
        id_or_name: String,
        signal: Option<String>,
    ) -> Result<(), ApiError> {
        containers::container_kill(self, id_or_name, signal).await
    }

    async fn container_pause(&self, id_or_name: String) -> Result<(), ApiError> {
        self.record(Call::ContainerPause(id_or_name.clone()));
        lock(&self.engine).find(&id_or_name).map(drop)
    }

    async fn container_unpause(&self, id_or_name: String) -> Result<(), ApiError> {
        self.record(Call::ContainerUnpause(id_or_name.clone()));
        lock(&self.engine).find(&id_or_name).map(drop)
    }

    async fn container_rename(&self, id_or_name: String, new_name: String) -> Result<(), ApiError> {
        self.record(Call::ContainerRename(id_or_name.clone(), new_name.clone()));
        lock(&self.engine).find_mut(&id_or_name)?.name = new_name;
        Ok(())
    }

    /// One document naming the container, as dockerd answers for one
    /// that does not run.
    async fn container_stats(
        &self,
        id_or_name: String,
        options: StatsOptions,
    ) -> Result<StatsStream, ApiError> {
        self.record(Call::ContainerStats(id_or_name.clone(), options));
        let engine = lock(&self.engine);
        let c = engine.find(&id_or_name)?;
        let document = ContainerStatsResponse {
            id: Some(c.id.clone()),
            name: Some(format!("/{}", c.name)),
            ..ContainerStatsResponse::default()
        };
        Ok(Box::pin(futures::stream::iter([document])))
    }

    async fn container_stat_path(
        &self,
        id_or_name: String,
        path: String,
    ) -> Result<ContainerPathStat, ApiError> {
        self.stub_stat_path(&id_or_name, &path)
    }

    async fn container_archive(
        &self,
        id_or_name: String,
        path: String,
    ) -> Result<(ContainerPathStat, ByteStream), ApiError> {
        self.stub_archive(&id_or_name, &path)
    }

    async fn container_extract(
        &self,
        id_or_name: String,
        path: String,
        options: ExtractOptions,
        tarball: RequestBody,
    ) -> Result<(), ApiError> {
        self.stub_extract(&id_or_name, &path, options, tarball)
    }

    async fn container_export(&self, id_or_name: String) -> Result<ByteStream, ApiError> {
        self.stub_export(&id_or_name)
    }

    async fn container_changes(
        &self,
        id_or_name: String,
    ) -> Result<Vec<FilesystemChange>, ApiError> {
        self.stub_changes(&id_or_name)
    }

    async fn container_top(
        &self,
        id_or_name: String,
        ps_args: String,
    ) -> Result<ContainerTopResponse, ApiError> {
        self.record(Call::ContainerTop(id_or_name.clone(), ps_args));
        let engine = lock(&self.engine);
        let c = engine.find(&id_or_name)?;
        Ok(ContainerTopResponse {
            titles: Some(vec!["PID".to_owned(), "CMD".to_owned()]),
            processes: Some(vec![vec!["1".to_owned(), c.cmd().join(" ")]]),
        })
    }

    async fn container_restart(
        &self,
        id_or_name: String,
        options: StopOptions,
    ) -> Result<(), ApiError> {
        containers::container_restart(self, id_or_name, options).await
    }

    async fn container_remove(
        &self,
        id_or_name: String,
        options: RemoveOptions,
    ) -> Result<(), ApiError> {
        containers::container_remove(self, id_or_name, options).await
    }

    async fn container_list(
        &self,
        options: ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>, ApiError> {
        inspect::container_list(self, options).await
    }

    async fn container_inspect(
        &self,
        id_or_name: String,
        size: bool,
    ) -> Result<ContainerInspectResponse, ApiError> {
        inspect::container_inspect(self, id_or_name, size).await
    }

    async fn container_wait(
        &self,
        id_or_name: String,
        condition: WaitCondition,
    ) -> Result<WaitFuture, ApiError> {
        containers::container_wait(self, id_or_name, condition).await
    }

    async fn container_logs(
        &self,
        id_or_name: String,
        options: LogsOptions,
    ) -> Result<ContainerLogs, ApiError> {
        streams::container_logs(self, id_or_name, options).await
    }

    async fn container_attach(
        &self,
        id_or_name: String,
        options: AttachOptions,
    ) -> Result<ContainerAttach, ApiError> {
        streams::container_attach(self, id_or_name, options).await
    }

    async fn container_resize(&self, id_or_name: String, size: TtySize) -> Result<(), ApiError> {
        streams::container_resize(self, id_or_name, size).await
    }

    async fn container_update(
        &self,
        id_or_name: String,
        update: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse, ApiError> {
        self.record(Call::ContainerUpdate(id_or_name.clone(), Box::new(update)));
        lock(&self.engine).find(&id_or_name)?;
        Ok(ContainerUpdateResponse::default())
    }

    async fn exec_create(&self, container: String, config: ExecConfig) -> Result<String, ApiError> {
        exec::exec_create(self, container, config).await
    }

    async fn exec_start_detached(
        &self,
        exec_id: String,
        options: ExecStartOptions,
    ) -> Result<(), ApiError> {
        exec::exec_start_detached(self, exec_id, options).await
    }

    async fn exec_start_attached(
        &self,
        exec_id: String,
        options: ExecStartOptions,
    ) -> Result<StreamSession, ApiError> {
        exec::exec_start_attached(self, exec_id, options).await
    }

    async fn exec_resize(&self, exec_id: String, size: TtySize) -> Result<(), ApiError> {
        exec::exec_resize(self, exec_id, size).await
    }

    async fn exec_inspect(&self, exec_id: String) -> Result<ExecInspectResponse, ApiError> {
        exec::exec_inspect(self, exec_id).await
    }

    async fn image_import(
        &self,
        options: ImageImportOptions,
        tarball: RequestBody,
    ) -> Result<String, ApiError> {
        images::image_import(self, options, tarball).await
    }

    async fn image_pull(&self, options: ImagePullOptions) -> Result<PullStream, ApiError> {
        self.record(Call::ImagePull(options.clone()));
        Err(ApiError::not_found(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login'",
            options.image
        )))
    }

    async fn image_list(&self, options: ImageListOptions) -> Result<Vec<ImageSummary>, ApiError> {
        images::image_list(self, options).await
    }

    async fn image_inspect(&self, name: String) -> Result<ImageInspect, ApiError> {
        images::image_inspect(self, name).await
    }

    async fn image_remove(
        &self,
        name: String,
        options: ImageRemoveOptions,
    ) -> Result<Vec<ImageDeleteResponseItem>, ApiError> {
        images::image_remove(self, name, options).await
    }

    async fn image_push(
        &self,
        name: String,
        _tag: Option<String>,
        _registry_auth: Option<String>,
    ) -> Result<PullStream, ApiError> {
        Err(ApiError::not_found(format!(
            "An image does not exist locally with the tag: {name}"
        )))
    }

    async fn image_save(&self, names: Vec<String>) -> Result<ByteStream, ApiError> {
        Err(ApiError::not_found(format!(
            "No such image: {}",
            names.join(", ")
        )))
    }

    async fn image_load(&self, _archive: RequestBody) -> Result<Vec<String>, ApiError> {
        Ok(vec!["Loaded image: busybox:latest".to_owned()])
    }

    async fn image_history(&self, name: String) -> Result<Vec<ImageHistoryResponseItem>, ApiError> {
        self.record(Call::ImageHistory(name));
        Ok(Vec::new())
    }

    async fn image_build(
        &self,
        options: ImageBuildOptions,
        _context: RequestBody,
    ) -> Result<BuildStream, ApiError> {
        self.record(Call::ImageBuild(options));
        Ok(Box::pin(futures::stream::iter([
            Ok(BuildMessage::Stream("Step 1/1 : FROM busybox\n".to_owned())),
            Ok(BuildMessage::Aux(format!("sha256:{}", "b".repeat(64)))),
        ])))
    }

    async fn container_commit(&self, options: ContainerCommitOptions) -> Result<String, ApiError> {
        self.record(Call::ContainerCommit(options));
        Ok(format!("sha256:{}", "c".repeat(64)))
    }

    async fn image_tag(
        &self,
        name: String,
        repo: String,
        tag: Option<String>,
    ) -> Result<(), ApiError> {
        self.record(Call::ImageTag(name, repo, tag));
        Ok(())
    }

    async fn volume_list(&self, filters: Filters) -> Result<VolumeListResponse, ApiError> {
        self.record(Call::VolumeList(filters));
        Ok(VolumeListResponse {
            volumes: Some(vec![volume("data")]),
            warnings: Some(Vec::new()),
        })
    }

    /// The stub's one volume is `data` (the one it lists).
    async fn volume_inspect(&self, name: String) -> Result<Volume, ApiError> {
        self.record(Call::VolumeInspect(name.clone()));
        if name == "data" {
            Ok(volume(&name))
        } else {
            Err(ApiError::not_found(format!("get {name}: no such volume")))
        }
    }

    async fn volume_create(&self, req: VolumeCreateRequest) -> Result<Volume, ApiError> {
        let name = req.name.clone().unwrap_or_default();
        self.record(Call::VolumeCreate(Box::new(req)));
        Ok(volume(&name))
    }

    async fn volume_remove(&self, name: String, force: bool) -> Result<(), ApiError> {
        self.record(Call::VolumeRemove(name, force));
        Ok(())
    }

    async fn container_prune(&self, filters: Filters) -> Result<ContainerPruneResponse, ApiError> {
        self.record(Call::ContainerPrune(filters));
        Ok(ContainerPruneResponse {
            containers_deleted: Some(Vec::new()),
            space_reclaimed: Some(0),
        })
    }

    async fn image_prune(&self, filters: Filters) -> Result<ImagePruneResponse, ApiError> {
        self.record(Call::ImagePrune(filters));
        Ok(ImagePruneResponse {
            images_deleted: Some(Vec::new()),
            space_reclaimed: Some(0),
        })
    }

    /// One kept event (a network's `create`) and no live ones, so the
    /// stream ends.
    async fn events(&self, query: EventsQuery) -> Result<EventFeed, ApiError> {
        self.record(Call::Events(query));
        let past = vec![EventMessage {
            kind: "network".to_owned(),
            action: "create".to_owned(),
            actor: EventActor {
                id: new_id(1),
                attributes: [("name".to_owned(), "n1".to_owned())].into(),
            },
            scope: "local".to_owned(),
            time: 1,
            time_nano: 1_000_000_000,
        }];
        Ok(EventFeed {
            past,
            live: Box::pin(futures::stream::empty()),
        })
    }

    async fn system_auth(&self, auth: RegistryAuth) -> Result<AuthResponse, ApiError> {
        self.record(Call::SystemAuth(auth.username, auth.serveraddress));
        Ok(AuthResponse {
            status: "Login Succeeded".to_owned(),
            identity_token: None,
        })
    }

    async fn system_data_usage(&self, options: DataUsageOptions) -> Result<DataUsage, ApiError> {
        self.record(Call::SystemDataUsage(options));
        Ok(DataUsage {
            layers_size: Some(0),
            images: options.images.then(Vec::new),
            containers: options.containers.then(Vec::new),
            volumes: options.volumes.then(Vec::new),
            build_cache: options.build_cache.then(Vec::new),
        })
    }

    async fn volume_prune(&self, filters: Filters) -> Result<VolumePruneResponse, ApiError> {
        self.record(Call::VolumePrune(filters));
        Ok(VolumePruneResponse {
            volumes_deleted: Some(Vec::new()),
            space_reclaimed: Some(0),
        })
    }
}

/// A `local` volume named `name`, as the stub answers.
pub fn volume(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        driver: "local".to_owned(),
        mountpoint: format!("/var/lib/berth/volumes/{name}/_data"),
        ..Default::default()
    }
}
