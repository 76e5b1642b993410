//! `POST /containers/create`: the create body as dockerd's router decodes,
//! checks and adapts it before its backend sees it.

use bollard_stubs::models::{
    ContainerCreateBody, HostConfig, HostConfigIsolationEnum, NetworkingConfig, PortBinding,
};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use super::network_mode::{migrate_container_wide_mac, use_default_network, validate_network_mode};
use crate::backend::Backend;
use crate::error::ApiError;
use crate::request::{decode_lenient, non_empty_param, parse_json_document, read_json_bytes};
use crate::response::{json_response, ResponseBody};
use crate::version::ApiVersion;

pub(in crate::handlers) async fn create<B: Backend>(
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
pub(super) mod tests {
    use super::*;
    use crate::error::ErrorKind;

    pub(in crate::handlers::container) fn current() -> ApiVersion {
        ApiVersion::current()
    }

    pub(in crate::handlers::container) fn parse(body: Value) -> (ContainerCreateBody, Vec<String>) {
        parse_at(body, &current()).unwrap()
    }

    pub(in crate::handlers::container) fn parse_at(
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
}
