//! `berth network inspect` (docker/cli `cli/command/network/inspect.go`).

use clap::Args;

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use crate::format::inspector::Inspector;

const PATH: &str = "network inspect";
const USAGE: &str = "network inspect [OPTIONS] NETWORK [NETWORK...]";

#[derive(Debug, Args)]
#[command(override_usage = "berth network inspect [OPTIONS] NETWORK [NETWORK...]")]
pub struct InspectArgs {
    /// Format output using a custom template: 'json' or 'TEMPLATE'
    #[arg(
        short,
        long,
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    format: String,
    /// Verbose output for diagnostics
    #[arg(short, long)]
    verbose: bool,
    #[arg(value_name = "NETWORK")]
    networks: Vec<String>,
}

pub async fn run(host: &Host, args: InspectArgs) -> anyhow::Result<()> {
    check_args(&args.networks, Arity::AtLeast(1), PATH, USAGE)?;
    let inspector = Inspector::new(&args.format)?;
    // Each name gets its own error, even when the daemon is unreachable,
    // matching docker's per-reference reporting.
    let api = Api::connect(host).await;
    let mut results = Vec::new();
    for name in &args.networks {
        let result = match &api {
            Ok(api) => api.inspect_network_raw(name, args.verbose).await,
            Err(e) => Err(e.clone()),
        };
        results.push(result.map_err(|e| e.to_string()));
    }
    inspector.print(&results)
}
