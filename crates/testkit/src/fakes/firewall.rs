//! [`FakeFirewall`]: berth's nftables tables as a model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use berth_core::ports::{Firewall, FirewallChange, FirewallState, PortError};

use super::{fail, lock};

/// berth's tables as a model: what `apply` and `update` leave, and a way
/// to delete them "from outside".
#[derive(Default)]
pub struct FakeFirewall {
    state: Mutex<Option<FirewallState>>,
    /// What berth last wrote (`None`: never wrote), to tell drift.
    written: Mutex<Option<FirewallState>>,
    /// Transactions seen, to check that a change is one transaction.
    pub transactions: AtomicU64,
}

impl FakeFirewall {
    /// The tables' content, `None` if they do not exist.
    pub fn state(&self) -> Option<FirewallState> {
        lock(&self.state).clone()
    }

    /// Like `nft flush ruleset` run by someone else.
    pub fn flush(&self) {
        *lock(&self.state) = None;
    }

    /// Changes the tables' content as someone else might (`nft delete
    /// element …`); no-op if they do not exist.
    pub fn tamper(&self, change: impl FnOnce(&mut FirewallState)) {
        if let Some(state) = lock(&self.state).as_mut() {
            change(state);
        }
    }

    fn wrote(&self, state: Option<FirewallState>) {
        *lock(&self.written) = state;
    }
}

impl Firewall for FakeFirewall {
    async fn apply(&self, state: &FirewallState) -> Result<(), PortError> {
        *lock(&self.state) = Some(state.clone());
        self.wrote(Some(state.clone()));
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn update(&self, change: &FirewallChange) -> Result<(), PortError> {
        let mut guard = lock(&self.state);
        let Some(state) = guard.as_mut() else {
            return Err(fail("table ip berth does not exist"));
        };
        state
            .networks
            .retain(|n| !change.remove_networks.contains(n));
        state.networks.extend(change.add_networks.iter().cloned());
        state.ports.retain(|p| !change.remove_ports.contains(p));
        state.ports.extend(change.add_ports.iter().cloned());
        state.networks.sort();
        state.ports.sort();
        let written = state.clone();
        drop(guard);
        self.wrote(Some(written));
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn drift(&self) -> Result<Option<String>, PortError> {
        let written = lock(&self.written).clone();
        let now = lock(&self.state).clone();
        Ok(match (written, now) {
            (None, _) => None,
            (Some(_), None) => Some("berth's tables are gone".to_owned()),
            (Some(w), Some(n)) if w == n => None,
            (Some(_), Some(_)) => Some("berth's tables' content changed".to_owned()),
        })
    }
}
