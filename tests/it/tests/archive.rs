//! Looking inside containers with the real docker CLI: `docker cp` both
//! ways (running and stopped containers, volumes, symlinks, modes, errors),
//! `export`, `diff` and `ps -s`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use berth_testkit::sandbox::Sandbox;

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn cp_a_file_and_a_directory_into_a_running_container_and_back() {
    let sb = Sandbox::with_busybox();
    let host = sb.dir().join("cp-src");
    fs::create_dir_all(host.join("dir/sub")).unwrap();
    fs::write(host.join("file"), b"hello file\n").unwrap();
    fs::set_permissions(host.join("file"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::write(host.join("dir/sub/inner"), b"inner\n").unwrap();
    fs::set_permissions(
        host.join("dir/sub/inner"),
        fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    symlink("sub/inner", host.join("dir/link")).unwrap();
    sb.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1d"])
        .ok();

    sb.docker(&["cp", path_str(&host.join("file")), "box:/tmp/"])
        .ok();
    sb.docker(&["cp", path_str(&host.join("dir")), "box:/tmp/dir"])
        .ok();
    let inside = sb
        .docker(&[
            "exec",
            "box",
            "sh",
            "-c",
            "cat /tmp/file; stat -c %a /tmp/file; cat /tmp/dir/sub/inner; readlink /tmp/dir/link",
        ])
        .ok();
    assert_eq!(inside, "hello file\n640\ninner\nsub/inner\n");

    let out = sb.dir().join("cp-out");
    fs::create_dir_all(&out).unwrap();
    sb.docker(&["cp", "box:/tmp/dir", path_str(&out)]).ok();
    assert_eq!(fs::read(out.join("dir/sub/inner")).unwrap(), b"inner\n");
    assert_eq!(mode(&out.join("dir/sub/inner")), 0o751);
    assert_eq!(
        fs::read_link(out.join("dir/link")).unwrap(),
        Path::new("sub/inner")
    );
    // The symlink itself, not what it points to.
    sb.docker(&[
        "cp",
        "box:/tmp/dir/link",
        path_str(&out.join("copied-link")),
    ])
    .ok();
    assert_eq!(
        fs::read_link(out.join("copied-link")).unwrap(),
        Path::new("sub/inner")
    );
    // `dir/.`: the directory's content.
    sb.docker(&["cp", "box:/tmp/dir/.", path_str(&out.join("content"))])
        .ok();
    assert_eq!(fs::read(out.join("content/sub/inner")).unwrap(), b"inner\n");
    // A file's content to stdout as a tar.
    let tar = sb
        .docker_command(&["cp", "box:/tmp/file", "-"])
        .output()
        .unwrap();
    assert!(tar.status.success());
    assert!(String::from_utf8_lossy(&tar.stdout).contains("hello file"));
}

#[test]
fn cp_never_leaves_the_container_through_its_symlinks() {
    let sb = Sandbox::with_busybox();
    let host = sb.dir().join("esc");
    fs::create_dir_all(&host).unwrap();
    let marker = format!("berth-cp-escape-{}", std::process::id());
    fs::write(host.join(&marker), b"x").unwrap();
    sb.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1d"])
        .ok();
    sb.docker(&["exec", "box", "ln", "-s", "../../../../../../..", "/tmp/up"])
        .ok();
    sb.docker(&["exec", "box", "ln", "-s", "/etc/hostname", "/tmp/abs"])
        .ok();
    sb.docker(&["cp", path_str(&host.join(&marker)), "box:/tmp/up/tmp/"])
        .ok();
    assert!(!Path::new("/tmp").join(&marker).exists());
    sb.docker(&["exec", "box", "test", "-f", &format!("/tmp/{marker}")])
        .ok();
    // Reading through an absolute link reads the container's file.
    let out = sb.dir().join("abs-out");
    sb.docker(&["cp", "box:/tmp/abs/", path_str(&out)]).ok();
    let hostname = sb.docker(&["exec", "box", "cat", "/etc/hostname"]).ok();
    assert_eq!(fs::read_to_string(&out).unwrap(), hostname);
}

#[test]
fn cp_into_and_out_of_stopped_containers() {
    let sb = Sandbox::with_busybox();
    let host = sb.dir().join("stopped");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("greeting"), b"from the host\n").unwrap();
    sb.docker(&["create", "--name", "stopped", "busybox", "cat", "/greeting"])
        .ok();
    sb.docker(&["cp", path_str(&host.join("greeting")), "stopped:/"])
        .ok();
    let out = sb.docker(&["start", "-a", "stopped"]).ok();
    assert_eq!(out, "from the host\n");
    // Exited now: copy out of it, export it.
    let tar = host.join("stopped.tar");
    sb.docker(&["export", "-o", path_str(&tar), "stopped"]).ok();
    let listing = Command::new("tar").arg("tf").arg(&tar).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.lines().any(|l| l == "greeting"), "{listing}");
    sb.docker(&["cp", "stopped:/greeting", path_str(&host.join("back"))])
        .ok();
    assert_eq!(fs::read(host.join("back")).unwrap(), b"from the host\n");
}

#[test]
fn cp_from_a_volume_running_and_stopped() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "vol",
        "-v",
        "vol1:/data",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&["exec", "vol", "sh", "-c", "echo in the volume > /data/x"])
        .ok();
    let out = sb.dir().join("vol-out");
    fs::create_dir_all(&out).unwrap();
    sb.docker(&["cp", "vol:/data/x", path_str(&out.join("running"))])
        .ok();
    assert_eq!(fs::read(out.join("running")).unwrap(), b"in the volume\n");
    sb.docker(&["kill", "vol"]).ok();
    sb.docker(&["wait", "vol"]).ok();
    sb.docker(&["cp", "vol:/data/x", path_str(&out.join("stopped"))])
        .ok();
    assert_eq!(fs::read(out.join("stopped")).unwrap(), b"in the volume\n");
    // Into the stopped container's volume: the volume has it.
    fs::write(out.join("y"), b"copied in\n").unwrap();
    sb.docker(&["cp", path_str(&out.join("y")), "vol:/data/"])
        .ok();
    let read = sb
        .docker(&["run", "--rm", "-v", "vol1:/v", "busybox", "cat", "/v/y"])
        .ok();
    assert_eq!(read, "copied in\n");
    // A read-only volume refuses.
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "rovol",
        "-v",
        "vol1:/data:ro",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    let err = sb
        .docker(&["cp", path_str(&out.join("y")), "rovol:/data/"])
        .err();
    assert!(err.contains("mounted volume is marked read-only"), "{err}");
}

