//! Volumes: data that outlives containers, under the data root
//! (`<data-root>/volumes/<name>/_data`, as Docker's `local` driver keeps
//! it). Recorded in the store like networks and containers; the files are
//! the [`Volumes`] port's.
//!
//! Crash safety: a volume is recorded before its directory is made, and
//! forgotten before its directory is removed, so a directory without a
//! record is always a leftover: start-up removes it
//! ([`Engine::reconcile_volumes`]). A record without a directory (a crash
//! right after the record) gets it at its next use.
//!
//! `local` driver options (`type`, `device`, `o`) are mounted on the data
//! directory when a container using the volume starts and unmounted when
//! the last running one stops.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use berth_types::ContainerId;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::container::storage::{
    check_local_options, check_volume_name, parse_volumes_from, plan_mounts, PlannedMount,
    VolumeNeed,
};
use crate::container::{Container, Storage, ANONYMOUS_VOLUME_LABEL};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::events::EventType;
use crate::filter::{LabelMatch, RawFilters};
use crate::model::Txn;
use crate::ports::{Env, Host, Volumes};

/// The one volume driver berth has.
pub const LOCAL_DRIVER: &str = "local";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `local` driver options (`type`, `device`, `o`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The host directory containers mount.
    pub mountpoint: String,
    pub created: SystemTime,
}

impl Volume {
    /// Made for one container (`-v /path`, an image's `VOLUME`).
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_VOLUME_LABEL)
    }

    /// Its options mount something on the data directory.
    pub fn mounts_device(&self) -> bool {
        self.options.contains_key("type")
    }
}

/// `docker volume create`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeCreate {
    /// Empty: a random name.
    pub name: String,
    /// Empty: `local`.
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// The volumes, as one snapshot that readers share and each change
/// replaces (as the networks).
#[derive(Default)]
pub struct VolumeTable {
    current: RwLock<Arc<[Volume]>>,
}

impl VolumeTable {
    pub(crate) fn new(volumes: Vec<Volume>) -> Self {
        VolumeTable {
            current: RwLock::new(volumes.into()),
        }
    }

    /// Every volume, oldest first.
    pub fn snapshot(&self) -> Arc<[Volume]> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn get(&self, name: &str) -> Option<Volume> {
        self.snapshot().iter().find(|v| v.name == name).cloned()
    }

    fn replace(&self, change: impl FnOnce(&mut Vec<Volume>)) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = current.to_vec();
        change(&mut next);
        *current = next.into();
    }

    pub(crate) fn put(&self, volume: &Volume) {
        self.replace(|all| match all.iter_mut().find(|v| v.name == volume.name) {
            Some(old) => *old = volume.clone(),
            None => all.push(volume.clone()),
        });
    }

    pub(crate) fn remove(&self, name: &str) {
        self.replace(|all| all.retain(|v| v.name != name));
    }
}

/// The containers (any state) that mount `name`.
pub fn users_of<'a>(
    containers: &'a [Arc<Container>],
    name: &'a str,
) -> impl Iterator<Item = &'a Arc<Container>> + 'a {
    containers
        .iter()
        .filter(move |c| c.storage.volume_names().any(|n| n == name))
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("get {name}: no such volume"))
}

/// `volume ls --filter`: name, label, dangling, driver.
#[derive(Clone, Debug, Default)]
pub struct VolumeFilter {
    names: Vec<String>,
    drivers: Vec<String>,
    labels: Vec<LabelMatch>,
    dangling: Option<bool>,
}

impl VolumeFilter {
    pub fn parse(raw: &RawFilters) -> Result<Self> {
        crate::filter::check_keys(raw, &["name", "driver", "label", "dangling"])?;
        let dangling = match crate::filter::values(raw, "dangling") {
            [] => None,
            [v] => Some(crate::filter::parse_bool("dangling", v)?),
            _ => {
                return Err(Error::InvalidParameter(
                    "got more than one value for filter key \"dangling\"".to_owned(),
                ))
            }
        };
        Ok(VolumeFilter {
            names: crate::filter::values(raw, "name").to_vec(),
            drivers: crate::filter::values(raw, "driver").to_vec(),
            labels: crate::filter::values(raw, "label")
                .iter()
                .map(|l| LabelMatch::parse(l))
                .collect(),
            dangling,
        })
    }

    /// `in_use`: some container mounts it.
    pub fn matches(&self, v: &Volume, in_use: bool) -> bool {
        let any = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|x| f(x))
        };
        any(&self.names, &|n| crate::filter::matches(n, &v.name))
            && any(&self.drivers, &|d| d == v.driver)
            && self.labels.iter().all(|l| l.matches(&v.labels))
            && self.dangling.is_none_or(|d| d != in_use)
    }
}

/// `volume prune --filter`: `all` (named volumes too, not only
/// anonymous ones), `label`, `label!`.
#[derive(Clone, Debug, Default)]
pub struct VolumePrune {
    all: bool,
    labels: Vec<LabelMatch>,
    not_labels: Vec<LabelMatch>,
}

