//! `/version`, `/info`, `/auth` and `/system/df` (moby
//! `daemon/server/router/system/system_routes.go`).

use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use crate::backend::{Backend, DataUsageOptions, RegistryAuth};
use crate::error::ApiError;
use crate::request::{decode_lenient, filters_param, query_params, read_json_body};
use crate::response::{json_response, ResponseBody};
use crate::version::{API_VERSION, MIN_API_VERSION};

pub(super) async fn version<B: Backend>(backend: &B) -> Result<Response<ResponseBody>, ApiError> {
    let mut version = backend.version().await?;
    // The served range is this crate's to declare; a backend cannot know it.
    version.api_version = Some(API_VERSION.to_owned());
    version.min_api_version = Some(MIN_API_VERSION.to_owned());
    json_response(StatusCode::OK, &version)
}

pub(super) async fn info<B: Backend>(backend: &B) -> Result<Response<ResponseBody>, ApiError> {
    json_response(StatusCode::OK, &backend.info().await?)
}

/// `POST /auth` (`docker login`): Docker's `AuthConfig` as the body.
pub(super) async fn auth<B: Backend>(
    backend: &B,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let body = read_json_body(request).await?;
    let auth: RegistryAuth = if body.is_null() {
        RegistryAuth::default()
    } else {
        decode_lenient(body)?
    };
    json_response(StatusCode::OK, &backend.system_auth(auth).await?)
}

/// `GET /system/df`; `type=` (repeatable) narrows it to some kinds.
pub(super) async fn data_usage<B: Backend>(
    backend: &B,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let types = query_params(uri, "type");
    let mut options = DataUsageOptions::default();
    if !types.is_empty() {
        options = DataUsageOptions {
            containers: false,
            images: false,
            volumes: false,
            build_cache: false,
        };
        for t in types {
            match t.as_str() {
                "container" => options.containers = true,
                "image" => options.images = true,
                "volume" => options.volumes = true,
                "build-cache" => options.build_cache = true,
                other => {
                    return Err(ApiError::invalid_parameter(format!(
                        "unknown object type: {other}"
                    )))
                }
            }
        }
    }
    json_response(StatusCode::OK, &backend.system_data_usage(options).await?)
}

/// `POST /build/prune` (which `docker system prune` sends too): berth
/// builds no images, so there is never a cache to remove. The filters
/// are still read, so a malformed one is refused as dockerd does.
pub(super) fn build_prune(uri: &Uri) -> Result<Response<ResponseBody>, ApiError> {
    filters_param(uri)?;
    json_response(
        StatusCode::OK,
        &serde_json::json!({"CachesDeleted": [], "SpaceReclaimed": 0}),
    )
}
