//! `berth ps` (docker/cli `cli/command/container/list.go` and
//! `cli/command/formatter/container.go` as of docker 28.2).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use clap::Args;
use serde_json::{json, Map, Value};

use super::port::join_host_port;
use crate::api::raw::Query;
use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use crate::format::{gojson, gotime, list, truncate_id, units};
use crate::opts::{self, FilterArg};
use berth_types::reference;

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const QUIET: &str = "{{.ID}}";
const RAW: &str = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\n\
created_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\n\
names: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n";
const RAW_QUIET: &str = "container_id: {{.ID}}";

/// The Go type docker's template errors name for a row.
const ROW_TYPE: &str = "*formatter.ContainerContext";

#[derive(Debug, Args)]
#[command(override_usage = "berth ps [OPTIONS]")]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(allow_hyphen_values = true, short = 'f', long = "filter", value_name = "filter", value_parser = opts::parse_filter)]
    filter: Vec<FilterArg>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(allow_hyphen_values = true, short = 'n', long, value_name = "int", default_value_t = -1, allow_negative_numbers = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
    #[arg(hide = true)]
    args: Vec<String>,
}

pub async fn run(host: &Host, args: PsArgs) -> anyhow::Result<()> {
    check_args(&args.args, Arity::None, "ps", "ps [OPTIONS]")?;
    let format = args.format.as_deref().unwrap_or_default();
    if !format.is_empty() && args.quiet {
        eprintln!("WARNING: Ignoring custom format, because both --format and --quiet are set.");
    }
    let mut size = args.size;
    if !format.is_empty() {
        list::validate(format, &row_value(&Value::Null, true, 0.0), ROW_TYPE)
            .map_err(|e| anyhow!(e))?;
        // docker asks for sizes when the template shows them.
        size |= !args.quiet && shows_size(format);
    }
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    let mut query = Query::new().flag("all", args.all).flag("size", size);
    if limit > 0 {
        query = query.set("limit", limit.to_string());
    }
    if let Some(filters) = opts::filters_json(&args.filter) {
        query = query.set("filters", filters);
    }
    let api = Api::connect(host).await?;
    let containers = api.list_containers(query).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let rows: Vec<Value> = containers
        .iter()
        .map(|c| row_value(c, !args.no_trunc, now))
        .collect();
    let format = select_format(format, args.quiet, size);
    let out = list::render(&format, &rows, ROW_TYPE, &header_value())
        .map_err(|e| anyhow!("template parsing error: {e}"))?;
    print!("{out}");
    Ok(())
}

/// Whether running the template would call docker's `Size()`: it names
/// `.Size`, or marshals the whole row (`{{json .}}`). The bare `json`
/// format is not a template yet when docker checks, so it does not count.
fn shows_size(format: &str) -> bool {
    format.contains(".Size")
        || format.match_indices("json").any(|(i, _)| {
            let rest = format[i + 4..].trim_start();
            rest.strip_prefix('.').is_some_and(|after| {
                let after = after.trim_start();
                after.starts_with("}}") || after.starts_with("-}}") || after.starts_with('|')
            })
        })
}

/// docker's `NewContainerFormat`.
fn select_format(source: &str, quiet: bool, size: bool) -> String {
    let with_size = |f: &str, extra: &str| {
        if size {
            format!("{f}{extra}")
        } else {
            f.to_string()
        }
    };
    match (source, quiet) {
        ("" | "table", true) => QUIET.to_string(),
        ("" | "table", false) => with_size(DEFAULT_TABLE, "\t{{.Size}}"),
        ("raw", true) => RAW_QUIET.to_string(),
        ("raw", false) => with_size(RAW, "size: {{.Size}}\n"),
        (_, true) => QUIET.to_string(),
        (other, false) => other.to_string(),
    }
}

