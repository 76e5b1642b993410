//! The classic builder's file-system half: the Dockerfile's syntax
//! ([`dockerfile`]), the build context unpacked from the request, and the
//! layer a `COPY` makes, with the content checksum its cache key carries.
//! The steps themselves (containers for `RUN`, commits, the cache) are
//! berthd's.

pub mod dockerfile;

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::image::unpack_hex;

/// Unpacks the build context (a tar stream, as the docker CLI sends it,
/// `.dockerignore` already applied) into `dir`.
pub fn unpack_context(reader: impl Read, dir: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    let unpacked = archive
        .unpack(dir)
        .map_err(|e| Error::Archive(format!("read the build context: {e}")));
    // Read the rest (the end-of-archive blocks, or what follows a bad
    // entry): a reply sent with request bytes unread resets the connection
    // before the client reads it.
    let _ = std::io::copy(&mut archive.into_inner(), &mut std::io::sink());
    unpacked
}

/// A source path as an instruction names it, under `root` (the context,
/// or a stage's rootfs for `COPY --from`): `..` is refused, and symlinks
/// on the way are followed inside `root`, never to the host's files.
pub fn context_path(root: &Path, name: &str) -> Result<PathBuf> {
    let rel = Path::new(name.trim_start_matches('/'));
    if rel.components().any(|c| c == Component::ParentDir) {
        return Err(Error::Archive(format!(
            "forbidden path outside the build context: {name}"
        )));
    }
    crate::archive::resolve_in_root(root, name).map_err(|e| Error::Archive(e.to_string()))
}

/// A source with wildcards (`*`, `?` in any component), matched under
/// `root` as dockerd's `filepath.Match` does, sorted; no match is an error
/// in dockerd's words.
pub fn expand_sources(root: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let mut found = vec![PathBuf::new()];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let mut next = Vec::new();
        for rel in &found {
            if !part.contains(['*', '?']) {
                next.push(rel.join(part));
                continue;
            }
            let dir = context_path(root, &rel.to_string_lossy())?;
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| glob_match(part, name))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| rel.join(n)));
        }
        found = next;
    }
    let paths: Vec<PathBuf> = found
        .iter()
        .map(|rel| context_path(root, &rel.to_string_lossy()))
        .collect::<Result<_>>()?;
    let existing: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    if existing.is_empty() {
        return Err(Error::Archive(format!(
            "COPY failed: no source files were specified ({pattern})"
        )));
    }
    Ok(existing)
}

/// `*` (any run of characters) and `?` (one) within one path component.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What a `COPY` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyLayer {
    /// `sha256:` over the copied names, modes, owners and contents (not
    /// times): the cache key's `file:`/`dir:` part.
    pub checksum: String,
}

