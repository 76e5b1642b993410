use super::*;

const HOST: Capacity = Capacity {
    cpus: 2,
    mems: 1,
    swap_limit: true,
    blkio_weight: true,
    oom_kill_disable: true,
};

fn err(r: Resources) -> String {
    r.verified(&HOST, true).unwrap_err().to_string()
}

#[test]
fn defaults_are_dockers() {
    let r = Resources {
        memory: 64 << 20,
        cpu_shares: 1,
        pids_limit: Some(-1),
        ..Resources::default()
    }
    .verified(&HOST, true)
    .unwrap();
    assert_eq!(r.memory_swap, 128 << 20, "swap is twice the memory");
    assert_eq!(r.shm_size, DEFAULT_SHM_SIZE);
    assert_eq!(r.cpu_shares, 2, "shares are clamped");
    assert_eq!(r.pids_limit, None, "negative is unlimited");

    let no_swap = Capacity {
        swap_limit: false,
        ..HOST
    };
    let r = Resources {
        memory: 64 << 20,
        ..Resources::default()
    }
    .verified(&no_swap, true)
    .unwrap();
    assert_eq!(r.memory_swap, -1);
}

#[test]
fn memory_checks_have_dockers_texts() {
    let m = |memory, memory_swap, memory_reservation| Resources {
        memory,
        memory_swap,
        memory_reservation,
        ..Resources::default()
    };
    assert_eq!(err(m(1 << 20, 0, 0)), "Minimum memory limit allowed is 6MB");
    assert_eq!(
        err(m(64 << 20, 32 << 20, 0)),
        "Minimum memoryswap limit should be larger than memory limit, see usage"
    );
    assert_eq!(
        err(m(0, 64 << 20, 0)),
        "You should always set the Memory limit when using Memoryswap limit, see usage"
    );
    assert_eq!(
        err(m(0, 0, 1 << 20)),
        "Minimum memory reservation allowed is 6MB"
    );
    assert_eq!(
        err(m(32 << 20, 0, 64 << 20)),
        "Minimum memory limit can not be less than memory reservation limit, see usage"
    );
    let no_swap = Capacity {
        swap_limit: false,
        ..HOST
    };
    assert!(m(64 << 20, 128 << 20, 0)
        .verified(&no_swap, true)
        .unwrap_err()
        .to_string()
        .contains("--memory-swap"));
}

#[test]
fn cpu_checks_have_dockers_texts() {
    let c = |nano_cpus, cpu_period, cpu_quota| Resources {
        nano_cpus,
        cpu_period,
        cpu_quota,
        ..Resources::default()
    };
    assert_eq!(
        err(c(500_000_000, 100_000, 0)),
        "Conflicting options: Nano CPUs and CPU Period cannot both be set"
    );
    assert_eq!(
        err(c(500_000_000, 0, 50_000)),
        "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
    );
    assert_eq!(
        err(c(3_000_000_000, 0, 0)),
        "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
    );
    assert!(err(c(0, 10, 0)).starts_with("CPU cfs period can not be less than 1ms"));
    assert_eq!(
        err(c(0, 0, 10)),
        "CPU cfs quota can not be less than 1ms (i.e. 1000)"
    );
    assert_eq!(c(1_500_000_000, 0, 0).cfs(), (Some(150_000), Some(100_000)));
    assert_eq!(c(0, 50_000, 25_000).cfs(), (Some(25_000), Some(50_000)));
    assert_eq!(c(0, 0, 0).cfs(), (None, None));

    let set = |cpus: &str, mems: &str| Resources {
        cpuset_cpus: cpus.into(),
        cpuset_mems: mems.into(),
        ..Resources::default()
    };
    assert!(set("0-1", "0").verified(&HOST, true).is_ok());
    assert_eq!(
        err(set("0,3", "")),
        "Requested CPUs are not available - requested 0,3, available: 0-1"
    );
    assert_eq!(
        err(set("", "1")),
        "Requested memory nodes are not available - requested 1, available: 0"
    );
    assert!(err(set("x", "")).starts_with("Invalid value x for cpuset cpus"));
}

#[test]
fn other_limits() {
    let weight = |blkio_weight| Resources {
        blkio_weight,
        ..Resources::default()
    };
    assert_eq!(err(weight(5)), "Range of blkio weight is from 10 to 1000");
    let no_weight = Capacity {
        blkio_weight: false,
        ..HOST
    };
    assert!(weight(300)
        .verified(&no_weight, true)
        .unwrap_err()
        .to_string()
        .contains("--blkio-weight (HostConfig.BlkioWeight)"));
    assert_eq!(
        err(Resources {
            oom_score_adj: 1001,
            ..Resources::default()
        }),
        "Invalid value 1001, range for oom score adj is [-1000, 1000]"
    );
    assert_eq!(
        err(Resources {
            shm_size: -1,
            ..Resources::default()
        }),
        "SHM size can not be less than 0"
    );
    let unbounded = Resources {
        oom_kill_disable: true,
        ..Resources::default()
    };
    assert_eq!(unbounded.warnings().len(), 1);
    assert!(Resources::default().warnings().is_empty());
    let v2 = Capacity {
        oom_kill_disable: false,
        ..HOST
    };
    assert!(Resources {
        oom_kill_disable: true,
        ..Resources::default()
    }
    .verified(&v2, true)
    .unwrap_err()
    .to_string()
    .contains("--oom-kill-disable"));
}

