//! `/version` and `/info` (moby `daemon/server/router/system/system_routes.go`).

use http::{Response, StatusCode};

use crate::backend::Backend;
use crate::error::ApiError;
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
