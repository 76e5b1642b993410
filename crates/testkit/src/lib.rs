//! Dev-only helpers: fakes of the core's ports (a modelling [`FakeNet`], an
//! in-memory [`MemStore`], a deterministic [`FixedEnv`]) and, for end-to-end
//! tests, the sandbox-host harness in [`sandbox`] (built on berth-sandbox),
//! clusters of them on etcd in [`cluster`] and a real image registry in it
//! ([`registry`]).

pub mod cluster;
mod fake_images;
mod fakes;
pub mod registry;
pub mod sandbox;
pub mod store_contract;

use berth_core::{DefaultBridge, EngineConfig};
use berth_types::IfName;

/// A daemon configuration as berthd's defaults make it, for engine tests.
pub fn engine_config() -> EngineConfig {
    EngineConfig {
        default_bridge: DefaultBridge {
            name: IfName::parse("berth0").unwrap_or_else(|e| panic!("{e}")),
            address: "172.17.0.1/16".parse().unwrap_or_else(|e| panic!("{e}")),
        },
        address_pools: berth_ipam::docker_default_pools(),
        ipv6_pools: vec![berth_ipam::PoolSpec::parse("base=fd00:b::/48,size=64")
            .unwrap_or_else(|e| panic!("{e}"))],
        cluster_host: None,
        overlay_pools: vec![berth_ipam::PoolSpec::parse("base=10.0.0.0/8,size=24")
            .unwrap_or_else(|e| panic!("{e}"))],
        mtu: 1500,
        icc: true,
        ip_masq: true,
        ip_forward: true,
        firewall: true,
        dns: Vec::new(),
    }
}

pub use fake_images::{busybox_id, FakeImages};
pub use fakes::{
    FakeCluster, FakeHost, FakeLink, FakeNet, FakeProcess, FakeRuntime, FakeVolumes, FixedEnv,
    MemStore,
};
