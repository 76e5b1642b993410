//! `stats`: a container's resource use, one JSON document per sample.

use bytes::Bytes;
use futures::StreamExt;
use http::{Response, Uri};

use crate::backend::{Backend, StatsOptions};
use crate::error::ApiError;
use crate::request::{bool_param, query_param};
use crate::response::{json_line, streaming_response, ResponseBody, CONTENT_TYPE_JSON};
use crate::version::ApiVersion;

/// `one-shot` exists since this API version; older clients' is ignored.
const ONE_SHOT_SINCE: &str = "1.41";

pub(in crate::handlers) async fn stats<B: Backend>(
    backend: &B,
    id_or_name: String,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let options = stats_options(api_version, uri)?;
    let documents = backend.container_stats(id_or_name, options).await?;
    let lines = documents.filter_map(|document| {
        // A sample that cannot be encoded is skipped; the next one may be.
        futures::future::ready(json_line(&document).ok().map(Bytes::from))
    });
    Ok(streaming_response(CONTENT_TYPE_JSON, lines))
}

/// dockerd's `BoolValueOrDefault`: `stream` is true unless given.
fn stats_options(api_version: &ApiVersion, uri: &Uri) -> Result<StatsOptions, ApiError> {
    let stream = query_param(uri, "stream").is_none() || bool_param(uri, "stream");
    let one_shot = !api_version.is_below(ONE_SHOT_SINCE) && bool_param(uri, "one-shot");
    if stream && one_shot {
        return Err(ApiError::invalid_parameter(
            "cannot have stream=true and one-shot=true",
        ));
    }
    Ok(StatsOptions { stream, one_shot })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(version: &str, query: &str) -> Result<StatsOptions, ApiError> {
        stats_options(
            &ApiVersion::new(version),
            &format!("/containers/c1/stats{query}").parse().unwrap(),
        )
    }

    #[test]
    fn stream_by_default_and_one_shot_only_without_it() {
        let opts = |stream, one_shot| StatsOptions { stream, one_shot };
        assert_eq!(options("1.50", "").unwrap(), opts(true, false));
        assert_eq!(options("1.50", "?stream=0").unwrap(), opts(false, false));
        assert_eq!(
            options("1.50", "?stream=false&one-shot=1").unwrap(),
            opts(false, true)
        );
        assert_eq!(
            options("1.40", "?stream=0&one-shot=1").unwrap(),
            opts(false, false)
        );
        let err = options("1.50", "?one-shot=true").unwrap_err();
        assert_eq!(err.message, "cannot have stream=true and one-shot=true");
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    }
}
