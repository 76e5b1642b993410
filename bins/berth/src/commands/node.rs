//! `berth node ls` and `berth node rm`: berth's own verbs for the hosts of
//! its cluster (`GET /berth/nodes`, `DELETE /berth/nodes/{id}`). A host is
//! `alive` while its lease in the cluster store holds; `rm` forgets a host
//! that is down for good and frees the addresses it held.

use clap::{Args, Subcommand};
use serde::Deserialize;

use crate::api::{Api, Host};
use crate::commands::remove_each::remove_each;
use crate::exit::{check_args, Arity};
use crate::format::tabwriter;

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the hosts of the cluster
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Forget hosts that are down for good, freeing what they held
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
#[command(override_usage = "berth node ls [OPTIONS]")]
pub struct LsArgs {
    /// Only display IDs
    #[arg(short, long)]
    quiet: bool,
    #[arg(hide = true)]
    args: Vec<String>,
}

#[derive(Debug, Args)]
#[command(override_usage = "berth node rm NODE [NODE...]")]
pub struct RmArgs {
    #[arg(value_name = "NODE")]
    nodes: Vec<String>,
}

/// One entry of `GET /berth/nodes`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Node {
    #[serde(rename = "ID")]
    id: String,
    hostname: String,
    advertise: String,
    status: String,
    endpoints: u64,
}

pub async fn run(host: &Host, command: NodeCommand) -> anyhow::Result<()> {
    match command {
        NodeCommand::Ls(args) => list(host, args).await,
        NodeCommand::Rm(args) => remove(host, args).await,
    }
}

async fn list(host: &Host, args: LsArgs) -> anyhow::Result<()> {
    check_args(&args.args, Arity::None, "node ls", "node ls [OPTIONS]")?;
    let nodes: Vec<Node> = Api::connect(host).await?.list_nodes().await?;
    if args.quiet {
        for n in &nodes {
            println!("{}", n.id);
        }
        return Ok(());
    }
    print!("{}", table(&nodes));
    Ok(())
}

fn table(nodes: &[Node]) -> String {
    let mut text = "ID\tHOSTNAME\tADVERTISE\tSTATUS\tENDPOINTS\n".to_owned();
    for n in nodes {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            n.id, n.hostname, n.advertise, n.status, n.endpoints
        ));
    }
    tabwriter::align(&text, 20, 1)
}

async fn remove(host: &Host, args: RmArgs) -> anyhow::Result<()> {
    check_args(
        &args.nodes,
        Arity::AtLeast(1),
        "node rm",
        "node rm NODE [NODE...]",
    )?;
    let api = &Api::connect(host).await?;
    remove_each(&args.nodes, false, |id| api.remove_node(id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_column_per_field() {
        let nodes: Vec<Node> = serde_json::from_str(
            r#"[{"ID":"ab12","Hostname":"h1","Advertise":"10.99.0.1","Status":"alive","Endpoints":3}]"#,
        )
        .unwrap();
        let text = table(&nodes);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID "), "{text}");
        assert!(
            lines[1].contains("10.99.0.1") && lines[1].ends_with("3"),
            "{text}"
        );
    }
}
