//! berth-core's `Volumes` port on [`crate::volumes`], on the blocking pool.

use berth_core::ports::{PortError, Volumes};
use berth_core::volume::Volume;

use super::{port_err, OciAdapter};
use crate::volumes::{self, OptionsRef};

fn options(volume: &Volume) -> OptionsRef<'_> {
    let get = |key: &str| volume.options.get(key).map(String::as_str);
    OptionsRef {
        fstype: get("type"),
        device: get("device"),
        o: get("o"),
    }
}

impl Volumes for OciAdapter {
    fn mountpoint(&self, name: &str) -> String {
        self.runtime()
            .layout()
            .volume_data(name)
            .to_string_lossy()
            .into_owned()
    }

    async fn create(&self, volume: &Volume) -> Result<(), PortError> {
        let name = volume.name.clone();
        self.blocking(move |rt, _| volumes::create(rt.layout(), &name).map(drop))
            .await
            .map_err(port_err)
    }

    async fn activate(&self, volume: &Volume) -> Result<(), PortError> {
        let volume = volume.clone();
        self.blocking(move |rt, _| volumes::activate(rt.layout(), &volume.name, &options(&volume)))
            .await
            .map_err(port_err)
    }

    async fn deactivate(&self, volume: &Volume) -> Result<(), PortError> {
        let name = volume.name.clone();
        self.blocking(move |rt, _| volumes::deactivate(rt.layout(), &name))
            .await
            .map_err(port_err)
    }

    async fn remove(&self, volume: &Volume) -> Result<u64, PortError> {
        let name = volume.name.clone();
        self.blocking(move |rt, _| volumes::remove(rt.layout(), &name))
            .await
            .map_err(port_err)
    }

    fn list(&self) -> Result<Vec<String>, PortError> {
        volumes::list(self.runtime().layout()).map_err(port_err)
    }

    fn host_path_exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }
}