#[test]
fn ulimits_sysctls_and_devices() {
    let ulimit = |name: &str, soft, hard| Resources {
        ulimits: vec![Ulimit {
            name: name.into(),
            soft,
            hard,
        }],
        ..Resources::default()
    };
    assert!(ulimit("nofile", 10, 20).verified(&HOST, true).is_ok());
    assert!(ulimit("nproc", 10, -1).verified(&HOST, true).is_ok());
    assert_eq!(err(ulimit("bogus", 1, 1)), "invalid ulimit type: bogus");
    assert_eq!(
        err(ulimit("nofile", 20, 10)),
        "ulimit soft limit must be less than or equal to hard limit: 20 > 10"
    );

    let sysctl = |name: &str| Resources {
        sysctls: [(name.to_owned(), "1".to_owned())].into(),
        ..Resources::default()
    };
    for ok in ["kernel.shmmax", "fs.mqueue.msg_max", "net.ipv4.ip_forward"] {
        assert!(sysctl(ok).verified(&HOST, true).is_ok(), "{ok}");
    }
    assert_eq!(
        err(sysctl("vm.swappiness")),
        "sysctl \"vm.swappiness\" is not in a separate kernel namespace"
    );
    assert_eq!(
        sysctl("net.ipv4.ip_forward")
            .verified(&HOST, false)
            .unwrap_err()
            .to_string(),
        "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"
    );
    assert!(sysctl("kernel.sem").verified(&HOST, false).is_ok());

    let device = |host: &str, ctr: &str, perms: &str| Resources {
        devices: vec![Device {
            path_on_host: host.into(),
            path_in_container: ctr.into(),
            permissions: perms.into(),
        }],
        ..Resources::default()
    };
    let r = device("/dev/null", "", "").verified(&HOST, true).unwrap();
    assert_eq!(r.devices[0].path_in_container, "/dev/null");
    assert_eq!(r.devices[0].permissions, "rwm");
    assert_eq!(
        err(device("/dev/null", "/x", "rx")),
        "invalid device mode: rx"
    );
    assert!(err(device("null", "", "r")).contains("absolute"));
}

#[test]
fn updates_follow_dockers_rules() {
    let running = Resources {
        memory: 64 << 20,
        memory_swap: 128 << 20,
        nano_cpus: 500_000_000,
        shm_size: DEFAULT_SHM_SIZE,
        ..Resources::default()
    };
    let next = running
        .updated(
            &ContainerUpdate {
                memory: 100 << 20,
                nano_cpus: 1_500_000_000,
                pids_limit: Some(50),
                ..ContainerUpdate::default()
            },
            &HOST,
        )
        .unwrap();
    assert_eq!(next.memory, 100 << 20);
    assert_eq!(next.memory_swap, 128 << 20, "unchanged");
    assert_eq!(next.nano_cpus, 1_500_000_000);
    assert_eq!(next.pids_limit, Some(50));
    let unlimited = next
        .updated(
            &ContainerUpdate {
                pids_limit: Some(0),
                ..ContainerUpdate::default()
            },
            &HOST,
        )
        .unwrap();
    assert_eq!(unlimited.pids_limit, None);

    let too_big = running.updated(
        &ContainerUpdate {
            memory: 256 << 20,
            ..ContainerUpdate::default()
        },
        &HOST,
    );
    assert!(
        matches!(&too_big, Err(Error::Conflict(m)) if m.starts_with("Memory limit should be smaller than already set memoryswap limit"))
    );
    let with_swap = running
        .updated(
            &ContainerUpdate {
                memory: 256 << 20,
                memory_swap: -1,
                ..ContainerUpdate::default()
            },
            &HOST,
        )
        .unwrap();
    assert_eq!((with_swap.memory, with_swap.memory_swap), (256 << 20, -1));

    let period = running.updated(
        &ContainerUpdate {
            cpu_period: 50_000,
            ..ContainerUpdate::default()
        },
        &HOST,
    );
    assert!(
        matches!(&period, Err(Error::Conflict(m)) if m == "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
    );
    assert_eq!(
        running
            .updated(
                &ContainerUpdate {
                    memory: 1,
                    ..ContainerUpdate::default()
                },
                &HOST
            )
            .unwrap_err()
            .to_string(),
        "Minimum memory limit allowed is 6MB"
    );
}
