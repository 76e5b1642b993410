//! `berth network …` (docker/cli `cli/command/network/cmd.go`).

mod connect;
mod create;
mod inspect;
mod list;
mod prune;
mod remove;

use clap::Subcommand;

use crate::api::Host;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(connect::ConnectArgs),
    /// Create a network
    // Boxed: its many flags make it far larger than the other variants.
    Create(Box<create::CreateArgs>),
    /// Disconnect a container from a network
    Disconnect(connect::DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(inspect::InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(list::ListArgs),
    /// Remove all unused networks
    Prune(prune::PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(remove::RemoveArgs),
}

pub async fn run(host: &Host, command: NetworkCommand) -> anyhow::Result<()> {
    match command {
        NetworkCommand::Connect(args) => connect::connect(host, args).await,
        NetworkCommand::Create(args) => create::run(host, *args).await,
        NetworkCommand::Disconnect(args) => connect::disconnect(host, args).await,
        NetworkCommand::Inspect(args) => inspect::run(host, args).await,
        NetworkCommand::Ls(args) => list::run(host, args).await,
        NetworkCommand::Prune(args) => prune::run(host, args).await,
        NetworkCommand::Rm(args) => remove::run(host, args).await,
    }
}
