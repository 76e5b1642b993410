//! The API's `Backend`, implemented over the engine: wire types in, core
//! commands out, core results back to Docker's JSON shapes. The one place
//! that knows both sides. Streams (attach, logs, exec) and image reads talk
//! to the OCI adapter directly: they change no shared state.

mod archive;
mod build;
mod commit;
mod containers;
mod events;
mod fields;
mod housekeeping;
mod images;
mod networks;
mod nodes;
mod pull;
mod resources;
mod security;
mod stats;
mod storage;
mod streams;
mod system;
mod top;
mod volumes;
mod wire;

use std::sync::Arc;

use berth_api::{
    ApiError, AttachOptions, AuthResponse, Backend, BuildStream, ByteStream, ContainerAttach,
    ContainerCommitOptions, ContainerListOptions, ContainerLogs, ContainerPathStat, DataUsage,
    DataUsageOptions, ErrorKind, EventFeed, EventsQuery, ExecStartOptions, ExtractOptions, Filters,
    ImageBuildOptions, ImageImportOptions, ImageListOptions, ImagePullOptions, ImageRemoveOptions,
    LogsOptions, PullStream, RegistryAuth, RemoveOptions, RequestBody, StatsOptions, StatsStream,
    StopOptions, StreamSession, TtySize, WaitCondition, WaitFuture,
};
use berth_core::handle::stop_grace;
use berth_core::EngineHandle;
use berth_oci::OciAdapter;
use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerPruneResponse,
    ContainerSummary, ContainerTopResponse, ContainerUpdateBody, ContainerUpdateResponse,
    ExecConfig, ExecInspectResponse, FilesystemChange, ImageDeleteResponseItem,
    ImageHistoryResponseItem, ImageInspect, ImagePruneResponse, ImageSummary,
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkInspect, NetworkPruneResponse, SystemInfo, SystemInfoDefaultAddressPools, SystemVersion,
    Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
};

use crate::cluster::ClusterView;
use crate::config::Config;
use crate::host::RealHost;
use streams::Execs;

#[derive(Clone)]
pub struct DaemonBackend {
    engine: EngineHandle<RealHost>,
    /// For what changes no shared state: streams, terminal sizes, image
    /// reads, file paths.
    oci: OciAdapter,
    execs: Arc<Execs>,
    data_root: String,
    address_pools: Vec<SystemInfoDefaultAddressPools>,
    /// With `--cluster-store`.
    cluster: Option<ClusterView>,
}

impl DaemonBackend {
    pub fn new(
        engine: EngineHandle<RealHost>,
        oci: OciAdapter,
        config: &Config,
        cluster: Option<ClusterView>,
    ) -> Self {
        let address_pools = config
            .address_pools
            .iter()
            .map(|p| SystemInfoDefaultAddressPools {
                base: Some(p.base.to_string()),
                size: Some(i64::from(p.size)),
            })
            .collect();
        DaemonBackend {
            execs: Arc::new(Execs::new(engine.clone())),
            engine,
            oci,
            data_root: config.data_root.display().to_string(),
            address_pools,
            cluster,
        }
    }

    fn networks(&self) -> std::sync::Arc<[berth_core::network::Network]> {
        self.engine.networks()
    }

    fn container(&self, reference: &str) -> Result<berth_core::container::Container, ApiError> {
        self.engine.inspect_container(reference).map_err(api_error)
    }

    /// A container event of what the daemon did outside the engine.
    fn event(&self, reference: &str, action: &str, extra: &[(&str, String)]) {
        if let Ok(c) = self.engine.inspect_container(reference) {
            self.engine.container_event(&c, action, extra);
        }
    }
}

/// Core errors to Docker's status codes (the API crate maps kinds to codes).
pub(crate) fn api_error(e: berth_core::Error) -> ApiError {
    let kind = match e.kind() {
        berth_core::ErrorKind::InvalidParameter => ErrorKind::InvalidParameter,
        berth_core::ErrorKind::Forbidden => ErrorKind::Forbidden,
        berth_core::ErrorKind::NotFound => ErrorKind::NotFound,
        berth_core::ErrorKind::Conflict => ErrorKind::Conflict,
        berth_core::ErrorKind::Unavailable => ErrorKind::Unavailable,
        berth_core::ErrorKind::NotModified => ErrorKind::NotModified,
        berth_core::ErrorKind::Internal => {
            tracing::error!(error = %e, "request failed");
            ErrorKind::Internal
        }
    };
    ApiError::new(kind, e.to_string())
}

