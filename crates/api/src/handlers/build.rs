//! `POST /build` (moby `api/server/router/build/build_routes.go`), the
//! classic builder's API: the query read into [`ImageBuildOptions`], every
//! option berth's builder does not apply refused by name when set, and the
//! build's messages streamed as dockerd writes them.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use serde_json::json;

use crate::backend::{Backend, BuildMessage, ImageBuildOptions};
use crate::error::ApiError;
use crate::request::{bool_param, query_param, query_params};
use crate::response::{streaming_response, ResponseBody, CONTENT_TYPE_JSON};
use crate::stream::RequestBody;

/// Parameters read into the options.
const TAKEN: &[&str] = &[
    "t",
    "dockerfile",
    "buildargs",
    "nocache",
    "rm",
    "forcerm",
    "target",
    "q",
];

/// Parameters the docker CLI always sends; refused only when not at
/// their "unset" value.
fn unset(name: &str, value: &str) -> bool {
    let v = value.trim();
    matches!(
        v.to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "null" | "[]" | "{}"
    ) || (name == "networkmode" && matches!(v, "default" | "bridge"))
        || (name == "version" && v == "1")
}

pub(super) async fn build<B: Backend>(
    backend: &B,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let options = options(request.uri());
    let mut context = RequestBody::from_incoming(request.into_body());
    let options = match options {
        Ok(options) => options,
        Err(err) => {
            // Read the context first: a reply sent with request bytes
            // unread resets the connection before the client reads it.
            let _ = tokio::io::copy(&mut context, &mut tokio::io::sink()).await;
            return Err(err);
        }
    };
    let mut messages = backend.image_build(options, context).await?;
    let first = match messages.next().await {
        Some(Err(err)) => return Err(err),
        first => first,
    };
    let lines = futures::stream::iter(first)
        .chain(messages)
        .map(|message| Bytes::from(line(&message)));
    Ok(streaming_response(CONTENT_TYPE_JSON, lines))
}

fn options(uri: &Uri) -> Result<ImageBuildOptions, ApiError> {
    if let Some(query) = uri.query() {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !TAKEN.contains(&name.as_ref()) && !unset(&name, &value) {
                return Err(if name == "version" {
                    ApiError::invalid_parameter(format!(
                        "berth has no BuildKit: builder version {value:?} is not supported"
                    ))
                } else {
                    ApiError::not_implemented(format!(
                        "berth's builder does not support the build option {name}={value}"
                    ))
                });
            }
        }
    }
    let build_args = match query_param(uri, "buildargs").filter(|v| !v.is_empty()) {
        Some(json) => serde_json::from_str::<Option<BTreeMap<String, Option<String>>>>(&json)
            .map_err(|e| ApiError::invalid_parameter(format!("invalid buildargs: {e}")))?
            .unwrap_or_default(),
        None => BTreeMap::new(),
    };
    Ok(ImageBuildOptions {
        tags: query_params(uri, "t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        dockerfile: query_param(uri, "dockerfile")
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "Dockerfile".to_owned()),
        build_args,
        no_cache: bool_param(uri, "nocache"),
        remove: query_param(uri, "rm").is_none_or(|_| bool_param(uri, "rm")),
        force_remove: bool_param(uri, "forcerm"),
        target: query_param(uri, "target").unwrap_or_default(),
        quiet: bool_param(uri, "q"),
    })
}

/// One line of the stream, `\r\n`-terminated as dockerd's.
fn line(message: &Result<BuildMessage, ApiError>) -> Vec<u8> {
    let value = match message {
        Ok(BuildMessage::Stream(text)) => json!({ "stream": text }),
        Ok(BuildMessage::Aux(id)) => json!({"aux": {"ID": id}}),
        Err(err) => json!({"errorDetail": {"message": err.message}, "error": err.message}),
    };
    let mut line = value.to_string().into_bytes();
    line.extend_from_slice(b"\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_the_cli_sends_are_unset() {
        for (name, value) in [
            ("memory", "0"),
            ("cachefrom", "null"),
            ("labels", "{}"),
            ("networkmode", "default"),
            ("version", "1"),
            ("pull", "False"),
        ] {
            assert!(unset(name, value), "{name}={value}");
        }
        assert!(!unset("memory", "1g"));
        assert!(!unset("version", "2"));
        assert!(!unset("networkmode", "host"));
        assert!(!unset("labels", r#"{"a":"b"}"#));
    }

    #[test]
    fn lines_are_dockerds() {
        assert_eq!(
            line(&Ok(BuildMessage::Stream(
                "Step 1/2 : FROM busybox\n".into()
            ))),
            b"{\"stream\":\"Step 1/2 : FROM busybox\\n\"}\r\n"
        );
        assert_eq!(
            line(&Ok(BuildMessage::Aux("sha256:ab".into()))),
            b"{\"aux\":{\"ID\":\"sha256:ab\"}}\r\n"
        );
    }
}
