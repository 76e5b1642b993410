//! `berth logs` (docker/cli `cli/command/container/logs.go`).

use std::io::Write;

use anyhow::anyhow;
use clap::Args;
use http_body_util::BodyExt;

use crate::api::raw::Query;
use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use crate::stream::stdcopy::{Demux, Target};

#[derive(Debug, Args)]
#[command(override_usage = "berth logs [OPTIONS] CONTAINER")]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(
        allow_hyphen_values = true,
        short = 'n',
        long,
        value_name = "string",
        default_value = "all"
    )]
    tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub async fn run(host: &Host, args: LogsArgs) -> anyhow::Result<()> {
    check_args(
        &args.containers,
        Arity::Exactly(1),
        "logs",
        "logs [OPTIONS] CONTAINER",
    )?;
    let api = Api::connect(host).await?;
    let c = api.inspect_container(&args.containers[0]).await?;
    let id = c["Id"].as_str().unwrap_or(&args.containers[0]).to_string();
    let tty = c["Config"]["Tty"].as_bool().unwrap_or(false);
    let query = Query::new()
        .flag("stdout", true)
        .flag("stderr", true)
        .flag("follow", args.follow)
        .flag("timestamps", args.timestamps)
        .set("tail", args.tail.clone());
    let mut body = api.container_logs(&id, query).await?;
    let mut demux = Demux::default();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow!("error during connect: {e}"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        // A TTY's log is one raw stream; otherwise it is multiplexed.
        if tty {
            out.write_all(data)?;
            out.flush()?;
            continue;
        }
        demux
            .feed(data, &mut |target, payload| {
                let w: &mut dyn Write = match target {
                    Target::Stdout => &mut out,
                    Target::Stderr => &mut err,
                };
                w.write_all(payload)?;
                w.flush()
            })
            .map_err(|e| anyhow!(e))?;
    }
    Ok(())
}
