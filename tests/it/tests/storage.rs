//! Mounts and volumes end to end, with the real docker CLI: binds, named
//! and anonymous volumes, tmpfs, a read-only root and `--volumes-from`,
//! each checked from inside the container and in `docker inspect`; the
//! volume API (`docker volume create/ls/inspect/rm/prune`); volumes that
//! survive a daemon restart; a docker-compose project that keeps its data
//! across `down`/`up`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::Sandbox;
use serde_json::Value;

/// `run --rm busybox sh -c SCRIPT` with `args` before the image; stdout.
fn run_sh(sb: &Sandbox, args: &[&str], script: &str) -> String {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "sh", "-c", script]);
    sb.docker(&all).ok()
}

/// The line of the container's `/proc/self/mountinfo` for `target`.
fn mountinfo_line(sb: &Sandbox, args: &[&str], target: &str) -> String {
    let info = run_sh(sb, args, "cat /proc/self/mountinfo");
    info.lines()
        .find(|l| l.split(' ').nth(4) == Some(target))
        .unwrap_or_else(|| panic!("{target} not mounted:\n{info}"))
        .to_owned()
}

fn volume_names(sb: &Sandbox) -> Vec<String> {
    sb.docker(&["volume", "ls", "-q"])
        .ok()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn binds_read_write_and_read_only() {
    let sb = Sandbox::with_busybox();
    let host = sb.dir().join("host-data");
    let bind = format!("{}:/data", host.display());
    // A missing host directory is made, as Docker does for -v.
    run_sh(&sb, &["-v", &bind], "echo hello > /data/f");
    assert_eq!(
        std::fs::read_to_string(host.join("f")).unwrap().trim(),
        "hello"
    );

    let ro = format!("{}:/data:ro", host.display());
    let line = mountinfo_line(&sb, &["-v", &ro], "/data");
    assert!(line.split(' ').nth(5).unwrap().starts_with("ro"), "{line}");
    let out = run_sh(
        &sb,
        &["-v", &ro],
        "cat /data/f; echo x > /data/g 2>/dev/null && echo wrote || echo refused",
    );
    assert_eq!(out, "hello\nrefused\n");
    assert!(!host.join("g").exists());

    // --mount: a missing source is Docker's error, nothing is made.
    let missing = sb.dir().join("missing");
    let mount = format!("type=bind,source={},target=/x", missing.display());
    let run = sb.docker(&["run", "--rm", "--mount", &mount, "busybox", "true"]);
    assert_ne!(run.status, 0);
    assert!(
        run.stderr.contains(&format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            missing.display()
        )),
        "{}",
        run.stderr
    );
    assert!(!missing.exists());
    let mount = format!("type=bind,source={},target=/x,readonly", host.display());
    assert_eq!(run_sh(&sb, &["--mount", &mount], "cat /x/f"), "hello\n");

    let run = sb.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/d:xyz", host.display()),
        "busybox",
        "true",
    ]);
    assert!(run.stderr.contains("invalid mode: xyz"), "{}", run.stderr);
    let run = sb.docker(&[
        "run", "--rm", "-v", "/a:/d", "-v", "/b:/d", "busybox", "true",
    ]);
    assert!(
        run.stderr.contains("Duplicate mount point: /d"),
        "{}",
        run.stderr
    );

    // Shared or slave propagation needs a source the host shares, as in
    // Docker; the sandbox's mounts are private.
    let run = sb.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/d:rshared", host.display()),
        "busybox",
        "true",
    ]);
    assert!(
        run.stderr.contains(&format!(
            "path {} is mounted on / but it is not a shared mount",
            host.display()
        )),
        "{}",
        run.stderr
    );
    let shared = sb.dir().join("shared");
    sb.sh(&format!(
        "mkdir -p {d} && mount --bind {d} {d} && mount --make-shared {d}",
        d = shared.display()
    ))
    .ok();
    let line = mountinfo_line(
        &sb,
        &["-v", &format!("{}:/d:rshared", shared.display())],
        "/d",
    );
    assert!(line.contains(" shared:"), "{line}");
    let line = mountinfo_line(
        &sb,
        &["-v", &format!("{}:/d:rslave", shared.display())],
        "/d",
    );
    assert!(line.contains(" master:"), "{line}");

    // Inspect shows what was asked and what is mounted.
    sb.docker(&[
        "create", "--name", "binder", "-v", &ro, "--mount", &mount, "busybox", "true",
    ])
    .ok();
    let c = sb.inspect("binder");
    assert_eq!(c["HostConfig"]["Binds"], serde_json::json!([ro]));
    assert_eq!(c["HostConfig"]["Mounts"][0]["Type"], "bind");
    assert_eq!(c["HostConfig"]["Mounts"][0]["Target"], "/x");
    assert_eq!(c["HostConfig"]["Mounts"][0]["ReadOnly"], true);
    let mounts = c["Mounts"].as_array().unwrap();
    let data = mounts.iter().find(|m| m["Destination"] == "/data").unwrap();
    assert_eq!(data["Type"], "bind");
    assert_eq!(data["Source"], host.display().to_string());
    assert_eq!(data["Mode"], "ro");
    assert_eq!(data["RW"], false);
    assert_eq!(data["Propagation"], "rprivate");
}

