//! Logs, attach and resize of fake containers: their output as it was
//! logged and live, and their input.

use std::time::SystemTime;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::{broadcast, mpsc};

use super::engine::{log_time, Output};
use super::{lock, Call, StubBackend};
use crate::{
    ApiError, AttachIo, AttachOptions, ContainerAttach, ContainerLogs, LogMessage, LogsOptions,
    OutputStream, StreamSession, TtySize,
};

/// A process's output from now until it exits, as log messages.
fn follow(
    live: broadcast::Receiver<Output>,
    logged_at: SystemTime,
) -> impl futures::Stream<Item = Result<LogMessage, std::io::Error>> {
    futures::stream::unfold(live, move |mut live| async move {
        loop {
            match live.recv().await {
                Ok(Output::Data(stream, line)) => {
                    let message = LogMessage {
                        stream,
                        timestamp: logged_at,
                        line,
                    };
                    return Some((Ok(message), live));
                }
                Ok(Output::End) | Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
            }
        }
    })
}

/// Pumps a fake process's output (and the client's input) for one attach.
fn attach_session(
    mut output: broadcast::Receiver<Output>,
    stdin: Option<mpsc::UnboundedSender<Option<Bytes>>>,
    close_stdin: bool,
    stdout: bool,
    stderr: bool,
) -> StreamSession {
    StreamSession::new(move |io: AttachIo| async move {
        let AttachIo {
            mut input,
            output: client,
        } = io;
        if let Some(stdin) = stdin {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                loop {
                    match input.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => {
                            let _ = stdin.send(Some(Bytes::copy_from_slice(&buffer[..read])));
                        }
                    }
                }
                if close_stdin {
                    let _ = stdin.send(None);
                }
            });
        }
        loop {
            match output.recv().await {
                Ok(Output::Data(stream, data)) => {
                    let wanted = match stream {
                        OutputStream::Stdout => stdout,
                        OutputStream::Stderr => stderr,
                    };
                    if wanted && client.write(stream, &data).await.is_err() {
                        break;
                    }
                }
                Ok(Output::End) | Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
            }
        }
        Ok(())
    })
}

pub(super) async fn container_logs(
    stub: &StubBackend,
    id_or_name: String,
    options: LogsOptions,
) -> Result<ContainerLogs, ApiError> {
    stub.record(Call::ContainerLogs(id_or_name.clone(), options.clone()));
    let engine = lock(&stub.engine);
    let c = engine.find(&id_or_name)?;
    let (mut messages, live) = {
        let logs = lock(&c.logs);
        (logs.clone(), c.output.subscribe())
    };
    if let Some(tail) = options.tail {
        messages.drain(..messages.len().saturating_sub(tail));
    }
    let mut items: Vec<Result<LogMessage, std::io::Error>> = messages.into_iter().map(Ok).collect();
    // A container named `broken-logs` has a log file that cannot be read
    // to the end.
    if c.name == "broken-logs" {
        items.push(Err(std::io::Error::other("log file truncated")));
    }
    let past = futures::stream::iter(items);
    let messages: crate::LogStream = if options.follow && c.state.borrow().running {
        Box::pin(futures::StreamExt::chain(
            past,
            follow(live, log_time(c.created)),
        ))
    } else {
        Box::pin(past)
    };
    Ok(ContainerLogs {
        tty: c.tty(),
        messages,
    })
}

pub(super) async fn container_attach(
    stub: &StubBackend,
    id_or_name: String,
    options: AttachOptions,
) -> Result<ContainerAttach, ApiError> {
    stub.record(Call::ContainerAttach(id_or_name.clone(), options.clone()));
    let engine = lock(&stub.engine);
    let c = engine.find(&id_or_name)?;
    let state = *c.state.borrow();
    let stdin = (options.stdin && c.config.open_stdin == Some(true)).then(|| c.stdin.clone());
    let session = if state.started && !state.running {
        StreamSession::new(|_io: AttachIo| async { Ok(()) })
    } else {
        // dockerd closes the container's stdin with the attach's only
        // for `StdinOnce` without a TTY.
        let close_stdin = c.config.stdin_once == Some(true) && !c.tty();
        attach_session(
            c.output.subscribe(),
            stdin,
            close_stdin,
            options.stdout,
            options.stderr,
        )
    };
    Ok(ContainerAttach {
        tty: c.tty(),
        session,
    })
}

pub(super) async fn container_resize(
    stub: &StubBackend,
    id_or_name: String,
    size: TtySize,
) -> Result<(), ApiError> {
    stub.record(Call::ContainerResize(id_or_name.clone(), size));
    let engine = lock(&stub.engine);
    engine.find(&id_or_name).map(|_| ())
}
