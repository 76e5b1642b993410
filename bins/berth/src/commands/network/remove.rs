//! `berth network rm` (docker/cli `cli/command/network/remove.go`).

use clap::Args;

use crate::api::{Api, ApiError, Host};
use crate::exit::{check_args, Arity, Exit};

const PATH: &str = "network rm";
const USAGE: &str = "network rm NETWORK [NETWORK...]";

#[derive(Debug, Args)]
#[command(override_usage = "berth network rm NETWORK [NETWORK...]")]
pub struct RemoveArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    #[arg(value_name = "NETWORK")]
    networks: Vec<String>,
}

/// What to report for one network, given the outcome of its removal.
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

pub async fn run(host: &Host, args: RemoveArgs) -> anyhow::Result<()> {
    check_args(&args.networks, Arity::AtLeast(1), PATH, USAGE)?;
    let api = Api::connect(host).await;
    let mut failed = false;
    for name in &args.networks {
        let result = match &api {
            Ok(api) => api.remove_network(name).await,
            Err(e) => Err(e.clone()),
        };
        match outcome(result, args.force) {
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
