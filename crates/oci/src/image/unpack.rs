//! Safe extraction of an image tarball (plain, gzip or zstd) or a directory into
//! a fresh rootfs, measuring its size and its uncompressed digest.
//!
//! Safety: entries with `..` are refused; every entry's parent is
//! canonicalized and must stay inside the destination, so a symlink in the
//! archive cannot redirect a later entry outside it; hard link targets are
//! checked the same way (tar-rs does both). Modes, mtimes, symlinks, hard
//! links, xattrs and device nodes are kept; ownership too when we are root.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::error::{Error, Result};

/// What an extraction produced.
#[derive(Debug)]
pub(crate) struct Unpacked {
    /// Sum of regular file sizes, as Docker reports an image's size.
    pub size: u64,
    /// `sha256:` of the uncompressed tar stream (the layer's diff id).
    pub diff_id: String,
}

fn archive_err(e: impl std::fmt::Display) -> Error {
    Error::Archive(e.to_string())
}

/// tar-rs nests the real cause (ENOSPC, EPERM...) under its own message.
fn with_causes(e: &io::Error) -> String {
    let mut msg = e.to_string();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cur {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cur = c.source();
    }
    msg
}

/// Extracts a tar stream into `dst` (which must exist and be empty).
pub(crate) fn unpack_stream(reader: impl Read, dst: &Path) -> Result<Unpacked> {
    unpack(reader, dst, false)
}

/// Applies one image layer on top of the layers below it in `dst`:
/// `.wh.NAME` deletes `NAME` from below, `.wh..wh..opq` empties its
/// directory of what the lower layers put there, and an entry replacing a
/// file of another kind (a directory by a file, or back) replaces it.
pub(crate) fn apply_layer(reader: impl Read, dst: &Path) -> Result<Unpacked> {
    unpack(reader, dst, true)
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

fn unpack(mut reader: impl Read, dst: &Path, layer: bool) -> Result<Unpacked> {
    // Sniff the compression from the first bytes, then put them back.
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match reader.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(archive_err(format!("read archive: {e}"))),
        }
    }
    let head = &magic[..n];
    let chained = io::Cursor::new(head.to_vec()).chain(reader);
    let decoded: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(chained))
    } else if head.starts_with(b"BZh") {
        return Err(archive_err(
            "bzip2 archives are not supported: decompress it first",
        ));
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(archive_err(
            "xz archives are not supported: decompress it first",
        ));
    } else if head.starts_with(&super::zstd::MAGIC) {
        Box::new(super::zstd::ZstdReader::new(io::BufReader::new(chained)))
    } else {
        Box::new(chained)
    };
    let hashing = HashingReader {
        inner: decoded,
        hasher: Sha256::new(),
    };
    let dst = dst.canonicalize().map_err(Error::io("canonicalize", dst))?;
    let mut archive = tar::Archive::new(hashing);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    let root = nix::unistd::geteuid().is_root();
    archive.set_preserve_ownerships(root);

    let mut size = 0u64;
    // This layer's own paths: an opaque directory keeps them.
    let mut written = HashSet::new();
    let mut opaque = Vec::new();
    // Directories last (deepest first), so a read-only directory's mode is
    // set only after everything inside it exists (tar-rs does the same).
    let mut dirs = Vec::new();
    for entry in archive.entries().map_err(archive_err)? {
        let mut entry = entry.map_err(archive_err)?;
        let path = entry.path().map_err(archive_err)?.into_owned();
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(archive_err(format!(
                "entry {} is outside of the destination",
                path.display()
            )));
        }
        let kind = entry.header().entry_type();
        if layer {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == OPAQUE {
                opaque.push(path.parent().map(Path::to_path_buf).unwrap_or_default());
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                remove_below(&dst, &path.with_file_name(hidden))?;
                continue;
            }
            replace_other_kind(&dst, &path, kind == EntryType::Directory)?;
            written.insert(normal(&path));
        }
        match kind {
            EntryType::Directory => dirs.push(entry),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                make_node(&dst, &path, entry.header(), kind, root)?;
            }
            _ => {
                if kind.is_file() || kind == EntryType::Continuous {
                    size += entry.header().size().map_err(archive_err)?;
                }
                entry
                    .unpack_in(&dst)
                    .map_err(|e| archive_err(format!("{}: {}", path.display(), with_causes(&e))))?;
            }
        }
    }
    for dir in opaque {
        empty_below(&dst, &dir, &written)?;
    }
    dirs.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut d in dirs {
        let path = d.path_bytes().into_owned();
        d.unpack_in(&dst).map_err(|e| {
            archive_err(format!(
                "{}: {}",
                String::from_utf8_lossy(&path),
                with_causes(&e)
            ))
        })?;
    }
    // Hash the trailing blocks too: the digest covers the whole stream.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(archive_err)?;
    let digest = rest.hasher.finalize();
    Ok(Unpacked {
        size,
        diff_id: format!("sha256:{}", hex(&digest)),
    })
}

