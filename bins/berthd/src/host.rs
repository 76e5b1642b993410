//! The real adapters, named in one place.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use berth_core::ports::{Env, Host};
use berth_netlink::Netlink;
use berth_nft::{FwConfig, NftFirewall};
use berth_oci::registry::{Registries, RegistryConfig};
use berth_oci::{ContainerRuntime, ImageStore, OciAdapter, RuntimeConfig};
use berth_store::SqliteStore;

use crate::config::Config;
use crate::dns::EmbeddedDns;

/// Under the exec root: the sandboxes' bind-mounted network namespaces.
const NETNS_DIR: &str = "netns";

/// berth's nftables tables are `table ip berth` and `table ip6 berth`.
const NFT_TABLE: &str = "berth";
/// The cgroup every container's cgroup sits under.
const CGROUP_PARENT: &str = "/berth";

pub struct RealHost {
    net: Netlink,
    store: SqliteStore,
    env: SystemEnv,
    oci: OciAdapter,
    firewall: NftFirewall,
    dns: EmbeddedDns,
    netns_dir: PathBuf,
}

impl RealHost {
    pub async fn open(config: &Config) -> Result<RealHost> {
        let db = config.data_root.join("berth.db");
        let store = SqliteStore::open(&db)
            .with_context(|| format!("open state database {}", db.display()))?;
        let net = Netlink::open().await.context("open a netlink connection")?;
        let runtime = ContainerRuntime::new(RuntimeConfig {
            data_root: config.data_root.clone(),
            exec_root: config.exec_root.clone(),
            runtime: config.runtime.clone(),
            shim: shim_binary()?,
            cgroup_parent: CGROUP_PARENT.to_owned(),
            netns_dir: Some(config.exec_root.join(NETNS_DIR)),
            init: config.init_path.clone(),
        })
        .context("prepare the container runtime")?;
        let images =
            ImageStore::open(runtime.layout().images_dir()).context("open the image store")?;
        Ok(RealHost {
            dns: EmbeddedDns::new(net.clone()),
            net,
            store,
            env: SystemEnv {
                resolv_conf: config.resolv_conf.clone(),
            },
            oci: OciAdapter::new(
                runtime,
                images,
                Registries::new(RegistryConfig {
                    insecure: config.insecure_registries.clone(),
                    mirrors: config.registry_mirrors.clone(),
                    certs_dir: Some(config.certs_dir.clone()),
                }),
            )
            .context("open the blob store")?,
            firewall: NftFirewall::new(FwConfig::new(NFT_TABLE)?),
            netns_dir: config.exec_root.join(NETNS_DIR),
        })
    }

    pub fn oci(&self) -> &OciAdapter {
        &self.oci
    }

    pub fn embedded_dns(&self) -> &EmbeddedDns {
        &self.dns
    }
}

/// `berth-shim` ships next to `berthd`.
fn shim_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("find berthd's own path")?;
    let shim = exe.with_file_name("berth-shim");
    anyhow::ensure!(
        shim.exists(),
        "{} is missing: install it next to berthd",
        shim.display()
    );
    Ok(shim)
}

impl Host for RealHost {
    type Net = Netlink;
    type Store = SqliteStore;
    type Env = SystemEnv;
    type Runtime = OciAdapter;
    type Images = OciAdapter;
    type Firewall = NftFirewall;
    type Dns = EmbeddedDns;
    type Volumes = OciAdapter;

    fn net(&self) -> &Netlink {
        &self.net
    }

    fn store(&self) -> &SqliteStore {
        &self.store
    }

    fn env(&self) -> &SystemEnv {
        &self.env
    }

    fn runtime(&self) -> &OciAdapter {
        &self.oci
    }

    fn images(&self) -> &OciAdapter {
        &self.oci
    }

    fn firewall(&self) -> &NftFirewall {
        &self.firewall
    }

    fn dns(&self) -> &EmbeddedDns {
        &self.dns
    }

    fn volumes(&self) -> &OciAdapter {
        &self.oci
    }

    fn netns_dir(&self) -> &Path {
        &self.netns_dir
    }
}

pub struct SystemEnv {
    /// The host's resolv.conf (normally /etc/resolv.conf).
    resolv_conf: PathBuf,
}

impl Env for SystemEnv {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn random_id_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        // The kernel's CSPRNG does not fail once the system has booted; if it
        // ever did, an all-zero id would collide loudly at insert.
        if let Err(e) = getrandom::fill(&mut bytes) {
            tracing::error!(error = %e, "no randomness for a new id");
        }
        bytes
    }

    fn host_resolv_conf(&self) -> String {
        match std::fs::read_to_string(&self.resolv_conf) {
            Ok(text) => text,
            // As in Docker, a missing file is an empty one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                tracing::warn!(path = %self.resolv_conf.display(), error = %e, "cannot read the host's resolv.conf; containers get no host DNS servers from it");
                String::new()
            }
        }
    }
}

/// Docker gives its socket to the `docker` group; berth does the same with a
/// `berth` group when one exists, and leaves it root-only otherwise.
pub fn give_socket_to_berth_group(path: &Path) -> Result<()> {
    let group = nix::unistd::Group::from_name("berth").with_context(|| "look up group berth")?;
    let Some(group) = group else {
        return Ok(());
    };
    nix::unistd::chown(path, None, Some(group.gid))
        .with_context(|| format!("give socket {} to group berth", path.display()))
}