/// Writes the layer of `COPY sources dest` to `out`: a file goes to `dest`
/// (or into it when `dest` ends in `/` or there are several sources), a
/// directory's contents into `dest`. Owners are `chown` (root by default),
/// modes `chmod` when given.
pub fn write_copy_layer(
    sources: &[PathBuf],
    dest: &str,
    chown: (u64, u64),
    chmod: Option<u32>,
    out: &Path,
) -> Result<CopyLayer> {
    let file = fs::File::create(out).map_err(Error::io("create", out))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    let mut hasher = Sha256::new();
    // `.` (or `DIR/.`) names a directory, as a trailing `/` does.
    let dot_dir = dest == "." || dest.ends_with("/.");
    let into_dir = dest.ends_with('/') || dot_dir || sources.len() > 1;
    let dest = if dot_dir {
        &dest[..dest.len() - 1]
    } else {
        dest
    };
    let dest = dest.trim_start_matches('/').trim_end_matches('/');
    let mut add = |source: &Path, name: String| -> Result<()> {
        let md = fs::symlink_metadata(source).map_err(Error::io("stat", source))?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&md);
        header.set_uid(chown.0);
        header.set_gid(chown.1);
        if let Some(mode) = chmod {
            header.set_mode(mode);
        }
        hasher.update(name.as_bytes());
        hasher.update(header.mode().unwrap_or(0).to_le_bytes());
        hasher.update(chown.0.to_le_bytes());
        hasher.update(chown.1.to_le_bytes());
        let err = |e: std::io::Error| Error::Archive(format!("write layer: {e}"));
        if md.file_type().is_symlink() {
            let target = fs::read_link(source).map_err(Error::io("read link", source))?;
            hasher.update(target.as_os_str().as_encoded_bytes());
            header.set_size(0);
            tar.append_link(&mut header, &name, &target).map_err(err)?;
        } else if md.is_file() {
            // Streamed into the layer and the checksum at once.
            let file = fs::File::open(source).map_err(Error::io("read", source))?;
            let hashing = Hashing {
                inner: file,
                hasher: &mut hasher,
            };
            tar.append_data(&mut header, &name, hashing).map_err(err)?;
        } else if md.is_dir() {
            header.set_size(0);
            tar.append_data(&mut header, &name, std::io::empty())
                .map_err(err)?;
        }
        Ok(())
    };
    let mut kind = "file";
    for source in sources {
        let md = fs::symlink_metadata(source).map_err(|_| {
            Error::Archive(format!(
                "COPY failed: file not found in build context or excluded by .dockerignore: stat {}: file does not exist",
                source.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            ))
        })?;
        if md.is_dir() {
            kind = "dir";
            let mut stack = vec![(source.clone(), dest.to_owned())];
            while let Some((dir, name)) = stack.pop() {
                let mut entries: Vec<_> = fs::read_dir(&dir)
                    .map_err(Error::io("list", &dir))?
                    .filter_map(|e| e.ok().map(|e| e.file_name()))
                    .collect();
                entries.sort();
                for entry in entries {
                    let path = dir.join(&entry);
                    let child = join(&name, &entry.to_string_lossy());
                    add(&path, child.clone())?;
                    if path.is_dir() && !path.is_symlink() {
                        stack.push((path, child));
                    }
                }
            }
        } else {
            let base = source
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let name = if into_dir {
                join(dest, &base)
            } else {
                dest.to_owned()
            };
            add(source, name)?;
        }
    }
    let mut writer = tar
        .into_inner()
        .map_err(|e| Error::Archive(format!("write layer: {e}")))?;
    writer.flush().map_err(Error::io("write", out))?;
    Ok(CopyLayer {
        checksum: format!("{kind}:{}", unpack_hex(&hasher.finalize())),
    })
}

/// Writes the layer of `ADD archive dest`: the archive's (plain or gzip)
/// entries under the directory `dest`, as dockerd extracts a local tar.
pub fn write_archive_layer(archive: &Path, dest: &str, out: &Path) -> Result<CopyLayer> {
    let open = || fs::File::open(archive).map_err(Error::io("read", archive));
    let mut hasher = Sha256::new();
    std::io::copy(&mut open()?, &mut hasher).map_err(Error::io("read", archive))?;
    let checksum = format!("file:{}", unpack_hex(&hasher.finalize()));
    let mut magic = [0u8; 2];
    let gzip = open()?.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            open()?,
        )))
    } else {
        Box::new(std::io::BufReader::new(open()?))
    };
    let dest = dest.trim_start_matches('/').trim_end_matches('/');
    let file = fs::File::create(out).map_err(Error::io("create", out))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    let err = |e: std::io::Error| Error::Archive(format!("ADD {}: {e}", archive.display()));
    let mut source = tar::Archive::new(reader);
    for entry in source.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        let rel = entry.path().map_err(err)?.into_owned();
        if rel.components().any(|c| c == Component::ParentDir) {
            return Err(Error::Archive(format!(
                "ADD {}: entry {} is outside of the destination",
                archive.display(),
                rel.display()
            )));
        }
        let rel = rel.to_string_lossy().trim_start_matches("./").to_owned();
        if rel.is_empty() || rel == "." {
            continue;
        }
        let mut header = entry.header().clone();
        let name = join(dest, &rel);
        if entry.header().entry_type().is_hard_link() {
            let target = entry.link_name().map_err(err)?.unwrap_or_default();
            let target = join(dest, target.to_string_lossy().trim_start_matches("./"));
            tar.append_link(&mut header, &name, target).map_err(err)?;
        } else {
            tar.append_data(&mut header, &name, &mut entry)
                .map_err(err)?;
        }
    }
    let mut writer = tar.into_inner().map_err(err)?;
    writer.flush().map_err(Error::io("write", out))?;
    Ok(CopyLayer { checksum })
}