/// docker's `SubHeaderContext` for containers.
fn header_value() -> Value {
    json!({
        "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
        "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
        "State": "STATE", "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS",
        "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
        "Platform": "PLATFORM",
    })
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

/// docker's `formatter.Ellipsis` (every character one column wide).
fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let kept: String = s.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// docker's `ContainerContext.Names`: truncated, the first name that is
/// not a legacy link (`/other/alias`); else all of them.
fn names(c: &Value, trunc: bool) -> String {
    let names: Vec<&str> = c["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .collect();
    if trunc {
        return names
            .iter()
            .find(|n| !n.contains('/'))
            .map(|n| n.to_string())
            .unwrap_or_default();
    }
    names.join(",")
}

/// docker's `ContainerContext.Image`: shortened to the familiar name
/// (digest dropped, tag kept), or to a short id when that is all it is.
fn image(c: &Value, trunc: bool) -> String {
    let image = text(c, "Image");
    if image.is_empty() {
        return "<no image>".to_string();
    }
    if !trunc {
        return image.to_string();
    }
    let short = truncate_id(text(c, "ImageID"));
    if short == truncate_id(image) {
        return short.to_string();
    }
    match reference::parse_normalized(image) {
        Ok(named) => named.trimmed().familiar_string(),
        Err(_) => image.to_string(),
    }
}

/// docker's `DisplayablePorts`: ports sorted by (private port, IP, public
/// port, type); runs of consecutive ports that are exposed only, or
/// published on the same port, compacted into ranges; other mappings
/// listed after them.
pub fn displayable_ports(ports: &Value) -> String {
    struct Port {
        ip: String,
        private: u64,
        public: u64,
        kind: String,
    }
    let mut list: Vec<Port> = ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Port {
            ip: text(p, "IP").to_string(),
            private: p["PrivatePort"].as_u64().unwrap_or(0),
            public: p["PublicPort"].as_u64().unwrap_or(0),
            kind: text(p, "Type").to_string(),
        })
        .collect();
    list.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.kind).cmp(&(b.private, &b.ip, b.public, &b.kind))
    });
    let form = |key: &str, first: u64, last: u64| {
        let (ip, kind) = match key.split_once('/') {
            Some((ip, kind)) => (ip, kind),
            None => ("", key),
        };
        let mut group = first.to_string();
        if first != last {
            group = format!("{group}-{last}");
        }
        if !ip.is_empty() {
            group = format!("{}->{group}", join_host_port(ip, &group));
        }
        format!("{group}/{kind}")
    };
    let mut groups: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &list {
        let mut key = p.kind.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                let host = join_host_port(&p.ip, &p.public.to_string());
                mappings.push(format!("{host}->{}/{}", p.private, p.kind));
                continue;
            }
            key = format!("{}/{}", p.ip, p.kind);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (p.private, p.private));
                order.push(key);
            }
            Some(g) if p.private == g.1 + 1 => g.1 = p.private,
            Some(g) => {
                result.push(form(&key, g.0, g.1));
                *g = (p.private, p.private);
            }
        }
    }
    for key in &order {
        if let Some((first, last)) = groups.get(key) {
            result.push(form(key, *first, *last));
        }
    }
    result.extend(mappings);
    result.join(", ")
}

