//! The API's `Backend`, implemented over the engine: wire types in, core
//! commands out, core results back to Docker's JSON shapes. The one place
//! that knows both sides. Streams (attach, logs, exec) and image reads talk
//! to the OCI adapter directly: they change no shared state.

mod archive;
mod build;
mod commit;
mod events;
mod fields;
mod housekeeping;
mod images;
mod nodes;
mod pull;
mod resources;
mod security;
mod stats;
mod storage;
mod streams;
mod system;
mod top;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use berth_api::{
    ApiError, AttachOptions, AuthResponse, Backend, BuildStream, ByteStream, ContainerAttach,
    ContainerCommitOptions, ContainerListOptions, ContainerLogs, ContainerPathStat, DataUsage,
    DataUsageOptions, ErrorKind, EventFeed, EventsQuery, ExecStartOptions, ExtractOptions, Filters,
    ImageBuildOptions, ImageImportOptions, ImageListOptions, ImagePullOptions, ImageRemoveOptions,
    LogsOptions, PullStream, RegistryAuth, RemoveOptions, RequestBody, StatsOptions, StatsStream,
    StopOptions, StreamSession, TtySize, WaitCondition, WaitFuture,
};
use berth_core::container::StopSignal;
use berth_core::filter::{ContainerFilter, ListFilter, PruneFilter};
use berth_core::handle::stop_grace;
use berth_core::network::{IpamInput, NetworkCreate};
use berth_core::volume::{VolumeCreate, VolumeFilter, VolumePrune};
use berth_core::EngineHandle;
use berth_oci::OciAdapter;
use berth_types::Driver;
use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerPruneResponse,
    ContainerSummary, ContainerTopResponse, ContainerUpdateBody, ContainerUpdateResponse,
    ContainerWaitExitError, ContainerWaitResponse, ExecConfig, ExecInspectResponse,
    FilesystemChange, ImageDeleteResponseItem, ImageHistoryResponseItem, ImageInspect,
    ImagePruneResponse, ImageSummary, NetworkConnectRequest, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, NetworkInspect, NetworkPruneResponse,
    SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum,
    SystemInfoDefaultAddressPools, SystemVersion, SystemVersionComponents, SystemVersionPlatform,
    Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
};

use crate::cluster::ClusterView;
use crate::config::Config;
use crate::host::RealHost;
use streams::Execs;

const VERSION: &str = env!("CARGO_PKG_VERSION");

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

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn network_create(req: NetworkCreateRequest) -> NetworkCreate {
    let ipam = req.ipam.unwrap_or_default();
    let to_btree = |m: Option<HashMap<String, String>>| m.unwrap_or_default().into_iter().collect();
    NetworkCreate {
        name: req.name,
        driver: req.driver.unwrap_or_default(),
        ipam_driver: ipam.driver.unwrap_or_default(),
        ipam: ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|c| IpamInput {
                subnet: c.subnet.unwrap_or_default(),
                ip_range: c.ip_range.unwrap_or_default(),
                gateway: c.gateway.unwrap_or_default(),
                aux_addresses: to_btree(c.auxiliary_addresses),
            })
            .collect(),
        enable_ipv4: req.enable_ipv4,
        enable_ipv6: req.enable_ipv6,
        internal: req.internal.unwrap_or(false),
        attachable: req.attachable.unwrap_or(false),
        options: to_btree(req.options),
        labels: to_btree(req.labels),
    }
}

impl Backend for DaemonBackend {
    async fn version(&self) -> Result<SystemVersion, ApiError> {
        let arch = system::go_arch(std::env::consts::ARCH);
        let engine = SystemVersionComponents {
            name: "Engine".to_owned(),
            version: VERSION.to_owned(),
            details: Some(HashMap::from([
                ("ApiVersion".to_owned(), berth_api::API_VERSION.to_owned()),
                (
                    "MinAPIVersion".to_owned(),
                    berth_api::MIN_API_VERSION.to_owned(),
                ),
                ("Os".to_owned(), "linux".to_owned()),
                ("Arch".to_owned(), arch.to_owned()),
                ("KernelVersion".to_owned(), kernel_version()),
            ])),
        };
        Ok(SystemVersion {
            platform: Some(SystemVersionPlatform {
                name: "berth".to_owned(),
            }),
            components: Some(vec![engine]),
            version: Some(VERSION.to_owned()),
            api_version: Some(berth_api::API_VERSION.to_owned()),
            min_api_version: Some(berth_api::MIN_API_VERSION.to_owned()),
            git_commit: Some(String::new()),
            go_version: Some("n/a (Rust)".to_owned()),
            os: Some("linux".to_owned()),
            arch: Some(arch.to_owned()),
            kernel_version: Some(kernel_version()),
            experimental: Some(false),
            build_time: Some(String::new()),
        })
    }

