//! `berth network ls` (docker/cli `cli/command/network/list.go` and
//! `formatter.go`, with `cli/command/formatter/formatter.go`).

use anyhow::anyhow;
use bollard_stubs::models::Network;
use clap::Args;
use serde_json::{Map, Value};

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use crate::format::{gotime, list, natural, truncate_id};
use crate::opts::{self, FilterArg};

const PATH: &str = "network ls";
const USAGE: &str = "network ls [OPTIONS]";

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
const QUIET: &str = "{{.ID}}";
const RAW: &str =
    "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n";
const RAW_QUIET: &str = "network_id: {{.ID}}";

/// The Go type docker's template errors name for a row.
const ROW_TYPE: &str = "*network.networkContext";

#[derive(Debug, Args)]
#[command(override_usage = "berth network ls [OPTIONS]")]
pub struct ListArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = opts::parse_filter)]
    filter: Vec<FilterArg>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'
    #[arg(
        long,
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    format: String,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    #[arg(hide = true)]
    args: Vec<String>,
}

pub async fn run(host: &Host, args: ListArgs) -> anyhow::Result<()> {
    check_args(&args.args, Arity::None, PATH, USAGE)?;
    let api = Api::connect(host).await?;
    let networks = api.list_networks(opts::filters(&args.filter)).await?;
    let mut rows: Vec<Row> = networks.iter().map(Row::from).collect();
    sort_by_name(&mut rows);
    let out = render(&args.format, args.quiet, !args.no_trunc, &rows)
        .map_err(|e| anyhow!("template parsing error: {e}"))?;
    print!("{out}");
    Ok(())
}

/// What docker's `networkContext` exposes of a network.
#[derive(Debug, Default)]
pub struct Row {
    id: String,
    name: String,
    driver: String,
    scope: String,
    ipv4: bool,
    ipv6: bool,
    internal: bool,
    /// Sorted by key (docker joins them in Go map order, i.e. randomly).
    labels: Vec<(String, String)>,
    created: String,
}

impl From<&Network> for Row {
    fn from(n: &Network) -> Row {
        let mut labels: Vec<(String, String)> = n
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        Row {
            id: n.id.clone().unwrap_or_default(),
            name: n.name.clone().unwrap_or_default(),
            driver: n.driver.clone().unwrap_or_default(),
            scope: n.scope.clone().unwrap_or_default(),
            ipv4: n.enable_ipv4.unwrap_or_default(),
            ipv6: n.enable_ipv6.unwrap_or_default(),
            internal: n.internal.unwrap_or_default(),
            labels,
            created: n.created.clone().unwrap_or_default(),
        }
    }
}

/// The row as the template sees it: docker's `networkContext` methods.
fn row_value(row: &Row, trunc: bool) -> Value {
    let labels: Vec<String> = row.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let id = if trunc { truncate_id(&row.id) } else { &row.id };
    let mut m = Map::new();
    m.insert("CreatedAt".into(), gotime::go_string(&row.created).into());
    m.insert("Driver".into(), row.driver.clone().into());
    m.insert("ID".into(), id.into());
    m.insert("IPv4".into(), row.ipv4.to_string().into());
    m.insert("IPv6".into(), row.ipv6.to_string().into());
    m.insert("Internal".into(), row.internal.to_string().into());
    m.insert("Labels".into(), labels.join(",").into());
    m.insert("Name".into(), row.name.clone().into());
    m.insert("Scope".into(), row.scope.clone().into());
    Value::Object(m)
}

/// docker's `SubHeaderContext` for networks.
fn header_value() -> Value {
    serde_json::json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
        "CreatedAt": "CREATED AT",
    })
}

/// docker's `newFormat` for networks (an empty `--format` is `table`).
fn select_format(source: &str, quiet: bool) -> &str {
    match (source, quiet) {
        ("" | "table", true) => QUIET,
        ("" | "table", false) => DEFAULT_TABLE,
        ("raw", true) => RAW_QUIET,
        ("raw", false) => RAW,
        (other, _) => other,
    }
}

/// Renders the listing like docker (see `format::list`).
pub fn render(format: &str, quiet: bool, trunc: bool, rows: &[Row]) -> Result<String, String> {
    let values: Vec<Value> = rows.iter().map(|r| row_value(r, trunc)).collect();
    list::render(
        select_format(format, quiet),
        &values,
        ROW_TYPE,
        &header_value(),
    )
}

