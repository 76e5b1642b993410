//! The scripted processes of fake containers and execs: started, run, and
//! ended as a runtime would.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::engine::{log_time, Engine, Output};
use super::{lock, StubBackend};
use crate::{ApiError, LogMessage, OutputStream};

/// Runs a container's process on its own task: the lifecycle a real
/// runtime would drive.
pub(super) fn spawn_process(engine: Arc<Mutex<Engine>>, id: String) -> Result<(), ApiError> {
    let (cmd, logged_at, success, output, logs, state, stdin, stop_receiver, auto_remove) = {
        let mut guard = lock(&engine);
        let container = guard.find_mut(&id)?;
        if container.state.borrow().running {
            return Err(ApiError::not_modified("container already started"));
        }
        if let Some(program @ "nosuch") = container.cmd().first().map(String::as_str) {
            container.state.send_modify(|state| {
                state.started = true;
                state.exit_code = 127;
                state.exits += 1;
            });
            let _ = container.output.send(Output::End);
            let error = ApiError::invalid_parameter(format!(
                "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: exec: \"{program}\": executable file not found in $PATH: unknown"
            ));
            if container.auto_remove() {
                guard.remove_container(&id);
            }
            return Err(error);
        }
        let (stop, stop_receiver) = oneshot::channel();
        container.stop = Some(stop);
        container.state.send_modify(|state| {
            state.running = true;
            state.started = true;
        });
        let auto_remove = container.auto_remove();
        (
            container.cmd(),
            log_time(container.created),
            container.success_code(),
            container.output.clone(),
            Arc::clone(&container.logs),
            container.state.clone(),
            container.stdin_receiver.take(),
            stop_receiver,
            auto_remove,
        )
    };
    tokio::spawn(async move {
        let emit = |stream: OutputStream, text: String| {
            let line = Bytes::from(text);
            // Sent under the lock, so a follower sees each line once: in
            // the log it copied or live after it subscribed.
            let mut logs = lock(&logs);
            logs.push(LogMessage {
                stream,
                timestamp: logged_at,
                line: line.clone(),
            });
            let _ = output.send(Output::Data(stream, line));
        };
        let code = run_script(cmd, success, emit, stdin, stop_receiver).await;
        let _ = output.send(Output::End);
        state.send_modify(|state| {
            state.running = false;
            state.exit_code = code;
            state.exits += 1;
        });
        if auto_remove {
            lock(&engine).remove_container(&id);
        }
    });
    Ok(())
}

/// runc's complaint about a missing `program`.
fn exec_failure(program: &str) -> String {
    format!(
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{program}\": executable file not found in $PATH: unknown"
    )
}

/// The scripted program behind `cmd`; returns its exit code. `stop` ends
/// it early with the code sent (137 if the sender is dropped).
pub(super) async fn run_script(
    cmd: Vec<String>,
    success: i64,
    emit: impl Fn(OutputStream, String),
    stdin: Option<mpsc::UnboundedReceiver<Option<Bytes>>>,
    stop: oneshot::Receiver<i64>,
) -> i64 {
    let script = async {
        match cmd.first().map(String::as_str) {
            Some("echo") => {
                emit(OutputStream::Stdout, format!("{}\n", cmd[1..].join(" ")));
                success
            }
            Some("fail") => {
                match cmd.get(2..).filter(|message| !message.is_empty()) {
                    Some(message) => emit(OutputStream::Stderr, format!("{}\n", message.join(" "))),
                    None => {
                        emit(OutputStream::Stdout, "about to fail\n".to_owned());
                        emit(OutputStream::Stderr, "failing\n".to_owned());
                    }
                }
                cmd.get(1).and_then(|code| code.parse().ok()).unwrap_or(1)
            }
            Some("nosuch") => {
                emit(
                    OutputStream::Stdout,
                    format!("{}\r\n", exec_failure("nosuch")),
                );
                127
            }
            Some(program @ ("sh" | "cat")) => {
                let Some(mut stdin) = stdin else {
                    return success;
                };
                let mut pending = Vec::new();
                while let Some(Some(chunk)) = stdin.recv().await {
                    pending.extend_from_slice(&chunk);
                    while let Some(end) = pending.iter().position(|b| *b == b'\n' || *b == b'\r') {
                        let raw: Vec<u8> = pending.drain(..=end).collect();
                        let line = String::from_utf8_lossy(&raw[..end]).trim().to_owned();
                        if line == "exit" {
                            return success;
                        }
                        if let Some(code) = line.strip_prefix("exit ") {
                            return code.trim().parse().unwrap_or(1);
                        }
                        if program == "cat" {
                            emit(
                                OutputStream::Stdout,
                                String::from_utf8_lossy(&raw).into_owned(),
                            );
                        } else if !line.is_empty() {
                            emit(OutputStream::Stdout, format!("got: {line}\r\n"));
                        }
                    }
                }
                success
            }
            _ => std::future::pending().await,
        }
    };
    tokio::select! {
        code = script => code,
        code = stop => code.unwrap_or(137),
    }
}

impl StubBackend {
    /// Ends a running process with `code` and waits until it has exited.
    pub(super) async fn end_process(&self, reference: &str, code: i64) -> Result<(), ApiError> {
        let (stop, mut state) = {
            let mut engine = lock(&self.engine);
            let container = engine.find_mut(reference)?;
            if !container.state.borrow().running {
                return Err(ApiError::not_modified("container already stopped"));
            }
            (container.stop.take(), container.state.subscribe())
        };
        if let Some(stop) = stop {
            let _ = stop.send(code);
        }
        let _ = state.wait_for(|s| !s.running).await;
        Ok(())
    }
}
