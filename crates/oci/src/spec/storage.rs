//! A container's own mounts in `config.json` (binds, volumes, tmpfs) and
//! its read-only root, as moby's `oci_linux.go` `WithMounts` renders them:
//! a mount of the container's replaces a default at the same destination;
//! with a read-only root the default mounts become read-only too, except
//! the ones Docker keeps writable (`/dev`, `/dev/shm`, `/dev/mqueue`,
//! `/dev/pts`, `/proc`).

use std::path::PathBuf;

use berth_core::container::{Mount as CoreMount, MountKind, Storage};

use super::Mount;

/// Default mounts a read-only root leaves writable.
const WRITABLE_WITH_READONLY_ROOT: [&str; 5] =
    ["/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"];

/// The options Docker gives every tmpfs before the container's own.
const TMPFS_DEFAULTS: [&str; 4] = ["noexec", "nosuid", "nodev", "rprivate"];

/// What the container's mounts ask of its root.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Root {
    pub(super) readonly: bool,
    /// `shared` when a mount propagates both ways, `rslave` when one
    /// receives from the host (moby's `WithMounts`); `None`: runc's default.
    pub(super) propagation: Option<&'static str>,
}

/// Adds `storage`'s mounts after the defaults in `mounts` (replacing any
/// default at the same destination) and says what they ask of the root.
pub(super) fn add_mounts(storage: &Storage, mounts: &mut Vec<Mount>) -> Result<Root, String> {
    mounts.retain(|d| {
        !storage
            .mounts
            .iter()
            .any(|m| m.destination == d.destination)
    });
    if storage.readonly_rootfs {
        for m in mounts.iter_mut() {
            if !WRITABLE_WITH_READONLY_ROOT.contains(&m.destination.as_str())
                && !m.options.iter().any(|o| o == "ro")
            {
                m.options.push("ro".to_owned());
            }
        }
    }
    for m in &storage.mounts {
        mounts.push(render(m)?);
    }
    if !storage.mounts.is_empty() {
        // Parents before children, the defaults' `/etc` files included (a
        // volume on `/etc` must not cover them), as moby sorts its mounts.
        mounts.sort_by_key(|m| m.destination.matches('/').count());
    }
    let asked = |kinds: &[&str]| {
        storage
            .mounts
            .iter()
            .any(|m| kinds.contains(&m.propagation.as_str()))
    };
    let propagation = if asked(&["shared", "rshared"]) {
        Some("shared")
    } else if asked(&["slave", "rslave"]) {
        Some("rslave")
    } else {
        None
    };
    Ok(Root {
        readonly: storage.readonly_rootfs,
        propagation,
    })
}

fn render(m: &CoreMount) -> Result<Mount, String> {
    if !m.destination.starts_with('/') {
        return Err(format!(
            "mount destination {} is not absolute",
            m.destination
        ));
    }
    match m.kind {
        MountKind::Bind | MountKind::Volume => {
            if !m.source.starts_with('/') {
                return Err(format!(
                    "{} source {:?} of {} is not absolute",
                    m.kind.as_str(),
                    m.source,
                    m.destination
                ));
            }
            let propagation = if m.propagation.is_empty() {
                "rprivate"
            } else {
                &m.propagation
            };
            let mut options = vec!["rbind".to_owned(), propagation.to_owned()];
            if m.read_only {
                options.push("ro".to_owned());
            }
            Ok(Mount {
                destination: m.destination.clone(),
                kind: "bind",
                source: PathBuf::from(&m.source),
                options,
            })
        }
        MountKind::Tmpfs => Ok(Mount {
            destination: m.destination.clone(),
            kind: "tmpfs",
            source: PathBuf::from("tmpfs"),
            options: tmpfs_options(&m.tmpfs_options),
        }),
    }
}

/// A flag and its opposite, as moby's `MergeTmpfsOptions` pairs them.
fn opposite(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "exec" => "noexec",
        "noexec" => "exec",
        "suid" => "nosuid",
        "nosuid" => "suid",
        "dev" => "nodev",
        "nodev" => "dev",
        "ro" => "rw",
        "rw" => "ro",
        "atime" => "noatime",
        "noatime" => "atime",
        "diratime" => "nodiratime",
        "nodiratime" => "diratime",
        "sync" => "async",
        "async" => "sync",
        _ => return None,
    })
}

