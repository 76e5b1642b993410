//! Restart policies (`--restart`), as Docker's restart manager applies
//! them: which exits bring a container back, after what back-off, and
//! which containers come back when berthd starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Docker's first back-off, doubled at each restart.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// Docker's longest back-off.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// `HostConfig.RestartPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// `max_retries` 0: no limit.
    OnFailure {
        max_retries: u32,
    },
}

impl RestartPolicy {
    /// Docker's `ValidateRestartPolicy`, with its texts. An empty name is
    /// `no` (what clients before Docker 25 send).
    pub fn parse(name: &str, max_retries: i64) -> Result<RestartPolicy> {
        let invalid =
            |why: String| Error::InvalidParameter(format!("invalid restart policy: {why}"));
        let no_count = |policy: RestartPolicy| match max_retries {
            0 => Ok(policy),
            n if n < 0 => Err(invalid(
                "maximum retry count can only be used with 'on-failure' and cannot be negative"
                    .to_owned(),
            )),
            _ => Err(invalid(
                "maximum retry count can only be used with 'on-failure'".to_owned(),
            )),
        };
        match name {
            "" => Ok(RestartPolicy::No),
            "no" => no_count(RestartPolicy::No),
            "always" => no_count(RestartPolicy::Always),
            "unless-stopped" => no_count(RestartPolicy::UnlessStopped),
            "on-failure" => u32::try_from(max_retries)
                .map(|max_retries| RestartPolicy::OnFailure { max_retries })
                .map_err(|_| invalid("maximum retry count cannot be negative".to_owned())),
            other => Err(invalid(format!(
                "unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure { .. } => "on-failure",
        }
    }

    pub fn max_retries(self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => max_retries,
            _ => 0,
        }
    }

    /// moby's `RestartManager.ShouldRestart`: whether an exit with `code`
    /// brings the container back, after `restarts` restarts so far.
    /// `manually_stopped`: the user stopped or killed it.
    pub fn restarts_after(self, code: i64, manually_stopped: bool, restarts: u32) -> bool {
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => !manually_stopped,
            RestartPolicy::OnFailure { max_retries } => {
                code != 0 && (max_retries == 0 || restarts < max_retries)
            }
        }
    }
}

/// The wait before the next restart: Docker's back-off, 100 ms doubled at
/// each restart up to a minute, and back to 100 ms after a run of 10 s.
pub fn next_delay(previous: Duration, ran: Duration) -> Duration {
    if previous.is_zero() || ran >= RESET_AFTER {
        FIRST_DELAY
    } else {
        (previous * 2).min(MAX_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_and_counts_parse() {
        assert_eq!(RestartPolicy::parse("", 0).unwrap(), RestartPolicy::No);
        assert_eq!(RestartPolicy::parse("", 3).unwrap(), RestartPolicy::No);
        assert_eq!(RestartPolicy::parse("no", 0).unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("always", 0).unwrap(),
            RestartPolicy::Always
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped", 0).unwrap(),
            RestartPolicy::UnlessStopped
        );
        assert_eq!(
            RestartPolicy::parse("on-failure", 3).unwrap(),
            RestartPolicy::OnFailure { max_retries: 3 }
        );
    }

    #[test]
    fn bad_policies_get_dockers_words() {
        let text = |name, n| RestartPolicy::parse(name, n).unwrap_err().to_string();
        assert_eq!(
            text("bogus", 0),
            "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        );
        assert_eq!(
            text("always", 2),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        assert_eq!(
            text("no", -1),
            "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"
        );
        assert_eq!(
            text("on-failure", -1),
            "invalid restart policy: maximum retry count cannot be negative"
        );
    }

    #[test]
    fn which_exits_restart() {
        let on_failure = RestartPolicy::OnFailure { max_retries: 3 };
        assert!(!RestartPolicy::No.restarts_after(1, false, 0));
        assert!(RestartPolicy::Always.restarts_after(0, true, 100));
        assert!(RestartPolicy::UnlessStopped.restarts_after(0, false, 0));
        assert!(!RestartPolicy::UnlessStopped.restarts_after(0, true, 0));
        assert!(on_failure.restarts_after(1, false, 2));
        assert!(!on_failure.restarts_after(1, false, 3));
        assert!(!on_failure.restarts_after(0, false, 0));
        let unlimited = RestartPolicy::OnFailure { max_retries: 0 };
        assert!(unlimited.restarts_after(1, false, 1_000));
    }

    #[test]
    fn back_off_doubles_to_a_minute_and_resets_after_ten_seconds() {
        let quick = Duration::from_millis(5);
        let mut delay = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..12 {
            delay = next_delay(delay, quick);
            seen.push(delay.as_millis());
        }
        assert_eq!(&seen[..4], &[100, 200, 400, 800]);
        assert_eq!(*seen.last().unwrap(), 60_000);
        assert_eq!(next_delay(delay, Duration::from_secs(10)).as_millis(), 100);
    }
}
