//! Small file-system helpers shared by the image store, the runtime and
//! the shim.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `data` to `path` so that readers see either the old or the new
/// content, never a torn one, even if we die halfway: temp file in the
/// same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(Error::io("create", &tmp))?;
        f.write_all(data).map_err(Error::io("write", &tmp))?;
        f.sync_all().map_err(Error::io("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(Error::io("rename into place", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}

pub(crate) fn create_dir_all(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(Error::io("create directory", path))
}

/// Removes a directory tree; a missing one is fine (removal is idempotent).
pub(crate) fn remove_dir_all_if_exists(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            what: "remove directory",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

pub(crate) fn remove_file_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            what: "remove",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Makes `dst` (an existing empty directory) a tree like `src`: its
/// directories made anew with their modes, owners and times, everything
/// else hard-linked (a child image's rootfs from its parent's, without
/// copying file data). Layer extraction replaces a file rather than writing
/// into it, so the parent's files are never changed through the links. A
/// file at the file system's link limit is copied.
pub(crate) fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt};

    let mut dirs = Vec::new();
    let mut stack = vec![(src.to_path_buf(), dst.to_path_buf())];
    while let Some((from, to)) = stack.pop() {
        for entry in fs::read_dir(&from).map_err(Error::io("list", &from))? {
            let entry = entry.map_err(Error::io("list", &from))?;
            let (source, target) = (entry.path(), to.join(entry.file_name()));
            let md = fs::symlink_metadata(&source).map_err(Error::io("stat", &source))?;
            if md.is_dir() {
                fs::create_dir(&target).map_err(Error::io("create directory", &target))?;
                stack.push((source, target.clone()));
                dirs.push((target, md));
                continue;
            }
            match fs::hard_link(&source, &target) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EMLINK) && md.is_file() => {
                    fs::copy(&source, &target).map_err(Error::io("copy", &source))?;
                    lchown(&target, Some(md.uid()), Some(md.gid()))
                        .map_err(Error::io("chown", &target))?;
                }
                Err(e) => return Err(Error::io("link", &target)(e)),
            }
        }
    }
    // Children first, so making them does not move a parent's time.
    for (dir, md) in dirs.iter().rev().chain(std::iter::once(&(
        dst.to_path_buf(),
        fs::symlink_metadata(src).map_err(Error::io("stat", src))?,
    ))) {
        lchown(dir, Some(md.uid()), Some(md.gid())).map_err(Error::io("chown", dir))?;
        fs::set_permissions(dir, md.permissions()).map_err(Error::io("chmod", dir))?;
        let time = |s, ns| nix::sys::time::TimeSpec::new(s, ns);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            dir,
            &time(md.atime(), md.atime_nsec()),
            &time(md.mtime(), md.mtime_nsec()),
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| Error::io("set times of", dir)(e.into()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
