//! Seccomp profiles as Docker renders them: moby's `profiles/seccomp`
//! (`setupSeccomp`) turns a Docker profile (with `archMap`, and syscall
//! rules conditional on the architecture, the container's capabilities and
//! the kernel's version) into the OCI `linux.seccomp` for this host and
//! this container.

use serde_json::{Map, Value};

/// moby's `profiles/seccomp/default.json` (vendored at moby commit
/// b985e2313a8676e18072b442911fc8f64f17d440), Docker's default profile.
pub const DEFAULT_PROFILE: &str = include_str!("seccomp_default.json");

/// The fields of the OCI `LinuxSeccomp` a profile may carry over.
const SECCOMP_FIELDS: [&str; 6] = [
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "flags",
    "listenerPath",
    "listenerMetadata",
];

/// The fields of the OCI `LinuxSyscall`.
const SYSCALL_FIELDS: [&str; 4] = ["names", "action", "errnoRet", "args"];

/// This host as the profile's conditions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// libseccomp's name of the architecture (`amd64`, `arm64`, ...), what
    /// `arches` conditions name.
    pub arch: &'static str,
    /// The kernel's version and major revision (`6.1` of `6.1.0-13-amd64`).
    pub kernel: (u64, u64),
}

impl Platform {
    /// The architecture this binary runs on (moby's `goToNative`).
    pub fn native_arch() -> &'static str {
        match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "x86",
            "aarch64" => "arm64",
            "arm" => "arm",
            "riscv64" => "riscv64",
            "s390x" => "s390x",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loongarch64",
            other => other,
        }
    }

    /// `6.1` of a release text such as `6.1.0-13-amd64`.
    pub fn parse_release(release: &str) -> Option<(u64, u64)> {
        let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
        let kernel = parts.next()?.parse().ok()?;
        let major = parts.next()?.parse().ok()?;
        Some((kernel, major))
    }
}

