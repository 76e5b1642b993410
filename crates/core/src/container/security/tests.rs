use super::*;
use crate::container::table::tests::container;
use crate::container::Status;

fn running(mut c: Container, pid: u32) -> Container {
    c.state.status = Status::Running;
    c.state.pid = pid;
    c
}

fn plan_of(req: SecurityRequest) -> Result<Security> {
    plan(req, "", &ContainerTable::new([]))
}

fn err_of(req: SecurityRequest) -> String {
    plan_of(req).unwrap_err().to_string()
}

#[test]
fn capabilities_are_checked_with_dockers_words() {
    let s = plan_of(SecurityRequest {
        cap_add: vec!["net_admin".into(), "CAP_SYS_TIME".into(), "all".into()],
        cap_drop: vec!["Net_Raw".into()],
        ..Default::default()
    })
    .unwrap();
    // Kept as asked: inspect shows them so.
    assert_eq!(s.cap_add, ["net_admin", "CAP_SYS_TIME", "all"]);
    assert_eq!(normalize_capability("net_admin"), Some("CAP_NET_ADMIN"));
    assert_eq!(normalize_capability("all"), Some("ALL"));
    assert_eq!(normalize_capability("cap_bpf"), Some("CAP_BPF"));
    assert_eq!(normalize_capability("FOO"), None);

    let e = err_of(SecurityRequest {
        cap_add: vec!["foo".into()],
        ..Default::default()
    });
    assert_eq!(e, r#"invalid CapAdd: unknown capability: "CAP_FOO""#);
    let e = err_of(SecurityRequest {
        cap_drop: vec!["cap_nope".into()],
        ..Default::default()
    });
    assert_eq!(e, r#"invalid CapDrop: unknown capability: "CAP_NOPE""#);
}

#[test]
fn security_opts_parse_as_dockerd_does() {
    let opts = |list: &[&str]| {
        plan_of(SecurityRequest {
            security_opt: list.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    };
    let s = opts(&["no-new-privileges"]).unwrap();
    assert!(s.no_new_privileges);
    assert_eq!(s.security_opt, ["no-new-privileges"]);
    assert!(opts(&["no-new-privileges=true"]).unwrap().no_new_privileges);
    assert!(opts(&["no-new-privileges:true"]).unwrap().no_new_privileges);
    assert!(
        !opts(&["no-new-privileges=false"])
            .unwrap()
            .no_new_privileges
    );
    assert_eq!(
        opts(&["seccomp=unconfined"]).unwrap().seccomp,
        Seccomp::Unconfined
    );
    assert_eq!(
        opts(&["seccomp=builtin"]).unwrap().seccomp,
        Seccomp::Default
    );
    assert_eq!(
        opts(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#])
            .unwrap()
            .seccomp,
        Seccomp::Profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.into())
    );
    assert_eq!(
        opts(&["apparmor=unconfined"]).unwrap().apparmor,
        "unconfined"
    );
    assert_eq!(
        opts(&["writable-cgroups=false"]).unwrap().writable_cgroups,
        Some(false)
    );
    assert!(opts(&["label=disable"]).is_ok());
    assert!(opts(&["label:disable"]).is_ok());

    let err = |list: &[&str]| opts(list).unwrap_err().to_string();
    assert_eq!(err(&["bogus"]), r#"invalid --security-opt 1: "bogus""#);
    assert_eq!(err(&["foo=bar"]), r#"invalid --security-opt 2: "foo=bar""#);
    assert_eq!(
        err(&["no-new-privileges=maybe"]),
        r#"invalid --security-opt 2: "no-new-privileges=maybe""#
    );
    assert!(err(&["label=type:svirt_t"]).contains("SELinux"));
}

#[test]
fn namespace_modes_are_checked_and_targets_resolved() {
    let donor = container(0xaa, "donor");
    let table = ContainerTable::new([donor.clone()]);
    let req = |pid: &str, ipc: &str, uts: &str| SecurityRequest {
        pid_mode: pid.into(),
        ipc_mode: ipc.into(),
        uts_mode: uts.into(),
        ..Default::default()
    };
    let s = plan(
        req("container:donor", "container:donor", "host"),
        "",
        &table,
    )
    .unwrap();
    assert_eq!(s.pid, PidMode::Container(donor.id.clone()));
    assert_eq!(s.ipc, IpcMode::Container(donor.id.clone()));
    assert!(s.uts_host);
    assert_eq!(pid_mode_text(&s.pid), format!("container:{}", donor.id));
    assert_eq!(ipc_mode_text(&IpcMode::Private), "private");

    let s = plan(req("host", "shareable", ""), "", &table).unwrap();
    assert_eq!((s.pid, s.ipc), (PidMode::Host, IpcMode::Shareable));
    assert_eq!(
        plan(req("", "", ""), "", &table).unwrap().ipc,
        IpcMode::Private
    );
    assert_eq!(
        plan(req("", "none", ""), "", &table).unwrap().ipc,
        IpcMode::None
    );

    let err = |r: SecurityRequest, hostname: &str| plan(r, hostname, &table).unwrap_err();
    assert_eq!(
        err(req("bad", "", ""), "").to_string(),
        "invalid PID mode: bad"
    );
    assert_eq!(
        err(req("", "bad", ""), "").to_string(),
        "invalid IPC mode: bad"
    );
    assert_eq!(
        err(req("", "", "bad"), "").to_string(),
        "invalid UTS mode: bad"
    );
    assert_eq!(
        err(req("", "", "host"), "box").to_string(),
        "conflicting options: hostname and the UTS mode"
    );
    assert_eq!(
        err(req("container:nope", "", ""), "").to_string(),
        "No such container: nope"
    );
}

#[test]
fn a_start_joins_running_containers_namespaces_only() {
    let mut shareable = container(0xaa, "shm");
    shareable.security.ipc = IpcMode::Shareable;
    let private = container(0xbb, "private");
    let table = ContainerTable::new([running(shareable.clone(), 42), private.clone()]);

    let asked = Security {
        pid: PidMode::Container(shareable.id.clone()),
        ipc: IpcMode::Container(shareable.id.clone()),
        ..Default::default()
    };
    let me = ContainerId::from_bytes([0xcc; 32]);
    let l = launch(&me, &asked, &table).unwrap();
    assert_eq!(l.pid, Joined::Path("/proc/42/ns/pid".into()));
    assert_eq!(l.ipc, Joined::Path("/proc/42/ns/ipc".into()));
    assert_eq!(l.shm, Shm::Shared(shareable.id.clone()));

    let host = Security {
        pid: PidMode::Host,
        ipc: IpcMode::Host,
        ..Default::default()
    };
    let l = launch(&me, &host, &table).unwrap();
    assert_eq!((l.pid, l.ipc), (Joined::Host, Joined::Host));
    assert_eq!(l.shm, Shm::Host);
    let default = launch(&me, &Security::default(), &table).unwrap();
    assert_eq!(default.shm, Shm::Private);
    let own = Security {
        ipc: IpcMode::Shareable,
        ..Default::default()
    };
    assert_eq!(
        launch(&me, &own, &table).unwrap().shm,
        Shm::Shared(me.clone())
    );

    // Not running: Docker's 409 and words.
    let stopped = Security {
        pid: PidMode::Container(private.id.clone()),
        ..Default::default()
    };
    let e = launch(&me, &stopped, &table).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)));
    assert_eq!(
        e.to_string(),
        format!(
            "failed to join PID namespace: container {} is not running",
            private.id
        )
    );

    // Running but not shareable.
    let table = ContainerTable::new([running(private.clone(), 7)]);
    let joins_private = Security {
        ipc: IpcMode::Container(private.id.clone()),
        ..Default::default()
    };
    assert!(launch(&me, &joins_private, &table)
        .unwrap_err()
        .to_string()
        .contains("non-shareable IPC (hint: use IpcMode:shareable for the donor container)"));
}
