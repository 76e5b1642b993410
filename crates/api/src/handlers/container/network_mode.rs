//! The networking part of a create body: network mode conflicts, the
//! default network, and the container-wide MAC address of old clients.

use bollard_stubs::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig};

use crate::error::ApiError;
use crate::version::ApiVersion;

/// dockerd's default network, which `NetworkMode` `""` and `"default"` mean.
pub(super) const DEFAULT_NETWORK: &str = "bridge";

/// Go's `NetworkMode.IsUserDefined`: not one of the built-in modes.
pub(super) fn is_user_defined_network(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// runconfig's `validateNetMode` / `validateNetContainerMode`.
pub(super) fn validate_network_mode(
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

/// `NetworkMode` `""`/`"default"` is the default bridge, and so is an
/// `EndpointsConfig` keyed `"default"`.
pub(super) fn use_default_network(host_config: &mut HostConfig, networking: &mut NetworkingConfig) {
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

/// moby's `handleMACAddressBC`: the container-wide `MacAddress` (API < 1.44,
/// deprecated since) belongs to the endpoint of the main network.
pub(super) fn migrate_container_wide_mac(
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

#[cfg(test)]
mod tests {
    use super::super::create::tests::{current, parse, parse_at};
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

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
}
