//! From a hyper request to a response: version prefix, route, version check,
//! the route's handler, and errors rendered in one place.

mod build;
mod container;
mod events;
mod exec;
mod image;
mod network;
mod system;
mod volume;

use std::time::Instant;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::Value;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::response::{
    empty_response, error_response, insert_daemon_headers, json_line, json_response, ping_response,
    response, ErrorFormat, ResponseBody, CONTENT_TYPE_JSON,
};
use crate::routes::{match_route, Route};
use crate::version::{split_version_prefix, ApiVersion, MIN_API_VERSION};

/// dockerd's answer for unknown paths and for known paths with another method
/// (moby `daemon/server/server.go`: `MethodNotAllowedHandler = notFoundHandler`).
const PAGE_NOT_FOUND: &str = "page not found";

/// dockerd's error for swarm endpoints on a node outside a swarm (moby
/// `daemon/cluster/cluster.go`, `errNoManager`).
const NOT_A_SWARM_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

/// Answers one request. Never fails: every error becomes a response.
pub(crate) async fn handle<B: Backend>(
    backend: &B,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (requested_version, route_path) = split_version_prefix(&path);
    let api_version = requested_version.map_or_else(ApiVersion::current, ApiVersion::new);

    let mut response = match match_route(&method, route_path) {
        // dockerd writes "page not found" as JSON whatever the version.
        None => error_response(&ApiError::not_found(PAGE_NOT_FOUND), ErrorFormat::Json),
        Some(route) => {
            let result = match api_version.check_supported() {
                Ok(()) => dispatch(backend, route, &api_version, request).await,
                Err(err) => Err(err),
            };
            result.unwrap_or_else(|err| {
                if err.status().is_server_error() {
                    tracing::error!(%method, %path, error = %err, "API handler failed");
                }
                let format = if api_version.is_below(MIN_API_VERSION) {
                    ErrorFormat::PlainText
                } else {
                    ErrorFormat::Json
                };
                error_response(&err, format)
            })
        }
    };
    insert_daemon_headers(response.headers_mut());
    tracing::debug!(
        %method,
        %path,
        %api_version,
        status = response.status().as_u16(),
        duration = ?started.elapsed(),
        "API request"
    );
    response
}

