//! `docker diff` from the overlay's upper directory (moby
//! `pkg/archive/changes.go` with `overlayDeletedFile`), and the sizes of
//! `ps -s` (moby `pkg/directory.Size`).

use std::collections::{HashSet, VecDeque};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::{ArchiveError, ArchiveResult};

/// Docker's change kinds, numbered as the API sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute in the container.
    pub path: String,
    pub kind: ChangeKind,
}

/// The changes `upper` makes over `lower`, sorted by path: a whiteout (a
/// 0:0 character device) or an opaque directory is a deletion, a path the
/// lower layer lacks an addition, anything else a modification, except
/// directories the lower layer has with the same mode, size and time. The
/// parent of an addition or deletion is modified. `skip` lists paths (and
/// what is under them) runc makes as mount points, which Docker's init
/// layer hides.
pub fn changes(upper: &Path, lower: &Path, skip: &[&str]) -> ArchiveResult<Vec<Change>> {
    let mut out = Vec::new();
    let mut changed_dirs: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<String> = VecDeque::from([String::new()]);
    while let Some(dir) = queue.pop_front() {
        let host_dir = upper.join(dir.trim_start_matches('/'));
        let mut names: Vec<_> = fs::read_dir(&host_dir)
            .map_err(ArchiveError::io("read directory", &host_dir))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            let path = format!("{dir}/{}", name.to_string_lossy());
            if skip
                .iter()
                .any(|s| path == *s || path.starts_with(&format!("{s}/")))
            {
                continue;
            }
            let host = upper.join(path.trim_start_matches('/'));
            let md = fs::symlink_metadata(&host).map_err(ArchiveError::io("stat", &host))?;
            let kind = if is_whiteout(&md) || (md.is_dir() && is_opaque(&host)) {
                Some(ChangeKind::Deleted)
            } else {
                match fs::symlink_metadata(lower.join(path.trim_start_matches('/'))) {
                    Err(_) => Some(ChangeKind::Added),
                    Ok(l) if l.is_dir() && md.is_dir() && same_dir(&l, &md) => None,
                    Ok(_) => Some(ChangeKind::Modified),
                }
            };
            if md.is_dir() {
                changed_dirs.insert(path.clone());
                queue.push_back(path.clone());
            }
            let Some(kind) = kind else { continue };
            if matches!(kind, ChangeKind::Added | ChangeKind::Deleted)
                && !dir.is_empty()
                && changed_dirs.insert(dir.clone())
            {
                out.push(Change {
                    path: dir.clone(),
                    kind: ChangeKind::Modified,
                });
            }
            out.push(Change { path, kind });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup();
    // A directory holding a skipped path changed because runc made the
    // path: not a change of its own unless something reported is under it.
    let reported: Vec<String> = out.iter().map(|c| c.path.clone()).collect();
    out.retain(|c| {
        let prefix = format!("{}/", c.path);
        let holds_skipped = skip.iter().any(|s| s.starts_with(&prefix));
        let holds_reported = reported.iter().any(|p| p.starts_with(&prefix));
        c.kind != ChangeKind::Modified || !holds_skipped || holds_reported
    });
    Ok(out)
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn same_dir(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.size() == b.size()
        && a.mode() == b.mode()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
}

/// overlayfs marks a directory that hides the lower one's content with
/// `trusted.overlay.opaque=y`.
fn is_opaque(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut value = [0u8; 2];
    // SAFETY: both strings are NUL-terminated and `value` is writable for
    // the length passed.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

/// The bytes of everything under `dir` but directories, each inode once
/// (moby's `directory.Size`). A missing `dir` is 0.
pub fn dir_size(dir: &Path) -> ArchiveResult<u64> {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ArchiveError::io("read directory", &d)(e)),
        };
        for entry in entries.flatten() {
            let Ok(md) = entry.metadata() else { continue };
            if md.is_dir() {
                stack.push(entry.path());
            } else if md.nlink() <= 1 || seen.insert(md.ino()) {
                total += md.size();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};

    use super::*;

    fn kinds(v: &[Change]) -> Vec<(String, ChangeKind)> {
        v.iter().map(|c| (c.path.clone(), c.kind)).collect()
    }

    #[test]
    fn adds_modifications_and_whiteouts() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        for d in ["etc", "bin", "tmp"] {
            fs::create_dir_all(lower.join(d)).unwrap();
            fs::create_dir_all(upper.join(d)).unwrap();
        }
        fs::write(lower.join("etc/passwd"), b"root").unwrap();
        fs::write(lower.join("bin/ls"), b"ls").unwrap();
        fs::write(upper.join("etc/passwd"), b"root2").unwrap();
        fs::write(upper.join("tmp/new"), b"n").unwrap();
        fs::write(upper.join("hosts"), b"").unwrap();
        // runc's mount point alone does not make /dev a change.
        fs::create_dir_all(lower.join("dev")).unwrap();
        fs::create_dir_all(upper.join("dev")).unwrap();
        fs::write(upper.join("dev/console"), b"").unwrap();
        let whiteout = upper.join("bin/ls");
        let is_root = nix::unistd::geteuid().is_root();
        if is_root {
            mknod(&whiteout, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).unwrap();
        }
        // The lower directories are older than the upper ones.
        let epoch = nix::sys::time::TimeSpec::new(0, 0);
        for d in ["etc", "bin", "tmp", "dev"] {
            nix::sys::stat::utimensat(
                nix::fcntl::AT_FDCWD,
                &lower.join(d),
                &epoch,
                &epoch,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            )
            .unwrap();
        }
        let got = kinds(&changes(&upper, &lower, &["/hosts", "/dev/console"]).unwrap());
        let mut want = vec![
            ("/etc".to_owned(), ChangeKind::Modified),
            ("/etc/passwd".to_owned(), ChangeKind::Modified),
            ("/tmp".to_owned(), ChangeKind::Modified),
            ("/tmp/new".to_owned(), ChangeKind::Added),
        ];
        if is_root {
            want.insert(0, ("/bin".to_owned(), ChangeKind::Modified));
            want.insert(1, ("/bin/ls".to_owned(), ChangeKind::Deleted));
        }
        // /etc and /tmp differ from the lower ones (mtimes): modified.
        assert_eq!(got, want);
    }

    #[test]
    fn sizes_count_files_once() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("d")).unwrap();
        fs::write(tmp.path().join("d/a"), b"12345").unwrap();
        fs::hard_link(tmp.path().join("d/a"), tmp.path().join("b")).unwrap();
        fs::write(tmp.path().join("c"), b"xy").unwrap();
        assert_eq!(dir_size(tmp.path()).unwrap(), 7);
        assert_eq!(dir_size(&tmp.path().join("missing")).unwrap(), 0);
    }
}
