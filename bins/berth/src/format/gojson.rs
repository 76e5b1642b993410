//! JSON the way Go's `encoding/json` writes it, where docker's output
//! depends on it: `json.Indent`/`json.Compact` over the daemon's raw bytes
//! (key order and escapes are kept verbatim) and `json.Marshal`'s escaping.

use serde_json::Value;

/// Go's `json.Indent(dst, src, "", indent)`: re-indents valid JSON without
/// touching strings; empty objects and arrays stay `{}` and `[]`.
pub fn indent(src: &str, indent: &str) -> Result<String, serde_json::Error> {
    reformat(src, Some(indent))
}

/// Go's `json.Compact`: drops insignificant whitespace, nothing else.
pub fn compact(src: &str) -> Result<String, serde_json::Error> {
    reformat(src, None)
}

fn reformat(src: &str, indent: Option<&str>) -> Result<String, serde_json::Error> {
    // Validate first so the scanner below only has to track strings.
    serde_json::from_str::<Value>(src)?;
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        if let Some(ind) = indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(ind);
            }
        }
    };
    for c in src.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        // The newline after `{`/`[` waits for the next token so that an
        // empty object or array stays on one line.
        if need_indent && c != '}' && c != ']' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                need_indent = true;
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => {
                out.push(c);
                if indent.is_some() {
                    out.push(' ');
                }
            }
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// `json.Marshal` of a decoded value. Go always escapes U+2028/U+2029 and,
/// unless the encoder was told otherwise, `<`, `>` and `&` as well. Those
/// characters can only occur inside strings, so replacing them after
/// serialisation is exact.
pub fn marshal(value: &Value, escape_html: bool) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            '<' if escape_html => out.push_str("\\u003c"),
            '>' if escape_html => out.push_str("\\u003e"),
            '&' if escape_html => out.push_str("\\u0026"),
            _ => out.push(c),
        }
    }
    out
}

/// Go's `strconv.Quote`: a double-quoted Go string literal; printable
/// characters stay as they are.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = r#"{"Name":"net10","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.10.0.0/24"}]},"Containers":{},"Labels":{"b":"2","a":"x<y&z"},"Extra":{"z":1,"a":[]},"Esc":"q\"\\ {,}"}"#;

    #[test]
    fn indent_matches_go() {
        // Shape captured from `docker network inspect` (28.2.2): key order
        // as sent, `{}`/`[]` kept inline, no re-escaping of `<` or `&`.
        let want = r#"[
    {
        "Name": "net10",
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [
                {
                    "Subnet": "10.10.0.0/24"
                }
            ]
        },
        "Containers": {},
        "Labels": {
            "b": "2",
            "a": "x<y&z"
        },
        "Extra": {
            "z": 1,
            "a": []
        },
        "Esc": "q\"\\ {,}"
    }
]"#;
        assert_eq!(
            indent(&format!("[{RAW}]"), "    ").ok().as_deref(),
            Some(want)
        );
    }

    #[test]
    fn compact_keeps_order_and_strings() {
        let spaced = "[ {\"b\" : 1,\n \"a\": \"x y\"} , [ ] ]";
        assert_eq!(
            compact(spaced).ok().as_deref(),
            Some(r#"[{"b":1,"a":"x y"},[]]"#)
        );
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(indent("{\"a\":", "    ").is_err());
    }

    #[test]
    fn quote_like_strconv() {
        assert_eq!(quote("nginx -g 'daemon of…"), "\"nginx -g 'daemon of…\"");
        assert_eq!(quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
        assert_eq!(quote(""), "\"\"");
    }

    #[test]
    fn marshal_escapes_like_go() {
        let v = serde_json::json!({"b": "x<y&z>", "a": "\u{2028}"});
        assert_eq!(
            marshal(&v, true),
            r#"{"a":"\u2028","b":"x\u003cy\u0026z\u003e"}"#
        );
        assert_eq!(marshal(&v, false), r#"{"a":"\u2028","b":"x<y&z>"}"#);
    }
}