/// Device nodes and fifos: tar-rs would write them as empty files.
fn make_node(
    dst: &Path,
    rel: &Path,
    header: &tar::Header,
    kind: EntryType,
    root: bool,
) -> Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let target = inside(dst, rel)?;
    let Some(parent) = target.parent() else {
        return Ok(());
    };
    fs::create_dir_all(parent).map_err(Error::io("create directory", parent))?;
    let canon = parent
        .canonicalize()
        .map_err(Error::io("canonicalize", parent))?;
    if !canon.starts_with(dst) {
        return Err(archive_err(format!(
            "entry {} is outside of the destination",
            rel.display()
        )));
    }
    let target = canon.join(target.file_name().unwrap_or_default());
    let flag = match kind {
        EntryType::Char => SFlag::S_IFCHR,
        EntryType::Block => SFlag::S_IFBLK,
        _ => SFlag::S_IFIFO,
    };
    if flag != SFlag::S_IFIFO && !root {
        tracing::warn!(path = %rel.display(), "skipping device node: not root");
        return Ok(());
    }
    let mode = header.mode().map_err(archive_err)? & 0o7777;
    // Fifos often carry blank device fields.
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    let _ = fs::remove_file(&target);
    mknod(
        &target,
        flag,
        Mode::from_bits_truncate(mode),
        makedev(u64::from(major), u64::from(minor)),
    )
    .map_err(|e| Error::Io {
        what: "mknod",
        path: target.clone(),
        source: e.into(),
    })?;
    if root {
        let uid = header.uid().map_err(archive_err)? as u32;
        let gid = header.gid().map_err(archive_err)? as u32;
        std::os::unix::fs::lchown(&target, Some(uid), Some(gid))
            .map_err(Error::io("chown", &target))?;
    }
    // mknod's mode is filtered by the umask; set it exactly.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&target, fs::Permissions::from_mode(mode))
        .map_err(Error::io("chmod", &target))
}

/// `rel` without `.` components, as this layer's paths are compared.
fn normal(rel: &Path) -> PathBuf {
    rel.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// `rel` inside `dst` with its parent resolved, refusing a parent that
/// leads outside (a symlink from a lower layer); `None` if the parent does
/// not exist.
fn resolved(dst: &Path, rel: &Path) -> Result<Option<PathBuf>> {
    let target = inside(dst, rel)?;
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(None);
    };
    let parent = match parent.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("canonicalize", parent)(e)),
    };
    if !parent.starts_with(dst) {
        return Err(archive_err(format!(
            "entry {} is outside of the destination",
            rel.display()
        )));
    }
    Ok(Some(parent.join(name)))
}

fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(Error::io("remove", path)),
        Ok(_) => fs::remove_file(path).map_err(Error::io("remove", path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("stat", path)(e)),
    }
}

/// A whiteout: what a lower layer has at `rel` goes.
fn remove_below(dst: &Path, rel: &Path) -> Result<()> {
    match resolved(dst, rel)? {
        Some(path) => remove_any(&path),
        None => Ok(()),
    }
}

/// A directory entry over a lower non-directory, or a non-directory over a
/// lower directory: the lower one goes first.
fn replace_other_kind(dst: &Path, rel: &Path, is_dir: bool) -> Result<()> {
    let Some(path) = resolved(dst, rel)? else {
        return Ok(());
    };
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() != is_dir => remove_any(&path),
        _ => Ok(()),
    }
}