/// A reader that feeds what it reads to a hasher.
struct Hashing<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(layer: &Path) -> Vec<String> {
        tar::Archive::new(fs::File::open(layer).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn copies_files_and_directories_and_checksums_content() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        fs::create_dir_all(ctx.join("src/sub")).unwrap();
        fs::write(ctx.join("a.txt"), b"a").unwrap();
        fs::write(ctx.join("src/sub/b"), b"b").unwrap();
        let out = tmp.path().join("layer.tar");
        let one = write_copy_layer(&[ctx.join("a.txt")], "/app/x.txt", (0, 0), None, &out).unwrap();
        assert_eq!(names(&out), ["app/x.txt"]);
        assert!(one.checksum.starts_with("file:"));
        write_copy_layer(&[ctx.join("a.txt")], "/app/.", (0, 0), None, &out).unwrap();
        assert_eq!(names(&out), ["app/a.txt"]);
        let dir = write_copy_layer(&[ctx.join("src")], "/app/", (0, 0), None, &out).unwrap();
        assert_eq!(names(&out), ["app/sub", "app/sub/b"]);
        assert!(dir.checksum.starts_with("dir:"));
        // Same content, same key; changed content or owner, another.
        let again =
            write_copy_layer(&[ctx.join("a.txt")], "/app/x.txt", (0, 0), None, &out).unwrap();
        assert_eq!(again, one);
        fs::write(ctx.join("a.txt"), b"changed").unwrap();
        let changed =
            write_copy_layer(&[ctx.join("a.txt")], "/app/x.txt", (0, 0), None, &out).unwrap();
        assert_ne!(changed, one);
        let owned =
            write_copy_layer(&[ctx.join("a.txt")], "/app/x.txt", (1, 1), None, &out).unwrap();
        assert_ne!(owned, changed);
        let err = write_copy_layer(&[ctx.join("nope")], "/x", (0, 0), None, &out).unwrap_err();
        assert!(
            err.to_string().contains("file not found in build context"),
            "{err}"
        );
        assert!(context_path(&ctx, "../etc/passwd").is_err());
        // A link in the context cannot reach the host's files.
        std::os::unix::fs::symlink("/etc", ctx.join("host")).unwrap();
        assert_eq!(
            context_path(&ctx, "host/passwd").unwrap(),
            ctx.join("etc/passwd")
        );
    }

    #[test]
    fn wildcards_match_within_components() {
        assert!(glob_match("*.txt", "a.txt") && glob_match("a?c", "abc"));
        assert!(glob_match("*", "") && glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("*.txt", "a.md") && !glob_match("a?c", "ac"));
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("src/x")).unwrap();
        for f in ["src/b.txt", "src/a.txt", "src/c.md", "src/x/d.txt"] {
            fs::write(tmp.path().join(f), b"").unwrap();
        }
        let got = expand_sources(tmp.path(), "src/*.txt").unwrap();
        assert_eq!(
            got,
            [tmp.path().join("src/a.txt"), tmp.path().join("src/b.txt")]
        );
        let got = expand_sources(tmp.path(), "s?c/*/*.txt").unwrap();
        assert_eq!(got, [tmp.path().join("src/x/d.txt")]);
        let err = expand_sources(tmp.path(), "*.none").unwrap_err();
        assert!(
            err.to_string().contains("no source files were specified"),
            "{err}"
        );
    }

    #[test]
    fn an_added_archive_is_extracted_under_the_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("a.tar.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&crate::image::tests::tarball(&[
            ("./x/y", b"1"),
            ("z", b"22"),
        ]))
        .unwrap();
        fs::write(&archive, gz.finish().unwrap()).unwrap();
        let out = tmp.path().join("layer.tar");
        let layer = write_archive_layer(&archive, "/opt/", &out).unwrap();
        assert!(layer.checksum.starts_with("file:"));
        assert_eq!(names(&out), ["opt/x/y", "opt/z"]);
    }
}
