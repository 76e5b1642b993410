//! Execution: pipelines, field lookup and docker's template functions,
//! with Go's error wording.

use serde_json::Value;

use super::print::{print_nested, print_top};
use super::{Command, Exec, Func, Missing, Node, Template, Term};
use crate::format::gojson;

impl Template {
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
