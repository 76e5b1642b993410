//! The wire's mount and volume fields (`HostConfig.Binds`, `Mounts`,
//! `Tmpfs`, `ReadonlyRootfs`, `VolumesFrom`, `Config.Volumes`) to and from
//! core's [`Storage`].

use berth_core::container::Storage;
use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HostConfig, MountPoint};

/// What a create request asks for the container's filesystem.
pub fn requested(_body: &ContainerCreateBody, _host: &HostConfig) -> Storage {
    Storage::default()
}

/// The inspect fields that show what was asked (`HostConfig.Binds`,
/// `Mounts`, `Tmpfs`, `ReadonlyRootfs`, `VolumesFrom`, `Config.Volumes`).
pub fn show(_storage: &Storage, _host: &mut HostConfig, _config: &mut ContainerConfig) {}

/// Inspect's `Mounts`: what the container has mounted.
pub fn mount_points(_storage: &Storage) -> Vec<MountPoint> {
    Vec::new()
}
