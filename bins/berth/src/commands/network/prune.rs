//! `berth network prune` (docker/cli `cli/command/network/prune.go`).

use std::io::{BufRead, Write};

use clap::Args;

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity, Exit};
use crate::opts::{self, FilterArg};

const PATH: &str = "network prune";
const USAGE: &str = "network prune [OPTIONS]";

const WARNING: &str =
    "WARNING! This will remove all custom networks not used by at least one container.\n\
                       Are you sure you want to continue? [y/N] ";

#[derive(Debug, Args)]
#[command(override_usage = "berth network prune [OPTIONS]")]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter", value_parser = opts::parse_filter)]
    filter: Vec<FilterArg>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    #[arg(hide = true)]
    args: Vec<String>,
}

/// docker's `prompt.Confirm`: the first line of input, trimmed, must be
/// `y` in either case; no input at all is a no.
fn confirmed(answer: &str) -> bool {
    answer.trim().eq_ignore_ascii_case("y")
}

/// docker's report: nothing when nothing was deleted, else a heading and
/// one name per line (printed with a further newline by the caller).
fn report(deleted: &[String]) -> String {
    if deleted.is_empty() {
        return String::new();
    }
    let mut out = "Deleted Networks:\n".to_string();
    for name in deleted {
        out.push_str(name);
        out.push('\n');
    }
    out
}

async fn ask() -> anyhow::Result<bool> {
    print!("{WARNING}");
    std::io::stdout().flush()?;
    // Reading stdin blocks; keep it off the async workers.
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| line)
    })
    .await??;
    Ok(confirmed(&line))
}

pub async fn run(host: &Host, args: PruneArgs) -> anyhow::Result<()> {
    check_args(&args.args, Arity::None, PATH, USAGE)?;
    if !args.force && !ask().await? {
        return Err(Exit::Cancelled.into());
    }
    let api = Api::connect(host).await?;
    let response = api.prune_networks(opts::filters(&args.filter)).await?;
    let out = report(&response.networks_deleted.unwrap_or_default());
    if !out.is_empty() {
        println!("{out}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_answers() {
        assert!(confirmed("y\n"));
        assert!(confirmed(" Y \n"));
        assert!(!confirmed("yes\n"));
        assert!(!confirmed(""));
        assert!(!confirmed("n\n"));
    }

    #[test]
    fn report_matches_docker() {
        // `docker network prune -f` printed "Deleted Networks:\nnet10\nZeta\n\n";
        // the last newline is the caller's println.
        assert_eq!(
            report(&["net10".into(), "Zeta".into()]),
            "Deleted Networks:\nnet10\nZeta\n"
        );
        assert_eq!(report(&[]), "");
    }

    #[test]
    fn warning_text() {
        assert_eq!(
            WARNING,
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
        );
    }
}
