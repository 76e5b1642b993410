//! `berth exec` (docker/cli `cli/command/container/exec.go`).

use anyhow::anyhow;
use clap::{ArgAction, Args};
use serde_json::{json, Value};

use super::session::{exit_with, Session};
use crate::api::{Api, ApiError, ExecStart, Host};
use crate::exit::{check_args, flag_error, Arity};
use crate::opts;
use crate::stream::{signals, terminal, Ended, Streams};

const PATH: &str = "exec";
const USAGE: &str = "exec [OPTIONS] CONTAINER COMMAND [ARG...]";

#[derive(Debug, Args)]
#[command(override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Set environment variables
    #[arg(
        allow_hyphen_values = true,
        short = 'e',
        long = "env",
        value_name = "list"
    )]
    env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "string", allow_hyphen_values = true)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string", allow_hyphen_values = true)]
    workdir: Option<String>,
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        trailing_var_arg = true,
        action = ArgAction::Append
    )]
    args: Vec<String>,
}

pub async fn run(host: &Host, args: ExecArgs) -> anyhow::Result<()> {
    check_args(&args.args, Arity::AtLeast(2), PATH, USAGE)?;
    let env = args
        .env
        .iter()
        .map(|v| opts::validate_env(v).map_err(|e| flag_error("-e, --env", v, &e, PATH, USAGE)))
        .collect::<Result<Vec<_>, _>>()?;
    let container = &args.args[0];
    let api = Api::connect(host).await?;
    // A missing container is reported before anything else is made.
    api.inspect_container(container).await?;
    let attach_stdin = !args.detach && args.interactive;
    if attach_stdin && args.tty && !terminal::stdin_is_terminal() {
        return Err(anyhow!("the input device is not a TTY"));
    }
    let console_size = args.tty.then(|| {
        let (h, w) = terminal::size();
        [h, w]
    });
    let mut body = json!({
        "User": args.user.as_deref().unwrap_or_default(),
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": attach_stdin,
        "AttachStderr": !args.detach,
        "AttachStdout": !args.detach,
        "Detach": args.detach,
        "DetachKeys": "",
        "Env": if env.is_empty() { Value::Null } else { json!(env) },
        "WorkingDir": args.workdir.as_deref().unwrap_or_default(),
        "Cmd": args.args[1..],
    });
    if let Some(size) = console_size {
        body["ConsoleSize"] = json!(size);
    }
    let id = api.create_exec(container, &body).await?;
    if id.is_empty() {
        return Err(anyhow!("exec ID empty"));
    }
    let start = ExecStart {
        detach: args.detach,
        tty: args.tty,
        console_size,
    };
    if args.detach {
        return Ok(api.start_exec_detached(&id, &start).await?);
    }
    let conn = api.start_exec(&id, &start).await?;
    let session = Session::spawn(
        conn,
        Streams {
            tty: args.tty,
            stdin: attach_stdin,
            stdout: true,
            stderr: true,
        },
    );
    let _resize = (args.tty && terminal::stdin_is_terminal())
        .then(|| signals::monitor_tty_size(&api, &id, true, false));
    if session.finish().await? == Ended::Detached {
        return Err(anyhow!("read escape sequence"));
    }
    match api.exec_exit_code(&id).await {
        Ok(code) => exit_with(code),
        // The daemon went away: docker's status -1.
        Err(ApiError::Transport(_)) => exit_with(-1),
        Err(e) => Err(e.into()),
    }
}