/// Runtime and image-store errors to Docker's status codes.
pub(crate) fn oci_error(e: berth_oci::Error) -> ApiError {
    let kind = match e.kind() {
        berth_oci::ErrorKind::NotFound => ErrorKind::NotFound,
        berth_oci::ErrorKind::Conflict => ErrorKind::Conflict,
        berth_oci::ErrorKind::InvalidArgument => ErrorKind::InvalidParameter,
        berth_oci::ErrorKind::Other => {
            tracing::error!(error = %e, "runtime request failed");
            ErrorKind::Internal
        }
    };
    ApiError::new(kind, e.to_string())
}

fn signal_number(signal: Option<&str>, default: i32) -> Result<i32, ApiError> {
    Ok(given_signal(signal)?.unwrap_or(default))
}

/// A signal by Docker's names or number; `None` when not given.
fn given_signal(signal: Option<&str>) -> Result<Option<i32>, ApiError> {
    match signal {
        None | Some("") => Ok(None),
        Some(s) => berth_oci::runc::parse_signal(s)
            .map(|sig| Some(sig as i32))
            .map_err(ApiError::invalid_parameter),
    }
}

impl Backend for DaemonBackend {
    async fn version(&self) -> Result<SystemVersion, ApiError> {
        Ok(system::version())
    }

    async fn info(&self) -> Result<SystemInfo, ApiError> {
        Ok(system::info(self))
    }

    async fn node_list(&self) -> Result<Vec<berth_api::Node>, ApiError> {
        nodes::list(self.cluster.as_ref()).await
    }

    async fn node_remove(&self, id: String) -> Result<(), ApiError> {
        nodes::remove(self.cluster.as_ref(), &id).await
    }

    async fn network_list(&self, filters: Filters) -> Result<Vec<NetworkInspect>, ApiError> {
        networks::list(self, filters).await
    }

    async fn network_inspect(&self, id_or_name: String) -> Result<NetworkInspect, ApiError> {
        networks::inspect(self, id_or_name).await
    }

    async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError> {
        networks::create(self, req).await
    }

    async fn network_remove(&self, id_or_name: String) -> Result<(), ApiError> {
        networks::remove(self, id_or_name).await
    }

    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse, ApiError> {
        networks::prune(self, filters).await
    }

    async fn network_connect(
        &self,
        network: String,
        req: NetworkConnectRequest,
    ) -> Result<(), ApiError> {
        networks::connect(self, network, req).await
    }

    async fn network_disconnect(
        &self,
        network: String,
        req: NetworkDisconnectRequest,
    ) -> Result<(), ApiError> {
        networks::disconnect(self, network, req).await
    }

