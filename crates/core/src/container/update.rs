//! `docker update`: new limits (applied live to a running container) and
//! restart policy, recorded in one transaction.

use tracing::{info, warn};

use crate::container::{Container, ContainerUpdate, RestartPolicy, Status};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::Txn;
use crate::ports::{Host, Runtime};

impl<H: Host> Engine<H> {
    /// Changes the container's limits: the runtime applies them first when
    /// it runs (nothing is recorded if it refuses), then the record
    /// changes; a container that does not run gets them at its next start.
    pub async fn update_container(
        &mut self,
        reference: &str,
        change: &ContainerUpdate,
    ) -> Result<Container> {
        let mut c = self.container(reference)?;
        let cannot = |why: String| format!("Cannot update container {}: {why}", c.id);
        if c.state.status == Status::Removing {
            return Err(Error::Conflict(cannot(
                "container is marked for removal and cannot be \"update\"".to_owned(),
            )));
        }
        // Its runtime is being given the old limits right now: an update
        // recorded now would not reach the process.
        if c.state.starting {
            return Err(Error::Conflict(cannot(
                "container is being started; try again once it runs".to_owned(),
            )));
        }
        if let Some((name, max_retries)) = change
            .restart_policy
            .as_ref()
            .filter(|(n, _)| !n.is_empty())
        {
            let policy = RestartPolicy::parse(name, *max_retries)?;
            if c.auto_remove && policy != RestartPolicy::No {
                return Err(Error::Conflict(cannot(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container"
                        .to_owned(),
                )));
            }
            c.restart = policy;
        }
        let before = c.resources.clone();
        c.resources = match before.updated(change, &self.host.runtime().capacity()) {
            Ok(next) => next,
            Err(Error::Conflict(why)) => return Err(Error::Conflict(cannot(why))),
            Err(e) => return Err(e),
        };
        let live = c.is_running();
        if live {
            self.host
                .runtime()
                .update(&c.id, &c.resources)
                .await
                .map_err(Error::runtime(cannot("apply the new limits".to_owned())))?;
        }
        let recorded = self.commit(
            Txn::new(format!("record the new limits of container {}", c.name)).put_container(&c),
        );
        if let Err(e) = recorded {
            if live {
                if let Err(undo) = self.host.runtime().update(&c.id, &before).await {
                    warn!(container = %c.name, error = %undo, "limits not restored after a failed update");
                }
            }
            return Err(e);
        }
        info!(container = %c.name, "container limits updated");
        self.container_event(&c, "update", &[]);
        Ok(c)
    }
}
