use berth_core::container::security::{IpcMode, Joined, Seccomp, Security, SecurityLaunch, Shm};
use serde_json::{json, Value};

use super::*;
use crate::spec::tests::sample;
use crate::spec::{render_process, render_spec, BundleSpec};

fn with(asked: Security) -> BundleSpec {
    let mut b = sample();
    b.options.security = SecurityLaunch {
        asked,
        ..SecurityLaunch::default()
    };
    b
}

fn render(b: &BundleSpec) -> Value {
    serde_json::to_value(render_spec(b).unwrap()).unwrap()
}

fn render_err(b: &BundleSpec) -> String {
    render_spec(b).unwrap_err().to_string()
}

fn caps(v: &Value, set: &str) -> Vec<String> {
    v["process"]["capabilities"][set]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn mount<'a>(v: &'a Value, dest: &str) -> Option<&'a Value> {
    v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == dest)
}

#[test]
fn the_default_is_dockers() {
    let v = render(&sample());
    assert_eq!(caps(&v, "bounding"), DEFAULT_CAPABILITIES);
    assert_eq!(caps(&v, "effective"), DEFAULT_CAPABILITIES);
    assert_eq!(caps(&v, "permitted"), DEFAULT_CAPABILITIES);
    assert_eq!(v["process"]["noNewPrivileges"], false);
    assert!(v["process"].get("apparmorProfile").is_none());
    assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(!v["linux"]["maskedPaths"].as_array().unwrap().is_empty());
    assert!(v["linux"].get("devices").is_none());
    assert_eq!(
        mount(&v, "/sys").unwrap()["options"],
        json!(["nosuid", "noexec", "nodev", "ro"])
    );
    let kinds: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["pid", "ipc", "uts", "mount", "network"]);
}

#[test]
fn cap_add_and_drop_follow_tweak_capabilities() {
    let v = render(&with(Security {
        cap_add: names(&["net_admin", "CAP_SYS_TIME"]),
        cap_drop: names(&["net_raw", "Cap_Chown"]),
        ..Default::default()
    }));
    let bounding = caps(&v, "bounding");
    assert!(bounding.contains(&"CAP_NET_ADMIN".to_owned()));
    assert!(bounding.contains(&"CAP_SYS_TIME".to_owned()));
    assert!(!bounding.contains(&"CAP_NET_RAW".to_owned()));
    assert!(!bounding.contains(&"CAP_CHOWN".to_owned()));
    assert_eq!(bounding.len(), 14);
    assert_eq!(caps(&v, "effective"), bounding);

    // ALL added: everything available but what is dropped.
    let v = render(&with(Security {
        cap_add: names(&["ALL"]),
        cap_drop: names(&["MKNOD"]),
        ..Default::default()
    }));
    assert_eq!(caps(&v, "bounding").len(), CAPABILITIES.len() - 1);
    // ALL dropped: only what is added.
    let v = render(&with(Security {
        cap_add: names(&["kill"]),
        cap_drop: names(&["all"]),
        ..Default::default()
    }));
    assert_eq!(caps(&v, "bounding"), ["CAP_KILL"]);

    // A capability this host cannot give: Docker's words.
    let mut b = with(Security {
        cap_add: names(&["SYS_RESOURCE"]),
        ..Default::default()
    });
    b.host_security
        .capabilities
        .retain(|c| *c != "CAP_SYS_RESOURCE");
    assert!(render_err(&b).contains(
        r#"capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE""#
    ));
}

#[test]
fn seccomp_follows_capabilities_and_opt_outs() {
    let v = render(&with(Security {
        cap_add: names(&["SYS_ADMIN"]),
        ..Default::default()
    }));
    let rules = v["linux"]["seccomp"]["syscalls"].to_string();
    assert!(rules.contains("\"mount\""), "CAP_SYS_ADMIN opens mount");

    let v = render(&with(Security {
        seccomp: Seccomp::Unconfined,
        ..Default::default()
    }));
    assert!(v["linux"].get("seccomp").is_none());

    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]});
    let v = render(&with(Security {
        seccomp: Seccomp::Profile(profile.to_string()),
        ..Default::default()
    }));
    assert_eq!(
        v["linux"]["seccomp"],
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]})
    );
    assert!(render_err(&with(Security {
        seccomp: Seccomp::Profile("{".into()),
        ..Default::default()
    }))
    .contains("Decoding seccomp profile failed"));
}

