//! `/containers/{id}/exec` and `/exec...` (moby
//! `daemon/server/router/container/exec.go`).

use bollard_stubs::models::{ExecConfig, ExecStartConfig};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::Value;

use crate::backend::{Backend, ExecStartOptions, TtySize};
use crate::error::ApiError;
use crate::handlers::container::tty_size;
use crate::hijack::{Hijack, SessionErrors};
use crate::request::{decode_lenient, read_json_body};
use crate::response::{empty_response, json_response, ResponseBody};
use crate::version::ApiVersion;

/// `ConsoleSize` arrived in API 1.42; dockerd ignores it from older clients.
const CONSOLE_SIZE_SINCE: &str = "1.42";

/// dockerd's `ExecCreateResponse`. (bollard's `IdResponse` would write `id`.)
#[derive(Serialize)]
struct ExecCreated {
    #[serde(rename = "Id")]
    id: String,
}

pub(super) async fn create<B: Backend>(
    backend: &B,
    container: String,
    api_version: &ApiVersion,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let body = read_json_body(request).await?;
    let mut config: ExecConfig = decode_lenient(object_or_empty(body))?;
    if config.cmd.as_ref().is_none_or(Vec::is_empty) {
        return Err(ApiError::invalid_parameter("No exec command specified"));
    }
    if api_version.is_below(CONSOLE_SIZE_SINCE) {
        config.console_size = None;
    }
    let id = backend.exec_create(container, config).await?;
    json_response(StatusCode::CREATED, &ExecCreated { id })
}

pub(super) async fn start<B: Backend>(
    backend: &B,
    exec_id: String,
    api_version: &ApiVersion,
    mut request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let hijack = Hijack::prepare(&mut request);
    let body = read_json_body(request).await?;
    let start: ExecStartConfig = decode_lenient(object_or_empty(body))?;
    let tty = start.tty.unwrap_or(false);
    let options = ExecStartOptions {
        tty,
        // No console without a TTY, and none from clients that could not send one.
        console_size: if tty && !api_version.is_below(CONSOLE_SIZE_SINCE) {
            start.console_size.as_deref().and_then(console_size)
        } else {
            None
        },
    };
    if start.detach.unwrap_or(false) {
        backend.exec_start_detached(exec_id, options).await?;
        return Ok(empty_response(StatusCode::OK));
    }
    let session = backend.exec_start_attached(exec_id, options).await?;
    Ok(hijack.respond(session, !tty, api_version, SessionErrors::ToClient))
}

/// `[height, width]`, read as Go reads a JSON array into `[2]uint`: missing
/// elements are 0, extra ones ignored. `[0, 0]` (what the CLI sends for "no
/// size") is no size.
fn console_size(size: &[usize]) -> Option<TtySize> {
    let dimension = |index: usize| {
        size.get(index)
            .map_or(0, |value| u32::try_from(*value).unwrap_or(u32::MAX))
    };
    let size = TtySize {
        height: dimension(0),
        width: dimension(1),
    };
    (size.height != 0 || size.width != 0).then_some(size)
}

pub(super) async fn resize<B: Backend>(
    backend: &B,
    exec_id: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    backend.exec_resize(exec_id, tty_size(uri)?).await?;
    Ok(empty_response(StatusCode::OK))
}

pub(super) async fn inspect<B: Backend>(
    backend: &B,
    exec_id: String,
) -> Result<Response<ResponseBody>, ApiError> {
    json_response(StatusCode::OK, &backend.exec_inspect(exec_id).await?)
}

/// An empty body decodes as all fields zero, as `ReadJSON` leaves them.
fn object_or_empty(body: Value) -> Value {
    match body {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_size_is_height_then_width() {
        assert_eq!(
            console_size(&[24, 80]),
            Some(TtySize {
                height: 24,
                width: 80
            })
        );
        assert_eq!(
            console_size(&[24]),
            Some(TtySize {
                height: 24,
                width: 0
            })
        );
        assert_eq!(console_size(&[0, 0]), None);
        assert_eq!(console_size(&[]), None);
    }

    #[test]
    fn exec_id_is_written_as_docker_does() {
        let body = serde_json::to_string(&ExecCreated {
            id: "abc".to_owned(),
        })
        .unwrap();
        assert_eq!(body, r#"{"Id":"abc"}"#);
    }
}
