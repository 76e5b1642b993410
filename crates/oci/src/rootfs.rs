//! A container's root filesystem: overlayfs with the image's rootfs as the
//! read-only lower layer and a per-container upper/work pair.
//!
//! Mounting is idempotent: a daemon restarted while containers run finds
//! their overlays still mounted and must not stack a second one.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};

/// The directories of one container's overlay.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Whose rootfs this is, for error messages.
    pub id: String,
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Where the merged tree is mounted.
    pub target: PathBuf,
}

impl Overlay {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Rootfs {
            id: self.id.clone(),
            path: self.target.clone(),
            reason: reason.into(),
        }
    }

    /// Mounts the overlay unless it already is. Returns whether it mounted.
    pub fn mount(&self) -> Result<bool> {
        for d in [&self.upper, &self.work, &self.target] {
            fs::create_dir_all(d).map_err(Error::io("create directory", d))?;
        }
        match mounted_fs_type(&self.target)? {
            Some(t) if t == "overlay" => return Ok(false),
            Some(t) => return Err(self.err(format!("something else ({t}) is mounted there"))),
            None => {}
        }
        let mut opts = String::from("lowerdir=");
        for (key, dir) in [
            ("", &self.lower),
            (",upperdir=", &self.upper),
            (",workdir=", &self.work),
        ] {
            let s = dir
                .to_str()
                .ok_or_else(|| self.err(format!("{} is not UTF-8", dir.display())))?;
            // overlayfs splits its options on these.
            if s.contains([',', ':']) {
                return Err(self.err(format!("path {s} contains ',' or ':'")));
            }
            opts.push_str(key);
            opts.push_str(s);
        }
        if !self.lower.is_dir() {
            return Err(self.err(format!("image rootfs {} is missing", self.lower.display())));
        }
        mount(
            Some("overlay"),
            &self.target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| self.err(format!("mount overlay ({opts}): {e}")))?;
        tracing::debug!(container = %self.id, target = %self.target.display(), "mounted overlay");
        Ok(true)
    }
}

/// Unmounts whatever is mounted at `target` (all stacked mounts), then
/// removes nothing: the caller removes the directories. Not mounted is fine.
pub fn unmount(id: &str, target: &Path) -> Result<()> {
    let err = |reason: String| Error::Rootfs {
        id: id.to_owned(),
        path: target.to_path_buf(),
        reason,
    };
    while mounted_fs_type(target)?.is_some() {
        match umount2(target, MntFlags::empty()) {
            Ok(()) => {}
            // Still in use from this namespace (a shell cd'ed into it):
            // detach it so the path is free; the kernel frees it later.
            Err(nix::errno::Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH)
                .map_err(|e| err(format!("lazy unmount: {e}")))?,
            Err(e) => return Err(err(format!("unmount: {e}"))),
        }
    }
    Ok(())
}

/// The file-system type mounted exactly at `path` in this mount namespace,
/// from /proc/self/mountinfo (the last mount wins when stacked).
pub fn mounted_fs_type(path: &Path) -> Result<Option<String>> {
    let Ok(path) = path.canonicalize() else {
        return Ok(None);
    };
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(Error::io("read", "/proc/self/mountinfo"))?;
    Ok(find_mount(&info, &path))
}

fn find_mount(mountinfo: &str, path: &Path) -> Option<String> {
    let want = path.as_os_str().as_encoded_bytes();
    mountinfo.lines().rev().find_map(|line| {
        let mut fields = line.split(' ');
        let mount_point = fields.nth(4)?;
        let fstype = line.split(" - ").nth(1)?.split(' ').next()?;
        (unescape(mount_point) == want).then(|| fstype.to_owned())
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:35 / /run/berth/containers/abc/rootfs rw,relatime - overlay overlay rw,lowerdir=/x
41 22 0:36 / /tmp/with\\040space rw - tmpfs tmpfs rw
42 40 0:37 / /run/berth/containers/abc/rootfs rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_mounts_by_exact_path() {
        assert_eq!(
            find_mount(INFO, Path::new("/run/berth/containers/abc/rootfs")).as_deref(),
            Some("tmpfs"),
            "the last stacked mount wins"
        );
        assert_eq!(
            find_mount(INFO, Path::new("/tmp/with space")).as_deref(),
            Some("tmpfs")
        );
        assert_eq!(
            find_mount(INFO, Path::new("/run/berth/containers/abc")),
            None
        );
        assert_eq!(find_mount(INFO, Path::new("/")).as_deref(), Some("ext4"));
    }
}
