//! `berth attach` (docker/cli `cli/command/container/attach.go`).

use anyhow::anyhow;
use clap::{ArgAction, Args};
use serde_json::Value;

use super::session::{exit_with, Session};
use crate::api::{Api, Host, WaitCondition};
use crate::exit::{check_args, Arity};
use crate::stream::{signals, terminal, Ended, Streams};

const PATH: &str = "attach";
const USAGE: &str = "attach [OPTIONS] CONTAINER";

#[derive(Debug, Args)]
#[command(override_usage = "berth attach [OPTIONS] CONTAINER")]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "bool",
          hide_default_value = true, hide_possible_values = true)]
    sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// docker's `inspectContainerAndCheckState`.
async fn running(api: &Api, name: &str) -> anyhow::Result<Value> {
    let c = api.inspect_container(name).await?;
    let state = |k: &str| c["State"][k].as_bool().unwrap_or(false);
    if !state("Running") {
        return Err(anyhow!(
            "You cannot attach to a stopped container, start it first"
        ));
    }
    if state("Paused") {
        return Err(anyhow!(
            "You cannot attach to a paused container, unpause it first"
        ));
    }
    if state("Restarting") {
        return Err(anyhow!(
            "You cannot attach to a restarting container, wait until it is running"
        ));
    }
    Ok(c)
}

pub async fn run(host: &Host, args: AttachArgs) -> anyhow::Result<()> {
    check_args(&args.containers, Arity::Exactly(1), PATH, USAGE)?;
    let name = &args.containers[0];
    let api = Api::connect(host).await?;
    // Opened first, so the exit is seen however soon it comes.
    let wait = api.wait_container(name, WaitCondition::NotRunning).await;
    let c = running(&api, name).await?;
    let flag = |v: &Value| v.as_bool().unwrap_or(false);
    let tty = flag(&c["Config"]["Tty"]);
    if !args.no_stdin && tty && !terminal::stdin_is_terminal() {
        return Err(anyhow!("the input device is not a TTY"));
    }
    let stdin = !args.no_stdin && flag(&c["Config"]["OpenStdin"]);
    let _signals = (args.sig_proxy && !tty).then(|| signals::proxy_signals(&api, name));
    let conn = api.attach_container(name, stdin, true, true).await?;
    // It may have stopped between the first look and the attach.
    running(&api, name).await?;
    let _resize = (tty && terminal::stdout_is_terminal())
        .then(|| signals::monitor_tty_size(&api, name, false, true));
    let streams = Streams {
        tty,
        stdin,
        stdout: true,
        stderr: true,
    };
    if Session::spawn(conn, streams).finish().await? == Ended::Detached {
        return Err(anyhow!("read escape sequence"));
    }
    let code = wait?.result().await.map_err(|e| anyhow!(e.to_string()))?;
    exit_with(code)
}
