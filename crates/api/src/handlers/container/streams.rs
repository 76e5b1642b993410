//! Logs, attach and resize: a container's output and terminal.

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use crate::backend::{AttachOptions, Backend, LogMessage, LogsOptions, TtySize};
use crate::error::ApiError;
use crate::hijack::{Hijack, SessionErrors};
use crate::request::{
    bool_param, non_empty_param, query_param, timestamp_param, tty_dimension_param,
};
use crate::response::{
    empty_response, streaming_response, ResponseBody, CONTENT_TYPE_MULTIPLEXED_STREAM,
    CONTENT_TYPE_RAW_STREAM,
};
use crate::stream::{frame, FrameKind, OutputStream};
use crate::version::ApiVersion;

/// Since this API version multiplexed log streams say so in `Content-Type`.
const MULTIPLEXED_CONTENT_TYPE_SINCE: &str = "1.42";

/// moby's `rfc3339NanoFixed`: nanoseconds always nine digits, so log
/// timestamps line up.
fn log_timestamp(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_nanos(time).to_string()
}

pub(in crate::handlers) async fn logs<B: Backend>(
    backend: &B,
    id_or_name: String,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let stdout = bool_param(uri, "stdout");
    let stderr = bool_param(uri, "stderr");
    if !stdout && !stderr {
        return Err(ApiError::invalid_parameter(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let options = LogsOptions {
        follow: bool_param(uri, "follow"),
        stdout,
        stderr,
        since: timestamp_param(uri, "since")?,
        until: timestamp_param(uri, "until")?,
        tail: tail_param(query_param(uri, "tail").as_deref()),
    };
    let timestamps = bool_param(uri, "timestamps");
    let details = bool_param(uri, "details");
    let logs = backend.container_logs(id_or_name, options).await?;
    let multiplexed = !logs.tty;
    let content_type = if multiplexed && !api_version.is_below(MULTIPLEXED_CONTENT_TYPE_SINCE) {
        CONTENT_TYPE_MULTIPLEXED_STREAM
    } else {
        CONTENT_TYPE_RAW_STREAM
    };
    let chunks = logs.messages.filter_map(move |message| {
        let chunk = match message {
            Ok(message) => log_chunk(
                message,
                stdout,
                stderr,
                LineDecor {
                    timestamps,
                    details,
                },
                multiplexed,
            ),
            Err(err) => Some(encode_output(
                FrameKind::SystemErr,
                format!("Error grabbing logs: {err}\n").as_bytes(),
                multiplexed,
            )),
        };
        futures::future::ready(chunk)
    });
    Ok(streaming_response(content_type, chunks))
}

/// `tail=`: a non-negative count, anything else (`all`, empty, garbage,
/// negative) is everything, as in dockerd.
fn tail_param(raw: Option<&str>) -> Option<usize> {
    raw.and_then(|value| value.parse::<usize>().ok())
}

/// One log message as dockerd's `WriteLogStream` writes it, or `None` for a
/// stream the client did not ask for.
/// What goes before each log line: its time (`timestamps`) and its log
/// attributes (`details`: berth takes no `--log-opt`s, so a line has none,
/// and dockerd then writes just the separating space).
#[derive(Clone, Copy)]
struct LineDecor {
    timestamps: bool,
    details: bool,
}

fn log_chunk(
    message: LogMessage,
    stdout: bool,
    stderr: bool,
    decor: LineDecor,
    multiplexed: bool,
) -> Option<Bytes> {
    let wanted = match message.stream {
        OutputStream::Stdout => stdout,
        OutputStream::Stderr => stderr,
    };
    if !wanted {
        return None;
    }
    let mut line = Vec::with_capacity(message.line.len() + 32);
    if decor.timestamps {
        line.extend_from_slice(format!("{} ", log_timestamp(message.timestamp)).as_bytes());
    }
    if decor.details {
        line.push(b' ');
    }
    line.extend_from_slice(&message.line);
    Some(encode_output(message.stream.into(), &line, multiplexed))
}

fn encode_output(kind: FrameKind, data: &[u8], multiplexed: bool) -> Bytes {
    if multiplexed {
        frame(kind, data)
    } else {
        Bytes::copy_from_slice(data)
    }
}

pub(in crate::handlers) async fn attach<B: Backend>(
    backend: &B,
    id_or_name: String,
    api_version: &ApiVersion,
    mut request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let uri = request.uri().clone();
    let options = AttachOptions {
        stream: bool_param(&uri, "stream"),
        stdin: bool_param(&uri, "stdin"),
        stdout: bool_param(&uri, "stdout"),
        stderr: bool_param(&uri, "stderr"),
        logs: bool_param(&uri, "logs"),
        detach_keys: non_empty_param(&uri, "detachKeys"),
    };
    let hijack = Hijack::prepare(&mut request);
    let attach = backend.container_attach(id_or_name, options).await?;
    Ok(hijack.respond(attach.session, !attach.tty, api_version, SessionErrors::Log))
}

pub(in crate::handlers) async fn resize<B: Backend>(
    backend: &B,
    id_or_name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    backend.container_resize(id_or_name, tty_size(uri)?).await?;
    Ok(empty_response(StatusCode::OK))
}

/// `h=` and `w=` of the resize endpoints.
pub(in crate::handlers) fn tty_size(uri: &Uri) -> Result<TtySize, ApiError> {
    Ok(TtySize {
        height: tty_dimension_param(uri, "h", "height")?,
        width: tty_dimension_param(uri, "w", "width")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn tail_is_a_count_or_everything() {
        assert_eq!(tail_param(Some("10")), Some(10));
        assert_eq!(tail_param(Some("0")), Some(0));
        for all in [None, Some("all"), Some(""), Some("-1"), Some("x")] {
            assert_eq!(tail_param(all), None, "{all:?}");
        }
    }

    #[test]
    fn log_chunks_are_filtered_stamped_and_framed() {
        let message = |stream| LogMessage {
            stream,
            timestamp: UNIX_EPOCH + Duration::new(1_700_000_000, 5),
            line: Bytes::from_static(b"hi\n"),
        };
        assert_eq!(
            log_chunk(message(OutputStream::Stdout), true, false, PLAIN, true)
                .unwrap()
                .as_ref(),
            b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
        );
        assert_eq!(
            log_chunk(message(OutputStream::Stderr), true, true, PLAIN, false)
                .unwrap()
                .as_ref(),
            b"hi\n"
        );
        assert!(log_chunk(message(OutputStream::Stderr), true, false, PLAIN, true).is_none());
        assert_eq!(
            log_chunk(
                message(OutputStream::Stdout),
                true,
                false,
                LineDecor {
                    timestamps: true,
                    details: false
                },
                false
            )
            .unwrap()
            .as_ref(),
            b"2023-11-14T22:13:20.000000005Z hi\n"
        );
        // dockerd's order: the time, then the (empty) attributes and a space.
        assert_eq!(
            log_chunk(
                message(OutputStream::Stdout),
                true,
                false,
                LineDecor {
                    timestamps: true,
                    details: true
                },
                false
            )
            .unwrap()
            .as_ref(),
            b"2023-11-14T22:13:20.000000005Z  hi\n"
        );
    }

    const PLAIN: LineDecor = LineDecor {
        timestamps: false,
        details: false,
    };
}
