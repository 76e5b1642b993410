//! `/volumes...` (moby `daemon/server/router/volume/volume_routes.go`).

use bollard_stubs::models::VolumeCreateRequest;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use serde_json::Value;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::request::{bool_param, decode_lenient, filters_param, read_json_body};
use crate::response::{empty_response, json_response, ResponseBody};

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

pub(super) async fn prune<B: Backend>(
    backend: &B,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let filters = filters_param(uri)?;
    json_response(StatusCode::OK, &backend.volume_prune(filters).await?)
}
