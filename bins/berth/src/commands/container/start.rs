//! `berth start` (docker/cli `cli/command/container/start.go`).

use anyhow::anyhow;
use clap::Args;
use serde_json::Value;

use super::session::{exit_with, wait_status, Session};
use crate::api::raw::Query;
use crate::api::{Api, Host, WaitCondition};
use crate::exit::{check_args, Arity};
use crate::stream::{signals, terminal, Ended, Streams};

const PATH: &str = "start";
const USAGE: &str = "start [OPTIONS] CONTAINER [CONTAINER...]";

#[derive(Debug, Args)]
#[command(override_usage = "berth start [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    interactive: bool,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub async fn run(host: &Host, args: StartArgs) -> anyhow::Result<()> {
    check_args(&args.containers, Arity::AtLeast(1), PATH, USAGE)?;
    let api = Api::connect(host).await?;
    if !(args.attach || args.interactive) {
        return start_each(&api, &args.containers).await;
    }
    let [name] = args.containers.as_slice() else {
        return Err(anyhow!(
            "you cannot start and attach multiple containers at once"
        ));
    };
    let c = api.inspect_container(name).await?;
    // docker works with the id from here on, whatever name was given.
    let id = c["Id"].as_str().unwrap_or(name).to_string();
    let flag = |v: &Value| v.as_bool().unwrap_or(false);
    let tty = flag(&c["Config"]["Tty"]);
    let auto_remove = flag(&c["HostConfig"]["AutoRemove"]);
    let _signals = (!tty).then(|| signals::proxy_signals(&api, &id));
    let stdin = args.interactive && flag(&c["Config"]["OpenStdin"]);
    let conn = api.attach_container(&id, stdin, true, true).await?;
    let session = Session::spawn(
        conn,
        Streams {
            tty,
            stdin,
            stdout: true,
            stderr: true,
        },
    );
    let condition = if auto_remove {
        WaitCondition::Removed
    } else {
        WaitCondition::NextExit
    };
    let wait = api.wait_container(&id, condition).await;
    if let Err(e) = api.container_action(&id, "start", Query::new()).await {
        session.cancel().await;
        if auto_remove {
            wait_status(wait).await;
        }
        return Err(e.into());
    }
    let _resize = (tty && terminal::stdout_is_terminal())
        .then(|| signals::monitor_tty_size(&api, &id, false, false));
    if session.finish().await? == Ended::Detached {
        return Ok(());
    }
    exit_with(wait_status(wait).await)
}

/// Starts each container, printing its name, or the error and going on.
async fn start_each(api: &Api, containers: &[String]) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for name in containers {
        match api.container_action(name, "start", Query::new()).await {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.as_str());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        ))
    }
}
