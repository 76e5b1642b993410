//! Running healthchecks: one timer task per running container with a
//! check, which runs each probe through the runtime (a short exec, no
//! process between probes) and records the result in the health table.

use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::container::{Container, HealthStatus, ProbeResult};
use crate::engine::Engine;
use crate::ports::{Env, Host, ProbeSpec, Runtime};

impl<H: Host> Engine<H> {
    /// Starts probing `c` (just started, or found running at berthd's
    /// start) if it has a healthcheck; its health starts as `starting`.
    pub(crate) fn watch_health(&mut self, c: &Container) {
        let Some(check) = c.healthcheck.clone() else {
            return;
        };
        self.stop_health(&c.id);
        self.health.begin(&c.id);
        let host = Arc::clone(&self.host);
        let table = Arc::clone(&self.health);
        let started = c.state.started_at.unwrap_or_else(|| host.env().now());
        let probe = ProbeSpec {
            id: c.id.clone(),
            image_id: c.image_id.clone(),
            args: check.command(),
            process: c.process.clone(),
            group_add: c.security.group_add.clone(),
            hostname: c.dns.hostname.clone(),
            timeout: check.timeout(),
        };
        let name = c.name.clone();
        let containers = Arc::clone(&self.model.containers);
        let event_log = Arc::clone(&self.event_log);
        let task = tokio::spawn(async move {
            loop {
                let status = table
                    .get(&probe.id)
                    .map_or(HealthStatus::Starting, |h| h.status);
                let running_for = host
                    .env()
                    .now()
                    .duration_since(started)
                    .unwrap_or(Duration::ZERO);
                tokio::time::sleep(check.next_interval(running_for, status)).await;
                let start = host.env().now();
                let ran = host.runtime().probe(&probe).await;
                let end = host.env().now();
                let result = match ran {
                    Ok(Some((exit_code, output))) => ProbeResult {
                        start,
                        end,
                        exit_code,
                        output: String::from_utf8_lossy(&output).into_owned(),
                    },
                    Ok(None) => ProbeResult::timed_out(start, end, probe.timeout),
                    Err(e) => ProbeResult {
                        start,
                        end,
                        exit_code: -1,
                        output: e.to_string(),
                    },
                };
                let Some(health) = table.update(&probe.id, |h| h.record(result, &check, started))
                else {
                    break;
                };
                if health.status != status {
                    info!(container = %name, status = health.status.as_str(), "health status changed");
                    // Named as it is now: it may have been renamed since.
                    if let Some(c) = containers.get(&probe.id) {
                        let action = format!("health_status: {}", health.status.as_str());
                        event_log.container(&c, &action, &[], host.env().now());
                    }
                }
            }
        });
        self.health_probes.insert(c.id.clone(), task.abort_handle());
    }

    /// Stops probing (the container exited or went) and forgets its health.
    pub(crate) fn stop_health(&mut self, id: &berth_types::ContainerId) {
        if let Some(task) = self.health_probes.remove(id) {
            task.abort();
        }
        self.health.end(id);
    }
}
