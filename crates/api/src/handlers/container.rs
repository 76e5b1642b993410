//! `/containers...` (moby `daemon/server/router/container/container_routes.go`
//! and `inspect.go`; body decoding from `daemon/internal/runconfig`).

use std::collections::HashSet;

use bollard_stubs::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerWaitExitError, ContainerWaitResponse,
    DriverData, EndpointSettings, HostConfig, HostConfigIsolationEnum, NetworkingConfig,
    PortBinding,
};
use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use crate::backend::{
    AttachOptions, Backend, ContainerListOptions, LogMessage, LogsOptions, RemoveOptions,
    StopOptions, TtySize, WaitCondition,
};
use crate::error::ApiError;
use crate::handlers::{to_json_value, value_response};
use crate::hijack::{Hijack, SessionErrors};
use crate::request::{
    bool_param, decode_lenient, filters_param, int_param, non_empty_param, parse_json_document,
    query_param, read_json_bytes, timestamp_param, tty_dimension_param,
};
use crate::response::{
    empty_response, json_line, json_response, streaming_response, ResponseBody, CONTENT_TYPE_JSON,
    CONTENT_TYPE_MULTIPLEXED_STREAM, CONTENT_TYPE_RAW_STREAM,
};
use crate::stream::{frame, FrameKind, OutputStream};
use crate::version::ApiVersion;

/// dockerd's default network, which `NetworkMode` `""` and `"default"` mean.
const DEFAULT_NETWORK: &str = "bridge";

/// Since this API version multiplexed log streams say so in `Content-Type`.
const MULTIPLEXED_CONTENT_TYPE_SINCE: &str = "1.42";

/// moby's `rfc3339NanoFixed`: nanoseconds always nine digits, so log
/// timestamps line up.
fn log_timestamp(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_nanos(time).to_string()
}

pub(super) async fn create<B: Backend>(
    backend: &B,
    api_version: &ApiVersion,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let name = non_empty_param(request.uri(), "name");
    let body = read_json_bytes(request).await?;
    let (config, warnings) = parse_create_body(&body, api_version)?;
    let mut created = backend.container_create(name, config).await?;
    created.warnings.extend(warnings);
    json_response(StatusCode::CREATED, &created)
}

