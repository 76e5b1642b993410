//! berth: the docker-style CLI of berthd. A pure client of the Docker
//! Engine API on a unix socket; commands, output and exit statuses follow
//! the docker CLI 28.2.

#![forbid(unsafe_code)]

mod api;
mod commands;
mod exit;
mod format;
mod opts;
mod stream;

use std::io::Write;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Parser, Subcommand};

use crate::api::{Host, DEFAULT_HOST};
use crate::commands::container::{
    attach, create, exec, lifecycle, list, logs, port, run as run_cmd, start, wait,
};
use crate::commands::image::{import, list as images, registry, remove as rmi};
use crate::commands::inspect;
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

// The container commands carry many flags; boxing keeps the enum small.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create and run a new container from an image
    Run(Box<run_cmd::RunArgs>),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// List containers
    Ps(list::PsArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Import the contents from a tarball (or a directory) to create a filesystem image
    Import(import::ImportArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Create a new container
    Create(Box<create::CreateArgs>),
    /// Return low-level information on berth objects
    Inspect(inspect::InspectArgs),
    /// Kill one or more running containers
    Kill(lifecycle::KillArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Restart one or more containers
    Restart(lifecycle::RestartArgs),
    /// Remove one or more containers
    Rm(lifecycle::RmArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(registry::TagArgs),
    /// Start one or more stopped containers
    Start(start::StartArgs),
    /// Stop one or more running containers
    Stop(lifecycle::StopArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
    /// Manage networks
    #[command(subcommand, arg_required_else_help = true)]
    Network(NetworkCommand),
    /// Manage the hosts of berth's cluster
    #[command(subcommand, arg_required_else_help = true)]
    Node(commands::node::NodeCommand),
    /// Show the berth version information
    Version(version::VersionArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
}

/// docker's status for command-line errors (unknown flag, bad flag value).
const USAGE_ERROR: u8 = 125;

/// pflag's report of an unknown flag, as docker prints it:
/// `unknown flag: --x` / `unknown shorthand flag: 'x' in -x`, the usage,
/// and where to get help.
fn unknown_flag(e: &clap::Error) -> Option<String> {
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let arg = match e.get(ContextKind::InvalidArg)? {
        ContextValue::String(s) => s.clone(),
        _ => return None,
    };
    let usage = match e.get(ContextKind::Usage)? {
        ContextValue::StyledStr(s) => s.to_string(),
        _ => return None,
    };
    let usage = usage.trim().strip_prefix("Usage:")?.trim().to_string();
    // The command path: the words after `berth` up to the first argument
    // placeholder (`[OPTIONS]`, `IMAGE`, …).
    let path: Vec<&str> = usage
        .split_whitespace()
        .skip(1)
        .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    let what = match arg.strip_prefix("--") {
        Some(_) => format!("unknown flag: {arg}"),
        None => {
            let flag = arg.trim_start_matches('-').chars().next()?;
            format!("unknown shorthand flag: '{flag}' in {arg}")
        }
    };
    Some(format!(
        "{what}\n\nUsage:  {usage}\n\nRun 'berth {} --help' for more information",
        path.join(" ")
    ))
}

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
                // A closed pipe (`berth run --help | head`) is not an error.
                let _ = write!(std::io::stdout(), "{}", e.render());
            } else if let Some(text) = unknown_flag(&e) {
                eprintln!("{text}");
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
                // An exit status passed on from a container says nothing.
                if !message.is_empty() {
                    eprintln!("{message}");
                }
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
        Command::Run(args) => run_cmd::run(host, *args).await,
        Command::Exec(args) => exec::run(host, args).await,
        Command::Ps(args) => list::run(host, args).await,
        Command::Images(args) => images::run(host, args).await,
        Command::Import(args) => import::run(host, args).await,
        Command::Attach(args) => attach::run(host, args).await,
        Command::Create(args) => create::run(host, *args).await,
        Command::Inspect(args) => inspect::run(host, args).await,
        Command::Kill(args) => lifecycle::kill(host, args).await,
        Command::Logs(args) => logs::run(host, args).await,
        Command::Port(args) => port::run(host, args).await,
        Command::Restart(args) => lifecycle::restart(host, args).await,
        Command::Rm(args) => lifecycle::rm(host, args).await,
        Command::Rmi(args) => rmi::run(host, args).await,
        Command::Pull(args) => registry::pull(host, args).await,
        Command::Push(args) => registry::push(host, args).await,
        Command::Tag(args) => registry::tag(host, args).await,
        Command::Start(args) => start::run(host, args).await,
        Command::Stop(args) => lifecycle::stop(host, args).await,
        Command::Wait(args) => wait::run(host, args).await,
        Command::Network(cmd) => commands::network::run(host, cmd).await,
        Command::Node(cmd) => commands::node::run(host, cmd).await,
        Command::Version(args) => version::run(host, args).await,
        Command::Info(args) => info::run(host, args).await,
    }
}
