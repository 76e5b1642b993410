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

use std::fmt::Write as _;

use serde_json::Value;

use super::gojson;

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

const KEYWORDS: [&str; 10] = [
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_ident(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn line_of(src: &str, pos: usize) -> usize {
    1 + src[..pos].matches('\n').count()
}

fn col_of(src: &str, pos: usize) -> usize {
    src[..pos].rfind('\n').map_or(pos, |nl| pos - nl - 1)
}

impl Template {
    /// Parses `src`; errors read like Go's (`template: :1: unclosed action`).
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut nodes = Vec::new();
        let mut pos = 0;
        let mut trim_next = false;
        while pos < src.len() {
            let Some(open) = src[pos..].find("{{").map(|o| pos + o) else {
                push_text(&mut nodes, &src[pos..], trim_next, false);
                break;
            };
            let mut start = open + 2;
            let trim_prev = src[start..].starts_with('-') && src[start + 1..].starts_with(is_space);
            if trim_prev {
                start += 1;
            }
            push_text(&mut nodes, &src[pos..open], trim_next, trim_prev);
            let (commands, end, trim) = parse_action(src, start)?;
            nodes.push(Node::Pipeline(commands));
            pos = end;
            trim_next = trim;
        }
        Ok(Template { nodes })
    }

    /// Executes the template against `data`; errors read like Go's
    /// (`template: :1:2: executing "" at <.Foo>: …`).
    pub fn execute(&self, data: &Value, exec: Exec<'_>) -> Result<String, String> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Pipeline(commands) => {
                    let v = eval_pipeline(commands, data, exec)?;
                    out.push_str(&print_top(&v.value));
                }
            }
        }
        Ok(out)
    }
}

fn push_text(nodes: &mut Vec<Node>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start_matches(is_space);
    }
    if trim_end {
        t = t.trim_end_matches(is_space);
    }
    if !t.is_empty() {
        nodes.push(Node::Text(t.to_string()));
    }
}

/// Parses one action starting after `{{` (and a left trim marker); returns
/// the pipeline, the position after `}}`, and whether `-}}` asked to trim.
fn parse_action(src: &str, start: usize) -> Result<(Vec<Command>, usize, bool), String> {
    let err = |pos: usize, msg: String| format!("template: :{}: {msg}", line_of(src, pos));
    let mut commands = Vec::new();
    let mut terms = Vec::new();
    let mut pos = start;
    loop {
        let rest = &src[pos..];
        let Some(c) = rest.chars().next() else {
            return Err(err(start, "unclosed action".to_string()));
        };
        if rest.starts_with("}}")
            || (is_space(c) && rest.trim_start_matches(is_space).starts_with("-}}"))
        {
            let trim = !rest.starts_with("}}");
            let end = if trim {
                pos + rest.find("-}}").map_or(0, |i| i + 3)
            } else {
                pos + 2
            };
            if terms.is_empty() {
                return Err(err(pos, "missing value for command".to_string()));
            }
            commands.push(Command { terms });
            return Ok((commands, end, trim));
        }
        if is_space(c) {
            pos += c.len_utf8();
            continue;
        }
        match c {
            '|' => {
                if terms.is_empty() {
                    return Err(err(pos, "missing value for command".to_string()));
                }
                commands.push(Command {
                    terms: std::mem::take(&mut terms),
                });
                pos += 1;
            }
            '.' => {
                let len = rest[1..]
                    .find(|ch: char| !(is_ident(ch) || ch == '.'))
                    .map_or(rest.len(), |l| l + 1);
                let text = &rest[..len];
                let path: Vec<String> = if text == "." {
                    Vec::new()
                } else {
                    text[1..].split('.').map(str::to_string).collect()
                };
                if path.iter().any(String::is_empty) {
                    return Err(err(pos, format!("unexpected <.> in operand: {text:?}")));
                }
                // Go positions a chain `.A.B.C` at its second field.
                let at = match path.first() {
                    Some(first) if path.len() > 1 => pos + 1 + first.len(),
                    _ => pos,
                };
                terms.push(Term::Field {
                    path,
                    line: line_of(src, at),
                    col: col_of(src, at),
                });
                pos += len;
            }
            '"' | '`' => {
                let (s, len) = parse_string(rest)
                    .ok_or_else(|| err(pos, "unterminated quoted string".to_string()))?;
                terms.push(Term::Str(s));
                pos += len;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let len = rest[1..]
                    .find(|ch: char| !ch.is_ascii_digit())
                    .map_or(rest.len(), |l| l + 1);
                let number = rest[..len]
                    .parse()
                    .map_err(|_| err(pos, format!("bad number syntax: {:?}", &rest[..len])))?;
                terms.push(Term::Int(number));
                pos += len;
            }
            c if is_ident(c) => {
                let len = rest.find(|ch: char| !is_ident(ch)).unwrap_or(rest.len());
                let word = &rest[..len];
                let func = match word {
                    "json" => Func::Json,
                    "join" => Func::Join,
                    "lower" => Func::Lower,
                    "upper" => Func::Upper,
                    "pad" => Func::Pad,
                    w if KEYWORDS.contains(&w) => {
                        return Err(err(
                            pos,
                            format!("{{{{{w}}}}} is not supported by berth's templates"),
                        ));
                    }
                    w => return Err(err(pos, format!("function {w:?} not defined"))),
                };
                terms.push(Term::Func(func));
                pos += len;
            }
            other => return Err(err(pos, format!("unexpected {other:?} in command"))),
        }
    }
}

