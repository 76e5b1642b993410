//! `berth stop`, `kill`, `restart` and `rm` (docker/cli
//! `cli/command/container/{stop,kill,restart,rm}.go`): the same request for
//! each container, run in parallel, each name printed as it succeeds (in
//! the order given), the errors reported together.

use std::future::Future;

use anyhow::anyhow;
use clap::Args;

use crate::api::raw::Query;
use crate::api::{Api, ApiError, Host};
use crate::exit::{check_args, Arity};

/// The `-s/--signal` of `stop`, `restart` and `kill`.
#[derive(Debug, Args)]
struct SignalArg {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string", allow_hyphen_values = true)]
    signal: Option<String>,
}

impl SignalArg {
    /// `signal=…` only when given, as docker.
    fn query(&self) -> Query {
        Query::new().non_empty("signal", self.signal.as_deref().unwrap_or_default())
    }
}

#[derive(Debug, Args)]
#[command(override_usage = "berth stop [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct StopArgs {
    #[command(flatten)]
    signal: SignalArg,
    /// Seconds to wait before killing the container
    #[arg(
        allow_hyphen_values = true,
        short = 't',
        long = "timeout",
        visible_alias = "time",
        value_name = "int"
    )]
    timeout: Option<i64>,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
#[command(override_usage = "berth restart [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct RestartArgs {
    #[command(flatten)]
    inner: StopArgs,
}

#[derive(Debug, Args)]
#[command(override_usage = "berth kill [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct KillArgs {
    #[command(flatten)]
    signal: SignalArg,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
#[command(override_usage = "berth rm [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    volumes: bool,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// Runs `op` for every container at once; the results come back in the
/// order the containers were given.
async fn each<F, Fut>(api: &Api, containers: &[String], op: F) -> Vec<Result<(), ApiError>>
where
    F: Fn(Api, String) -> Fut,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    let tasks: Vec<_> = containers
        .iter()
        .map(|c| tokio::spawn(op(api.clone(), c.clone())))
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(match task.await {
            Ok(result) => result,
            Err(e) => Err(ApiError::Transport(e.to_string())),
        });
    }
    results
}

/// Prints each name that succeeded; fails with every error, one a line.
/// `forgive_missing` (`rm -f`) only mentions a container already gone.
fn report(
    containers: &[String],
    results: Vec<Result<(), ApiError>>,
    forgive_missing: bool,
) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for (name, result) in containers.iter().zip(results) {
        match result {
            Ok(()) => println!("{name}"),
            Err(e) if forgive_missing && e.is_not_found() => eprintln!("{e}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(errors.join("\n")))
    }
}

/// The query of `stop` and `restart`: `t` only when given, as docker.
fn stop_query(args: &StopArgs) -> Query {
    let query = args.signal.query();
    match args.timeout {
        Some(t) => query.set("t", t.to_string()),
        None => query,
    }
}

async fn stop_or_restart(host: &Host, args: &StopArgs, action: &'static str) -> anyhow::Result<()> {
    let usage = format!("{action} [OPTIONS] CONTAINER [CONTAINER...]");
    check_args(&args.containers, Arity::AtLeast(1), action, &usage)?;
    let api = Api::connect(host).await?;
    let results = each(&api, &args.containers, |api, name| {
        let query = stop_query(args);
        async move { api.container_action(&name, action, query).await }
    })
    .await;
    report(&args.containers, results, false)
}

pub async fn stop(host: &Host, args: StopArgs) -> anyhow::Result<()> {
    stop_or_restart(host, &args, "stop").await
}

pub async fn restart(host: &Host, args: RestartArgs) -> anyhow::Result<()> {
    stop_or_restart(host, &args.inner, "restart").await
}

pub async fn kill(host: &Host, args: KillArgs) -> anyhow::Result<()> {
    check_args(
        &args.containers,
        Arity::AtLeast(1),
        "kill",
        "kill [OPTIONS] CONTAINER [CONTAINER...]",
    )?;
    let api = Api::connect(host).await?;
    let results = each(&api, &args.containers, |api, name| {
        let query = args.signal.query();
        async move { api.container_action(&name, "kill", query).await }
    })
    .await;
    report(&args.containers, results, false)
}

pub async fn rm(host: &Host, args: RmArgs) -> anyhow::Result<()> {
    check_args(
        &args.containers,
        Arity::AtLeast(1),
        "rm",
        "rm [OPTIONS] CONTAINER [CONTAINER...]",
    )?;
    let api = Api::connect(host).await?;
    let results = each(&api, &args.containers, |api, name| {
        let query = Query::new()
            .flag("v", args.volumes)
            .flag("link", args.link)
            .flag("force", args.force);
        async move {
            let name = name.trim_matches('/');
            if name.is_empty() {
                return Err(ApiError::Transport("Container name cannot be empty".into()));
            }
            api.remove_container(name, query).await
        }
    })
    .await;
    report(&args.containers, results, args.force)
}
