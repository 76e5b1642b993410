//! [`FakeDns`]: which sandboxes have an embedded DNS server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_core::ports::{DnsUpstreams, PortError, SandboxDns};
use berth_types::ContainerId;

use super::lock;

/// Which sandboxes have an embedded DNS server, and where it forwards.
#[derive(Default)]
pub struct FakeDns {
    served: Mutex<BTreeMap<ContainerId, (PathBuf, DnsUpstreams)>>,
}

impl FakeDns {
    pub fn serving(&self, id: &ContainerId) -> Option<(PathBuf, DnsUpstreams)> {
        lock(&self.served).get(id).cloned()
    }
}

impl SandboxDns for FakeDns {
    async fn serve(
        &self,
        asker: &ContainerId,
        netns: &Path,
        upstreams: DnsUpstreams,
    ) -> Result<(), PortError> {
        lock(&self.served).insert(asker.clone(), (netns.to_path_buf(), upstreams));
        Ok(())
    }

    async fn stop(&self, asker: &ContainerId) {
        lock(&self.served).remove(asker);
    }
}
