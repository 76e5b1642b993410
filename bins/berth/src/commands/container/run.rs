//! `berth run` (docker/cli `cli/command/container/run.go`): create, attach
//! before start, open the wait before start, start, pump the streams, and
//! exit with the container's status.

use anyhow::anyhow;
use clap::{ArgAction, Args};

use super::create::{create_container, run_failure};
use super::opts::ContainerOptions;
use super::session::{exit_with, wait_status, Session};
use crate::api::raw::Query;
use crate::api::{Api, Host, WaitCondition};
use crate::exit::{check_args, report, Arity};
use crate::stream::{signals, terminal, Ended, Streams};

const PATH: &str = "run";
const USAGE: &str = "run [OPTIONS] IMAGE [COMMAND] [ARG...]";

#[derive(Debug, Args)]
#[command(
    override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    disable_help_flag = true
)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "bool",
          hide_default_value = true, hide_possible_values = true)]
    sig_proxy: bool,
    #[command(flatten)]
    container: ContainerOptions,
}

pub async fn run(host: &Host, args: RunArgs) -> anyhow::Result<()> {
    check_args(&args.container.args, Arity::AtLeast(1), PATH, USAGE)?;
    let mut config = args.container.config(PATH, USAGE)?;
    let api = Api::connect(host)
        .await
        .map_err(|e| report(125, PATH, &e.to_string()))?;

    if !args.detach {
        // A TTY session needs a terminal to read keys from.
        if config.attach_stdin && config.tty && !terminal::stdin_is_terminal() {
            return Err(anyhow!("the input device is not a TTY"));
        }
    } else {
        if config.attach_flags {
            return Err(anyhow!(
                "conflicting options: cannot specify both --attach and --detach"
            ));
        }
        config.detach();
    }

    let id = create_container(
        &api,
        &mut config,
        args.container.name.as_deref().unwrap_or_default(),
    )
    .await
    .map_err(|e| run_failure(&e))?;
    let _signals = args.sig_proxy.then(|| signals::proxy_signals(&api, &id));
    let detached = !config.attach_stdout && !config.attach_stderr;
    if detached {
        println!("{id}");
    }

    let attach = config.attach_stdin || config.attach_stdout || config.attach_stderr;
    let session = if attach {
        let conn = api
            .attach_container(
                &id,
                config.attach_stdin,
                config.attach_stdout,
                config.attach_stderr,
            )
            .await?;
        let streams = Streams {
            tty: config.tty,
            stdin: config.attach_stdin,
            stdout: config.attach_stdout,
            stderr: config.attach_stderr,
        };
        Some(Session::spawn(conn, streams))
    } else {
        None
    };

    // Registered before the start, so a container that exits (or is
    // removed) at once cannot be missed.
    let condition = if config.auto_remove {
        WaitCondition::Removed
    } else {
        WaitCondition::NextExit
    };
    let wait = api.wait_container(&id, condition).await;

    if let Err(e) = api.container_action(&id, "start", Query::new()).await {
        if let Some(session) = session {
            session.cancel().await;
        }
        if config.auto_remove {
            wait_status(wait).await;
        }
        return Err(run_failure(&e));
    }

    let _resize = (attach && config.tty && terminal::stdout_is_terminal())
        .then(|| signals::monitor_tty_size(&api, &id, false, false));
    if let Some(session) = session {
        if session.finish().await? == Ended::Detached {
            return Ok(());
        }
    }
    if detached {
        return Ok(());
    }
    exit_with(wait_status(wait).await)
}
