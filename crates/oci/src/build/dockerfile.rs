//! The Dockerfile's syntax as the classic builder reads it (moby
//! `buildkit/frontend/dockerfile/parser`): parser directives at the top
//! (`# escape=`, `# syntax=`), comments, line continuations, instructions
//! with their `--flags`, and exec (JSON) or shell form arguments; and the
//! `$VAR` / `${VAR}` / `${VAR:-default}` / `${VAR:+alt}` substitution
//! applied to the instructions that take it.

use std::fmt;

/// A Dockerfile that cannot be read, in the builder's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper case: `FROM`, `RUN`...
    pub keyword: String,
    /// `--name=value` flags before the arguments (`--name` alone: "").
    pub flags: Vec<(String, String)>,
    pub args: Args,
    /// The instruction as written, continuations joined (the build's
    /// `Step n/m : …` line).
    pub original: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `["a", "b"]`.
    Exec(Vec<String>),
    /// Anything else, as written (trimmed).
    Shell(String),
}

impl Args {
    /// The arguments as one line (exec form re-joined with spaces).
    pub fn text(&self) -> String {
        match self {
            Args::Exec(v) => v.join(" "),
            Args::Shell(s) => s.clone(),
        }
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// Instructions whose flags are read here; others take the text whole.
const FLAGGED: &[&str] = &["FROM", "COPY", "ADD", "RUN"];

/// Parses `text`. Unknown instructions are refused as the builder does.
pub fn parse(text: &str) -> Result<Vec<Instruction>, ParseError> {
    let mut escape = '\\';
    let mut lines = text.lines().peekable();
    // Directives: `# key=value` lines before anything else.
    while let Some(line) = lines.peek() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive.split_once('=') else {
            break;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "escape" => {
                escape = match value.trim() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(ParseError(format!(
                            "invalid escape token '{other}' does not match ` or \\"
                        )))
                    }
                }
            }
            // The classic builder has one syntax: the frontend named is
            // read as a comment, as dockerd without BuildKit does.
            "syntax" | "check" => {}
            _ => break,
        }
        lines.next();
    }
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in lines {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && !pending.is_empty()) {
            continue;
        }
        let continued = trimmed.strip_suffix(escape);
        match continued {
            Some(head) => {
                pending.push_str(head.trim_start_matches(char::is_whitespace));
                continue;
            }
            None => pending.push_str(line.trim_start()),
        }
        let logical = std::mem::take(&mut pending);
        if !logical.trim().is_empty() {
            out.push(instruction(logical.trim())?);
        }
    }
    if !pending.trim().is_empty() {
        out.push(instruction(pending.trim())?);
    }
    Ok(out)
}

const KNOWN: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn instruction(line: &str) -> Result<Instruction, ParseError> {
    let (word, mut rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let keyword = word.to_ascii_uppercase();
    if !KNOWN.contains(&keyword.as_str()) {
        return Err(ParseError(format!(
            "unknown instruction: {}",
            word.to_ascii_lowercase()
        )));
    }
    rest = rest.trim();
    let mut flags = Vec::new();
    if FLAGGED.contains(&keyword.as_str()) {
        while let Some(flag) = rest.strip_prefix("--") {
            let (token, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
            let (name, value) = token.split_once('=').unwrap_or((token, ""));
            flags.push((name.to_owned(), value.to_owned()));
            rest = tail.trim_start();
        }
    }
    let args = match rest.starts_with('[') {
        true => match serde_json::from_str::<Vec<String>>(rest) {
            Ok(v) => Args::Exec(v),
            Err(_) => Args::Shell(rest.to_owned()),
        },
        false => Args::Shell(rest.to_owned()),
    };
    Ok(Instruction {
        keyword,
        flags,
        args,
        original: line.to_owned(),
    })
}

/// Substitutes variables in `word` from `lookup`, as the builder's shell
/// lexer does for ENV, ARG, COPY, WORKDIR, USER and the like: not inside
/// single quotes, `\$` (with the escape character) is a literal `$`.
pub fn expand(word: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    let mut single = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                single = !single;
                out.push(c);
            }
            c if c == escape && !single => {
                match chars.peek() {
                    Some('$') => {
                        // Keep the escape for the quoting pass that follows.
                        out.push(c);
                        out.push('$');
                        chars.next();
                    }
                    _ => out.push(c),
                }
            }
            '$' if !single => match chars.peek() {
                Some('{') => {
                    chars.next();
                    let inner: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    out.push_str(&braced(&inner, lookup));
                }
                Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
                    let mut name = String::new();
                    while let Some(c) = chars
                        .peek()
                        .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
                    {
                        name.push(*c);
                        chars.next();
                    }
                    out.push_str(&lookup(&name).unwrap_or_default());
                }
                _ => out.push('$'),
            },
            c => out.push(c),
        }
    }
    out
}

fn braced(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if let Some((name, default)) = inner.split_once(":-") {
        return lookup(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned());
    }
    if let Some((name, alt)) = inner.split_once(":+") {
        return match lookup(name).filter(|v| !v.is_empty()) {
            Some(_) => alt.to_owned(),
            None => String::new(),
        };
    }
    lookup(inner).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(s: &str) -> Args {
        Args::Shell(s.to_owned())
    }

    #[test]
    fn directives_comments_continuations_and_forms() {
        let text = "# syntax=docker/dockerfile:1\n# escape=`\n\n# a comment\nFROM busybox AS base\nRUN echo a && `\n  # inside\n  echo b\ncmd [\"sh\", \"-c\", \"x\"]\nCOPY --chown=1:1 --from=base a b\nENV A=1 \\\n";
        let got = parse(text).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].keyword, "FROM");
        assert_eq!(got[0].args, shell("busybox AS base"));
        assert_eq!(got[1].args, shell("echo a && echo b"));
        assert_eq!(got[1].original, "RUN echo a && echo b");
        assert_eq!(got[2].keyword, "CMD");
        assert_eq!(
            got[2].args,
            Args::Exec(vec!["sh".into(), "-c".into(), "x".into()])
        );
        assert_eq!(
            got[3].flags,
            [
                ("chown".to_owned(), "1:1".to_owned()),
                ("from".to_owned(), "base".to_owned())
            ]
        );
        assert_eq!(got[3].args, shell("a b"));
        // With ` as the escape, a trailing backslash is text.
        assert_eq!(got[4].args, shell("A=1 \\"));
    }

    #[test]
    fn backslash_continuations_and_bad_json_is_shell_form() {
        let got = parse("RUN a \\\n b\nCMD [oops\n").unwrap();
        assert_eq!(got[0].args, shell("a b"));
        assert_eq!(got[1].args, shell("[oops"));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse("FROM busybox\nFOO bar\n").unwrap_err().0,
            "unknown instruction: foo"
        );
        assert!(parse("# escape=x\nFROM a\n").is_err());
    }

    #[test]
    fn substitution() {
        let vars = |n: &str| match n {
            "A" => Some("one".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let e = |w: &str| expand(w, '\\', &vars);
        assert_eq!(e("$A/${A}x"), "one/onex");
        assert_eq!(e("${NOPE:-d} ${A:-d} ${EMPTY:-d}"), "d one d");
        assert_eq!(e("${A:+alt}|${NOPE:+alt}"), "alt|");
        assert_eq!(e("'$A' \"$A\""), "'$A' \"one\"");
        assert_eq!(e("\\$A $ $$"), "\\$A $ $$");
    }
}
