//! How Go's `fmt` prints what `encoding/json` decoded.

use std::fmt::Write as _;

use serde_json::Value;

/// text/template's printing of an action's value: a nil interface is
/// `<no value>`, everything else is `fmt.Print`.
pub(super) fn print_top(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        other => print_nested(other),
    }
}

/// `fmt.Print` of a value decoded by `encoding/json` (with `UseNumber`):
/// maps print with sorted keys, nil inside a composite is `<nil>`.
pub(super) fn print_nested(v: &Value) -> String {
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
