//! The texts of `-v`, `--mount`, `--tmpfs` and `--volumes-from`, read
//! into [`PlannedMount`]s by Docker's rules, with Docker's error texts.

use std::collections::BTreeMap;

use super::{Mount, MountKind, MountRequest, PlannedMount, VolumeNeed, ANONYMOUS_VOLUME_LABEL};
use crate::error::{Error, Result};

/// The mode moby gives a `local` volume mounted by `-v` or `--mount`
/// without one (`setBindModeIfNull`), as inspect shows it.
const LOCAL_VOLUME_MODE: &str = "z";

pub(super) fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidParameter(message.into())
}

fn invalid_spec(spec: &str) -> Error {
    invalid(format!("invalid volume specification: '{spec}'"))
}

const PROPAGATIONS: [&str; 6] = [
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// A `-v` mode (`ro`, `rw,z`, `rslave`…), checked as moby's
/// `ValidMountMode`: at most one of each kind.
struct Mode {
    read_only: bool,
    propagation: String,
    no_copy: bool,
}

fn parse_mode(mode: &str) -> Result<Mode> {
    let bad = || invalid(format!("invalid mode: {mode}"));
    let (mut rw, mut label, mut propagation, mut copy, mut consistency) =
        (None, None, None, None, None);
    for part in mode.split(',') {
        let slot = match part {
            "ro" | "rw" => &mut rw,
            // SELinux relabelling and macOS consistency modes: valid for
            // Docker on Linux, and without effect on a host that has no
            // SELinux (Docker's too).
            "z" | "Z" => &mut label,
            "consistent" | "cached" | "delegated" => &mut consistency,
            "nocopy" | "copy" => &mut copy,
            p if PROPAGATIONS.contains(&p) => &mut propagation,
            // Docker's recursive read-only modes, which berth lacks.
            "rro" | "ro-non-recursive" | "ro-force-recursive" => {
                return Err(invalid(format!(
                    "berth does not support mount mode {part} yet"
                )))
            }
            _ => return Err(bad()),
        };
        if slot.replace(part).is_some() {
            return Err(bad());
        }
    }
    Ok(Mode {
        read_only: rw == Some("ro"),
        propagation: propagation.unwrap_or_default().to_owned(),
        no_copy: copy == Some("nocopy"),
    })
}

/// A mount destination as Docker requires it: absolute, not `/`.
fn check_destination(kind: MountKind, destination: &str) -> Result<()> {
    if !destination.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount config for type \"{}\": invalid mount path: '{destination}' mount path must be absolute",
            kind.as_str()
        )));
    }
    if clean_path(destination) == "/" {
        return Err(invalid("invalid specification: destination can't be '/'"));
    }
    Ok(())
}

