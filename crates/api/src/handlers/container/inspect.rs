//! List and inspect: what the backend knows of containers, reshaped for
//! the client's API version.

use std::collections::HashSet;

use bollard_stubs::models::{ContainerInspectResponse, DriverData};
use http::{Response, StatusCode, Uri};
use serde_json::{json, Map, Value};

use super::network_mode::{is_user_defined_network, DEFAULT_NETWORK};
use crate::backend::{Backend, ContainerListOptions};
use crate::error::ApiError;
use crate::handlers::{to_json_value, value_response};
use crate::request::{bool_param, filters_param, int_param, non_empty_param};
use crate::response::{json_response, ResponseBody};
use crate::version::ApiVersion;

pub(in crate::handlers) async fn list<B: Backend>(
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

pub(in crate::handlers) async fn inspect<B: Backend>(
    backend: &B,
    id_or_name: String,
    api_version: &ApiVersion,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let container = backend
        .container_inspect(id_or_name, bool_param(uri, "size"))
        .await?;
    let mut document = inspect_for_version(container, api_version)?;
    add_go_nulls(&mut document);
    value_response(StatusCode::OK, document)
}

/// The `HostConfig` keys Go's encoder writes even when nil (they have no
/// `omitempty`): the typed model drops a `None`, so they come back as
/// `null`, which templates like `{{.HostConfig.PidsLimit}}` read as Docker's.
const HOST_CONFIG_KEYS: [&str; 63] = [
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "ConsoleSize",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Runtime",
    "Isolation",
    "CpuShares",
    "Memory",
    "NanoCpus",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "MaskedPaths",
    "ReadonlyPaths",
];

fn add_go_nulls(document: &mut Value) {
    if let Some(Value::Object(host_config)) = document.get_mut("HostConfig") {
        for key in HOST_CONFIG_KEYS {
            host_config.entry(key).or_insert(Value::Null);
        }
    }
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

/// `top`: dockerd's default `ps` arguments are `-ef`.
pub(in crate::handlers) async fn top<B: Backend>(
    backend: &B,
    id_or_name: String,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let ps_args = non_empty_param(uri, "ps_args").unwrap_or_else(|| "-ef".to_owned());
    let top = backend.container_top(id_or_name, ps_args).await?;
    json_response(StatusCode::OK, &top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{
        ContainerConfig, EndpointSettings, NetworkSettings, RootFsStorage, RootFsStorageSnapshot,
        Storage,
    };
    use std::collections::HashMap;

    fn current() -> ApiVersion {
        ApiVersion::current()
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
    fn host_config_keys_go_always_writes_are_null_when_unset() {
        let mut document = serde_json::json!({"HostConfig": {"Memory": 0}});
        add_go_nulls(&mut document);
        let host_config = document["HostConfig"].as_object().unwrap();
        assert_eq!(host_config.len(), HOST_CONFIG_KEYS.len());
        assert_eq!(host_config["Memory"], 0);
        assert!(host_config["PidsLimit"].is_null());
        assert!(!host_config.contains_key("Sysctls"), "omitempty in Go");
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
}
