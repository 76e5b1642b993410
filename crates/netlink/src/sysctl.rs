//! Network sysctls through `/proc/sys`.
//!
//! # Key syntax
//!
//! Interface names may contain dots (`br.x`), so a dotted key alone cannot
//! name `net/ipv6/conf/br.x/accept_dad`. The adapter follows the rule of
//! `sysctl.d(5)` (systemd, also accepted by procps `sysctl`):
//!
//! * if the **first** separator in the key is `/`, the key is already a path
//!   below `/proc/sys`: slashes separate and dots are literal
//!   (`net/ipv6/conf/br.x/accept_dad`);
//! * if the first separator is `.`, dots and slashes are interchanged: dots
//!   separate and a `/` stands for a literal dot
//!   (`net.ipv6.conf.br/x.accept_dad` is the same file).
//!
//! Callers that build a key around an interface name should use the slash
//! form, which is always unambiguous because interface names cannot hold `/`
//! ([`interface_key`] does it).
//!
//! Only keys under `net` are accepted: they are the per-network-namespace
//! sysctls, the only ones berth has reason to write, and the restriction keeps
//! a bad key from ever touching a host-global setting.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::error::NetlinkError;

const PROC_SYS: &str = "/proc/sys";

/// The file below `/proc/sys` that `key` names (see the module docs for the
/// syntax), or why the key is refused.
pub fn sysctl_path(key: &str) -> Result<PathBuf, NetlinkError> {
    let bad = |reason| NetlinkError::SysctlKey {
        key: key.to_owned(),
        reason,
    };
    let components: Vec<String> = match key.find(['.', '/']).map(|i| key.as_bytes()[i]) {
        Some(b'.') => key.split('.').map(|c| c.replace('/', ".")).collect(),
        _ => key.split('/').map(str::to_owned).collect(),
    };
    if components.iter().any(String::is_empty) {
        return Err(bad(
            "empty component (leading, trailing or doubled separator)",
        ));
    }
    if components.iter().any(|c| c == "." || c == "..") {
        return Err(bad("'.' and '..' are not sysctl names"));
    }
    if key.contains('\0') {
        return Err(bad("contains NUL"));
    }
    if components.first().map(String::as_str) != Some("net") || components.len() < 2 {
        return Err(bad("only net.* sysctls are written by berth"));
    }
    let mut path = PathBuf::from(PROC_SYS);
    path.extend(components);
    Ok(path)
}

/// The unambiguous (slash) key of a per-interface sysctl:
/// `interface_key("net.ipv6.conf", "br.x", "accept_dad")` is
/// `net/ipv6/conf/br.x/accept_dad`. `prefix` is dotted or slashed.
pub fn interface_key(prefix: &str, interface: &str, leaf: &str) -> String {
    format!("{}/{interface}/{leaf}", prefix.replace('.', "/"))
}

/// Writes `value` to the sysctl `key` unless it already holds it.
///
/// This acts in the network namespace **of the calling thread** (that is
/// how `/proc/sys/net` resolves), and is a plain blocking write: procfs
/// writes do not sleep, and doing it inline (rather than on a blocking pool
/// whose threads might have been started elsewhere) keeps the namespace
/// certain.
pub fn write_sysctl(key: &str, value: &str) -> Result<(), NetlinkError> {
    let path = sysctl_path(key)?;
    let fail = |op, source: io::Error| {
        let hint = sysctl_hint(&source);
        NetlinkError::Sysctl {
            op,
            key: key.to_owned(),
            path: path.clone(),
            source,
            hint,
        }
    };
    let current = fs::read_to_string(&path).map_err(|e| fail("reading", e))?;
    if same_value(&current, value) {
        return Ok(());
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| fail("opening", e))?;
    file.write_all(value.as_bytes())
        .map_err(|e| fail("writing", e))?;
    tracing::debug!(key, value, "sysctl set");
    Ok(())
}

/// Reads a sysctl (trailing newline removed). Same key rules and namespace
/// as [`write_sysctl`].
pub fn read_sysctl(key: &str) -> Result<String, NetlinkError> {
    let path = sysctl_path(key)?;
    match fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim_end_matches('\n').to_owned()),
        Err(source) => Err(NetlinkError::Sysctl {
            op: "reading",
            key: key.to_owned(),
            hint: sysctl_hint(&source),
            path,
            source,
        }),
    }
}

/// Sysctl values compare by their whitespace-separated fields
/// (`tcp_rmem` reads back as `4096\t131072\t6291456\n`).
fn same_value(current: &str, wanted: &str) -> bool {
    current.split_whitespace().eq(wanted.split_whitespace())
}

fn sysctl_hint(err: &io::Error) -> Option<&'static str> {
    match err.raw_os_error()? {
        libc::ENOENT => Some("no such sysctl: is the interface present and the protocol enabled?"),
        libc::EROFS | libc::EACCES | libc::EPERM => Some(
            "/proc/sys is read-only here: is berthd running in a container without privileges?",
        ),
        libc::EINVAL => Some("the kernel refused the value"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(key: &str) -> String {
        sysctl_path(key)
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .display()
            .to_string()
    }

    #[test]
    fn dotted_key_maps_dots_to_slashes() {
        assert_eq!(path("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward");
        assert_eq!(
            path("net.ipv4.conf.br-0123456789ab.route_localnet"),
            "/proc/sys/net/ipv4/conf/br-0123456789ab/route_localnet"
        );
    }

    #[test]
    fn slash_key_keeps_dots_literal() {
        assert_eq!(
            path("net/ipv6/conf/br.x/accept_dad"),
            "/proc/sys/net/ipv6/conf/br.x/accept_dad"
        );
    }

    #[test]
    fn dotted_key_uses_slash_for_a_literal_dot() {
        assert_eq!(
            path("net.ipv6.conf.br/x.accept_dad"),
            "/proc/sys/net/ipv6/conf/br.x/accept_dad"
        );
    }

    #[test]
    fn interface_key_is_unambiguous() {
        let key = interface_key("net.ipv6.conf", "br.x", "accept_dad");
        assert_eq!(key, "net/ipv6/conf/br.x/accept_dad");
        assert_eq!(path(&key), "/proc/sys/net/ipv6/conf/br.x/accept_dad");
    }

    #[test]
    fn refuses_traversal_empty_parts_and_non_net_keys() {
        for bad in [
            "",
            "net",
            "net.",
            ".net.ipv4.ip_forward",
            "/net/ipv4/ip_forward",
            "net..ipv4",
            "net/ipv4/../../kernel/hostname",
            "net.ipv4.conf.../x",
            "kernel.hostname",
            "vm/overcommit_memory",
            "net.ipv4.ip\0forward",
        ] {
            assert!(
                matches!(sysctl_path(bad), Err(NetlinkError::SysctlKey { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn values_compare_by_fields() {
        assert!(same_value("1\n", "1"));
        assert!(same_value("4096\t131072\t6291456\n", "4096 131072 6291456"));
        assert!(!same_value("0\n", "1"));
    }

    #[test]
    fn key_error_names_the_key() {
        let err = sysctl_path("kernel.hostname").unwrap_err();
        assert!(err.to_string().contains("\"kernel.hostname\""), "{err}");
    }
}
