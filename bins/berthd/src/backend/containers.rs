//! The container endpoints with more to do than call the engine: create
//! (its checks and warnings), list and inspect (sizes, health, links' names)
//! and wait.

use std::time::SystemTime;

use berth_api::{ApiError, ContainerListOptions, WaitCondition, WaitFuture};
use berth_core::container::StopSignal;
use berth_core::filter::ContainerFilter;
use berth_types::Driver;
use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerSummary,
    ContainerWaitExitError, ContainerWaitResponse,
};

use super::{api_error, archive, fields, given_signal, storage, wire, DaemonBackend};

/// `POST /containers/create`, with the warnings Docker gives.
pub(super) async fn create(
    backend: &DaemonBackend,
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
    let c = backend
        .engine
        .create_container(req)
        .await
        .map_err(api_error)?;
    let mut warnings = c.resources.warnings();
    if discards_ports && matches!(c.network_mode, berth_core::container::NetworkMode::Host) {
        warnings.push("Published ports are discarded when using host network mode".to_owned());
    }
    // As Docker, `-p` on a macvlan network is ignored: said, not hidden.
    let first_driver = c
        .attachments
        .first()
        .and_then(|a| backend.engine.inspect_network(a.network.as_str()).ok())
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

/// `GET /containers/json`.
pub(super) async fn list(
    backend: &DaemonBackend,
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
    let mut list = backend
        .engine
        .list_containers(options.all, &filter)
        .map_err(api_error)?;
    if let Some(limit) = options.limit {
        list.truncate(limit);
    }
    let networks = backend.networks();
    let now = SystemTime::now();
    let mut summaries = Vec::with_capacity(list.len());
    for c in &list {
        let health = backend.engine.health(&c.id);
        let mut summary = wire::container_summary(c, health.as_ref(), &networks, now);
        if options.size {
            let (rw, root_fs) = archive::sizes(&backend.oci, c).await?;
            summary.size_rw = Some(rw);
            summary.size_root_fs = Some(root_fs);
        }
        summaries.push(summary);
    }
    Ok(summaries)
}

/// `GET /containers/{id}/json`.
pub(super) async fn inspect(
    backend: &DaemonBackend,
    id_or_name: String,
    size: bool,
) -> Result<ContainerInspectResponse, ApiError> {
    let c = backend.container(&id_or_name)?;
    let sizes = if size {
        Some(archive::sizes(&backend.oci, &c).await?)
    } else {
        None
    };
    let networks = backend.networks();
    let layout = backend.oci.runtime().layout();
    let dir = layout.container_data_dir(&c.id);
    let paths = wire::Paths {
        resolv_conf: dir.join("resolv.conf").display().to_string(),
        hosts: dir.join("hosts").display().to_string(),
        hostname: dir.join("hostname").display().to_string(),
        log: layout.log_file(&c.id).display().to_string(),
    };
    let health = backend.engine.health(&c.id);
    // Links name their targets as they are called now.
    let link_targets: Vec<String> = c
        .links
        .iter()
        .map(|l| {
            backend
                .engine
                .inspect_container(l.target.as_str())
                .map_or_else(|_| l.target.to_string(), |t| t.name.clone())
        })
        .collect();
    let mut inspect = wire::container_inspect(&c, health.as_ref(), &link_targets, &networks, paths);
    if let Some((rw, root_fs)) = sizes {
        inspect.size_rw = Some(rw);
        inspect.size_root_fs = Some(root_fs);
    }
    Ok(inspect)
}

/// `POST /containers/{id}/wait`: subscribed before it returns.
pub(super) async fn wait(
    backend: &DaemonBackend,
    id_or_name: String,
    condition: WaitCondition,
) -> Result<WaitFuture, ApiError> {
    let c = backend.container(&id_or_name)?;
    let condition = match condition {
        WaitCondition::NotRunning => berth_core::WaitCondition::NotRunning,
        WaitCondition::NextExit => berth_core::WaitCondition::NextExit,
        WaitCondition::Removed => berth_core::WaitCondition::Removed,
    };
    // Subscribed before returning, so an exit right after the headers
    // go out is not missed.
    let waiting = backend
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
