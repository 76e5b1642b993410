//! `docker cp` and `docker export`: stat, archive and extract inside a
//! container's root (moby `daemon/archive.go`, `pkg/archive`).

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use tar::{Archive, Builder, EntryType};

use super::resolve::{resolve_in_root, RequestPath};
use super::{ArchiveError, ArchiveResult};

/// dockerd's `container.PathStat`: what `HEAD /archive` sends in
/// `X-Docker-Container-Path-Stat`. `mode` is Go's `os.FileMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    /// RFC 3339 with nanoseconds, UTC.
    pub mtime: String,
    /// For a symlink: where it leads, resolved in the container, absolute.
    pub link_target: String,
}

/// Go's `os.FileMode` bits (`io/fs`).
mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
}

/// `st_mode` as Go's `os.FileMode`.
pub(crate) fn go_file_mode(md: &fs::Metadata) -> u32 {
    let mode = md.mode();
    let ft = md.file_type();
    let mut m = mode & 0o777;
    for (bit, go) in [
        (libc::S_ISUID, go_mode::SETUID),
        (libc::S_ISGID, go_mode::SETGID),
        (libc::S_ISVTX, go_mode::STICKY),
    ] {
        if mode & bit != 0 {
            m |= go;
        }
    }
    if ft.is_dir() {
        m |= go_mode::DIR;
    } else if ft.is_symlink() {
        m |= go_mode::SYMLINK;
    } else if ft.is_fifo() {
        m |= go_mode::NAMED_PIPE;
    } else if ft.is_socket() {
        m |= go_mode::SOCKET;
    } else if ft.is_char_device() {
        m |= go_mode::DEVICE | go_mode::CHAR_DEVICE;
    } else if ft.is_block_device() {
        m |= go_mode::DEVICE;
    }
    m
}

fn not_found(path: &RequestPath, container: &str) -> ArchiveError {
    ArchiveError::NotFound {
        path: path.raw.clone(),
        container: container.to_owned(),
    }
}

/// Stats `path` in `root` (the last component not followed); returns
/// where it is on the host with the stat. Missing is dockerd's 404.
pub fn stat(
    root: &Path,
    path: &RequestPath,
    container: &str,
) -> ArchiveResult<(PathBuf, PathStat)> {
    let host = path.locate(root)?;
    let md = match fs::symlink_metadata(&host) {
        Ok(md) => md,
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Err(not_found(path, container))
        }
        Err(e) => return Err(ArchiveError::io("stat", &host)(e)),
    };
    let link_target = if md.file_type().is_symlink() {
        let target = resolve_in_root(root, &path.clean)?;
        let inside = target.strip_prefix(root).unwrap_or(Path::new(""));
        format!("/{}", inside.display())
    } else {
        String::new()
    };
    let mtime = UNIX_EPOCH
        + Duration::new(
            u64::try_from(md.mtime()).unwrap_or(0),
            u32::try_from(md.mtime_nsec()).unwrap_or(0),
        );
    let stat = PathStat {
        name: path.base_name(),
        size: i64::try_from(md.size()).unwrap_or(i64::MAX),
        mode: go_file_mode(&md),
        mtime: crate::time::format_rfc3339_nano(mtime),
        link_target,
    };
    Ok((host, stat))
}

/// Writes a tar of `host` (the entry itself, and under a directory
/// everything in it) to `out`, the top entry named `name` (`.` for a
/// directory's content). Symlinks are archived as links, sockets skipped
/// (as Go's archive/tar cannot hold them).
pub fn write_archive(host: &Path, name: &str, out: impl Write) -> ArchiveResult<()> {
    let mut b = Builder::new(out);
    b.follow_symlinks(false);
    append_tree(&mut b, host, Path::new(name), None)?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ArchiveError::io("finish the archive of", host))
}

/// `docker export`: the whole tree under `root`, names relative to it.
/// Directories on another file system than the root (`/proc`, `/sys`,
/// `/dev`, volumes) are archived empty: the container's own files only.
pub fn export(root: &Path, out: impl Write) -> ArchiveResult<()> {
    let mut b = Builder::new(out);
    b.follow_symlinks(false);
    let root_dev = fs::metadata(root)
        .map_err(ArchiveError::io("stat", root))?
        .dev();
    for name in sorted_children(root)? {
        append_tree(&mut b, &root.join(&name), Path::new(&name), Some(root_dev))?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ArchiveError::io("finish the archive of", root))
}

fn sorted_children(dir: &Path) -> ArchiveResult<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(ArchiveError::io("read directory", dir))? {
        names.push(
            entry
                .map_err(ArchiveError::io("read directory", dir))?
                .file_name(),
        );
    }
    names.sort();
    Ok(names)
}

