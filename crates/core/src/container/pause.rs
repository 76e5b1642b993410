//! `pause` and `unpause`: every process of a running container frozen in
//! its cgroup and thawed again, with Docker's refusals.

use tracing::info;

use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Txn;
use crate::ports::{Host, Runtime};

impl<H: Host> Engine<H> {
    /// Freezes (`paused`) or thaws the container, then records it. The
    /// runtime goes first: a record never claims a state the processes are
    /// not in, except across a crash in between, which the next pause or
    /// unpause by hand mends.
    pub(crate) async fn set_paused(&mut self, reference: &str, paused: bool) -> Result<Container> {
        let mut c = self.container(reference)?;
        if c.state.restarting {
            return Err(Error::Conflict(format!(
                "Container {} is restarting, wait until the container is running",
                c.id
            )));
        }
        if !c.is_running() {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        match (paused, c.state.paused) {
            (true, true) => {
                return Err(Error::Conflict(format!(
                    "container {} is already paused",
                    c.id
                )))
            }
            (false, false) => {
                return Err(Error::Refused(format!("Container {} is not paused", c.id)))
            }
            _ => {}
        }
        self.host
            .runtime()
            .set_paused(&c.id, paused)
            .await
            .map_err(|e| {
                let verb = if paused { "pause" } else { "unpause" };
                Error::Refused(format!("Cannot {verb} container {}: {e}", c.id))
            })?;
        c.state.paused = paused;
        let verb = if paused { "paused" } else { "unpaused" };
        self.commit(Txn::new(format!("record container {} {verb}", c.name)).put_container(&c))?;
        info!(container = %c.name, "container {verb}");
        self.container_event(&c, if paused { "pause" } else { "unpause" }, &[]);
        Ok(c)
    }
}