    async fn info(&self) -> Result<SystemInfo, ApiError> {
        let name = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let capacity = berth_core::ports::Runtime::capacity(&self.oci);
        let containers = self.engine.containers();
        let paused = containers.iter().filter(|c| c.state.paused).count();
        // Docker counts a container waiting out its restart back-off as
        // running.
        let running = containers
            .iter()
            .filter(|c| (c.is_running() || c.state.restarting) && !c.state.paused)
            .count();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let images = self.oci.images().list().map(|l| l.len()).unwrap_or(0);
        let os = system::os_release();
        // Docker's ClusterStore and ClusterAdvertise left the API (1.50
        // lacks them): berth shows them as daemon labels, and its cluster
        // id as the daemon's.
        let (id, labels) = match &self.cluster {
            Some(c) => (
                c.node_id.clone(),
                vec![
                    format!("berth.cluster-store={}", c.store_url),
                    format!("berth.cluster-advertise={}", c.advertise),
                ],
            ),
            None => (String::new(), Vec::new()),
        };
        Ok(SystemInfo {
            id: Some(id),
            containers: Some(count(containers.len())),
            containers_running: Some(count(running)),
            containers_paused: Some(count(paused)),
            containers_stopped: Some(count(containers.len() - running - paused)),
            images: Some(count(images)),
            driver: Some("overlay".to_owned()),
            docker_root_dir: Some(self.data_root.clone()),
            ipv4_forwarding: Some(true),
            debug: Some(false),
            system_time: Some(wire::timestamp(SystemTime::now())),
            logging_driver: Some("json-file".to_owned()),
            kernel_version: Some(kernel_version()),
            operating_system: Some(os.pretty_name),
            os_version: Some(os.version_id),
            os_type: Some("linux".to_owned()),
            // Docker's `info` reports uname's machine (`x86_64`); only
            // `version` uses Go's names.
            architecture: Some(std::env::consts::ARCH.to_owned()),
            mem_total: Some(system::mem_total()),
            // Containers run under their shims and survive berthd.
            live_restore_enabled: Some(true),
            ncpu: Some(i64::from(capacity.cpus)),
            // What berth applies, so `docker info` warns as Docker does
            // about what this host lacks.
            memory_limit: Some(true),
            swap_limit: Some(capacity.swap_limit),
            cpu_cfs_period: Some(true),
            cpu_cfs_quota: Some(true),
            cpu_shares: Some(true),
            cpu_set: Some(true),
            pids_limit: Some(true),
            oom_kill_disable: Some(capacity.oom_kill_disable),
            cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
            cgroup_version: Some(
                if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                    SystemInfoCgroupVersionEnum::_2
                } else {
                    SystemInfoCgroupVersionEnum::_1
                },
            ),
            name: Some(name),
            server_version: Some(VERSION.to_owned()),
            default_runtime: Some("runc".to_owned()),
            default_address_pools: Some(self.address_pools.clone()),
            labels: Some(labels),
            warnings: Some(Vec::new()),
            ..Default::default()
        })
    }

    async fn node_list(&self) -> Result<Vec<berth_api::Node>, ApiError> {
        nodes::list(self.cluster.as_ref()).await
    }

    async fn node_remove(&self, id: String) -> Result<(), ApiError> {
        nodes::remove(self.cluster.as_ref(), &id).await
    }

    async fn network_list(&self, filters: Filters) -> Result<Vec<NetworkInspect>, ApiError> {
        let filter = ListFilter::parse(&filters).map_err(api_error)?;
        let networks = self.engine.list_networks(&filter);
        // Docker's list leaves Containers empty; inspect fills it.
        Ok(networks
            .iter()
            .map(|n| wire::network_to_wire(n, &[]))
            .collect())
    }

    async fn network_inspect(&self, id_or_name: String) -> Result<NetworkInspect, ApiError> {
        let network = self
            .engine
            .inspect_network(&id_or_name)
            .map_err(api_error)?;
        let members = self.engine.network_members(&network.id);
        Ok(wire::network_to_wire(&network, &members))
    }

    async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError> {
        let network = self
            .engine
            .create_network(network_create(req))
            .await
            .map_err(api_error)?;
        Ok(NetworkCreateResponse {
            id: network.id.to_string(),
            warning: String::new(),
        })
    }

    async fn network_remove(&self, id_or_name: String) -> Result<(), ApiError> {
        self.engine
            .remove_network(id_or_name)
            .await
            .map_err(api_error)?;
        Ok(())
    }

    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse, ApiError> {
        let filter = PruneFilter::parse(&filters, self.engine.now()).map_err(api_error)?;
        let removed = self
            .engine
            .prune_networks(filter)
            .await
            .map_err(api_error)?;
        Ok(NetworkPruneResponse {
            networks_deleted: Some(removed.iter().map(|n| n.name.to_string()).collect()),
        })
    }

    async fn network_connect(
        &self,
        network: String,
        req: NetworkConnectRequest,
    ) -> Result<(), ApiError> {
        if let Some(endpoint) = &req.endpoint_config {
            fields::check_endpoint(endpoint)?;
        }
        let endpoint = wire::connect_request(req.endpoint_config.as_ref());
        self.engine
            .connect(network, req.container, endpoint)
            .await
            .map_err(api_error)
    }

    async fn network_disconnect(
        &self,
        network: String,
        req: NetworkDisconnectRequest,
    ) -> Result<(), ApiError> {
        self.engine
            .disconnect(network, req.container)
            .await
            .map_err(api_error)
    }

    async fn container_create(
        &self,
        name: Option<String>,
        mut config: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse, ApiError> {
        wire::links_to_host_config(&mut config);
        fields::check_create(&config)?;
        if let Some(host) = &config.host_config {
            storage::check(host)?;
        }
        // dockerd's check, on the request: create drops the bindings of a
        // container on the host's network.
        let host_config = config.host_config.as_ref();
        let discards_ports = host_config.is_some_and(|h| {
            h.network_mode.as_deref() == Some("host")
                && h.port_bindings.as_ref().is_some_and(|b| !b.is_empty())
        });
        let stop_signal = given_signal(config.stop_signal.as_deref())?.map(|number| StopSignal {
            name: config.stop_signal.clone().unwrap_or_default(),
            number,
        });
        let mut req = wire::create_request(name, config);
        req.stop_signal = stop_signal;
        let c = self.engine.create_container(req).await.map_err(api_error)?;
        let mut warnings = c.resources.warnings();
        if discards_ports && matches!(c.network_mode, berth_core::container::NetworkMode::Host) {
            warnings.push("Published ports are discarded when using host network mode".to_owned());
        }
        // As Docker, `-p` on a macvlan network is ignored: said, not hidden.
        let first_driver = c
            .attachments
            .first()
            .and_then(|a| self.engine.inspect_network(a.network.as_str()).ok())
            .map(|n| n.driver);
        if let Some(driver @ (Driver::Macvlan | Driver::Ipvlan)) = first_driver {
            if !c.ports.is_empty() || c.publish_all {
                warnings.push(format!(
                    "Published ports are discarded when using the {driver} network driver"
                ));
            }
        }
        Ok(ContainerCreateResponse {
            id: c.id.to_string(),
            warnings,
        })
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
        // The query's own `since`/`before` (old clients) are the filters'.
        let mut filters = options.filters;
        for (key, value) in [("since", options.since), ("before", options.before)] {
            if let Some(value) = value {
                filters.entry(key.to_owned()).or_default().push(value);
            }
        }
        let filter = ContainerFilter::parse(&filters).map_err(api_error)?;
        let mut list = self
            .engine
            .list_containers(options.all, &filter)
            .map_err(api_error)?;
        if let Some(limit) = options.limit {
            list.truncate(limit);
        }
        let networks = self.networks();
        let now = SystemTime::now();
        let mut summaries = Vec::with_capacity(list.len());
        for c in &list {
            let health = self.engine.health(&c.id);
            let mut summary = wire::container_summary(c, health.as_ref(), &networks, now);
            if options.size {
                let (rw, root_fs) = archive::sizes(&self.oci, c).await?;
                summary.size_rw = Some(rw);
                summary.size_root_fs = Some(root_fs);
            }
            summaries.push(summary);
        }
        Ok(summaries)
    }

    async fn container_inspect(
        &self,
        id_or_name: String,
        size: bool,
    ) -> Result<ContainerInspectResponse, ApiError> {
        let c = self.container(&id_or_name)?;
        let sizes = if size {
            Some(archive::sizes(&self.oci, &c).await?)
        } else {
            None
        };
        let networks = self.networks();
        let layout = self.oci.runtime().layout();
        let dir = layout.container_data_dir(&c.id);
        let paths = wire::Paths {
            resolv_conf: dir.join("resolv.conf").display().to_string(),
            hosts: dir.join("hosts").display().to_string(),
            hostname: dir.join("hostname").display().to_string(),
            log: layout.log_file(&c.id).display().to_string(),
        };
        let health = self.engine.health(&c.id);
        // Links name their targets as they are called now.
        let link_targets: Vec<String> = c
            .links
            .iter()
            .map(|l| {
                self.engine
                    .inspect_container(l.target.as_str())
                    .map_or_else(|_| l.target.to_string(), |t| t.name.clone())
            })
            .collect();
        let mut inspect =
            wire::container_inspect(&c, health.as_ref(), &link_targets, &networks, paths);
        if let Some((rw, root_fs)) = sizes {
            inspect.size_rw = Some(rw);
            inspect.size_root_fs = Some(root_fs);
        }
        Ok(inspect)
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
        let c = self.container(&id_or_name)?;
        let condition = match condition {
            WaitCondition::NotRunning => berth_core::WaitCondition::NotRunning,
            WaitCondition::NextExit => berth_core::WaitCondition::NextExit,
            WaitCondition::Removed => berth_core::WaitCondition::Removed,
        };
        // Subscribed before returning, so an exit right after the headers
        // go out is not missed.
        let waiting = self
            .engine
            .wait_container(c.id.as_str(), condition)
            .map_err(api_error)?;
        Ok(Box::pin(async move {
            match waiting.await {
                Ok(code) => ContainerWaitResponse {
                    status_code: code,
                    error: None,
                },
                Err(e) => ContainerWaitResponse {
                    status_code: -1,
                    error: Some(ContainerWaitExitError {
                        message: Some(e.to_string()),
                    }),
                },
            }
        }))
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
        let filter = VolumeFilter::parse(&filters).map_err(api_error)?;
        let volumes = self.engine.list_volumes(&filter);
        Ok(VolumeListResponse {
            volumes: Some(volumes.iter().map(storage::volume_to_wire).collect()),
            warnings: Some(Vec::new()),
        })
    }

    async fn volume_inspect(&self, name: String) -> Result<Volume, ApiError> {
        let volume = self.engine.inspect_volume(&name).map_err(api_error)?;
        Ok(storage::volume_to_wire(&volume))
    }

    async fn volume_create(&self, req: VolumeCreateRequest) -> Result<Volume, ApiError> {
        if req.cluster_volume_spec.is_some() {
            return Err(ApiError::invalid_parameter(
                "berth does not support cluster volumes",
            ));
        }
        let map = |m: Option<HashMap<String, String>>| m.unwrap_or_default().into_iter().collect();
        let volume = self
            .engine
            .create_volume(VolumeCreate {
                name: req.name.unwrap_or_default(),
                driver: req.driver.unwrap_or_default(),
                labels: map(req.labels),
                options: map(req.driver_opts),
            })
            .await
            .map_err(api_error)?;
        Ok(storage::volume_to_wire(&volume))
    }

    async fn volume_remove(&self, name: String, force: bool) -> Result<(), ApiError> {
        self.engine
            .remove_volume(name, force)
            .await
            .map_err(api_error)
    }

    async fn volume_prune(&self, filters: Filters) -> Result<VolumePruneResponse, ApiError> {
        let filter = VolumePrune::parse(&filters).map_err(api_error)?;
        let (removed, freed) = self.engine.prune_volumes(filter).await.map_err(api_error)?;
        Ok(VolumePruneResponse {
            volumes_deleted: Some(removed),
            space_reclaimed: Some(i64::try_from(freed).unwrap_or(i64::MAX)),
        })
    }
}
