//! Image commands against the fake daemon: what `import` streams, beyond
//! the comparisons with docker.

use std::io::Read;

use crate::fake::Fake;
use crate::text;

/// The entries of a tarball: path, kind and content.
fn entries(tarball: &[u8]) -> Vec<(String, tar::EntryType, String)> {
    let mut archive = tar::Archive::new(tarball);
    let mut out = Vec::new();
    for entry in archive.entries().expect("a tarball") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().expect("a path").display().to_string();
        let kind = entry.header().entry_type();
        let mut content = String::new();
        entry.read_to_string(&mut content).expect("content");
        out.push((path, kind, content));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn import_tars_a_directory_as_it_streams() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::write(root.join("bin/busybox"), "#!fake\n").expect("write");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("symlink");
    // Larger than one chunk, so it really streams.
    std::fs::write(root.join("big"), "x".repeat(200_000)).expect("write");
    let root = root.display().to_string();
    let out = fake
        .berth(
            &["import", "-c", "CMD [\"sh\"]", &root, "busybox:latest"],
            "",
        )
        .await;
    assert_eq!(text(&out.stderr), "");
    assert!(out.status.success());
    let imports = fake.imports();
    let [import] = imports.as_slice() else {
        panic!("one import, not {imports:?}");
    };
    assert_eq!(
        import.query,
        "changes=CMD+%5B%22sh%22%5D&fromSrc=-&repo=busybox%3Alatest"
    );
    assert_eq!(
        text(&out.stdout),
        format!("sha256:{:064x}\n", import.body.len())
    );
    let got: Vec<(String, tar::EntryType, usize)> = entries(&import.body)
        .into_iter()
        .map(|(p, k, c)| (p, k, c.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("./".to_string(), tar::EntryType::Directory, 0),
            ("big".to_string(), tar::EntryType::Regular, 200_000),
            ("bin".to_string(), tar::EntryType::Directory, 0),
            ("bin/busybox".to_string(), tar::EntryType::Regular, 7),
            ("bin/sh".to_string(), tar::EntryType::Symlink, 0),
        ]
    );
    let sent = fake.requests()[1].clone();
    assert!(sent.starts_with("POST /v1.50/images/create?"), "{sent}");
}

#[tokio::test]
async fn import_streams_files_and_stdin_verbatim() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("r.tar");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).expect("write");
    let out = fake
        .berth(&["import", &file.display().to_string(), "img"], "")
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdin = fake.berth(&["import", "-", "img:2"], "tar bytes").await;
    assert!(stdin.status.success(), "{}", text(&stdin.stderr));
    let imports = fake.imports();
    assert_eq!(imports[0].body, bytes);
    assert_eq!(imports[1].body, b"tar bytes");
    assert_eq!(imports[1].query, "fromSrc=-&repo=img%3A2");
}

#[tokio::test]
async fn import_errors() {
    let fake = Fake::start().await;
    let missing = fake.berth(&["import", "/nonexistent.tar"], "").await;
    assert_eq!(
        text(&missing.stderr),
        "open /nonexistent.tar: no such file or directory\n"
    );
    assert_eq!(missing.status.code(), Some(1));
    let bad = fake.berth(&["import", "-", "BAD"], "").await;
    assert_eq!(
        text(&bad.stderr),
        "invalid reference format: repository name (library/BAD) must be lowercase\n"
    );
    // An error in the daemon's progress stream ends the command.
    let refused = fake.berth(&["import", "-", "x-BAD"], "").await;
    assert_eq!(
        text(&refused.stderr),
        "invalid reference format: repository name (library/x-BAD) must be lowercase\n"
    );
    assert!(fake.imports().is_empty());
}
