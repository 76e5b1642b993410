//! `berth network inspect` (docker/cli `cli/command/network/inspect.go`).

use clap::Args;

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity, Exit};
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
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &args.networks {
        let result = match &api {
            Ok(api) => api.inspect_network_raw(name, args.verbose).await,
            Err(e) => Err(e.clone()),
        };
        match result {
            Ok(raw) => raws.push(raw),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let (out, template_errors) = inspector.render(&raws).map_err(anyhow::Error::msg)?;
    print!("{out}");
    errors.extend(template_errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Exit::status(1, errors.join("\n")).into())
    }
}