#[test]
fn named_and_anonymous_volumes_and_the_volume_api() {
    let mut sb = Sandbox::with_busybox();
    // A named volume is made on first use and keeps its data.
    run_sh(&sb, &["-v", "vol1:/data"], "echo kept > /data/f");
    assert_eq!(run_sh(&sb, &["-v", "vol1:/v"], "cat /v/f"), "kept\n");
    let v: Value = serde_json::from_str(&sb.docker(&["volume", "inspect", "vol1"]).ok()).unwrap();
    let mountpoint = v[0]["Mountpoint"].as_str().unwrap().to_owned();
    assert_eq!(
        mountpoint,
        sb.data_root()
            .join("volumes/vol1/_data")
            .display()
            .to_string()
    );
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(
        std::fs::read_to_string(format!("{mountpoint}/f")).unwrap(),
        "kept\n"
    );

    // docker volume create with labels; ls filters.
    sb.docker(&["volume", "create", "--label", "team=db", "vol2"])
        .ok();
    let labelled = sb
        .docker(&["volume", "ls", "-q", "--filter", "label=team=db"])
        .ok();
    assert_eq!(labelled.trim(), "vol2");
    let named = sb
        .docker(&["volume", "ls", "-q", "--filter", "name=vol"])
        .ok();
    assert_eq!(named.lines().collect::<Vec<_>>(), ["vol1", "vol2"]);

    // In use: rm is Docker's 409, with the user's id.
    let id = sb
        .docker(&[
            "create",
            "--name",
            "user",
            "-v",
            "vol1:/data",
            "busybox",
            "true",
        ])
        .ok();
    let rm = sb.docker(&["volume", "rm", "vol1"]);
    assert_ne!(rm.status, 0);
    assert!(
        rm.stderr
            .contains(&format!("remove vol1: volume is in use - [{}]", id.trim())),
        "{}",
        rm.stderr
    );
    let dangling = sb
        .docker(&["volume", "ls", "-q", "--filter", "dangling=true"])
        .ok();
    assert_eq!(dangling.trim(), "vol2");
    assert_eq!(
        sb.docker(&["ps", "-aq", "--filter", "volume=vol1"])
            .ok()
            .trim(),
        &id.trim()[..12]
    );
    let c = sb.inspect("user");
    assert_eq!(c["HostConfig"]["Binds"], serde_json::json!(["vol1:/data"]));
    let m = &c["Mounts"][0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Name"], "vol1");
    assert_eq!(m["Source"], mountpoint.as_str());
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["Mode"], "z", "moby's mode for a local volume given none");
    assert_eq!(m["RW"], true);
    sb.docker(&["rm", "user"]).ok();

    // Anonymous volumes: gone with --rm and rm -v, kept by a plain rm.
    let before = volume_names(&sb);
    run_sh(&sb, &["-v", "/anon"], "echo x > /anon/f");
    assert_eq!(
        volume_names(&sb),
        before,
        "--rm removed its anonymous volume"
    );
    sb.docker(&["create", "--name", "a1", "-v", "/anon", "busybox", "true"])
        .ok();
    let c = sb.inspect("a1");
    assert_eq!(c["Config"]["Volumes"], serde_json::json!({"/anon": {}}));
    let anon = c["Mounts"][0]["Name"].as_str().unwrap().to_owned();
    assert_eq!(anon.len(), 64);
    assert_eq!(c["Mounts"][0]["Mode"], "");
    let v: Value = serde_json::from_str(&sb.docker(&["volume", "inspect", &anon]).ok()).unwrap();
    assert_eq!(v[0]["Labels"]["com.docker.volume.anonymous"], "");
    sb.docker(&["rm", "-v", "a1"]).ok();
    assert!(!volume_names(&sb).contains(&anon));
    assert!(!sb.data_root().join("volumes").join(&anon).exists());
    sb.docker(&["create", "--name", "a2", "-v", "/anon", "busybox", "true"])
        .ok();
    let anon = sb.inspect("a2")["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_owned();
    sb.docker(&["rm", "a2"]).ok();
    assert!(volume_names(&sb).contains(&anon));

    // Volumes survive a restart of the daemon, data included.
    sb.stop_daemon();
    sb.restart_daemon();
    assert_eq!(run_sh(&sb, &["-v", "vol1:/v"], "cat /v/f"), "kept\n");
    assert!(volume_names(&sb).contains(&anon));
    // And a crash: a directory no record explains (a removal cut short
    // after its record went) is removed at the next start.
    let leftover = sb.data_root().join("volumes/leftover/_data");
    std::fs::create_dir_all(&leftover).unwrap();
    sb.kill_daemon();
    sb.restart_daemon();
    assert!(!leftover.parent().unwrap().exists());
    assert_eq!(run_sh(&sb, &["-v", "vol1:/v"], "cat /v/f"), "kept\n");
    assert!(volume_names(&sb).contains(&anon));

    // prune: anonymous unused ones by default, named ones with --all.
    let pruned = sb.docker(&["volume", "prune", "-f"]).ok();
    assert!(pruned.contains(&anon), "{pruned}");
    assert_eq!(volume_names(&sb), ["vol1", "vol2"]);
    sb.docker(&["volume", "prune", "-af"]).ok();
    assert!(volume_names(&sb).is_empty());
    assert!(!std::path::Path::new(&mountpoint).exists());

    let missing = sb.docker(&["volume", "inspect", "nope"]);
    assert!(
        missing.stderr.contains("no such volume"),
        "{}",
        missing.stderr
    );
    sb.docker(&["volume", "rm", "-f", "nope"]).ok();
}

#[test]
fn tmpfs_read_only_root_and_volumes_from() {
    let sb = Sandbox::with_busybox();
    let line = mountinfo_line(&sb, &["--tmpfs", "/run:size=64m,mode=1770"], "/run");
    assert!(line.contains(" - tmpfs "), "{line}");
    assert!(line.contains("size=65536k"), "{line}");
    assert!(line.contains("mode=1770"), "{line}");
    assert!(line.split(' ').nth(5).unwrap().contains("noexec"), "{line}");
    let line = mountinfo_line(
        &sb,
        &["--mount", "type=tmpfs,target=/t,tmpfs-size=1048576"],
        "/t",
    );
    assert!(line.contains("size=1024k"), "{line}");

    // A read-only root refuses writes; /dev/shm and a tmpfs stay writable.
    let out = run_sh(
        &sb,
        &["--read-only", "--tmpfs", "/tmp"],
        "touch /x 2>/dev/null && echo root-writable; \
         touch /dev/shm/x && touch /tmp/x && echo ok",
    );
    assert_eq!(out, "ok\n");
    sb.docker(&[
        "create",
        "--name",
        "ro",
        "--read-only",
        "--tmpfs",
        "/run:size=1m",
        "busybox",
        "true",
    ])
    .ok();
    let c = sb.inspect("ro");
    assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true);
    assert_eq!(
        c["HostConfig"]["Tmpfs"],
        serde_json::json!({"/run": "size=1m"})
    );
    assert_eq!(c["Mounts"], serde_json::json!([]));

    // --volumes-from: the source's volumes, read-only with :ro.
    sb.docker(&[
        "run",
        "--name",
        "src",
        "-v",
        "shared:/shared",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo s > /shared/f; echo a > /anon/f",
    ])
    .ok();
    let out = run_sh(
        &sb,
        &["--volumes-from", "src:ro"],
        "cat /shared/f /anon/f; echo x > /shared/g 2>/dev/null && echo wrote || echo refused",
    );
    assert_eq!(out, "s\na\nrefused\n");
    sb.docker(&[
        "create",
        "--name",
        "dst",
        "--volumes-from",
        "src",
        "busybox",
        "true",
    ])
    .ok();
    let c = sb.inspect("dst");
    assert_eq!(c["HostConfig"]["VolumesFrom"], serde_json::json!(["src"]));
    assert_eq!(c["Mounts"].as_array().unwrap().len(), 2);
    // The anonymous volume is shared: rm -v of its first user keeps it.
    let anon = sb.inspect("src")["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/anon")
        .unwrap()["Name"]
        .as_str()
        .unwrap()
        .to_owned();
    sb.docker(&["rm", "-v", "src"]).ok();
    assert!(volume_names(&sb).contains(&anon));
    sb.docker(&["rm", "-v", "dst"]).ok();
    assert!(!volume_names(&sb).contains(&anon));

    let missing = sb.docker(&["run", "--rm", "--volumes-from", "nosuch", "busybox", "true"]);
    assert!(
        missing.stderr.contains("No such container: nosuch"),
        "{}",
        missing.stderr
    );
}

