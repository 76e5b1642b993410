//! The flags `run` and `create` share (docker/cli
//! `cli/command/container/opts.go`, the subset berth supports) and the
//! `POST /containers/create` body they make, checked and spelled as docker
//! 28.2 does.
//!
//! `network` turns `--network` and its companions into endpoint settings.

use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};

use super::publish_spec;
use crate::exit::{flag_error, Exit};
use crate::opts;

mod network;

use network::parse_network;

// Every flag that takes a value takes the next argument, even one that
// starts with `-`, as docker's flag parser does.
#[derive(Debug, Args)]
pub struct ContainerOptions {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long, value_name = "list", allow_hyphen_values = true)]
    attach: Vec<String>,
    /// Set environment variables
    #[arg(short = 'e', long, value_name = "list", allow_hyphen_values = true)]
    env: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long, value_name = "string", allow_hyphen_values = true)]
    hostname: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long, value_name = "list", allow_hyphen_values = true)]
    label: Vec<String>,
    /// Assign a name to the container
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    pub name: Option<String>,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long, value_name = "string", allow_hyphen_values = true)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string", allow_hyphen_values = true)]
    workdir: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list", allow_hyphen_values = true)]
    add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "list", allow_hyphen_values = true)]
    dns: Vec<String>,
    /// Set DNS options
    #[arg(
        long = "dns-option",
        alias = "dns-opt",
        value_name = "list",
        allow_hyphen_values = true
    )]
    dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list", allow_hyphen_values = true)]
    dns_search: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "list", allow_hyphen_values = true)]
    expose: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(
        long = "mac-address",
        value_name = "string",
        allow_hyphen_values = true
    )]
    mac_address: Option<String>,
    /// Connect a container to a network
    #[arg(
        long,
        alias = "net",
        value_name = "network",
        allow_hyphen_values = true
    )]
    network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(
        long = "network-alias",
        alias = "net-alias",
        value_name = "list",
        allow_hyphen_values = true
    )]
    network_alias: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long, value_name = "list", allow_hyphen_values = true)]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// The image, then the command and its arguments
    #[arg(value_name = "IMAGE [COMMAND] [ARG...]", trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// An unset string flag is docker's empty string.
fn or_empty(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or_default()
}

/// A checked command line: the create body and what running it needs.
#[derive(Debug)]
pub struct Config {
    /// The `POST /containers/create` body (Config, HostConfig and
    /// NetworkingConfig).
    pub body: Value,
    pub image: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub auto_remove: bool,
    /// `-a` was given.
    pub attach_flags: bool,
    /// The `--dns` servers, for docker's localhost warning.
    pub dns: Vec<String>,
}

impl Config {
    /// Detached: nothing attached and stdin not held open for a client
    /// (docker clears these for `run -d`).
    pub fn detach(&mut self) {
        self.attach_stdin = false;
        self.attach_stdout = false;
        self.attach_stderr = false;
        for key in ["AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"] {
            self.body[key] = Value::Bool(false);
        }
    }

    /// The size of our terminal, `[0, 0]` when stdout is not one.
    pub fn set_console_size(&mut self, height: u16, width: u16) {
        self.body["HostConfig"]["ConsoleSize"] = json!([height, width]);
    }
}

impl ContainerOptions {
    /// Checks each flag value as docker's flag types do (errors are pflag's,
    /// status 125) and returns the normalised values.
    fn checked_values(&self, path: &str, usage: &str) -> Result<CheckedValues, Exit> {
        let check = |flag: &str, values: &[String], f: fn(&str) -> Result<String, String>| {
            values
                .iter()
                .map(|v| f(v).map_err(|e| flag_error(flag, v, &e, path, usage)))
                .collect::<Result<Vec<_>, _>>()
        };
        let attach = check("-a, --attach", &self.attach, |v| {
            let lower = v.to_lowercase();
            if matches!(lower.as_str(), "stdin" | "stdout" | "stderr") {
                Ok(lower)
            } else {
                Err("valid streams are STDIN, STDOUT and STDERR".to_string())
            }
        })?;
        Ok(CheckedValues {
            attach,
            env: check("-e, --env", &self.env, opts::validate_env)?,
            labels: check("-l, --label", &self.label, opts::parse_label)?,
            extra_hosts: check("--add-host", &self.add_host, opts::validate_extra_host)?,
            dns: check("--dns", &self.dns, opts::validate_ip)?,
            dns_search: check("--dns-search", &self.dns_search, opts::validate_dns_search)?,
        })
    }