/// docker sorts by name with `sortorder.NaturalLess`.
fn sort_by_name(rows: &mut [Row]) {
    rows.sort_by(|a, b| natural::compare(&a.name, &b.name));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str, driver: &str) -> Row {
        Row {
            id: id.into(),
            name: name.into(),
            driver: driver.into(),
            scope: "local".into(),
            ipv4: true,
            created: "2024-05-01T10:00:00Z".into(),
            ..Row::default()
        }
    }

    /// The networks of the fake daemon docker 28.2.2 was run against.
    fn sample() -> Vec<Row> {
        let mut rows = vec![
            row(
                "f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566",
                "bridge",
                "bridge",
            ),
            row(
                "d9ed8ed6e0f5e2c08d0a6f4a1b7c3e2f10f1e2d3c4b5a69788796a5b4c3d2e1f",
                "host",
                "host",
            ),
            Row {
                ipv6: true,
                internal: true,
                labels: vec![("a".into(), "x<y&z".into()), ("b".into(), "2".into())],
                created: "2024-05-02T11:22:33.5+02:00".into(),
                ..row(
                    "aa11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899",
                    "net10",
                    "bridge",
                )
            },
            row(
                "bb11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899",
                "net9-a-very-long-network-name",
                "bridge",
            ),
            row(
                "cc11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899",
                "none",
                "null",
            ),
            row(
                "dd11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899",
                "Zeta",
                "bridge",
            ),
        ];
        sort_by_name(&mut rows);
        rows
    }

    #[test]
    fn default_table_is_dockers() {
        let want = "\
NETWORK ID     NAME                            DRIVER    SCOPE
dd11bb22cc33   Zeta                            bridge    local
f2de39df4171   bridge                          bridge    local
d9ed8ed6e0f5   host                            host      local
bb11bb22cc33   net9-a-very-long-network-name   bridge    local
aa11bb22cc33   net10                           bridge    local
cc11bb22cc33   none                            null      local
";
        assert_eq!(render("", false, true, &sample()).as_deref(), Ok(want));
        assert_eq!(render("table", false, true, &sample()).as_deref(), Ok(want));
    }

    #[test]
    fn no_trunc_and_quiet() {
        let out = render("", false, false, &sample()).unwrap_or_default();
        assert_eq!(
            out.lines().nth(1),
            Some("dd11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899   Zeta                            bridge    local")
        );
        assert_eq!(
            render("", true, true, &sample()).as_deref(),
            Ok("dd11bb22cc33\nf2de39df4171\nd9ed8ed6e0f5\nbb11bb22cc33\naa11bb22cc33\ncc11bb22cc33\n")
        );
        assert_eq!(
            render("", false, true, &[]).as_deref(),
            Ok("NETWORK ID   NAME      DRIVER    SCOPE\n")
        );
    }

    #[test]
    fn json_lines_are_dockers() {
        let out = render("json", false, true, &sample()).unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            r#"{"CreatedAt":"2024-05-01 10:00:00 +0000 UTC","Driver":"bridge","ID":"dd11bb22cc33","IPv4":"true","IPv6":"false","Internal":"false","Labels":"","Name":"Zeta","Scope":"local"}"#
        );
        assert_eq!(
            lines[4],
            r#"{"CreatedAt":"2024-05-02 11:22:33.5 +0200 +0200","Driver":"bridge","ID":"aa11bb22cc33","IPv4":"true","IPv6":"true","Internal":"true","Labels":"a=x\u003cy\u0026z,b=2","Name":"net10","Scope":"local"}"#
        );
    }

    #[test]
    fn custom_templates() {
        assert_eq!(
            render("table {{.Name}}\\t{{.Labels}}", false, true, &sample()).as_deref(),
            Ok("NAME                            LABELS\nZeta                            \nbridge                          \n\
                host                            \nnet9-a-very-long-network-name   \nnet10                           a=x<y&z,b=2\n\
                none                            \n")
        );
        let out = render(
            "{{.Name}}\\t{{.IPv6}}|{{json .Name}}",
            true,
            true,
            &sample(),
        )
        .unwrap_or_default();
        assert_eq!(out.lines().nth(4), Some("net10\ttrue|\"net10\""));
        let raw = render("raw", false, true, &sample()).unwrap_or_default();
        assert!(raw.starts_with(
            "network_id: dd11bb22cc33\nname: Zeta\ndriver: bridge\nscope: local\n\nnetwork_id: "
        ));
        assert_eq!(
            render("raw", true, true, &sample())
                .unwrap_or_default()
                .lines()
                .next(),
            Some("network_id: dd11bb22cc33")
        );
    }

    #[test]
    fn template_errors() {
        assert_eq!(
            render("{{.Foo}}", false, true, &sample()),
            Err(r#"template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type *network.networkContext"#.to_string())
        );
        assert_eq!(
            render("{{.Name", false, true, &sample()),
            Err("template: :1: unclosed action".to_string())
        );
    }
}
