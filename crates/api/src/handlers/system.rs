//! `/version` and `/info` (moby `daemon/server/router/system/system_routes.go`).

use http::{Response, StatusCode, Uri};

use crate::backend::{Backend, DataUsageOptions};
use crate::error::ApiError;
use crate::request::{filters_param, query_params};
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
