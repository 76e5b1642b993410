//! Images end to end: `docker import` and `docker rmi` with the real
//! docker CLI on a real berthd in a sandbox host, against containers that
//! use the image.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

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
