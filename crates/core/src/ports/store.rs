//! Durable state: [`Store`] and the writes of its transactions.

use berth_types::{ContainerId, NetworkId};

use crate::container::Container;
use crate::network::{Network, RecordState};
use crate::volume::Volume;

use super::PortError;

/// One write of a [`Store::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Inserts or replaces (same id) a network, with its record's state.
    PutNetwork(Box<Network>, RecordState),
    DeleteNetwork(NetworkId),
    /// Inserts or replaces (same id) a container. Its live endpoints are
    /// stored with it, each with its addresses allocated on its network;
    /// endpoints it no longer has are deleted, releasing their addresses.
    PutContainer(Box<Container>),
    /// Deletes a container and its endpoints; missing is success.
    DeleteContainer(ContainerId),
    /// Inserts or replaces (same name) a volume.
    PutVolume(Box<Volume>),
    /// Deletes a volume by name; missing is success.
    DeleteVolume(String),
}

/// Durable state. The engine loads it once and then only writes: each
/// [`Store::commit`] is one transaction.
pub trait Store: Send + Sync + 'static {
    /// Every network with the state of its record.
    fn networks(&self) -> Result<Vec<(Network, RecordState)>, PortError>;
    /// Every container, with the endpoints stored for it.
    fn containers(&self) -> Result<Vec<Container>, PortError>;
    /// Every volume, oldest first.
    fn volumes(&self) -> Result<Vec<Volume>, PortError>;
    /// Applies `writes` in order as one transaction: all or nothing. A
    /// unique constraint refusing a write (a name taken, an address already
    /// allocated on its network) fails it whole with [`StoreConflict`].
    fn commit(&self, writes: &[Write]) -> Result<(), PortError>;
    /// [`Store::commit`] that a process crash must not lose but a reboot
    /// may: for records of kernel state that a reboot erases too (a start's
    /// intent: its namespace, endpoints, ports). The store may skip the
    /// flush to disk; the next [`Store::commit`] flushes this one as well.
    fn commit_unsynced(&self, writes: &[Write]) -> Result<(), PortError> {
        self.commit(writes)
    }
}

/// The error a store returns when a unique constraint refuses a write
/// (an address or name already taken), so the core can tell it apart.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreConflict(pub String);
