//! The real adapters, named in one place.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use berth_core::ports::{Env, Host};
use berth_netlink::Netlink;
use berth_store::SqliteStore;

use crate::config::Config;

pub struct RealHost {
    net: Netlink,
    store: SqliteStore,
    env: SystemEnv,
}

impl RealHost {
    pub async fn open(config: &Config) -> Result<RealHost> {
        let db = config.data_root.join("berth.db");
        let store = SqliteStore::open(&db)
            .with_context(|| format!("open state database {}", db.display()))?;
        let net = Netlink::open().await.context("open a netlink connection")?;
        Ok(RealHost {
            net,
            store,
            env: SystemEnv,
        })
    }
}

impl Host for RealHost {
    type Net = Netlink;
    type Store = SqliteStore;
    type Env = SystemEnv;

    fn net(&self) -> &Netlink {
        &self.net
    }

    fn store(&self) -> &SqliteStore {
        &self.store
    }

    fn env(&self) -> &SystemEnv {
        &self.env
    }
}

pub struct SystemEnv;

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
