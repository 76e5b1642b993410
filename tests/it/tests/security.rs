//! Privileges and process options end to end, with the real docker CLI,
//! checked from inside the containers: capabilities (`CapEff`/`CapBnd`),
//! no-new-privileges and seccomp (`NoNewPrivs`, `Seccomp` in
//! /proc/self/status), `--privileged`, shared pid/ipc/uts namespaces,
//! `--user`/`--group-add` (`id`), `--init`, and Docker's refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::Sandbox;

/// Docker's 14 default capabilities as a mask.
const DEFAULT_CAPS: &str = "00000000a80425fb";

/// `Field:` of the container's /proc/self/status.
fn status_field(sb: &Sandbox, flags: &[&str], field: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    let pattern = format!("^{field}:");
    args.extend(["busybox", "grep", &pattern, "/proc/self/status"]);
    let out = sb.docker(&args).ok();
    out.split_once(':')
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{field} not in {out}"))
}

/// Runs `script` in a fresh container with `flags`.
fn run_sh(sb: &Sandbox, flags: &[&str], script: &str) -> berth_testkit::sandbox::Run {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sh", "-c", script]);
    sb.docker(&args)
}

/// This test process's own `Field:` (berthd runs with the same).
fn own_status_field(field: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap()
        .trim()
        .to_owned()
}

