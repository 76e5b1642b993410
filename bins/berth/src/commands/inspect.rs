//! `berth inspect` (docker/cli `cli/command/system/inspect.go`): any
//! object by name or id — a container, else an image, else a network — or
//! only the `--type` given.

use anyhow::anyhow;
use clap::Args;

use crate::api::{Api, ApiError, Host};
use crate::exit::{check_args, Arity};
use crate::format::inspector::Inspector;

const TYPES: [&str; 3] = ["container", "image", "network"];

#[derive(Debug, Args)]
#[command(override_usage = "berth inspect [OPTIONS] NAME|ID [NAME|ID...]")]
pub struct InspectArgs {
    /// Format output using a custom template: 'json' or 'TEMPLATE'
    #[arg(short, long, value_name = "string", allow_hyphen_values = true)]
    format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    /// Only inspect objects of the given type
    #[arg(allow_hyphen_values = true, long = "type", value_name = "string")]
    kind: Option<String>,
    #[arg(value_name = "NAME|ID")]
    names: Vec<String>,
}

/// docker's list of types in its errors, here berth's.
fn type_list() -> String {
    format!("\"{}\"", TYPES.join("\", \""))
}

/// What docker's autodetection skips to try the next type.
fn skippable(e: &ApiError) -> bool {
    let text = e.to_string();
    e.is_not_found() || text.contains("not supported") || text.contains("invalid reference format")
}

async fn fetch(api: &Api, kind: &str, name: &str, size: bool) -> Result<String, ApiError> {
    match kind {
        "container" => api.inspect_container_raw(name, size).await,
        "image" => api.inspect_image_raw(name).await,
        _ => api.inspect_network_raw(name, false).await,
    }
}

/// One reference: of the given type, or the first type that has it.
async fn lookup(api: &Api, kind: &str, name: &str, size: bool) -> Result<String, String> {
    if !kind.is_empty() {
        return fetch(api, kind, name, size)
            .await
            .map_err(|e| e.to_string());
    }
    for kind in TYPES {
        match fetch(api, kind, name, size).await {
            Err(e) if skippable(&e) => continue,
            result => return result.map_err(|e| e.to_string()),
        }
    }
    Err(format!("Error: No such object: {name}"))
}

pub async fn run(host: &Host, args: InspectArgs) -> anyhow::Result<()> {
    check_args(
        &args.names,
        Arity::AtLeast(1),
        "inspect",
        "inspect [OPTIONS] NAME|ID [NAME|ID...]",
    )?;
    let kind = args.kind.clone().unwrap_or_default();
    if args.kind.is_some() && kind.is_empty() {
        return Err(anyhow!("type is empty: must be one of {}", type_list()));
    }
    if !kind.is_empty() && !TYPES.contains(&kind.as_str()) {
        return Err(anyhow!(
            "unknown type: {kind:?}: must be one of {}",
            type_list()
        ));
    }
    let inspector = Inspector::new(args.format.as_deref().unwrap_or_default())?;
    let api = Api::connect(host).await;
    let mut results = Vec::new();
    for name in &args.names {
        results.push(match &api {
            Ok(api) => lookup(api, &kind, name, args.size).await,
            Err(e) => Err(e.to_string()),
        });
    }
    inspector.print(&results)
}
