//! [`FakeVolumes`]: volume directories and their mounts as a set of
//! names, with the host paths a test says exist.

use std::collections::BTreeSet;
use std::sync::Mutex;

use berth_core::ports::{PortError, Volumes};
use berth_core::volume::Volume;

use super::lock;

#[derive(Default)]
pub struct FakeVolumes {
    /// Volumes whose directory exists.
    dirs: Mutex<BTreeSet<String>>,
    /// Volumes whose device is mounted.
    mounted: Mutex<BTreeSet<String>>,
    /// Host paths that exist.
    host_paths: Mutex<BTreeSet<String>>,
}

impl FakeVolumes {
    /// The volume directories there are.
    pub fn dirs(&self) -> BTreeSet<String> {
        lock(&self.dirs).clone()
    }

    /// The volumes whose device is mounted.
    pub fn mounted(&self) -> BTreeSet<String> {
        lock(&self.mounted).clone()
    }

    /// A directory as a crash may have left it, no record for it.
    pub fn add_dir(&self, name: &str) {
        lock(&self.dirs).insert(name.to_owned());
    }

    /// Makes `path` exist on the fake host.
    pub fn add_host_path(&self, path: &str) {
        lock(&self.host_paths).insert(path.to_owned());
    }
}

impl Volumes for FakeVolumes {
    fn mountpoint(&self, name: &str) -> String {
        format!("/var/lib/berth/volumes/{name}/_data")
    }

    async fn create(&self, volume: &Volume) -> Result<(), PortError> {
        lock(&self.dirs).insert(volume.name.clone());
        Ok(())
    }

    async fn activate(&self, volume: &Volume) -> Result<(), PortError> {
        lock(&self.dirs).insert(volume.name.clone());
        if volume.mounts_device() {
            lock(&self.mounted).insert(volume.name.clone());
        }
        Ok(())
    }

    async fn deactivate(&self, volume: &Volume) -> Result<(), PortError> {
        lock(&self.mounted).remove(&volume.name);
        Ok(())
    }

    async fn remove(&self, volume: &Volume) -> Result<u64, PortError> {
        lock(&self.mounted).remove(&volume.name);
        lock(&self.dirs).remove(&volume.name);
        Ok(0)
    }

    fn list(&self) -> Result<Vec<String>, PortError> {
        Ok(lock(&self.dirs).iter().cloned().collect())
    }

    fn host_path_exists(&self, path: &str) -> bool {
        lock(&self.host_paths).contains(path)
    }
}
