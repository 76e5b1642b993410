use std::io;

use berth_types::ContainerId;

/// Why a sandbox cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot serve DNS for container {asker}: not called within a tokio runtime")]
    NoRuntime { asker: ContainerId },
    #[error("cannot serve DNS for container {asker}: {what}: {source}")]
    Socket {
        asker: ContainerId,
        what: &'static str,
        #[source]
        source: io::Error,
    },
}
