//! Container list and inspect, made from the fake engine's state.

use std::collections::HashMap;

use bollard_stubs::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, ContainerState,
    ContainerStateStatusEnum, ContainerSummary, ContainerSummaryHostConfig,
    ContainerSummaryNetworkSettings, ContainerSummaryStateEnum, EndpointSettings, HostConfig,
    NetworkSettings, PortBinding, PortMap,
};

use super::engine::{FakeContainer, State};
use super::{lock, Call, StubBackend, BRIDGE_ID, BUSYBOX_ID, CREATED_ID};
use crate::{ApiError, ContainerListOptions};

fn status_text(state: &State) -> (ContainerSummaryStateEnum, String) {
    if state.running {
        (
            ContainerSummaryStateEnum::RUNNING,
            "Up 2 seconds".to_owned(),
        )
    } else if state.started {
        (
            ContainerSummaryStateEnum::EXITED,
            format!("Exited ({}) 1 second ago", state.exit_code),
        )
    } else {
        (ContainerSummaryStateEnum::CREATED, "Created".to_owned())
    }
}

/// The exposed ports unbound, the published ones bound as asked: to all
/// addresses unless one is given, to port 32768 unless one is given.
fn ports(config: &ContainerCreateBody) -> PortMap {
    let mut ports: PortMap = config
        .exposed_ports
        .iter()
        .flatten()
        .map(|port| (port.clone(), None))
        .collect();
    let bindings = config
        .host_config
        .as_ref()
        .and_then(|h| h.port_bindings.as_ref());
    for (port, asked) in bindings.into_iter().flatten() {
        let bound = asked
            .iter()
            .flatten()
            .map(|binding| {
                let or = |value: &Option<String>, default: &str| {
                    Some(
                        value
                            .clone()
                            .filter(|v| !v.is_empty())
                            .unwrap_or_else(|| default.to_owned()),
                    )
                };
                PortBinding {
                    host_ip: or(&binding.host_ip, "0.0.0.0"),
                    host_port: or(&binding.host_port, "32768"),
                }
            })
            .collect();
        ports.insert(port.clone(), Some(bound));
    }
    ports
}

fn endpoints(container: &FakeContainer) -> HashMap<String, EndpointSettings> {
    container
        .networks
        .iter()
        .map(|network| {
            let endpoint = if network == "bridge" {
                EndpointSettings {
                    network_id: Some(BRIDGE_ID.to_owned()),
                    ip_address: Some("172.17.0.2".to_owned()),
                    ip_prefix_len: Some(16),
                    gateway: Some("172.17.0.1".to_owned()),
                    mac_address: Some("02:42:ac:11:00:02".to_owned()),
                    ..Default::default()
                }
            } else {
                EndpointSettings {
                    network_id: Some(CREATED_ID.to_owned()),
                    ..Default::default()
                }
            };
            (network.clone(), endpoint)
        })
        .collect()
}

pub(super) async fn container_list(
    stub: &StubBackend,
    options: ContainerListOptions,
) -> Result<Vec<ContainerSummary>, ApiError> {
    stub.record(Call::ContainerList(options.clone()));
    let engine = lock(&stub.engine);
    let mut list: Vec<ContainerSummary> = engine
        .containers
        .iter()
        .rev()
        .filter(|c| options.all || c.state.borrow().running)
        .map(|c| {
            let (state, status) = status_text(&c.state.borrow());
            ContainerSummary {
                id: Some(c.id.clone()),
                names: Some(vec![format!("/{}", c.name)]),
                image: c.config.image.clone(),
                image_id: Some(BUSYBOX_ID.to_owned()),
                command: Some(c.cmd().join(" ")),
                created: Some(c.created),
                ports: Some(Vec::new()),
                labels: Some(HashMap::new()),
                state: Some(state),
                status: Some(status),
                host_config: Some(ContainerSummaryHostConfig {
                    network_mode: c
                        .config
                        .host_config
                        .as_ref()
                        .and_then(|h| h.network_mode.clone()),
                    annotations: None,
                }),
                network_settings: Some(ContainerSummaryNetworkSettings {
                    networks: Some(endpoints(c)),
                }),
                mounts: Some(Vec::new()),
                ..Default::default()
            }
        })
        .collect();
    list.extend(
        stub.listed
            .iter()
            .filter(|c| options.all || c.state == Some(ContainerSummaryStateEnum::RUNNING))
            .cloned(),
    );
    if let Some(limit) = options.limit {
        list.truncate(limit);
    }
    Ok(list)
}

pub(super) async fn container_inspect(
    stub: &StubBackend,
    id_or_name: String,
    _size: bool,
) -> Result<ContainerInspectResponse, ApiError> {
    stub.record(Call::ContainerInspect(id_or_name.clone()));
    let engine = lock(&stub.engine);
    let c = engine.find(&id_or_name)?;
    let state = *c.state.borrow();
    let cmd = c.cmd();
    Ok(ContainerInspectResponse {
        id: Some(c.id.clone()),
        path: cmd.first().cloned(),
        args: Some(cmd.iter().skip(1).cloned().collect()),
        name: Some(format!("/{}", c.name)),
        image: Some(BUSYBOX_ID.to_owned()),
        state: Some(ContainerState {
            status: Some(if state.running {
                ContainerStateStatusEnum::RUNNING
            } else if state.started {
                ContainerStateStatusEnum::EXITED
            } else {
                ContainerStateStatusEnum::CREATED
            }),
            running: Some(state.running),
            exit_code: Some(state.exit_code),
            ..Default::default()
        }),
        host_config: Some(
            c.config
                .host_config
                .clone()
                .unwrap_or_else(HostConfig::default),
        ),
        config: Some(ContainerConfig {
            image: c.config.image.clone(),
            cmd: c.config.cmd.clone(),
            env: c.config.env.clone(),
            tty: c.config.tty,
            open_stdin: c.config.open_stdin,
            hostname: Some(c.id[..12].to_owned()),
            ..Default::default()
        }),
        network_settings: Some(NetworkSettings {
            sandbox_key: Some(format!("/run/berth/netns/{}", &c.id[..12])),
            ports: Some(ports(&c.config)),
            networks: Some(endpoints(c)),
            ..Default::default()
        }),
        ..Default::default()
    })
}