/// A Go string literal at the start of `s`: `"…"` with escapes, or a raw
/// `` `…` `` string. Returns the value and the bytes consumed.
fn parse_string(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next()?;
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Some((out, i + 1));
        }
        if c == '\n' && quote == '"' {
            return None;
        }
        if c == '\\' && quote == '"' {
            let (_, e) = chars.next()?;
            out.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '\\' => '\\',
                '"' => '"',
                _ => return None,
            });
        } else {
            out.push(c);
        }
    }
    None
}

/// A value under evaluation; `root` marks the template's data itself.
struct Val {
    value: Value,
    root: bool,
}

fn eval_pipeline(commands: &[Command], data: &Value, exec: Exec<'_>) -> Result<Val, String> {
    let mut piped: Option<Val> = None;
    for cmd in commands {
        piped = Some(eval_command(cmd, piped, data, exec)?);
    }
    piped.ok_or_else(|| "template: empty pipeline".to_string())
}

fn eval_command(
    cmd: &Command,
    piped: Option<Val>,
    data: &Value,
    exec: Exec<'_>,
) -> Result<Val, String> {
    let (first, args) = match cmd.terms.split_first() {
        Some(split) => split,
        None => return Err("template: missing value for command".to_string()),
    };
    match first {
        Term::Func(f) => {
            let mut values = args
                .iter()
                .map(|t| eval_operand(t, data, exec))
                .collect::<Result<Vec<_>, _>>()?;
            values.extend(piped);
            call(*f, values, exec)
        }
        operand => {
            if !args.is_empty() || piped.is_some() {
                return Err(match operand {
                    Term::Field { path, line, col } => {
                        let name = format!(".{}", path.join("."));
                        let msg = format!("can't give argument to non-function {name}");
                        exec_error(*line, *col, &name, &msg)
                    }
                    _ => "template: can't give argument to non-function".to_string(),
                });
            }
            eval_operand(operand, data, exec)
        }
    }
}

fn exec_error(line: usize, col: usize, node: &str, msg: &str) -> String {
    format!("template: :{line}:{col}: executing \"\" at <{node}>: {msg}")
}