/// moby's `nativeToSeccomp`.
fn seccomp_arch(native: &str) -> Option<&'static str> {
    Some(match native {
        "x86" => "SCMP_ARCH_X86",
        "amd64" => "SCMP_ARCH_X86_64",
        "arm" => "SCMP_ARCH_ARM",
        "arm64" => "SCMP_ARCH_AARCH64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips64n32" => "SCMP_ARCH_MIPS64N32",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        "mips3l64n32" => "SCMP_ARCH_MIPSEL64N32",
        "mipsle" => "SCMP_ARCH_MIPSEL",
        "ppc" => "SCMP_ARCH_PPC",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390" => "SCMP_ARCH_S390",
        "s390x" => "SCMP_ARCH_S390X",
        _ => return None,
    })
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn non_empty(v: Option<&Value>) -> bool {
    v.and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// A `minKernel` of `"<kernel>.<major>"`, with moby's words for a bad one.
fn min_kernel(v: &Value) -> Result<Option<(u64, u64)>, String> {
    let bad =
        |why: &str| format!("invalid kernel version: {v}, expected \"<kernel>.<major>\"{why}");
    let text = v.as_str().ok_or_else(|| bad(""))?;
    if text.is_empty() {
        return Ok(None);
    }
    let (kernel, major) = text.split_once('.').ok_or_else(|| bad(""))?;
    let kernel: u8 = kernel.parse().map_err(|_| bad(""))?;
    let major: u8 = major.parse().map_err(|_| bad(""))?;
    if kernel == 0 && major == 0 {
        return Err(bad(": version cannot be 0.0"));
    }
    Ok(Some((u64::from(kernel), u64::from(major))))
}

/// Whether a rule's `includes` (`wanted`) or `excludes` (`!wanted`)
/// filter matches this container on this host.
fn filter_matches(
    filter: &Map<String, Value>,
    bounding: &[&str],
    platform: &Platform,
    wanted: bool,
) -> Result<bool, String> {
    let arches = strings(filter.get("arches"));
    let caps = strings(filter.get("caps"));
    let min = match filter.get("minKernel") {
        Some(v) => min_kernel(v)?,
        None => None,
    };
    let at_least = min.map(|m| platform.kernel >= m);
    Ok(if wanted {
        (arches.is_empty() || arches.contains(&platform.arch))
            && caps.iter().all(|c| bounding.contains(c))
            && at_least != Some(false)
    } else {
        (!arches.is_empty() && arches.contains(&platform.arch))
            || caps.iter().any(|c| bounding.contains(c))
            || at_least == Some(true)
    })
}

/// The OCI `linux.seccomp` of a Docker profile for a container whose
/// bounding capabilities are `bounding`; `None` when the profile filters
/// nothing (no default action and no rules). Errors in moby's words.
pub fn render(
    profile: &str,
    bounding: &[&str],
    platform: &Platform,
) -> Result<Option<Value>, String> {
    let config: Map<String, Value> = serde_json::from_str(profile)
        .map_err(|e| format!("Decoding seccomp profile failed: {e}"))?;
    let default_action = config
        .get("defaultAction")
        .and_then(Value::as_str)
        .unwrap_or("");
    let empty = Vec::new();
    let syscalls = config
        .get("syscalls")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if default_action.is_empty() && syscalls.is_empty() {
        return Ok(None);
    }
    if non_empty(config.get("architectures")) && non_empty(config.get("archMap")) {
        return Err("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".to_owned());
    }
    let mut out: Map<String, Value> = SECCOMP_FIELDS
        .iter()
        .filter_map(|k| {
            config
                .get(*k)
                .filter(|v| !v.is_null())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect();
    if let Some(native) = seccomp_arch(platform.arch) {
        let entry = config
            .get("archMap")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|a| a.get("architecture").and_then(Value::as_str) == Some(native));
        if let Some(entry) = entry {
            let mut arches = vec![Value::from(native)];
            arches.extend(
                strings(entry.get("subArchitectures"))
                    .into_iter()
                    .map(Value::from),
            );
            let list = out
                .entry("architectures")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                list.extend(arches);
            }
        }
    }

    let mut rules = Vec::new();
    for call in syscalls {
        let Some(call) = call.as_object() else {
            return Err(format!(
                "Decoding seccomp profile failed: bad syscall rule {call}"
            ));
        };
        let mut rule: Map<String, Value> = SYSCALL_FIELDS
            .iter()
            .filter_map(|k| {
                call.get(*k)
                    .filter(|v| !v.is_null())
                    .map(|v| (k.to_string(), v.clone()))
            })
            .collect();
        if let Some(name) = call
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            if non_empty(call.get("names")) {
                return Err("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'".to_owned());
            }
            rule.insert("names".to_owned(), Value::from(vec![name]));
        }
        if let Some(excludes) = call.get("excludes").and_then(Value::as_object) {
            if filter_matches(excludes, bounding, platform, false)? {
                continue;
            }
        }
        if let Some(includes) = call.get("includes").and_then(Value::as_object) {
            if !filter_matches(includes, bounding, platform, true)? {
                continue;
            }
        }
        rules.push(Value::Object(rule));
    }
    if !rules.is_empty() {
        out.insert("syscalls".to_owned(), Value::Array(rules));
    }
    Ok(Some(Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AMD64_6_1: Platform = Platform {
        arch: "amd64",
        kernel: (6, 1),
    };

    fn names_of(v: &Value) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_default_profile_resolves_for_this_host_and_the_default_caps() {
        let caps = crate::spec::DEFAULT_CAPABILITIES;
        let v = render(DEFAULT_PROFILE, &caps, &AMD64_6_1).unwrap().unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        assert!(v.get("archMap").is_none());
        let names = names_of(&v);
        assert!(names.contains(&"read".to_owned()));
        // CAP_SYS_ADMIN-only rules are left out for the default caps...
        assert!(!names.contains(&"mount".to_owned()));
        // ...arch-only rules for other arches too (s390x's s390_pci_mmio_read).
        assert!(!names.contains(&"s390_pci_mmio_read".to_owned()));
        // amd64's own: arch_prctl.
        assert!(names.contains(&"arch_prctl".to_owned()));
        for rule in v["syscalls"].as_array().unwrap() {
            let keys: Vec<&String> = rule.as_object().unwrap().keys().collect();
            assert!(
                keys.iter().all(|k| SYSCALL_FIELDS.contains(&k.as_str())),
                "{keys:?}"
            );
        }
    }

    #[test]
    fn capabilities_open_their_rules() {
        let mut caps = crate::spec::DEFAULT_CAPABILITIES.to_vec();
        caps.push("CAP_SYS_ADMIN");
        let v = render(DEFAULT_PROFILE, &caps, &AMD64_6_1).unwrap().unwrap();
        assert!(names_of(&v).contains(&"mount".to_owned()));
    }

    #[test]
    fn conditions_follow_moby() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"name": "old_style", "action": "SCMP_ACT_ALLOW", "comment": "dropped"},
                {"names": ["new_kernel"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "7.0"}},
                {"names": ["old_kernel"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.4"}},
                {"names": ["on_arm"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["not_with_admin"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]
        })
        .to_string();
        let v = render(&profile, &["CAP_CHOWN"], &AMD64_6_1)
            .unwrap()
            .unwrap();
        assert_eq!(v["architectures"], json!(["SCMP_ARCH_X86_64"]));
        assert_eq!(names_of(&v), ["old_style", "not_with_admin"]);
        assert_eq!(v["syscalls"][1]["errnoRet"], 38);
        assert!(v["syscalls"][0].get("comment").is_none());
        let v = render(&profile, &["CAP_SYS_ADMIN"], &AMD64_6_1)
            .unwrap()
            .unwrap();
        assert_eq!(names_of(&v), ["old_style"]);
    }

    #[test]
    fn bad_profiles_are_refused_in_mobys_words() {
        let e = render("{nope", &[], &AMD64_6_1).unwrap_err();
        assert!(e.starts_with("Decoding seccomp profile failed:"), "{e}");
        let both = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                          "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}]});
        assert!(render(&both.to_string(), &[], &AMD64_6_1)
            .unwrap_err()
            .contains("both 'architectures' and 'archMap'"));
        let kernel = json!({"defaultAction": "SCMP_ACT_ALLOW",
                            "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "six"}}]});
        assert!(render(&kernel.to_string(), &[], &AMD64_6_1)
            .unwrap_err()
            .starts_with("invalid kernel version"));
        assert_eq!(render("{}", &[], &AMD64_6_1).unwrap(), None);
    }

    #[test]
    fn kernel_releases_parse() {
        assert_eq!(Platform::parse_release("6.18.44-fc-v1272"), Some((6, 18)));
        assert_eq!(Platform::parse_release("3.12-1-amd64\n"), Some((3, 12)));
        assert_eq!(Platform::parse_release("junk"), None);
    }
}
