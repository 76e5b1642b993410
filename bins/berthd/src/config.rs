//! The daemon's configuration: command-line flags over `daemon.json` (Docker's
//! key names) over defaults. Everything the daemon needs is a field here; no
//! path or setting lives in a global.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_ipam::PoolSpec;
use berth_types::IpNet;
use clap::Parser;
use serde::Deserialize;

pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
pub const DEFAULT_RESOLV_CONF: &str = "/etc/resolv.conf";
/// Debian's `tini` package's static build.
pub const DEFAULT_INIT_PATH: &str = "/usr/bin/tini-static";
const DEFAULT_BIP: &str = "172.17.0.1/16";
const DEFAULT_MTU: u32 = 1500;

#[derive(Parser, Debug, Default)]
#[command(
    name = "berthd",
    version,
    about = "berth daemon: Docker-compatible container networking"
)]
pub struct Flags {
    /// Root of persistent state (the database, images, containers).
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Root of runtime state (socket, network namespaces).
    #[arg(long, value_name = "DIR")]
    pub exec_root: Option<PathBuf>,
    /// Socket to serve the API on: unix:///path.
    #[arg(short = 'H', long = "host", value_name = "unix://PATH")]
    pub host: Option<String>,
    /// The default bridge's address and prefix.
    #[arg(long, value_name = "CIDR")]
    pub bip: Option<String>,
    /// A pool for networks created without --subnet: base=CIDR,size=N (repeatable; replaces the defaults).
    #[arg(long = "default-address-pool", value_name = "base=CIDR,size=N")]
    pub default_address_pools: Vec<String>,
    /// MTU of the default bridge and default for new networks.
    #[arg(long)]
    pub mtu: Option<u32>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// daemon.json with Docker's key names.
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Let berth manage its nftables tables.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub iptables: Option<bool>,
    /// Enable net.ipv4.ip_forward at start.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub ip_forward: Option<bool>,
    /// Masquerade traffic leaving bridge networks.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub ip_masq: Option<bool>,
    /// Allow traffic between containers on the default bridge.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub icc: Option<bool>,
    /// DNS server for containers (repeatable).
    #[arg(long, value_name = "IP")]
    pub dns: Vec<IpAddr>,
    /// The OCI runtime binary.
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    /// The init `--init` runs as PID 1 (a static tini, bound read-only at
    /// /sbin/docker-init).
    #[arg(long, value_name = "PATH")]
    pub init_path: Option<PathBuf>,
    /// The host's resolver configuration: where containers' upstream DNS
    /// servers, search domains and options come from (dockerd's internal
    /// `resolv.conf` path setting). For tests; hidden from users.
    #[arg(long, value_name = "FILE", hide = true)]
    pub resolv_conf: Option<PathBuf>,
    /// The cluster store overlay networks live in: etcd://HOST:PORT[,HOST:PORT...].
    #[arg(long, value_name = "etcd://HOST:PORT,...")]
    pub cluster_store: Option<String>,
    /// This host's address in the cluster (VXLAN endpoint): an IP, or an interface whose IPv4 address to take.
    #[arg(long, value_name = "IP|IFACE")]
    pub cluster_advertise: Option<String>,
    /// A registry reached over plain HTTP or unverified TLS: host[:port]
    /// or a CIDR (repeatable; loopback always is).
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    pub insecure_registries: Vec<String>,
    /// A mirror Docker Hub images are pulled from first: http(s)://host[:port]
    /// (repeatable, tried in order).
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
}

