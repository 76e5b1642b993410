//! `berth network connect` and `berth network disconnect` (docker/cli
//! `cli/command/network/{connect,disconnect}.go`).

use clap::Args;
use serde_json::{json, Map, Value};

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use crate::opts;

#[derive(Debug, Args)]
#[command(override_usage = "berth network connect [OPTIONS] NETWORK CONTAINER")]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(allow_hyphen_values = true, long, value_name = "strings")]
    alias: Vec<String>,
    /// driver options for the network
    #[arg(
        allow_hyphen_values = true,
        long = "driver-opt",
        value_name = "strings"
    )]
    driver_opt: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    ip6: Option<String>,
    #[arg(value_name = "NETWORK CONTAINER")]
    args: Vec<String>,
}

#[derive(Debug, Args)]
#[command(override_usage = "berth network disconnect [OPTIONS] NETWORK CONTAINER")]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(value_name = "NETWORK CONTAINER")]
    args: Vec<String>,
}

/// docker's `convertDriverOpt`.
fn driver_opts(values: &[String]) -> Result<Map<String, Value>, String> {
    opts::csv_values(values)
        .iter()
        .map(|o| match o.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), Value::String(v.trim().to_string())))
            }
            _ => Err("invalid key/value pair format in driver options".to_string()),
        })
        .collect()
}

/// The body docker 28.2 sends: the whole endpoint settings, the unset
/// fields empty.
fn connect_body(args: &ConnectArgs, driver_opts: Map<String, Value>) -> Value {
    let mut ipam = Map::new();
    for (key, value) in [("IPv4Address", &args.ip), ("IPv6Address", &args.ip6)] {
        if let Some(ip) = value.as_deref().filter(|ip| !ip.is_empty()) {
            ipam.insert(key.into(), ip.into());
        }
    }
    json!({
        "Container": args.args[1],
        "EndpointConfig": {
            "IPAMConfig": ipam,
            "Links": null,
            "Aliases": opts::csv_values(&args.alias),
            "MacAddress": "",
            "DriverOpts": driver_opts,
            "GwPriority": 0,
            "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DNSNames": null,
        },
    })
}

pub async fn connect(host: &Host, args: ConnectArgs) -> anyhow::Result<()> {
    check_args(
        &args.args,
        Arity::Exactly(2),
        "network connect",
        "network connect [OPTIONS] NETWORK CONTAINER",
    )?;
    let driver_opts = driver_opts(&args.driver_opt).map_err(anyhow::Error::msg)?;
    let api = Api::connect(host).await?;
    let body = connect_body(&args, driver_opts);
    Ok(api
        .network_attachment(&args.args[0], "connect", &body)
        .await?)
}

pub async fn disconnect(host: &Host, args: DisconnectArgs) -> anyhow::Result<()> {
    check_args(
        &args.args,
        Arity::Exactly(2),
        "network disconnect",
        "network disconnect [OPTIONS] NETWORK CONTAINER",
    )?;
    let api = Api::connect(host).await?;
    let body = json!({"Container": args.args[1], "Force": args.force});
    Ok(api
        .network_attachment(&args.args[0], "disconnect", &body)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_like_docker() {
        let args = ConnectArgs {
            alias: vec!["a1".into(), "a2,a3".into()],
            driver_opt: vec![],
            ip: Some("10.0.0.9".into()),
            ip6: Some("fd00::9".into()),
            args: vec!["net10".into(), "e1".into()],
        };
        let body = connect_body(&args, Map::new());
        // docker 28.2.2: `network connect --ip 10.0.0.9 --ip6 fd00::9
        // --alias a1 --alias a2,a3 net10 e1`.
        assert_eq!(body["Container"], "e1");
        assert_eq!(
            body["EndpointConfig"]["IPAMConfig"],
            json!({"IPv4Address": "10.0.0.9", "IPv6Address": "fd00::9"})
        );
        assert_eq!(body["EndpointConfig"]["Aliases"], json!(["a1", "a2", "a3"]));
        assert_eq!(body["EndpointConfig"]["DriverOpts"], json!({}));
        assert_eq!(
            driver_opts(&["x".into()]),
            Err("invalid key/value pair format in driver options".to_string())
        );
    }
}