/// An opaque directory: everything in it this layer did not write goes.
fn empty_below(dst: &Path, dir: &Path, written: &HashSet<PathBuf>) -> Result<()> {
    let dir = normal(dir);
    let Some(path) = resolved(dst, &dir.join("x"))?.and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        return Ok(());
    };
    let entries = match fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", &path)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(Error::io("list", &path))?;
        if !written.contains(&dir.join(entry.file_name())) {
            remove_any(&entry.path())?;
        }
    }
    Ok(())
}

/// `dst` joined with the normal components of `rel`.
fn inside(dst: &Path, rel: &Path) -> Result<PathBuf> {
    let mut out = dst.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                return Err(archive_err(format!(
                    "entry {} is outside of the destination",
                    rel.display()
                )))
            }
            _ => {}
        }
    }
    Ok(out)
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_000_000);
        h.set_uid(1234);
        h.set_gid(4321);
        h
    }

    fn sample() -> Vec<u8> {
        tar_of(|b| {
            let mut h = header(EntryType::Directory, 0o555, 0);
            b.append_data(&mut h, "ro/", io::empty()).unwrap();
            let mut h = header(EntryType::Regular, 0o640, 5);
            b.append_data(&mut h, "ro/file", &b"hello"[..]).unwrap();
            let mut h = header(EntryType::Symlink, 0o777, 0);
            b.append_link(&mut h, "ro/sym", "/etc/passwd").unwrap();
            let mut h = header(EntryType::Link, 0o640, 0);
            b.append_link(&mut h, "hard", "ro/file").unwrap();
            let mut h = header(EntryType::Fifo, 0o600, 0);
            b.append_data(&mut h, "fifo", io::empty()).unwrap();
        })
    }

    #[test]
    fn keeps_modes_links_and_measures() {
        let dst = tempfile::tempdir().unwrap();
        let data = sample();
        let out = unpack_stream(&data[..], dst.path()).unwrap();
        assert_eq!(out.size, 5);
        let expected = format!("sha256:{}", hex(&Sha256::digest(&data)));
        assert_eq!(out.diff_id, expected);
        let p = dst.path();
        assert_eq!(fs::read(p.join("ro/file")).unwrap(), b"hello");
        let m = fs::metadata(p.join("ro")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o555);
        assert_eq!(
            fs::read_link(p.join("ro/sym")).unwrap(),
            Path::new("/etc/passwd")
        );
        let a = fs::metadata(p.join("ro/file")).unwrap();
        let b = fs::metadata(p.join("hard")).unwrap();
        assert_eq!(a.ino(), b.ino());
        assert_eq!(a.permissions().mode() & 0o777, 0o640);
        let f = fs::symlink_metadata(p.join("fifo")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&f.file_type()));
        if nix::unistd::geteuid().is_root() {
            assert_eq!((a.uid(), a.gid()), (1234, 4321));
        }
    }

    #[test]
    fn gzip_and_zstd_give_the_same_tree_and_diff_id() {
        let data = sample();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let (d1, d2, d3) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let a = unpack_stream(&data[..], d1.path()).unwrap();
        let b = unpack_stream(&gz[..], d2.path()).unwrap();
        let c = apply_layer(&zst[..], d3.path()).unwrap();
        assert_eq!(a.diff_id, b.diff_id);
        assert_eq!(a.diff_id, c.diff_id);
        assert_eq!(fs::read(d2.path().join("hard")).unwrap(), b"hello");
        assert_eq!(fs::read(d3.path().join("hard")).unwrap(), b"hello");
    }

    /// Writes a raw header with an arbitrary name: tar-rs's builder refuses
    /// `..` itself, but hostile archives are not built with it.
    fn raw_entry(
        b: &mut tar::Builder<Vec<u8>>,
        name: &str,
        kind: EntryType,
        link: Option<&str>,
        data: &[u8],
    ) {
        let mut h = header(kind, 0o644, data.len() as u64);
        let bytes = h.as_old_mut();
        bytes.name = [0; 100];
        bytes.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            bytes.linkname = [0; 100];
            bytes.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn refuses_escapes() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        fs::write(&target, "safe").unwrap();

        // `..` in a name.
        let evil = tar_of(|b| raw_entry(b, "../../victim", EntryType::Regular, None, b"pwned"));
        let dst = tempfile::tempdir().unwrap();
        let e = unpack_stream(&evil[..], dst.path()).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");

        // A symlink to outside, then a file through it.
        let link_to = outside.path().to_str().unwrap().to_owned();
        let evil = tar_of(|b| {
            raw_entry(b, "esc", EntryType::Symlink, Some(&link_to), b"");
            raw_entry(b, "esc/victim", EntryType::Regular, None, b"pwned");
        });
        let dst = tempfile::tempdir().unwrap();
        assert!(unpack_stream(&evil[..], dst.path()).is_err());

        // A hard link to a file outside.
        let evil = tar_of(|b| raw_entry(b, "h", EntryType::Link, Some("../../victim"), b""));
        let dst = tempfile::tempdir().unwrap();
        assert!(unpack_stream(&evil[..], dst.path()).is_err());

        assert_eq!(fs::read_to_string(&target).unwrap(), "safe");
    }

    #[test]
    fn unsupported_compression_is_named() {
        let dst = tempfile::tempdir().unwrap();
        let e = unpack_stream(&b"BZh91AY&SY"[..], dst.path()).unwrap_err();
        assert!(e.to_string().contains("bzip2"));
    }

    #[test]
    fn layers_apply_whiteouts_and_opaque_directories() {
        let dst = tempfile::tempdir().unwrap();
        let lower = tar_of(|b| {
            for name in [
                "etc/keep",
                "etc/gone",
                "opq/old",
                "file_to_dir",
                "dir_to_file/x",
            ] {
                let mut h = header(EntryType::Regular, 0o644, 1);
                b.append_data(&mut h, name, &b"1"[..]).unwrap();
            }
        });
        apply_layer(&lower[..], dst.path()).unwrap();
        let upper = tar_of(|b| {
            let mut h = header(EntryType::Regular, 0o644, 0);
            b.append_data(&mut h, "etc/.wh.gone", io::empty()).unwrap();
            let mut h = header(EntryType::Regular, 0o644, 0);
            b.append_data(&mut h, "opq/.wh..wh..opq", io::empty())
                .unwrap();
            let mut h = header(EntryType::Regular, 0o644, 1);
            b.append_data(&mut h, "opq/new", &b"2"[..]).unwrap();
            let mut h = header(EntryType::Directory, 0o755, 0);
            b.append_data(&mut h, "file_to_dir/", io::empty()).unwrap();
            let mut h = header(EntryType::Regular, 0o644, 1);
            b.append_data(&mut h, "file_to_dir/inner", &b"2"[..])
                .unwrap();
            let mut h = header(EntryType::Regular, 0o644, 1);
            b.append_data(&mut h, "dir_to_file", &b"2"[..]).unwrap();
            let mut h = header(EntryType::Regular, 0o644, 0);
            b.append_data(&mut h, ".wh.nothing_there", io::empty())
                .unwrap();
        });
        apply_layer(&upper[..], dst.path()).unwrap();
        let p = dst.path();
        assert!(p.join("etc/keep").is_file());
        assert!(!p.join("etc/gone").exists());
        assert!(!p.join("etc/.wh.gone").exists());
        assert!(!p.join("opq/old").exists());
        assert_eq!(fs::read(p.join("opq/new")).unwrap(), b"2");
        assert!(!p.join("opq/.wh..wh..opq").exists());
        assert!(p.join("file_to_dir/inner").is_file());
        assert_eq!(fs::read(p.join("dir_to_file")).unwrap(), b"2");

        // A whiteout cannot reach outside through a lower symlink.
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("victim"), "safe").unwrap();
        std::os::unix::fs::symlink(outside.path(), p.join("esc")).unwrap();
        let evil = tar_of(|b| {
            let mut h = header(EntryType::Regular, 0o644, 0);
            b.append_data(&mut h, "esc/.wh.victim", io::empty())
                .unwrap();
        });
        assert!(apply_layer(&evil[..], p).is_err());
        assert!(outside.path().join("victim").exists());
    }
}
