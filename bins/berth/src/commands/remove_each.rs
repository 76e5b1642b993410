//! The loop `berth network rm` and `berth node rm` share: remove each named
//! object in turn, print the name of each one removed and the error of each
//! one not, and end with docker's exit status 1 if any failed.

use std::future::Future;

use crate::api::ApiError;
use crate::exit::Exit;

/// What to report for one object, given the outcome of its removal.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Removed: its name goes to stdout.
    Removed,
    /// Not found under `--force`: silently skipped.
    Skipped,
    /// The error goes to stderr and the command fails.
    Failed(String),
}

fn outcome(result: Result<(), ApiError>, force: bool) -> Outcome {
    match result {
        Ok(()) => Outcome::Removed,
        Err(e) if force && e.is_not_found() => Outcome::Skipped,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Calls `remove` for each of `names`; `force` forgives a not-found.
pub async fn remove_each<'a, Fut>(
    names: &'a [String],
    force: bool,
    mut remove: impl FnMut(&'a str) -> Fut,
) -> anyhow::Result<()>
where
    Fut: Future<Output = Result<(), ApiError>>,
{
    let mut failed = false;
    for name in names {
        match outcome(remove(name).await, force) {
            Outcome::Removed => println!("{name}"),
            Outcome::Skipped => {}
            Outcome::Failed(message) => {
                eprintln!("{message}");
                failed = true;
            }
        }
    }
    if failed {
        // docker ends with a StatusError whose text it prints as well.
        return Err(Exit::status(1, "exit status 1").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(status: u16, message: &str) -> Result<(), ApiError> {
        Err(ApiError::Daemon {
            status,
            message: message.to_string(),
        })
    }

    #[test]
    fn force_only_forgives_not_found() {
        assert_eq!(outcome(Ok(()), false), Outcome::Removed);
        assert_eq!(
            outcome(daemon(404, "network nope not found"), true),
            Outcome::Skipped
        );
        assert_eq!(
            outcome(daemon(404, "network nope not found"), false),
            Outcome::Failed("Error response from daemon: network nope not found".to_string())
        );
        assert_eq!(
            outcome(
                daemon(403, "bridge is a pre-defined network and cannot be removed"),
                true
            ),
            Outcome::Failed(
                "Error response from daemon: bridge is a pre-defined network and cannot be removed"
                    .to_string()
            )
        );
    }
}