/// The row as the template sees it: docker's `ContainerContext` methods,
/// for a container of `GET /containers/json` (`Null` gives the empty row
/// docker checks templates against).
fn row_value(c: &Value, trunc: bool, now: f64) -> Value {
    let id = text(c, "Id");
    let created = c["Created"].as_i64().unwrap_or(0);
    let command = if trunc {
        ellipsis(text(c, "Command"), 20)
    } else {
        text(c, "Command").to_string()
    };
    let mut labels: Vec<String> = c["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    labels.sort();
    let mounts = c["Mounts"].as_array().cloned().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = match text(m, "Name") {
                "" => text(m, "Source"),
                n => n,
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local = mounts
        .iter()
        .filter(|m| text(m, "Driver") == "local")
        .count();
    let networks: Vec<&String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let size_rw = c["SizeRw"].as_f64().unwrap_or(0.0);
    let size_root = c["SizeRootFs"].as_f64().unwrap_or(0.0);
    let size = if size_root > 0.0 {
        format!(
            "{} (virtual {})",
            units::human_size(size_rw, 3),
            units::human_size(size_root, 3)
        )
    } else {
        units::human_size(size_rw, 3)
    };
    let platform = &c["ImageManifestDescriptor"]["platform"];
    let platform = if platform.is_object() {
        let mut p = format!(
            "{}/{}",
            text(platform, "os"),
            text(platform, "architecture")
        );
        if !text(platform, "variant").is_empty() {
            p = format!("{p}/{}", text(platform, "variant"));
        }
        Value::String(p)
    } else {
        Value::Null
    };
    let mut m = Map::new();
    m.insert("Command".into(), gojson::quote(&command).into());
    m.insert("CreatedAt".into(), gotime::unix_local(created).into());
    m.insert(
        "ID".into(),
        (if trunc { truncate_id(id) } else { id }).into(),
    );
    m.insert("Image".into(), image(c, trunc).into());
    m.insert("Labels".into(), labels.join(",").into());
    m.insert("LocalVolumes".into(), local.to_string().into());
    m.insert("Mounts".into(), mount_names.join(",").into());
    m.insert("Names".into(), names(c, trunc).into());
    m.insert(
        "Networks".into(),
        networks
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
            .into(),
    );
    m.insert("Platform".into(), platform);
    m.insert("Ports".into(), displayable_ports(&c["Ports"]).into());
    m.insert(
        "RunningFor".into(),
        format!("{} ago", units::human_duration(now - created as f64)).into(),
    );
    m.insert("Size".into(), size.into());
    m.insert("State".into(), text(c, "State").into());
    m.insert("Status".into(), text(c, "Status").into());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    /// `(IP, private, public, type)` as `GET /containers/json` lists them.
    fn ports(list: &[(&str, u16, u16, &str)]) -> Value {
        list.iter()
            .map(|(ip, private, public, kind)| {
                let mut p = json!({"PrivatePort": private, "Type": kind});
                if !ip.is_empty() {
                    p["IP"] = json!(ip);
                    p["PublicPort"] = json!(public);
                }
                p
            })
            .collect()
    }

    /// The fixtures docker 28.2.2's `ps` rendered (in `tests/cli/fake.rs`).
    fn web() -> Value {
        json!({"Id": "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00998877665544332211",
               "Names": ["/web"], "Image": "nginx:latest",
               "ImageID": "sha256:aa00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "Command": "nginx -g 'daemon off;'", "Created": 1_800_000_000 - 150,
               "Ports": ports(&[
                   ("", 9000, 0, "udp"), ("0.0.0.0", 80, 8080, "tcp"), ("::", 80, 8080, "tcp"),
                   ("0.0.0.0", 7001, 7001, "tcp"), ("0.0.0.0", 7000, 7000, "tcp"),
                   ("0.0.0.0", 7002, 7002, "tcp"), ("127.0.0.1", 6000, 5000, "tcp"),
                   ("", 9001, 0, "udp"), ("", 9003, 0, "udp"),
               ]),
               "Labels": {"tier": "front", "app": "shop"}, "State": "running",
               "Status": "Up 2 minutes",
               "NetworkSettings": {"Networks": {"bridge": {}}}, "Mounts": []})
    }

    fn db() -> Value {
        json!({"Id": "9a8b7c6d5e4f00112233445566778899aabbccddeeff00112233445566778899",
               "Names": ["/db", "/web/db"],
               "Image": "sha256:bb00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "ImageID": "sha256:bb00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "Command": "sh -c 'while true; do sleep 1; done'", "Created": 1_800_000_000 - 7300,
               "Ports": [], "Labels": {}, "State": "exited", "Status": "Exited (0) 3 seconds ago"})
    }

    fn quiet_turing() -> Value {
        json!({"Id": "5e5e5e5e5e5e00112233445566778899aabbccddeeff00112233445566778899",
               "Names": ["/quiet_turing"], "Image": "docker.io/library/busybox:latest",
               "ImageID": "sha256:65ad0d468eb1c558bf7f4e64e790f586e9eb23b3d0f5d9bb2f7d9a1f3c5c2a11",
               "Command": "", "Created": 1_800_000_000 - 4 * 86400, "Ports": null,
               "Labels": null, "State": "created", "Status": "Created"})
    }

    fn render(format: &str, quiet: bool, trunc: bool) -> String {
        let rows: Vec<Value> = [web(), db(), quiet_turing()]
            .iter()
            .map(|c| row_value(c, trunc, NOW))
            .collect();
        list::render(
            &select_format(format, quiet, false),
            &rows,
            ROW_TYPE,
            &header_value(),
        )
        .unwrap_or_else(|e| e)
    }

    #[test]
    fn default_table_is_dockers() {
        let ports = "9000-9001/udp, 0.0.0.0:7000-7002->7000-7002/tcp, 9003/udp, \
                     0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 127.0.0.1:5000->6000/tcp";
        let want = format!(
            "CONTAINER ID   IMAGE            COMMAND                  CREATED         STATUS                     PORTS{pad}NAMES\n\
             3f4e5d6c7b8a   nginx:latest     \"nginx -g 'daemon of…\"   2 minutes ago   Up 2 minutes               {ports}   web\n\
             9a8b7c6d5e4f   bb00bb11cc22     \"sh -c 'while true; …\"   2 hours ago     Exited (0) 3 seconds ago   {blank}db\n\
             5e5e5e5e5e5e   busybox:latest   \"\"                       4 days ago      Created                    {blank}quiet_turing\n",
            pad = " ".repeat(ports.len() + 3 - 5),
            blank = " ".repeat(ports.len() + 3),
        );
        assert_eq!(render("", false, true), want);
    }

    #[test]
    fn no_trunc_quiet_and_raw() {
        let out = render("", false, false);
        assert!(out.contains("\"sh -c 'while true; do sleep 1; done'\""));
        assert!(out.contains("   db,web/db\n"));
        assert!(out.contains("   docker.io/library/busybox:latest   "));
        assert_eq!(
            render("", true, true),
            "3f4e5d6c7b8a\n9a8b7c6d5e4f\n5e5e5e5e5e5e\n"
        );
        assert_eq!(
            render("{{.Names}}", true, true).lines().next(),
            Some("3f4e5d6c7b8a")
        );
        let raw = render("raw", false, true);
        assert!(raw.starts_with(
            "container_id: 3f4e5d6c7b8a\nimage: nginx:latest\ncommand: \"nginx -g 'daemon of…\"\n"
        ));
        assert!(raw.contains("\nstate: running\nstatus: Up 2 minutes\nnames: web\nlabels: app=shop,tier=front\nports: 9000-9001/udp,"));
        assert!(raw.contains("\nlabels:\nports:\n\ncontainer_id: 5e5e5e5e5e5e\n"));
    }

    #[test]
    fn json_rows_are_dockers() {
        let out = render("{{json .}}", false, true);
        let first = out.lines().next().unwrap_or_default();
        let created = gotime::unix_local(1_800_000_000 - 150);
        assert_eq!(
            first,
            format!("{{\"Command\":\"\\\"nginx -g 'daemon of…\\\"\",\"CreatedAt\":\"{created}\",\"ID\":\"3f4e5d6c7b8a\",\"Image\":\"nginx:latest\",\"Labels\":\"app=shop,tier=front\",\"LocalVolumes\":\"0\",\"Mounts\":\"\",\"Names\":\"web\",\"Networks\":\"bridge\",\"Platform\":null,\"Ports\":\"9000-9001/udp, 0.0.0.0:7000-7002-\\u003e7000-7002/tcp, 9003/udp, 0.0.0.0:8080-\\u003e80/tcp, [::]:8080-\\u003e80/tcp, 127.0.0.1:5000-\\u003e6000/tcp\",\"RunningFor\":\"2 minutes ago\",\"Size\":\"0B\",\"State\":\"running\",\"Status\":\"Up 2 minutes\"}}")
        );
    }

    #[test]
    fn ports_compact_like_docker() {
        let ports = |list: Value| displayable_ports(&list);
        assert_eq!(ports(json!(null)), "");
        assert_eq!(
            ports(json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}])),
            "0.0.0.0:8080->80/tcp"
        );
        // A published range whose host ports equal the container's.
        let range: Vec<Value> = (8000..=8010)
            .map(|p| json!({"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p, "Type": "tcp"}))
            .collect();
        assert_eq!(ports(json!(range)), "0.0.0.0:8000-8010->8000-8010/tcp");
        // A range mapped elsewhere lists each mapping.
        let shifted: Vec<Value> = (80..=82)
            .map(|p| json!({"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p + 7920, "Type": "tcp"}))
            .collect();
        assert_eq!(
            ports(json!(shifted)),
            "0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp, 0.0.0.0:8002->82/tcp"
        );
    }

    #[test]
    fn size_is_asked_for_like_docker() {
        assert!(shows_size("{{json .}}"));
        assert!(shows_size("table {{.Names}}\\t{{.Size}}"));
        assert!(shows_size("{{ json . -}}"));
        assert!(!shows_size("json"));
        assert!(!shows_size("{{json .Names}}"));
    }

    #[test]
    fn template_checks_like_docker() {
        let empty = row_value(&Value::Null, true, NOW);
        assert_eq!(
            list::validate("{{.Foo}}", &empty, ROW_TYPE),
            Err("failed to execute template: template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type *formatter.ContainerContext".to_string())
        );
        assert_eq!(
            list::validate("{{.Names", &empty, ROW_TYPE),
            Err("failed to parse template: template: :1: unclosed action".to_string())
        );
        assert_eq!(list::validate("table {{.Names}}", &empty, ROW_TYPE), Ok(()));
    }
}