#[test]
fn image_volumes_are_filled_from_the_image() {
    let sb = Sandbox::with_busybox();
    let tar = berth_testkit::sandbox::busybox_tarball();
    let import = sb
        .docker_command(&["import", "--change", "VOLUME /etc", "-", "volimg"])
        .stdin(std::fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    let out = sb
        .docker(&[
            "run",
            "--name",
            "iv",
            "volimg",
            "sh",
            "-c",
            "grep -c ^root: /etc/passwd; grep ' /etc ' /proc/self/mountinfo | wc -l; cat /etc/hostname",
        ])
        .ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "the image's /etc was copied up: {out}");
    assert_eq!(lines[1], "1", "/etc is a volume: {out}");
    assert_eq!(lines[2].len(), 12, "the /etc files are still there: {out}");
    let c = sb.inspect("iv");
    assert_eq!(c["Config"]["Volumes"], serde_json::json!({"/etc": {}}));
    let anon = c["Mounts"][0]["Name"].as_str().unwrap().to_owned();
    let passwd = sb
        .data_root()
        .join("volumes")
        .join(&anon)
        .join("_data/passwd");
    assert!(passwd.exists());
    sb.docker(&["rm", "-v", "iv"]).ok();
    assert!(volume_names(&sb).is_empty());
}