    /// docker's `parse`: the create body for this command line. Errors
    /// are flag errors (status 125 with usage) or docker's `reportError`.
    pub fn config(&self, path: &str, usage: &str) -> Result<Config, Exit> {
        let values = self.checked_values(path, usage)?;
        self.body(values)
            .map_err(|e| crate::exit::report(125, path, &e))
    }

    fn body(&self, v: CheckedValues) -> Result<Config, String> {
        let mac = or_empty(&self.mac_address);
        if !mac.is_empty() && !opts::is_mac(mac.trim()) {
            return Err(format!("{mac} is not a valid mac address"));
        }
        let attach_flags = !v.attach.is_empty();
        let has = |s: &str| v.attach.iter().any(|a| a == s);
        let attach_stdin = has("stdin") || self.interactive;
        let (attach_stdout, attach_stderr) = if attach_flags {
            (has("stdout"), has("stderr"))
        } else {
            (true, true)
        };
        let ports = publish_spec::parse(&self.publish, &self.expose)?;
        let attachments = self
            .network
            .iter()
            .map(|n| parse_network(n))
            .collect::<Result<Vec<_>, _>>()?;
        let (network_mode, endpoints) = self.networks(attachments)?;

        let image = self.args.first().cloned().unwrap_or_default();
        let cmd = match self.args.get(1..) {
            Some(rest) if !rest.is_empty() => json!(rest),
            _ => Value::Null,
        };
        let entrypoint = match &self.entrypoint {
            Some(e) => json!([e]),
            None => Value::Null,
        };
        let labels: Map<String, Value> = opts::kv_pairs(&v.labels)
            .into_iter()
            .map(|(k, val)| (k, Value::String(val)))
            .collect();
        let bindings: Map<String, Value> = ports
            .bindings
            .iter()
            .map(|(port, list)| {
                let list: Vec<Value> = list
                    .iter()
                    .map(|b| json!({"HostIp": b.host_ip, "HostPort": b.host_port}))
                    .collect();
                (port.clone(), Value::Array(list))
            })
            .collect();
        let list_or_null = |l: &[String]| {
            if l.is_empty() {
                Value::Null
            } else {
                json!(l)
            }
        };
        let mut body = json!({
            "Hostname": or_empty(&self.hostname),
            "Domainname": "",
            "User": or_empty(&self.user),
            "AttachStdin": attach_stdin,
            "AttachStdout": attach_stdout,
            "AttachStderr": attach_stderr,
            "Tty": self.tty,
            "OpenStdin": self.interactive,
            // Closing the attached stdin closes the container's.
            "StdinOnce": self.interactive && attach_stdin,
            "Env": list_or_null(&v.env),
            "Cmd": cmd,
            "Image": image,
            "Volumes": {},
            "WorkingDir": or_empty(&self.workdir),
            "Entrypoint": entrypoint,
            "OnBuild": null,
            "Labels": labels,
            "HostConfig": {
                "Binds": null,
                "ContainerIDFile": "",
                "LogConfig": {"Type": "", "Config": {}},
                "NetworkMode": network_mode,
                "PortBindings": bindings,
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                "AutoRemove": self.rm,
                "ConsoleSize": [0, 0],
                "Dns": v.dns,
                "DnsOptions": self.dns_option,
                "DnsSearch": v.dns_search,
                "ExtraHosts": list_or_null(&v.extra_hosts),
                "PublishAllPorts": self.publish_all,
            },
            "NetworkingConfig": {"EndpointsConfig": endpoints},
        });
        if !ports.exposed.is_empty() {
            let exposed: Map<String, Value> = ports
                .exposed
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            body["ExposedPorts"] = Value::Object(exposed);
        }
        Ok(Config {
            body,
            image,
            tty: self.tty,
            attach_stdin,
            attach_stdout,
            attach_stderr,
            auto_remove: self.rm,
            attach_flags,
            dns: v.dns,
        })
    }
}

