//! A container's filesystem beyond its image: bind mounts, volumes, tmpfs
//! mounts and a read-only root (`-v`, `--mount`, `--tmpfs`,
//! `--read-only`, `--volumes-from`).
//!
//! What the client asked is kept as it was asked (inspect shows it back);
//! [`plan_mounts`] turns it into the [`Mount`]s the runtime makes, with
//! Docker's rules (moby `daemon/volumes.go` `registerMountPoints`, the
//! Linux parser of `volume/mounts`) and Docker's error texts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Docker's label on the volumes it makes for a container (`-v /path`,
/// an image's `VOLUME`): what `volume prune` removes by default.
pub const ANONYMOUS_VOLUME_LABEL: &str = "com.docker.volume.anonymous";

/// What was asked for the container's filesystem, and what it resolved to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// `HostConfig.Binds` as sent (`-v SRC:DST[:MODE]`).
    #[serde(default)]
    pub binds: Vec<String>,
    /// `HostConfig.Mounts` (`--mount`).
    #[serde(default)]
    pub mount_requests: Vec<MountRequest>,
    /// `HostConfig.Tmpfs`: destination to its mount options.
    #[serde(default)]
    pub tmpfs: BTreeMap<String, String>,
    /// `--read-only`.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// `HostConfig.VolumesFrom` (`C[:ro|rw]`).
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// `Config.Volumes`: the client's anonymous volumes, and (once
    /// created) the image's `VOLUME`s.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// What the runtime mounts, parents before children; filled at create.
    #[serde(default)]
    pub mounts: Vec<Mount>,
}

impl Storage {
    /// The names of the volumes the container mounts.
    pub fn volume_names(&self) -> impl Iterator<Item = &str> {
        self.mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
            .map(|m| m.name.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One `--mount`, typed (the API layer refuses the options berth lacks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRequest {
    pub kind: MountKind,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    /// Bind propagation (`bind-propagation=`), empty for the default.
    #[serde(default)]
    pub propagation: String,
    /// `volume-nocopy`.
    #[serde(default)]
    pub no_copy: bool,
    /// `volume-label=` (for a volume this mount creates).
    #[serde(default)]
    pub volume_labels: BTreeMap<String, String>,
    /// `volume-driver=`; empty is `local`.
    #[serde(default)]
    pub volume_driver: String,
    /// `volume-opt=` (for a volume this mount creates).
    #[serde(default)]
    pub volume_options: BTreeMap<String, String>,
    /// `tmpfs-size=` in bytes; 0 for none.
    #[serde(default)]
    pub tmpfs_size: i64,
    /// `tmpfs-mode=`; 0 for the kernel's default.
    #[serde(default)]
    pub tmpfs_mode: u32,
}

/// A mount the runtime makes in the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// The host path: a bind's source, a volume's data directory; empty
    /// for tmpfs.
    pub source: String,
    pub destination: String,
    /// The volume's name; empty otherwise.
    #[serde(default)]
    pub name: String,
    pub read_only: bool,
    /// Inspect's `Mode`: the mode text of a `-v` (`ro`, `z`, `ro,Z`…).
    #[serde(default)]
    pub mode: String,
    /// Bind propagation (`rprivate` unless asked); empty for the others.
    #[serde(default)]
    pub propagation: String,
    /// tmpfs mount data (`size=65536k,mode=1777`), as asked.
    #[serde(default)]
    pub tmpfs_options: String,
    /// A volume is filled from the image's content at its destination
    /// when it is empty (unless `nocopy`).
    #[serde(default)]
    pub copy_up: bool,
    /// A `-v` bind whose host directory is made when missing (Docker's
    /// behaviour for `-v`, not for `--mount`).
    #[serde(default)]
    pub create_source: bool,
}

/// A volume a container's mounts need that may not exist yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeNeed {
    /// `None`: an anonymous volume, named by the caller.
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// A mount before its volume is known: the planner fills `source` and
/// `name` of volume mounts from the volumes it finds or makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedMount {
    pub mount: Mount,
    /// For a volume mount: the volume it needs.
    pub volume: Option<VolumeNeed>,
}

/// Everything a container mounts, from what it asked (`storage`, whose
/// `volumes` already hold the image's), the mounts of `--volumes-from`
/// sources (`from`, each with whether `:ro` was asked), by Docker's
/// precedence: volumes-from first, replaced by binds and `--mount`s
/// (which must not repeat a destination among themselves or with
/// `--tmpfs`), then anonymous volumes where nothing else mounts.
pub fn plan_mounts(
    storage: &Storage,
    from: &[(Vec<Mount>, bool)],
    bind_exists: &dyn Fn(&str) -> bool,
) -> Result<Vec<PlannedMount>> {
    let mut by_destination: BTreeMap<String, PlannedMount> = BTreeMap::new();
    for (mounts, read_only) in from {
        for m in mounts.iter().filter(|m| m.kind != MountKind::Tmpfs) {
            let mut m = m.clone();
            m.read_only |= *read_only;
            by_destination.insert(
                m.destination.clone(),
                PlannedMount {
                    mount: m,
                    volume: None,
                },
            );
        }
    }
    let mut explicit: Vec<PlannedMount> = Vec::new();
    for spec in &storage.binds {
        explicit.push(parse_bind(spec)?);
    }
    for request in &storage.mount_requests {
        explicit.push(parse_mount_request(request, bind_exists)?);
    }
    for (destination, options) in &storage.tmpfs {
        explicit.push(tmpfs_mount(destination, options)?);
    }
    let mut seen = std::collections::BTreeSet::new();
    for planned in explicit {
        let destination = planned.mount.destination.clone();
        if !seen.insert(destination.clone()) {
            return Err(invalid(format!("Duplicate mount point: {destination}")));
        }
        by_destination.insert(destination, planned);
    }
    for destination in &storage.volumes {
        let planned = anonymous_volume(destination)?;
        by_destination
            .entry(planned.mount.destination.clone())
            .or_insert(planned);
    }
    let mut planned: Vec<PlannedMount> = by_destination.into_values().collect();
    // Parents before children, as runc mounts them in order.
    planned.sort_by_key(|p| p.mount.destination.matches('/').count());
    Ok(planned)
}

mod parse;
#[cfg(test)]
mod tests;

use parse::{anonymous_volume, invalid, tmpfs_mount};
pub use parse::{
    check_local_options, check_volume_name, parse_bind, parse_mount_request, parse_volumes_from,
};
