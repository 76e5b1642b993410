//! Resource limits end to end, with the real docker CLI: each option seen
//! from inside the container (its cgroup files on v1 or v2, `ulimit`,
//! `df /dev/shm`, `/proc/sys`, `/dev`, `oom_score_adj`) and in `docker
//! inspect`; `docker update` on a running container; refusals with
//! Docker's texts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::Path;

use berth_testkit::sandbox::Sandbox;

/// A shell line printing a cgroup file of the container: the v1 path, or
/// the v2 one where the container sees the unified hierarchy.
fn cgroup(v1: &str, v2: &str) -> String {
    format!(
        "if [ -e /sys/fs/cgroup/cgroup.controllers ]; then cat /sys/fs/cgroup/{v2}; else cat /sys/fs/cgroup/{v1}; fi"
    )
}

/// What the container runs: each line's output on a line of its own.
fn run_lines(sb: &Sandbox, flags: &[&str], lines: &[String]) -> Vec<String> {
    let script = lines.join("; ");
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sh", "-c", &script]);
    sb.docker(&args)
        .ok()
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

fn cgroup_v2(sb: &Sandbox) -> bool {
    sb.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "[ -e /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1",
    ])
    .ok()
    .trim()
        == "v2"
}

/// Whether the host's cgroups have a block I/O weight berth could set.
fn host_has_blkio_weight() -> bool {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return std::fs::read_to_string(root.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == "io");
    }
    root.join("blkio/blkio.weight").exists() || root.join("blkio/blkio.bfq.weight").exists()
}

/// A character device of the host that runc's default rules do not
/// allow, and its numbers as `stat -c %t:%T` prints them (hex).
fn host_device() -> (&'static str, String) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    [
        "/dev/loop-control",
        "/dev/btrfs-control",
        "/dev/kvm",
        "/dev/hwrng",
    ]
    .into_iter()
    .find_map(|path| {
        let meta = std::fs::metadata(path).ok()?;
        meta.file_type().is_char_device().then(|| {
            let rdev = meta.rdev();
            let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
            (path, format!("{major:x}:{minor:x}"))
        })
    })
    .expect("a character device besides runc's defaults")
}

#[test]
fn cgroup_limits_reach_the_container() {
    let sb = Sandbox::with_busybox();
    let v2 = cgroup_v2(&sb);
    let out = run_lines(
        &sb,
        &[
            "--memory",
            "64m",
            "--memory-swap",
            "192m",
            "--memory-reservation",
            "32m",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "20",
            "--cpuset-cpus",
            "0",
            "--cpuset-mems",
            "0",
        ],
        &[
            cgroup("memory/memory.limit_in_bytes", "memory.max"),
            cgroup("memory/memory.memsw.limit_in_bytes", "memory.swap.max"),
            cgroup("memory/memory.soft_limit_in_bytes", "memory.low"),
            cgroup("cpu/cpu.cfs_quota_us", "cpu.max"),
            cgroup("pids/pids.max", "pids.max"),
            cgroup("cpuset/cpuset.cpus", "cpuset.cpus"),
            cgroup("cpuset/cpuset.mems", "cpuset.mems"),
        ],
    );
    if v2 {
        // runc writes swap beyond memory, and `cpu.max` as "quota period".
        assert_eq!(out[0], "67108864");
        assert_eq!(out[1], "134217728");
        assert_eq!(out[3], "50000 100000");
    } else {
        assert_eq!(out[0], "67108864");
        assert_eq!(out[1], "201326592");
        assert_eq!(out[2], "33554432");
        assert_eq!(out[3], "50000");
    }
    assert_eq!(out[4..], ["20", "0", "0"]);

    // Shares, and CFS quota and period of their own.
    let out = run_lines(
        &sb,
        &[
            "--cpu-shares",
            "512",
            "--cpu-quota",
            "20000",
            "--cpu-period",
            "50000",
        ],
        &[
            cgroup("cpu/cpu.shares", "cpu.weight"),
            cgroup("cpu/cpu.cfs_quota_us", "cpu.max"),
            cgroup("cpu/cpu.cfs_period_us", "cpu.max"),
        ],
    );
    if v2 {
        assert_eq!(out[1], "20000 50000");
    } else {
        assert_eq!(out, ["512", "20000", "50000"]);
    }

    // No limits: none in the cgroup either.
    let out = run_lines(&sb, &[], &[cgroup("pids/pids.max", "pids.max")]);
    assert_eq!(out, ["max"]);

    if !v2 {
        let out = run_lines(
            &sb,
            &["--memory", "64m", "--oom-kill-disable"],
            &["grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control".to_owned()],
        );
        assert_eq!(out, ["oom_kill_disable 1"]);
        // Without a memory limit Docker warns, and so does berth.
        let created = sb.docker(&["create", "--oom-kill-disable", "busybox", "true"]);
        assert_eq!(created.status, 0, "{created:?}");
        assert!(
            created
                .stderr
                .contains("OOM killer is disabled for the container, but no memory limit is set"),
            "{created:?}"
        );
        sb.docker(&["rm", created.stdout.trim()]).ok();
    }

    if host_has_blkio_weight() {
        let out = run_lines(
            &sb,
            &["--blkio-weight", "300"],
            &[cgroup("blkio/blkio.weight", "io.weight")],
        );
        assert!(out[0].contains("300"), "{out:?}");
    } else {
        let err = sb
            .docker(&["run", "--rm", "--blkio-weight", "300", "busybox", "true"])
            .err();
        assert!(
            err.contains("berth cannot apply --blkio-weight (HostConfig.BlkioWeight)"),
            "{err}"
        );
    }
}

