//! `docker import`/`commit` `--change` lines: Dockerfile instructions
//! applied to an image config. Docker accepts only a few instructions here;
//! we take CMD, ENTRYPOINT, ENV, WORKDIR, EXPOSE, LABEL, VOLUME, USER,
//! STOPSIGNAL and HEALTHCHECK, in JSON (exec) or shell form where
//! Dockerfiles allow both (ONBUILD is refused: berth keeps no triggers).

use std::collections::BTreeMap;

use super::config::{Empty, ImageConfig, ImageHealthcheck};
use crate::error::{Error, Result};

/// Applies `changes` in order. A change may hold several instructions, one
/// per line (the API joins repeated `changes=` parameters this way).
pub fn apply_changes(config: &mut ImageConfig, changes: &[String]) -> Result<()> {
    for line in changes.iter().flat_map(|c| c.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (instr, rest) = match line.split_once(char::is_whitespace) {
            Some((i, r)) => (i, r.trim()),
            None => (line, ""),
        };
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => config.cmd = Some(command(instr, rest)?),
            "ENTRYPOINT" => config.entrypoint = Some(command(instr, rest)?),
            "ENV" => {
                let env = config.env.get_or_insert_with(Vec::new);
                for (k, v) in name_values(instr, rest)? {
                    let prefix = format!("{k}=");
                    env.retain(|e| !e.starts_with(&prefix));
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                let labels = config.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(name_values(instr, rest)?);
            }
            "WORKDIR" => {
                if rest.is_empty() {
                    return Err(missing(instr));
                }
                let base = if config.working_dir.is_empty() {
                    "/"
                } else {
                    &config.working_dir
                };
                config.working_dir = join_clean(base, rest);
            }
            "EXPOSE" => {
                if rest.is_empty() {
                    return Err(missing(instr));
                }
                let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for word in rest.split_whitespace() {
                    for key in expose_keys(word)? {
                        ports.insert(key, Empty {});
                    }
                }
            }
            "VOLUME" => {
                let paths = volume_paths(rest);
                if paths.is_empty() {
                    return Err(missing(instr));
                }
                let volumes = config.volumes.get_or_insert_with(BTreeMap::new);
                for path in paths {
                    volumes.insert(path, Empty {});
                }
            }
            "USER" => {
                if rest.is_empty() {
                    return Err(missing(instr));
                }
                config.user = rest.to_owned();
            }
            "STOPSIGNAL" => {
                if rest.is_empty() {
                    return Err(missing(instr));
                }
                config.stop_signal = rest.to_owned();
            }
            "HEALTHCHECK" => config.healthcheck = Some(healthcheck(rest)?),
            "ONBUILD" => {
                return Err(Error::InvalidChange(
                    "berth does not keep ONBUILD triggers".to_owned(),
                ))
            }
            // dockerd names the instruction as its parser does, lower case.
            _ => {
                return Err(Error::InvalidChange(format!(
                    "{} is not a valid change command",
                    instr.to_ascii_lowercase()
                )))
            }
        }
    }
    Ok(())
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=D] [--timeout=D]
/// [--start-period=D] [--start-interval=D] [--retries=N] CMD ...`.
fn healthcheck(rest: &str) -> Result<ImageHealthcheck> {
    let mut check = ImageHealthcheck::default();
    let mut rest = rest.trim();
    while let Some(flag) = rest.strip_prefix("--") {
        let (word, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        let (name, value) = word.split_once('=').ok_or_else(|| {
            Error::InvalidChange(format!("HEALTHCHECK: flag --{word} needs a value"))
        })?;
        let bad =
            |what: &str| Error::InvalidChange(format!("HEALTHCHECK: {what} --{name}={value}"));
        let nanos =
            || crate::time::parse_go_duration(value).ok_or_else(|| bad("invalid duration in"));
        match name {
            "interval" => check.interval = nanos()?,
            "timeout" => check.timeout = nanos()?,
            "start-period" => check.start_period = nanos()?,
            "start-interval" => check.start_interval = nanos()?,
            "retries" => check.retries = value.parse().map_err(|_| bad("invalid number in"))?,
            _ => return Err(Error::InvalidChange(format!("Unknown flag: {name}"))),
        }
        rest = tail.trim_start();
    }
    let (kind, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match kind.to_ascii_uppercase().as_str() {
        "NONE" if args.trim().is_empty() => check.test = vec!["NONE".to_owned()],
        "NONE" => {
            return Err(Error::InvalidChange(
                "HEALTHCHECK NONE takes no arguments".to_owned(),
            ))
        }
        "CMD" => {
            let args = args.trim();
            let mut test = vec![if args.starts_with('[') {
                "CMD".to_owned()
            } else {
                "CMD-SHELL".to_owned()
            }];
            match command("HEALTHCHECK", args)?.as_slice() {
                [sh, c, script] if !args.starts_with('[') && sh == "/bin/sh" && c == "-c" => {
                    test.push(script.clone())
                }
                argv => test.extend(argv.iter().cloned()),
            }
            check.test = test;
        }
        _ => {
            return Err(Error::InvalidChange(format!(
                "Unknown type {kind:?} in HEALTHCHECK (try CMD)"
            )))
        }
    }
    Ok(check)
}

/// `VOLUME ["/a", "/b"]` or `VOLUME /a /b`.
fn volume_paths(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return v.into_iter().filter(|p| !p.is_empty()).collect();
        }
    }
    rest.split_whitespace().map(str::to_owned).collect()
}

fn missing(instr: &str) -> Error {
    Error::InvalidChange(format!("{instr} requires at least one argument"))
}

