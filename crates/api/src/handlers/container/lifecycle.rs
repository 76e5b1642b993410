//! Start, stop, restart, kill, remove and wait: a container's lifecycle.

use bollard_stubs::models::{ContainerUpdateBody, ContainerWaitExitError, ContainerWaitResponse};
use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use crate::backend::{Backend, RemoveOptions, StopOptions, WaitCondition};
use crate::error::ApiError;
use crate::request::{
    bool_param, decode_lenient, filters_param, int_param, non_empty_param, query_param,
    read_json_body,
};
use crate::response::{
    empty_response, json_line, json_response, streaming_response, ResponseBody, CONTENT_TYPE_JSON,
};
use crate::version::ApiVersion;

pub(in crate::handlers) async fn start<B: Backend>(
    backend: &B,
    id_or_name: String,
    request: &Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    // dockerd refuses a start body (the pre-1.24 HostConfig); anything longer
    // than `null`/`{}` padding is one.
    if request_body_may_be_large(request) {
        return Err(ApiError::invalid_parameter(
            "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24",
        ));
    }
    backend.container_start(id_or_name).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// moby's test: `r.ContentLength > 7 || r.ContentLength == -1` (chunked).
fn request_body_may_be_large(request: &Request<Incoming>) -> bool {
    let headers = request.headers();
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .is_some_and(|length| length > 7)
}

/// `POST /containers/{id}/update`: new limits (and restart policy);
/// answered with the warnings, `{"Warnings": null}` when there are none.
pub(in crate::handlers) async fn update<B: Backend>(
    backend: &B,
    id_or_name: String,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let body: ContainerUpdateBody = decode_lenient(read_json_body(request).await?)?;
    let answer = backend.container_update(id_or_name, body).await?;
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "Warnings": answer.warnings }),
    )
}

pub(in crate::handlers) async fn stop<B: Backend>(
    backend: &B,
    id_or_name: String,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    backend
        .container_stop(id_or_name, stop_options(api_version, uri)?)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub(in crate::handlers) async fn restart<B: Backend>(
    backend: &B,
    id_or_name: String,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    backend
        .container_restart(id_or_name, stop_options(api_version, uri)?)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `t=` and, from API 1.42, `signal=`.
fn stop_options(api_version: &ApiVersion, uri: &Uri) -> Result<StopOptions, ApiError> {
    Ok(StopOptions {
        timeout: int_param(uri, "t")?,
        signal: if api_version.is_below("1.42") {
            None
        } else {
            non_empty_param(uri, "signal")
        },
    })
}

pub(in crate::handlers) async fn kill<B: Backend>(
    backend: &B,
    id_or_name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let signal = non_empty_param(uri, "signal");
    backend
        .container_kill(id_or_name.clone(), signal)
        .await
        // dockerd's router wraps every kill error this way.
        .map_err(|err| {
            ApiError::new(
                err.kind,
                format!("cannot kill container: {id_or_name}: {}", err.message),
            )
        })?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub(in crate::handlers) async fn remove<B: Backend>(
    backend: &B,
    id_or_name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let options = RemoveOptions {
        force: bool_param(uri, "force"),
        volumes: bool_param(uri, "v"),
        link: bool_param(uri, "link"),
    };
    backend.container_remove(id_or_name, options).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub(in crate::handlers) async fn wait<B: Backend>(
    backend: &B,
    id_or_name: String,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    // Clients before 1.30 could not choose; they waited for not-running.
    let condition = if api_version.is_below("1.30") {
        WaitCondition::NotRunning
    } else {
        wait_condition(query_param(uri, "condition").as_deref().unwrap_or_default())?
    };
    // Before 1.34 a failed removal was reported by an empty body.
    let empty_body_on_error = condition == WaitCondition::Removed && api_version.is_below("1.34");
    let waiting = backend.container_wait(id_or_name, condition).await?;
    let body = futures::stream::once(async move {
        let outcome = waiting.await;
        if empty_body_on_error && outcome.error.is_some() {
            return Bytes::new();
        }
        wait_body(&outcome)
    });
    Ok(streaming_response(CONTENT_TYPE_JSON, body))
}

fn wait_condition(raw: &str) -> Result<WaitCondition, ApiError> {
    match raw {
        "" | "not-running" => Ok(WaitCondition::NotRunning),
        "next-exit" => Ok(WaitCondition::NextExit),
        "removed" => Ok(WaitCondition::Removed),
        other => Err(ApiError::invalid_parameter(format!(
            "invalid condition: {other:?}"
        ))),
    }
}

/// `{"StatusCode":N}` or with `"Error":{"Message":...}`, as dockerd encodes it.
fn wait_body(outcome: &ContainerWaitResponse) -> Bytes {
    // An empty message is no error (dockerd sets `Error` only for one).
    let outcome = ContainerWaitResponse {
        status_code: outcome.status_code,
        error: outcome
            .error
            .clone()
            .filter(|error| error.message.as_deref().is_some_and(|m| !m.is_empty()))
            .map(|error| ContainerWaitExitError {
                message: error.message,
            }),
    };
    match json_line(&outcome) {
        Ok(line) => Bytes::from(line),
        Err(err) => {
            // Cannot happen for this struct; the client sees a short body.
            tracing::error!(error = %err, "encoding a wait result failed");
            Bytes::new()
        }
    }
}

pub(in crate::handlers) async fn pause<B: Backend>(
    backend: &B,
    id_or_name: String,
) -> Result<Response<ResponseBody>, ApiError> {
    backend.container_pause(id_or_name).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub(in crate::handlers) async fn unpause<B: Backend>(
    backend: &B,
    id_or_name: String,
) -> Result<Response<ResponseBody>, ApiError> {
    backend.container_unpause(id_or_name).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub(in crate::handlers) async fn rename<B: Backend>(
    backend: &B,
    id_or_name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let new_name = query_param(uri, "name").unwrap_or_default();
    backend.container_rename(id_or_name, new_name).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `POST /containers/prune`.
pub(in crate::handlers) async fn prune<B: Backend>(
    backend: &B,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let filters = filters_param(uri)?;
    json_response(StatusCode::OK, &backend.container_prune(filters).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_conditions_and_bodies() {
        assert_eq!(wait_condition("").unwrap(), WaitCondition::NotRunning);
        assert_eq!(
            wait_condition("not-running").unwrap(),
            WaitCondition::NotRunning
        );
        assert_eq!(
            wait_condition("next-exit").unwrap(),
            WaitCondition::NextExit
        );
        assert_eq!(wait_condition("removed").unwrap(), WaitCondition::Removed);
        assert_eq!(
            wait_condition("soon").unwrap_err().message,
            "invalid condition: \"soon\""
        );
        let ok = ContainerWaitResponse {
            status_code: 3,
            error: Some(ContainerWaitExitError {
                message: Some(String::new()),
            }),
        };
        assert_eq!(wait_body(&ok).as_ref(), b"{\"StatusCode\":3}\n");
        let failed = ContainerWaitResponse {
            status_code: 0,
            error: Some(ContainerWaitExitError {
                message: Some("removal failed".to_owned()),
            }),
        };
        assert_eq!(
            wait_body(&failed).as_ref(),
            b"{\"StatusCode\":0,\"Error\":{\"Message\":\"removal failed\"}}\n"
        );
    }
}