fn own_namespace(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn capabilities_follow_cap_add_and_cap_drop() {
    let sb = Sandbox::with_busybox();
    assert_eq!(status_field(&sb, &[], "CapEff"), DEFAULT_CAPS);
    assert_eq!(status_field(&sb, &[], "CapBnd"), DEFAULT_CAPS);

    // NET_RAW (bit 13) dropped, in any spelling.
    let dropped = ["--cap-drop", "net_raw"];
    assert_eq!(status_field(&sb, &dropped, "CapEff"), "00000000a80405fb");
    assert_eq!(status_field(&sb, &dropped, "CapBnd"), "00000000a80405fb");
    let chown = run_sh(
        &sb,
        &["--cap-drop", "CAP_CHOWN"],
        "touch /f && chown 65534 /f",
    );
    assert!(
        chown.err().contains("Operation not permitted"),
        "chown without CAP_CHOWN"
    );

    // NET_ADMIN (bit 12) added: the container may change its links.
    let added = ["--cap-add", "NET_ADMIN"];
    assert_eq!(status_field(&sb, &added, "CapEff"), "00000000a80435fb");
    run_sh(&sb, &added, "ip link set lo mtu 1400").ok();
    run_sh(&sb, &[], "ip link set lo mtu 1400").err();

    // ALL: every capability berthd holds; ALL dropped: only those added.
    let all = status_field(&sb, &["--cap-add", "ALL"], "CapEff");
    assert_eq!(all, own_status_field("CapEff"));
    assert_eq!(
        status_field(&sb, &["--cap-drop", "ALL", "--cap-add", "CHOWN"], "CapEff"),
        "0000000000000001"
    );

    // An exec runs with its container's capabilities.
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "dropped",
        "--cap-drop",
        "NET_RAW",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let exec = sb
        .docker(&["exec", "dropped", "grep", "^CapEff:", "/proc/self/status"])
        .ok();
    assert!(exec.contains("00000000a80405fb"), "{exec}");
    // --privileged: every capability berthd holds.
    let exec = sb
        .docker(&[
            "exec",
            "--privileged",
            "dropped",
            "grep",
            "^CapEff:",
            "/proc/self/status",
        ])
        .ok();
    assert!(exec.contains(&own_status_field("CapEff")), "{exec}");
    sb.docker(&["rm", "-f", "dropped"]).ok();

    // inspect shows them as the CLI sent them.
    sb.docker(&[
        "create",
        "--name",
        "caps",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "MKNOD",
        "busybox",
        "true",
    ])
    .ok();
    let host = &sb.inspect("caps")["HostConfig"];
    assert_eq!(host["CapAdd"], serde_json::json!(["CAP_NET_ADMIN"]));
    assert_eq!(host["CapDrop"], serde_json::json!(["CAP_MKNOD"]));

    // An unknown capability: dockerd's words, nothing created.
    let err = sb
        .docker(&[
            "create",
            "--name",
            "nope",
            "--cap-add",
            "FOO",
            "busybox",
            "true",
        ])
        .err();
    assert!(
        err.contains(r#"invalid CapAdd: unknown capability: "CAP_FOO""#),
        "{err}"
    );
    sb.docker(&["inspect", "nope"]).err();
}

#[test]
fn no_new_privileges_and_seccomp() {
    let sb = Sandbox::with_busybox();
    assert_eq!(status_field(&sb, &[], "NoNewPrivs"), "0");
    for opt in [
        "no-new-privileges",
        "no-new-privileges=true",
        "no-new-privileges:true",
    ] {
        assert_eq!(
            status_field(&sb, &["--security-opt", opt], "NoNewPrivs"),
            "1",
            "{opt}"
        );
    }

    // Docker's default profile filters; unconfined and privileged do not.
    assert_eq!(status_field(&sb, &[], "Seccomp"), "2");
    assert_eq!(
        status_field(&sb, &["--security-opt", "seccomp=unconfined"], "Seccomp"),
        "0"
    );
    assert_eq!(status_field(&sb, &["--privileged"], "Seccomp"), "0");
    // The default profile refuses what Docker's does: unshare without
    // CAP_SYS_ADMIN.
    run_sh(&sb, &[], "unshare -U true").err();

    // A profile file: the CLI sends its content.
    let profile = sb.dir().join("profile.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let chmod = run_sh(&sb, &["--security-opt", &opt], "chmod 600 /tmp");
    assert!(chmod.err().contains("Operation not permitted"));
    assert_eq!(status_field(&sb, &["--security-opt", &opt], "Seccomp"), "2");
    run_sh(&sb, &[], "chmod 600 /tmp").ok();

    // inspect shows what was asked.
    sb.docker(&[
        "create",
        "--name",
        "opts",
        "--security-opt",
        "no-new-privileges",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(
        sb.inspect("opts")["HostConfig"]["SecurityOpt"],
        serde_json::json!(["no-new-privileges", "seccomp=unconfined"])
    );

    // What berth cannot apply is refused by name.
    let err = sb
        .docker(&[
            "create",
            "--security-opt",
            "label=type:svirt_t",
            "busybox",
            "true",
        ])
        .err();
    assert!(err.contains("SELinux"), "{err}");
    sb.docker(&[
        "create",
        "--security-opt",
        "label=disable",
        "busybox",
        "true",
    ])
    .ok();
    let err = sb
        .docker(&["create", "--security-opt", "bogus=1", "busybox", "true"])
        .err();
    assert!(
        err.contains(r#"invalid --security-opt 2: "bogus=1""#),
        "{err}"
    );
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    if !apparmor {
        let run = run_sh(&sb, &["--security-opt", "apparmor=my-profile"], "true");
        assert!(
            run.err().contains("AppArmor is not enabled on this host"),
            "a profile that cannot be applied is refused"
        );
        run_sh(&sb, &["--security-opt", "apparmor=unconfined"], "true").ok();
    }
}

/// A character or block device of the host that a container does not get
/// by default.
fn extra_host_device() -> String {
    let usual = [
        "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx",
    ];
    let mut found: Vec<String> = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .filter(|e| {
            use std::os::unix::fs::FileTypeExt;
            let kind = e.file_type().unwrap();
            (kind.is_char_device() || kind.is_block_device())
                && !usual.contains(&e.file_name().to_str().unwrap_or(""))
        })
        .map(|e| e.path().display().to_string())
        .collect();
    found.sort();
    if found.contains(&"/dev/loop-control".to_owned()) {
        return "/dev/loop-control".to_owned();
    }
    found.into_iter().next().expect("a host device")
}

#[test]
fn privileged_gets_capabilities_devices_and_mounts() {
    let sb = Sandbox::with_busybox();
    let privileged = ["--privileged"];
    assert_eq!(
        status_field(&sb, &privileged, "CapEff"),
        own_status_field("CapEff")
    );
    assert_eq!(
        status_field(&sb, &privileged, "CapBnd"),
        own_status_field("CapEff")
    );

    let device = extra_host_device();
    run_sh(&sb, &privileged, &format!("test -e {device}")).ok();
    run_sh(&sb, &[], &format!("test -e {device}")).err();

    // It can mount; /sys is read-write, nothing is masked.
    run_sh(&sb, &privileged, "mkdir /m && mount -t tmpfs none /m").ok();
    run_sh(&sb, &[], "mkdir /m && mount -t tmpfs none /m").err();
    let mounts = run_sh(&sb, &privileged, "cat /proc/self/mountinfo").ok();
    let sys = mounts
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/sys"))
        .unwrap();
    assert!(sys.split(' ').nth(5).unwrap().starts_with("rw"), "{sys}");
    // One of Docker's masked paths this kernel has.
    let masked = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/sys/firmware",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .unwrap();
    let masked = format!(" {masked} ");
    assert!(!mounts.contains(&masked), "{mounts}");
    let default_mounts = run_sh(&sb, &[], "cat /proc/self/mountinfo").ok();
    assert!(default_mounts.contains(&masked), "{default_mounts}");

    // systempaths=unconfined: nothing masked, without the rest of
    // --privileged.
    let unmasked = ["--security-opt", "systempaths=unconfined"];
    let mounts = run_sh(&sb, &unmasked, "cat /proc/self/mountinfo").ok();
    assert!(!mounts.contains(&masked), "{mounts}");
    assert_eq!(status_field(&sb, &unmasked, "CapEff"), DEFAULT_CAPS);
    sb.docker(&[
        "create",
        "--name",
        "unmasked",
        unmasked[0],
        unmasked[1],
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(
        sb.inspect("unmasked")["HostConfig"]["MaskedPaths"],
        serde_json::json!([])
    );
    sb.docker(&["create", "--name", "masked", "busybox", "true"])
        .ok();
    let listed = &sb.inspect("masked")["HostConfig"]["MaskedPaths"];
    assert!(listed
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("/proc/kcore")));

    sb.docker(&[
        "create",
        "--name",
        "priv",
        "--privileged",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(sb.inspect("priv")["HostConfig"]["Privileged"], true);
}

#[test]
fn pid_ipc_and_uts_namespaces_are_shared() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let donor_id = sb.inspect("donor")["Id"].as_str().unwrap().to_owned();

    // --pid container:X sees X's processes.
    let ps = run_sh(&sb, &["--pid", "container:donor"], "ps").ok();
    assert!(ps.contains("sleep 300"), "{ps}");
    let own = run_sh(&sb, &[], "ps").ok();
    assert!(!own.contains("sleep 300"), "{own}");

    // --ipc container:X shares its namespace and /dev/shm.
    let donor_ipc = sb
        .docker(&["exec", "donor", "readlink", "/proc/self/ns/ipc"])
        .ok();
    sb.docker(&["exec", "donor", "sh", "-c", "echo shared > /dev/shm/f"])
        .ok();
    let joined = run_sh(
        &sb,
        &["--ipc", "container:donor"],
        "readlink /proc/self/ns/ipc; cat /dev/shm/f",
    )
    .ok();
    assert_eq!(joined, format!("{}shared\n", donor_ipc));
    let private = run_sh(&sb, &[], "readlink /proc/self/ns/ipc").ok();
    assert_ne!(private, donor_ipc);

    // host: the sandbox host's own namespaces.
    let host = run_sh(
        &sb,
        &["--pid", "host", "--ipc", "host", "--uts", "host"],
        "for ns in pid ipc uts; do readlink /proc/self/ns/$ns; done; hostname",
    )
    .ok();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        host,
        format!(
            "{}\n{}\n{}\n{}",
            own_namespace("pid"),
            own_namespace("ipc"),
            own_namespace("uts"),
            hostname
        )
    );

    // inspect.
    sb.docker(&[
        "create",
        "--name",
        "joiner",
        "--pid",
        "container:donor",
        "--ipc",
        "container:donor",
        "--uts",
        "host",
        "busybox",
        "true",
    ])
    .ok();
    let hc = &sb.inspect("joiner")["HostConfig"];
    assert_eq!(hc["PidMode"], format!("container:{donor_id}"));
    assert_eq!(hc["IpcMode"], format!("container:{donor_id}"));
    assert_eq!(hc["UTSMode"], "host");
    sb.docker(&["create", "--name", "plain", "busybox", "true"])
        .ok();
    let hc = &sb.inspect("plain")["HostConfig"];
    assert_eq!(hc["IpcMode"], "private");
    assert_eq!(hc["PidMode"], "");

    // Refusals, in Docker's words.
    let err = sb
        .docker(&[
            "create",
            "--uts",
            "host",
            "--hostname",
            "h",
            "busybox",
            "true",
        ])
        .err();
    assert!(
        err.contains("conflicting options: hostname and the UTS mode"),
        "{err}"
    );
    sb.docker(&["run", "-d", "--name", "private", "busybox", "sleep", "300"])
        .ok();
    let err = run_sh(&sb, &["--ipc", "container:private"], "true").err();
    assert!(err.contains("non-shareable IPC"), "{err}");
    sb.docker(&["stop", "-t", "0", "private"]).ok();
    let err = run_sh(&sb, &["--pid", "container:private"], "true").err();
    assert!(
        err.contains("failed to join PID namespace") && err.contains("is not running"),
        "{err}"
    );
    let err = sb
        .docker(&["create", "--pid", "container:nosuch", "busybox", "true"])
        .err();
    assert!(err.contains("No such container: nosuch"), "{err}");
    // none: an IPC namespace of its own and no /dev/shm.
    let mounts = run_sh(&sb, &["--ipc", "none"], "cat /proc/self/mountinfo").ok();
    assert!(!mounts.contains(" /dev/shm "), "{mounts}");
    let mounts = run_sh(&sb, &[], "cat /proc/self/mountinfo").ok();
    assert!(mounts.contains(" /dev/shm "), "{mounts}");

    // berth remaps no users: only "host" passes (the CLI checks the value,
    // the API is asked directly).
    let (status, body) = sb.http(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"UsernsMode": "private"}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("berth does not support --userns"), "{body}");
    sb.docker(&[
        "create", "--name", "userns", "--userns", "host", "busybox", "true",
    ])
    .ok();
    assert_eq!(sb.inspect("userns")["HostConfig"]["UsernsMode"], "host");
    sb.docker(&["rm", "-f", "donor"]).ok();
}

#[test]
fn users_and_groups_as_docker_resolves_them() {
    let sb = Sandbox::with_busybox();
    let id = |flags: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "id"]);
        sb.docker(&args).ok().trim().to_owned()
    };
    // root is a member of wheel in the image's /etc/group.
    assert_eq!(id(&[]), "uid=0(root) gid=0(root) groups=0(root),10(wheel)");
    assert_eq!(
        id(&["--user", "nobody"]),
        "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)"
    );
    assert_eq!(
        id(&["--user", "1000:1000"]),
        "uid=1000 gid=1000 groups=1000"
    );
    assert_eq!(
        id(&["--user", "1000"]),
        "uid=1000 gid=0(root) groups=0(root)"
    );
    assert_eq!(
        id(&[
            "--user",
            "nobody",
            "--group-add",
            "staff",
            "--group-add",
            "4242"
        ]),
        "uid=65534(nobody) gid=65534(nobody) groups=50(staff),4242,65534(nobody)"
    );

    // An exec gets the container's groups too.
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "grouped",
        "--group-add",
        "staff",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    let exec = sb.docker(&["exec", "grouped", "id", "-G"]).ok();
    assert_eq!(exec.trim(), "0 10 50");
    let exec = sb
        .docker(&["exec", "-u", "nobody", "grouped", "id", "-G"])
        .ok();
    assert_eq!(exec.trim(), "65534 50");
    assert_eq!(
        sb.inspect("grouped")["HostConfig"]["GroupAdd"],
        serde_json::json!(["staff"])
    );

    let err = run_sh(&sb, &["--group-add", "nosuchgroup"], "true").err();
    assert!(err.contains("Unable to find group nosuchgroup"), "{err}");
    sb.docker(&["rm", "-f", "grouped"]).ok();
}

/// Whether `container` has a zombie process.
fn has_zombie(sb: &Sandbox, container: &str) -> bool {
    let states = sb
        .docker(&[
            "exec",
            container,
            "sh",
            "-c",
            "cat /proc/[0-9]*/stat 2>/dev/null",
        ])
        .ok();
    states.lines().any(|l| {
        l.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

/// Whether `container` still runs a `sleep 1`.
fn runs_short_sleep(sb: &Sandbox, container: &str) -> bool {
    sb.docker(&["exec", container, "ps", "-o", "stat,args"])
        .ok()
        .lines()
        .any(|l| l.contains("sleep 1") && !l.contains("sh -c"))
}

#[test]
fn init_is_pid_1_reaps_and_forwards_signals() {
    let mut sb = Sandbox::with_busybox();
    let comm = run_sh(&sb, &["--init"], "cat /proc/1/comm").ok();
    assert_eq!(comm.trim(), "docker-init");
    let comm = run_sh(&sb, &[], "cat /proc/1/comm").ok();
    // Without one, the command is PID 1 (sh execs its last command).
    assert_eq!(comm.trim(), "cat");

    // An orphan is reaped by the init; without one it stays a zombie of a
    // PID 1 that never waits.
    let orphaning = "(sleep 1 &); exec sleep 300";
    for (name, init) in [("with-init", true), ("without", false)] {
        let mut args = vec!["run", "-d", "--name", name];
        if init {
            args.push("--init");
        }
        args.extend(["busybox", "sh", "-c", orphaning]);
        sb.docker(&args).ok();
    }
    for _ in 0..200 {
        if !runs_short_sleep(&sb, "with-init") && has_zombie(&sb, "without") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(has_zombie(&sb, "without"));
    assert!(!runs_short_sleep(&sb, "with-init"));
    assert!(!has_zombie(&sb, "with-init"));
    assert_eq!(sb.inspect("with-init")["HostConfig"]["Init"], true);

    // SIGTERM reaches the command through the init: sleep dies of it (143)
    // rather than being killed after the timeout (137).
    sb.docker(&["stop", "-t", "60", "with-init"]).ok();
    let code = sb
        .docker(&["inspect", "-f", "{{.State.ExitCode}}", "with-init"])
        .ok();
    assert_eq!(code.trim(), "143");
    sb.docker(&["rm", "-f", "with-init", "without"]).ok();

    // What was asked is recorded: a container made before a daemon restart
    // starts with it after.
    sb.docker(&[
        "create",
        "--name",
        "kept",
        "--cap-drop",
        "NET_RAW",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "-E",
        "^(CapEff|NoNewPrivs):",
        "/proc/self/status",
    ])
    .ok();

    // No init binary: a clear start error.
    sb.stop_daemon();
    sb.start_daemon(&["--init-path", "/nonexistent/tini"]);
    let kept = sb.docker(&["start", "-a", "kept"]).ok();
    assert!(kept.contains("00000000a80405fb"), "{kept}");
    assert!(kept.contains("NoNewPrivs:\t1"), "{kept}");
    let err = run_sh(&sb, &["--init"], "true").err();
    assert!(
        err.contains("the init binary /nonexistent/tini is missing"),
        "{err}"
    );
}

#[test]
fn entrypoint_can_be_cleared() {
    let sb = Sandbox::with_busybox();
    let out = sb
        .docker(&["run", "--rm", "--entrypoint", "", "busybox", "echo", "hi"])
        .ok();
    assert_eq!(out, "hi\n");
    sb.docker(&[
        "create",
        "--name",
        "ep",
        "--entrypoint",
        "",
        "busybox",
        "echo",
    ])
    .ok();
    assert_eq!(
        sb.inspect("ep")["Config"]["Entrypoint"],
        serde_json::Value::Null
    );
}
