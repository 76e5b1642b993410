//! The subset of Go's `text/template` that docker's `--format` flags are
//! used with in practice: field chains (`{{.Name}}`, `{{.IPAM.Driver}}`),
//! string and integer literals, pipelines, `{{-`/`-}}` trimming and the
//! functions `json`, `join`, `lower`, `upper` and `pad` from docker's
//! `templates` package.
//! Control structures (`if`, `range`, …) are rejected with a clear error
//! rather than half-implemented.
//!
//! Data is a JSON value; values print the way Go's `fmt` prints what
//! `encoding/json` decodes into (`map[a:1 b:2]`, `[x y]`, `<no value>`).
//!
//! This file holds the public types and the parsed form; `parse` turns
//! source into it, `eval` executes it (field lookup and the functions),
//! `print` renders values as Go's `fmt` would.

mod eval;
mod parse;
mod print;

/// What a field that is not in the data means.
#[derive(Debug, Clone, Copy)]
pub enum Missing<'a> {
    /// A JSON object decoded into a Go map with `missingkey=error`, as
    /// docker's inspect fallback does.
    Error,
    /// A Go struct of this type (docker's formatter contexts): unknown
    /// fields are an error naming the type.
    Struct(&'a str),
    /// Table headers: docker renders them from a `map[string]string`, where
    /// an absent key is the empty string, and its functions are identities.
    Header,
}

/// How to execute a template.
#[derive(Debug, Clone, Copy)]
pub struct Exec<'a> {
    pub missing: Missing<'a>,
    /// docker's formatter contexts marshal themselves with `json.Marshal`,
    /// which escapes `<`, `>`, `&`; `{{json .}}` of them keeps that, while
    /// `json` of any other value does not escape.
    pub escape_root_json: bool,
}

#[derive(Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Pipeline(Vec<Command>),
}

#[derive(Debug)]
struct Command {
    terms: Vec<Term>,
}

#[derive(Debug)]
enum Term {
    /// `.` (empty path) or `.A.B`; `line`/`col` locate it for errors.
    Field {
        path: Vec<String>,
        line: usize,
        col: usize,
    },
    Func(Func),
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Json,
    Join,
    Lower,
    Upper,
    Pad,
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::Json => "json",
            Func::Join => "join",
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Pad => "pad",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const RAW: Exec<'static> = Exec {
        missing: Missing::Error,
        escape_root_json: false,
    };

    fn run(src: &str, data: &Value, exec: Exec<'_>) -> Result<String, String> {
        Template::parse(src)?.execute(data, exec)
    }

    fn net10() -> Value {
        json!({"Name": "net10", "Id": "aa11", "EnableIPv6": true,
               "IPAM": {"Driver": "default", "Options": null},
               "Labels": {"b": "2", "a": "x<y&z"}, "Extra": {"z": 1, "a": []}})
    }

    #[test]
    fn fields_json_and_maps_match_docker_inspect() {
        // `docker network inspect -f '{{.Name}} {{.IPAM.Driver}} {{json .Labels}}
        // {{.Labels}} {{.EnableIPv6}}' net10` printed exactly this.
        let out = run(
            "{{.Name}} {{.IPAM.Driver}} {{json .Labels}} {{.Labels}} {{.EnableIPv6}}",
            &net10(),
            RAW,
        );
        assert_eq!(
            out.as_deref(),
            Ok(r#"net10 default {"a":"x<y&z","b":"2"} map[a:x<y&z b:2] true"#)
        );
    }

    #[test]
    fn nested_values_print_like_fmt() {
        let data = json!({"E": {"z": 1, "a": [], "n": null}, "N": null, "L": ["a", {"k": "v"}]});
        assert_eq!(
            run("{{.E}}|{{.N}}|{{.L}}", &data, RAW).as_deref(),
            Ok("map[a:[] n:<nil> z:1]|<no value>|[a map[k:v]]")
        );
    }

    #[test]
    fn missing_keys_error_like_docker() {
        assert_eq!(
            run("{{.Nope}}", &net10(), RAW),
            Err(
                r#"template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#
                    .to_string()
            )
        );
        let ls = Exec {
            missing: Missing::Struct("*network.networkContext"),
            escape_root_json: true,
        };
        assert_eq!(
            run("{{.Foo}}", &json!({"Name": "x"}), ls),
            Err(r#"template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type *network.networkContext"#.to_string())
        );
        assert_eq!(
            run("x\n {{.IPAM.Options.K}}", &net10(), RAW),
            Err(r#"template: :2:8: executing "" at <.IPAM.Options.K>: nil pointer evaluating interface {}.K"#.to_string())
        );
    }

    #[test]
    fn chains_are_placed_and_named_like_go() {
        // docker 28.2.2: `inspect -f '{{.Name}} {{.State.Running}}' bridge`.
        assert_eq!(
            run("{{.Name}} {{.State.Running}}", &json!({"Name": "b"}), RAW),
            Err(r#"template: :1:18: executing "" at <.State.Running>: map has no entry for key "State""#.to_string())
        );
    }

    #[test]
    fn id_falls_back_to_the_raw_key() {
        assert_eq!(run("{{.ID}}", &net10(), RAW).as_deref(), Ok("aa11"));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            Template::parse("{{.Name").err(),
            Some("template: :1: unclosed action".to_string())
        );
        assert_eq!(
            Template::parse("{{foo .}}").err(),
            Some("template: :1: function \"foo\" not defined".to_string())
        );
        assert!(Template::parse("{{if .A}}x{{end}}").is_err());
        assert!(Template::parse("{{}}").is_err());
    }

    #[test]
    fn trim_markers_pipelines_and_functions() {
        let data = json!({"Name": "Net", "Tags": ["a", "b"]});
        assert_eq!(
            run("a  {{- .Name -}}  b", &data, RAW).as_deref(),
            Ok("aNetb")
        );
        assert_eq!(
            run(
                "{{.Name | lower}} {{upper .Name}} {{join .Tags \",\"}}",
                &data,
                RAW
            )
            .as_deref(),
            Ok("net NET a,b")
        );
        assert_eq!(
            run("{{json .Name}} {{\"lit\"}}", &data, RAW).as_deref(),
            Ok("\"Net\" lit")
        );
    }

    #[test]
    fn pad_like_docker_raw_formats() {
        let data = json!({"State": "running", "Labels": ""});
        assert_eq!(
            run(
                "state: {{- pad .State 1 0}}|labels: {{- pad .Labels 1 0}}|{{pad .State 2 1}}",
                &data,
                RAW
            )
            .as_deref(),
            Ok("state: running|labels:|  running ")
        );
        assert!(Template::parse("{{pad .State 1x}}").is_err());
    }

    #[test]
    fn root_json_escapes_only_when_asked() {
        let data = json!({"Labels": "a<b"});
        let ctx = Exec {
            missing: Missing::Struct("t"),
            escape_root_json: true,
        };
        assert_eq!(
            run("{{json .}} {{json .Labels}}", &data, ctx).as_deref(),
            Ok(r#"{"Labels":"a\u003cb"} "a<b""#)
        );
    }

    #[test]
    fn header_mode_is_lenient() {
        let header = json!({"Name": "NAME"});
        let exec = Exec {
            missing: Missing::Header,
            escape_root_json: false,
        };
        assert_eq!(
            run("{{json .Name}}\t{{.Other}}|", &header, exec).as_deref(),
            Ok("NAME\t|")
        );
    }
}
