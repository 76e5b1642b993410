//! Housekeeping end to end with the real docker CLI: `container prune`,
//! `image prune`, `system prune`, `system df [-v]`, Docker's `ps` and
//! `images` filters, and what `info` and `version` say of the host.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{busybox_tarball, Sandbox};

fn names(sb: &Sandbox, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ps", "--format", "{{.Names}}"];
    all.extend_from_slice(args);
    let mut list: Vec<String> = sb.docker(&all).ok().lines().map(str::to_owned).collect();
    list.sort();
    list
}

fn run_d(sb: &Sandbox, args: &[&str]) {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    sb.docker(&all).ok();
}

/// Waits (bounded) until `docker inspect -f template name` renders `want`.
#[track_caller]
fn until(sb: &Sandbox, name: &str, template: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = sb.docker(&["inspect", "-f", template, name]).ok();
        if got.trim() == want {
            return;
        }
        assert!(Instant::now() < deadline, "{name}: {got:?}, not {want:?}");
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn container_prune_removes_only_stopped_containers_the_filter_admits() {
    let sb = Sandbox::with_busybox();
    run_d(&sb, &["--name", "up", "busybox", "sleep", "1d"]);
    run_d(&sb, &["--name", "done", "busybox", "true"]);
    run_d(
        &sb,
        &["--name", "kept", "--label", "keep=1", "busybox", "true"],
    );
    sb.docker(&["create", "--name", "fresh", "busybox", "true"])
        .ok();
    until(&sb, "done", "{{.State.Status}}", "exited");
    until(&sb, "kept", "{{.State.Status}}", "exited");

    let out = sb
        .docker(&["container", "prune", "-f", "--filter", "label!=keep"])
        .ok();
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(names(&sb, &["-a"]), ["kept", "up"]);

    let out = sb
        .docker(&["container", "prune", "-f", "--filter", "label=keep=1"])
        .ok();
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert_eq!(names(&sb, &["-a"]), ["up"]);

    let err = sb
        .docker(&["container", "prune", "-f", "--filter", "colour=red"])
        .err();
    assert!(err.contains("invalid filter 'colour'"), "{err}");
}

#[test]
fn image_prune_keeps_images_in_use() {
    let sb = Sandbox::with_busybox();
    let tar = busybox_tarball();
    let tar = tar.to_str().unwrap();
    // A second, unused image and a dangling one.
    sb.docker(&["import", "--change", "LABEL spare=1", tar, "spare:1"])
        .ok();
    let dangling = sb
        .docker(&["import", "--change", "LABEL dangling=1", tar])
        .ok()
        .trim()
        .to_owned();
    run_d(&sb, &["--name", "user", "busybox", "sleep", "1d"]);

    let out = sb.docker(&["image", "prune", "-f"]).ok();
    assert!(out.contains(&dangling), "the dangling one goes: {out}");
    let tags = sb
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert!(
        tags.contains("spare:1") && tags.contains("busybox:latest"),
        "{tags}"
    );

    let out = sb.docker(&["image", "prune", "-a", "-f"]).ok();
    assert!(out.contains("untagged: spare:1"), "{out}");
    let tags = sb
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert_eq!(tags.trim(), "busybox:latest", "the image in use stays");
}

#[test]
fn system_prune_and_df() {
    let sb = Sandbox::with_busybox();
    run_d(&sb, &["--name", "up", "busybox", "sleep", "1d"]);
    run_d(
        &sb,
        &[
            "--name",
            "writer",
            "-v",
            "data:/data",
            "busybox",
            "sh",
            "-c",
            "head -c 100000 /dev/zero > /big; head -c 50000 /dev/zero > /data/f",
        ],
    );
    until(&sb, "writer", "{{.State.Status}}", "exited");

    let df = sb.docker(&["system", "df"]).ok();
    let header = df.lines().next().unwrap();
    for column in ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"] {
        assert!(header.contains(column), "{df}");
    }
    let row = |kind: &str| {
        df.lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} row: {df}"))
            .split_whitespace()
            .skip(kind.split_whitespace().count())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let images = row("Images");
    assert_eq!(&images[..2], ["1", "1"], "{df}");
    assert_ne!(images[2], "0B", "the image has a size: {df}");
    let containers = row("Containers");
    assert_eq!(&containers[..2], ["2", "1"], "{df}");
    assert_eq!(containers[2], "100kB", "what the writer wrote: {df}");
    let volumes = row("Local Volumes");
    assert_eq!(&volumes[..3], ["1", "1", "50kB"], "{df}");
    assert_eq!(&row("Build Cache")[..3], ["0", "0", "0B"], "{df}");

    let verbose = sb.docker(&["system", "df", "-v"]).ok();
    for heading in [
        "Images space usage:",
        "Containers space usage:",
        "Local Volumes space usage:",
        "Build cache usage: 0B",
    ] {
        assert!(verbose.contains(heading), "{verbose}");
    }
    for column in ["SHARED SIZE", "UNIQUE SIZE", "LOCAL VOLUMES", "LINKS"] {
        assert!(verbose.contains(column), "{verbose}");
    }
    let writer = verbose
        .lines()
        .find(|l| l.contains("writer"))
        .unwrap_or_else(|| panic!("no writer row: {verbose}"));
    let cells: Vec<&str> = writer.split_whitespace().collect();
    let size = cells.iter().position(|c| *c == "100kB").expect(writer);
    assert_eq!(cells[size - 1], "1", "LOCAL VOLUMES: {writer}");
    let data = verbose
        .lines()
        .find(|l| l.starts_with("data "))
        .unwrap_or_else(|| panic!("no data row: {verbose}"));
    assert!(data.contains("50kB"), "{data}");

    eprintln!("DF\n{df}\n{verbose}");
    let out = sb.docker(&["system", "prune", "-f"]).ok();
    eprintln!("PRUNE\n{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(names(&sb, &["-a"]), ["up"], "the stopped one went");
    let out = sb
        .docker(&["system", "prune", "-a", "-f", "--volumes"])
        .ok();
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let images = sb.docker(&["images", "-q"]).ok();
    assert_eq!(images.lines().count(), 1, "busybox is in use: {images}");
}

#[test]
fn ps_filters_as_docker() {
    let sb = Sandbox::with_busybox();
    run_d(
        &sb,
        &[
            "--name",
            "web",
            "-p",
            "18080:8080",
            "busybox",
            "sleep",
            "1d",
        ],
    );
    run_d(&sb, &["--name", "three", "busybox", "sh", "-c", "exit 3"]);
    run_d(
        &sb,
        &[
            "--name",
            "probed",
            "--health-cmd",
            "true",
            "--health-interval",
            "200ms",
            "busybox",
            "sleep",
            "1d",
        ],
    );
    until(&sb, "three", "{{.State.Status}}", "exited");
    until(&sb, "probed", "{{.State.Health.Status}}", "healthy");

    assert_eq!(
        names(&sb, &["-a", "--filter", "ancestor=busybox"]),
        ["probed", "three", "web"]
    );
    assert!(names(&sb, &["-a", "--filter", "ancestor=nosuch"]).is_empty());
    assert_eq!(names(&sb, &["-a", "--filter", "exited=3"]), ["three"]);
    assert_eq!(names(&sb, &["--filter", "health=healthy"]), ["probed"]);
    assert_eq!(names(&sb, &["--filter", "health=none"]), ["web"]);
    assert_eq!(names(&sb, &["-a", "--filter", "before=three"]), ["web"]);
    assert_eq!(names(&sb, &["-a", "--filter", "since=three"]), ["probed"]);
    assert_eq!(names(&sb, &["--filter", "publish=8080"]), ["web"]);
    assert_eq!(names(&sb, &["--filter", "expose=8000-8100/tcp"]), ["web"]);
    assert!(names(&sb, &["--filter", "publish=8080/udp"]).is_empty());
    assert!(names(&sb, &["-a", "--filter", "is-task=true"]).is_empty());
    assert_eq!(names(&sb, &["--filter", "status=exited"]), ["three"]);

    let err = sb.docker(&["ps", "--filter", "health=great"]).err();
    assert!(
        err.contains("Unrecognised filter value for health: great"),
        "{err}"
    );
}

#[test]
fn images_by_reference_and_filters() {
    let sb = Sandbox::with_busybox();
    let tar = busybox_tarball();
    sb.docker(&[
        "import",
        "--change",
        "LABEL team=a",
        tar.to_str().unwrap(),
        "team/app:v1",
    ])
    .ok();
    let list = |args: &[&str]| {
        let mut all = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        all.extend_from_slice(args);
        let mut l: Vec<String> = sb.docker(&all).ok().lines().map(str::to_owned).collect();
        l.sort();
        l
    };
    assert_eq!(list(&["busybox"]), ["busybox:latest"]);
    assert_eq!(list(&["team/app:v1"]), ["team/app:v1"]);
    assert!(list(&["team/app:v2"]).is_empty());
    assert_eq!(list(&["--filter", "reference=team/*"]), ["team/app:v1"]);
    assert_eq!(list(&["--filter", "label=team=a"]), ["team/app:v1"]);
    assert_eq!(list(&["--filter", "since=busybox"]), ["team/app:v1"]);
    assert_eq!(
        list(&["--filter", "before=team/app:v1"]),
        ["busybox:latest"]
    );
    assert!(list(&["--filter", "dangling=true"]).is_empty());
}

#[test]
fn info_and_version_report_the_host() {
    let sb = Sandbox::with_busybox();
    let info = sb
        .docker(&[
            "info",
            "--format",
            "{{.LiveRestoreEnabled}} {{.NCPU}} {{.MemTotal}}",
        ])
        .ok();
    let fields: Vec<&str> = info.split_whitespace().collect();
    assert_eq!(fields[0], "true", "{info}");
    assert!(fields[1].parse::<u32>().unwrap() >= 1, "{info}");
    assert!(fields[2].parse::<u64>().unwrap() > 0, "{info}");

    let os = sb
        .docker(&[
            "info",
            "--format",
            "{{.OperatingSystem}}|{{.OSType}}|{{.KernelVersion}}",
        ])
        .ok();
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap();
    let pretty = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap()
        .trim_matches('"');
    assert!(os.starts_with(&format!("{pretty}|linux|")), "{os}");

    let arch = sb.docker(&["version", "--format", "{{.Server.Arch}}"]).ok();
    if cfg!(target_arch = "x86_64") {
        assert_eq!(arch.trim(), "amd64");
    }

    run_d(&sb, &["--name", "up", "busybox", "sleep", "1d"]);
    sb.docker(&["create", "--name", "idle", "busybox", "true"])
        .ok();
    let counts = sb
        .docker(&[
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}",
        ])
        .ok();
    assert_eq!(counts.trim(), "2 1 0 1 1");
}
