//! `docker pull` from a real registry (Debian's docker-registry in the
//! sandbox, on loopback), with the real docker CLI: by tag and digest,
//! `run` of a missing image, shared layers stored and fetched once, broken
//! pulls that leave nothing and retry cleanly, Docker's error words,
//! insecure registries from daemon.json, zstd layers, blobs removed with
//! the last image using them. Auth, TLS and mirrors: `registries.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::fs;
use std::path::Path;

use berth_testkit::registry::{busybox_layer, image_config, layer_tar, write_docker_archive};
use berth_testkit::sandbox::Sandbox;
use serde_json::json;

fn daemon() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.start_daemon(&[]);
    sb
}

fn blobs(sb: &Sandbox) -> Vec<String> {
    let dir = sb.data_root().join("images/blobs/sha256");
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn image_tmp_is_empty(sb: &Sandbox) -> bool {
    fs::read_dir(sb.data_root().join("images/tmp"))
        .unwrap()
        .count()
        == 0
}

#[test]
fn pull_by_tag_and_digest_inspect_and_run() {
    let sb = daemon();
    let registry = sb.start_registry();
    let id = sb.push_motd_image(&registry, "busybox", "hello from the registry\n");

    let out = sb.docker(&["pull", "127.0.0.1:5000/busybox"]).ok();
    assert!(
        out.contains("latest: Pulling from 127.0.0.1:5000/busybox"),
        "{out}"
    );
    assert!(out.contains("Pull complete"), "{out}");
    assert!(
        out.contains("Status: Downloaded newer image for 127.0.0.1:5000/busybox:latest"),
        "{out}"
    );
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_owned();
    let manifest = registry.manifest(&sb, "busybox", "latest");
    assert_eq!(manifest["config"]["digest"], id);

    let image = sb.inspect("127.0.0.1:5000/busybox");
    assert_eq!(image["Id"], id);
    assert_eq!(image["RepoTags"], json!(["127.0.0.1:5000/busybox:latest"]));
    assert_eq!(
        image["RepoDigests"],
        json!([format!("127.0.0.1:5000/busybox@{digest}")])
    );
    assert_eq!(image["Config"]["Cmd"], json!(["cat", "motd"]));
    assert_eq!(image["Config"]["WorkingDir"], "/etc");
    assert_eq!(image["Config"]["Labels"], json!({"from": "registry"}));
    assert!(image["Created"]
        .as_str()
        .unwrap()
        .starts_with("2024-05-06T07:08:09"));
    assert_eq!(image["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    let listed = sb
        .docker(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"])
        .ok();
    assert!(
        listed.contains(&format!("127.0.0.1:5000/busybox latest {}", &id[7..19])),
        "{listed}"
    );

    // The image's Cmd, WorkingDir and Env are what run uses.
    let out = sb.docker(&["run", "--rm", "127.0.0.1:5000/busybox"]).ok();
    assert_eq!(out, "hello from the registry\n");
    let out = sb
        .docker(&[
            "run",
            "--rm",
            "127.0.0.1:5000/busybox",
            "sh",
            "-c",
            "echo $GREETING",
        ])
        .ok();
    assert_eq!(out, "hello\n");

    // The image's healthcheck and stop signal come with it.
    assert_eq!(
        image["Config"]["Healthcheck"]["Test"],
        json!(["CMD-SHELL", "true"])
    );
    assert_eq!(image["Config"]["StopSignal"], "SIGQUIT");
    sb.docker(&["create", "--name", "hc", "127.0.0.1:5000/busybox"])
        .ok();
    let c = sb.inspect("hc");
    assert_eq!(
        c["Config"]["Healthcheck"]["Test"],
        json!(["CMD-SHELL", "true"])
    );
    assert_eq!(c["Config"]["Healthcheck"]["Retries"], 2);
    assert_eq!(c["Config"]["StopSignal"], "SIGQUIT");
    sb.docker(&["rm", "hc"]).ok();

    // Again: nothing new.
    let out = sb.docker(&["pull", "127.0.0.1:5000/busybox"]).ok();
    assert!(
        out.contains("Status: Image is up to date for 127.0.0.1:5000/busybox:latest"),
        "{out}"
    );
    // By digest, into a clean daemon state: the image took its blobs with
    // it, so they come again.
    sb.docker(&["rmi", "127.0.0.1:5000/busybox"]).ok();
    assert_eq!(blobs(&sb), Vec::<String>::new());
    let by_digest = format!("127.0.0.1:5000/busybox@{digest}");
    let out = sb.docker(&["pull", &by_digest]).ok();
    assert!(out.contains("Pull complete"), "{out}");
    let image = sb.inspect(&by_digest);
    assert_eq!(image["Id"], id);
    assert_eq!(image["RepoTags"], json!([]));
    assert!(image_tmp_is_empty(&sb));
}

#[test]
fn run_of_a_missing_image_pulls_it() {
    let sb = daemon();
    let registry = sb.start_registry();
    sb.push_motd_image(&registry, "team/app", "app\n");
    let run = sb.docker(&["run", "--rm", "127.0.0.1:5000/team/app"]);
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "app\n");
    assert!(
        run.stderr
            .contains("Unable to find image '127.0.0.1:5000/team/app:latest' locally"),
        "{}",
        run.stderr
    );
    // `docker pull -q` prints the name alone.
    let out = sb.docker(&["pull", "-q", "127.0.0.1:5000/team/app"]).ok();
    assert_eq!(out, "127.0.0.1:5000/team/app:latest\n");
}

#[test]
fn pull_errors_are_dockers() {
    let sb = daemon();
    let registry = sb.start_registry();
    sb.push_motd_image(&registry, "busybox", "x\n");
    let err = sb.docker(&["pull", "127.0.0.1:5000/busybox:nope"]).err();
    assert!(
        err.contains("manifest for 127.0.0.1:5000/busybox:nope not found: manifest unknown"),
        "{err}"
    );
    let err = sb.docker(&["pull", "127.0.0.1:5000/nothing"]).err();
    assert!(
        err.contains("127.0.0.1:5000/nothing") && err.contains("not found"),
        "{err}"
    );
    let err = sb.docker(&["pull", "127.0.0.1:5001/busybox"]).err();
    assert!(err.contains("connection refused"), "{err}");
    let err = sb
        .docker(&[
            "pull",
            "--platform",
            "linux/s390x",
            "127.0.0.1:5000/busybox",
        ])
        .err();
    assert!(
        err.contains("does not match the specified platform: wanted linux/s390x"),
        "{err}"
    );
    let out = sb.docker(&["images", "-q"]).ok();
    assert_eq!(out, "", "a failed pull leaves no image");
    assert!(image_tmp_is_empty(&sb));
}

#[test]
fn shared_layers_are_stored_and_fetched_once_by_concurrent_pulls() {
    let sb = daemon();
    let registry = sb.start_registry();
    let one = sb.push_motd_image(&registry, "one", "one\n");
    let two = sb.push_motd_image(&registry, "two", "two\n");
    let shared = registry.manifest(&sb, "one", "latest")["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        registry.manifest(&sb, "two", "latest")["layers"][0]["digest"],
        shared
    );

    let pulls: Vec<_> = ["one", "two"]
        .iter()
        .map(|name| {
            sb.docker_command(&["pull", &format!("127.0.0.1:5000/{name}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for pull in pulls {
        let out = pull.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    assert_eq!(sb.inspect("127.0.0.1:5000/one")["Id"], one);
    assert_eq!(sb.inspect("127.0.0.1:5000/two")["Id"], two);
    // Two images, three blobs: the shared layer once, on disk and on the
    // wire.
    assert_eq!(blobs(&sb).len(), 3, "{:?}", blobs(&sb));
    assert!(blobs(&sb).contains(&shared[7..].to_owned()));
    let gets = registry.blob_gets(&shared);
    assert_eq!(gets, 1, "{}", registry.log());
    assert_eq!(
        sb.docker(&["run", "--rm", "127.0.0.1:5000/two"]).ok(),
        "two\n"
    );
}

#[test]
fn rmi_removes_the_blobs_no_image_uses_any_more() {
    let sb = daemon();
    let registry = sb.start_registry();
    sb.push_motd_image(&registry, "one", "one\n");
    sb.push_motd_image(&registry, "two", "two\n");
    let layer = |name: &str, i: usize| {
        registry.manifest(&sb, name, "latest")["layers"][i]["digest"]
            .as_str()
            .unwrap()[7..]
            .to_owned()
    };
    let (shared, own_one, own_two) = (layer("one", 0), layer("one", 1), layer("two", 1));
    sb.docker(&["pull", "127.0.0.1:5000/one"]).ok();
    sb.docker(&["pull", "127.0.0.1:5000/two"]).ok();
    let mut all = vec![shared.clone(), own_one, own_two.clone()];
    all.sort();
    assert_eq!(blobs(&sb), all);

    sb.docker(&["rmi", "127.0.0.1:5000/one"]).ok();
    let mut left = vec![shared, own_two];
    left.sort();
    assert_eq!(blobs(&sb), left);
    assert_eq!(
        sb.docker(&["run", "--rm", "127.0.0.1:5000/two"]).ok(),
        "two\n"
    );
    sb.docker(&["image", "prune", "-af"]).ok();
    assert_eq!(blobs(&sb), Vec::<String>::new());
    assert_eq!(sb.docker(&["images", "-q"]).ok(), "");
}

#[test]
fn zstd_layers_pull_run_save_and_load() {
    let sb = daemon();
    let registry = sb.start_registry();
    let layers = vec![busybox_layer(), layer_tar(&[("etc/motd", b"zstd\n")])];
    let config = image_config(&layers, json!({"Cmd": ["cat", "/etc/motd"]}));
    let archive = sb.dir().join("zstd.tar");
    write_docker_archive(&archive, "zstd:latest", &layers, &config);
    sb.skopeo_push_with(
        &registry,
        &archive,
        "zstd:latest",
        "--format oci --dest-compress-format zstd",
    )
    .ok();
    let manifest = registry.manifest(&sb, "zstd", "latest");
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
            "{manifest}"
        );
    }

    sb.docker(&["pull", "127.0.0.1:5000/zstd"]).ok();
    // skopeo rewrote the config as OCI's: the id is the registry's.
    assert_eq!(
        sb.inspect("127.0.0.1:5000/zstd")["Id"],
        manifest["config"]["digest"]
    );
    assert_eq!(
        sb.docker(&["run", "--rm", "127.0.0.1:5000/zstd"]).ok(),
        "zstd\n"
    );

    // A save holds the layers as plain tars; loaded back, they run.
    let saved = sb.dir().join("saved.tar");
    sb.docker(&["save", "-o", saved.to_str().unwrap(), "127.0.0.1:5000/zstd"])
        .ok();
    sb.docker(&["rmi", "127.0.0.1:5000/zstd"]).ok();
    sb.docker(&["load", "-i", saved.to_str().unwrap()]).ok();
    assert_eq!(
        sb.docker(&["run", "--rm", "127.0.0.1:5000/zstd"]).ok(),
        "zstd\n"
    );
}

/// Replaces `path` with `bytes` and returns what it held.
fn swap(path: &Path, bytes: &[u8]) -> Vec<u8> {
    let old = fs::read(path).unwrap();
    fs::write(path, bytes).unwrap();
    old
}

#[test]
fn a_broken_pull_leaves_nothing_and_a_retry_finishes_it() {
    let sb = daemon();
    let mut registry = sb.start_registry();
    let id = sb.push_motd_image(&registry, "busybox", "retry\n");
    let manifest = registry.manifest(&sb, "busybox", "latest");
    let top = manifest["layers"][1]["digest"].as_str().unwrap().to_owned();
    let base = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();

    // The registry serves a corrupt top layer: the digest check refuses it.
    let file = registry.blob_file(&top);
    let good = fs::read(&file).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff;
    swap(&file, &bad);
    let err = sb.docker(&["pull", "127.0.0.1:5000/busybox"]).err();
    assert!(err.contains("verification failed"), "{err}");
    assert_eq!(sb.docker(&["images", "-q"]).ok(), "");
    assert!(!blobs(&sb).contains(&top[7..].to_owned()));
    assert!(
        blobs(&sb).contains(&base[7..].to_owned()),
        "the good layer stays"
    );
    assert!(image_tmp_is_empty(&sb));

    // The registry dies: the pull fails, leaving nothing.
    swap(&file, &good);
    registry.kill();
    let err = sb.docker(&["pull", "127.0.0.1:5000/busybox"]).err();
    assert!(err.contains("connection refused"), "{err}");
    assert_eq!(sb.docker(&["images", "-q"]).ok(), "");

    // Back again: the retry takes what it has and fetches the rest.
    registry.restart(&sb);
    let out = sb.docker(&["pull", "127.0.0.1:5000/busybox"]).ok();
    assert!(
        out.contains(&format!("{}: Already exists", &base[7..19])),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: Pull complete", &top[7..19])),
        "{out}"
    );
    assert_eq!(sb.inspect("127.0.0.1:5000/busybox")["Id"], id);
    assert_eq!(registry.blob_gets(&base), 1);
    assert_eq!(
        sb.docker(&["run", "--rm", "127.0.0.1:5000/busybox"]).ok(),
        "retry\n"
    );
    assert!(image_tmp_is_empty(&sb));
}

#[test]
fn insecure_registries_come_from_daemon_json() {
    let mut sb = daemon();
    sb.sh("ip addr add 10.99.0.1/32 dev lo").ok();
    let registry = sb.start_registry_at("10.99.0.1:5000");
    sb.push_motd_image(&registry, "busybox", "insecure\n");
    // Not insecure: HTTPS only, which a plain HTTP registry cannot speak.
    let err = sb.docker(&["pull", "10.99.0.1:5000/busybox"]).err();
    assert!(err.contains("Get \"https://10.99.0.1:5000/v2/\""), "{err}");

    sb.stop_daemon();
    sb.write_daemon_json(r#"{"insecure-registries": ["10.99.0.0/16"]}"#);
    sb.restart_daemon();
    sb.docker(&["pull", "10.99.0.1:5000/busybox"]).ok();
    assert_eq!(
        sb.docker(&["run", "--rm", "10.99.0.1:5000/busybox"]).ok(),
        "insecure\n"
    );
}

#[test]
fn push_then_pull_back_into_a_clean_daemon() {
    let mut sb = daemon();
    let registry = sb.start_registry();
    let id = sb.push_motd_image(&registry, "busybox", "pushed by berth\n");
    let out = sb.docker(&["pull", "127.0.0.1:5000/busybox"]).ok();
    let pulled = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_owned();
    sb.docker(&["tag", "127.0.0.1:5000/busybox", "127.0.0.1:5000/copy:v2"])
        .ok();
    let out = sb.docker(&["push", "127.0.0.1:5000/copy:v2"]).ok();
    assert!(
        out.contains("The push refers to repository [127.0.0.1:5000/copy]"),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    // The manifest goes back as it came: the same digest.
    assert!(
        out.contains(&format!("v2: digest: {pulled} size: ")),
        "{out}"
    );
    assert!(sb.inspect("127.0.0.1:5000/copy:v2")["RepoDigests"]
        .as_array()
        .unwrap()
        .contains(&json!(format!("127.0.0.1:5000/copy@{pulled}"))));
    let again = sb.docker(&["push", "127.0.0.1:5000/copy:v2"]).ok();
    assert_eq!(again.matches("Layer already exists").count(), 2, "{again}");

    let err = sb.docker(&["push", "127.0.0.1:5000/nothing:v1"]).err();
    assert!(
        err.contains("An image does not exist locally with the tag: 127.0.0.1:5000/nothing"),
        "{err}"
    );

    // A clean daemon pulls what berth pushed.
    sb.stop_daemon();
    fs::remove_dir_all(sb.data_root()).unwrap();
    sb.restart_daemon();
    sb.docker(&["pull", "127.0.0.1:5000/copy:v2"]).ok();
    assert_eq!(sb.inspect("127.0.0.1:5000/copy:v2")["Id"], id);
    assert_eq!(
        sb.docker(&["run", "--rm", "127.0.0.1:5000/copy:v2"]).ok(),
        "pushed by berth\n"
    );
}

/// berth's own CLI: `tag`, `push` and `pull` (with docker's lines, the
/// full reference last, and `-q` printing only that).
#[test]
fn berths_cli_tags_pushes_and_pulls() {
    let sb = daemon();
    let registry = sb.start_registry();
    let id = sb.push_motd_image(&registry, "busybox", "pushed by berth\n");
    let out = sb.berth(&["pull", "127.0.0.1:5000/busybox"]).ok();
    assert!(
        out.contains("latest: Pulling from 127.0.0.1:5000/busybox"),
        "{out}"
    );
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(out.ends_with("127.0.0.1:5000/busybox:latest\n"), "{out}");
    sb.berth(&["tag", "127.0.0.1:5000/busybox", "127.0.0.1:5000/mine:v1"])
        .ok();
    let out = sb.berth(&["push", "127.0.0.1:5000/mine:v1"]).ok();
    assert!(
        out.contains("The push refers to repository [127.0.0.1:5000/mine]"),
        "{out}"
    );
    sb.berth(&["rmi", "127.0.0.1:5000/busybox", "127.0.0.1:5000/mine:v1"])
        .ok();
    let quiet = sb.berth(&["pull", "-q", "127.0.0.1:5000/mine:v1"]).ok();
    assert_eq!(quiet, "127.0.0.1:5000/mine:v1\n");
    assert_eq!(sb.inspect("127.0.0.1:5000/mine:v1")["Id"], id);
    let err = sb.berth(&["pull", "127.0.0.1:5000/nothing"]).err();
    assert!(err.contains("manifest unknown"), "{err}");

    // run of a missing image pulls it first, as docker's CLI does.
    sb.berth(&["rmi", "127.0.0.1:5000/mine:v1"]).ok();
    let run = sb.berth(&["run", "--rm", "127.0.0.1:5000/mine:v1"]);
    assert_eq!(run.stdout, "pushed by berth\n", "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Unable to find image '127.0.0.1:5000/mine:v1' locally"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Status: Downloaded newer image"),
        "{}",
        run.stderr
    );

    // An imported image keeps its tarball as its layer: it pushes too.
    sb.import_busybox();
    sb.berth(&["tag", "busybox", "127.0.0.1:5000/imported"])
        .ok();
    let imported = sb.inspect("busybox")["Id"].clone();
    let out = sb.berth(&["push", "127.0.0.1:5000/imported"]).ok();
    assert!(out.contains("latest: digest: sha256:"), "{out}");
    sb.berth(&["rmi", "busybox", "127.0.0.1:5000/imported"])
        .ok();
    sb.berth(&["pull", "127.0.0.1:5000/imported"]).ok();
    assert_eq!(sb.inspect("127.0.0.1:5000/imported")["Id"], imported);
    let err = sb
        .berth(&["tag", "127.0.0.1:5000/mine:v1", "Bad:Name"])
        .err();
    assert!(err.contains("invalid reference format"), "{err}");
}

#[test]
fn a_pulled_image_saves_and_loads_back() {
    let sb = daemon();
    let registry = sb.start_registry();
    let id = sb.push_motd_image(&registry, "busybox", "saved\n");
    sb.docker(&["pull", "127.0.0.1:5000/busybox"]).ok();
    let archive = sb.dir().join("pulled.tar");
    sb.docker(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "127.0.0.1:5000/busybox",
    ])
    .ok();
    sb.docker(&["rmi", "127.0.0.1:5000/busybox"]).ok();
    let out = sb.docker(&["load", "-i", archive.to_str().unwrap()]).ok();
    assert_eq!(out, "Loaded image: 127.0.0.1:5000/busybox:latest\n");
    assert_eq!(sb.inspect("127.0.0.1:5000/busybox")["Id"], id);
    assert_eq!(
        sb.docker(&["run", "--rm", "127.0.0.1:5000/busybox"]).ok(),
        "saved\n"
    );
    // What berth saved, skopeo (containers/image) reads as a Docker
    // archive: it goes to the registry and back.
    sb.skopeo_push(&registry, &archive, "resaved:latest").ok();
    sb.docker(&["pull", "127.0.0.1:5000/resaved"]).ok();
    assert_eq!(sb.inspect("127.0.0.1:5000/resaved")["Id"], id);
}

/// Partial downloads under the image store's temp directory.
fn partial_blobs(sb: &Sandbox) -> Vec<u64> {
    fs::read_dir(sb.data_root().join("images/tmp"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("blob-"))
        .map(|e| e.metadata().unwrap().len())
        .collect()
}

#[test]
fn a_registry_killed_mid_download_leaves_nothing_and_the_retry_pulls() {
    let sb = daemon();
    let mut registry = sb.start_registry();
    // 6 MiB that gzip cannot shrink, through a 16 Mbit/s loopback: the
    // download lasts seconds, so it is caught in the middle.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..6 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let layers = vec![busybox_layer(), layer_tar(&[("noise", &noise)])];
    let config = image_config(&layers, json!({"Cmd": ["ls", "-l", "/noise"]}));
    let archive = sb.dir().join("big.tar");
    let id = write_docker_archive(&archive, "big:latest", &layers, &config);
    sb.skopeo_push(&registry, &archive, "big:latest").ok();
    // The burst holds a whole loopback packet (64 KiB), or nothing passes.
    sb.sh("tc qdisc add dev lo root tbf rate 16mbit burst 128kb latency 1s")
        .ok();

    let mut pull = sb
        .docker_command(&["pull", "127.0.0.1:5000/big"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (without a deadline of our own: the test harness has one) until
    // part of a layer is on disk, then kill the registry.
    while !partial_blobs(&sb).iter().any(|len| *len > 0) {
        assert!(
            pull.try_wait().unwrap().is_none(),
            "the pull ended before it was caught mid-download: {}",
            sb.daemon_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    registry.kill();
    let out = pull.wait_with_output().unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(sb.docker(&["images", "-q"]).ok(), "", "no half image");
    assert!(image_tmp_is_empty(&sb), "no partial download left");
    assert!(blobs(&sb).len() < 2, "the big layer never got its name");

    sb.sh("tc qdisc del dev lo root").ok();
    registry.restart(&sb);
    sb.docker(&["pull", "127.0.0.1:5000/big"]).ok();
    assert_eq!(sb.inspect("127.0.0.1:5000/big")["Id"], id);
    let out = sb.docker(&["run", "--rm", "127.0.0.1:5000/big"]).ok();
    assert!(out.contains(" 6291456 "), "{out}");
}

#[test]
fn compose_up_pulls_registry_images() {
    let sb = daemon();
    let registry = sb.start_registry();
    sb.push_motd_image(&registry, "team/web", "composed\n");
    let file = "version: '3'\nservices:\n  web:\n    image: 127.0.0.1:5000/team/web\n    command: [\"sleep\", \"1d\"]\n";
    let up = sb.compose("proj", file, &["up", "-d"]);
    assert_eq!(up.status, 0, "{up:?}");
    let ps = sb
        .docker(&["ps", "--format", "{{.Image}} {{.Status}}"])
        .ok();
    assert!(ps.starts_with("127.0.0.1:5000/team/web Up"), "{ps}");
    sb.compose("proj", file, &["down"]).ok();
}