impl VolumePrune {
    pub fn parse(raw: &RawFilters) -> Result<Self> {
        crate::filter::check_keys(raw, &["all", "label", "label!"])?;
        let all = match crate::filter::values(raw, "all") {
            [] => false,
            [v] => crate::filter::parse_bool("all", v)?,
            _ => {
                return Err(Error::InvalidParameter(
                    "got more than one value for filter key \"all\"".to_owned(),
                ))
            }
        };
        let labels = |key| {
            crate::filter::values(raw, key)
                .iter()
                .map(|l| LabelMatch::parse(l))
                .collect()
        };
        Ok(VolumePrune {
            all,
            labels: labels("label"),
            not_labels: labels("label!"),
        })
    }

    fn matches(&self, v: &Volume) -> bool {
        (self.all || v.is_anonymous())
            && self.labels.iter().all(|l| l.matches(&v.labels))
            && !self.not_labels.iter().any(|l| l.matches(&v.labels))
    }
}

impl<H: Host> Engine<H> {
    /// A volume record for `need`, named (anonymous ones get a random
    /// name), not committed.
    pub(crate) fn new_volume(&self, need: &VolumeNeed) -> Volume {
        let env = self.host.env();
        let name = need
            .name
            .clone()
            .unwrap_or_else(|| ContainerId::from_bytes(env.random_id_bytes()).to_string());
        Volume {
            mountpoint: self.host.volumes().mountpoint(&name),
            name,
            driver: LOCAL_DRIVER.to_owned(),
            labels: need.labels.clone(),
            options: need.options.clone(),
            created: env.now(),
        }
    }

    /// Makes the directories of volumes just recorded. A failure leaves
    /// the record, and the directory is made at the volume's next use.
    pub(crate) async fn make_volume_dirs(&self, volumes: &[Volume]) {
        for v in volumes {
            if let Err(e) = self.host.volumes().create(v).await {
                warn!(volume = %v.name, error = %e, "volume directory not made");
            }
        }
    }

    pub async fn create_volume(&mut self, req: VolumeCreate) -> Result<Volume> {
        if !req.driver.is_empty() && req.driver != LOCAL_DRIVER {
            return Err(Error::NotFound(format!(
                "error looking up volume plugin {}: plugin \"{}\" not found",
                req.driver, req.driver
            )));
        }
        if !req.name.is_empty() {
            check_volume_name(&req.name)?;
        }
        check_local_options(&req.options)?;
        if let Some(existing) = self.model.volumes.get(&req.name) {
            // Docker answers an existing name with the volume as it is.
            return Ok(existing);
        }
        let mut labels = req.labels;
        if req.name.is_empty() {
            // As moby's volume service: one without a name is anonymous,
            // what `volume prune` takes by default.
            labels.insert(ANONYMOUS_VOLUME_LABEL.to_owned(), String::new());
        }
        let volume = self.new_volume(&VolumeNeed {
            name: (!req.name.is_empty()).then(|| req.name.clone()),
            labels,
            options: req.options,
        });
        self.commit(Txn::new(format!("record volume {}", volume.name)).put_volume(&volume))?;
        self.host
            .volumes()
            .create(&volume)
            .await
            .map_err(Error::runtime(format!("make volume {}", volume.name)))?;
        info!(volume = %volume.name, "volume created");
        self.volume_event(&volume, "create");
        Ok(volume)
    }

    /// `volume rm`: refused while any container mounts it; `force` makes a
    /// missing volume success.
    pub async fn remove_volume(&mut self, name: &str, force: bool) -> Result<()> {
        let Some(volume) = self.model.volumes.get(name) else {
            return if force { Ok(()) } else { Err(not_found(name)) };
        };
        let containers = self.model.containers.all();
        let users: Vec<String> = users_of(&containers, name)
            .map(|c| c.id.to_string())
            .collect();
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.commit(Txn::new(format!("forget volume {name}")).delete_volume(name))?;
        self.remove_volume_dirs(std::slice::from_ref(&volume)).await;
        info!(volume = %name, "volume removed");
        self.volume_event(&volume, "destroy");
        Ok(())
    }

    /// `volume prune`: the unused volumes `filter` matches; returns their
    /// names and the bytes freed.
    pub async fn prune_volumes(&mut self, filter: &VolumePrune) -> Result<(Vec<String>, u64)> {
        let containers = self.model.containers.all();
        let doomed: Vec<Volume> = self
            .model
            .volumes
            .snapshot()
            .iter()
            .filter(|v| filter.matches(v) && users_of(&containers, &v.name).next().is_none())
            .cloned()
            .collect();
        let mut freed = 0;
        if !doomed.is_empty() {
            let mut txn = Txn::new("forget unused volumes");
            for v in &doomed {
                txn = txn.delete_volume(&v.name);
            }
            self.commit(txn)?;
            freed = self.remove_volume_dirs(&doomed).await;
            for v in &doomed {
                self.volume_event(v, "destroy");
            }
        }
        self.event_log
            .pruned(EventType::Volume, freed, self.host.env().now());
        Ok((doomed.into_iter().map(|v| v.name).collect(), freed))
    }