    async fn container_create(
        &self,
        name: Option<String>,
        config: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse, ApiError> {
        containers::create(self, name, config).await
    }

    async fn container_start(&self, id_or_name: String) -> Result<(), ApiError> {
        match self.engine.start_container(&id_or_name).await {
            Ok(_) => Ok(()),
            Err(berth_core::Error::NotModified) => {
                Err(ApiError::not_modified("container already started"))
            }
            Err(e) => Err(api_error(e)),
        }
    }

    async fn container_stop(
        &self,
        id_or_name: String,
        options: StopOptions,
    ) -> Result<(), ApiError> {
        let signal = given_signal(options.signal.as_deref())?;
        let stopped = self
            .engine
            .stop_container(&id_or_name, signal, options.timeout.map(stop_grace))
            .await
            .map_err(api_error)?;
        if stopped {
            Ok(())
        } else {
            Err(ApiError::not_modified("container already stopped"))
        }
    }

    async fn container_kill(
        &self,
        id_or_name: String,
        signal: Option<String>,
    ) -> Result<(), ApiError> {
        let signal = signal_number(signal.as_deref(), berth_core::handle::libc_sigkill())?;
        self.engine
            .kill_container(&id_or_name, signal)
            .await
            .map_err(api_error)
    }

    async fn container_restart(
        &self,
        id_or_name: String,
        options: StopOptions,
    ) -> Result<(), ApiError> {
        let signal = given_signal(options.signal.as_deref())?;
        self.engine
            .restart_container(&id_or_name, signal, options.timeout.map(stop_grace))
            .await
            .map(drop)
            .map_err(api_error)
    }

    async fn container_pause(&self, id_or_name: String) -> Result<(), ApiError> {
        self.engine
            .pause_container(&id_or_name)
            .await
            .map_err(api_error)
    }

    async fn container_unpause(&self, id_or_name: String) -> Result<(), ApiError> {
        self.engine
            .unpause_container(&id_or_name)
            .await
            .map_err(api_error)
    }

    async fn container_rename(&self, id_or_name: String, new_name: String) -> Result<(), ApiError> {
        self.engine
            .rename_container(&id_or_name, &new_name)
            .await
            .map_err(api_error)
    }

    async fn container_top(
        &self,
        id_or_name: String,
        ps_args: String,
    ) -> Result<ContainerTopResponse, ApiError> {
        let pids = self
            .engine
            .container_pids(&id_or_name)
            .await
            .map_err(api_error)?;
        let top = top::container_top(ps_args, pids).await?;
        self.event(&id_or_name, "top", &[]);
        Ok(top)
    }

    async fn container_stats(
        &self,
        id_or_name: String,
        options: StatsOptions,
    ) -> Result<StatsStream, ApiError> {
        stats::container_stats(self.engine.clone(), id_or_name, options).await
    }

    async fn container_remove(
        &self,
        id_or_name: String,
        options: RemoveOptions,
    ) -> Result<(), ApiError> {
        if options.link {
            return Err(ApiError::invalid_parameter(
                "berth has no container links to remove",
            ));
        }
        self.engine
            .remove_container(&id_or_name, options.force, options.volumes)
            .await
            .map(drop)
            .map_err(api_error)
    }

    async fn container_list(
        &self,
        options: ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>, ApiError> {
        containers::list(self, options).await
    }

    async fn container_inspect(
        &self,
        id_or_name: String,
        size: bool,
    ) -> Result<ContainerInspectResponse, ApiError> {
        containers::inspect(self, id_or_name, size).await
    }

    async fn container_stat_path(
        &self,
        id_or_name: String,
        path: String,
    ) -> Result<ContainerPathStat, ApiError> {
        let c = self.container(&id_or_name)?;
        archive::stat_path(&self.oci, c, path).await
    }

    async fn container_archive(
        &self,
        id_or_name: String,
        path: String,
    ) -> Result<(ContainerPathStat, ByteStream), ApiError> {
        let c = self.container(&id_or_name)?;
        let archive = archive::get_archive(&self.oci, c, path).await?;
        self.event(&id_or_name, "archive-path", &[]);
        Ok(archive)
    }

    async fn container_extract(
        &self,
        id_or_name: String,
        path: String,
        options: ExtractOptions,
        tarball: RequestBody,
    ) -> Result<(), ApiError> {
        let c = self.container(&id_or_name)?;
        archive::put_archive(&self.oci, c, path, options, tarball).await?;
        self.event(&id_or_name, "extract-to-dir", &[]);
        Ok(())
    }

    async fn container_export(&self, id_or_name: String) -> Result<ByteStream, ApiError> {
        let c = self.container(&id_or_name)?;
        let tarball = archive::export(&self.oci, c).await?;
        self.event(&id_or_name, "export", &[]);
        Ok(tarball)
    }

    async fn container_changes(
        &self,
        id_or_name: String,
    ) -> Result<Vec<FilesystemChange>, ApiError> {
        let c = self.container(&id_or_name)?;
        archive::changes(&self.oci, c).await
    }

    async fn container_wait(
        &self,
        id_or_name: String,
        condition: WaitCondition,
    ) -> Result<WaitFuture, ApiError> {
        containers::wait(self, id_or_name, condition).await
    }

    async fn container_logs(
        &self,
        id_or_name: String,
        options: LogsOptions,
    ) -> Result<ContainerLogs, ApiError> {
        let c = self.container(&id_or_name)?;
        streams::logs(&self.oci, &c, options)
    }

    async fn container_attach(
        &self,
        id_or_name: String,
        options: AttachOptions,
    ) -> Result<ContainerAttach, ApiError> {
        let c = self.container(&id_or_name)?;
        let attach = streams::attach(&self.oci, &c, options)?;
        self.engine.container_event(&c, "attach", &[]);
        Ok(attach)
    }

    async fn container_resize(&self, id_or_name: String, size: TtySize) -> Result<(), ApiError> {
        let c = self
            .engine
            .resizable_container(&id_or_name)
            .map_err(api_error)?;
        let (w, h) = streams::tty_dims(size);
        let id = c.id.clone();
        self.oci
            .blocking(move |rt, _| rt.resize(&id, w, h))
            .await
            .map_err(oci_error)?;
        let extra = [("height", h.to_string()), ("width", w.to_string())];
        self.engine.container_event(&c, "resize", &extra);
        Ok(())
    }

    async fn container_update(
        &self,
        id_or_name: String,
        update: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse, ApiError> {
        let change = resources::update_request(&update)?;
        self.engine
            .update_container(&id_or_name, change)
            .await
            .map_err(api_error)?;
        Ok(ContainerUpdateResponse { warnings: None })
    }

    async fn exec_create(&self, container: String, config: ExecConfig) -> Result<String, ApiError> {
        let mut c = self.engine.exec_target(&container).map_err(api_error)?;
        // As Docker, an exec gets the variables of the container's links.
        c.process.env = self.engine.link_facts(&c).env_before(&c.process.env);
        let image = berth_oci::image::ImageId::parse(&c.image_id).map_err(oci_error)?;
        let image_rootfs = self.oci.images().rootfs(&image);
        Ok(self.execs.create(&c, config, image_rootfs))
    }

    async fn exec_start_detached(
        &self,
        exec_id: String,
        options: ExecStartOptions,
    ) -> Result<(), ApiError> {
        streams::exec_start_detached(Arc::clone(&self.execs), self.oci.clone(), &exec_id, options)
            .await
    }

    async fn exec_start_attached(
        &self,
        exec_id: String,
        options: ExecStartOptions,
    ) -> Result<StreamSession, ApiError> {
        streams::exec_start_attached(Arc::clone(&self.execs), self.oci.clone(), &exec_id, options)
    }

    async fn exec_resize(&self, exec_id: String, size: TtySize) -> Result<(), ApiError> {
        streams::exec_resize(&self.execs, &self.oci, &exec_id, size).await
    }

    async fn exec_inspect(&self, exec_id: String) -> Result<ExecInspectResponse, ApiError> {
        self.execs.inspect(&exec_id)
    }

    async fn image_import(
        &self,
        options: ImageImportOptions,
        tarball: RequestBody,
    ) -> Result<String, ApiError> {
        images::import(&self.engine, options, tarball).await
    }

    async fn image_pull(&self, options: ImagePullOptions) -> Result<PullStream, ApiError> {
        pull::pull(&self.engine, &self.oci, options).await
    }

    async fn image_list(&self, options: ImageListOptions) -> Result<Vec<ImageSummary>, ApiError> {
        let containers = self.engine.containers();
        images::list(&self.oci, &options, &containers).await
    }

    async fn image_inspect(&self, name: String) -> Result<ImageInspect, ApiError> {
        images::inspect(&self.oci, &name).await
    }

    async fn image_remove(
        &self,
        name: String,
        options: ImageRemoveOptions,
    ) -> Result<Vec<ImageDeleteResponseItem>, ApiError> {
        images::remove(&self.engine, name, options).await
    }

    async fn image_push(
        &self,
        name: String,
        tag: Option<String>,
        registry_auth: Option<String>,
    ) -> Result<PullStream, ApiError> {
        pull::push(&self.engine, &self.oci, name, tag, registry_auth).await
    }

    async fn image_save(&self, names: Vec<String>) -> Result<ByteStream, ApiError> {
        archive::save(&self.oci, names).await
    }

    async fn image_load(&self, archive: RequestBody) -> Result<Vec<String>, ApiError> {
        images::load(&self.engine, &self.oci, archive).await
    }

    async fn image_history(&self, name: String) -> Result<Vec<ImageHistoryResponseItem>, ApiError> {
        commit::history(&self.oci, name).await
    }

    async fn image_build(
        &self,
        options: ImageBuildOptions,
        context: RequestBody,
    ) -> Result<BuildStream, ApiError> {
        build::build(self.clone(), options, context).await
    }

    async fn container_commit(&self, options: ContainerCommitOptions) -> Result<String, ApiError> {
        let c = self.container(&options.container)?;
        commit::commit(&self.engine, &self.oci, c, options).await
    }

    async fn image_tag(
        &self,
        name: String,
        repo: String,
        tag: Option<String>,
    ) -> Result<(), ApiError> {
        images::tag(&self.engine, &self.oci, &name, &repo, tag.as_deref()).await
    }

    async fn container_prune(&self, filters: Filters) -> Result<ContainerPruneResponse, ApiError> {
        housekeeping::container_prune(&self.engine, &self.oci, &filters).await
    }

    async fn image_prune(&self, filters: Filters) -> Result<ImagePruneResponse, ApiError> {
        housekeeping::image_prune(&self.engine, &self.oci, &filters).await
    }

    async fn events(&self, query: EventsQuery) -> Result<EventFeed, ApiError> {
        Ok(events::feed(&self.engine, query))
    }

    async fn system_auth(&self, auth: RegistryAuth) -> Result<AuthResponse, ApiError> {
        pull::login(&self.oci, auth).await
    }

    async fn system_data_usage(&self, options: DataUsageOptions) -> Result<DataUsage, ApiError> {
        housekeeping::data_usage(&self.engine, &self.oci, options).await
    }

    async fn volume_list(&self, filters: Filters) -> Result<VolumeListResponse, ApiError> {
        volumes::list(self, filters).await
    }

    async fn volume_inspect(&self, name: String) -> Result<Volume, ApiError> {
        volumes::inspect(self, name).await
    }

    async fn volume_create(&self, req: VolumeCreateRequest) -> Result<Volume, ApiError> {
        volumes::create(self, req).await
    }

    async fn volume_remove(&self, name: String, force: bool) -> Result<(), ApiError> {
        volumes::remove(self, name, force).await
    }

    async fn volume_prune(&self, filters: Filters) -> Result<VolumePruneResponse, ApiError> {
        volumes::prune(self, filters).await
    }
}
