//! The rule that a request needs the container's process up, in one place
//! and in Docker's words (`kill`, `exec`, a terminal resize).

use crate::container::Container;
use crate::engine::EngineHandle;
use crate::error::{Error, Result};
use crate::ports::Host;

impl<H: Host> EngineHandle<H> {
    /// The container, if its process runs; Docker's 409 otherwise.
    pub fn running_container(&self, reference: &str) -> Result<Container> {
        let c = self.inspect_container(reference)?;
        if c.is_running() {
            Ok(c)
        } else {
            Err(not_running(&c))
        }
    }

    /// As [`Self::running_container`], but a container berth is still
    /// starting counts: a client may size the terminal of a `docker run`
    /// before the start is recorded.
    pub fn resizable_container(&self, reference: &str) -> Result<Container> {
        let c = self.inspect_container(reference)?;
        if c.is_running() || c.state.starting {
            Ok(c)
        } else {
            Err(not_running(&c))
        }
    }
}

fn not_running(c: &Container) -> Error {
    Error::Conflict(format!("container {} is not running", c.id))
}
