use std::os::unix::fs::{symlink, PermissionsExt};

use super::super::resolve::split_request_path;
use super::*;

#[test]
fn go_modes_of_files_directories_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    fs::write(&f, b"x").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o4755)).unwrap();
    symlink("f", tmp.path().join("l")).unwrap();
    let md = |p: &Path| fs::symlink_metadata(p).unwrap();
    assert_eq!(go_file_mode(&md(&f)), 0o755 | go_mode::SETUID);
    assert_eq!(go_file_mode(&md(tmp.path())) & go_mode::DIR, go_mode::DIR);
    assert_eq!(
        go_file_mode(&md(&tmp.path().join("l"))) & go_mode::SYMLINK,
        go_mode::SYMLINK
    );
}

#[test]
fn stat_names_the_entry_and_resolves_a_link_in_scope() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir(root.join("etc")).unwrap();
    fs::write(root.join("etc/hosts"), b"hello").unwrap();
    symlink("/etc/hosts", root.join("h")).unwrap();
    let (_, s) = stat(root, &split_request_path("/etc/hosts").unwrap(), "c").unwrap();
    assert_eq!((s.name.as_str(), s.size), ("hosts", 5));
    let (_, s) = stat(root, &split_request_path("h").unwrap(), "c").unwrap();
    assert_eq!(s.link_target, "/etc/hosts");
    let e = stat(root, &split_request_path("/nope").unwrap(), "c").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Could not find the file /nope in container c"
    );
}

#[test]
fn archive_round_trip_keeps_links_and_refuses_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/f"), b"data").unwrap();
    fs::set_permissions(src.join("d/f"), fs::Permissions::from_mode(0o640)).unwrap();
    symlink("/etc/passwd", src.join("d/l")).unwrap();
    let mut tar = Vec::new();
    write_archive(&src.join("d"), "d", &mut tar).unwrap();

    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("dst")).unwrap();
    // A link in the container to outside: writes go inside the root.
    symlink("/", root.join("dst/escape")).unwrap();
    let dst = split_request_path("/dst").unwrap();
    extract(&root, &dst, "c", &tar[..], &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(root.join("dst/d/f")).unwrap(), b"data");
    let md = fs::metadata(root.join("dst/d/f")).unwrap();
    assert_eq!(md.mode() & 0o777, 0o640);
    assert_eq!(
        fs::read_link(root.join("dst/d/l")).unwrap(),
        Path::new("/etc/passwd")
    );

    // An archive naming `escape/x` follows the link inside the root.
    let mut b = Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_cksum();
    b.append_data(&mut h, "escape/x", &b"hi"[..]).unwrap();
    let tar2 = b.into_inner().unwrap();
    extract(&root, &dst, "c", &tar2[..], &ExtractOptions::default()).unwrap();
    assert_eq!(fs::read(root.join("x")).unwrap(), b"hi");

    // Extracting to a file is refused; to a missing path is a 404.
    let e = extract(
        &root,
        &split_request_path("/dst/d/f").unwrap(),
        "c",
        &tar[..],
        &ExtractOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "extraction point is not a directory");
    let e = extract(
        &root,
        &split_request_path("/none").unwrap(),
        "c",
        &tar[..],
        &ExtractOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ArchiveError::NotFound { .. }));
}

#[test]
fn a_directorys_content_is_named_dot_slash() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    fs::create_dir_all(d.join("sub")).unwrap();
    fs::write(d.join("sub/f.txt"), b"1").unwrap();
    let long = "x".repeat(120);
    fs::write(d.join(&long), b"22").unwrap();
    symlink("sub", d.join("l")).unwrap();
    let mut tar = Vec::new();
    write_archive(&d, ".", &mut tar).unwrap();
    let mut names = Vec::new();
    for e in Archive::new(&tar[..]).entries().unwrap() {
        let e = e.unwrap();
        names.push(String::from_utf8(e.path_bytes().into_owned()).unwrap());
    }
    assert_eq!(
        names,
        [
            "./",
            "./l",
            "./sub/",
            "./sub/f.txt",
            format!("./{long}").as_str()
        ]
    );
}

#[test]
fn no_overwrite_dir_non_dir_refuses_replacing_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("d/x")).unwrap();
    let mut b = Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_cksum();
    b.append_data(&mut h, "x", &b"1"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        chown: None,
    };
    let e = extract(
        root,
        &split_request_path("/d").unwrap(),
        "c",
        &tar[..],
        &opts,
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot overwrite directory"), "{e}");
    extract(
        root,
        &split_request_path("/d").unwrap(),
        "c",
        &tar[..],
        &ExtractOptions::default(),
    )
    .unwrap();
    assert_eq!(fs::read(root.join("d/x")).unwrap(), b"1");
}