/// `/a//b/` as `/a/b`, so destinations compare as the kernel sees them.
fn clean_path(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// A local volume name as Docker's `local` driver accepts it.
pub fn check_volume_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.chars().count() < 2 {
        return Err(invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    if !(first_ok && rest_ok) {
        return Err(invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// One `-v` entry of `HostConfig.Binds` (`SRC:DST[:MODE]`): a bind when
/// `SRC` is absolute, else a named volume.
pub fn parse_bind(spec: &str) -> Result<PlannedMount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(invalid_spec(spec)),
    };
    if source.is_empty() || destination.is_empty() {
        return Err(invalid_spec(spec));
    }
    let parsed = if mode.is_empty() {
        Mode {
            read_only: false,
            propagation: String::new(),
            no_copy: false,
        }
    } else {
        parse_mode(mode)?
    };
    let kind = if source.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    check_destination(kind, destination)
        .map_err(|e| invalid(format!("invalid volume specification: '{spec}': {e}")))?;
    let mut mount = Mount {
        kind,
        source: String::new(),
        destination: clean_path(destination),
        name: String::new(),
        read_only: parsed.read_only,
        mode: mode.to_owned(),
        propagation: String::new(),
        tmpfs_options: String::new(),
        copy_up: false,
        create_source: false,
    };
    if kind == MountKind::Bind {
        if parsed.no_copy {
            return Err(invalid(format!("invalid mode: {mode}")));
        }
        mount.source = clean_path(source);
        mount.propagation = if parsed.propagation.is_empty() {
            "rprivate".to_owned()
        } else {
            parsed.propagation
        };
        mount.create_source = true;
        return Ok(PlannedMount {
            mount,
            volume: None,
        });
    }
    if !parsed.propagation.is_empty() {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    check_volume_name(source)?;
    mount.copy_up = !parsed.no_copy;
    if mount.mode.is_empty() {
        mount.mode = LOCAL_VOLUME_MODE.to_owned();
    }
    Ok(PlannedMount {
        mount,
        volume: Some(VolumeNeed {
            name: Some(source.to_owned()),
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
        }),
    })
}

/// An anonymous volume at `destination` (`-v /path`, `Config.Volumes`).
pub(super) fn anonymous_volume(destination: &str) -> Result<PlannedMount> {
    check_destination(MountKind::Volume, destination)?;
    Ok(PlannedMount {
        mount: Mount {
            kind: MountKind::Volume,
            source: String::new(),
            destination: clean_path(destination),
            name: String::new(),
            read_only: false,
            mode: String::new(),
            propagation: String::new(),
            tmpfs_options: String::new(),
            copy_up: true,
            create_source: false,
        },
        volume: Some(VolumeNeed {
            name: None,
            labels: BTreeMap::from([(ANONYMOUS_VOLUME_LABEL.to_owned(), String::new())]),
            options: BTreeMap::new(),
        }),
    })
}

/// One `--mount`, with moby's `validateMountConfig` texts. `bind_exists`
/// says whether a host path exists (a missing bind source is an error
/// here, unlike for `-v`).
pub fn parse_mount_request(
    m: &MountRequest,
    bind_exists: &dyn Fn(&str) -> bool,
) -> Result<PlannedMount> {
    let kind = m.kind;
    let config_error = |what: String| {
        invalid(format!(
            "invalid mount config for type \"{}\": {what}",
            kind.as_str()
        ))
    };
    if m.target.is_empty() {
        return Err(config_error("field Target must not be empty".to_owned()));
    }
    check_destination(kind, &m.target)?;
    let volume_set = m.no_copy
        || !m.volume_labels.is_empty()
        || !m.volume_driver.is_empty()
        || !m.volume_options.is_empty();
    let tmpfs_set = m.tmpfs_size != 0 || m.tmpfs_mode != 0;
    let mut mount = Mount {
        kind,
        source: String::new(),
        destination: clean_path(&m.target),
        name: String::new(),
        read_only: m.read_only,
        mode: String::new(),
        propagation: String::new(),
        tmpfs_options: String::new(),
        copy_up: false,
        create_source: false,
    };
    if kind != MountKind::Bind && !m.propagation.is_empty() {
        return Err(config_error(
            "field BindOptions must not be specified".to_owned(),
        ));
    }
    if kind != MountKind::Volume && volume_set {
        return Err(config_error(
            "field VolumeOptions must not be specified".to_owned(),
        ));
    }
    if kind != MountKind::Tmpfs && tmpfs_set {
        return Err(config_error(
            "field TmpfsOptions must not be specified".to_owned(),
        ));
    }
    match kind {
        MountKind::Bind => {
            if m.source.is_empty() {
                return Err(config_error("field Source must not be empty".to_owned()));
            }
            if !m.source.starts_with('/') {
                return Err(config_error(format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            if !bind_exists(&m.source) {
                return Err(config_error(format!(
                    "bind source path does not exist: {}",
                    m.source
                )));
            }
            if !m.propagation.is_empty() && !PROPAGATIONS.contains(&m.propagation.as_str()) {
                return Err(config_error(format!(
                    "invalid propagation mode: {}",
                    m.propagation
                )));
            }
            mount.source = clean_path(&m.source);
            mount.propagation = if m.propagation.is_empty() {
                "rprivate".to_owned()
            } else {
                m.propagation.clone()
            };
            Ok(PlannedMount {
                mount,
                volume: None,
            })
        }
        MountKind::Volume => {
            if !m.volume_driver.is_empty() && m.volume_driver != "local" {
                return Err(invalid(format!(
                    "berth does not support volume driver {} yet",
                    m.volume_driver
                )));
            }
            check_local_options(&m.volume_options)?;
            let mut labels = m.volume_labels.clone();
            let name = if m.source.is_empty() {
                labels.insert(ANONYMOUS_VOLUME_LABEL.to_owned(), String::new());
                None
            } else {
                check_volume_name(&m.source)?;
                Some(m.source.clone())
            };
            mount.copy_up = !m.no_copy;
            mount.mode = LOCAL_VOLUME_MODE.to_owned();
            Ok(PlannedMount {
                mount,
                volume: Some(VolumeNeed {
                    name,
                    labels,
                    options: m.volume_options.clone(),
                }),
            })
        }
        MountKind::Tmpfs => {
            if !m.source.is_empty() {
                return Err(config_error(
                    "field Source must not be specified".to_owned(),
                ));
            }
            if m.tmpfs_size < 0 {
                return Err(config_error(format!(
                    "invalid tmpfs size: {}",
                    m.tmpfs_size
                )));
            }
            // moby's `ConvertTmpfsOptions`, in its order.
            let mut options = Vec::new();
            if m.read_only {
                options.push("ro".to_owned());
            }
            if m.tmpfs_mode != 0 {
                options.push(format!("mode={:o}", m.tmpfs_mode));
            }
            if m.tmpfs_size > 0 {
                options.push(format!("size={}", tmpfs_size_text(m.tmpfs_size)));
            }
            mount.tmpfs_options = options.join(",");
            Ok(PlannedMount {
                mount,
                volume: None,
            })
        }
    }
}

/// moby's `ConvertTmpfsOptions`: the size in the largest unit that
/// divides it.
fn tmpfs_size_text(bytes: i64) -> String {
    for (unit, suffix) in [(1 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")] {
        if bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// A `--tmpfs DEST[:OPTS]` entry; its destination is checked as moby's
/// `ValidateTmpfsMountDestination` does, in its words.
pub(super) fn tmpfs_mount(destination: &str, options: &str) -> Result<PlannedMount> {
    if !destination.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount path: '{destination}' mount path must be absolute"
        )));
    }
    check_destination(MountKind::Tmpfs, destination)?;
    Ok(PlannedMount {
        mount: Mount {
            kind: MountKind::Tmpfs,
            source: String::new(),
            destination: clean_path(destination),
            name: String::new(),
            read_only: options.split(',').any(|o| o == "ro"),
            mode: String::new(),
            propagation: String::new(),
            tmpfs_options: options.to_owned(),
            copy_up: false,
            create_source: false,
        },
        volume: None,
    })
}

/// The `local` driver's options (moby `volume/local`): `type`, `device`
/// and `o`, a device needing a type and the other way round.
pub fn check_local_options(options: &BTreeMap<String, String>) -> Result<()> {
    if let Some(key) = options
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "device" | "o"))
    {
        return Err(invalid(format!("invalid option: \"{key}\"")));
    }
    let has = |k: &str| options.get(k).is_some_and(|v| !v.is_empty());
    if has("type") && !has("device") {
        return Err(invalid("missing required option: \"device\""));
    }
    if has("device") && !has("type") {
        return Err(invalid("missing required option: \"type\""));
    }
    if has("o") && !has("type") {
        return Err(invalid("missing required option: \"type\""));
    }
    Ok(())
}

/// `C[:MODE]` of `--volumes-from` (moby's `ParseVolumesFrom`): the
/// container and whether its mounts become read-only (`ro`); without
/// `ro` they stay as the source has them. Propagation and copy modes are
/// refused.
pub fn parse_volumes_from(spec: &str) -> Result<(&str, bool)> {
    if spec.is_empty() {
        return Err(invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let Some((container, mode)) = spec.split_once(':') else {
        return Ok((spec, false));
    };
    if mode.is_empty() {
        return Ok((container, false));
    }
    let parsed = parse_mode(mode)?;
    let copy_mode = mode.split(',').any(|m| m == "copy" || m == "nocopy");
    if !parsed.propagation.is_empty() || copy_mode {
        return Err(invalid(format!("invalid mode: {mode}")));
    }
    Ok((container, parsed.read_only))
}
