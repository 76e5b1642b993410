//! Volumes on disk (`<data-root>/volumes/<name>/_data`), the mounts of
//! the `local` driver's `type`/`device`/`o` options on that directory,
//! and the host side of a container's mounts before it starts: a `-v`
//! bind's missing host directory is made, an empty volume is filled from
//! the image's content at its destination (Docker's copy-up).
//!
//! The driver's mounts are made in berthd's mount namespace, so every
//! container started after sees them through its bind of `_data`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use berth_core::container::{MountKind, Storage};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, Result};
use crate::layout::Layout;

/// How many mounts stacked on one data directory [`unmount_all`] takes
/// off before it gives up.
const MAX_STACKED: usize = 16;

fn volume_error(name: &str, reason: String) -> Error {
    Error::Volume {
        name: name.to_owned(),
        reason,
    }
}

/// Makes the volume's data directory (and its parents); existing is fine.
pub fn create(layout: &Layout, name: &str) -> Result<PathBuf> {
    let data = layout.volume_data(name);
    fs::create_dir_all(&data).map_err(Error::io("create volume directory", &data))?;
    Ok(data)
}

/// Mounts the `local` driver's device on the data directory, unless
/// something is mounted there already.
pub fn activate(layout: &Layout, name: &str, options: &OptionsRef<'_>) -> Result<()> {
    let data = create(layout, name)?;
    let Some(fstype) = options.fstype else {
        return Ok(());
    };
    if is_mount_point(&data)? {
        return Ok(());
    }
    let (flags, data_text) = mount_flags(options.o.unwrap_or_default());
    let source = options.device.unwrap_or_default();
    mount(
        Some(source),
        &data,
        Some(fstype),
        flags,
        (!data_text.is_empty()).then_some(data_text.as_str()),
    )
    .map_err(|e| {
        volume_error(
            name,
            format!("mount {source} ({fstype}) on {}: {e}", data.display()),
        )
    })?;
    tracing::info!(volume = name, fstype, "volume device mounted");
    Ok(())
}

/// A volume's `local` options, borrowed.
#[derive(Clone, Copy, Debug, Default)]
pub struct OptionsRef<'a> {
    pub fstype: Option<&'a str>,
    pub device: Option<&'a str>,
    pub o: Option<&'a str>,
}

/// Unmounts whatever is mounted on the data directory.
pub fn deactivate(layout: &Layout, name: &str) -> Result<()> {
    unmount_all(name, &layout.volume_data(name))
}

/// Unmounts anything on the data directory, then removes the volume's
/// directory; returns the bytes its files held. Missing is success.
pub fn remove(layout: &Layout, name: &str) -> Result<u64> {
    let dir = layout.volumes_dir().join(name);
    if !dir.exists() {
        return Ok(0);
    }
    unmount_all(name, &layout.volume_data(name))?;
    let bytes = tree_size(&dir);
    crate::fsutil::remove_dir_all_if_exists(&dir)?;
    Ok(bytes)
}

/// The names of the volume directories there are.
pub fn list(layout: &Layout) -> Result<Vec<String>> {
    let dir = layout.volumes_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list volumes", &dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("list volumes", &dir))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

fn unmount_all(name: &str, data: &Path) -> Result<()> {
    for _ in 0..MAX_STACKED {
        if !data.exists() || !is_mount_point(data)? {
            return Ok(());
        }
        umount2(data, MntFlags::MNT_DETACH)
            .map_err(|e| volume_error(name, format!("unmount {}: {e}", data.display())))?;
        tracing::info!(volume = name, "volume device unmounted");
    }
    Err(volume_error(
        name,
        format!("{} stays mounted", data.display()),
    ))
}

/// Whether `path` is a mount point in this namespace, from
/// `/proc/self/mountinfo` (a bind of the same file system keeps the
/// device number, so that check would miss it).
fn is_mount_point(path: &Path) -> Result<bool> {
    let info = Path::new("/proc/self/mountinfo");
    let text = fs::read_to_string(info).map_err(Error::io("read", info))?;
    let wanted = path.to_string_lossy().replace(' ', "\\040");
    Ok(text
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(wanted.as_str())))
}

