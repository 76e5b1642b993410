//! What `docker info` and `docker version` say of the host: memory, the
//! operating system from `/etc/os-release`, and architectures by Go's names.

use std::fs;

/// Rust's architecture name as Go's `GOARCH`, which Docker reports
/// (`amd64`, not `x86_64`).
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Bytes of memory the host has (`MemTotal` of `/proc/meminfo`, in kB
/// there); 0 if unreadable.
pub fn mem_total() -> i64 {
    fs::read_to_string("/proc/meminfo")
        .map(|text| parse_mem_total(&text))
        .unwrap_or(0)
}

fn parse_mem_total(meminfo: &str) -> i64 {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<i64>()
                .ok()
        })
        .map_or(0, |kb| kb.saturating_mul(1024))
}

/// `OperatingSystem` and `OSVersion`, as Docker reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub pretty_name: String,
    pub version_id: String,
}

pub fn os_release() -> OsRelease {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .map(|text| parse_os_release(&text))
        .unwrap_or_else(|| OsRelease {
            pretty_name: "Linux".to_owned(),
            version_id: String::new(),
        })
}

fn parse_os_release(text: &str) -> OsRelease {
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .next_back()
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    };
    OsRelease {
        // Docker's fallback when PRETTY_NAME is missing.
        pretty_name: value("PRETTY_NAME").unwrap_or_else(|| "Linux".to_owned()),
        version_id: value("VERSION_ID").unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_are_go_s() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("s390x"), "s390x");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }

    #[test]
    fn mem_total_is_in_bytes() {
        let meminfo = "MemTotal:        8029784 kB\nMemFree:  100 kB\n";
        assert_eq!(parse_mem_total(meminfo), 8_029_784 * 1024);
        assert_eq!(parse_mem_total("nothing"), 0);
    }

    #[test]
    fn os_release_pretty_name_and_version() {
        let text = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(text),
            OsRelease {
                pretty_name: "Debian GNU/Linux 12 (bookworm)".to_owned(),
                version_id: "12".to_owned(),
            }
        );
        assert_eq!(parse_os_release("").pretty_name, "Linux");
    }
}
