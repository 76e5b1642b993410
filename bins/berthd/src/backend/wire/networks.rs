//! Networks in Docker's inspect shape.

use std::collections::HashMap;

use berth_core::container::Container;
use berth_core::network::Network;
use bollard_stubs::models::{ConfigReference, EndpointResource, Ipam, IpamConfig, NetworkInspect};

use super::{hash_map, timestamp};

/// A network in Docker's inspect shape, every field present as dockerd
/// sends it (the docker CLI prints the raw JSON).
pub fn network_to_wire(
    n: &Network,
    members: &[(std::sync::Arc<Container>, berth_core::container::Endpoint)],
) -> NetworkInspect {
    let config = n
        .subnets
        .iter()
        .map(|p| IpamConfig {
            subnet: Some(p.subnet.to_string()),
            ip_range: p.ip_range.map(|r| r.to_string()),
            gateway: Some(p.gateway.to_string()),
            auxiliary_addresses: (!p.aux_addresses.is_empty()).then(|| {
                p.aux_addresses
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect()
            }),
        })
        .collect();
    let containers = members
        .iter()
        .map(|(c, e)| {
            (
                c.id.to_string(),
                EndpointResource {
                    name: Some(c.name.clone()),
                    endpoint_id: Some(e.id.to_string()),
                    mac_address: Some(e.mac.to_string()),
                    ipv4_address: Some(e.ipv4.map(|n| n.to_string()).unwrap_or_default()),
                    ipv6_address: Some(e.ipv6.map(|n| n.to_string()).unwrap_or_default()),
                },
            )
        })
        .collect();
    NetworkInspect {
        name: Some(n.name.to_string()),
        id: Some(n.id.to_string()),
        created: Some(timestamp(n.created)),
        scope: Some(n.scope().to_owned()),
        driver: Some(n.driver.to_string()),
        enable_ipv4: Some(n.enable_ipv4),
        enable_ipv6: Some(n.enable_ipv6),
        ipam: Some(Ipam {
            driver: Some("default".to_owned()),
            config: Some(config),
            options: Some(HashMap::new()),
        }),
        internal: Some(n.internal),
        attachable: Some(n.attachable),
        ingress: Some(false),
        config_from: Some(ConfigReference {
            network: Some(String::new()),
        }),
        config_only: Some(false),
        containers: Some(containers),
        options: Some(hash_map(&n.options)),
        labels: Some(hash_map(&n.labels)),
        ..Default::default()
    }
}