/// Docker's tmpfs defaults merged with the container's options: a later
/// flag replaces its opposite, a later `key=value` the earlier one.
fn tmpfs_options(asked: &str) -> Vec<String> {
    let mut out: Vec<String> = TMPFS_DEFAULTS.iter().map(|o| (*o).to_owned()).collect();
    for option in asked.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some((key, _)) => out.retain(|o| o.split_once('=').is_none_or(|(k, _)| k != key)),
            None => {
                let other = opposite(option);
                out.retain(|o| o != option && Some(o.as_str()) != other);
            }
        }
        out.push(option.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(kind: MountKind, source: &str, destination: &str) -> CoreMount {
        CoreMount {
            kind,
            source: source.to_owned(),
            destination: destination.to_owned(),
            name: String::new(),
            read_only: false,
            mode: String::new(),
            propagation: String::new(),
            tmpfs_options: String::new(),
            copy_up: false,
            create_source: false,
        }
    }

    fn defaults() -> Vec<Mount> {
        vec![
            super::super::mount("/dev/shm", "tmpfs", "shm", &["nosuid", "size=65536k"]),
            super::super::mount("/sys", "sysfs", "sysfs", &["nosuid", "ro"]),
            super::super::bind("/etc/hosts", std::path::Path::new("/x/hosts")),
        ]
    }

    #[test]
    fn binds_and_volumes_are_rbinds() {
        let mut ro = mount(MountKind::Bind, "/srv", "/data");
        ro.read_only = true;
        ro.propagation = "rslave".to_owned();
        let storage = Storage {
            mounts: vec![ro, mount(MountKind::Volume, "/v/x/_data", "/x")],
            ..Storage::default()
        };
        let mut mounts = defaults();
        assert_eq!(
            add_mounts(&storage, &mut mounts).unwrap(),
            Root {
                readonly: false,
                propagation: Some("rslave")
            },
            "a slave mount needs a root that receives"
        );
        let dests: Vec<&str> = mounts.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(dests, ["/sys", "/data", "/x", "/dev/shm", "/etc/hosts"]);
        assert_eq!(mounts[1].kind, "bind");
        assert_eq!(mounts[1].options, ["rbind", "rslave", "ro"]);
        assert_eq!(mounts[2].options, ["rbind", "rprivate"]);
        assert_eq!(mounts[2].source, PathBuf::from("/v/x/_data"));
    }

    #[test]
    fn tmpfs_merges_dockers_defaults() {
        assert_eq!(
            tmpfs_options("size=64m,exec,mode=1777"),
            [
                "nosuid",
                "nodev",
                "rprivate",
                "size=64m",
                "exec",
                "mode=1777"
            ]
        );
        assert_eq!(tmpfs_options(""), TMPFS_DEFAULTS);
    }

    #[test]
    fn a_mount_of_the_container_replaces_a_default() {
        let mut shm = mount(MountKind::Tmpfs, "", "/dev/shm");
        shm.tmpfs_options = "size=1m".to_owned();
        let storage = Storage {
            mounts: vec![shm],
            ..Storage::default()
        };
        let mut mounts = defaults();
        add_mounts(&storage, &mut mounts).unwrap();
        let shm: Vec<_> = mounts
            .iter()
            .filter(|m| m.destination == "/dev/shm")
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0].source, PathBuf::from("tmpfs"));
    }

    #[test]
    fn a_readonly_root_makes_defaults_readonly_but_dev_shm() {
        let storage = Storage {
            readonly_rootfs: true,
            mounts: vec![mount(MountKind::Tmpfs, "", "/run")],
            ..Storage::default()
        };
        let mut mounts = defaults();
        assert!(add_mounts(&storage, &mut mounts).unwrap().readonly);
        let options = |dest: &str| {
            mounts
                .iter()
                .find(|m| m.destination == dest)
                .map(|m| m.options.clone())
                .unwrap()
        };
        assert!(
            !options("/dev/shm").contains(&"ro".to_owned()),
            "/dev/shm stays writable"
        );
        assert_eq!(options("/sys"), ["nosuid", "ro"], "no second ro");
        assert_eq!(options("/etc/hosts"), ["rbind", "rprivate", "ro"]);
        assert!(
            !options("/run").contains(&"ro".to_owned()),
            "the container's tmpfs is writable"
        );
    }

    #[test]
    fn relative_sources_are_refused() {
        let storage = Storage {
            mounts: vec![mount(MountKind::Bind, "rel", "/x")],
            ..Storage::default()
        };
        assert!(add_mounts(&storage, &mut defaults())
            .unwrap_err()
            .contains("not absolute"));
    }
}
