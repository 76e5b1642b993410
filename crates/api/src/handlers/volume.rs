//! `/volumes...` (moby `daemon/server/router/volume/volume_routes.go`).

use bollard_stubs::models::VolumeCreateRequest;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use serde_json::Value;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::request::{bool_param, decode_lenient, filters_param, read_json_body};
use crate::response::{empty_response, json_response, ResponseBody};
use crate::version::ApiVersion;

/// The API version since which `volume prune` keeps named volumes.
const PRUNE_ANONYMOUS_ONLY_SINCE: &str = "1.42";

pub(super) async fn list<B: Backend>(
    backend: &B,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let filters = filters_param(uri)?;
    json_response(StatusCode::OK, &backend.volume_list(filters).await?)
}

pub(super) async fn inspect<B: Backend>(
    backend: &B,
    name: String,
) -> Result<Response<ResponseBody>, ApiError> {
    json_response(StatusCode::OK, &backend.volume_inspect(name).await?)
}

/// An empty body is a volume with a random name, as in dockerd.
pub(super) async fn create<B: Backend>(
    backend: &B,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let body = match read_json_body(request).await? {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other,
    };
    let create: VolumeCreateRequest = decode_lenient(body)?;
    let volume = backend.volume_create(create).await?;
    json_response(StatusCode::CREATED, &volume)
}

pub(super) async fn remove<B: Backend>(
    backend: &B,
    name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    backend
        .volume_remove(name, bool_param(uri, "force"))
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// Before API 1.42 a prune took named volumes too; since, only anonymous
/// ones unless the `all` filter says otherwise (moby's router adds it for
/// older clients).
pub(super) async fn prune<B: Backend>(
    backend: &B,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let mut filters = filters_param(uri)?;
    if api_version.is_below(PRUNE_ANONYMOUS_ONLY_SINCE) {
        filters
            .entry("all".to_owned())
            .or_insert_with(|| vec!["true".to_owned()]);
    }
    json_response(StatusCode::OK, &backend.volume_prune(filters).await?)
}