#[test]
fn ulimits_shm_sysctls_devices_and_oom_score() {
    let sb = Sandbox::with_busybox();
    let plain = run_lines(
        &sb,
        &[],
        &[
            "ulimit -n".to_owned(),
            "df -k /dev/shm | tail -1".to_owned(),
        ],
    );
    let inherited: u64 = plain[0].parse().unwrap();
    assert!(inherited >= 1024, "{plain:?}");
    assert!(
        plain[1].starts_with("shm") && plain[1].contains(" 65536 "),
        "{plain:?}"
    );

    // A host device runc does not allow by default, given read-only.
    let (device, numbers) = host_device();
    let mapping = format!("{device}:/dev/lc:r");
    let out = run_lines(
        &sb,
        &[
            "--ulimit",
            "nofile=100:200",
            "--ulimit",
            "nproc=50:60",
            "--shm-size",
            "8m",
            "--sysctl",
            "kernel.shmmax=123456",
            "--sysctl",
            "net.ipv4.tcp_syncookies=0",
            "--sysctl",
            "fs.mqueue.msg_max=20",
            "--device",
            &mapping,
            "--oom-score-adj",
            "300",
        ],
        &[
            "ulimit -n".to_owned(),
            "ulimit -Hn".to_owned(),
            "ulimit -u".to_owned(),
            "df -k /dev/shm | tail -1".to_owned(),
            "cat /proc/sys/kernel/shmmax".to_owned(),
            "cat /proc/sys/net/ipv4/tcp_syncookies".to_owned(),
            "cat /proc/sys/fs/mqueue/msg_max".to_owned(),
            "stat -c '%F %t:%T' /dev/lc".to_owned(),
            "(exec 3< /dev/lc) && echo read".to_owned(),
            "(exec 3> /dev/lc) 2>/dev/null && echo written || echo not written".to_owned(),
            "cat /proc/self/oom_score_adj".to_owned(),
        ],
    );
    assert_eq!(out[..3], ["100", "200", "50"]);
    assert!(out[3].contains(" 8192 "), "{out:?}");
    assert_eq!(out[4..7], ["123456", "0", "20"]);
    assert_eq!(out[7], format!("character special file {numbers}"));
    assert_eq!(out[8..], ["read", "not written", "300"]);

    // An exec gets the container's ulimits, as in Docker.
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--ulimit",
        "nofile=100:200",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    // The hard limit always; the soft one races in Debian's runc 1.1.5
    // (Go 1.19): `runc init`'s Go runtime raises a soft open-files limit to
    // the hard one, sometimes after runc's parent `prlimit`ed the exec's
    // (runc #4195, fixed upstream by runc PR #4265). Docker on that runc
    // does the same.
    let exec = sb
        .docker(&["exec", "lim", "sh", "-c", "echo $(ulimit -n) $(ulimit -Hn)"])
        .ok();
    let exec = exec.trim();
    assert!(exec == "100 200" || exec == "200 200", "{exec}");
    sb.docker(&["rm", "-f", "lim"]).ok();

    // A device the host lacks fails the start with Docker's words.
    let err = sb
        .docker(&[
            "run",
            "--rm",
            "--device",
            "/dev/berth-none",
            "busybox",
            "true",
        ])
        .err();
    assert!(
        err.contains(
            "error gathering device information while adding custom device \"/dev/berth-none\""
        ),
        "{err}"
    );
}