    /// Removes forgotten volumes' directories; a failure leaves a
    /// leftover for start-up to remove. Returns the bytes freed.
    pub(crate) async fn remove_volume_dirs(&self, volumes: &[Volume]) -> u64 {
        let mut freed = 0;
        for v in volumes {
            match self.host.volumes().remove(v).await {
                Ok(bytes) => freed += bytes,
                Err(e) => warn!(volume = %v.name, error = %e, "volume directory not removed"),
            }
        }
        freed
    }

    /// The anonymous volumes of `c` no other container mounts: what
    /// `rm -v` and `--rm` remove with it.
    pub(crate) fn anonymous_volumes_of(&self, c: &Container) -> Vec<Volume> {
        let containers = self.model.containers.all();
        let mine: BTreeSet<&str> = c.storage.volume_names().collect();
        mine.into_iter()
            .filter(|name| users_of(&containers, name).all(|other| other.id == c.id))
            .filter_map(|name| self.model.volumes.get(name))
            .filter(Volume::is_anonymous)
            .collect()
    }

    /// Before `c` runs: each of its volumes has its directory, and those
    /// with `local` options their device mounted.
    pub(crate) async fn activate_volumes(&self, c: &Container) -> Result<()> {
        for name in c.storage.volume_names() {
            let volume = self
                .model
                .volumes
                .get(name)
                .ok_or_else(|| not_found(name))?;
            self.host
                .volumes()
                .activate(&volume)
                .await
                .map_err(Error::runtime(format!("mount volume {name}")))?;
        }
        Ok(())
    }

    /// After `c` stopped: the devices of its volumes that no other running
    /// container uses are unmounted.
    pub(crate) async fn deactivate_volumes(&self, c: &Container) {
        // Every exit comes here: the containers are listed only for a
        // volume that mounts a device (rare), not for every exit.
        let mut containers = None;
        for name in c.storage.volume_names() {
            let Some(volume) = self.model.volumes.get(name).filter(Volume::mounts_device) else {
                continue;
            };
            let containers = containers.get_or_insert_with(|| self.model.containers.all());
            let busy = users_of(containers, name)
                .any(|other| other.id != c.id && (other.is_running() || other.state.starting));
            if busy {
                continue;
            }
            if let Err(e) = self.host.volumes().deactivate(&volume).await {
                warn!(volume = %name, error = %e, "volume device not unmounted");
            }
        }
    }

    /// Start-up: volume directories no record explains (a removal or
    /// prune cut short) are removed, and devices no running container
    /// uses (a start or an exit cut short) unmounted.
    pub(crate) async fn reconcile_volumes(&self) {
        let containers = self.model.containers.all();
        for volume in self.model.volumes.snapshot().iter() {
            let running =
                users_of(&containers, &volume.name).any(|c| c.is_running() || c.state.starting);
            if volume.mounts_device() && !running {
                if let Err(e) = self.host.volumes().deactivate(volume).await {
                    warn!(volume = %volume.name, error = %e, "volume device not unmounted");
                }
            }
        }
        let found = match self.host.volumes().list() {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "volume directories not listed");
                return;
            }
        };
        for name in found {
            if self.model.volumes.get(&name).is_some() {
                continue;
            }
            let leftover = Volume {
                mountpoint: self.host.volumes().mountpoint(&name),
                name,
                driver: LOCAL_DRIVER.to_owned(),
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                created: SystemTime::UNIX_EPOCH,
            };
            info!(volume = %leftover.name, "removing a volume directory no record explains");
            self.remove_volume_dirs(std::slice::from_ref(&leftover))
                .await;
        }
    }
}

impl<H: Host> Engine<H> {
    /// Resolves a new container's mounts into `storage.mounts` (the
    /// image's `VOLUME`s join `storage.volumes`); returns the volumes they
    /// need that do not exist yet, to be recorded with the container.
    pub(crate) fn plan_storage(
        &self,
        storage: &mut Storage,
        image_volumes: &[String],
    ) -> Result<Vec<Volume>> {
        for v in image_volumes {
            if !storage.volumes.contains(v) {
                storage.volumes.push(v.clone());
            }
        }
        let mut from = Vec::new();
        for spec in &storage.volumes_from {
            let (reference, read_only) = parse_volumes_from(spec)?;
            let source = self.model.containers.find(reference)?;
            from.push((source.storage.mounts.clone(), read_only));
        }
        let volumes = self.host.volumes();
        let planned = plan_mounts(storage, &from, &|p| volumes.host_path_exists(p))?;
        let mut new: Vec<Volume> = Vec::new();
        let mut mounts = Vec::with_capacity(planned.len());
        for PlannedMount { mut mount, volume } in planned {
            if let Some(need) = volume {
                let existing = need.name.as_deref().and_then(|name| {
                    self.model
                        .volumes
                        .get(name)
                        .or_else(|| new.iter().find(|v| v.name == name).cloned())
                });
                let volume = match existing {
                    Some(v) => v,
                    None => {
                        let v = self.new_volume(&need);
                        new.push(v.clone());
                        v
                    }
                };
                mount.name = volume.name;
                mount.source = volume.mountpoint;
            }
            mounts.push(mount);
        }
        storage.mounts = mounts;
        Ok(new)
    }
}
