//! `berth info` (docker/cli `cli/command/system/info.go`): docker's
//! layout for the fields berthd reports; registry, swarm-cluster and
//! plugin sections docker prints for its own features are left out.

use std::fmt::Write as _;

use bollard_stubs::models::SystemInfo;
use clap::Args;
use serde_json::{json, Value};

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity, Exit};
use crate::format::template::{Exec, Missing, Template};
use crate::format::units;

const PATH: &str = "info";
const USAGE: &str = "info [OPTIONS]";

#[derive(Debug, Args)]
#[command(override_usage = "berth info [OPTIONS]")]
pub struct InfoArgs {
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

pub async fn run(host: &Host, args: InfoArgs) -> anyhow::Result<()> {
    check_args(&args.args, Arity::None, PATH, USAGE)?;
    let template = match args.format.as_str() {
        "" => None,
        "json" => Some(Template::parse("{{json .}}")),
        other => Some(Template::parse(other)),
    }
    .transpose()
    .map_err(|e| Exit::status(64, format!("template parsing error: {e}")))?;

    let server = match Api::connect(host).await {
        Ok(api) => api.info().await,
        Err(e) => Err(e),
    };
    match template {
        None => {
            println!("Client:");
            println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
            println!();
            println!("Server:");
            let info = server?;
            print!("{}", render_server(&info));
            for warning in info.warnings.iter().flatten() {
                eprintln!("{warning}");
            }
        }
        Some(t) => {
            let exec = Exec {
                missing: Missing::Struct("system.dockerInfo"),
                escape_root_json: false,
            };
            let result = t.execute(&info_value(server.as_ref().ok()), exec);
            // docker ends the output with a newline even when the template fails.
            println!("{}", result.as_deref().unwrap_or_default());
            result.map_err(anyhow::Error::msg)?;
            server?;
        }
    }
    Ok(())
}

/// What `--format` templates see: the daemon's `/info` fields at the top
/// level (as in docker's `dockerInfo`) plus `ClientInfo`.
fn info_value(info: Option<&SystemInfo>) -> Value {
    let mut value = info
        .and_then(|i| serde_json::to_value(i).ok())
        .unwrap_or_else(|| json!({}));
    if let Value::Object(map) = &mut value {
        map.insert(
            "ClientInfo".into(),
            json!({"Version": env!("CARGO_PKG_VERSION"), "Debug": false}),
        );
    }
    value
}

/// docker's `prettyPrintServerInfo`, from ` Containers:` to the blank line
/// that ends it. Absent fields print as Go's zero values.
fn render_server(info: &SystemInfo) -> String {
    let mut o = String::new();
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let n = |v: Option<i64>| v.unwrap_or_default();
    let b = |v: Option<bool>| v.unwrap_or_default();
    let list = |v: Option<&Vec<String>>| v.map(|l| l.join(" ")).unwrap_or_default();
    // `fprintlnNonEmpty`: the line only when the value is not empty.
    let non_empty = |o: &mut String, label: &str, value: String| {
        if !value.is_empty() {
            let _ = writeln!(o, "{label} {value}");
        }
    };

    let _ = writeln!(o, " Containers: {}", n(info.containers));
    let _ = writeln!(o, "  Running: {}", n(info.containers_running));
    let _ = writeln!(o, "  Paused: {}", n(info.containers_paused));
    let _ = writeln!(o, "  Stopped: {}", n(info.containers_stopped));
    let _ = writeln!(o, " Images: {}", n(info.images));
    non_empty(&mut o, " Server Version:", s(&info.server_version));
    non_empty(&mut o, " Storage Driver:", s(&info.driver));
    for pair in info.driver_status.iter().flatten() {
        if let [k, v, ..] = pair.as_slice() {
            let _ = writeln!(o, "  {k}: {v}");
        }
    }
    non_empty(&mut o, " Logging Driver:", s(&info.logging_driver));
    non_empty(
        &mut o,
        " Cgroup Driver:",
        info.cgroup_driver
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    non_empty(
        &mut o,
        " Cgroup Version:",
        info.cgroup_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
    );

    let plugins = info.plugins.as_ref();
    let _ = writeln!(o, " Plugins:");
    let _ = writeln!(
        o,
        "  Volume: {}",
        list(plugins.and_then(|p| p.volume.as_ref()))
    );
    let _ = writeln!(
        o,
        "  Network: {}",
        list(plugins.and_then(|p| p.network.as_ref()))
    );
    let authz = list(plugins.and_then(|p| p.authorization.as_ref()));
    if !authz.is_empty() {
        let _ = writeln!(o, "  Authorization: {authz}");
    }
    let _ = writeln!(o, "  Log: {}", list(plugins.and_then(|p| p.log.as_ref())));
    if let Some(dirs) = info.cdi_spec_dirs.as_ref().filter(|d| !d.is_empty()) {
        let _ = writeln!(o, " CDI spec directories:");
        for dir in dirs {
            let _ = writeln!(o, "  {dir}");
        }
    }

    let swarm = info.swarm.as_ref();
    let state = swarm
        .and_then(|sw| sw.local_node_state)
        .map(|st| st.to_string())
        .unwrap_or_default();
    let _ = writeln!(o, " Swarm: {state}");
    if state != "inactive" && state != "locked" {
        let _ = writeln!(
            o,
            "  NodeID: {}",
            swarm.map(|sw| s(&sw.node_id)).unwrap_or_default()
        );
        let _ = writeln!(
            o,
            "  Is Manager: {}",
            swarm.is_some_and(|sw| b(sw.control_available))
        );
        let _ = writeln!(
            o,
            "  Node Address: {}",
            swarm.map(|sw| s(&sw.node_addr)).unwrap_or_default()
        );
    }

    if let Some(runtimes) = info.runtimes.as_ref().filter(|r| !r.is_empty()) {
        // docker lists them in Go map order (random); sorted is stable.
        let mut names: Vec<&String> = runtimes.keys().collect();
        names.sort();
        let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
        let _ = writeln!(o, " Runtimes: {}", names.join(" "));
        let _ = writeln!(o, " Default Runtime: {}", s(&info.default_runtime));
    }

    let os_type = s(&info.os_type);
    if os_type == "linux" {
        let commit = |c: &Option<bollard_stubs::models::Commit>| {
            c.as_ref().map(|c| s(&c.id)).unwrap_or_default()
        };
        let _ = writeln!(o, " Init Binary: {}", s(&info.init_binary));
        let _ = writeln!(
            o,
            " containerd version: {}",
            commit(&info.containerd_commit)
        );
        let _ = writeln!(o, " runc version: {}", commit(&info.runc_commit));
        let _ = writeln!(o, " init version: {}", commit(&info.init_commit));
        if let Some(options) = info.security_options.as_ref().filter(|v| !v.is_empty()) {
            let _ = writeln!(o, " Security Options:");
            for (name, profile) in options.iter().filter_map(|opt| security_option(opt)) {
                let _ = writeln!(o, "  {name}");
                if let Some(p) = profile {
                    let _ = writeln!(o, "   Profile: {p}");
                }
            }
        }
    }

    non_empty(&mut o, " Kernel Version:", s(&info.kernel_version));
    non_empty(&mut o, " Operating System:", s(&info.operating_system));
    non_empty(&mut o, " OSType:", os_type);
    non_empty(&mut o, " Architecture:", s(&info.architecture));
    let _ = writeln!(o, " CPUs: {}", n(info.ncpu));
    // i64 -> f64 is exact below 2^53 bytes (8 PiB); beyond, rounding is
    // invisible at the four digits printed.
    let _ = writeln!(
        o,
        " Total Memory: {}",
        units::bytes_size(n(info.mem_total) as f64)
    );
    non_empty(&mut o, " Name:", s(&info.name));
    non_empty(&mut o, " ID:", s(&info.id));
    let _ = writeln!(o, " Docker Root Dir: {}", s(&info.docker_root_dir));
    let debug = b(info.debug);
    let _ = writeln!(o, " Debug Mode: {debug}");
    if debug {
        let _ = writeln!(o, "  File Descriptors: {}", n(info.nfd));
        let _ = writeln!(o, "  Goroutines: {}", n(info.n_goroutines));
        let _ = writeln!(o, "  System Time: {}", s(&info.system_time));
        let _ = writeln!(o, "  EventsListeners: {}", n(info.n_events_listener));
    }
    non_empty(&mut o, " HTTP Proxy:", s(&info.http_proxy));
    non_empty(&mut o, " HTTPS Proxy:", s(&info.https_proxy));
    non_empty(&mut o, " No Proxy:", s(&info.no_proxy));
    if let Some(labels) = info.labels.as_ref().filter(|l| !l.is_empty()) {
        let _ = writeln!(o, " Labels:");
        for label in labels {
            let _ = writeln!(o, "  {label}");
        }
    }
    let _ = writeln!(o, " Experimental: {}", b(info.experimental_build));
    let _ = writeln!(o, " Live Restore Enabled: {}", b(info.live_restore_enabled));
    non_empty(&mut o, " Product License:", s(&info.product_license));
    if let Some(pools) = info
        .default_address_pools
        .as_ref()
        .filter(|p| !p.is_empty())
    {
        let _ = writeln!(o, " Default Address Pools:");
        for pool in pools {
            let _ = writeln!(o, "   Base: {}, Size: {}", s(&pool.base), n(pool.size));
        }
    }
    o.push('\n');
    o
}

/// One entry of `SecurityOptions` (moby's `DecodeSecurityOptions`):
/// `name=seccomp,profile=builtin`, or a bare name from old daemons.
/// Returns the name and the profile, if any; malformed entries are skipped.
fn security_option(opt: &str) -> Option<(String, Option<String>)> {
    if !opt.contains('=') {
        return Some((opt.to_string(), None));
    }
    let mut name = None;
    let mut profile = None;
    for part in opt.split(',') {
        let (k, v) = part.split_once('=')?;
        if k.is_empty() || v.is_empty() {
            return None;
        }
        match k {
            "name" => name = Some(v.to_string()),
            "profile" => profile = Some(v.to_string()),
            _ => {}
        }
    }
    Some((name.unwrap_or_default(), profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_section_is_dockers() {
        // The /info body docker 28.2.2 was run against, and its output.
        let info: SystemInfo = serde_json::from_value(json!({
            "ID": "4f1c2b8e-1111-2222-3333-444455556666", "Containers": 3, "ContainersRunning": 1,
            "ContainersPaused": 0, "ContainersStopped": 2, "Images": 2, "Driver": "",
            "DriverStatus": null,
            "Plugins": {"Volume": null, "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file"]},
            "Debug": false, "LoggingDriver": "json-file", "CgroupDriver": "systemd", "CgroupVersion": "2",
            "KernelVersion": "6.1.0-18-amd64", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
            "OSType": "linux", "Architecture": "x86_64", "NCPU": 8, "MemTotal": 16663740416_i64,
            "DockerRootDir": "/var/lib/berth", "Name": "host1", "Labels": [], "ExperimentalBuild": false,
            "ServerVersion": "0.1.0", "Runtimes": {"runc": {"path": "runc"}}, "DefaultRuntime": "runc",
            "Swarm": {"LocalNodeState": "inactive"}, "LiveRestoreEnabled": false, "InitBinary": "",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": "v1.1.12"}, "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
            "DefaultAddressPools": [{"Base": "172.17.0.0/16", "Size": 16}],
            "Warnings": ["WARNING: bridge-nf-call-iptables is disabled"]
        }))
        .unwrap_or_default();
        let want = " Containers: 3
  Running: 1
  Paused: 0
  Stopped: 2
 Images: 2
 Server Version: 0.1.0
 Logging Driver: json-file
 Cgroup Driver: systemd
 Cgroup Version: 2
 Plugins:
  Volume: 
  Network: bridge host null
  Log: json-file
 Swarm: inactive
 Runtimes: runc
 Default Runtime: runc
 Init Binary: 
 containerd version: 
 runc version: v1.1.12
 init version: 
 Security Options:
  seccomp
   Profile: builtin
  cgroupns
 Kernel Version: 6.1.0-18-amd64
 Operating System: Debian GNU/Linux 12 (bookworm)
 OSType: linux
 Architecture: x86_64
 CPUs: 8
 Total Memory: 15.52GiB
 Name: host1
 ID: 4f1c2b8e-1111-2222-3333-444455556666
 Docker Root Dir: /var/lib/berth
 Debug Mode: false
 Experimental: false
 Live Restore Enabled: false
 Default Address Pools:
   Base: 172.17.0.0/16, Size: 16

";
        assert_eq!(render_server(&info), want);
    }

    #[test]
    fn security_options() {
        assert_eq!(security_option("apparmor"), Some(("apparmor".into(), None)));
        assert_eq!(
            security_option("name=seccomp,profile=default"),
            Some(("seccomp".into(), Some("default".into())))
        );
        assert_eq!(security_option("name=x,bad"), None);
    }

    #[test]
    fn template_data_has_client_info() {
        let v = info_value(None);
        assert_eq!(v.pointer("/ClientInfo/Debug"), Some(&json!(false)));
    }
}
