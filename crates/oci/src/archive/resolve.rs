//! Paths inside a container, resolved as if chrooted (moby's
//! `FollowSymlinkInScope` and `container.ResolvePath`).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::{ArchiveError, ArchiveResult};

/// How many symlinks one resolution follows before it gives up, as Linux.
const MAX_LINKS: usize = 255;

/// A client's path, cleaned as dockerd does (`filepath.Join("/", path)`),
/// remembering a trailing `/` or `/.`, which make the path mean the
/// directory it names (symlink followed) rather than the entry itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath {
    /// As the client sent it, for error messages.
    pub raw: String,
    /// Absolute and clean: `/`, `/etc/hosts`.
    pub clean: String,
    pub trailing: Trailing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailing {
    None,
    /// `/etc/`.
    Separator,
    /// `/etc/.`: the directory's content, not the directory.
    Dot,
}

impl RequestPath {
    /// The name the entry gets in a stat or at the top of an archive:
    /// `filepath.Base` of the path as dockerd keeps it.
    pub fn base_name(&self) -> String {
        if self.trailing == Trailing::Dot {
            return ".".to_owned();
        }
        match self.clean.rsplit('/').next() {
            Some("") | None => "/".to_owned(),
            Some(base) => base.to_owned(),
        }
    }

    /// Where the entry is in `root`: the parent resolved in scope, then
    /// the last component as it is (not followed, so a symlink is the link
    /// itself), unless a trailing `/` or `/.` asks for what it points to.
    pub fn locate(&self, root: &Path) -> ArchiveResult<PathBuf> {
        match (self.trailing, self.clean.rsplit_once('/')) {
            (Trailing::None, Some((parent, base))) if !base.is_empty() => {
                Ok(resolve_in_root(root, parent)?.join(base))
            }
            _ => resolve_in_root(root, &self.clean),
        }
    }
}

/// Cleans a client's path (`?path=`): empty is dockerd's 400.
pub fn split_request_path(raw: &str) -> ArchiveResult<RequestPath> {
    if raw.is_empty() {
        return Err(ArchiveError::Invalid(
            "bad parameter: path cannot be empty".to_owned(),
        ));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let trailing = if raw.ends_with("/.") {
        Trailing::Dot
    } else if raw.ends_with('/') && !parts.is_empty() {
        Trailing::Separator
    } else {
        Trailing::None
    };
    Ok(RequestPath {
        raw: raw.to_owned(),
        clean: format!("/{}", parts.join("/")),
        trailing,
    })
}

/// `path` (in the container) as a path on the host under `root`, every
/// symlink on the way followed inside `root`: `..` stops at the root and an
/// absolute target starts again from it. Components that do not exist are
/// kept as they are. The result is `root` joined with a clean relative
/// path, whatever the links say.
pub fn resolve_in_root(root: &Path, path: &str) -> ArchiveResult<PathBuf> {
    let mut pending: VecDeque<OsString> = components(Path::new(path)).collect();
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let host = root.join(&candidate);
        match std::fs::symlink_metadata(&host) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ArchiveError::io("resolve", &host)(
                        io::Error::from_raw_os_error(libc::ELOOP),
                    ));
                }
                let target =
                    std::fs::read_link(&host).map_err(ArchiveError::io("read link", &host))?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for (i, c) in components(&target).enumerate() {
                    pending.insert(i, c);
                }
            }
            Ok(_) => resolved = candidate,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                resolved = candidate
            }
            Err(e) => return Err(ArchiveError::io("look up", &host)(e)),
        }
    }
    Ok(root.join(resolved))
}

/// The names and `..`s of a path, without `/` and `.`.
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn dotdot_and_absolute_links_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("data/real")).unwrap();
        symlink("/", root.join("up")).unwrap();
        symlink("../../../../..", root.join("data/climb")).unwrap();
        symlink("/etc", root.join("data/abs")).unwrap();
        symlink("real", root.join("data/rel")).unwrap();
        symlink("loop", root.join("loop")).unwrap();

        let r = |p: &str| resolve_in_root(&root, p).unwrap();
        assert_eq!(r("/../../etc"), root.join("etc"));
        assert_eq!(r("/up/etc/passwd"), root.join("etc/passwd"));
        assert_eq!(r("/data/climb/etc"), root.join("etc"));
        assert_eq!(r("/data/abs/hosts"), root.join("etc/hosts"));
        assert_eq!(r("/data/rel/x"), root.join("data/real/x"));
        assert_eq!(r("/missing/../etc"), root.join("etc"));
        let e = resolve_in_root(&root, "/loop").unwrap_err().to_string();
        assert!(e.contains("resolve"), "{e}");
    }

    #[test]
    fn the_last_component_is_the_entry_itself_unless_a_slash_follows() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("real")).unwrap();
        symlink("/real", root.join("link")).unwrap();
        let p = split_request_path("link").unwrap();
        assert_eq!(p.clean, "/link");
        assert_eq!(p.locate(root).unwrap(), root.join("link"));
        assert_eq!(p.base_name(), "link");
        let p = split_request_path("/link/").unwrap();
        assert_eq!(p.trailing, Trailing::Separator);
        assert_eq!(p.locate(root).unwrap(), root.join("real"));
        assert_eq!(p.base_name(), "link");
        let p = split_request_path("/link/.").unwrap();
        assert_eq!(p.trailing, Trailing::Dot);
        assert_eq!(p.locate(root).unwrap(), root.join("real"));
        assert_eq!(p.base_name(), ".");
        let p = split_request_path("/../..").unwrap();
        assert_eq!((p.clean.as_str(), p.base_name().as_str()), ("/", "/"));
        assert_eq!(p.locate(root).unwrap(), root.to_path_buf());
        assert!(matches!(
            split_request_path(""),
            Err(ArchiveError::Invalid(_))
        ));
    }
}
