//! `berth network rm` (docker/cli `cli/command/network/remove.go`).

use clap::Args;

use crate::api::{Api, Host};
use crate::commands::remove_each::remove_each;
use crate::exit::{check_args, Arity};

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

pub async fn run(host: &Host, args: RemoveArgs) -> anyhow::Result<()> {
    check_args(&args.networks, Arity::AtLeast(1), PATH, USAGE)?;
    let api = &Api::connect(host).await;
    // A daemon that cannot be reached is each network's error, as in docker.
    remove_each(&args.networks, args.force, |name| async move {
        match api {
            Ok(api) => api.remove_network(name).await,
            Err(e) => Err(e.clone()),
        }
    })
    .await
}
