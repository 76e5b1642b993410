//! How a command ends when it is not a plain failure (a plain failure is any
//! other error: printed to stderr, exit status 1, as docker does).

use std::fmt;

#[derive(Debug)]
pub enum Exit {
    /// docker's `cli.StatusError`: print `message` to stderr and exit with
    /// `code`. Used where docker joins per-item errors, or wants a status
    /// other than 1 (64 for template errors).
    Status { code: u8, message: String },
    /// The user answered no to a prompt: docker prints nothing more and
    /// exits 0.
    Cancelled,
}

impl Exit {
    pub fn status(code: u8, message: impl Into<String>) -> Exit {
        Exit::Status {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Status { message, .. } => f.write_str(message),
            Exit::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Exit {}

/// The positional arguments a command takes, checked by hand so the
/// message and exit status (1) are docker's rather than clap's.
pub enum Arity {
    None,
    Exactly(usize),
    AtLeast(usize),
    AtMost(usize),
    Between(usize, usize),
}

/// docker's `cli.NoArgs` / `cli.ExactArgs` / `cli.RequiresMinArgs` /
/// `cli.RequiresMaxArgs` / `cli.RequiresRangeArgs`.
/// `path` is the command path after the binary name (`network ls`),
/// `usage` its usage line without the binary (`network ls [OPTIONS]`).
pub fn check_args(args: &[String], arity: Arity, path: &str, usage: &str) -> Result<(), Exit> {
    let n = args.len();
    let (ok, what, see) = match arity {
        Arity::None => (n == 0, "accepts no arguments".to_string(), "Run"),
        Arity::Exactly(k) => (n == k, format!("requires {k} {}", plural(k)), "Run"),
        Arity::AtLeast(k) => (
            n >= k,
            format!("requires at least {k} {}", plural(k)),
            "See",
        ),
        // docker 28.2 really prints `SRun` here.
        Arity::AtMost(k) => (
            n <= k,
            format!("requires at most {k} {}", plural(k)),
            "SRun",
        ),
        Arity::Between(lo, hi) => (
            (lo..=hi).contains(&n),
            format!("requires at least {lo} and at most {hi} {}", plural(hi)),
            "Run",
        ),
    };
    if ok {
        return Ok(());
    }
    Err(Exit::status(
        1,
        format!(
            "berth: 'berth {path}' {what}\n\nUsage:  berth {usage}\n\n{see} 'berth {path} --help' for more information"
        ),
    ))
}

/// docker's report of a bad flag value (pflag's text, then the usage),
/// exit status 125. `flag` is as docker names it: `--dns`, `-e, --env`.
pub fn flag_error(flag: &str, value: &str, err: &str, path: &str, usage: &str) -> Exit {
    Exit::status(
        125,
        format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {err}\n\nUsage:  berth {usage}\n\n\
             Run 'berth {path} --help' for more information"
        ),
    )
}

/// docker's `reportError` for `run` and `create`: `berth: <error>` and a
/// pointer to the help, with the given status.
pub fn report(code: u8, path: &str, err: &str) -> Exit {
    Exit::status(
        code,
        format!("berth: {err}\n\nRun 'berth {path} --help' for more information"),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "argument"
    } else {
        "arguments"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<(), Exit>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn messages_match_docker() {
        // docker 28.2.2: `docker network ls x`, `docker network create`,
        // `docker network inspect` with the binary name swapped.
        assert_eq!(
            msg(check_args(&["x".into()], Arity::None, "network ls", "network ls [OPTIONS]")),
            "berth: 'berth network ls' accepts no arguments\n\nUsage:  berth network ls [OPTIONS]\n\n\
             Run 'berth network ls --help' for more information"
        );
        assert_eq!(
            msg(check_args(&[], Arity::Exactly(1), "network create", "network create [OPTIONS] NETWORK")),
            "berth: 'berth network create' requires 1 argument\n\nUsage:  berth network create [OPTIONS] NETWORK\n\n\
             Run 'berth network create --help' for more information"
        );
        assert_eq!(
            msg(check_args(
                &[],
                Arity::AtLeast(1),
                "network inspect",
                "network inspect [OPTIONS] NETWORK [NETWORK...]"
            )),
            "berth: 'berth network inspect' requires at least 1 argument\n\n\
             Usage:  berth network inspect [OPTIONS] NETWORK [NETWORK...]\n\n\
             See 'berth network inspect --help' for more information"
        );
        assert!(check_args(&["a".into(), "b".into()], Arity::AtLeast(1), "x", "x").is_ok());
        // `docker images a b`, `docker port`.
        assert_eq!(
            msg(check_args(
                &["a".into(), "b".into()],
                Arity::AtMost(1),
                "images",
                "images [OPTIONS] [REPOSITORY[:TAG]]"
            )),
            "berth: 'berth images' requires at most 1 argument\n\n\
             Usage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\n\
             SRun 'berth images --help' for more information"
        );
        assert_eq!(
            msg(check_args(
                &[],
                Arity::Between(1, 2),
                "port",
                "port CONTAINER [PRIVATE_PORT[/PROTO]]"
            )),
            "berth: 'berth port' requires at least 1 and at most 2 arguments\n\n\
             Usage:  berth port CONTAINER [PRIVATE_PORT[/PROTO]]\n\n\
             Run 'berth port --help' for more information"
        );
    }
}
