//! The image store's unit tests: imports, names, removal, leftovers.

use sha2::{Digest, Sha256};

use super::*;

/// A tar of regular files (mode 755, owned by root), for the store's tests.
pub(crate) fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn import(store: &ImageStore, tag: Option<&str>, files: &[(&str, &[u8])]) -> Image {
    let data = tarball(files);
    let opts = ImportOptions {
        tag: tag.map(|t| RepoTag::parse(t).unwrap()),
        ..Default::default()
    };
    store
        .import(ImportSource::Tar(&mut &data[..]), &opts)
        .unwrap()
}

#[test]
fn import_inspect_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let data = tarball(&[("bin/sh", b"#!"), ("etc/passwd", b"root")]);
    let opts = ImportOptions {
        tag: Some(RepoTag::parse("busybox").unwrap()),
        changes: vec!["CMD [\"sh\"]".into(), "ENV A=1".into()],
        message: None,
    };
    let img = store
        .import(ImportSource::Tar(&mut &data[..]), &opts)
        .unwrap();
    assert_eq!(img.repo_tags, ["busybox:latest"]);
    assert_eq!(img.size, 6);
    assert_eq!(img.comment, "Imported from -");
    assert_eq!(img.config.cmd.as_deref(), Some(&["sh".to_owned()][..]));
    assert_eq!(img.layers.len(), 1);
    assert!(img.rootfs.join("bin/sh").is_file());

    // The id is the digest of config.json.
    let cfg = fs::read(dir.path().join(img.id.hex()).join("config.json")).unwrap();
    assert_eq!(unpack::hex(&Sha256::digest(&cfg)), img.id.hex());

    for r in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &img.id.to_string(),
        img.id.hex(),
        &img.id.hex()[..5],
        &format!("sha256:{}", &img.id.hex()[..7]),
    ] {
        assert_eq!(store.resolve(r).unwrap(), img.id, "{r}");
    }
    assert_eq!(store.inspect("busybox").unwrap(), img);
    assert_eq!(store.list().unwrap(), vec![img]);
    assert_eq!(
        store.resolve("nope").unwrap_err().to_string(),
        "No such image: nope:latest"
    );
    assert!(store.resolve("busybox:1").is_err());
}

#[test]
fn reimport_moves_the_tag_and_remove_follows_docker() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let old = import(&store, Some("app:v1"), &[("a", b"1")]);
    let new = import(&store, Some("app:v1"), &[("a", b"2")]);
    assert_ne!(old.id, new.id);
    assert_eq!(store.resolve("app:v1").unwrap(), new.id);
    assert!(store.inspect(old.id.hex()).unwrap().repo_tags.is_empty());

    // Two names on one image: removing one only untags.
    let plan = store.plan_remove(new.id.hex(), false);
    assert!(plan.is_ok());
    let idx_hex = new.id.hex().to_owned();
    {
        let mut index = store.lock();
        index.tags.insert("other:latest".into(), idx_hex);
    }
    let e = store.plan_remove(&new.id.to_string(), false).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            new.id.short()
        )
    );
    let out = store.remove_reference("app:v1", false).unwrap();
    assert_eq!(out, [Removed::Untagged("app:v1".into())]);
    assert!(store.rootfs(&new.id).exists());
    let out = store.remove_reference("other", false).unwrap();
    assert_eq!(
        out,
        [
            Removed::Untagged("other:latest".into()),
            Removed::Deleted(new.id.clone())
        ]
    );
    assert!(!store.rootfs(&new.id).exists());
    // The dangling old image goes by id.
    let out = store.remove_reference(old.id.hex(), false).unwrap();
    assert_eq!(out, [Removed::Deleted(old.id.clone())]);
    assert!(store.list().unwrap().is_empty());

    // The index survived on disk.
    let reopened = ImageStore::open(dir.path()).unwrap();
    assert!(reopened.list().unwrap().is_empty());
}

#[test]
fn ambiguous_prefix_and_bad_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let mut ids = Vec::new();
    // Enough images that two share a first hex digit.
    for i in 0..17u8 {
        ids.push(import(&store, None, &[("f", &[i])]).id);
    }
    let mut firsts: Vec<_> = ids.iter().map(|i| &i.hex()[..1]).collect();
    firsts.sort();
    let dup = firsts.windows(2).find(|w| w[0] == w[1]).unwrap()[0];
    assert!(matches!(store.resolve(dup), Err(Error::AmbiguousImage(_))));

    let data = tarball(&[("a", b"1")]);
    let opts = ImportOptions {
        changes: vec!["RUN rm -rf /".into()],
        ..Default::default()
    };
    let e = store
        .import(ImportSource::Tar(&mut &data[..]), &opts)
        .unwrap_err();
    assert_eq!(e.to_string(), "run is not a valid change command");
}

#[test]
fn a_staged_import_is_listed_only_once_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let data = tarball(&[("a", b"1")]);
    let opts = ImportOptions {
        tag: Some(RepoTag::parse("app").unwrap()),
        ..Default::default()
    };
    let staged = store
        .stage(ImportSource::Tar(&mut &data[..]), &opts)
        .unwrap();
    assert!(store.rootfs(&staged.id).join("a").is_file());
    assert!(store.list().unwrap().is_empty());
    assert!(matches!(store.resolve("app"), Err(Error::NoSuchImage(_))));
    let image = store.record(&staged).unwrap();
    assert_eq!((image.id.clone(), image.size), (staged.id.clone(), 1));
    assert_eq!(store.resolve("app").unwrap(), staged.id);

    // Removal leaves the files moved aside for the caller to delete.
    let plan = store.plan_remove("app", false).unwrap();
    let (removed, doomed) = store.remove_deferred(&plan).unwrap();
    assert_eq!(
        removed,
        [
            Removed::Untagged("app:latest".into()),
            Removed::Deleted(staged.id.clone())
        ]
    );
    let doomed = doomed.unwrap();
    assert!(doomed.join("rootfs/a").is_file());
    assert!(!store.rootfs(&staged.id).exists());

    // A staged import never recorded goes at the next open, as do
    // files moved aside and not deleted.
    let orphan = store
        .stage(ImportSource::Tar(&mut &data[..]), &opts)
        .unwrap();
    drop(store);
    ImageStore::open(dir.path()).unwrap();
    assert!(!dir.path().join(orphan.id.hex()).exists());
    assert!(!doomed.exists());
}

#[test]
fn open_sweeps_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let img = import(&store, Some("keep"), &[("a", b"1")]);
    drop(store);
    // An import that was renamed into place but never indexed, and one
    // still in progress.
    let orphan = dir.path().join("f".repeat(64));
    fs::create_dir_all(orphan.join("rootfs")).unwrap();
    fs::create_dir_all(dir.path().join("tmp/import-x/rootfs")).unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    assert!(!orphan.exists());
    assert!(!dir.path().join("tmp/import-x").exists());
    assert_eq!(store.resolve("keep").unwrap(), img.id);
}