#[test]
fn no_new_privileges_and_apparmor() {
    let v = render(&with(Security {
        no_new_privileges: true,
        ..Default::default()
    }));
    assert_eq!(v["process"]["noNewPrivileges"], true);

    // Without AppArmor: unconfined is what there is; a profile is refused.
    let unconfined = with(Security {
        apparmor: "unconfined".into(),
        ..Default::default()
    });
    assert!(render(&unconfined)["process"]
        .get("apparmorProfile")
        .is_none());
    let named = with(Security {
        apparmor: "my-profile".into(),
        ..Default::default()
    });
    assert!(render_err(&named).contains("AppArmor is not enabled on this host"));
    // With AppArmor: a loaded profile is applied, another refused.
    let mut loaded = named.clone();
    loaded.host_security.apparmor = Some(vec!["my-profile".into()]);
    assert_eq!(render(&loaded)["process"]["apparmorProfile"], "my-profile");
    loaded.host_security.apparmor = Some(vec!["other".into()]);
    assert!(render_err(&loaded).contains("my-profile is not loaded"));
}

#[test]
fn privileged_gets_everything_docker_gives() {
    let mut b = with(Security {
        privileged: true,
        ..Default::default()
    });
    b.host_security.devices = vec![LinuxDevice {
        path: "/dev/loop-control".into(),
        kind: "c",
        major: 10,
        minor: 237,
        file_mode: 0o660,
        uid: 0,
        gid: 6,
    }];
    let v = render(&b);
    assert_eq!(caps(&v, "bounding").len(), CAPABILITIES.len());
    assert!(v["linux"].get("seccomp").is_none());
    assert_eq!(v["linux"]["maskedPaths"], json!([]));
    assert_eq!(v["linux"]["readonlyPaths"], json!([]));
    assert_eq!(
        v["linux"]["devices"],
        json!([{"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237,
                "fileMode": 0o660, "uid": 0, "gid": 6}])
    );
    assert_eq!(
        v["linux"]["resources"]["devices"],
        json!([{"allow": true, "access": "rwm"}])
    );
    assert_eq!(
        mount(&v, "/sys").unwrap()["options"],
        json!(["nosuid", "noexec", "nodev"])
    );
    assert_eq!(
        mount(&v, "/sys/fs/cgroup").unwrap()["options"],
        json!(["nosuid", "noexec", "nodev"])
    );

    // An explicit profile still applies under --privileged, as in Docker.
    let mut b = with(Security {
        privileged: true,
        seccomp: Seccomp::Profile(r#"{"defaultAction":"SCMP_ACT_LOG"}"#.into()),
        writable_cgroups: Some(false),
        ..Default::default()
    });
    b.host_security.apparmor = Some(Vec::new());
    let v = render(&b);
    assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_LOG");
    assert_eq!(v["process"]["apparmorProfile"], "unconfined");
    assert!(mount(&v, "/sys/fs/cgroup").unwrap()["options"]
        .as_array()
        .unwrap()
        .contains(&json!("ro")));
}

#[test]
fn asked_path_lists_replace_dockers() {
    let v = render(&with(Security {
        masked_paths: Some(Vec::new()),
        readonly_paths: Some(names(&["/proc/sys"])),
        ..Default::default()
    }));
    assert_eq!(v["linux"]["maskedPaths"], json!([]));
    assert_eq!(v["linux"]["readonlyPaths"], json!(["/proc/sys"]));
}

#[test]
fn shared_namespaces() {
    let mut b = with(Security {
        uts_host: true,
        ipc: IpcMode::Container(berth_types::ContainerId::parse(&"ab".repeat(32)).unwrap()),
        ..Default::default()
    });
    b.options.security.pid = Joined::Path("/proc/42/ns/pid".into());
    b.options.security.ipc = Joined::Path("/proc/42/ns/ipc".into());
    b.options.security.shm =
        Shm::Shared(berth_types::ContainerId::parse(&"ab".repeat(32)).unwrap());
    b.host_security.shm = Some("/run/berth/containers/abab/shm".into());
    let v = render(&b);
    assert_eq!(
        v["linux"]["namespaces"],
        json!([{"type": "pid", "path": "/proc/42/ns/pid"},
               {"type": "ipc", "path": "/proc/42/ns/ipc"},
               {"type": "mount"},
               {"type": "network", "path": "/run/berth/netns/c1"}])
    );
    assert_eq!(v["hostname"], "");
    assert_eq!(
        mount(&v, "/dev/shm").unwrap(),
        &json!({"destination": "/dev/shm", "type": "bind",
                "source": "/run/berth/containers/abab/shm", "options": ["rbind", "rprivate"]})
    );

    let mut b = with(Security {
        ipc: IpcMode::Host,
        ..Default::default()
    });
    b.options.security.pid = Joined::Host;
    b.options.security.ipc = Joined::Host;
    b.options.security.shm = Shm::Host;
    let v = render(&b);
    let kinds: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["uts", "mount", "network"]);
    assert_eq!(mount(&v, "/dev/shm").unwrap()["source"], "/dev/shm");

    let mut b = with(Security {
        ipc: IpcMode::None,
        ..Default::default()
    });
    b.options.security.shm = Shm::None;
    assert!(mount(&render(&b), "/dev/shm").is_none());

    // A shareable /dev/shm the runtime did not provide.
    let mut b = with(Security::default());
    b.options.security.shm =
        Shm::Shared(berth_types::ContainerId::parse(&"ab".repeat(32)).unwrap());
    assert!(render_err(&b).contains("no shareable /dev/shm"));
}