#[test]
fn update_changes_limits_live_and_in_inspect() {
    let mut sb = Sandbox::with_busybox();
    let v2 = cgroup_v2(&sb);
    sb.docker(&[
        "run", "-d", "--name", "web", "--memory", "64m", "--cpus", "0.5", "busybox", "sleep",
        "1000",
    ])
    .ok();
    let updated = sb
        .docker(&[
            "update",
            "--memory",
            "128m",
            "--memory-swap",
            "256m",
            "--cpus",
            "1.5",
            "--pids-limit",
            "30",
            "web",
        ])
        .ok();
    assert_eq!(updated.trim(), "web");
    let script = [
        cgroup("memory/memory.limit_in_bytes", "memory.max"),
        cgroup("cpu/cpu.cfs_quota_us", "cpu.max"),
        cgroup("pids/pids.max", "pids.max"),
    ]
    .join("; ");
    let inside = sb.docker(&["exec", "web", "sh", "-c", &script]).ok();
    let inside: Vec<&str> = inside.lines().map(str::trim).collect();
    let quota = if v2 { "150000 100000" } else { "150000" };
    assert_eq!(inside, ["134217728", quota, "30"]);
    let shown = sb
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
            "web",
        ])
        .ok();
    assert_eq!(shown.trim(), "134217728 268435456 1500000000 30");
    // Recorded: a restarted daemon still has them.
    sb.stop_daemon();
    sb.restart_daemon();
    let kept = sb
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "web",
        ])
        .ok();
    assert_eq!(kept.trim(), "134217728 30");

    // Docker's refusals: a memory limit above the recorded swap limit, a
    // limit the kernel would refuse.
    let err = sb.docker(&["update", "--memory", "512m", "web"]).err();
    assert!(
        err.contains("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"),
        "{err}"
    );
    // The restart policy changes with the limits.
    sb.docker(&["update", "--restart", "on-failure:2", "web"])
        .ok();
    let policy = sb
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "web",
        ])
        .ok();
    assert_eq!(policy.trim(), "on-failure:2");
    sb.docker(&["update", "--restart", "no", "web"]).ok();
    let err = sb.docker(&["update", "--memory", "1m", "web"]).err();
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    let unchanged = sb
        .docker(&["inspect", "-f", "{{.HostConfig.Memory}}", "web"])
        .ok();
    assert_eq!(unchanged.trim(), "134217728");

    // A stopped container gets its update at the next start.
    sb.docker(&["rm", "-f", "web"]).ok();
    sb.docker(&["create", "--name", "later", "busybox", "sleep", "1000"])
        .ok();
    sb.docker(&["update", "--pids-limit", "15", "later"]).ok();
    sb.docker(&["start", "later"]).ok();
    let pids = sb
        .docker(&[
            "exec",
            "later",
            "sh",
            "-c",
            &cgroup("pids/pids.max", "pids.max"),
        ])
        .ok();
    assert_eq!(pids.trim(), "15");
    sb.docker(&["rm", "-f", "later"]).ok();
}

#[test]
fn refusals_have_dockers_texts() {
    let sb = Sandbox::with_busybox();
    let cpus = sb.sh("nproc").ok().trim().to_owned();
    // `docker info` says what the host limits, as the checks below use it.
    let info = sb
        .docker(&[
            "info",
            "-f",
            "{{.NCPU}} {{.MemoryLimit}} {{.PidsLimit}} {{.CgroupDriver}}",
        ])
        .ok();
    assert_eq!(info.trim(), format!("{cpus} true true cgroupfs"));
    for (flags, text) in [
        (
            &["--memory", "1m"][..],
            "Minimum memory limit allowed is 6MB".to_owned(),
        ),
        (
            &["--memory", "64m", "--memory-swap", "32m"][..],
            "Minimum memoryswap limit should be larger than memory limit, see usage".to_owned(),
        ),
        (
            &["--memory-reservation", "1m"][..],
            "Minimum memory reservation allowed is 6MB".to_owned(),
        ),
        (
            &["--cpus", "0.5", "--cpu-period", "100000"][..],
            "Conflicting options: Nano CPUs and CPU Period cannot both be set".to_owned(),
        ),
        (
            &["--cpus", "99"][..],
            format!(
                "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            ),
        ),
        (
            &["--cpu-quota", "500"][..],
            "CPU cfs quota can not be less than 1ms (i.e. 1000)".to_owned(),
        ),
        (
            &["--cpuset-cpus", "99"][..],
            "Requested CPUs are not available - requested 99".to_owned(),
        ),
        (
            &["--oom-score-adj", "2000"][..],
            "Invalid value 2000, range for oom score adj is [-1000, 1000]".to_owned(),
        ),
        (
            &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"][..],
            "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace".to_owned(),
        ),
        (
            &["--gpus", "all"][..],
            "berth does not support --gpus (HostConfig.DeviceRequests) yet".to_owned(),
        ),
    ] {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let err = sb.docker(&args).err();
        assert!(err.contains(&text), "{flags:?}: {err}");
    }
    // A sysctl outside the container's namespaces (the docker CLI refuses
    // it itself; the API does too).
    let body = r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Sysctls": {"vm.swappiness": "10"}}}"#;
    let (status, reply) = sb.http("POST", "/v1.50/containers/create", Some(body));
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply.contains("sysctl \\\"vm.swappiness\\\" is not in a separate kernel namespace"),
        "{reply}"
    );
    let ps = sb.docker(&["ps", "-aq"]).ok();
    assert!(ps.trim().is_empty(), "nothing created: {ps}");
}

