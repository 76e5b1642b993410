//! Image commands against `serve` over the stub backend: what `import`
//! streams, beyond the comparisons with docker.

use std::io::Read;

use berth_api::testing::Call;
use berth_api::{Backend, ImageImportOptions};

use crate::daemon::Daemon;
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
    let daemon = Daemon::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::write(root.join("bin/busybox"), "#!fake\n").expect("write");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("symlink");
    // Larger than one chunk, so it really streams.
    std::fs::write(root.join("big"), "x".repeat(200_000)).expect("write");
    let root = root.display().to_string();
    let out = daemon
        .berth(
            &["import", "-c", "CMD [\"sh\"]", &root, "busybox:latest"],
            "",
        )
        .await;
    assert_eq!(text(&out.stderr), "");
    assert!(out.status.success());
    let imports = daemon.imports();
    let [import] = imports.as_slice() else {
        panic!("one import, not {imports:?}");
    };
    assert_eq!(
        import.query,
        "changes=CMD+%5B%22sh%22%5D&fromSrc=-&repo=busybox%3Alatest"
    );
    // The id of the image the daemon made of all that was streamed.
    let id = text(&out.stdout).trim_end().to_string();
    assert!(
        daemon.backend.image_inspect(id.clone()).await.is_ok(),
        "{id}"
    );
    assert!(daemon.backend.calls().contains(&Call::ImageImport(
        ImageImportOptions {
            repo: Some("busybox:latest".to_string()),
            tag: None,
            message: "Imported from -".to_string(),
            changes: vec!["CMD [\"sh\"]".to_string()],
        },
        import.body.len()
    )));
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
    let sent = daemon.requests()[1].clone();
    assert!(sent.starts_with("POST /v1.50/images/create?"), "{sent}");
}

#[tokio::test]
async fn import_streams_files_and_stdin_verbatim() {
    let daemon = Daemon::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("r.tar");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).expect("write");
    let out = daemon
        .berth(&["import", &file.display().to_string(), "img"], "")
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdin = daemon.berth(&["import", "-", "img:2"], "tar bytes").await;
    assert!(stdin.status.success(), "{}", text(&stdin.stderr));
    let imports = daemon.imports();
    assert_eq!(imports[0].body, bytes);
    assert_eq!(imports[1].body, b"tar bytes");
    assert_eq!(imports[1].query, "fromSrc=-&repo=img%3A2");
}

#[tokio::test]
async fn import_errors() {
    let daemon = Daemon::start().await;
    let missing = daemon.berth(&["import", "/nonexistent.tar"], "").await;
    assert_eq!(
        text(&missing.stderr),
        "open /nonexistent.tar: no such file or directory\n"
    );
    assert_eq!(missing.status.code(), Some(1));
    let bad = daemon.berth(&["import", "-", "BAD"], "").await;
    assert_eq!(
        text(&bad.stderr),
        "invalid reference format: repository name (library/BAD) must be lowercase\n"
    );
    // An error in the daemon's progress stream ends the command.
    let refused = daemon.berth(&["import", "-", "x-BAD"], "").await;
    assert_eq!(
        text(&refused.stderr),
        "invalid reference format: repository name (library/x-BAD) must be lowercase\n"
    );
    assert!(daemon.imports().is_empty());
}