#[test]
fn cp_archive_mode_gives_the_files_to_the_containers_user() {
    let sb = Sandbox::with_busybox();
    let file = sb.dir().join("owned");
    fs::write(&file, b"x").unwrap();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "usr",
        "--user",
        "1234:5678",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&["cp", "-a", path_str(&file), "usr:/tmp/"]).ok();
    sb.docker(&["cp", path_str(&file), "usr:/tmp/plain"]).ok();
    let owners = sb
        .docker(&[
            "exec",
            "usr",
            "stat",
            "-c",
            "%u:%g",
            "/tmp/owned",
            "/tmp/plain",
        ])
        .ok();
    // Without -a the archive's owners stay (the CLI's: root here).
    assert_eq!(owners, "1234:5678\n0:0\n");
}

#[test]
fn cp_of_a_missing_path_and_to_a_read_only_root_fail_as_docker() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1d"])
        .ok();
    let out = sb.dir().join("missing-out");
    let err = sb.docker(&["cp", "box:/nope", path_str(&out)]).err();
    assert!(
        err.contains("Could not find the file /nope in container box"),
        "{err}"
    );
    let (status, _) = sb.http("HEAD", "/containers/box/archive?path=/nope", None);
    assert_eq!(status, 404);
    let (status, _) = sb.http("HEAD", "/containers/box/archive?path=", None);
    assert_eq!(status, 400);

    sb.docker(&[
        "run",
        "-d",
        "--read-only",
        "--name",
        "ro1",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    let file = sb.dir().join("ro-file");
    fs::write(&file, b"x").unwrap();
    let err = sb.docker(&["cp", path_str(&file), "ro1:/tmp/"]).err();
    assert!(
        err.contains("container rootfs is marked read-only"),
        "{err}"
    );
}

#[test]
fn export_diff_and_sizes() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1d"])
        .ok();
    let tar = sb.dir().join("export.tar");
    sb.docker(&["export", "-o", path_str(&tar), "box"]).ok();
    let listing = Command::new("tar").arg("tf").arg(&tar).output().unwrap();
    assert!(listing.status.success());
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.lines().any(|l| l == "bin/busybox"), "{listing}");

    // What runc makes for its mounts is not a change (Docker's init layer).
    assert_eq!(sb.docker(&["diff", "box"]).ok(), "");
    sb.docker(&[
        "exec",
        "box",
        "sh",
        "-c",
        "echo new > /tmp/new && echo more >> /etc/passwd && rm /bin/ls",
    ])
    .ok();
    let diff = sb.docker(&["diff", "box"]).ok();
    for line in ["C /etc", "C /etc/passwd", "A /tmp/new", "D /bin/ls"] {
        assert!(diff.lines().any(|l| l == line), "{line} not in:\n{diff}");
    }
    assert!(!diff.contains("/etc/hosts"), "{diff}");

    let size = sb.docker(&["ps", "-s", "--format", "{{.Size}}"]).ok();
    assert!(size.contains("B (virtual "), "{size}");
    let rw = sb
        .docker(&["inspect", "-s", "-f", "{{.SizeRw}} {{.SizeRootFs}}", "box"])
        .ok();
    let sizes: Vec<i64> = rw.split_whitespace().map(|s| s.parse().unwrap()).collect();
    assert!(sizes[0] > 0 && sizes[1] > sizes[0], "{rw}");
}