/// One entry and, for a directory, its content (unless it is on another
/// device than `same_dev`).
fn append_tree<W: Write>(
    b: &mut Builder<W>,
    host: &Path,
    name: &Path,
    same_dev: Option<u64>,
) -> ArchiveResult<()> {
    let md = match fs::symlink_metadata(host) {
        Ok(md) => md,
        // Gone since it was listed (a running container's files move).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ArchiveError::io("stat", host)(e)),
    };
    let ft = md.file_type();
    if ft.is_socket() {
        return Ok(());
    }
    if name.starts_with(".") {
        append_dot_named(b, host, &md, name)
    } else {
        b.append_path_with_name(host, name)
    }
    .map_err(ArchiveError::io("archive", host))?;
    if !ft.is_dir() || same_dev.is_some_and(|dev| dev != md.dev()) {
        return Ok(());
    }
    for child in sorted_children(host)? {
        append_tree(b, &host.join(&child), &name.join(&child), same_dev)?;
    }
    Ok(())
}

/// Appends `host` named `./…` as dockerd names a directory's content
/// (`cp c:/dir/. …`; the docker CLI then replaces that leading `.`). The
/// tar crate drops a leading `./` from the names it is given, so the
/// header's name is written here, with a GNU long-name entry before it
/// when it does not fit.
fn append_dot_named<W: Write>(
    b: &mut Builder<W>,
    host: &Path,
    md: &fs::Metadata,
    name: &Path,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(md, tar::HeaderMode::Complete);
    let rest = name.strip_prefix(".").unwrap_or(name);
    let mut raw = if rest.as_os_str().is_empty() {
        "./".to_owned()
    } else {
        format!("./{}", rest.display())
    };
    if md.is_dir() && !raw.ends_with('/') {
        raw.push('/');
    }
    if md.file_type().is_symlink() {
        header.set_link_name(fs::read_link(host)?)?;
    }
    let field = &mut header.as_old_mut().name;
    if raw.len() <= field.len() {
        field[..raw.len()].copy_from_slice(raw.as_bytes());
    } else {
        let mut long = tar::Header::new_gnu();
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_entry_type(EntryType::GNULongName);
        long.set_mode(0o644);
        long.set_size(raw.len() as u64 + 1);
        long.set_cksum();
        let mut data = raw.clone().into_bytes();
        data.push(0);
        b.append(&long, &data[..])?;
        let cut = field.len();
        field.copy_from_slice(&raw.as_bytes()[..cut]);
    }
    header.set_cksum();
    if md.is_file() {
        b.append(&header, fs::File::open(host)?)
    } else {
        header.set_size(0);
        header.set_cksum();
        b.append(&header, io::empty())
    }
}

/// How `PUT /archive` extracts.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: refuse to replace a directory with a file
    /// or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: every entry owned by this uid:gid (the container's
    /// user) instead of the archive's owners.
    pub chown: Option<(u32, u32)>,
}

/// Extracts the tar `input` into the directory `path` of the container
/// whose tree is `root`. Every entry's parent is resolved in the
/// container's scope (so it can go through the container's symlinks, never
/// out of `root`), and its last component is replaced, never written
/// through.
///
/// The input is read to its end even when extraction fails, so that the
/// client, still sending, gets the answer rather than a broken pipe.
pub fn extract(
    root: &Path,
    path: &RequestPath,
    container: &str,
    mut input: impl Read,
    options: &ExtractOptions,
) -> ArchiveResult<()> {
    let result = extract_from(root, path, container, &mut input, options);
    // What is left is the archive's padding, or all of it after an error.
    let _ = io::copy(&mut input, &mut io::sink());
    result
}

