//! The API's `Backend`, implemented over the engine: wire types in, core
//! commands out, core results back to Docker's JSON shapes. The one place
//! that knows both sides.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use berth_api::{ApiError, Backend, ErrorKind, Filters};
use berth_core::filter::{ListFilter, PruneFilter};
use berth_core::model::Network;
use berth_core::network::{IpamInput, NetworkCreate};
use berth_core::EngineHandle;
use bollard_stubs::models::{
    ConfigReference, Ipam, IpamConfig, NetworkCreateRequest, NetworkCreateResponse, NetworkInspect,
    NetworkPruneResponse, SystemInfo, SystemInfoDefaultAddressPools, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};

use crate::config::Config;
use crate::host::RealHost;

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct DaemonBackend {
    engine: EngineHandle<RealHost>,
    data_root: String,
    address_pools: Vec<SystemInfoDefaultAddressPools>,
}

impl DaemonBackend {
    pub fn new(engine: EngineHandle<RealHost>, config: &Config) -> Self {
        let address_pools = config
            .address_pools
            .iter()
            .map(|p| SystemInfoDefaultAddressPools {
                base: Some(p.base.to_string()),
                size: Some(i64::from(p.size)),
            })
            .collect();
        DaemonBackend {
            engine,
            data_root: config.data_root.display().to_string(),
            address_pools,
        }
    }
}

fn api_error(e: berth_core::Error) -> ApiError {
    let kind = match e.kind() {
        berth_core::ErrorKind::InvalidParameter => ErrorKind::InvalidParameter,
        berth_core::ErrorKind::Forbidden => ErrorKind::Forbidden,
        berth_core::ErrorKind::NotFound => ErrorKind::NotFound,
        berth_core::ErrorKind::Conflict => ErrorKind::Conflict,
        berth_core::ErrorKind::Unavailable => ErrorKind::Unavailable,
        berth_core::ErrorKind::Internal => {
            tracing::error!(error = %e, "request failed");
            ErrorKind::Internal
        }
    };
    ApiError::new(kind, e.to_string())
}

/// Docker's timestamps: RFC 3339 with nanoseconds.
fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

fn hash_map(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A network in Docker's inspect shape, every field present as dockerd
/// sends it (the docker CLI prints the raw JSON).
fn network_to_wire(n: &Network) -> NetworkInspect {
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
    NetworkInspect {
        name: Some(n.name.to_string()),
        id: Some(n.id.to_string()),
        created: Some(timestamp(n.created)),
        scope: Some("local".to_owned()),
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
        containers: Some(HashMap::new()),
        options: Some(hash_map(&n.options)),
        labels: Some(hash_map(&n.labels)),
        ..Default::default()
    }
}

fn create_request(req: NetworkCreateRequest) -> NetworkCreate {
    let ipam = req.ipam.unwrap_or_default();
    let to_btree = |m: Option<HashMap<String, String>>| m.unwrap_or_default().into_iter().collect();
    NetworkCreate {
        name: req.name,
        driver: req.driver.unwrap_or_default(),
        ipam_driver: ipam.driver.unwrap_or_default(),
        ipam: ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|c| IpamInput {
                subnet: c.subnet.unwrap_or_default(),
                ip_range: c.ip_range.unwrap_or_default(),
                gateway: c.gateway.unwrap_or_default(),
                aux_addresses: to_btree(c.auxiliary_addresses),
            })
            .collect(),
        enable_ipv4: req.enable_ipv4,
        enable_ipv6: req.enable_ipv6,
        internal: req.internal.unwrap_or(false),
        attachable: req.attachable.unwrap_or(false),
        options: to_btree(req.options),
        labels: to_btree(req.labels),
    }
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Backend for DaemonBackend {
    async fn version(&self) -> Result<SystemVersion, ApiError> {
        let engine = SystemVersionComponents {
            name: "Engine".to_owned(),
            version: VERSION.to_owned(),
            details: Some(HashMap::from([
                ("ApiVersion".to_owned(), berth_api::API_VERSION.to_owned()),
                (
                    "MinAPIVersion".to_owned(),
                    berth_api::MIN_API_VERSION.to_owned(),
                ),
                ("Os".to_owned(), "linux".to_owned()),
                ("Arch".to_owned(), std::env::consts::ARCH.to_owned()),
                ("KernelVersion".to_owned(), kernel_version()),
            ])),
        };
        Ok(SystemVersion {
            platform: Some(SystemVersionPlatform {
                name: "berth".to_owned(),
            }),
            components: Some(vec![engine]),
            version: Some(VERSION.to_owned()),
            api_version: Some(berth_api::API_VERSION.to_owned()),
            min_api_version: Some(berth_api::MIN_API_VERSION.to_owned()),
            git_commit: Some(String::new()),
            go_version: Some("n/a (Rust)".to_owned()),
            os: Some("linux".to_owned()),
            arch: Some(std::env::consts::ARCH.to_owned()),
            kernel_version: Some(kernel_version()),
            experimental: Some(false),
            build_time: Some(String::new()),
        })
    }

    async fn info(&self) -> Result<SystemInfo, ApiError> {
        let name = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Ok(SystemInfo {
            id: Some(String::new()),
            containers: Some(0),
            containers_running: Some(0),
            containers_paused: Some(0),
            containers_stopped: Some(0),
            images: Some(0),
            driver: Some("overlay".to_owned()),
            docker_root_dir: Some(self.data_root.clone()),
            ipv4_forwarding: Some(true),
            debug: Some(false),
            system_time: Some(timestamp(SystemTime::now())),
            logging_driver: Some("json-file".to_owned()),
            kernel_version: Some(kernel_version()),
            operating_system: Some("linux".to_owned()),
            os_type: Some("linux".to_owned()),
            architecture: Some(std::env::consts::ARCH.to_owned()),
            ncpu: i64::try_from(ncpu).ok(),
            name: Some(name),
            server_version: Some(VERSION.to_owned()),
            default_address_pools: Some(self.address_pools.clone()),
            labels: Some(Vec::new()),
            warnings: Some(Vec::new()),
            ..Default::default()
        })
    }

    async fn network_list(&self, filters: Filters) -> Result<Vec<NetworkInspect>, ApiError> {
        let filter = ListFilter::parse(&filters).map_err(api_error)?;
        let networks = self.engine.list_networks(&filter).map_err(api_error)?;
        Ok(networks.iter().map(network_to_wire).collect())
    }

    async fn network_inspect(&self, id_or_name: String) -> Result<NetworkInspect, ApiError> {
        let network = self
            .engine
            .inspect_network(&id_or_name)
            .map_err(api_error)?;
        Ok(network_to_wire(&network))
    }

    async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError> {
        let network = self
            .engine
            .create_network(create_request(req))
            .await
            .map_err(api_error)?;
        Ok(NetworkCreateResponse {
            id: network.id.to_string(),
            warning: String::new(),
        })
    }

    async fn network_remove(&self, id_or_name: String) -> Result<(), ApiError> {
        self.engine
            .remove_network(id_or_name)
            .await
            .map_err(api_error)?;
        Ok(())
    }

    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse, ApiError> {
        let filter = PruneFilter::parse(&filters, self.engine.now()).map_err(api_error)?;
        let removed = self
            .engine
            .prune_networks(filter)
            .await
            .map_err(api_error)?;
        Ok(NetworkPruneResponse {
            networks_deleted: Some(removed.iter().map(|n| n.name.to_string()).collect()),
        })
    }
}
