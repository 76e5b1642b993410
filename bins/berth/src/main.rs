//! berth: the docker-style CLI of berthd. A pure client of the Docker
//! Engine API on a unix socket; commands, output and exit statuses follow
//! the docker CLI 28.2.

mod api;
mod commands;
mod exit;
mod format;
mod opts;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

use crate::api::{Host, DEFAULT_HOST};
use crate::commands::network::NetworkCommand;
use crate::commands::system::{info, version};
use crate::exit::Exit;

/// A self-sufficient runtime for container networks
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    disable_version_flag = true,
    arg_required_else_help = true
)]
struct Cli {
    /// Daemon socket to connect to (unix:///path)
    #[arg(
        short = 'H',
        long = "host",
        global = true,
        env = "BERTH_HOST",
        value_name = "host"
    )]
    host: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage networks
    #[command(subcommand, arg_required_else_help = true)]
    Network(NetworkCommand),
    /// Show the berth version information
    Version(version::VersionArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
}

/// docker's status for command-line errors (unknown flag, bad flag value).
const USAGE_ERROR: u8 = 125;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help is a success (docker prints it for a bare group too).
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                ErrorKind::InvalidSubcommand => 1,
                _ => USAGE_ERROR,
            };
            if code == 0 {
                print!("{}", e.render());
            } else {
                let _ = e.print();
            }
            return ExitCode::from(code);
        }
    };
    if cli.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        // Unreachable through clap (`arg_required_else_help`), kept total.
        return ExitCode::from(USAGE_ERROR);
    };
    let host = match Host::parse(cli.host.as_deref().unwrap_or(DEFAULT_HOST)) {
        Ok(host) => host,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&host, command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Exit>() {
            Some(Exit::Cancelled) => ExitCode::SUCCESS,
            Some(Exit::Status { code, message }) => {
                eprintln!("{message}");
                ExitCode::from(*code)
            }
            None => {
                eprintln!("{e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn run(host: &Host, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Network(cmd) => commands::network::run(host, cmd).await,
        Command::Version(args) => version::run(host, args).await,
        Command::Info(args) => info::run(host, args).await,
    }
}
