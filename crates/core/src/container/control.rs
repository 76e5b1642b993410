//! How the daemon stops, kills, restarts, removes and waits on containers:
//! the signals and waits run outside the engine (a stop waits seconds),
//! and the engine is told when a user stops one, so its restart policy
//! holds off.

use std::time::Duration;

use berth_types::ContainerId;
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::container::{Container, RestartPolicy};
use crate::engine::{Command, ExitNotice};
use crate::error::{Error, Result};
use crate::handle::EngineHandle;
use crate::ports::{Host, Runtime};

/// Docker's `stop` default grace period.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A stop's grace period in Docker's seconds: negative waits for ever.
pub fn stop_grace(secs: i64) -> Duration {
    if secs < 0 {
        Duration::from_secs(u64::MAX / 4)
    } else {
        Duration::from_secs(secs.unsigned_abs())
    }
}

/// `wait`'s conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl<H: Host> EngineHandle<H> {
    /// dockerd's `kill` event: a signal the container was sent.
    fn killed(&self, c: &Container, signal: i32) {
        self.container_event(c, "kill", &[("signal", signal.to_string())]);
    }

    /// Tells the engine the user is stopping (or, with a signal that does
    /// not end it, signalling) `c`, so its restart policy holds off. Only
    /// containers with a policy need it.
    async fn stopping(&self, c: &Container, ends_it: bool) -> Result<bool> {
        if c.restart == RestartPolicy::No {
            return Ok(false);
        }
        self.ask(|r| Command::StopRequested(c.id.to_string(), ends_it, r))
            .await
    }

    /// Sends `signal`; Docker's error if the container is not running.
    pub async fn kill_container(&self, reference: &str, signal: i32) -> Result<()> {
        let c = self.inspect_container(reference)?;
        // Docker: a container waiting to restart is running; killing it
        // cancels the restart.
        let ends_it = signal == libc_sigkill() || signal == libc_sigterm();
        if c.state.restarting && self.stopping(&c, ends_it).await? {
            return Ok(());
        }
        let c = self.running_container(reference)?;
        self.stopping(&c, ends_it).await?;
        self.host
            .runtime()
            .signal(&c.id, signal)
            .await
            .map_err(Error::runtime(format!("signal container {}", c.name)))?;
        self.killed(&c, signal);
        self.thaw_after_signal(&c).await;
        Ok(())
    }

    /// SIGTERM (or `signal`), then SIGKILL after `timeout`; returns false if
    /// the container was not running (Docker's 304).
    pub async fn stop_container(
        &self,
        reference: &str,
        signal: Option<i32>,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let mut events = self.exits.subscribe();
        let c = self.inspect_container(reference)?;
        let signal =
            signal.unwrap_or_else(|| c.stop_signal.as_ref().map_or(libc_sigterm(), |s| s.number));
        let timeout = timeout.unwrap_or_else(|| match c.stop_timeout {
            None => DEFAULT_STOP_TIMEOUT,
            Some(secs) => stop_grace(secs),
        });
        let was_restarting = self.stopping(&c, true).await?;
        if !c.is_running() {
            return Ok(was_restarting);
        }
        let runtime = self.host.runtime();
        match runtime.signal(&c.id, signal).await {
            Ok(()) => self.killed(&c, signal),
            Err(e) => warn!(container = %c.name, error = %e, "stop signal not delivered"),
        }
        self.thaw_after_signal(&c).await;
        match tokio::time::timeout(timeout, self.exited(&c.id, &mut events)).await {
            Ok(exited) => exited?,
            Err(_) => {
                info!(container = %c.name, "did not stop in time: killing");
                runtime
                    .signal(&c.id, libc_sigkill())
                    .await
                    .map_err(Error::runtime(format!("kill container {}", c.name)))?;
                self.killed(&c, libc_sigkill());
                self.exited(&c.id, &mut events).await?;
            }
        }
        self.container_event(&c, "stop", &[]);
        Ok(true)
    }

    /// Resolves once the container is no longer running (by event, or
    /// because the store already says so); fails if its exit could not be
    /// recorded.
    async fn exited(
        &self,
        id: &ContainerId,
        events: &mut broadcast::Receiver<ExitNotice>,
    ) -> Result<()> {
        loop {
            match self.inspect_container(id.as_str()) {
                Ok(c) if c.is_running() => {}
                _ => return Ok(()),
            }
            match events.recv().await {
                Ok(ExitNotice::Exited(e, _) | ExitNotice::Removed(e, _)) if &e == id => {
                    return Ok(())
                }
                Ok(ExitNotice::NotRecorded(e, why)) if &e == id => {
                    return Err(Error::NotRecorded(why))
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }

    /// `restart`: [`Self::stop_container`] with `signal`, then start.
    pub async fn restart_container(
        &self,
        reference: &str,
        signal: Option<i32>,
        timeout: Option<Duration>,
    ) -> Result<Container> {
        self.stop_container(reference, signal, timeout).await?;
        let c = self.start_container(reference).await?;
        self.container_event(&c, "restart", &[]);
        Ok(c)
    }

    /// `rm`; with `force`, a running container is killed first; with
    /// `volumes` (`rm -v`), its anonymous volumes go too.
    pub async fn remove_container(
        &self,
        reference: &str,
        force: bool,
        volumes: bool,
    ) -> Result<Container> {
        let c = self.inspect_container(reference)?;
        if force && (c.is_running() || c.state.restarting) {
            self.stopping(&c, true).await?;
        }
        if force && c.is_running() {
            let mut events = self.exits.subscribe();
            match self.host.runtime().signal(&c.id, libc_sigkill()).await {
                Ok(()) => self.killed(&c, libc_sigkill()),
                Err(e) => warn!(container = %c.name, error = %e, "kill before removal failed"),
            }
            self.thaw_after_signal(&c).await;
            self.exited(&c.id, &mut events).await?;
        }
        self.ask(|r| Command::RemoveContainer(c.id.to_string(), volumes, r))
            .await
    }

    /// Docker's `wait`: subscribes now (so an exit right after this returns
    /// is not missed) and returns the future of the exit code once the
    /// condition holds.
    pub fn wait_container(
        &self,
        reference: &str,
        condition: WaitCondition,
    ) -> Result<impl std::future::Future<Output = Result<i64>> + Send + 'static> {
        let mut events = self.exits.subscribe();
        let c = self.inspect_container(reference)?;
        let done_now =
            (condition == WaitCondition::NotRunning && !c.is_running() && !c.state.starting)
                .then_some(c.state.exit_code);
        Ok(async move {
            if let Some(code) = done_now {
                return Ok(code);
            }
            loop {
                match events.recv().await {
                    Ok(ExitNotice::Exited(id, code))
                        if id == c.id && condition != WaitCondition::Removed =>
                    {
                        return Ok(code)
                    }
                    Ok(ExitNotice::Removed(id, code)) if id == c.id => return Ok(code),
                    Ok(ExitNotice::NotRecorded(id, why)) if id == c.id => {
                        return Err(Error::NotRecorded(why))
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(Error::ShutDown),
                }
            }
        })
    }

    /// A frozen container's processes only see a signal once thawed: after
    /// a stop or kill, Docker unpauses it.
    async fn thaw_after_signal(&self, c: &Container) {
        if c.state.paused {
            if let Err(e) = self.host.runtime().set_paused(&c.id, false).await {
                warn!(container = %c.name, error = %e, "not thawed after its signal");
            }
        }
    }
}

/// Signal numbers are the same on every Linux architecture berth runs on.
pub const fn libc_sigterm() -> i32 {
    15
}

pub const fn libc_sigkill() -> i32 {
    9
}
