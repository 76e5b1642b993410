//! [`FakeHost`]: every fake together, as the engine's host.

use std::path::{Path, PathBuf};

use berth_core::ports::Host;

use super::{FakeDns, FakeFirewall, FakeNet, FakeRuntime, FakeVolumes, FixedEnv, MemStore};
use crate::fake_images::FakeImages;

pub struct FakeHost {
    pub net: FakeNet,
    pub store: MemStore,
    pub env: FixedEnv,
    pub runtime: FakeRuntime,
    pub images: FakeImages,
    pub firewall: FakeFirewall,
    pub dns: FakeDns,
    pub volumes: FakeVolumes,
    pub netns_dir: PathBuf,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost {
            net: FakeNet::default(),
            store: MemStore::default(),
            env: FixedEnv::default(),
            runtime: FakeRuntime::default(),
            images: FakeImages::default(),
            firewall: FakeFirewall::default(),
            dns: FakeDns::default(),
            volumes: FakeVolumes::default(),
            netns_dir: PathBuf::from("/run/berth/netns"),
        }
    }
}

impl Host for FakeHost {
    type Net = FakeNet;
    type Store = MemStore;
    type Env = FixedEnv;
    type Runtime = FakeRuntime;
    type Images = FakeImages;
    type Firewall = FakeFirewall;
    type Dns = FakeDns;
    type Volumes = FakeVolumes;

    fn dns(&self) -> &FakeDns {
        &self.dns
    }

    fn volumes(&self) -> &FakeVolumes {
        &self.volumes
    }

    fn firewall(&self) -> &FakeFirewall {
        &self.firewall
    }

    fn runtime(&self) -> &FakeRuntime {
        &self.runtime
    }

    fn images(&self) -> &FakeImages {
        &self.images
    }

    fn netns_dir(&self) -> &Path {
        &self.netns_dir
    }

    fn net(&self) -> &FakeNet {
        &self.net
    }

    fn store(&self) -> &MemStore {
        &self.store
    }

    fn env(&self) -> &FixedEnv {
        &self.env
    }
}
