//! `berth port` (docker/cli `cli/command/container/port.go`).

use anyhow::anyhow;
use clap::Args;
use serde_json::Value;

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use crate::format::natural;

#[derive(Debug, Args)]
#[command(override_usage = "berth port CONTAINER [PRIVATE_PORT[/PROTO]]")]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER [PRIVATE_PORT[/PROTO]]")]
    args: Vec<String>,
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn frontends(bindings: &Value) -> Vec<String> {
    bindings
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            join_host_port(
                b["HostIp"].as_str().unwrap_or_default(),
                b["HostPort"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// The lines `port` prints for a container's `NetworkSettings.Ports`:
/// every mapping, or those of one port (tcp unless a proto is given).
pub fn render(ports: &Value, container: &str, private: Option<&str>) -> Result<String, String> {
    let mut out: Vec<String> = match private {
        Some(spec) => {
            let (port, proto) = spec.split_once('/').unwrap_or((spec, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            let valid = !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok();
            if !valid {
                let why = if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                    "value out of range"
                } else {
                    "invalid syntax"
                };
                return Err(format!(
                    "Error: invalid port ({port}): strconv.ParseUint: parsing {port:?}: {why}"
                ));
            }
            let list = frontends(&ports[format!("{port}/{proto}")]);
            if list.is_empty() {
                return Err(format!(
                    "Error: No public port '{spec}' published for {container}"
                ));
            }
            list
        }
        None => ports
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(from, bindings)| {
                frontends(bindings)
                    .into_iter()
                    .map(move |f| format!("{from} -> {f}"))
            })
            .collect(),
    };
    out.sort_by(|a, b| natural::compare(a, b));
    Ok(out.iter().map(|l| format!("{l}\n")).collect())
}

pub async fn run(host: &Host, args: PortArgs) -> anyhow::Result<()> {
    check_args(
        &args.args,
        Arity::Between(1, 2),
        "port",
        "port CONTAINER [PRIVATE_PORT[/PROTO]]",
    )?;
    let api = Api::connect(host).await?;
    let container = &args.args[0];
    let c = api.inspect_container(container).await?;
    let out = render(
        &c["NetworkSettings"]["Ports"],
        container,
        args.args.get(1).map(String::as_str),
    )
    .map_err(|e| anyhow!(e))?;
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ports() -> Value {
        json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
               "443/tcp": null,
               "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
               "7000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "7000"}],
               "10000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "10000"}]})
    }

    #[test]
    fn listing_like_docker() {
        // docker 28.2.2's `docker port web` for these bindings.
        assert_eq!(
            render(&ports(), "web", None).as_deref(),
            Ok(
                "53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n\
                7000/tcp -> 0.0.0.0:7000\n10000/tcp -> 0.0.0.0:10000\n"
            )
        );
        assert_eq!(
            render(&ports(), "web", Some("80")).as_deref(),
            Ok("0.0.0.0:8080\n[::]:8080\n")
        );
        assert_eq!(
            render(&ports(), "web", Some("53/udp")).as_deref(),
            Ok("127.0.0.1:5353\n")
        );
        assert_eq!(render(&json!({}), "web", None).as_deref(), Ok(""));
    }

    #[test]
    fn errors_like_docker() {
        assert_eq!(
            render(&ports(), "web", Some("443")),
            Err("Error: No public port '443' published for web".to_string())
        );
        assert_eq!(
            render(&ports(), "web", Some("abc")),
            Err(
                "Error: invalid port (abc): strconv.ParseUint: parsing \"abc\": invalid syntax"
                    .to_string()
            )
        );
        assert_eq!(
            render(&ports(), "web", Some("99999")),
            Err("Error: invalid port (99999): strconv.ParseUint: parsing \"99999\": value out of range".to_string())
        );
    }
}
