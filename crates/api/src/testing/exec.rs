//! Execs in fake containers: created, started detached or attached to a
//! scripted process, resized and inspected.

use std::sync::Arc;

use bollard_stubs::models::{ExecConfig, ExecInspectResponse};
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

use super::engine::{new_id, success_code, FakeExec};
use super::process::run_script;
use super::{lock, Call, StubBackend};
use crate::{ApiError, AttachIo, ExecStartOptions, StreamSession, TtySize};

pub(super) async fn exec_create(
    stub: &StubBackend,
    container: String,
    config: ExecConfig,
) -> Result<String, ApiError> {
    stub.record(Call::ExecCreate(
        container.clone(),
        Box::new(config.clone()),
    ));
    let mut engine = lock(&stub.engine);
    let c = engine.find(&container)?;
    if !c.state.borrow().running {
        return Err(ApiError::conflict(format!(
            "container {} is not running",
            c.id
        )));
    }
    let container_id = c.id.clone();
    engine.next += 1;
    let id = new_id(engine.next);
    engine.execs.insert(
        id.clone(),
        FakeExec {
            container: container_id,
            config,
            running: false,
            exit_code: None,
        },
    );
    Ok(id)
}

pub(super) async fn exec_start_detached(
    stub: &StubBackend,
    exec_id: String,
    options: ExecStartOptions,
) -> Result<(), ApiError> {
    stub.record(Call::ExecStart(exec_id.clone(), options, true));
    let mut engine = lock(&stub.engine);
    let exec = engine
        .execs
        .get_mut(&exec_id)
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))?;
    exec.exit_code = Some(success_code(exec.config.env.as_deref()));
    Ok(())
}

pub(super) async fn exec_start_attached(
    stub: &StubBackend,
    exec_id: String,
    options: ExecStartOptions,
) -> Result<StreamSession, ApiError> {
    stub.record(Call::ExecStart(exec_id.clone(), options, false));
    let (cmd, env) = {
        let mut engine = lock(&stub.engine);
        let exec = engine
            .execs
            .get_mut(&exec_id)
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))?;
        if exec.running || exec.exit_code.is_some() {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {exec_id} is already running"
            )));
        }
        exec.running = true;
        (
            exec.config.cmd.clone().unwrap_or_default(),
            exec.config.env.clone(),
        )
    };
    let engine = Arc::clone(&stub.engine);
    Ok(StreamSession::new(move |io: AttachIo| async move {
        let AttachIo { mut input, output } = io;
        // `oops` fails after the stream is up: dockerd reports that in band.
        if cmd.first().map(String::as_str) == Some("oops") {
            return Err(ApiError::internal("exec failed: oops is not a program"));
        }
        let (stdin, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buffer = [0u8; 1024];
            while let Ok(read) = input.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                let _ = stdin.send(Some(Bytes::copy_from_slice(&buffer[..read])));
            }
            let _ = stdin.send(None);
        });
        let (sender, mut chunks) = mpsc::unbounded_channel();
        let emit = move |stream, text: String| {
            let _ = sender.send((stream, text));
        };
        let script = tokio::spawn(async move {
            // Never stopped: an exec ends with its program or container.
            let (_keep, stop) = oneshot::channel();
            run_script(
                cmd,
                success_code(env.as_deref()),
                emit,
                Some(receiver),
                stop,
            )
            .await
        });
        // Ends when the script returns and drops `emit`.
        while let Some((stream, text)) = chunks.recv().await {
            if output.write(stream, text.as_bytes()).await.is_err() {
                break;
            }
        }
        let code = script.await.unwrap_or(1);
        // Recorded before the stream ends: the CLI asks for it right after.
        if let Some(exec) = lock(&engine).execs.get_mut(&exec_id) {
            exec.running = false;
            exec.exit_code = Some(code);
        }
        Ok(())
    }))
}

pub(super) async fn exec_resize(
    stub: &StubBackend,
    exec_id: String,
    size: TtySize,
) -> Result<(), ApiError> {
    stub.record(Call::ExecResize(exec_id.clone(), size));
    let engine = lock(&stub.engine);
    if engine.execs.contains_key(&exec_id) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "No such exec instance: {exec_id}"
        )))
    }
}

pub(super) async fn exec_inspect(
    stub: &StubBackend,
    exec_id: String,
) -> Result<ExecInspectResponse, ApiError> {
    stub.record(Call::ExecInspect(exec_id.clone()));
    let engine = lock(&stub.engine);
    let exec = engine
        .execs
        .get(&exec_id)
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {exec_id}")))?;
    Ok(ExecInspectResponse {
        id: Some(exec_id.clone()),
        running: Some(exec.running),
        exit_code: exec.exit_code,
        container_id: Some(exec.container.clone()),
        open_stdin: exec.config.attach_stdin,
        open_stdout: exec.config.attach_stdout,
        open_stderr: exec.config.attach_stderr,
        can_remove: Some(false),
        pid: Some(4242),
        ..Default::default()
    })
}