fn eval_operand(term: &Term, data: &Value, exec: Exec<'_>) -> Result<Val, String> {
    match term {
        Term::Str(s) => Ok(Val {
            value: Value::String(s.clone()),
            root: false,
        }),
        Term::Int(n) => Ok(Val {
            value: Value::from(*n),
            root: false,
        }),
        Term::Func(f) => call(*f, Vec::new(), exec),
        Term::Field { path, line, col } => {
            let mut cur = data;
            for (i, key) in path.iter().enumerate() {
                // Go names the whole chain, whichever link failed.
                let node = format!(".{}", path.join("."));
                let fail = |msg: String| exec_error(*line, *col, &node, &msg);
                cur = match cur {
                    Value::Object(map) => {
                        // Exact key first; docker evaluates against the typed
                        // struct before the raw map, so `.ID` finds `"Id"`.
                        let found = map.get(key).or_else(|| {
                            map.iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                                .map(|(_, v)| v)
                        });
                        match (found, exec.missing) {
                            (Some(v), _) => v,
                            (None, Missing::Header) => {
                                return Ok(Val {
                                    value: Value::String(String::new()),
                                    root: false,
                                })
                            }
                            (None, Missing::Struct(ty)) if i == 0 => {
                                return Err(fail(format!(
                                    "can't evaluate field {key} in type {ty}"
                                )))
                            }
                            (None, _) => {
                                return Err(fail(format!("map has no entry for key {key:?}")))
                            }
                        }
                    }
                    Value::Null => {
                        return Err(fail(format!("nil pointer evaluating interface {{}}.{key}")))
                    }
                    other => {
                        return Err(fail(format!(
                            "can't evaluate field {key} in type {}",
                            go_type(other)
                        )))
                    }
                };
            }
            Ok(Val {
                value: cur.clone(),
                root: path.is_empty(),
            })
        }
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn call(f: Func, args: Vec<Val>, exec: Exec<'_>) -> Result<Val, String> {
    let want = match f {
        Func::Join => 2,
        Func::Pad => 3,
        _ => 1,
    };
    if args.len() != want {
        return Err(format!(
            "template: wrong number of args for {}: want {want} got {}",
            f.name(),
            args.len()
        ));
    }
    let header = matches!(exec.missing, Missing::Header);
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        return Err(format!("template: wrong number of args for {}", f.name()));
    };
    // docker's header functions return their first argument unchanged.
    if header {
        return Ok(Val {
            value: first.value,
            root: false,
        });
    }
    let text = match f {
        Func::Json => gojson::marshal(&first.value, first.root && exec.escape_root_json),
        Func::Lower | Func::Upper => {
            let Value::String(s) = first.value else {
                return Err(format!(
                    "template: wrong type for value; expected string; got {}",
                    go_type(&first.value)
                ));
            };
            if f == Func::Lower {
                s.to_lowercase()
            } else {
                s.to_uppercase()
            }
        }
        Func::Pad => {
            let Value::String(s) = first.value else {
                return Err(format!(
                    "template: wrong type for value; expected string; got {}",
                    go_type(&first.value)
                ));
            };
            let mut width = || {
                args.next()
                    .and_then(|v| v.value.as_u64())
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        "template: pad: widths must be non-negative integers".to_string()
                    })
            };
            let (prefix, suffix) = (width()?, width()?);
            // docker's `padWithSpace` leaves an empty string alone.
            if s.is_empty() {
                s
            } else {
                format!("{}{s}{}", " ".repeat(prefix), " ".repeat(suffix))
            }
        }
        Func::Join => {
            let sep = match args.next().map(|v| v.value) {
                Some(Value::String(s)) => s,
                _ => return Err("template: join: separator must be a string".to_string()),
            };
            let Value::Array(items) = first.value else {
                return Err(format!(
                    "template: wrong type for value; expected []string; got {}",
                    go_type(&first.value)
                ));
            };
            items
                .iter()
                .map(print_nested)
                .collect::<Vec<_>>()
                .join(&sep)
        }
    };
    Ok(Val {
        value: Value::String(text),
        root: false,
    })
}

/// text/template's printing of an action's value: a nil interface is
/// `<no value>`, everything else is `fmt.Print`.
fn print_top(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        other => print_nested(other),
    }
}

/// `fmt.Print` of a value decoded by `encoding/json` (with `UseNumber`):
/// maps print with sorted keys, nil inside a composite is `<nil>`.
fn print_nested(v: &Value) -> String {
    let mut out = String::new();
    write_nested(v, &mut out);
    out
}

fn write_nested(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_nested(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                if let Some(val) = map.get(k) {
                    write_nested(val, out);
                }
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
