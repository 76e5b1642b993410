//! Parsing: source text to [`Template`] nodes, with Go's error wording.

use super::{Command, Func, Node, Template, Term};

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
