//! What a container's process runs as and with, from the image and the
//! container's settings: the user and groups (`--user`, `--group-add`),
//! the environment, and the `/etc` files bind-mounted over the image's.

use std::path::Path;

use berth_core::ports::EtcFiles as CoreEtcFiles;

use crate::error::{Error, Result};
use crate::spec::{EtcFiles, User};

/// Docker's `--user` (libcontainer's `GetExecUser`) with `--group-add`
/// (`GetAdditionalGroups`), read from the image's `/etc/passwd` and
/// `/etc/group`: `user[:group]`, each a name or a number. A user found in
/// passwd (by name or uid) gets its primary group and, unless a group is
/// given, the groups listing it as a member; a number that is nobody's is
/// taken as is (with group 0). The supplementary groups start with the
/// primary one, as Docker's do.
pub fn resolve_user(user: &str, group_add: &[String], image_rootfs: &Path) -> Result<User> {
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let invalid = |reason: String| Error::InvalidSpec {
        id: user.to_owned(),
        reason,
    };
    let passwd = image_table(image_rootfs, "passwd");
    let group = image_table(image_rootfs, "group");
    let number = |field: Option<&String>| field.and_then(|f| f.parse::<u32>().ok());
    let uid_arg = u.parse::<u32>().ok();
    let found = passwd.iter().find(|e| match uid_arg {
        _ if u.is_empty() => number(e.get(2)) == Some(0),
        Some(uid) => number(e.get(2)) == Some(uid),
        None => e.first().map(String::as_str) == Some(u),
    });
    let (uid, mut gid, name) = match found {
        Some(e) => (
            number(e.get(2)).unwrap_or(0),
            number(e.get(3)).unwrap_or(0),
            e.first().cloned(),
        ),
        None if u.is_empty() => (0, 0, None),
        None => match uid_arg {
            Some(uid) => (uid, 0, None),
            // Root needs no passwd entry (an image without one runs as root).
            None if u == "root" => (0, 0, None),
            None => {
                return Err(invalid(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                )))
            }
        },
    };
    let group_name = |e: &Vec<String>| e.first().cloned().unwrap_or_default();
    let group_gid = |e: &Vec<String>| number(e.get(2));
    let mut additional = Vec::new();
    if !g.is_empty() {
        let gid_arg = g.parse::<u32>().ok();
        let found = group.iter().find(|e| match gid_arg {
            Some(n) => group_gid(e) == Some(n),
            None => group_name(e) == g,
        });
        gid = match (found.and_then(group_gid), gid_arg) {
            (Some(found), _) => found,
            (None, Some(n)) => n,
            (None, None) if g == "root" => 0,
            (None, None) => {
                return Err(invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                )))
            }
        };
    } else if let Some(name) = &name {
        additional.extend(
            group
                .iter()
                .filter(|e| e.get(3).is_some_and(|m| m.split(',').any(|m| m == name)))
                .filter_map(group_gid),
        );
    }
    let mut added = Vec::new();
    for wanted in group_add {
        let found = group
            .iter()
            .find(|e| {
                group_name(e) == *wanted
                    || group_gid(e).map(|n| n.to_string()).as_ref() == Some(wanted)
            })
            .and_then(group_gid);
        match found.or_else(|| wanted.parse().ok()) {
            Some(n) => added.push(n),
            None => {
                return Err(invalid(format!(
                    "Unable to find group {wanted}: no matching entries in group file"
                )))
            }
        }
    }
    added.sort_unstable();
    added.dedup();
    let mut additional_gids = vec![gid];
    additional_gids.extend(additional);
    additional_gids.extend(added);
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