/// Exec form `["a","b"]` is taken as is; anything else is a shell command
/// run through `/bin/sh -c`, as in a Dockerfile.
fn command(instr: &str, rest: &str) -> Result<Vec<String>> {
    if rest.is_empty() {
        return Err(missing(instr));
    }
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return Ok(v);
        }
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

/// `ENV a=1 b="two words"` or the legacy `ENV a one value`; LABEL alike.
fn name_values(instr: &str, rest: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest).map_err(|e| Error::InvalidChange(format!("{instr}: {e}")))?;
    let Some(first) = words.first() else {
        return Err(missing(instr));
    };
    if !first.contains('=') {
        // Legacy form: the first word is the name, the rest of the line
        // (verbatim, quotes removed) the value.
        let value = rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..].trim();
        if value.is_empty() {
            return Err(Error::InvalidChange(format!(
                "{instr} names can not be blank / {instr} must have two arguments"
            )));
        }
        let value = split_words(value)
            .map_err(|e| Error::InvalidChange(format!("{instr}: {e}")))?
            .join(" ");
        return Ok(vec![(first.clone(), value)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Error::InvalidChange(format!(
                "{instr}: {w:?} is not of the form name=value"
            ))),
        })
        .collect()
}

/// Splits on unquoted whitespace and removes quoting: `"..."` (where `\"`
/// and `\\` are escapes), `'...'` (literal), and `\x` outside quotes.
fn split_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unmatched single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unmatched double quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unmatched double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` -> `80/tcp`... (ranges expand,
/// as Docker stores them).
fn expose_keys(word: &str) -> Result<Vec<String>> {
    let bad = || Error::InvalidChange(format!("invalid containerPort: {word}"));
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::InvalidChange(format!("invalid proto: {proto}")));
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad);
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Joins `rel` onto `base` (absolute) and removes `.`/`..`/`//`.
fn join_clean(base: &str, rel: &str) -> String {
    let joined = if rel.starts_with('/') {
        rel.to_owned()
    } else {
        format!("{base}/{rel}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[&str]) -> ImageConfig {
        let mut c = ImageConfig::default();
        apply_changes(
            &mut c,
            &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        c
    }

    fn err(line: &str) -> String {
        let mut c = ImageConfig::default();
        apply_changes(&mut c, &[line.to_string()])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn cmd_and_entrypoint_in_both_forms() {
        let c = apply(&[r#"CMD ["sh", "-c", "echo hi"]"#, "ENTRYPOINT /bin/env -i"]);
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/env -i"]);
        // Not valid JSON: Docker falls back to the shell form.
        let c = apply(&["cmd [oops"]);
        assert_eq!(c.cmd.unwrap(), ["/bin/sh", "-c", "[oops"]);
    }

    #[test]
    fn env_forms_and_override() {
        let c = apply(&[
            "ENV A=1 B=\"two words\" C='x y' D=a\\ b",
            "ENV legacy some value here",
            "ENV A=2",
        ]);
        assert_eq!(
            c.env.unwrap(),
            [
                "B=two words",
                "C=x y",
                "D=a b",
                "legacy=some value here",
                "A=2"
            ]
        );
    }

    #[test]
    fn labels_workdir_expose() {
        let c = apply(&[
            "LABEL a=b \"com.x.y\"=\"v w\"",
            "WORKDIR /app",
            "WORKDIR sub/../data",
            "EXPOSE 80 53/udp 8000-8002/TCP",
        ]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["com.x.y"], "v w");
        assert_eq!(c.working_dir, "/app/data");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(
            ports,
            ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
    }

    #[test]
    fn user_stopsignal_healthcheck() {
        let c = apply(&[
            "USER app:app",
            "STOPSIGNAL SIGINT",
            "HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost",
        ]);
        assert_eq!(
            (c.user.as_str(), c.stop_signal.as_str()),
            ("app:app", "SIGINT")
        );
        let check = c.healthcheck.unwrap();
        assert_eq!(check.test, ["CMD-SHELL", "wget -q localhost"]);
        assert_eq!((check.interval, check.retries), (5_000_000_000, 2));
        let c = apply(&[r#"HEALTHCHECK CMD ["true"]"#]);
        assert_eq!(c.healthcheck.unwrap().test, ["CMD", "true"]);
        assert_eq!(
            apply(&["HEALTHCHECK NONE"]).healthcheck.unwrap().test,
            ["NONE"]
        );
        assert_eq!(err("HEALTHCHECK --bogus=1 CMD true"), "Unknown flag: bogus");
    }

    #[test]
    fn volumes_in_both_forms() {
        let c = apply(&["VOLUME /data /cache", "VOLUME [\"/logs\"]"]);
        let paths: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(paths, ["/cache", "/data", "/logs"]);
    }

    #[test]
    fn several_instructions_in_one_change() {
        let c = apply(&["CMD echo\nWORKDIR /w"]);
        assert_eq!(c.working_dir, "/w");
        assert!(c.cmd.is_some());
    }

    #[test]
    fn refusals() {
        assert_eq!(err("RUN echo"), "run is not a valid change command");
        assert!(err("EXPOSE 0").contains("invalid containerPort"));
        assert!(err("EXPOSE 80/icmp").contains("invalid proto"));
        assert!(err("EXPOSE 90-80").contains("invalid containerPort"));
        assert!(err("ENV A=1 =2").contains("name=value"));
        assert!(err("ENV lonely").contains("two arguments"));
        assert!(err("CMD").contains("at least one argument"));
        assert!(err("ENV A=\"open").contains("unmatched"));
    }
}