/// Flag values after docker's per-flag checks.
struct CheckedValues {
    attach: Vec<String>,
    env: Vec<String>,
    labels: Vec<String>,
    extra_hosts: Vec<String>,
    dns: Vec<String>,
    dns_search: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    #[command(disable_help_flag = true)]
    struct Cli {
        #[command(flatten)]
        opts: ContainerOptions,
    }

    fn config(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["run"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        cli.opts
            .config("run", "run [OPTIONS] IMAGE [COMMAND] [ARG...]")
            .map_err(|e| e.to_string())
    }

    fn body(args: &[&str]) -> Value {
        config(args).map(|c| c.body).unwrap_or_default()
    }

    #[test]
    fn options_stop_at_the_image() {
        let b = body(&["-it", "--rm", "busybox", "sh", "-c", "echo -n hi", "--rm"]);
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], json!(["sh", "-c", "echo -n hi", "--rm"]));
        assert_eq!(
            (
                b["Tty"].clone(),
                b["OpenStdin"].clone(),
                b["StdinOnce"].clone()
            ),
            (json!(true), json!(true), json!(true))
        );
        assert_eq!(b["HostConfig"]["AutoRemove"], true);
        assert_eq!(body(&["busybox"])["Cmd"], Value::Null);
    }

    #[test]
    fn the_body_docker_sends() {
        // docker 28.2.2: `create -d --name web1 -p 8080:80 -p 127.0.0.1::53/udp
        // --expose 9000-9001 -e A=1 -e B -l x=y -w /tmp --entrypoint /bin/sh
        // -h myhost --dns 1.1.1.1 --dns-search example.com --dns-option ndots:2
        // --add-host h:1.2.3.4 --network net10 --ip 10.0.0.5
        // --network-alias al busybox -c "sleep 1"`, every value checked.
        let line = "-p 8080:80 -p 127.0.0.1::53/udp --expose 9000-9001 -e A=1 \
                    -e BERTH_SURELY_UNSET_VAR -l x=y -w /tmp --entrypoint /bin/sh -h myhost \
                    --dns 1.1.1.1 --dns-search example.com --dns-option ndots:2 \
                    --add-host h:1.2.3.4 --network net10 --ip 10.0.0.5 --network-alias al \
                    busybox -c true";
        let b = body(&line.split_whitespace().collect::<Vec<_>>());
        assert_eq!(
            b["ExposedPorts"],
            json!({"53/udp": {}, "80/tcp": {}, "9000/tcp": {}, "9001/tcp": {}})
        );
        assert_eq!(b["Env"], json!(["A=1", "BERTH_SURELY_UNSET_VAR"]));
        assert_eq!(b["Cmd"], json!(["-c", "true"]));
        assert_eq!(b["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(b["Labels"], json!({"x": "y"}));
        assert_eq!(
            (b["Hostname"].clone(), b["WorkingDir"].clone()),
            (json!("myhost"), json!("/tmp"))
        );
        let hc = &b["HostConfig"];
        assert_eq!(hc["NetworkMode"], "net10");
        assert_eq!(
            hc["PortBindings"],
            json!({"53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
                   "80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
        );
        assert_eq!(hc["Dns"], json!(["1.1.1.1"]));
        assert_eq!(hc["DnsOptions"], json!(["ndots:2"]));
        assert_eq!(hc["DnsSearch"], json!(["example.com"]));
        assert_eq!(hc["ExtraHosts"], json!(["h:1.2.3.4"]));
        let ep = &b["NetworkingConfig"]["EndpointsConfig"]["net10"];
        assert_eq!(ep["IPAMConfig"], json!({"IPv4Address": "10.0.0.5"}));
        assert_eq!(ep["Aliases"], json!(["al"]));
    }

    #[test]
    fn networks_like_docker() {
        let eps = |args: &[&str]| body(args)["NetworkingConfig"]["EndpointsConfig"].clone();
        // No --network: an endpoint for "default", even with no settings.
        assert_eq!(eps(&["busybox"])["default"]["IPAMConfig"], Value::Null);
        assert_eq!(
            eps(&["--mac-address", "02:42:AC:11:00:02", "busybox"])["default"]["MacAddress"],
            "02:42:AC:11:00:02"
        );
        // One bare network: no endpoint.
        assert_eq!(eps(&["--network", "net10", "busybox"]), json!({}));
        assert_eq!(eps(&["--net", "container:c1", "busybox"]), json!({}));
        assert_eq!(
            body(&["--net", "container:c1", "busybox"])["HostConfig"]["NetworkMode"],
            "container:c1"
        );
        // Several: one endpoint each.
        let two = eps(&["--network", "net10", "--network", "net9", "busybox"]);
        assert_eq!(two.as_object().map(|m| m.len()), Some(2));
        let long = eps(&["--network", "name=net10,alias=a,ip=10.0.0.3", "busybox"]);
        assert_eq!(long["net10"]["Aliases"], json!(["a"]));
        assert_eq!(long["net10"]["IPAMConfig"]["IPv4Address"], "10.0.0.3");
        assert_eq!(
            eps(&["--ip6", "fd00::3", "busybox"])["default"]["IPAMConfig"],
            json!({"IPv6Address": "fd00::3"})
        );
    }

    #[test]
    fn refusals_in_dockers_words() {
        let usage = "\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information";
        let report = |m: &str| format!("berth: {m}\n\nRun 'berth run --help' for more information");
        assert_eq!(
            config(&["--dns", "x", "busybox"]).err(),
            Some(format!("invalid argument \"x\" for \"--dns\" flag: IP address is not correctly formatted: x{usage}"))
        );
        assert_eq!(
            config(&["-e", "=x", "busybox"]).err(),
            Some(format!("invalid argument \"=x\" for \"-e, --env\" flag: invalid environment variable: =x{usage}"))
        );
        assert_eq!(
            config(&["--label", "=x", "busybox"]).err(),
            Some(format!("invalid argument \"=x\" for \"-l, --label\" flag: invalid label '=x': empty name{usage}"))
        );
        assert_eq!(
            config(&["-a", "bogus", "busybox"]).err(),
            Some(format!("invalid argument \"bogus\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR{usage}"))
        );
        assert_eq!(
            config(&["--network=", "busybox"]).err(),
            Some(report("no name set for network"))
        );
        assert_eq!(
            config(&["--network", "host", "--network-alias", "a", "busybox"]).err(),
            Some(report(
                "network-scoped aliases are only supported for user-defined networks"
            ))
        );
        assert_eq!(
            config(&["--mac-address", "zz", "busybox"]).err(),
            Some(report("zz is not a valid mac address"))
        );
        assert_eq!(
            config(&["-p", "80/foo", "busybox"]).err(),
            Some(report("invalid proto: foo"))
        );
        assert_eq!(
            config(&["--network", "net10", "--network", "host", "busybox"]).err(),
            Some(report("conflicting options: cannot attach both user-defined and non-user-defined network-modes"))
        );
        assert_eq!(
            config(&["--network", "net10", "--network", "net10", "busybox"]).err(),
            Some(report("network \"net10\" is specified multiple times"))
        );
    }

    #[test]
    fn attach_flags_and_entrypoint_reset() {
        let c = config(&["-a", "STDERR", "--entrypoint=", "busybox"]);
        let c = c.ok();
        assert_eq!(
            c.as_ref()
                .map(|c| (c.attach_stdin, c.attach_stdout, c.attach_stderr)),
            Some((false, false, true))
        );
        assert_eq!(c.map(|c| c.body["Entrypoint"].clone()), Some(json!([""])));
    }
}