/// mount(8)'s flag words in `o`; the rest is the file system's data.
fn mount_flags(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for word in o.split(',').filter(|w| !w.is_empty()) {
        match word {
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "defaults" | "suid" | "dev" | "exec" | "async" => {}
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// Bytes of the regular files under `dir` (not following links).
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The host side of a container's mounts, before runc makes them: a `-v`
/// bind's missing host directory is made (as Docker does), and a volume
/// whose data directory is empty gets the image's content at its
/// destination (unless `nocopy`).
pub fn prepare_mounts(storage: &Storage, image_rootfs: &Path) -> Result<()> {
    for m in &storage.mounts {
        check_propagation(&m.source, &m.propagation)?;
        match m.kind {
            MountKind::Bind if m.create_source => {
                let source = Path::new(&m.source);
                if !source.exists() {
                    fs::create_dir_all(source).map_err(Error::io("create bind source", source))?;
                }
            }
            MountKind::Volume if m.copy_up => {
                let data = Path::new(&m.source);
                fs::create_dir_all(data).map_err(Error::io("create volume directory", data))?;
                if let Some(content) = image_path(image_rootfs, &m.destination) {
                    copy_up(&content, data)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// moby's `ensureShared` / `ensureSharedOrSlave`: a shared mount needs its
/// source on a shared mount of the host, a slave one on a shared or slave
/// mount; otherwise the propagation asked could not happen.
fn check_propagation(source: &str, propagation: &str) -> Result<()> {
    let needs_shared = matches!(propagation, "shared" | "rshared");
    if !needs_shared && !matches!(propagation, "slave" | "rslave") {
        return Ok(());
    }
    let info = Path::new("/proc/self/mountinfo");
    let text = fs::read_to_string(info).map_err(Error::io("read", info))?;
    let Some((mount_point, optional)) = source_mount(&text, source) else {
        return Ok(());
    };
    let shared = optional.contains("shared:");
    let slave = optional.contains("master:");
    if needs_shared && !shared {
        return Err(Error::Propagation(format!(
            "path {source} is mounted on {mount_point} but it is not a shared mount"
        )));
    }
    if !needs_shared && !shared && !slave {
        return Err(Error::Propagation(format!(
            "path {source} is mounted on {mount_point} but it is not a shared or slave mount"
        )));
    }
    Ok(())
}

/// The mount point holding `path` in a mountinfo text and its optional
/// fields (`shared:1 master:2`): the last mount whose point is `path` or
/// one of its parents (a later mount hides an earlier one).
fn source_mount<'a>(mountinfo: &'a str, path: &str) -> Option<(&'a str, String)> {
    let mut best: Option<(&str, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(dash)) = (fields.get(4), fields.iter().position(|f| *f == "-"))
        else {
            continue;
        };
        let holds = *point == "/"
            || path == *point
            || path
                .strip_prefix(point)
                .is_some_and(|rest| rest.starts_with('/'));
        if holds && best.as_ref().is_none_or(|(b, _)| point.len() >= b.len()) {
            let optional = fields.get(6..dash).map(|f| f.join(" ")).unwrap_or_default();
            best = Some((point, optional));
        }
    }
    best
}

/// `destination` inside the image, if it is a directory reached without
/// following a link (a link could point anywhere on the host).
fn image_path(image_rootfs: &Path, destination: &str) -> Option<PathBuf> {
    let mut path = image_rootfs.to_path_buf();
    for part in Path::new(destination).components() {
        if let Component::Normal(part) = part {
            path.push(part);
            if path.symlink_metadata().ok()?.file_type().is_symlink() {
                return None;
            }
        }
    }
    path.is_dir().then_some(path)
}

/// Copies `from`'s tree into `to` if `to` is empty, keeping modes,
/// owners and links; the directory itself takes `from`'s mode and owner.
fn copy_up(from: &Path, to: &Path) -> Result<()> {
    let empty = fs::read_dir(to)
        .map_err(Error::io("read volume directory", to))?
        .next()
        .is_none();
    if !empty {
        return Ok(());
    }
    copy_tree(from, to)?;
    copy_owner_and_mode(from, to)
}

fn copy_owner_and_mode(from: &Path, to: &Path) -> Result<()> {
    let meta = from.symlink_metadata().map_err(Error::io("stat", from))?;
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(Error::io("chown", to))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(Error::io("chmod", to))?;
    }
    Ok(())
}

/// `result`, with an entry that exists already taken as made: two
/// containers sharing a new volume may start, and copy, at once.
fn made(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).map_err(Error::io("read", from))? {
        let entry = entry.map_err(Error::io("read", from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(Error::io("stat", &source))?;
        if kind.is_dir() {
            made(fs::create_dir(&target)).map_err(Error::io("create directory", &target))?;
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            let link = fs::read_link(&source).map_err(Error::io("read link", &source))?;
            made(std::os::unix::fs::symlink(&link, &target)).map_err(Error::io("link", &target))?;
        } else if kind.is_file() {
            fs::copy(&source, &target).map_err(Error::io("copy", &source))?;
        } else {
            // Devices, fifos and sockets are not data a volume keeps.
            continue;
        }
        copy_owner_and_mode(&source, &target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::container::Mount;

    #[test]
    fn the_mount_holding_a_path_and_its_propagation() {
        let info = "22 1 0:20 / / rw shared:1 - ext4 /dev/a rw
30 22 0:25 / /srv rw - ext4 /dev/b rw
31 30 0:26 / /srv/slave rw master:4 - ext4 /dev/c rw";
        let found = |path| source_mount(info, path).map(|(p, o)| (p.to_owned(), o));
        let want = |point: &str, optional: &str| Some((point.to_owned(), optional.to_owned()));
        assert_eq!(found("/home/x"), want("/", "shared:1"));
        assert_eq!(found("/srv/data"), want("/srv", ""));
        assert_eq!(found("/srvx"), want("/", "shared:1"));
        assert_eq!(found("/srv/slave/d"), want("/srv/slave", "master:4"));
    }

    #[test]
    fn flag_words_and_data() {
        let (flags, data) = mount_flags("bind,ro,size=10m,uid=1000");
        assert_eq!(flags, MsFlags::MS_BIND | MsFlags::MS_RDONLY);
        assert_eq!(data, "size=10m,uid=1000");
    }

    fn volume_mount(source: &Path, destination: &str) -> Mount {
        Mount {
            kind: MountKind::Volume,
            source: source.to_string_lossy().into_owned(),
            destination: destination.to_owned(),
            name: "v".to_owned(),
            read_only: false,
            mode: String::new(),
            propagation: String::new(),
            tmpfs_options: String::new(),
            copy_up: true,
            create_source: false,
        }
    }

    #[test]
    fn an_empty_volume_gets_the_images_content_once() {
        let image = tempfile::tempdir().unwrap();
        let volumes = tempfile::tempdir().unwrap();
        fs::create_dir_all(image.path().join("data/sub")).unwrap();
        fs::write(image.path().join("data/sub/f"), "seed").unwrap();
        std::os::unix::fs::symlink("sub/f", image.path().join("data/link")).unwrap();
        let data = volumes.path().join("v/_data");
        let storage = Storage {
            mounts: vec![volume_mount(&data, "/data")],
            ..Storage::default()
        };
        prepare_mounts(&storage, image.path()).unwrap();
        assert_eq!(fs::read_to_string(data.join("sub/f")).unwrap(), "seed");
        assert_eq!(
            fs::read_link(data.join("link")).unwrap(),
            PathBuf::from("sub/f")
        );
        fs::write(data.join("sub/f"), "changed").unwrap();
        prepare_mounts(&storage, image.path()).unwrap();
        assert_eq!(
            fs::read_to_string(data.join("sub/f")).unwrap(),
            "changed",
            "a volume with data is left alone"
        );
    }

    #[test]
    fn no_copy_through_a_link_in_the_image() {
        let image = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", image.path().join("data")).unwrap();
        assert_eq!(image_path(image.path(), "/data"), None);
    }

    #[test]
    fn a_missing_bind_source_is_made() {
        let host = tempfile::tempdir().unwrap();
        let source = host.path().join("a/b");
        let mut m = volume_mount(&source, "/x");
        m.kind = MountKind::Bind;
        m.create_source = true;
        let storage = Storage {
            mounts: vec![m],
            ..Storage::default()
        };
        prepare_mounts(&storage, host.path()).unwrap();
        assert!(source.is_dir());
    }

    #[test]
    fn volumes_are_listed_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::new(root.path(), root.path().join("run"));
        assert!(list(&layout).unwrap().is_empty());
        let data = create(&layout, "v1").unwrap();
        fs::write(data.join("f"), "12345").unwrap();
        assert_eq!(list(&layout).unwrap(), ["v1"]);
        assert_eq!(remove(&layout, "v1").unwrap(), 5);
        assert!(list(&layout).unwrap().is_empty());
        assert_eq!(remove(&layout, "v1").unwrap(), 0);
    }
}
