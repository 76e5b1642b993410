//! `berth wait` (docker/cli `cli/command/container/wait.go`).

use anyhow::anyhow;
use clap::Args;

use crate::api::{Api, Host, WaitCondition};
use crate::exit::{check_args, Arity};

#[derive(Debug, Args)]
#[command(override_usage = "berth wait CONTAINER [CONTAINER...]")]
pub struct WaitArgs {
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// Waits for each container in turn and prints its exit code; the errors
/// come together at the end.
pub async fn run(host: &Host, args: WaitArgs) -> anyhow::Result<()> {
    check_args(
        &args.containers,
        Arity::AtLeast(1),
        "wait",
        "wait CONTAINER [CONTAINER...]",
    )?;
    let api = Api::connect(host).await?;
    let mut errors = Vec::new();
    for name in &args.containers {
        let code = match api.wait_container(name, WaitCondition::NotRunning).await {
            Ok(handle) => handle.result().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match code {
            Ok(code) => println!("{code}"),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(errors.join("\n")))
    }
}