/// `daemon.json`, with Docker's key names. Unknown keys are an error, as in
/// Docker, so a typo never passes silently.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    bip: Option<String>,
    default_address_pools: Option<Vec<FilePool>>,
    mtu: Option<u32>,
    log_level: Option<String>,
    iptables: Option<bool>,
    ip_forward: Option<bool>,
    ip_masq: Option<bool>,
    icc: Option<bool>,
    dns: Option<Vec<IpAddr>>,
    default_runtime: Option<PathBuf>,
    init_path: Option<PathBuf>,
    cluster_store: Option<String>,
    cluster_advertise: Option<String>,
    insecure_registries: Option<Vec<String>>,
    registry_mirrors: Option<Vec<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FilePool {
    base: String,
    size: u8,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    pub bip: IpNet,
    pub address_pools: Vec<PoolSpec>,
    pub mtu: u32,
    pub log_level: String,
    pub iptables: bool,
    pub ip_forward: bool,
    pub ip_masq: bool,
    pub icc: bool,
    pub dns: Vec<IpAddr>,
    pub runtime: PathBuf,
    /// The init binary of `--init`.
    pub init_path: PathBuf,
    /// The host's resolv.conf (`--resolv-conf`, default /etc/resolv.conf).
    pub resolv_conf: PathBuf,
    /// `insecure-registries`: `host[:port]` names and CIDRs.
    pub insecure_registries: Vec<String>,
    /// `registry-mirrors`: `scheme://host[:port]`, tried in order for
    /// Docker Hub images.
    pub registry_mirrors: Vec<String>,
    /// Docker's `certs.d` layout (`<dir>/<host[:port]>/ca.crt`): beside
    /// the daemon.json, `/etc/berth/certs.d` by default.
    pub certs_dir: PathBuf,
    /// Where overlay networks live, if this host is in a cluster.
    pub cluster: Option<ClusterConfig>,
}

/// `--cluster-store` and `--cluster-advertise`, which come together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// etcd's client endpoints, `http://HOST:PORT`.
    pub endpoints: Vec<String>,
    /// This host's address in the cluster, or the interface to take it from.
    pub advertise: Advertise,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advertise {
    Ip(IpAddr),
    Interface(String),
}