async fn dispatch<B: Backend>(
    backend: &B,
    route: Route,
    api_version: &ApiVersion,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    match route {
        Route::Options => Ok(empty_response(StatusCode::OK)),
        Route::Ping { head } => Ok(ping_response(head)),
        Route::Version => system::version(backend).await,
        Route::Info => system::info(backend).await,
        Route::NodeList => json_response(StatusCode::OK, &backend.node_list().await?),
        Route::NodeRemove { id } => {
            backend.node_remove(id).await?;
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        Route::Auth => system::auth(backend, request).await,
        Route::SystemDataUsage => system::data_usage(backend, request.uri()).await,
        Route::Events => events::events(backend, request.uri()).await,
        Route::BuildPrune => system::build_prune(request.uri()),
        Route::ContainerPrune => container::prune(backend, request.uri()).await,
        Route::ImagePrune => image::prune(backend, request.uri()).await,
        Route::NetworkList => network::list(backend, request.uri()).await,
        Route::NetworkInspect { id_or_name } => network::inspect(backend, id_or_name).await,
        Route::NetworkCreate => network::create(backend, api_version, request).await,
        Route::NetworkRemove { id_or_name } => network::remove(backend, id_or_name).await,
        Route::NetworkPrune => network::prune(backend, request.uri()).await,
        Route::NetworkConnect { id_or_name } => {
            network::connect(backend, id_or_name, request).await
        }
        Route::NetworkDisconnect { id_or_name } => {
            network::disconnect(backend, id_or_name, request).await
        }
        Route::ContainerCreate => container::create(backend, api_version, request).await,
        Route::ContainerList => container::list(backend, api_version, request.uri()).await,
        Route::ContainerInspect { id_or_name } => {
            container::inspect(backend, id_or_name, api_version, request.uri()).await
        }
        Route::ContainerStart { id_or_name } => {
            container::start(backend, id_or_name, &request).await
        }
        Route::ContainerStop { id_or_name } => {
            container::stop(backend, id_or_name, api_version, request.uri()).await
        }
        Route::ContainerKill { id_or_name } => {
            container::kill(backend, id_or_name, request.uri()).await
        }
        Route::ContainerRestart { id_or_name } => {
            container::restart(backend, id_or_name, api_version, request.uri()).await
        }
        Route::ContainerPause { id_or_name } => container::pause(backend, id_or_name).await,
        Route::ContainerUnpause { id_or_name } => container::unpause(backend, id_or_name).await,
        Route::ContainerRename { id_or_name } => {
            container::rename(backend, id_or_name, request.uri()).await
        }
        Route::ContainerTop { id_or_name } => {
            container::top(backend, id_or_name, request.uri()).await
        }
        Route::ContainerStats { id_or_name } => {
            container::stats(backend, id_or_name, api_version, request.uri()).await
        }
        Route::ContainerArchiveStat { id_or_name } => {
            container::archive_stat(backend, id_or_name, request.uri()).await
        }
        Route::ContainerArchive { id_or_name } => {
            container::archive(backend, id_or_name, request.uri()).await
        }
        Route::ContainerExtract { id_or_name } => {
            container::extract(backend, id_or_name, request).await
        }
        Route::ContainerExport { id_or_name } => container::export(backend, id_or_name).await,
        Route::ContainerChanges { id_or_name } => container::changes(backend, id_or_name).await,
        Route::ContainerRemove { id_or_name } => {
            container::remove(backend, id_or_name, request.uri()).await
        }
        Route::ContainerWait { id_or_name } => {
            container::wait(backend, id_or_name, api_version, request.uri()).await
        }
        Route::ContainerLogs { id_or_name } => {
            container::logs(backend, id_or_name, api_version, request.uri()).await
        }
        Route::ContainerAttach { id_or_name } => {
            container::attach(backend, id_or_name, api_version, request).await
        }
        Route::ContainerResize { id_or_name } => {
            container::resize(backend, id_or_name, request.uri()).await
        }
        Route::ContainerUpdate { id_or_name } => {
            container::update(backend, id_or_name, request).await
        }
        Route::ExecCreate { container } => {
            exec::create(backend, container, api_version, request).await
        }
        Route::ExecStart { exec_id } => exec::start(backend, exec_id, api_version, request).await,
        Route::ExecResize { exec_id } => exec::resize(backend, exec_id, request.uri()).await,
        Route::ExecInspect { exec_id } => exec::inspect(backend, exec_id).await,
        Route::ImageCreate => image::create(backend, request).await,
        Route::ImageList => image::list(backend, api_version, request.uri()).await,
        Route::ImageInspect { name } => {
            image::inspect(backend, name, api_version, request.uri()).await
        }
        Route::ImageRemove { name } => image::remove(backend, name, request.uri()).await,
        Route::ImageTag { name } => image::tag(backend, name, request).await,
        Route::ImagePush { name } => image::push(backend, name, request).await,
        Route::ImageHistory { name } => image::history(backend, name).await,
        Route::ContainerCommit => image::commit(backend, request).await,
        Route::Build => build::build(backend, request).await,
        Route::ImageLoad => image::load(backend, request).await,
        Route::ImageSave { name } => image::save(backend, name, request.uri()).await,
        Route::VolumeList => volume::list(backend, request.uri()).await,
        Route::VolumeInspect { name } => volume::inspect(backend, name).await,
        Route::VolumeCreate => volume::create(backend, request).await,
        Route::VolumeRemove { name } => volume::remove(backend, name, request.uri()).await,
        Route::VolumePrune => volume::prune(backend, api_version, request.uri()).await,
        Route::Swarm => Err(ApiError::unavailable(NOT_A_SWARM_MANAGER)),
    }
}

/// A typed value as a JSON tree, for responses the API version reshapes.
fn to_json_value<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value)
        .map_err(|err| ApiError::internal(format!("encoding the response failed: {err}")))
}

/// A JSON tree as the response body. Keys come out sorted, as dockerd's own
/// version-compat wrapper (a Go map) writes them.
fn value_response(status: StatusCode, value: Value) -> Result<Response<ResponseBody>, ApiError> {
    let mut reply = response(status, json_line(&value)?);
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    Ok(reply)
}