/// The lines of the image's `/etc/<file>`, split at `:`; empty if it has
/// none. The image is berth's own unpacked copy, but a link in it could
/// point anywhere on the host: none is followed.
fn image_table(image_rootfs: &Path, file: &str) -> Vec<Vec<String>> {
    let mut path = image_rootfs.to_path_buf();
    for part in ["etc", file] {
        path.push(part);
        match path.symlink_metadata() {
            Ok(meta) if !meta.file_type().is_symlink() => {}
            _ => return Vec::new(),
        }
    }
    std::fs::read_to_string(&path)
        .map(|text| {
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(|line| line.split(':').map(str::to_owned).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// The environment Docker gives a process: the container's, plus
/// HOSTNAME and (with a terminal) TERM unless set. A bare `KEY` (what
/// the docker CLI sends for `-e KEY` when KEY is unset on the client)
/// unsets KEY, as in Docker.
pub fn process_env(env: &[String], hostname: &str, tty: bool) -> Vec<String> {
    let mut out: Vec<String> = env.iter().filter(|e| e.contains('=')).cloned().collect();
    let has = |key: &str| env.iter().any(|e| e.split('=').next() == Some(key));
    if !hostname.is_empty() && !has("HOSTNAME") {
        out.push(format!("HOSTNAME={hostname}"));
    }
    if tty && !has("TERM") {
        out.push("TERM=xterm".to_owned());
    }
    out
}

pub(super) fn write_etc(dir: &Path, files: &CoreEtcFiles) -> Result<EtcFiles> {
    std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
    let mut paths = EtcFiles::default();
    for (name, text, slot) in [
        ("hosts", &files.hosts, &mut paths.hosts),
        ("resolv.conf", &files.resolv_conf, &mut paths.resolv_conf),
        ("hostname", &files.hostname, &mut paths.hostname),
    ] {
        let path = dir.join(name);
        // In place, not by rename: a running container has the file
        // bind-mounted, and a bind mount keeps the inode it was made with.
        std::fs::write(&path, text.as_bytes()).map_err(Error::io("write", &path))?;
        *slot = Some(path);
    }
    Ok(paths)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, gid: u32, additional_gids: &[u32]) -> User {
        User {
            uid,
            gid,
            additional_gids: additional_gids.to_vec(),
        }
    }

    #[test]
    fn users_as_docker_reads_them_without_passwd() {
        let none = tempfile::tempdir().unwrap();
        let resolve = |u: &str| resolve_user(u, &[], none.path());
        assert_eq!(resolve("").unwrap(), user(0, 0, &[0]));
        assert_eq!(resolve("root").unwrap(), user(0, 0, &[0]));
        // A uid that is nobody's keeps group 0, as in Docker.
        assert_eq!(resolve("1000").unwrap(), user(1000, 0, &[0]));
        assert_eq!(resolve("1000:50").unwrap(), user(1000, 50, &[50]));
        assert!(resolve("alice")
            .unwrap_err()
            .to_string()
            .contains("unable to find user alice"));
    }

    #[test]
    fn user_and_group_names_come_from_the_image() {
        let rootfs = tempfile::tempdir().unwrap();
        let etc = rootfs.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65533:nobody:/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("group"),
            "root:x:0:\nwheel:x:10:root,nobody\nstaff:x:50:\naudio:x:29:nobody\n",
        )
        .unwrap();
        let resolve = |u: &str| resolve_user(u, &[], rootfs.path());
        // Members of groups get them, primary first (Docker's `id`).
        assert_eq!(resolve("").unwrap(), user(0, 0, &[0, 10]));
        assert_eq!(
            resolve("nobody").unwrap(),
            user(65534, 65533, &[65533, 10, 29])
        );
        // By uid too, since passwd names it.
        assert_eq!(
            resolve("65534").unwrap(),
            user(65534, 65533, &[65533, 10, 29])
        );
        // An explicit group: no supplementary groups.
        assert_eq!(resolve("nobody:staff").unwrap(), user(65534, 50, &[50]));
        assert_eq!(resolve("1000:staff").unwrap(), user(1000, 50, &[50]));
        assert_eq!(resolve("nobody:7").unwrap(), user(65534, 7, &[7]));
        assert!(resolve("alice")
            .unwrap_err()
            .to_string()
            .contains("unable to find user alice: no matching entries in passwd file"));
        assert!(resolve("nobody:wheel2")
            .unwrap_err()
            .to_string()
            .contains("unable to find group wheel2"));

        // --group-add: names or numbers, known or not, after the user's own.
        let added = |u: &str, groups: &[&str]| {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            resolve_user(u, &groups, rootfs.path())
        };
        assert_eq!(
            added("1000:1000", &["staff", "4242", "10"]).unwrap(),
            user(1000, 1000, &[1000, 10, 50, 4242])
        );
        assert!(added("", &["nosuch"])
            .unwrap_err()
            .to_string()
            .contains("Unable to find group nosuch: no matching entries in group file"));

        // A link is not followed, even to a real passwd file.
        let linked = tempfile::tempdir().unwrap();
        std::fs::create_dir(linked.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(etc.join("passwd"), linked.path().join("etc/passwd")).unwrap();
        assert!(resolve_user("nobody", &[], linked.path()).is_err());
        assert_eq!(
            resolve_user("root", &[], linked.path()).unwrap(),
            user(0, 0, &[0])
        );
    }

    #[test]
    fn env_gets_hostname_and_term() {
        let env = process_env(&["PATH=/bin".to_owned()], "abc", true);
        assert_eq!(env, vec!["PATH=/bin", "HOSTNAME=abc", "TERM=xterm"]);
        let env = process_env(&["TERM=dumb".to_owned()], "", true);
        assert_eq!(env, vec!["TERM=dumb"]);
    }

    #[test]
    fn a_bare_key_unsets_it() {
        let env = ["PATH=/bin", "UNSET", "HOSTNAME"].map(str::to_owned);
        assert_eq!(process_env(&env, "abc", false), vec!["PATH=/bin"]);
    }
}
