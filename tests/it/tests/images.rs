//! Images end to end: `docker import` and `docker rmi` with the real
//! docker CLI on a real berthd in a sandbox host, against containers that
//! use the image.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::fs;

use berth_testkit::registry::{busybox_layer, image_config, layer_tar, write_docker_archive};
use berth_testkit::sandbox::{busybox_tarball, Sandbox};

#[test]
fn import_run_and_rmi_refused_while_a_container_uses_the_image() {
    let mut sb = Sandbox::new();
    sb.start_daemon(&[]);
    let tar = busybox_tarball();
    let id = sb
        .docker(&["import", tar.to_str().unwrap(), "box:v1"])
        .ok()
        .trim()
        .to_owned();
    let hex = id.strip_prefix("sha256:").expect("an image id");
    assert_eq!(
        sb.docker(&["run", "--rm", "box:v1", "echo", "imported"])
            .ok(),
        "imported\n"
    );

    // Created, never started: removal only with force.
    sb.docker(&["create", "--name", "user", "box:v1", "sleep", "1d"])
        .ok();
    let user = sb.inspect("user")["Id"].as_str().unwrap().to_owned();
    let err = sb.docker(&["rmi", "box:v1"]).err();
    assert!(
        err.contains(&format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            &hex[..12],
            &user[..12]
        )),
        "{err}"
    );

    // Running: never, not even forced.
    sb.docker(&["start", "user"]).ok();
    for args in [&["rmi", "box:v1"][..], &["rmi", "-f", "box:v1"]] {
        let err = sb.docker(args).err();
        assert!(
            err.contains(&format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                &hex[..12],
                &user[..12]
            )),
            "{err}"
        );
    }
    assert_eq!(
        sb.docker(&["images", "-q", "box:v1"]).ok().trim(),
        &hex[..12]
    );

    // Stopped again: forced removal untags and deletes.
    sb.docker(&["stop", "-t", "0", "user"]).ok();
    let err = sb.docker(&["rmi", "box:v1"]).err();
    assert!(err.contains("(must be forced)"), "{err}");
    let out = sb.docker(&["rmi", "-f", "box:v1"]).ok();
    assert_eq!(out, format!("Untagged: box:v1\nDeleted: {id}\n"));
    assert_eq!(sb.docker(&["images", "-q"]).ok(), "");
    let err = sb.docker(&["image", "inspect", "box:v1"]).err();
    assert!(err.contains("No such image"), "{err}");
    sb.docker(&["rm", "user"]).ok();
}

#[test]
fn tag_names_an_image_and_rmi_untags_before_it_deletes() {
    let sb = Sandbox::with_busybox();
    let id = sb.inspect("busybox")["Id"].as_str().unwrap().to_owned();
    sb.docker(&["tag", "busybox", "team/app:v1"]).ok();
    sb.docker(&["tag", &id[7..19], "127.0.0.1:5000/app"]).ok();
    let image = sb.inspect("team/app:v1");
    assert_eq!(image["Id"], id);
    assert_eq!(
        image["RepoTags"],
        serde_json::json!(["127.0.0.1:5000/app:latest", "busybox:latest", "team/app:v1"])
    );
    // The image's Cmd comes with the new name.
    assert_eq!(
        sb.docker(&["run", "--rm", "team/app:v1", "echo", "tagged"])
            .ok(),
        "tagged\n"
    );

    let err = sb.docker(&["tag", "nosuch", "x"]).err();
    assert!(err.contains("No such image: nosuch"), "{err}");
    let err = sb.docker(&["tag", "busybox", "Bad/Name"]).err();
    assert!(err.contains("invalid reference format"), "{err}");

    // A name untags; the last name deletes.
    let out = sb.docker(&["rmi", "team/app:v1"]).ok();
    assert_eq!(out, "Untagged: team/app:v1\n");
    sb.docker(&["rmi", "127.0.0.1:5000/app"]).ok();
    let out = sb.docker(&["rmi", "busybox"]).ok();
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
}

/// An image imported by a berth that kept no imported layers (its
/// directory has no manifest) has no layer archive: push and save say so.
/// (An import keeps its tarball now: `pull.rs`.)
#[test]
fn push_and_save_of_an_image_without_layer_archive_are_refused_by_name() {
    let sb = Sandbox::with_busybox();
    let id = sb.inspect("busybox")["Id"].as_str().unwrap().to_owned();
    let dir = sb
        .data_root()
        .join("images")
        .join(id.trim_start_matches("sha256:"));
    fs::remove_file(dir.join("manifest.json")).unwrap();
    let err = sb.docker(&["push", "busybox"]).err();
    assert!(
        err.contains("berth cannot push busybox:latest: it was imported"),
        "{err}"
    );
    let err = sb
        .docker(&[
            "save",
            "-o",
            sb.dir().join("b.tar").to_str().unwrap(),
            "busybox",
        ])
        .err();
    assert!(
        err.contains("berth cannot save busybox: it was imported"),
        "{err}"
    );
}

#[test]
fn load_takes_a_docker_save_archive() {
    let mut sb = Sandbox::new();
    sb.start_daemon(&[]);
    let layers = vec![busybox_layer(), layer_tar(&[("etc/motd", b"loaded\n")])];
    let config = image_config(&layers, serde_json::json!({"Cmd": ["cat", "/etc/motd"]}));
    let archive = sb.dir().join("saved.tar");
    let id = write_docker_archive(&archive, "app:v1", &layers, &config);
    let out = sb.docker(&["load", "-i", archive.to_str().unwrap()]).ok();
    assert_eq!(out, "Loaded image: app:v1\n");
    assert_eq!(sb.inspect("app:v1")["Id"], id);
    assert_eq!(sb.docker(&["run", "--rm", "app:v1"]).ok(), "loaded\n");
    // Again, from stdin: the same image, nothing new.
    let again = berth_testkit::sandbox::run_with_input(
        &mut sb.docker_command(&["load"]),
        &std::fs::read(&archive).unwrap(),
    );
    assert_eq!(again.stdout, "Loaded image: app:v1\n", "{again:?}");
    assert_eq!(sb.docker(&["images", "-q"]).ok().lines().count(), 1);

    // Saved and loaded back: the same image, under the same name.
    let saved = sb.dir().join("resaved.tar");
    sb.docker(&["save", "-o", saved.to_str().unwrap(), "app:v1"])
        .ok();
    sb.docker(&["rmi", "app:v1"]).ok();
    let out = sb.docker(&["load", "-i", saved.to_str().unwrap()]).ok();
    assert_eq!(out, "Loaded image: app:v1\n");
    assert_eq!(sb.inspect("app:v1")["Id"], id);
    assert_eq!(sb.docker(&["run", "--rm", "app:v1"]).ok(), "loaded\n");
    let listing = sb.sh(&format!("tar tf {}", saved.display())).ok();
    for name in [
        "manifest.json",
        "repositories",
        &format!("{}.json", &id[7..]),
    ] {
        assert!(listing.lines().any(|l| l == name), "{name} in {listing}");
    }

    // Not an archive docker save makes: nothing loaded.
    let err = sb
        .docker(&["load", "-i", busybox_tarball().to_str().unwrap()])
        .err();
    assert!(err.contains("no manifest.json"), "{err}");
    assert_eq!(sb.docker(&["images", "-q"]).ok().lines().count(), 1);
}