#[test]
fn init_runs_first_from_a_read_only_bind() {
    let mut b = with(Security {
        init: true,
        ..Default::default()
    });
    b.host_security.init = "/usr/bin/tini-static".into();
    let v = render(&b);
    assert_eq!(
        v["process"]["args"],
        json!(["/sbin/docker-init", "--", "sh", "-c", "echo hi"])
    );
    assert_eq!(
        mount(&v, "/sbin/docker-init").unwrap(),
        &json!({"destination": "/sbin/docker-init", "type": "bind",
                "source": "/usr/bin/tini-static", "options": ["bind", "ro"]})
    );
    b.host_security.init = "/nonexistent/tini".into();
    b.host_security.init_found = false;
    assert!(render_err(&b).contains("the init binary /nonexistent/tini is missing"));
}

#[test]
fn supplementary_groups_are_rendered() {
    let mut p = sample().process;
    let v = serde_json::to_value(render_process("c1", &p).unwrap()).unwrap();
    assert_eq!(v["user"], json!({"uid": 0, "gid": 0}));
    p.user = crate::spec::User {
        uid: 1000,
        gid: 1000,
        additional_gids: vec![1000, 10],
    };
    let v = serde_json::to_value(render_process("c1", &p).unwrap()).unwrap();
    assert_eq!(
        v["user"],
        json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 10]})
    );
}

#[test]
fn an_exec_gets_its_containers_privileges() {
    let mut b = with(Security {
        cap_drop: names(&["ALL"]),
        no_new_privileges: true,
        ..Default::default()
    });
    b.host_security.apparmor = Some(Vec::new());
    b.options.security.asked.apparmor = "unconfined".into();
    let container = render(&b);
    let mut exec = serde_json::to_value(render_process("c1", &sample().process).unwrap()).unwrap();
    exec_privileges(&mut exec, &container);
    assert_eq!(exec["capabilities"]["bounding"], json!([]));
    assert_eq!(exec["noNewPrivileges"], true);
    assert_eq!(exec["apparmorProfile"], "unconfined");
}

#[test]
fn host_devices_are_listed_as_containerd_does() {
    let devices = host_devices(std::path::Path::new("/dev")).unwrap();
    let null = devices
        .iter()
        .find(|d| d.path == "/dev/null")
        .expect("/dev/null");
    assert_eq!((null.kind, null.major, null.minor), ("c", 1, 3));
    assert!(devices.iter().all(|d| !d.path.starts_with("/dev/pts")));
    assert!(devices.iter().all(|d| d.path != "/dev/console"));
}
