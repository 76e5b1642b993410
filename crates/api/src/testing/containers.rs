//! The lifecycle of fake containers: create, start, stop, kill, restart,
//! remove and wait.

use std::collections::BTreeSet;
use std::sync::Arc;

use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerWaitExitError, ContainerWaitResponse,
};
use tokio::sync::{broadcast, mpsc, watch};

use super::engine::{created_at, new_id, normalise_image, FakeContainer, State};
use super::networks::network_index;
use super::process::spawn_process;
use super::{lock, Call, StubBackend};
use crate::{ApiError, RemoveOptions, StopOptions, WaitCondition, WaitFuture};

pub(super) async fn container_create(
    stub: &StubBackend,
    name: Option<String>,
    config: ContainerCreateBody,
) -> Result<ContainerCreateResponse, ApiError> {
    stub.record(Call::ContainerCreate(
        name.clone(),
        Box::new(config.clone()),
    ));
    let mut engine = lock(&stub.engine);
    let image = config.image.clone().unwrap_or_default();
    if engine.image(&image).is_none() {
        return Err(ApiError::not_found(format!(
            "No such image: {}",
            normalise_image(&image)
        )));
    }
    engine.next += 1;
    let id = new_id(engine.next);
    let name = name.unwrap_or_else(|| format!("stub_{}", engine.next));
    if engine.find(&name).is_ok() {
        return Err(ApiError::conflict(format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
            engine.find(&name)?.id
        )));
    }
    let network = config
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    if let Some(table) = &stub.networks {
        let builtin = ["", "default", "bridge", "host", "none"].contains(&network.as_str())
            || network.starts_with("container:");
        if !builtin {
            network_index(&lock(table), &network)?;
        }
    }
    let created = created_at(engine.next);
    // `WARNING=TEXT` in the environment: created with that warning.
    let warning = config
        .env
        .iter()
        .flatten()
        .find_map(|entry| entry.strip_prefix("WARNING="))
        .map(str::to_owned);
    let (stdin, stdin_receiver) = mpsc::unbounded_channel();
    engine.containers.push(FakeContainer {
        id: id.clone(),
        name,
        config,
        created,
        state: watch::Sender::new(State::default()),
        output: broadcast::channel(64).0,
        logs: Arc::default(),
        stdin,
        stdin_receiver: Some(stdin_receiver),
        stop: None,
        networks: BTreeSet::from([network]),
    });
    Ok(ContainerCreateResponse {
        id,
        warnings: warning.into_iter().collect(),
    })
}

pub(super) async fn container_start(
    stub: &StubBackend,
    id_or_name: String,
) -> Result<(), ApiError> {
    stub.record(Call::ContainerStart(id_or_name.clone()));
    spawn_process(Arc::clone(&stub.engine), id_or_name)
}

pub(super) async fn container_stop(
    stub: &StubBackend,
    id_or_name: String,
    options: StopOptions,
) -> Result<(), ApiError> {
    stub.record(Call::ContainerStop(id_or_name.clone(), options));
    stub.end_process(&id_or_name, 143).await
}

pub(super) async fn container_kill(
    stub: &StubBackend,
    id_or_name: String,
    signal: Option<String>,
) -> Result<(), ApiError> {
    stub.record(Call::ContainerKill(id_or_name.clone(), signal));
    stub.end_process(&id_or_name, 137)
        .await
        .map_err(|err| match err.kind {
            crate::ErrorKind::NotModified => {
                ApiError::conflict(format!("container {id_or_name} is not running"))
            }
            _ => err,
        })
}

pub(super) async fn container_restart(
    stub: &StubBackend,
    id_or_name: String,
    options: StopOptions,
) -> Result<(), ApiError> {
    stub.record(Call::ContainerRestart(id_or_name.clone(), options));
    match stub.end_process(&id_or_name, 143).await {
        Ok(()) => {}
        Err(err) if err.kind == crate::ErrorKind::NotModified => {}
        Err(err) => return Err(err),
    }
    spawn_process(Arc::clone(&stub.engine), id_or_name)
}

pub(super) async fn container_remove(
    stub: &StubBackend,
    id_or_name: String,
    options: RemoveOptions,
) -> Result<(), ApiError> {
    stub.record(Call::ContainerRemove(id_or_name.clone(), options));
    let running = {
        let engine = lock(&stub.engine);
        let container = engine.find(&id_or_name)?;
        let running = container.state.borrow().running;
        if running && !options.force {
            return Err(ApiError::conflict(format!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                container.name
            )));
        }
        running
    };
    if running {
        stub.end_process(&id_or_name, 137).await?;
    }
    lock(&stub.engine).remove_container(&id_or_name);
    Ok(())
}

pub(super) async fn container_wait(
    stub: &StubBackend,
    id_or_name: String,
    condition: WaitCondition,
) -> Result<WaitFuture, ApiError> {
    stub.record(Call::ContainerWait(id_or_name.clone(), condition));
    let mut state = {
        let engine = lock(&stub.engine);
        engine.find(&id_or_name)?.state.subscribe()
    };
    let exits_before = state.borrow().exits;
    Ok(Box::pin(async move {
        let done = state
            .wait_for(|s| match condition {
                WaitCondition::NotRunning => !s.running,
                WaitCondition::NextExit => s.exits > exits_before || s.removed,
                WaitCondition::Removed => s.removed,
            })
            .await
            .map(|s| *s);
        match done {
            Ok(s) => ContainerWaitResponse {
                status_code: s.exit_code,
                error: None,
            },
            Err(_) => ContainerWaitResponse {
                status_code: -1,
                error: Some(ContainerWaitExitError {
                    message: Some("container vanished".to_owned()),
                }),
            },
        }
    }))
}
