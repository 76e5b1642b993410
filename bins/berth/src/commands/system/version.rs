//! `berth version` (docker/cli `cli/command/system/version.go`).

use std::collections::HashMap;

use bollard_stubs::models::{SystemVersion, SystemVersionComponents};
use clap::Args;
use serde_json::{json, Value};

use crate::api::{Api, ApiVersion, Host, CLIENT_API_VERSION};
use crate::exit::{check_args, Arity, Exit};
use crate::format::template::{Exec, Missing, Template};
use crate::format::{gotime, tabwriter};

const PATH: &str = "version";
const USAGE: &str = "version [OPTIONS]";

#[derive(Debug, Args)]
#[command(override_usage = "berth version [OPTIONS]")]
pub struct VersionArgs {
    /// Format output using a custom template: 'json' or 'TEMPLATE'
    #[arg(
        short,
        long,
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    format: String,
    #[arg(hide = true)]
    args: Vec<String>,
}

/// The client half of the report.
pub struct Client {
    pub version: &'static str,
    /// Negotiated with the daemon; the default when it is unreachable.
    pub api_version: ApiVersion,
    pub os: &'static str,
    pub arch: &'static str,
}

impl Client {
    pub fn new(api_version: ApiVersion) -> Client {
        Client {
            version: env!("CARGO_PKG_VERSION"),
            api_version,
            os: std::env::consts::OS,
            arch: go_arch(std::env::consts::ARCH),
        }
    }
}