pub(super) async fn start<B: Backend>(
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

pub(super) async fn stop<B: Backend>(
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

pub(super) async fn restart<B: Backend>(
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

pub(super) async fn kill<B: Backend>(
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

pub(super) async fn remove<B: Backend>(
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

pub(super) async fn list<B: Backend>(
    backend: &B,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let options = ContainerListOptions {
        all: bool_param(uri, "all"),
        // dockerd: a limit of 0 or less is no limit.
        limit: int_param(uri, "limit")?
            .and_then(|limit| usize::try_from(limit).ok().filter(|l| *l > 0)),
        size: bool_param(uri, "size"),
        since: non_empty_param(uri, "since"),
        before: non_empty_param(uri, "before"),
        filters: filters_param(uri)?,
    };
    let mut containers = backend.container_list(options).await?;
    for container in &mut containers {
        if api_version.is_below("1.46") {
            if let Some(host_config) = &mut container.host_config {
                host_config.annotations = None;
            }
        }
        if api_version.is_below("1.48") {
            container.image_manifest_descriptor = None;
        }
        if api_version.is_below("1.52") {
            container.health = None;
        }
    }
    json_response(StatusCode::OK, &containers)
}

pub(super) async fn inspect<B: Backend>(
    backend: &B,
    id_or_name: String,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let container = backend
        .container_inspect(id_or_name, bool_param(uri, "size"))
        .await?;
    value_response(StatusCode::OK, inspect_for_version(container, api_version)?)
}

/// The inspect document as dockerd answers a client of `api_version`.
fn inspect_for_version(
    mut container: ContainerInspectResponse,
    api_version: &ApiVersion,
) -> Result<Value, ApiError> {
    if api_version.is_below("1.45") {
        add_legacy_aliases(&mut container);
    }
    if api_version.is_below("1.48") {
        container.image_manifest_descriptor = None;
    }
    if !api_version.is_below("1.52") {
        return to_json_value(&container);
    }
    // `Storage` replaced `GraphDriver` in 1.52.
    if let Some(storage) = container.storage.take() {
        let snapshot = storage.root_fs.and_then(|root_fs| root_fs.snapshot);
        if container.graph_driver.is_none() {
            container.graph_driver = snapshot.map(|snapshot| DriverData {
                name: snapshot.name.unwrap_or_default(),
                data: Default::default(),
            });
        }
    }
    let legacy = legacy_network_settings(&container);
    let mut document = to_json_value(&container)?;
    if let Some(Value::Object(settings)) = document.get_mut("NetworkSettings") {
        for (key, value) in legacy {
            settings.entry(key).or_insert(value);
        }
    }
    Ok(document)
}

/// Before API 1.45 dockerd listed the short id and the hostname among a
/// container's aliases on user-defined networks.
fn add_legacy_aliases(container: &mut ContainerInspectResponse) {
    let short_id: String = container
        .id
        .as_deref()
        .unwrap_or_default()
        .chars()
        .take(12)
        .collect();
    let hostname = container
        .config
        .as_ref()
        .and_then(|config| config.hostname.clone())
        .unwrap_or_default();
    let Some(networks) = container
        .network_settings
        .as_mut()
        .and_then(|settings| settings.networks.as_mut())
    else {
        return;
    };
    for (name, endpoint) in networks.iter_mut() {
        if !is_user_defined_network(name) {
            continue;
        }
        let aliases = endpoint.aliases.get_or_insert_with(Vec::new);
        aliases.push(short_id.clone());
        aliases.push(hostname.clone());
        let mut seen = HashSet::new();
        aliases.retain(|alias| seen.insert(alias.clone()));
    }
}

/// The top-level `NetworkSettings` fields of API < 1.52, as Docker 28 (API
/// 1.50) always sent them: the default bridge endpoint's settings (empty
/// when the container is not on it) and fields that are never set.
fn legacy_network_settings(container: &ContainerInspectResponse) -> Map<String, Value> {
    let bridge = container
        .network_settings
        .as_ref()
        .and_then(|settings| settings.networks.as_ref())
        .and_then(|networks| networks.get(DEFAULT_NETWORK))
        .cloned()
        .unwrap_or_default();
    let text = |value: Option<String>| Value::String(value.unwrap_or_default());
    let number = |value: Option<i64>| json!(value.unwrap_or_default());
    let fields = json!({
        "Bridge": "",
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "SandboxID": "",
        "SandboxKey": "",
        "EndpointID": text(bridge.endpoint_id),
        "Gateway": text(bridge.gateway),
        "GlobalIPv6Address": text(bridge.global_ipv6_address),
        "GlobalIPv6PrefixLen": number(bridge.global_ipv6_prefix_len),
        "IPAddress": text(bridge.ip_address),
        "IPPrefixLen": number(bridge.ip_prefix_len),
        "IPv6Gateway": text(bridge.ipv6_gateway),
        "MacAddress": text(bridge.mac_address),
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub(super) async fn wait<B: Backend>(
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

pub(super) async fn logs<B: Backend>(
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
    let logs = backend.container_logs(id_or_name, options).await?;
    let multiplexed = !logs.tty;
    let content_type = if multiplexed && !api_version.is_below(MULTIPLEXED_CONTENT_TYPE_SINCE) {
        CONTENT_TYPE_MULTIPLEXED_STREAM
    } else {
        CONTENT_TYPE_RAW_STREAM
    };
    let chunks = logs.messages.filter_map(move |message| {
        let chunk = match message {
            Ok(message) => log_chunk(message, stdout, stderr, timestamps, multiplexed),
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
fn log_chunk(
    message: LogMessage,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    multiplexed: bool,
) -> Option<Bytes> {
    let wanted = match message.stream {
        OutputStream::Stdout => stdout,
        OutputStream::Stderr => stderr,
    };
    if !wanted {
        return None;
    }
    let line = if timestamps {
        let mut line = format!("{} ", log_timestamp(message.timestamp)).into_bytes();
        line.extend_from_slice(&message.line);
        Bytes::from(line)
    } else {
        message.line
    };
    Some(encode_output(message.stream.into(), &line, multiplexed))
}

fn encode_output(kind: FrameKind, data: &[u8], multiplexed: bool) -> Bytes {
    if multiplexed {
        frame(kind, data)
    } else {
        Bytes::copy_from_slice(data)
    }
}

pub(super) async fn attach<B: Backend>(
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

pub(super) async fn resize<B: Backend>(
    backend: &B,
    id_or_name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    backend.container_resize(id_or_name, tty_size(uri)?).await?;
    Ok(empty_response(StatusCode::OK))
}

/// `h=` and `w=` of the resize endpoints.
pub(super) fn tty_size(uri: &Uri) -> Result<TtySize, ApiError> {
    Ok(TtySize {
        height: tty_dimension_param(uri, "h", "height")?,
        width: tty_dimension_param(uri, "w", "width")?,
    })
}

/// The fields of Go's `container.Config`: a create body naming none of them
/// has no config at all, which dockerd refuses.
const CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

/// The create body as dockerd's router hands it to its backend, and the
/// warnings it adds. See [`Backend::container_create`].
fn parse_create_body(
    body: &[u8],
    api_version: &ApiVersion,
) -> Result<(ContainerCreateBody, Vec<String>), ApiError> {
    // runconfig's decoder, unlike `ReadJSON`, has no empty-body exception.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_parameter("invalid JSON: EOF"));
    }
    let mut value = parse_json_document(body)?;
    let has_config = value.as_object().is_some_and(|members| {
        members.keys().any(|key| {
            // Go matches JSON keys to fields without regard to case.
            CONFIG_FIELDS
                .iter()
                .any(|field| field.eq_ignore_ascii_case(key))
        })
    });
    if value.is_object() && !has_config || value.is_null() {
        return Err(ApiError::invalid_parameter(
            "config cannot be empty in order to create a container",
        ));
    }
    let container_wide_mac = value
        .get("MacAddress")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    refuse_kernel_memory_tcp(&value)?;
    normalise_go_shapes(&mut value);
    let mut config: ContainerCreateBody = decode_lenient(value)?;

    let host_config = config.host_config.get_or_insert_with(HostConfig::default);
    let networking = config
        .networking_config
        .get_or_insert_with(NetworkingConfig::default);
    validate_network_mode(
        config.hostname.as_deref(),
        config.exposed_ports.as_deref(),
        host_config,
    )?;
    validate_isolation_and_qos(host_config)?;
    use_default_network(host_config, networking);
    clear_newer_fields(&mut config, api_version)?;

    let mut warnings = Vec::new();
    if let Some(warning) =
        migrate_container_wide_mac(&mut config, &container_wide_mac, api_version)?
    {
        warnings.push(warning);
    }
    if let Some(host_config) = config.host_config.as_mut() {
        backfill_empty_port_bindings(host_config);
        // 0 and negative both mean "unlimited"; dockerd stores no limit.
        if host_config.pids_limit.is_some_and(|limit| limit <= 0) {
            host_config.pids_limit = None;
        }
    }
    Ok((config, warnings))
}

/// `HostConfig.KernelMemoryTCP`, a cgroup v1 limit the wire model has no
/// field for: refused here, before decoding would drop it unseen.
fn refuse_kernel_memory_tcp(body: &Value) -> Result<(), ApiError> {
    let limit = body
        .get("HostConfig")
        .and_then(|host_config| host_config.get("KernelMemoryTCP"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if limit == 0 {
        return Ok(());
    }
    Err(ApiError::invalid_parameter(
        "berth does not support HostConfig.KernelMemoryTCP (a cgroup v1 limit)",
    ))
}

/// Makes Go's decoding of shapes serde reads differently explicit, before
/// `null`s are dropped: map entries whose value is `null` keep their key
/// (ports and volumes are *keys*), and a string `Cmd`/`Entrypoint`/`Shell`
/// is a one-element list (Go's `StrSlice`).
fn normalise_go_shapes(body: &mut Value) {
    let Some(members) = body.as_object_mut() else {
        return;
    };
    for set in ["ExposedPorts", "Volumes"] {
        if let Some(Value::Object(entries)) = members.get_mut(set) {
            // The values are Go's `struct{}`: whatever they hold is ignored.
            entries.values_mut().for_each(|entry| *entry = json!({}));
        }
    }
    if let Some(Value::Object(labels)) = members.get_mut("Labels") {
        null_values_to(labels, &Value::String(String::new()));
    }
    for list in ["Cmd", "Entrypoint", "Shell"] {
        if let Some(entry) = members.get_mut(list) {
            if entry.is_string() {
                *entry = Value::Array(vec![entry.take()]);
            }
        }
    }
    if let Some(Value::Object(bindings)) = members
        .get_mut("HostConfig")
        .and_then(|host_config| host_config.get_mut("PortBindings"))
    {
        null_values_to(bindings, &json!([]));
    }
    if let Some(Value::Object(endpoints)) = members
        .get_mut("NetworkingConfig")
        .and_then(|networking| networking.get_mut("EndpointsConfig"))
    {
        null_values_to(endpoints, &json!({}));
    }
}

fn null_values_to(map: &mut Map<String, Value>, replacement: &Value) {
    map.values_mut()
        .filter(|value| value.is_null())
        .for_each(|value| *value = replacement.clone());
}

/// Go's `NetworkMode.IsUserDefined`: not one of the built-in modes.
fn is_user_defined_network(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// runconfig's `validateNetMode` / `validateNetContainerMode`.
fn validate_network_mode(
    hostname: Option<&str>,
    exposed_ports: Option<&[String]>,
    host_config: &HostConfig,
) -> Result<(), ApiError> {
    let mode = host_config.network_mode.as_deref().unwrap_or_default();
    let has_hostname = hostname.is_some_and(|name| !name.is_empty());
    let non_empty = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
    // A network named just "container" is not container mode (moby's FIXME).
    if let Some(target) = mode.strip_prefix("container:") {
        let conflict = if target.is_empty() {
            Some("invalid network mode: invalid container format container:<name|id>")
        } else if has_hostname {
            Some("conflicting options: hostname and the network mode")
        } else if non_empty(&host_config.links) {
            Some("conflicting options: container type network can't be used with links. This would result in undefined behavior")
        } else if non_empty(&host_config.dns) {
            Some("conflicting options: dns and the network mode")
        } else if non_empty(&host_config.extra_hosts) {
            Some("conflicting options: custom host-to-IP mapping and the network mode")
        } else if host_config
            .port_bindings
            .as_ref()
            .is_some_and(|bindings| !bindings.is_empty())
            || host_config.publish_all_ports == Some(true)
        {
            Some("conflicting options: port publishing and the container type network mode")
        } else if exposed_ports.is_some_and(|ports| !ports.is_empty()) {
            Some("conflicting options: port exposing and the container type network mode")
        } else {
            None
        };
        if let Some(message) = conflict {
            return Err(ApiError::invalid_parameter(message));
        }
    }
    if host_config.uts_mode.as_deref() == Some("host") && has_hostname {
        return Err(ApiError::invalid_parameter(
            "conflicting options: hostname and the UTS mode",
        ));
    }
    if mode == "host" && non_empty(&host_config.links) {
        return Err(ApiError::invalid_parameter(
            "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
        ));
    }
    Ok(())
}

/// runconfig's Linux `validateIsolation` and `validateQoS`.
fn validate_isolation_and_qos(host_config: &HostConfig) -> Result<(), ApiError> {
    if let Some(isolation) = host_config.isolation {
        if !matches!(
            isolation,
            HostConfigIsolationEnum::EMPTY | HostConfigIsolationEnum::DEFAULT
        ) {
            return Err(ApiError::invalid_parameter(format!(
                "invalid isolation ({isolation}): linux only supports 'default'"
            )));
        }
    }
    if host_config
        .io_maximum_bandwidth
        .is_some_and(|value| value != 0)
    {
        return Err(ApiError::invalid_parameter(
            "invalid option: QoS maximum bandwidth configuration is not supported on linux",
        ));
    }
    if host_config.io_maximum_iops.is_some_and(|value| value != 0) {
        return Err(ApiError::invalid_parameter(
            "invalid option: QoS maximum IOPs configuration is not supported on linux",
        ));
    }
    Ok(())
}

/// `NetworkMode` `""`/`"default"` is the default bridge, and so is an
/// `EndpointsConfig` keyed `"default"`.
fn use_default_network(host_config: &mut HostConfig, networking: &mut NetworkingConfig) {
    let mode = host_config.network_mode.as_deref().unwrap_or_default();
    if !mode.is_empty() && mode != "default" {
        return;
    }
    host_config.network_mode = Some(DEFAULT_NETWORK.to_owned());
    if let Some(endpoints) = networking.endpoints_config.as_mut() {
        if let Some(endpoint) = endpoints.remove("default") {
            endpoints.insert(DEFAULT_NETWORK.to_owned(), endpoint);
        }
    }
}

/// Fields a client of `api_version` cannot have meant, cleared as dockerd
/// does; and its refusal of several networks before 1.44.
fn clear_newer_fields(
    config: &mut ContainerCreateBody,
    api_version: &ApiVersion,
) -> Result<(), ApiError> {
    let endpoints = config
        .networking_config
        .as_mut()
        .and_then(|networking| networking.endpoints_config.as_mut());
    if let Some(endpoints) = endpoints {
        if api_version.is_below("1.44") && endpoints.len() > 1 {
            let mut names: Vec<&str> = endpoints.keys().map(String::as_str).collect();
            names.sort_unstable();
            return Err(ApiError::invalid_parameter(format!(
                "Container cannot be created with multiple network endpoints: {}",
                names.join(", ")
            )));
        }
        if api_version.is_below("1.48") {
            endpoints
                .values_mut()
                .for_each(|endpoint| endpoint.gw_priority = None);
        }
    }
    if api_version.is_below("1.44") {
        if let Some(healthcheck) = config.healthcheck.as_mut() {
            healthcheck.start_interval = None;
        }
    }
    if let Some(host_config) = config.host_config.as_mut() {
        // Before 1.25 the client removed `--rm` containers itself.
        if api_version.is_below("1.25") {
            host_config.auto_remove = Some(false);
        }
        if api_version.is_below("1.42") {
            host_config.console_size = None;
        }
        if api_version.is_below("1.43") {
            host_config.annotations = None;
        }
    }
    Ok(())
}

/// moby's `handleMACAddressBC`: the container-wide `MacAddress` (API < 1.44,
/// deprecated since) belongs to the endpoint of the main network.
fn migrate_container_wide_mac(
    config: &mut ContainerCreateBody,
    mac: &str,
    api_version: &ApiVersion,
) -> Result<Option<String>, ApiError> {
    let mode = config
        .host_config
        .as_ref()
        .and_then(|host_config| host_config.network_mode.clone())
        .unwrap_or_default();
    let networking = config
        .networking_config
        .get_or_insert_with(NetworkingConfig::default);
    let mac_network = mode == DEFAULT_NETWORK || is_user_defined_network(&mode);
    if api_version.is_below("1.44") {
        if mac.is_empty() {
            // The old API ignored per-endpoint addresses.
            if let Some(endpoints) = networking.endpoints_config.as_mut() {
                endpoints
                    .values_mut()
                    .for_each(|endpoint| endpoint.mac_address = None);
            }
            return Ok(None);
        }
        if !mac_network {
            return Err(ApiError::invalid_parameter(
                "conflicting options: mac-address and the network mode",
            ));
        }
        endpoint_for_network_mode(&mode, networking, api_version)?.mac_address =
            Some(mac.to_owned());
        return Ok(None);
    }
    if mac.is_empty() {
        return Ok(None);
    }
    if mac_network {
        let endpoint =
            endpoint_for_network_mode(&mode, networking, api_version).map_err(|err| {
                ApiError::new(
                    err.kind,
                    format!(
                        "unable to migrate container-wide MAC address to a specific network: {}",
                        err.message
                    ),
                )
            })?;
        match endpoint.mac_address.as_deref() {
            None | Some("") => endpoint.mac_address = Some(mac.to_owned()),
            Some(existing) if existing == mac => {}
            Some(_) => {
                return Err(ApiError::invalid_parameter(
                    "the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty",
                ))
            }
        }
    }
    Ok(Some(
        "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead."
            .to_owned(),
    ))
}

/// moby's `epConfigForNetMode`: the endpoint settings for the network the
/// mode names, created if there are none at all.
fn endpoint_for_network_mode<'a>(
    mode: &str,
    networking: &'a mut NetworkingConfig,
    api_version: &ApiVersion,
) -> Result<&'a mut EndpointSettings, ApiError> {
    let endpoints = networking
        .endpoints_config
        .get_or_insert_with(Default::default);
    if endpoints.is_empty() {
        return Ok(endpoints.entry(mode.to_owned()).or_default());
    }
    // Before 1.44 there is only one; it is the one, whatever its key.
    let key = match endpoints.keys().next() {
        Some(only) if api_version.is_below("1.44") => only.clone(),
        _ => mode.to_owned(),
    };
    endpoints.get_mut(&key).ok_or_else(|| {
        ApiError::invalid_parameter(
            "HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks",
        )
    })
}

/// moby's `handlePortBindingsBC` for API <= 1.52: a port with no bindings
/// is published on an ephemeral host port, as if bound to `{}`.
fn backfill_empty_port_bindings(host_config: &mut HostConfig) {
    let Some(bindings) = host_config.port_bindings.as_mut() else {
        return;
    };
    for port_bindings in bindings.values_mut() {
        if port_bindings.as_ref().is_none_or(Vec::is_empty) {
            *port_bindings = Some(vec![PortBinding {
                host_ip: Some(String::new()),
                host_port: Some(String::new()),
            }]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use bollard_stubs::models::{
        ContainerConfig, EndpointSettings, NetworkSettings, RootFsStorage, RootFsStorageSnapshot,
        Storage,
    };
    use std::collections::HashMap;
    use std::time::{Duration, UNIX_EPOCH};

    fn current() -> ApiVersion {
        ApiVersion::current()
    }

    fn parse(body: Value) -> (ContainerCreateBody, Vec<String>) {
        parse_at(body, &current()).unwrap()
    }

    fn parse_at(
        body: Value,
        version: &ApiVersion,
    ) -> Result<(ContainerCreateBody, Vec<String>), ApiError> {
        parse_create_body(body.to_string().as_bytes(), version)
    }

    fn parse_err(body: &str) -> ApiError {
        parse_create_body(body.as_bytes(), &current()).unwrap_err()
    }

    #[test]
    fn docker_cli_create_body_decodes() {
        // Trimmed from what `docker run -p 8080:80 --name web busybox` sends.
        let (config, warnings) = parse_create_body(
            br#"{
            "Hostname": "", "Domainname": "", "User": "",
            "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
            "ExposedPorts": {"80/tcp": {}},
            "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": null, "Cmd": ["echo", "hi"], "Image": "busybox",
            "Volumes": {}, "WorkingDir": "", "Entrypoint": null, "OnBuild": null,
            "Labels": {},
            "HostConfig": {
                "Binds": null, "ContainerIDFile": "",
                "LogConfig": {"Type": "", "Config": {}},
                "NetworkMode": "default",
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                "AutoRemove": false, "VolumeDriver": "", "VolumesFrom": null,
                "ConsoleSize": [40, 120], "CapAdd": null, "CapDrop": null,
                "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [],
                "ExtraHosts": null, "GroupAdd": null, "IpcMode": "", "Cgroup": "",
                "Links": null, "OomScoreAdj": 0, "PidMode": "", "Privileged": false,
                "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
                "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "Isolation": "",
                "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
                "BlkioWeight": 0, "BlkioWeightDevice": [], "Devices": [],
                "PidsLimit": 0, "Ulimits": [], "MaskedPaths": null, "ReadonlyPaths": null
            },
            "NetworkingConfig": {"EndpointsConfig": {"default": {"IPAMConfig": null, "Aliases": null}}}
        }"#,
            &current(),
        )
        .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(config.cmd, Some(vec!["echo".to_owned(), "hi".to_owned()]));
        assert_eq!(config.exposed_ports, Some(vec!["80/tcp".to_owned()]));
        let host_config = config.host_config.unwrap();
        assert_eq!(host_config.network_mode.as_deref(), Some("bridge"));
        assert_eq!(host_config.pids_limit, None);
        assert_eq!(
            host_config.port_bindings.unwrap()["80/tcp"],
            Some(vec![PortBinding {
                host_ip: Some(String::new()),
                host_port: Some("8080".to_owned())
            }])
        );
        let endpoints = config.networking_config.unwrap().endpoints_config.unwrap();
        assert!(endpoints.contains_key("bridge"), "{endpoints:?}");
        assert!(!endpoints.contains_key("default"));
    }

    #[test]
    fn bad_bodies_get_dockers_400s() {
        for (body, message) in [
            ("", "invalid JSON: EOF"),
            ("  \n", "invalid JSON: EOF"),
            (
                "null",
                "config cannot be empty in order to create a container",
            ),
            (
                "{}",
                "config cannot be empty in order to create a container",
            ),
            (
                r#"{"HostConfig": {}}"#,
                "config cannot be empty in order to create a container",
            ),
            (r#"{"Image": "a"} {}"#, "unexpected content after JSON"),
            (r#"{"Image": "#, "invalid JSON: unexpected EOF"),
        ] {
            let err = parse_err(body);
            assert_eq!(err.kind, ErrorKind::InvalidParameter, "{body}");
            assert_eq!(err.message, message, "{body}");
        }
        for body in [r#"{"Image": 5}"#, "[]", r#"{"Image": "a", "Tty": "yes"}"#] {
            let err = parse_err(body);
            assert_eq!(err.kind, ErrorKind::InvalidParameter, "{body}");
            assert!(err.message.starts_with("invalid JSON: "), "{}", err.message);
        }
        // Go matches field names case-insensitively; a lower-case key is config.
        assert!(parse_create_body(br#"{"image": "a"}"#, &current()).is_ok());
    }

    #[test]
    fn kernel_memory_tcp_is_refused_by_name_unless_zero() {
        let err = parse_err(r#"{"Image": "a", "HostConfig": {"KernelMemoryTCP": 4096}}"#);
        assert_eq!(err.kind, ErrorKind::InvalidParameter);
        assert!(err.message.contains("HostConfig.KernelMemoryTCP"));
        parse(json!({"Image": "a", "HostConfig": {"KernelMemoryTCP": 0}}));
    }

    #[test]
    fn unknown_and_null_fields_are_ignored_and_keys_survive_nulls() {
        let (config, _) = parse(json!({
            "Image": "busybox",
            "Bogus": {"deep": 1},
            "Env": null,
            "ExposedPorts": {"80/tcp": null, "53/udp": {"x": 1}},
            "Volumes": {"/data": null},
            "Labels": {"a": null, "b": "c"},
            "HostConfig": {"PortBindings": {"80/tcp": null}, "Bogus": true, "Dns": null},
            "NetworkingConfig": {"EndpointsConfig": {"web": null}}
        }));
        assert_eq!(config.env, None);
        let mut exposed = config.exposed_ports.unwrap();
        exposed.sort();
        assert_eq!(exposed, ["53/udp", "80/tcp"]);
        assert_eq!(config.volumes, Some(vec!["/data".to_owned()]));
        let labels = config.labels.unwrap();
        assert_eq!(labels["a"], "");
        assert_eq!(labels["b"], "c");
        // A port listed with no bindings is published on an ephemeral port.
        assert_eq!(
            config.host_config.unwrap().port_bindings.unwrap()["80/tcp"],
            Some(vec![PortBinding {
                host_ip: Some(String::new()),
                host_port: Some(String::new())
            }])
        );
        assert!(config
            .networking_config
            .unwrap()
            .endpoints_config
            .unwrap()
            .contains_key("web"));
    }

    #[test]
    fn string_commands_are_one_element_lists() {
        let (config, _) = parse(json!({"Image": "a", "Cmd": "echo hi", "Entrypoint": "sh"}));
        assert_eq!(config.cmd, Some(vec!["echo hi".to_owned()]));
        assert_eq!(config.entrypoint, Some(vec!["sh".to_owned()]));
    }

    #[test]
    fn container_network_mode_conflicts_are_refused() {
        for (extra, message) in [
            (json!({"HostConfig": {"NetworkMode": "container:"}}), "invalid network mode: invalid container format container:<name|id>"),
            (json!({"Hostname": "h", "HostConfig": {"NetworkMode": "container:x"}}), "conflicting options: hostname and the network mode"),
            (json!({"HostConfig": {"NetworkMode": "container:x", "Dns": ["1.1.1.1"]}}), "conflicting options: dns and the network mode"),
            (json!({"HostConfig": {"NetworkMode": "container:x", "ExtraHosts": ["a:1.2.3.4"]}}), "conflicting options: custom host-to-IP mapping and the network mode"),
            (json!({"HostConfig": {"NetworkMode": "container:x", "Links": ["a:b"]}}), "conflicting options: container type network can't be used with links. This would result in undefined behavior"),
            (json!({"HostConfig": {"NetworkMode": "container:x", "PortBindings": {"80/tcp": []}}}), "conflicting options: port publishing and the container type network mode"),
            (json!({"HostConfig": {"NetworkMode": "container:x", "PublishAllPorts": true}}), "conflicting options: port publishing and the container type network mode"),
            (json!({"ExposedPorts": {"80/tcp": {}}, "HostConfig": {"NetworkMode": "container:x"}}), "conflicting options: port exposing and the container type network mode"),
            (json!({"Hostname": "h", "HostConfig": {"UTSMode": "host"}}), "conflicting options: hostname and the UTS mode"),
            (json!({"HostConfig": {"NetworkMode": "host", "Links": ["a:b"]}}), "conflicting options: host type networking can't be used with links. This would result in undefined behavior"),
            (json!({"HostConfig": {"Isolation": "hyperv"}}), "invalid isolation (hyperv): linux only supports 'default'"),
            (json!({"HostConfig": {"IOMaximumBandwidth": 5}}), "invalid option: QoS maximum bandwidth configuration is not supported on linux"),
        ] {
            let mut body = extra.clone();
            body["Image"] = json!("busybox");
            let err = parse_at(body, &current()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidParameter, "{extra}");
            assert_eq!(err.message, message, "{extra}");
        }
        // Empty lists are no conflict, and a network called "container" is
        // not container mode.
        for mode in ["container:x", "container"] {
            let body = json!({"Image": "a", "HostConfig": {"NetworkMode": mode, "Dns": [], "PortBindings": {}}});
            assert!(parse_at(body, &current()).is_ok(), "{mode}");
        }
    }

    #[test]
    fn old_clients_fields_are_adapted() {
        let body = json!({
            "Image": "a",
            "Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 5},
            "HostConfig": {"AutoRemove": true, "ConsoleSize": [1, 2], "Annotations": {"a": "b"}},
            "NetworkingConfig": {"EndpointsConfig": {"n": {"GwPriority": 3}}}
        });
        let (old, _) = parse_at(body.clone(), &ApiVersion::new("1.24")).unwrap();
        let host_config = old.host_config.unwrap();
        assert_eq!(host_config.auto_remove, Some(false));
        assert_eq!(host_config.console_size, None);
        assert_eq!(host_config.annotations, None);
        assert_eq!(old.healthcheck.unwrap().start_interval, None);
        assert_eq!(
            old.networking_config.unwrap().endpoints_config.unwrap()["n"].gw_priority,
            None
        );

        let (new, _) = parse_at(body, &current()).unwrap();
        let host_config = new.host_config.unwrap();
        assert_eq!(host_config.auto_remove, Some(true));
        assert_eq!(host_config.console_size, Some(vec![1, 2]));
        assert_eq!(new.healthcheck.unwrap().start_interval, Some(5));
        assert_eq!(
            new.networking_config.unwrap().endpoints_config.unwrap()["n"].gw_priority,
            Some(3)
        );

        let two =
            json!({"Image": "a", "NetworkingConfig": {"EndpointsConfig": {"b": {}, "a": {}}}});
        assert_eq!(
            parse_at(two.clone(), &ApiVersion::new("1.43"))
                .unwrap_err()
                .message,
            "Container cannot be created with multiple network endpoints: a, b"
        );
        assert!(parse_at(two, &ApiVersion::new("1.44")).is_ok());
    }

    #[test]
    fn container_wide_mac_moves_to_the_main_endpoint() {
        let mac = "02:42:c0:a8:64:0a";
        let endpoint_mac = |config: ContainerCreateBody, network: &str| {
            config.networking_config.unwrap().endpoints_config.unwrap()[network]
                .mac_address
                .clone()
        };
        // Old clients: moved silently, to the endpoint created for the mode.
        let body = json!({"Image": "a", "MacAddress": mac, "HostConfig": {"NetworkMode": "mynet"}});
        let (config, warnings) = parse_at(body, &ApiVersion::new("1.43")).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(endpoint_mac(config, "mynet").as_deref(), Some(mac));
        // ... and an endpoint address without the container-wide one is dropped.
        let body = json!({"Image": "a", "NetworkingConfig": {"EndpointsConfig": {"mynet": {"MacAddress": mac}}}});
        let (config, _) = parse_at(body, &ApiVersion::new("1.43")).unwrap();
        assert_eq!(endpoint_mac(config, "mynet"), None);
        let body = json!({"Image": "a", "MacAddress": mac, "HostConfig": {"NetworkMode": "host"}});
        assert_eq!(
            parse_at(body, &ApiVersion::new("1.43"))
                .unwrap_err()
                .message,
            "conflicting options: mac-address and the network mode"
        );
        // New clients: moved with a warning; a different endpoint address is refused.
        let body = json!({"Image": "a", "MacAddress": mac});
        let (config, warnings) = parse(body);
        assert_eq!(endpoint_mac(config, "bridge").as_deref(), Some(mac));
        assert_eq!(warnings.len(), 1);
        let body = json!({"Image": "a", "MacAddress": mac, "NetworkingConfig": {"EndpointsConfig": {"bridge": {"MacAddress": "02:00:00:00:00:01"}}}});
        assert_eq!(
            parse_at(body, &current()).unwrap_err().message,
            "the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty"
        );
        let body = json!({"Image": "a", "MacAddress": mac, "HostConfig": {"NetworkMode": "n1"}, "NetworkingConfig": {"EndpointsConfig": {"n2": {}}}});
        assert_eq!(
            parse_at(body, &current()).unwrap_err().message,
            "unable to migrate container-wide MAC address to a specific network: HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks"
        );
    }

    fn inspected() -> ContainerInspectResponse {
        let bridge = EndpointSettings {
            ip_address: Some("172.17.0.2".to_owned()),
            ip_prefix_len: Some(16),
            gateway: Some("172.17.0.1".to_owned()),
            mac_address: Some("02:42:ac:11:00:02".to_owned()),
            endpoint_id: Some("ep".to_owned()),
            ..Default::default()
        };
        let user = EndpointSettings {
            aliases: Some(vec!["web".to_owned()]),
            ..Default::default()
        };
        ContainerInspectResponse {
            id: Some("0123456789abcdef0123".to_owned()),
            config: Some(ContainerConfig {
                hostname: Some("0123456789ab".to_owned()),
                ..Default::default()
            }),
            storage: Some(Storage {
                root_fs: Some(RootFsStorage {
                    snapshot: Some(RootFsStorageSnapshot {
                        name: Some("overlayfs".to_owned()),
                    }),
                }),
            }),
            network_settings: Some(NetworkSettings {
                sandbox_key: Some("/run/berth/netns/x".to_owned()),
                networks: Some(HashMap::from([
                    ("bridge".to_owned(), bridge),
                    ("mynet".to_owned(), user),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn inspect_for_1_50_has_legacy_network_fields_from_the_bridge() {
        let document = inspect_for_version(inspected(), &current()).unwrap();
        let settings = &document["NetworkSettings"];
        assert_eq!(settings["IPAddress"], "172.17.0.2");
        assert_eq!(settings["IPPrefixLen"], 16);
        assert_eq!(settings["Gateway"], "172.17.0.1");
        assert_eq!(settings["MacAddress"], "02:42:ac:11:00:02");
        assert_eq!(settings["EndpointID"], "ep");
        assert_eq!(settings["GlobalIPv6Address"], "");
        assert_eq!(settings["Bridge"], "");
        assert_eq!(settings["SecondaryIPAddresses"], Value::Null);
        // What the backend set is kept.
        assert_eq!(settings["SandboxKey"], "/run/berth/netns/x");
        assert_eq!(settings["Networks"]["mynet"]["Aliases"], json!(["web"]));
        assert!(document.get("Storage").is_none());
        assert_eq!(document["GraphDriver"]["Name"], "overlayfs");
    }

    #[test]
    fn inspect_without_the_bridge_has_empty_legacy_fields() {
        let mut container = inspected();
        if let Some(networks) = container
            .network_settings
            .as_mut()
            .and_then(|s| s.networks.as_mut())
        {
            networks.remove("bridge");
        }
        let document = inspect_for_version(container, &current()).unwrap();
        assert_eq!(document["NetworkSettings"]["IPAddress"], "");
        assert_eq!(document["NetworkSettings"]["IPPrefixLen"], 0);
    }

    #[test]
    fn inspect_before_1_45_lists_short_id_and_hostname_as_aliases() {
        let document = inspect_for_version(inspected(), &ApiVersion::new("1.44")).unwrap();
        let networks = &document["NetworkSettings"]["Networks"];
        // The hostname equals the short id here: listed once.
        assert_eq!(networks["mynet"]["Aliases"], json!(["web", "0123456789ab"]));
        assert!(networks["bridge"].get("Aliases").is_none());
    }

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
            log_chunk(message(OutputStream::Stdout), true, false, false, true)
                .unwrap()
                .as_ref(),
            b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
        );
        assert_eq!(
            log_chunk(message(OutputStream::Stderr), true, true, false, false)
                .unwrap()
                .as_ref(),
            b"hi\n"
        );
        assert!(log_chunk(message(OutputStream::Stderr), true, false, false, true).is_none());
        assert_eq!(
            log_chunk(message(OutputStream::Stdout), true, false, true, false)
                .unwrap()
                .as_ref(),
            b"2023-11-14T22:13:20.000000005Z hi\n"
        );
    }
}
