//! Healthchecks (`--health-*`): Docker's checks of the request, its probe
//! schedule and its state machine (moby `daemon/health.go`). The probes
//! themselves run through the runtime as short execs; their results live
//! in memory only, as Docker starts every check again from `starting`
//! when its daemon starts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use berth_types::ContainerId;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// Docker keeps the last five results.
const LOG_ENTRIES: usize = 5;
/// And the first 4 KiB of each probe's output.
pub const OUTPUT_LIMIT: usize = 4096;
const MIN_DURATION: Duration = Duration::from_millis(1);

/// `Config.Healthcheck` as the wire has it (durations in nanoseconds, 0
/// for Docker's default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthcheckRequest {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// A container's healthcheck, as asked (shown by inspect) with Docker's
/// defaults applied when it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub test: Vec<String>,
    /// Nanoseconds as given; 0 is the default.
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

fn nanos(value: i64, default: Duration) -> Duration {
    u64::try_from(value)
        .ok()
        .filter(|n| *n > 0)
        .map_or(default, Duration::from_nanos)
}

impl Healthcheck {
    /// moby's `validateHealthCheck` with its texts; `None` when the request
    /// asks for no check (none given, an empty test, or `NONE`).
    pub fn from_request(req: &HealthcheckRequest) -> Result<Option<Healthcheck>> {
        for (value, what) in [
            (req.interval, "Interval"),
            (req.timeout, "Timeout"),
            (req.start_period, "StartPeriod"),
            (req.start_interval, "StartInterval"),
        ] {
            let below_min =
                value != 0 && u128::try_from(value).map_or(true, |v| v < MIN_DURATION.as_nanos());
            if below_min {
                return Err(Error::InvalidParameter(format!(
                    "{what} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
        if req.retries < 0 {
            return Err(Error::InvalidParameter(
                "Retries in Healthcheck cannot be negative".to_owned(),
            ));
        }
        match req.test.first().map(String::as_str) {
            None | Some("NONE") => return Ok(None),
            Some("CMD" | "CMD-SHELL") if req.test.len() > 1 => {}
            Some(other) if other == "CMD" || other == "CMD-SHELL" => {
                return Err(Error::InvalidParameter(format!(
                    "Healthcheck {other} needs a command"
                )))
            }
            Some(other) => {
                return Err(Error::InvalidParameter(format!(
                    "unknown Healthcheck type '{other}'; use CMD, CMD-SHELL or NONE"
                )))
            }
        }
        Ok(Some(Healthcheck {
            test: req.test.clone(),
            interval: req.interval,
            timeout: req.timeout,
            start_period: req.start_period,
            start_interval: req.start_interval,
            retries: req.retries,
        }))
    }

    /// What a probe runs: `CMD-SHELL` through `/bin/sh -c`, as Docker.
    pub fn command(&self) -> Vec<String> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD-SHELL" => {
                vec!["/bin/sh".to_owned(), "-c".to_owned(), rest.join(" ")]
            }
            Some((_, rest)) => rest.to_vec(),
            None => Vec::new(),
        }
    }

    pub fn timeout(&self) -> Duration {
        nanos(self.timeout, DEFAULT_TIMEOUT)
    }

    fn start_period(&self) -> Duration {
        nanos(self.start_period, Duration::ZERO)
    }

    fn retries(&self) -> u32 {
        u32::try_from(self.retries)
            .ok()
            .filter(|r| *r > 0)
            .unwrap_or(DEFAULT_RETRIES)
    }

    /// moby's `getInterval`: the start interval while the container is in
    /// its start period and not yet healthy, the interval after.
    pub fn next_interval(&self, since_start: Duration, status: HealthStatus) -> Duration {
        if since_start < self.start_period() && status == HealthStatus::Starting {
            nanos(self.start_interval, DEFAULT_START_INTERVAL)
        } else {
            nanos(self.interval, DEFAULT_INTERVAL)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub start: SystemTime,
    pub end: SystemTime,
    /// 0 healthy; anything else (-1: it could not run or timed out) not.
    pub exit_code: i64,
    pub output: String,
}

impl ProbeResult {
    /// A probe still running after its timeout (Docker's words).
    pub fn timed_out(start: SystemTime, end: SystemTime, timeout: Duration) -> ProbeResult {
        ProbeResult {
            start,
            end,
            exit_code: -1,
            output: format!("Health check exceeded timeout ({})", go_duration(timeout)),
        }
    }
}

/// Go's `time.Duration` text for whole seconds and milliseconds (`30s`,
/// `1.5s`, `500ms`), what Docker prints in its timeout message.
fn go_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// `State.Health`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<ProbeResult>,
}

impl Health {
    pub fn starting() -> Health {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: Vec::new(),
        }
    }

    /// moby's `handleProbeResult`: a success makes it healthy; failures
    /// while still starting within the start period do not count; `retries`
    /// failures in a row make it unhealthy.
    pub fn record(&mut self, result: ProbeResult, check: &Healthcheck, started_at: SystemTime) {
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else {
            let in_start_period = self.status == HealthStatus::Starting
                && result
                    .start
                    .duration_since(started_at)
                    .is_ok_and(|d| d < check.start_period());
            if !in_start_period {
                self.failing_streak = self.failing_streak.saturating_add(1);
                if self.failing_streak >= check.retries() {
                    self.status = HealthStatus::Unhealthy;
                }
            }
        }
        self.log.push(result);
        if self.log.len() > LOG_ENTRIES {
            let extra = self.log.len() - LOG_ENTRIES;
            self.log.drain(..extra);
        }
    }
}

/// The health of running containers with a check, shared by the probes
/// (which write it) and the API (which reads it).
#[derive(Debug, Default)]
pub struct HealthTable(Mutex<HashMap<ContainerId, Health>>);

impl HealthTable {
    pub fn get(&self, id: &ContainerId) -> Option<Health> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn update(
        &self,
        id: &ContainerId,
        change: impl FnOnce(&mut Health),
    ) -> Option<Health> {
        let mut table = self.lock();
        let health = table.get_mut(id)?;
        change(health);
        Some(health.clone())
    }

    pub(crate) fn begin(&self, id: &ContainerId) {
        self.lock().insert(id.clone(), Health::starting());
    }

    pub(crate) fn end(&self, id: &ContainerId) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContainerId, Health>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(retries: i64, start_period_s: u64) -> Healthcheck {
        Healthcheck::from_request(&HealthcheckRequest {
            test: vec!["CMD-SHELL".into(), "true".into()],
            retries,
            start_period: i64::try_from(Duration::from_secs(start_period_s).as_nanos()).unwrap(),
            ..Default::default()
        })
        .unwrap()
        .unwrap()
    }

    fn result(at: SystemTime, code: i64) -> ProbeResult {
        ProbeResult {
            start: at,
            end: at,
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn requests_are_checked_with_dockers_words() {
        let req = |test: &[&str], interval: i64, retries: i64| HealthcheckRequest {
            test: test.iter().map(|s| (*s).to_owned()).collect(),
            interval,
            retries,
            ..Default::default()
        };
        assert_eq!(
            Healthcheck::from_request(&req(&["NONE"], 0, 0)).unwrap(),
            None
        );
        assert_eq!(Healthcheck::from_request(&req(&[], 0, 0)).unwrap(), None);
        let err = Healthcheck::from_request(&req(&["CMD", "true"], 10, 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        let err = Healthcheck::from_request(&req(&["CMD", "true"], 0, -1)).unwrap_err();
        assert_eq!(err.to_string(), "Retries in Healthcheck cannot be negative");
        let shell = Healthcheck::from_request(&req(&["CMD-SHELL", "nc -z localhost 80"], 0, 0))
            .unwrap()
            .unwrap();
        assert_eq!(shell.command(), ["/bin/sh", "-c", "nc -z localhost 80"]);
        let direct = Healthcheck::from_request(&req(&["CMD", "cat", "/ok"], 0, 0))
            .unwrap()
            .unwrap();
        assert_eq!(direct.command(), ["cat", "/ok"]);
        assert_eq!(direct.timeout(), Duration::from_secs(30));
    }

    #[test]
    fn failures_count_after_the_start_period_until_retries() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let check = check(2, 10);
        let mut h = Health::starting();
        h.record(result(t0 + Duration::from_secs(1), 1), &check, t0);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        h.record(result(t0 + Duration::from_secs(11), 1), &check, t0);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
        h.record(result(t0 + Duration::from_secs(12), 1), &check, t0);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
        h.record(result(t0 + Duration::from_secs(13), 0), &check, t0);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
        for s in 0..10 {
            h.record(result(t0 + Duration::from_secs(20 + s), 0), &check, t0);
        }
        assert_eq!(h.log.len(), 5);
    }

    #[test]
    fn the_start_interval_applies_while_starting_in_the_start_period() {
        let check = check(3, 60);
        assert_eq!(
            check.next_interval(Duration::from_secs(1), HealthStatus::Starting),
            Duration::from_secs(5)
        );
        assert_eq!(
            check.next_interval(Duration::from_secs(1), HealthStatus::Healthy),
            Duration::from_secs(30)
        );
        assert_eq!(
            check.next_interval(Duration::from_secs(61), HealthStatus::Starting),
            Duration::from_secs(30)
        );
        assert_eq!(
            ProbeResult::timed_out(
                SystemTime::UNIX_EPOCH,
                SystemTime::UNIX_EPOCH,
                Duration::from_secs(2)
            )
            .output,
            "Health check exceeded timeout (2s)"
        );
    }
}