impl Config {
    pub fn load(flags: Flags) -> Result<Config> {
        let file = match &flags.config_file {
            Some(path) => read_file_config(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file_config(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileConfig::default(),
        };
        Config::merge(flags, file)
    }

    fn merge(flags: Flags, file: FileConfig) -> Result<Config> {
        let host = match (flags.host, file.hosts) {
            (Some(h), _) => h,
            (None, Some(hosts)) => match hosts.as_slice() {
                [h] => h.clone(),
                _ => bail!("\"hosts\" in the config file must list exactly one unix:// socket"),
            },
            (None, None) => DEFAULT_HOST.to_owned(),
        };
        let socket = parse_unix_host(&host)?;
        let bip_text = flags
            .bip
            .or(file.bip)
            .unwrap_or_else(|| DEFAULT_BIP.to_owned());
        let bip: IpNet = bip_text.parse().with_context(|| {
            format!("invalid bip {bip_text:?}: want an address with prefix, like 172.17.0.1/16")
        })?;
        let address_pools = if !flags.default_address_pools.is_empty() {
            flags
                .default_address_pools
                .iter()
                .map(|p| {
                    PoolSpec::parse(p)
                        .with_context(|| format!("invalid --default-address-pool {p:?}"))
                })
                .collect::<Result<Vec<_>>>()?
        } else if let Some(pools) = file.default_address_pools {
            pools
                .iter()
                .map(|p| {
                    let text = format!("base={},size={}", p.base, p.size);
                    PoolSpec::parse(&text)
                        .with_context(|| format!("invalid default-address-pools entry {text:?}"))
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            berth_ipam::docker_default_pools()
        };
        let mtu = flags.mtu.or(file.mtu).unwrap_or(DEFAULT_MTU);
        if !(68..=65535).contains(&mtu) {
            bail!("invalid mtu {mtu}: must be from 68 to 65535");
        }
        let cluster = cluster_config(
            flags.cluster_store.or(file.cluster_store),
            flags.cluster_advertise.or(file.cluster_advertise),
        )?;
        let dns = if flags.dns.is_empty() {
            file.dns.unwrap_or_default()
        } else {
            flags.dns
        };
        let mut insecure_registries = file.insecure_registries.unwrap_or_default();
        insecure_registries.extend(flags.insecure_registries);
        for registry in &insecure_registries {
            if registry.contains("://") {
                bail!("insecure registry {registry} should not contain '://'");
            }
        }
        let mut registry_mirrors = file.registry_mirrors.unwrap_or_default();
        registry_mirrors.extend(flags.registry_mirrors);
        let registry_mirrors = registry_mirrors
            .iter()
            .map(|m| validate_mirror(m))
            .collect::<Result<Vec<_>>>()?;
        let certs_dir = flags
            .config_file
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_CONFIG_FILE))
            .parent()
            .unwrap_or(Path::new("/"))
            .join("certs.d");
        Ok(Config {
            insecure_registries,
            registry_mirrors,
            certs_dir,
            data_root: flags
                .data_root
                .or(file.data_root)
                .unwrap_or_else(|| "/var/lib/berth".into()),
            exec_root: flags
                .exec_root
                .or(file.exec_root)
                .unwrap_or_else(|| "/run/berth".into()),
            socket,
            bip,
            address_pools,
            mtu,
            log_level: flags
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".to_owned()),
            iptables: flags.iptables.or(file.iptables).unwrap_or(true),
            ip_forward: flags.ip_forward.or(file.ip_forward).unwrap_or(true),
            ip_masq: flags.ip_masq.or(file.ip_masq).unwrap_or(true),
            icc: flags.icc.or(file.icc).unwrap_or(true),
            dns,
            runtime: flags
                .runtime
                .or(file.default_runtime)
                .unwrap_or_else(|| "runc".into()),
            init_path: flags
                .init_path
                .or(file.init_path)
                .unwrap_or_else(|| DEFAULT_INIT_PATH.into()),
            resolv_conf: flags
                .resolv_conf
                .unwrap_or_else(|| DEFAULT_RESOLV_CONF.into()),
            cluster,
        })
    }
}

fn cluster_config(
    store: Option<String>,
    advertise: Option<String>,
) -> Result<Option<ClusterConfig>> {
    let (store, advertise) = match (store, advertise) {
        (None, None) => return Ok(None),
        (Some(store), Some(advertise)) => (store, advertise),
        (Some(_), None) => bail!("--cluster-store needs --cluster-advertise IP|IFACE"),
        (None, Some(_)) => bail!("--cluster-advertise needs --cluster-store etcd://HOST:PORT"),
    };
    let endpoints = berth_cluster::parse_store_url(&store)?;
    // Docker's IP:PORT and IFACE:PORT name its API port, which berth does
    // not serve over TCP: a port is refused, not dropped.
    let advertise = match advertise.parse::<IpAddr>() {
        Ok(ip) => Advertise::Ip(ip),
        Err(_) if advertise.contains(':') => bail!(
            "invalid --cluster-advertise {advertise:?}: berth takes an IP or an interface, without a port"
        ),
        Err(_) if advertise.is_empty() || advertise.len() > 15 || advertise.contains('/') => {
            bail!("invalid --cluster-advertise {advertise:?}: want an IP or an interface name")
        }
        Err(_) => Advertise::Interface(advertise),
    };
    Ok(Some(ClusterConfig {
        endpoints,
        advertise,
    }))
}

fn read_file_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read config file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

fn parse_unix_host(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => bail!("invalid host {host:?}: berthd serves only on unix:///absolute/path"),
    }
}

/// Where overlay networks created without --subnet get one: /24s of
/// 10.0.0.0/8, as Docker's overlay driver.
pub fn default_overlay_pools() -> Vec<PoolSpec> {
    vec![PoolSpec {
        base: IpNet::V4(ipnet::Ipv4Net::new_assert(
            std::net::Ipv4Addr::new(10, 0, 0, 0),
            8,
        )),
        size: 24,
    }]
}

/// Where IPv6 networks created without an IPv6 subnet get one: /64s of a
/// unique-local /48, as Docker's default ULA pool does.
pub fn default_ipv6_pools() -> Vec<PoolSpec> {
    vec![PoolSpec {
        base: IpNet::V6(ipnet::Ipv6Net::new_assert(
            std::net::Ipv6Addr::new(0xfd00, 0xb, 0, 0, 0, 0, 0, 0),
            48,
        )),
        size: 64,
    }]
}

/// dockerd's `ValidateMirror`: an http or https URL of a host, nothing
/// after it but `/`; the trailing `/` dropped.
fn validate_mirror(mirror: &str) -> Result<String> {
    let Some((scheme, rest)) = mirror.split_once("://") else {
        bail!("invalid mirror: unsupported scheme \"\" in \"{mirror}\"");
    };
    if scheme != "http" && scheme != "https" {
        bail!("invalid mirror: unsupported scheme \"{scheme}\" in \"{mirror}\"");
    }
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
        bail!("invalid mirror: path, query, or fragment at end of the URI \"{mirror}\"");
    }
    Ok(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> FileConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_are_dockers() {
        let c = Config::merge(Flags::default(), FileConfig::default()).unwrap();
        assert_eq!(c.bip.to_string(), "172.17.0.1/16");
        assert_eq!(c.socket, PathBuf::from("/run/berth/berth.sock"));
        assert_eq!(c.data_root, PathBuf::from("/var/lib/berth"));
        assert_eq!(c.mtu, 1500);
        assert!(c.iptables && c.ip_forward && c.ip_masq && c.icc);
        assert_eq!(c.resolv_conf, PathBuf::from("/etc/resolv.conf"));
        assert_eq!(c.init_path, PathBuf::from("/usr/bin/tini-static"));
    }

    #[test]
    fn the_init_path_is_dockers_key_and_flag() {
        let c = Config::merge(Flags::default(), file(r#"{"init-path": "/opt/init"}"#)).unwrap();
        assert_eq!(c.init_path, PathBuf::from("/opt/init"));
        let flags = Flags::try_parse_from(["berthd", "--init-path", "/bin/tini"]).unwrap();
        let c = Config::merge(flags, file(r#"{"init-path": "/opt/init"}"#)).unwrap();
        assert_eq!(c.init_path, PathBuf::from("/bin/tini"));
    }

    #[test]
    fn resolv_conf_is_a_hidden_flag() {
        let flags = Flags::try_parse_from(["berthd", "--resolv-conf", "/tmp/r.conf"]).unwrap();
        let c = Config::merge(flags, FileConfig::default()).unwrap();
        assert_eq!(c.resolv_conf, PathBuf::from("/tmp/r.conf"));
        use clap::CommandFactory;
        let help = Flags::command().render_long_help().to_string();
        assert!(!help.contains("resolv-conf"), "{help}");
    }

    #[test]
    fn flags_win_over_file() {
        let flags =
            Flags::try_parse_from(["berthd", "--bip", "10.9.0.1/24", "--iptables=false"]).unwrap();
        let c = Config::merge(
            flags,
            file(r#"{"bip": "10.8.0.1/24", "iptables": true, "mtu": 1400}"#),
        )
        .unwrap();
        assert_eq!(c.bip.to_string(), "10.9.0.1/24");
        assert!(!c.iptables);
        assert_eq!(c.mtu, 1400);
    }

    #[test]
    fn file_takes_docker_keys() {
        let c = Config::merge(
            Flags::default(),
            file(r#"{"default-address-pools": [{"base": "10.10.0.0/16", "size": 24}], "ip-masq": false, "dns": ["10.0.0.2"]}"#),
        )
        .unwrap();
        assert_eq!(c.address_pools.len(), 1);
        assert!(!c.ip_masq);
        assert_eq!(c.dns.len(), 1);
    }

    #[test]
    fn the_cluster_store_is_dockers_flag_and_key() {
        let c = Config::merge(Flags::default(), FileConfig::default()).unwrap();
        assert_eq!(c.cluster, None);
        let flags = Flags::try_parse_from([
            "berthd",
            "--cluster-store",
            "etcd://10.99.0.1:2379,10.99.0.2:2379",
            "--cluster-advertise",
            "eth0",
        ])
        .unwrap();
        let c = Config::merge(flags, FileConfig::default()).unwrap();
        assert_eq!(
            c.cluster,
            Some(ClusterConfig {
                endpoints: vec![
                    "http://10.99.0.1:2379".to_owned(),
                    "http://10.99.0.2:2379".to_owned()
                ],
                advertise: Advertise::Interface("eth0".to_owned()),
            })
        );
        let c = Config::merge(
            Flags::default(),
            file(r#"{"cluster-store": "etcd://h1:2379", "cluster-advertise": "10.99.0.3"}"#),
        )
        .unwrap();
        let cluster = c.cluster.unwrap();
        assert_eq!(
            cluster.advertise,
            Advertise::Ip("10.99.0.3".parse().unwrap())
        );
        for (store, advertise) in [
            (Some("etcd://h1:2379"), None),
            (None, Some("eth0")),
            (Some("consul://h1:8500"), Some("eth0")),
            (Some("etcd://h1:2379"), Some("eth0:2376")),
        ] {
            let got = cluster_config(store.map(str::to_owned), advertise.map(str::to_owned));
            assert!(got.is_err(), "{store:?} {advertise:?}");
        }
    }

    #[test]
    fn registry_mirrors_are_validated_as_dockerd_does() {
        let flags = Flags::try_parse_from(["berthd", "--registry-mirror", "http://10.0.0.1:5000/"])
            .unwrap();
        let c = Config::merge(
            flags,
            file(r#"{"registry-mirrors": ["https://m.example"]}"#),
        )
        .unwrap();
        assert_eq!(
            c.registry_mirrors,
            ["https://m.example", "http://10.0.0.1:5000"]
        );
        for bad in ["m.example", "ftp://m", "https://m/v2/"] {
            let json = format!(r#"{{"registry-mirrors": ["{bad}"]}}"#);
            let e = Config::merge(Flags::try_parse_from(["berthd"]).unwrap(), file(&json));
            assert!(
                e.unwrap_err().to_string().starts_with("invalid mirror"),
                "{bad}"
            );
        }
        let flags = Flags::try_parse_from(["berthd", "--config-file", "/x/daemon.json"]).unwrap();
        let c = Config::merge(flags, file("{}")).unwrap();
        assert_eq!(c.certs_dir, Path::new("/x/certs.d"));
    }

    #[test]
    fn insecure_registries_come_from_both() {
        let flags = Flags::try_parse_from(["berthd", "--insecure-registry", "10.0.0.0/8"]).unwrap();
        let c = Config::merge(flags, file(r#"{"insecure-registries": ["reg:5000"]}"#)).unwrap();
        assert_eq!(c.insecure_registries, ["reg:5000", "10.0.0.0/8"]);
        let e = Config::merge(
            Flags::default(),
            file(r#"{"insecure-registries": ["http://reg"]}"#),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "insecure registry http://reg should not contain '://'"
        );
    }

    #[test]
    fn unknown_file_key_is_an_error() {
        assert!(serde_json::from_str::<FileConfig>(r#"{"bipp": "x"}"#).is_err());
    }

    #[test]
    fn bad_values_are_errors() {
        let bad_bip = Flags::try_parse_from(["berthd", "--bip", "nonsense"]).unwrap();
        assert!(Config::merge(bad_bip, FileConfig::default()).is_err());
        let bad_host = Flags::try_parse_from(["berthd", "-H", "tcp://0.0.0.0:2375"]).unwrap();
        assert!(Config::merge(bad_host, FileConfig::default()).is_err());
    }
}