#[test]
fn local_driver_options_mount_tmpfs_and_binds() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m",
        "tv",
    ])
    .ok();
    let v: Value = serde_json::from_str(&sb.docker(&["volume", "inspect", "tv"]).ok()).unwrap();
    assert_eq!(v[0]["Options"]["type"], "tmpfs");
    let line = mountinfo_line(&sb, &["-v", "tv:/t"], "/t");
    assert!(line.contains(" - tmpfs "), "{line}");
    assert!(line.contains("size=2048k"), "{line}");
    // Unmounted once its last user stopped.
    let data = sb.data_root().join("volumes/tv/_data");
    let daemon_mounts = sb.sh("cat /proc/self/mountinfo").ok();
    assert!(
        !daemon_mounts.contains(&data.display().to_string()),
        "{daemon_mounts}"
    );

    let device = sb.dir().join("device");
    std::fs::create_dir_all(&device).unwrap();
    std::fs::write(device.join("seed"), "from the device").unwrap();
    let opt = format!("device={}", device.display());
    sb.docker(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &opt,
        "bv",
    ])
    .ok();
    assert_eq!(
        run_sh(&sb, &["-v", "bv:/b"], "cat /b/seed; echo back > /b/out"),
        "from the device"
    );
    assert_eq!(
        std::fs::read_to_string(device.join("out")).unwrap(),
        "back\n"
    );
    let bad = sb.docker(&["volume", "create", "-o", "size=1m", "sv"]);
    assert!(
        bad.stderr.contains("invalid option: \"size\""),
        "{}",
        bad.stderr
    );
    sb.docker(&["volume", "rm", "tv", "bv"]).ok();
    assert!(
        device.join("seed").exists(),
        "removing a bind volume keeps its device"
    );
}

