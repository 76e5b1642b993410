use berth_ipam::PoolSpec;
use berth_types::{IfName, IpNet};

/// The default network `bridge` (Docker's `docker0`).
#[derive(Clone, Debug)]
pub struct DefaultBridge {
    pub name: IfName,
    /// The bridge's own address with the subnet's prefix (`--bip`, 172.17.0.1/16).
    pub address: IpNet,
}

/// What overlay networks' data plane needs of this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterHost {
    /// The VTEP: where other hosts send this host's VXLAN packets.
    pub advertise: std::net::IpAddr,
    /// Overlay interfaces' MTU: the underlay's less VXLAN's 50 bytes.
    pub overlay_mtu: u32,
}

/// Daemon-wide settings the use cases need; everything comes from here, no
/// process-global state.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub default_bridge: DefaultBridge,
    /// Where `network create` without `--subnet` takes IPv4 subnets from.
    pub address_pools: Vec<PoolSpec>,
    /// Where `network create --ipv6` without an IPv6 subnet takes one from.
    pub ipv6_pools: Vec<PoolSpec>,
    /// Where `network create -d overlay` without `--subnet` takes one
    /// from: the cluster's pool, shared by every host (Docker's 10.0.0.0/8
    /// in /24s).
    pub overlay_pools: Vec<PoolSpec>,
    /// This host's place in the cluster, if it is in one.
    pub cluster_host: Option<ClusterHost>,
    pub mtu: u32,
    /// Default for `com.docker.network.bridge.enable_icc` on the default bridge.
    pub icc: bool,
    /// Daemon `--ip-masq`: default for the default bridge's masquerade option.
    pub ip_masq: bool,
    /// Daemon `--ip-forward`: set `net.ipv4.ip_forward=1` at start.
    pub ip_forward: bool,
    /// Daemon `--iptables`: whether berth manages its nftables tables.
    pub firewall: bool,
    /// Daemon `--dns`: the DNS servers of containers started without `--dns`.
    pub dns: Vec<std::net::IpAddr>,
}
