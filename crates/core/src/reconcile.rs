//! Start-up: make the kernel match the store. Records say what was meant;
//! anything half-done by a crash is finished or undone here, and berth's own
//! kernel objects that no record claims are removed.

use std::collections::{BTreeMap, BTreeSet};

use berth_types::{Driver, NetworkId};
use tracing::{info, warn};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::{Network, RecordState};
use crate::network::{bridge_spec, default_bridge_network, driverless_network};
use crate::ports::{network_id_from_alias, Env, Host, NetOps, Store};

impl<H: Host> Engine<H> {
    /// Brings the host in line with the store. Fails only where the daemon
    /// cannot serve: the store is unreadable or the default bridge cannot be
    /// made. A user network whose bridge fails is logged and retried at the
    /// next start.
    pub async fn reconcile(&mut self) -> Result<()> {
        let net = self.host.net();
        if self.config.ip_forward {
            net.set_sysctl("net.ipv4.ip_forward", "1")
                .await
                .map_err(Error::kernel("enable net.ipv4.ip_forward"))?;
        }

        let mut records = self
            .host
            .store()
            .networks()
            .map_err(Error::store("list networks"))?;
        for (network, _) in records.iter().filter(|(_, s)| *s == RecordState::Removing) {
            self.finish_removal(network).await;
        }
        records.retain(|(_, s)| *s != RecordState::Removing);
        self.ensure_predefined(&mut records)?;

        for (network, state) in &records {
            let made = match bridge_spec(network) {
                None => Ok(()),
                Some(spec) => net.ensure_bridge(&spec).await.map_err(|e| (spec, e)),
            };
            match made {
                Ok(()) => {
                    if *state != RecordState::Ready {
                        self.host
                            .store()
                            .set_network_state(&network.id, RecordState::Ready)
                            .map_err(Error::store(format!(
                                "mark network {} ready",
                                network.name
                            )))?;
                    }
                }
                Err((spec, source)) if network.name.as_str() == "bridge" => {
                    return Err(Error::Kernel {
                        what: format!("create default bridge {}", spec.name),
                        source,
                    })
                }
                Err((spec, e)) => {
                    warn!(network = %network.name, bridge = %spec.name, error = %e, "bridge not restored")
                }
            }
        }

        self.remove_orphan_bridges(&records).await
    }

    async fn finish_removal(&self, network: &Network) {
        if let Some(bridge) = &network.bridge {
            if let Err(e) = self.host.net().delete_link(&bridge.name).await {
                warn!(network = %network.name, error = %e, "interrupted removal: bridge still there");
                return;
            }
        }
        match self.host.store().delete_network(&network.id) {
            Ok(()) => info!(network = %network.name, "finished an interrupted removal"),
            Err(e) => {
                warn!(network = %network.name, error = %e, "interrupted removal: record kept")
            }
        }
    }

    /// `bridge`, `host` and `none` exist from the first start and keep their
    /// ids; `bridge` follows the current `--bip`, MTU and switches.
    fn ensure_predefined(&self, records: &mut Vec<(Network, RecordState)>) -> Result<()> {
        let env = self.host.env();
        let store = self.host.store();
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            let existing = records.iter().position(|(n, _)| n.name.as_str() == name);
            let (id, created) = match existing {
                Some(i) => (records[i].0.id.clone(), records[i].0.created),
                None => (NetworkId::from_bytes(env.random_id_bytes()), env.now()),
            };
            let wanted = match driver {
                Driver::Bridge => default_bridge_network(&self.config, id, created)?,
                Driver::Host | Driver::Null => driverless_network(name, driver, id, created)?,
            };
            match existing {
                Some(i) if records[i].0 == wanted => {}
                Some(i) => {
                    store
                        .update_network(&wanted, RecordState::Creating)
                        .map_err(Error::store(format!("update network {name}")))?;
                    // A renamed default bridge leaves the old one behind
                    // with this network's alias: the orphan sweep removes it.
                    records[i] = (wanted, RecordState::Creating);
                }
                None => {
                    store
                        .insert_network(&wanted, RecordState::Creating)
                        .map_err(Error::store(format!("create network {name}")))?;
                    records.push((wanted, RecordState::Creating));
                }
            }
        }
        Ok(())
    }

    /// Removes bridges that carry a network alias but belong to no record
    /// (or no longer carry their record's bridge name).
    async fn remove_orphan_bridges(&self, records: &[(Network, RecordState)]) -> Result<()> {
        let net = self.host.net();
        let wanted: BTreeMap<&str, &str> = records
            .iter()
            .filter_map(|(n, _)| Some((n.id.as_str(), n.bridge.as_ref()?.name.as_str())))
            .collect();
        let links = net
            .owned_links()
            .await
            .map_err(Error::kernel("list berth's links"))?;
        let orphans: BTreeSet<_> = links
            .into_iter()
            .filter(|l| match network_id_from_alias(&l.alias) {
                Some(id) => wanted.get(id) != Some(&l.name.as_str()),
                None => false,
            })
            .map(|l| l.name)
            .collect();
        for name in orphans {
            match net.delete_link(&name).await {
                Ok(()) => info!(bridge = %name, "removed a bridge no network owns"),
                Err(e) => warn!(bridge = %name, error = %e, "orphan bridge not removed"),
            }
        }
        Ok(())
    }
}