/// docker-compose 1.29 with a named volume (with driver options), an
/// anonymous one and a bind: the project comes up and writes; `down`/`up`
/// keeps the named volume's data, and the new container gets a new
/// anonymous volume. (A recreate by `up` after a change needs
/// `POST /containers/{id}/rename`, which berth lacks.)
#[test]
fn docker_compose_keeps_volume_data_across_down_and_up() {
    let sb = Sandbox::with_busybox();
    let dir = sb.dir().join("proj");
    std::fs::create_dir_all(dir.join("bind")).unwrap();
    let file = "version: '3'
services:
  db:
    image: busybox
    command: sh -c 'echo run >> /data/log; echo run >> /scratch/log;
      grep \" /cache \" /proc/self/mountinfo | grep -c tmpfs > /bind/tmpfs;
      wc -l < /scratch/log > /bind/scratch; wc -l < /data/log > /bind/count.new;
      mv /bind/count.new /bind/count; sleep 60'
    volumes:
      - dbdata:/data
      - ./bind:/bind
      - cache:/cache
      - /scratch
volumes:
  dbdata: {}
  cache:
    driver_opts:
      type: tmpfs
      device: tmpfs
      o: size=4m
";
    let compose = |args: &[&str]| {
        let out = std::process::Command::new("docker-compose")
            .args(["-p", "proj"])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", sb.host_arg())
            .output()
            .expect("docker-compose (Debian's docker-compose package)");
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let read = |name: &str| {
        std::fs::read_to_string(dir.join("bind").join(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    // The service writes `count` last: once it is there, all is written.
    let written = || -> (String, String) {
        for _ in 0..100 {
            if dir.join("bind/count").exists() {
                assert_eq!(read("tmpfs"), "1", "the cache volume is a tmpfs");
                let seen = (read("count"), read("scratch"));
                std::fs::remove_file(dir.join("bind/count")).unwrap();
                return seen;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the service never wrote bind/count");
    };
    std::fs::write(dir.join("docker-compose.yml"), file).unwrap();
    compose(&["up", "-d"]);
    assert_eq!(written(), ("1".to_owned(), "1".to_owned()));
    let v: Value =
        serde_json::from_str(&sb.docker(&["volume", "inspect", "proj_cache"]).ok()).unwrap();
    assert_eq!(v[0]["Options"]["type"], "tmpfs");

    compose(&["down"]);
    compose(&["up", "-d"]);
    assert_eq!(
        written(),
        ("2".to_owned(), "1".to_owned()),
        "down/up keeps the named volume, the new container has a new anonymous one"
    );
    compose(&["down", "-v"]);
    sb.docker(&["volume", "prune", "-f"]).ok();
    assert!(volume_names(&sb).is_empty());
}

/// berthd killed at arbitrary moments while volumes are made and removed
/// (named, anonymous with `--rm` and `rm -v`): after each restart every
/// volume directory has its record, and every anonymous volume a
/// container that uses it.
#[test]
fn a_crash_at_any_moment_leaks_no_volume() {
    let mut sb = Sandbox::with_busybox();
    let churn = format!(
        "i=0; while true; do i=$((i+1)); \
         {d} volume create v$i; \
         {d} run --rm -v /anon -v v$i:/n busybox true; \
         {d} create --name c$i -v /a2 busybox true && {d} rm -v c$i; \
         {d} volume rm v$i; \
         done >/dev/null 2>&1",
        d = berth_testkit::sandbox::docker_cli().display()
    );
    for pause_ms in [400, 1100, 1900] {
        let mut loop_child = std::process::Command::new("sh")
            .args(["-c", &churn])
            .env("DOCKER_HOST", sb.host_arg())
            .env("DOCKER_CONFIG", sb.dir().join("docker-config"))
            .spawn()
            .unwrap();
        // Where the kill lands, not a bound on anything.
        std::thread::sleep(std::time::Duration::from_millis(pause_ms));
        sb.kill_daemon();
        loop_child.kill().unwrap();
        loop_child.wait().unwrap();
        sb.restart_daemon();

        let records = volume_names(&sb);
        let dir = sb.data_root().join("volumes");
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                records.contains(&name),
                "after a kill at {pause_ms} ms: {name} has no record"
            );
        }
        for name in &records {
            let v: Value =
                serde_json::from_str(&sb.docker(&["volume", "inspect", name]).ok()).unwrap();
            if v[0]["Labels"].get("com.docker.volume.anonymous").is_some() {
                let users = sb
                    .docker(&["ps", "-aq", "--filter", &format!("volume={name}")])
                    .ok();
                assert!(
                    !users.trim().is_empty(),
                    "after a kill at {pause_ms} ms: anonymous volume {name} has no user"
                );
            }
        }
    }
}