fn extract_from(
    root: &Path,
    path: &RequestPath,
    container: &str,
    input: &mut impl Read,
    options: &ExtractOptions,
) -> ArchiveResult<()> {
    // The destination's own symlink is followed: a copy to a link to a
    // directory lands in the directory, as dockerd does.
    let dest = resolve_in_root(root, &path.clean)?;
    match fs::metadata(&dest) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            return Err(ArchiveError::Invalid(
                "extraction point is not a directory".to_owned(),
            ))
        }
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Err(not_found(path, container))
        }
        Err(e) => return Err(ArchiveError::io("stat", &dest)(e)),
    }
    let dest_in_container = dest
        .strip_prefix(root)
        .map(|p| format!("/{}", p.display()))
        .unwrap_or_else(|_| "/".to_owned());
    let mut archive = Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(options.chown.is_none());
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    let bad = |e: io::Error| ArchiveError::Invalid(format!("invalid tar archive: {e}"));
    let mut dir_times = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.into_owned();
        let Some(rel) = clean_entry_name(&name) else {
            return Err(ArchiveError::Invalid(format!(
                "invalid tar entry {}: it leaves the destination",
                name.display()
            )));
        };
        if rel.as_os_str().is_empty() {
            // `./`: the destination itself.
            continue;
        }
        let inside = format!("{dest_in_container}/{}", rel.display());
        let (parent, base) = inside.rsplit_once('/').unwrap_or(("", &inside));
        let parent_host = resolve_in_root(root, parent)?;
        fs::create_dir_all(&parent_host)
            .map_err(ArchiveError::io("create directory", &parent_host))?;
        let target = parent_host.join(base);
        let kind = entry.header().entry_type();
        make_room(&target, kind == EntryType::Directory, options)?;
        match kind {
            EntryType::Link => {
                let source = entry
                    .link_name()
                    .map_err(bad)?
                    .and_then(|l| clean_entry_name(&l))
                    .ok_or_else(|| {
                        ArchiveError::Invalid(format!("invalid hard link {}", name.display()))
                    })?;
                let source_in = format!("{dest_in_container}/{}", source.display());
                let (sp, sb) = source_in.rsplit_once('/').unwrap_or(("", &source_in));
                let source_host = resolve_in_root(root, sp)?.join(sb);
                fs::hard_link(&source_host, &target).map_err(ArchiveError::io("link", &target))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                make_node(&entry, kind, &target)?;
            }
            _ => {
                entry
                    .unpack(&target)
                    .map_err(ArchiveError::io("extract", &target))?;
            }
        }
        if let Some((uid, gid)) = options.chown {
            std::os::unix::fs::lchown(&target, Some(uid), Some(gid))
                .map_err(ArchiveError::io("chown", &target))?;
        }
        if kind == EntryType::Directory {
            if let Ok(mtime) = entry.header().mtime() {
                dir_times.push((target, mtime));
            }
        }
    }
    // Files written into a directory changed its time: put the archive's
    // back, deepest first.
    for (dir, mtime) in dir_times.into_iter().rev() {
        let t = nix::sys::time::TimeSpec::new(i64::try_from(mtime).unwrap_or(0), 0);
        let _ = nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &dir,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        );
    }
    Ok(())
}

/// An entry's name made relative and clean; `None` if it climbs out.
fn clean_entry_name(name: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    Some(out)
}

/// Clears `target` for the entry about to be written: an existing
/// directory stays for a directory entry; anything else goes (unless
/// `noOverwriteDirNonDir` forbids swapping a directory and a non-directory).
fn make_room(target: &Path, entry_is_dir: bool, options: &ExtractOptions) -> ArchiveResult<()> {
    let md = match fs::symlink_metadata(target) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ArchiveError::io("stat", target)(e)),
    };
    let is_dir = md.file_type().is_dir();
    if is_dir && entry_is_dir {
        return Ok(());
    }
    if options.no_overwrite_dir_non_dir && is_dir != entry_is_dir {
        let (what, with) = if is_dir {
            ("directory", "non-directory")
        } else {
            ("non-directory", "directory")
        };
        return Err(ArchiveError::Invalid(format!(
            "cannot overwrite {what} {:?} with {with}",
            target.file_name().unwrap_or_default()
        )));
    }
    if is_dir {
        fs::remove_dir_all(target).map_err(ArchiveError::io("remove", target))
    } else {
        fs::remove_file(target).map_err(ArchiveError::io("remove", target))
    }
}

fn make_node<R: Read>(
    entry: &tar::Entry<'_, R>,
    kind: EntryType,
    target: &Path,
) -> ArchiveResult<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let h = entry.header();
    let bad = |e: io::Error| ArchiveError::Invalid(format!("invalid tar archive: {e}"));
    let perm = Mode::from_bits_truncate(h.mode().map_err(bad)?);
    let major = u64::from(h.device_major().map_err(bad)?.unwrap_or(0));
    let minor = u64::from(h.device_minor().map_err(bad)?.unwrap_or(0));
    let flag = match kind {
        EntryType::Char => SFlag::S_IFCHR,
        EntryType::Block => SFlag::S_IFBLK,
        _ => SFlag::S_IFIFO,
    };
    mknod(target, flag, perm, makedev(major, minor))
        .map_err(|e| ArchiveError::io("make node", target)(e.into()))?;
    let (uid, gid) = (h.uid().map_err(bad)?, h.gid().map_err(bad)?);
    std::os::unix::fs::lchown(target, u32::try_from(uid).ok(), u32::try_from(gid).ok())
        .map_err(ArchiveError::io("chown", target))
}

#[cfg(test)]
mod tests;
