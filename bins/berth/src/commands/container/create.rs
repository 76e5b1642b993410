//! `berth create` (docker/cli `cli/command/container/create.go`) and the
//! creation step `run` shares.

use clap::Args;

use super::opts::{Config, ContainerOptions};
use crate::api::{Api, ApiError, Host};
use crate::commands::image::progress::Progress;
use crate::commands::image::registry::pull_image;
use crate::exit::{check_args, report, Arity};
use crate::stream::terminal;
use berth_types::reference;

const PATH: &str = "create";
const USAGE: &str = "create [OPTIONS] IMAGE [COMMAND] [ARG...]";

#[derive(Debug, Args)]
#[command(
    override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    disable_help_flag = true
)]
pub struct CreateArgs {
    #[command(flatten)]
    container: ContainerOptions,
}

pub async fn run(host: &Host, args: CreateArgs) -> anyhow::Result<()> {
    check_args(&args.container.args, Arity::AtLeast(1), PATH, USAGE)?;
    let mut config = args.container.config(PATH, USAGE)?;
    let api = Api::connect(host).await?;
    let id = create_container(
        &api,
        &mut config,
        args.container.name.as_deref().unwrap_or_default(),
    )
    .await?;
    println!("{id}");
    Ok(())
}

/// docker's `isLocalhost` (its regexp matches `127.` anywhere and `::1` at
/// the end).
fn is_localhost(ip: &str) -> bool {
    ip.starts_with("127.") || ip.ends_with("::1")
}

/// docker's `createContainer`: the localhost-DNS warning, the create with
/// our terminal's size, the daemon's warnings. A missing image is pulled
/// (its progress on stderr, as docker shows it) and the create asked again.
pub async fn create_container(
    api: &Api,
    config: &mut Config,
    name: &str,
) -> Result<String, ApiError> {
    if let Some(ip) = config.dns.iter().find(|ip| is_localhost(ip)) {
        eprintln!("WARNING: Localhost DNS ({ip}) may fail in containers.");
    }
    // A 64-hex id is no name; anything else must parse as one.
    let named = if reference::is_image_id(&config.image) {
        None
    } else {
        let named = reference::parse_normalized(&config.image)
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Some(named.with_default_tag())
    };
    let (height, width) = terminal::size();
    config.set_console_size(height, width);
    let created = match api.create_container(name, &config.body).await {
        Err(e) if e.is_not_found() && e.to_string().contains("No such image") => {
            let Some(named) = named else { return Err(e) };
            eprintln!("Unable to find image '{}' locally", named.familiar_string());
            // A refusal in the pull's stream reads as the daemon's, as
            // docker shows it.
            pull_image(api, &named, None, Progress::Stderr)
                .await
                .map_err(|e| match e.downcast::<ApiError>() {
                    Ok(api_error) => api_error,
                    Err(e) => ApiError::Daemon {
                        status: 500,
                        message: e.to_string(),
                    },
                })?;
            api.create_container(name, &config.body).await
        }
        other => other,
    };
    let (id, warnings) = created?;
    for w in warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(id)
}

/// The exit status docker's `run` gives a failed create or start:
/// 127 for a missing command, 126 for one that cannot be run, else 125.
pub fn failure_status(err: &str) -> u8 {
    let message = err.trim_start_matches("Error response from daemon: ");
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// `run`'s report of a failed create or start.
pub fn run_failure(err: &ApiError) -> anyhow::Error {
    let text = err.to_string();
    report(failure_status(&text), "run", &text).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_like_docker_run() {
        assert_eq!(
            failure_status("Error response from daemon: failed to create task: exec: \"nosuch\": executable file not found in $PATH: unknown"),
            127
        );
        assert_eq!(failure_status("open /x: no such file or directory"), 127);
        assert_eq!(failure_status("exec /etc: permission denied"), 126);
        assert_eq!(failure_status("exec /etc: is a directory"), 126);
        assert_eq!(
            failure_status("Error response from daemon: No such image: nosuch:latest"),
            125
        );
    }

    #[test]
    fn localhost_dns() {
        assert!(is_localhost("127.0.0.53"));
        assert!(is_localhost("::1"));
        assert!(!is_localhost("1.1.1.1"));
    }
}