#[test]
fn inspect_shows_the_host_config_with_dockers_zero_values() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["create", "--name", "plain", "busybox", "true"])
        .ok();
    let shown = sb
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.ShmSize}} {{.HostConfig.Ulimits}} {{.HostConfig.MemorySwappiness}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.LogConfig.Type}} {{.HostConfig.OomKillDisable}} {{.HostConfig.CgroupnsMode}} {{.HostConfig.Runtime}} {{.HostConfig.ConsoleSize}}",
            "plain",
        ])
        .ok();
    assert_eq!(
        shown.trim(),
        "0 0 <nil> 67108864 [] <nil> no json-file false host runc [0 0]"
    );
    // Go's field is NanoCPUs: the CLI falls back to the raw document, as
    // with Docker.
    let nano = sb
        .docker(&["inspect", "-f", "{{.HostConfig.NanoCpus}}", "plain"])
        .ok();
    assert_eq!(nano.trim(), "0");
    let lists = sb
        .docker(&[
            "inspect",
            "-f",
            "{{json .HostConfig.ExtraHosts}} {{json .HostConfig.Dns}} {{json .HostConfig.Devices}} {{json .HostConfig.BlkioWeightDevice}} {{json .HostConfig.DeviceRequests}}",
            "plain",
        ])
        .ok();
    assert_eq!(lists.trim(), "null [] [] [] null");
    // Every key Docker's HostConfig has.
    let host_config = sb.inspect("plain")["HostConfig"].clone();
    for key in [
        "Binds",
        "ContainerIDFile",
        "LogConfig",
        "NetworkMode",
        "PortBindings",
        "RestartPolicy",
        "AutoRemove",
        "VolumeDriver",
        "VolumesFrom",
        "ConsoleSize",
        "CapAdd",
        "CapDrop",
        "CgroupnsMode",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "IpcMode",
        "Cgroup",
        "Links",
        "OomScoreAdj",
        "PidMode",
        "Privileged",
        "PublishAllPorts",
        "ReadonlyRootfs",
        "SecurityOpt",
        "UTSMode",
        "UsernsMode",
        "ShmSize",
        "Runtime",
        "Isolation",
        "CpuShares",
        "Memory",
        "NanoCpus",
        "CgroupParent",
        "BlkioWeight",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "CpuPeriod",
        "CpuQuota",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "CpusetCpus",
        "CpusetMems",
        "Devices",
        "DeviceCgroupRules",
        "DeviceRequests",
        "MemoryReservation",
        "MemorySwap",
        "MemorySwappiness",
        "OomKillDisable",
        "PidsLimit",
        "Ulimits",
        "CpuCount",
        "CpuPercent",
        "IOMaximumIOps",
        "IOMaximumBandwidth",
        "MaskedPaths",
        "ReadonlyPaths",
    ] {
        assert!(host_config.get(key).is_some(), "no {key} in {host_config}");
    }

    sb.docker(&[
        "create",
        "--name",
        "limited",
        "--memory",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "10",
        "--shm-size",
        "8m",
        "--ulimit",
        "nofile=100:200",
        "--cpu-shares",
        "512",
        "--oom-score-adj",
        "-100",
        "--sysctl",
        "kernel.shmmax=123456",
        "--device",
        "/dev/null:/dev/mynull:rw",
        "busybox",
        "true",
    ])
    .ok();
    let shown = sb
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.ShmSize}} {{.HostConfig.Ulimits}} {{.HostConfig.CpuShares}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.Sysctls}} {{.HostConfig.Devices}}",
            "limited",
        ])
        .ok();
    assert_eq!(
        shown.trim(),
        "67108864 134217728 1500000000 10 8388608 [map[Hard:200 Name:nofile Soft:100]] 512 -100 map[kernel.shmmax:123456] [map[CgroupPermissions:rw PathInContainer:/dev/mynull PathOnHost:/dev/null]]"
    );
}