/// Go's `GOARCH` names, which docker prints and scripts expect.
fn go_arch(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

enum Mode {
    Default,
    Template(Template),
}

fn mode(format: &str) -> Result<Mode, Exit> {
    let source = match format {
        "" => return Ok(Mode::Default),
        "json" => "{{json .}}",
        other => other,
    };
    Template::parse(source)
        .map(Mode::Template)
        .map_err(|e| Exit::status(64, format!("template parsing error: {e}")))
}

pub async fn run(host: &Host, args: VersionArgs) -> anyhow::Result<()> {
    check_args(&args.args, Arity::None, PATH, USAGE)?;
    let mode = mode(&args.format)?;
    let api = Api::connect(host).await;
    let api_version = api.as_ref().map_or(CLIENT_API_VERSION, Api::api_version);
    let server = match &api {
        Ok(api) => api.version().await,
        Err(e) => Err(e.clone()),
    };
    let client = Client::new(api_version);
    // docker prints the client half even when the daemon is unreachable,
    // then reports the error.
    let server = server.map(normalize);
    let shown = server.as_ref().ok();
    match mode {
        Mode::Default => print!("{}", render(&client, shown)),
        Mode::Template(t) => {
            let exec = Exec {
                missing: Missing::Error,
                escape_root_json: false,
            };
            let text = t
                .execute(&report_value(&client, shown), exec)
                .map_err(anyhow::Error::msg)?;
            println!("{text}");
        }
    }
    server?;
    Ok(())
}

fn details(c: &SystemVersionComponents, key: &str) -> String {
    c.details
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
        .unwrap_or_default()
}

/// docker's fix-ups before printing: the Engine component's `BuildTime`
/// in `ANSIC` form, and an Engine component made from the top-level
/// fields when the daemon sent none.
fn normalize(mut sv: SystemVersion) -> SystemVersion {
    let mut components = sv.components.take().unwrap_or_default();
    let mut found = false;
    for c in components.iter_mut().filter(|c| c.name == "Engine") {
        found = true;
        if let Some(bt) = c.details.as_mut().and_then(|d| d.get_mut("BuildTime")) {
            *bt = gotime::ansic(bt);
        }
    }
    if !found {
        let field = |v: &Option<String>| v.clone().unwrap_or_default();
        let details: HashMap<String, String> = [
            ("ApiVersion", field(&sv.api_version)),
            ("MinAPIVersion", field(&sv.min_api_version)),
            ("GitCommit", field(&sv.git_commit)),
            ("GoVersion", field(&sv.go_version)),
            ("Os", field(&sv.os)),
            ("Arch", field(&sv.arch)),
            ("BuildTime", gotime::ansic(&field(&sv.build_time))),
            (
                "Experimental",
                sv.experimental.unwrap_or_default().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        components.push(SystemVersionComponents {
            name: "Engine".to_string(),
            version: field(&sv.version),
            details: Some(details),
        });
    }
    sv.components = Some(components);
    sv
}

/// docker's `defaultVersionTemplate`, written out: the client block, and
/// the server block with one section per component, aligned by a
/// tabwriter with minimum width 20 and padding 1.
pub fn render(client: &Client, server: Option<&SystemVersion>) -> String {
    let mut t = String::new();
    t.push_str("Client:\n");
    t.push_str(&format!(" Version:\t{}\n", client.version));
    t.push_str(&format!(" API version:\t{}", client.api_version));
    if client.api_version != CLIENT_API_VERSION {
        t.push_str(&format!(" (downgraded from {CLIENT_API_VERSION})"));
    }
    t.push_str(&format!("\n OS/Arch:\t{}/{}", client.os, client.arch));
    if let Some(sv) = server {
        t.push_str("\n\nServer:");
        let platform = sv
            .platform
            .as_ref()
            .map(|p| p.name.as_str())
            .unwrap_or_default();
        if !platform.is_empty() {
            t.push(' ');
            t.push_str(platform);
        }
        for c in sv.components.iter().flatten() {
            t.push_str(&format!("\n {}:", c.name));
            t.push_str(&format!("\n  Version:\t{}", c.version));
            if c.name == "Engine" {
                let d = |k: &str| details(c, k);
                t.push_str(&format!(
                    "\n  API version:\t{} (minimum version {})",
                    d("ApiVersion"),
                    d("MinAPIVersion")
                ));
                t.push_str(&format!("\n  Go version:\t{}", d("GoVersion")));
                t.push_str(&format!("\n  Git commit:\t{}", d("GitCommit")));
                t.push_str(&format!("\n  Built:\t{}", d("BuildTime")));
                t.push_str(&format!("\n  OS/Arch:\t{}/{}", d("Os"), d("Arch")));
                t.push_str(&format!("\n  Experimental:\t{}", d("Experimental")));
            } else {
                let mut keys: Vec<&String> = c.details.iter().flatten().map(|(k, _)| k).collect();
                keys.sort();
                for k in keys {
                    t.push_str(&format!("\n  {k}:\t{}", details(c, k)));
                }
            }
        }
    }
    t.push('\n');
    tabwriter::align(&t, 20, 1)
}

/// The data `--format` templates see: `.Client` and `.Server` (null when
/// the daemon is unreachable), with the API's field names.
fn report_value(client: &Client, server: Option<&SystemVersion>) -> Value {
    json!({
        "Client": {
            "Version": client.version,
            "ApiVersion": client.api_version.to_string(),
            "DefaultAPIVersion": CLIENT_API_VERSION.to_string(),
            "Os": client.os,
            "Arch": client.arch,
        },
        "Server": server.and_then(|s| serde_json::to_value(s).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::gojson;
    use bollard_stubs::models::SystemVersionPlatform;

    fn client() -> Client {
        Client {
            version: "0.1.0",
            api_version: CLIENT_API_VERSION,
            os: "linux",
            arch: "amd64",
        }
    }

    fn server() -> SystemVersion {
        // The /version body docker 28.2.2 was run against.
        serde_json::from_value(json!({
            "Platform": {"Name": "Berth Engine"}, "Version": "0.1.0", "ApiVersion": "1.50",
            "MinAPIVersion": "1.24", "GitCommit": "abc1234", "GoVersion": "rustc 1.85",
            "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0",
            "BuildTime": "2025-01-02T03:04:05.000000000+00:00",
            "Components": [{"Name": "Engine", "Version": "0.1.0", "Details": {
                "ApiVersion": "1.50", "MinAPIVersion": "1.24", "GitCommit": "abc1234",
                "GoVersion": "rustc 1.85", "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0",
                "BuildTime": "2025-01-02T03:04:05.000000000+00:00", "Experimental": "false"}}]
        }))
        .unwrap_or_default()
    }

    #[test]
    fn server_section_is_dockers() {
        let out = render(&client(), Some(&normalize(server())));
        // The Server block is byte-for-byte what docker printed.
        let want = "Client:
 Version:           0.1.0
 API version:       1.50
 OS/Arch:           linux/amd64

Server: Berth Engine
 Engine:
  Version:          0.1.0
  API version:      1.50 (minimum version 1.24)
  Go version:       rustc 1.85
  Git commit:       abc1234
  Built:            Thu Jan  2 03:04:05 2025
  OS/Arch:          linux/amd64
  Experimental:     false
";
        assert_eq!(out, want);
    }

    #[test]
    fn client_only_when_unreachable_and_downgrades() {
        let c = Client {
            api_version: ApiVersion {
                major: 1,
                minor: 45,
            },
            ..client()
        };
        assert_eq!(
            render(&c, None),
            "Client:\n Version:           0.1.0\n API version:       1.45 (downgraded from 1.50)\n OS/Arch:           linux/amd64\n"
        );
    }

    #[test]
    fn engine_is_synthesized_and_other_components_listed() {
        let mut sv = server();
        sv.components = Some(vec![SystemVersionComponents {
            name: "runc".into(),
            version: "1.1.12".into(),
            details: Some([("GitCommit".to_string(), "v1.1.12-0".to_string())].into()),
        }]);
        sv.platform = Some(SystemVersionPlatform {
            name: String::new(),
        });
        let out = render(&client(), Some(&normalize(sv)));
        assert!(out.contains("\n\nServer:\n runc:\n  Version:          1.1.12\n  GitCommit:        v1.1.12-0\n Engine:\n"));
        assert!(out.contains("  Built:            Thu Jan  2 03:04:05 2025\n"));
    }

    #[test]
    fn templates_see_client_and_server() {
        let exec = Exec {
            missing: Missing::Error,
            escape_root_json: false,
        };
        let value = report_value(&client(), Some(&normalize(server())));
        let t = Template::parse("{{.Server.Version}} {{.Client.ApiVersion}}").ok();
        assert_eq!(
            t.and_then(|t| t.execute(&value, exec).ok()).as_deref(),
            Some("0.1.0 1.50")
        );
        let json = gojson::marshal(&report_value(&client(), None), false);
        assert!(json.ends_with(r#""Server":null}"#));
        assert!(matches!(
            mode("{{.Server"),
            Err(Exit::Status { code: 64, .. })
        ));
    }
}
