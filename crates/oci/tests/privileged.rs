//! Real containers with real runc, as root, each test inside its own
//! sandbox: the test binary re-runs itself (just that test) with private
//! network and mount namespaces (berth-sandbox), so overlay mounts, the
//! containers' namespaces and everything else stay out of the machine's
//! own namespaces. Needs `berth-shim` built (`cargo build -p berth-shim`)
//! and Debian's busybox-static.
//!
//! `cargo test -p berth-oci --features privileged`
#![cfg(feature = "privileged")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_oci::image::{Image, ImportOptions, ImportSource};
use berth_oci::logs::{LogOptions, Stream};
use berth_oci::rootfs::{mounted_fs_type, unmount, NetnsPin, Overlay, OVERLAYFS_SUPER_MAGIC};
use berth_oci::spec::{ContainerOptions, EtcFiles, NetworkNamespace, ProcessSpec, Rlimit, User};
use berth_oci::{
    ContainerRuntime, ExecId, ExitInfo, ImageStore, Output, Probe, ProcessState, RepoTag,
    RuntimeConfig, TaskSpec,
};
use berth_types::ContainerId;
use nix::sys::signal::Signal;

const HELPER_DIR: &str = "BERTH_OCI_TEST_DAEMON_DIR";

/// Runs `body` inside a fresh network + mount namespace: the test binary
/// runs itself again, only this test, in a child with namespaces of its own.
fn sandboxed(name: &str, body: impl FnOnce()) {
    berth_sandbox::netns::in_child_namespaces(name, |_scratch| body());
}

fn shim_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<this test> -> target/<profile>/berth-shim
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join("berth-shim");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p berth-shim` first (or set BERTH_SHIM)",
        p.display()
    );
    p
}

fn busybox_tarball(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-busybox-image.sh");
    let out = dir.join("busybox.tar");
    let st = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "build-busybox-image.sh failed");
    out
}

fn random_id() -> ContainerId {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    ContainerId::from_bytes(b)
}

struct Env {
    root: PathBuf,
    rt: ContainerRuntime,
    images: ImageStore,
    busybox: Image,
    created: RefCell<Vec<ContainerId>>,
    _tmp: tempfile::TempDir,
}

fn config(root: &Path) -> RuntimeConfig {
    RuntimeConfig {
        data_root: root.join("d"),
        exec_root: root.join("e"),
        runtime: "runc".into(),
        shim: shim_binary(),
        cgroup_parent: "/berth-test".into(),
        // Missing here: runc still runs in a namespace of its own.
        netns_dir: Some(root.join("e").join("netns")),
        init: "/usr/bin/tini-static".into(),
    }
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        Env::at(tmp, root)
    }

    fn at(tmp: tempfile::TempDir, root: PathBuf) -> Env {
        let rt = ContainerRuntime::new(config(&root)).unwrap();
        let images = ImageStore::open(rt.layout().images_dir()).unwrap();
        let busybox = match images.inspect("busybox") {
            Ok(i) => i,
            Err(_) => {
                let tar = busybox_tarball(&root);
                let mut f = std::fs::File::open(tar).unwrap();
                let opts = ImportOptions {
                    tag: Some(RepoTag::parse("busybox").unwrap()),
                    changes: vec!["CMD [\"sh\"]".into()],
                    message: None,
                };
                images.import(ImportSource::Tar(&mut f), &opts).unwrap()
            }
        };
        Env {
            root,
            rt,
            images,
            busybox,
            created: RefCell::new(Vec::new()),
            _tmp: tmp,
        }
    }

    fn process(args: &[&str], tty: bool) -> ProcessSpec {
        ProcessSpec {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "HOSTNAME=box".into(),
                "TERM=xterm".into(),
            ],
            cwd: "/".into(),
            tty,
            console_size: None,
            user: User::ROOT,
            nofile: Rlimit::inherited_nofile(),
            ulimits: Vec::new(),
        }
    }

    fn task(&self, args: &[&str], tty: bool, stdin: bool) -> TaskSpec {
        TaskSpec {
            image_rootfs: self.busybox.rootfs.clone(),
            process: Self::process(args, tty),
            hostname: "box".into(),
            network: NetworkNamespace::New,
            etc: EtcFiles::default(),
            stdin,
            options: ContainerOptions::default(),
        }
    }

    fn create(&self, task: &TaskSpec) -> ContainerId {
        let id = random_id();
        self.created.borrow_mut().push(id.clone());
        self.rt.spawn_shim(&id, task).unwrap();
        id
    }

    fn run(&self, args: &[&str]) -> (ContainerId, ExitInfo) {
        let id = self.create(&self.task(args, false, false));
        self.rt.start(&id).unwrap();
        let exit = self
            .rt
            .wait(&id, Some(Duration::from_secs(30)))
            .unwrap()
            .unwrap();
        (id, exit)
    }

    fn log(&self, id: &ContainerId) -> Vec<(Stream, String)> {
        self.rt
            .logs(id, LogOptions::default())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.stream, e.line)
            })
            .collect()
    }

    /// After delete: no mount, no directories, nothing in runc.
    fn assert_gone(&self, id: &ContainerId) {
        let l = self.rt.layout();
        assert_eq!(mounted_fs_type(&l.rootfs(id)).unwrap(), None);
        assert!(!l.bundle_dir(id).exists());
        assert!(!l.container_data_dir(id).exists());
        assert_eq!(self.rt.runc().state(id.as_str()).unwrap(), None);
        assert!(!Path::new("/sys/fs/cgroup/pids/berth-test")
            .join(id.as_str())
            .exists());
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.created.borrow().iter() {
            if let Err(e) = self.rt.delete(id) {
                eprintln!("cleanup of {id}: {e}");
            }
        }
    }
}

/// Reads attach output until `pred` holds on the stdout text so far.
fn read_until(a: &mut berth_oci::AttachStream, pred: impl Fn(&str) -> bool) -> String {
    a.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut text = String::new();
    while !pred(&text) {
        match a.next_output().unwrap() {
            Some(Output::Stdout(b)) | Some(Output::Stderr(b)) => {
                text.push_str(&String::from_utf8_lossy(&b))
            }
            other => panic!("expected output, got {other:?}; so far {text:?}"),
        }
    }
    text
}

#[test]
fn import_run_echo_and_delete() {
    sandboxed("import_run_echo_and_delete", || {
        let env = Env::new();
        let img = &env.busybox;
        assert_eq!(img.repo_tags, ["busybox:latest"]);
        assert!(
            img.size > 1_000_000,
            "busybox is about 2 MB, got {}",
            img.size
        );
        assert_eq!(img.config.cmd.as_deref(), Some(&["sh".to_owned()][..]));
        assert!(img.rootfs.join("bin/ip").exists());
        assert_eq!(env.images.resolve(&img.id.to_string()).unwrap(), img.id);

        // /etc files from the caller are bind-mounted.
        let files = env.root.join("files");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("hosts"), "127.0.0.1 localhost\n10.1.2.3 box\n").unwrap();
        std::fs::write(files.join("hostname"), "box\n").unwrap();
        std::fs::write(files.join("resolv.conf"), "nameserver 127.0.0.11\n").unwrap();
        let mut task = env.task(
            &[
                "sh",
                "-c",
                "echo hello; echo oops >&2; hostname; cat /etc/hosts /etc/resolv.conf; \
                 echo written > /newfile; ulimit -n",
            ],
            false,
            false,
        );
        task.etc = EtcFiles {
            hosts: Some(files.join("hosts")),
            resolv_conf: Some(files.join("resolv.conf")),
            hostname: Some(files.join("hostname")),
        };
        let id = env.create(&task);
        let l = env.rt.layout();
        // The overlay is the container's root, mounted in runc's own mount
        // namespace: none in this one (the daemon's).
        let pid = env.rt.runc().state(id.as_str()).unwrap().unwrap().pid;
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        assert_eq!(
            nix::sys::statfs::statfs(&root).unwrap().filesystem_type(),
            OVERLAYFS_SUPER_MAGIC
        );
        assert!(root.join("bin/ip").exists());
        assert_eq!(mounted_fs_type(&l.rootfs(&id)).unwrap(), None);
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!info.contains(id.as_str()), "{info}");

        match env.rt.probe(&id).unwrap() {
            Probe::Alive(s) => assert_eq!(s.state, ProcessState::Created),
            other => panic!("{other:?}"),
        }
        env.rt.start(&id).unwrap();
        let exit = env
            .rt
            .wait(&id, Some(Duration::from_secs(30)))
            .unwrap()
            .unwrap();
        assert_eq!(exit.exit_code, 0);
        assert!(berth_oci::time::parse_rfc3339(&exit.finished_at).is_some());

        let log = env.log(&id);
        assert_eq!(log[0], (Stream::Stdout, "hello\n".to_owned()));
        assert!(
            log.contains(&(Stream::Stderr, "oops\n".to_owned())),
            "{log:?}"
        );
        let out: String = log.iter().map(|(_, l)| l.as_str()).collect();
        assert!(out.contains("\nbox\n"), "{out}");
        assert!(out.contains("10.1.2.3 box"), "{out}");
        assert!(out.contains("nameserver 127.0.0.11"), "{out}");
        let nofile = Rlimit::inherited_nofile().hard.to_string();
        assert!(out.contains(&nofile), "ulimit -n should be {nofile}: {out}");

        // Writes land in the container's upper dir, not in the image.
        assert!(l.upper_dir(&id).join("newfile").exists());
        assert!(!img.rootfs.join("newfile").exists());

        // The shim is gone and left its record; runc forgot the container.
        assert_eq!(env.rt.probe(&id).unwrap(), Probe::Exited(exit.clone()));
        assert_eq!(env.rt.read_exit(&id).unwrap(), Some(exit));
        assert_eq!(env.rt.runc().state(id.as_str()).unwrap(), None);
        assert!(!l.shim_socket(&id).exists());

        env.rt.delete(&id).unwrap();
        env.assert_gone(&id);
        // Deleting twice is fine.
        env.rt.delete(&id).unwrap();

        // The shim blocks SIGCHLD, std ignores SIGPIPE, and whoever started
        // the daemon may ignore more (nohup, shells' background jobs): no
        // standard signal may arrive blocked or ignored in the container.
        // (Signals 32 and up are glibc's own; it refuses to reset them.)
        // SAFETY: SIG_IGN installs no handler; this process is this test's
        // alone (it runs inside its own sandbox).
        unsafe {
            nix::sys::signal::signal(Signal::SIGHUP, nix::sys::signal::SigHandler::SigIgn).unwrap();
        }
        let (id, exit) = env.run(&["grep", "-E", "Sig(Blk|Ign)", "/proc/self/status"]);
        assert_eq!(exit.exit_code, 0);
        for (_, line) in env.log(&id) {
            let mask = u64::from_str_radix(line.split('\t').nth(1).unwrap().trim(), 16).unwrap();
            assert_eq!(mask & 0x7fff_ffff, 0, "{line}");
        }
    });
}

#[test]
fn exit_codes_and_restart() {
    sandboxed("exit_codes_and_restart", || {
        let env = Env::new();
        let (id, exit) = env.run(&["sh", "-c", "echo run; exit 3"]);
        assert_eq!(exit.exit_code, 3);

        // Start the same container again: the log grows, the code is new.
        let task = env.task(&["sh", "-c", "echo run; exit 4"], false, false);
        env.rt.spawn_shim(&id, &task).unwrap();
        assert_eq!(env.rt.read_exit(&id).unwrap(), None);
        env.rt.start(&id).unwrap();
        let exit = env
            .rt
            .wait(&id, Some(Duration::from_secs(30)))
            .unwrap()
            .unwrap();
        assert_eq!(exit.exit_code, 4);
        let runs = env.log(&id).iter().filter(|(_, l)| l == "run\n").count();
        assert_eq!(runs, 2);

        // A command that does not exist fails at create, with runc's words.
        let e = env
            .rt
            .spawn_shim(&random_id(), &env.task(&["no-such-cmd"], false, false))
            .unwrap_err();
        assert!(e.to_string().contains("no-such-cmd"), "{e}");
        assert!(e.to_string().contains("not found"), "{e}");

        // A missing image rootfs fails at create too, naming it.
        let mut task = env.task(&["true"], false, false);
        task.image_rootfs = env.root.join("no-such-image");
        let e = env.rt.spawn_shim(&random_id(), &task).unwrap_err();
        assert!(e.to_string().contains("no-such-image"), "{e}");
    });
}

#[test]
fn overlay_mount_is_idempotent_and_unmount_takes_all() {
    sandboxed("overlay_mount_is_idempotent_and_unmount_takes_all", || {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let lower = root.join("lower");
        std::fs::create_dir_all(lower.join("sub")).unwrap();
        std::fs::write(lower.join("file"), "lower\n").unwrap();
        let overlay = |name: &str, target: PathBuf| Overlay {
            id: name.into(),
            lower: lower.clone(),
            upper: root.join(name).join("upper"),
            work: root.join(name).join("work"),
            target,
        };
        let mountinfo = || std::fs::read_to_string("/proc/self/mountinfo").unwrap();

        let a = overlay("a", root.join("a/rootfs"));
        assert_eq!(mounted_fs_type(&a.target).unwrap(), None);
        assert!(a.mount().unwrap());
        assert_eq!(
            mounted_fs_type(&a.target).unwrap(),
            Some(OVERLAYFS_SUPER_MAGIC)
        );
        assert_eq!(
            std::fs::read_to_string(a.target.join("file")).unwrap(),
            "lower\n"
        );
        // A second mount (a restarted daemon) sees the first.
        assert!(!a.mount().unwrap());
        let target = a.target.to_str().unwrap().to_owned();
        assert_eq!(mountinfo().matches(&target).count(), 1);

        // Inside an overlay mounted higher up the type is overlay too, but
        // that is no mount point.
        let b = overlay("b", a.target.join("sub"));
        assert_eq!(mounted_fs_type(&b.target).unwrap(), None);
        assert!(b.mount().unwrap());
        assert_eq!(
            mounted_fs_type(&b.target).unwrap(),
            Some(OVERLAYFS_SUPER_MAGIC)
        );
        unmount("b", &b.target).unwrap();
        assert_eq!(mounted_fs_type(&b.target).unwrap(), None);

        // Something else on top of the overlay: refused.
        nix::mount::mount(
            Some("tmpfs"),
            &a.target,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let e = a.mount().unwrap_err().to_string();
        assert!(e.contains("something else"), "{e}");
        assert_eq!(mountinfo().matches(&target).count(), 2);

        // Unmounting takes both, the busy top one lazily.
        let mut busy = Command::new("sleep")
            .arg("60")
            .current_dir(&a.target)
            .spawn()
            .unwrap();
        unmount("a", &a.target).unwrap();
        busy.kill().unwrap();
        busy.wait().unwrap();
        assert_eq!(mounted_fs_type(&a.target).unwrap(), None);
        assert_eq!(mountinfo().matches(&target).count(), 0);
        // Not mounted, or missing: nothing to do.
        unmount("a", &a.target).unwrap();
        unmount("a", &root.join("missing")).unwrap();

        // Mounted in a namespace of the command's own: not in this one.
        // The namespace directory (a mount of its own, as berth's) with two
        // files mounted in it: the command sees the pinned one at the pin
        // and none of the directory's mounts.
        let bind = |from: &Path, to: &Path| {
            let flags = nix::mount::MsFlags::MS_BIND;
            nix::mount::mount(Some(from), to, None::<&str>, flags, None::<&str>).unwrap();
        };
        let nsdir = root.join("netns");
        std::fs::create_dir(&nsdir).unwrap();
        bind(&nsdir, &nsdir);
        for name in ["x", "y"] {
            let content = root.join(format!("{name}.src"));
            std::fs::write(&content, format!("namespace {name}\n")).unwrap();
            std::fs::write(nsdir.join(name), "").unwrap();
            bind(&content, &nsdir.join(name));
        }
        let c = overlay("c", root.join("c/rootfs"));
        let pin = NetnsPin {
            source: nsdir.join("x"),
            pin: root.join("c/netns"),
        };
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "cat \"$0/file\" \"$1\" && grep -c \"$0\" /proc/self/mountinfo \
             && ! grep \"$2\" /proc/self/mountinfo",
        ])
        .arg(&c.target)
        .arg(&pin.pin)
        .arg(&nsdir);
        c.mount_in_new_namespace(&mut cmd, Some(&pin)).unwrap();
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "lower\nnamespace x\n1\n"
        );
        assert_eq!(mounted_fs_type(&c.target).unwrap(), None);
        assert!(!mountinfo().contains(c.target.to_str().unwrap()));
        // Here the directory and both files are still mounted; the pin is
        // an empty file.
        let nsdir_text = nsdir.to_str().unwrap().to_owned();
        let lines = mountinfo()
            .lines()
            .filter(|l| l.contains(&nsdir_text))
            .count();
        assert_eq!(lines, 3);

        // runc's other calls, with a pre-exec hook or through `berth-shim
        // --run-hiding` (as berthd runs runc): the directory and its mounts
        // detached, nothing else.
        let script = "! grep \"$0\" /proc/self/mountinfo && wc -l < /proc/self/mountinfo";
        let mut hooked = Command::new("sh");
        berth_oci::mountns::hide_in_new_namespace(&mut hooked, &nsdir).unwrap();
        let wrapped = berth_oci::mountns::hiding_command(&shim_binary(), &nsdir, Path::new("sh"));
        for mut cmd in [hooked, wrapped] {
            let out = cmd.args(["-c", script]).arg(&nsdir).output().unwrap();
            assert!(out.status.success(), "{out:?}");
            let seen: usize = String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert_eq!(seen, mountinfo().lines().count() - 3);
        }
        assert_eq!(std::fs::read_to_string(&pin.pin).unwrap(), "");
    });
}

#[test]
fn kill_with_term_and_kill() {
    sandboxed("kill_with_term_and_kill", || {
        let env = Env::new();
        // A shell that handles TERM (pid 1 ignores signals it has no
        // handler for, as in Docker).
        let id = env.create(&env.task(
            &[
                "sh",
                "-c",
                "trap 'exit 143' TERM; echo ready; sleep 1000 & wait",
            ],
            false,
            false,
        ));
        let mut a = env.rt.attach(&id, true, true).unwrap();
        env.rt.start(&id).unwrap();
        read_until(&mut a, |t| t.contains("ready"));
        env.rt.kill(&id, Signal::SIGTERM).unwrap();
        let exit = env
            .rt
            .wait(&id, Some(Duration::from_secs(20)))
            .unwrap()
            .unwrap();
        assert_eq!(exit.exit_code, 143);
        // The attached client sees the end too.
        a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        loop {
            match a.next_output().unwrap() {
                Some(Output::Exit(e)) => {
                    assert_eq!(e, exit);
                    break;
                }
                Some(_) => {}
                None => panic!("closed without EXIT"),
            }
        }

        let id = env.create(&env.task(&["sleep", "1000"], false, false));
        let pid = env.rt.start(&id).unwrap();
        // runc start returns once runc's init is told to go; until it has
        // exec'd sleep, pid 1 is runc's (Go) init, which a TERM ends.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n"
        {
            assert!(Instant::now() < deadline, "sleep never ran");
            std::thread::sleep(Duration::from_millis(5));
        }
        env.rt.kill(&id, Signal::SIGTERM).unwrap();
        // Ignored by pid 1 without a handler.
        assert_eq!(
            env.rt.wait(&id, Some(Duration::from_millis(500))).unwrap(),
            None
        );
        env.rt.kill(&id, Signal::SIGKILL).unwrap();
        let exit = env
            .rt
            .wait(&id, Some(Duration::from_secs(20)))
            .unwrap()
            .unwrap();
        assert_eq!(exit.exit_code, 137);
        let e = env.rt.kill(&id, Signal::SIGKILL).unwrap_err();
        assert_eq!(e.kind(), berth_oci::ErrorKind::Conflict, "{e}");

        // Deleting a running container kills it.
        let id = env.create(&env.task(&["sleep", "1000"], false, false));
        env.rt.start(&id).unwrap();
        env.rt.delete(&id).unwrap();
        env.assert_gone(&id);
    });
}

#[test]
fn exec_in_none_mode_container() {
    sandboxed("exec_in_none_mode_container", || {
        let env = Env::new();
        let id = env.create(&env.task(&["sleep", "1000"], false, false));
        env.rt.start(&id).unwrap();

        // 64-character exec ids make the socket path longer than sun_path:
        // the client must still reach it.
        let exec = ExecId::parse(&"e".repeat(64)).unwrap();
        let p = Env::process(&["ip", "addr"], false);
        env.rt.exec_spawn(&id, &exec, &p, false, false).unwrap();
        let shim = env.rt.exec_shim(&id, &exec);
        assert!(shim.socket().as_os_str().len() > 108);
        let mut a = shim.attach(true, true).unwrap();
        let pid = shim.start().unwrap();
        assert!(pid > 0);
        a.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut out = String::new();
        let exit = loop {
            match a.next_output().unwrap() {
                Some(Output::Stdout(b)) => out.push_str(&String::from_utf8_lossy(&b)),
                Some(Output::Stderr(b)) => panic!("stderr: {}", String::from_utf8_lossy(&b)),
                Some(Output::Exit(e)) => break e,
                None => panic!("closed without EXIT"),
            }
        };
        assert_eq!(exit.exit_code, 0);
        assert!(out.contains("1: lo:"), "{out}");
        assert!(out.contains("127.0.0.1/8"), "{out}");
        assert!(!out.contains("2: "), "none mode has only lo: {out}");
        assert_eq!(shim.wait(None).unwrap(), Some(exit));

        // stdin through an exec, and its exit code.
        let exec2 = ExecId::parse("x2").unwrap();
        let p = Env::process(&["sh", "-c", "read line; echo got $line; exit 7"], false);
        env.rt.exec_spawn(&id, &exec2, &p, true, false).unwrap();
        let shim2 = env.rt.exec_shim(&id, &exec2);
        let mut a = shim2.attach(true, false).unwrap();
        shim2.start().unwrap();
        a.send_stdin(b"abc\n").unwrap();
        a.close_stdin().unwrap();
        read_until(&mut a, |t| t.contains("got abc"));
        assert_eq!(
            shim2
                .wait(Some(Duration::from_secs(20)))
                .unwrap()
                .unwrap()
                .exit_code,
            7
        );

        // A missing binary: START fails with runc's words and code 127.
        let exec3 = ExecId::parse("x3").unwrap();
        env.rt
            .exec_spawn(&id, &exec3, &Env::process(&["nope"], false), false, false)
            .unwrap();
        let shim3 = env.rt.exec_shim(&id, &exec3);
        let e = shim3.start().unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        let exit = shim3.wait(Some(Duration::from_secs(10))).unwrap().unwrap();
        assert_eq!(exit.exit_code, 127);
        for x in [&exec, &exec2, &exec3] {
            env.rt.exec_remove(&id, x).unwrap();
        }

        // Exec output does not go to the container's log.
        assert!(env.log(&id).is_empty());
        env.rt.delete(&id).unwrap();
        env.assert_gone(&id);
    });
}

#[test]
fn tty_container() {
    sandboxed("tty_container", || {
        let env = Env::new();
        let id = env.create(&env.task(&["sh"], true, true));
        let mut a = env.rt.attach(&id, true, true).unwrap();
        env.rt.start(&id).unwrap();
        env.rt.resize(&id, 100, 40).unwrap();
        a.send_stdin(b"echo hi\n").unwrap();
        // The tty echoes the command and then prints its output, CRLF.
        read_until(&mut a, |t| t.contains("\r\nhi\r\n"));
        a.send_stdin(b"stty size\n").unwrap();
        read_until(&mut a, |t| t.contains("40 100"));
        a.send_stdin(b"exit 5\n").unwrap();
        a.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let exit = loop {
            match a.next_output().unwrap() {
                Some(Output::Exit(e)) => break e,
                Some(Output::Stderr(_)) => panic!("a tty has no separate stderr"),
                Some(Output::Stdout(_)) => {}
                None => panic!("closed without EXIT"),
            }
        };
        assert_eq!(exit.exit_code, 5);
        let log = env.log(&id);
        assert!(log.iter().all(|(s, _)| *s == Stream::Stdout));
        assert!(log.iter().any(|(_, l)| l == "hi\r\n"), "{log:?}");

        // Resizing a non-tty container is refused.
        let id = env.create(&env.task(&["sleep", "1000"], false, false));
        assert!(env.rt.resize(&id, 10, 10).is_err());
    });
}

/// Not a test on its own: the "daemon" of `shim_survives_daemon_kill`,
/// which creates and starts a container and then waits to be killed.
#[test]
#[ignore = "helper process of shim_survives_daemon_kill"]
fn daemon_helper() {
    let Some(dir) = std::env::var_os(HELPER_DIR) else {
        return;
    };
    let root = PathBuf::from(dir);
    let env = Env::at(tempfile::tempdir().unwrap(), root.clone());
    let id = random_id();
    let script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done";
    env.rt
        .spawn_shim(&id, &env.task(&["sh", "-c", script], false, true))
        .unwrap();
    env.rt.start(&id).unwrap();
    std::fs::write(root.join("id"), id.as_str()).unwrap();
    // No cleanup: this process is killed with SIGKILL.
    std::mem::forget(env);
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn shim_survives_daemon_kill() {
    sandboxed("shim_survives_daemon_kill", || {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let mut daemon = Command::new(std::env::current_exe().unwrap())
            .args(["daemon_helper", "--exact", "--ignored", "--nocapture"])
            .env(HELPER_DIR, &root)
            .spawn()
            .unwrap();
        let id_file = root.join("id");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !id_file.exists() {
            assert!(
                Instant::now() < deadline,
                "helper daemon did not start a container"
            );
            if let Some(st) = daemon.try_wait().unwrap() {
                panic!("helper daemon exited: {st}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let id = ContainerId::parse(std::fs::read_to_string(&id_file).unwrap().trim()).unwrap();
        // kill -9 the daemon: it had all the "daemon-side" state.
        daemon.kill().unwrap();
        daemon.wait().unwrap();

        // A new daemon over the same directories adopts the container.
        let env = Env::at(tmp, root);
        env.created.borrow_mut().push(id.clone());
        let status = match env.rt.probe(&id).unwrap() {
            Probe::Alive(s) => s,
            other => panic!("expected a live shim, got {other:?}"),
        };
        assert_eq!(status.state, ProcessState::Running);
        assert!(status.stdin);
        // For the record (no assertion: it depends on the build profile).
        let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", status.shim_pid));
        for l in rollup.unwrap_or_default().lines() {
            if l.starts_with("Rss:") || l.starts_with("Pss:") {
                eprintln!("berth-shim {l}");
            }
        }
        let mut a = env.rt.attach(&id, true, true).unwrap();
        let seen = read_until(&mut a, |t| t.matches("tick").count() >= 3);
        assert!(seen.starts_with("tick "), "{seen}");
        // Output kept flowing into the log meanwhile.
        let logged = env.log(&id);
        assert!(logged.len() >= 3, "{logged:?}");
        assert_eq!(logged[0].1, "tick 0\n");

        // A following reader stops when the container exits.
        let rt = env.rt.clone();
        let id2 = id.clone();
        let follower = std::thread::spawn(move || {
            let opts = LogOptions {
                follow: true,
                tail: Some(1),
                ..Default::default()
            };
            rt.logs(&id2, opts).unwrap().count()
        });
        std::thread::sleep(Duration::from_millis(500));
        env.rt.kill(&id, Signal::SIGKILL).unwrap();
        let exit = env
            .rt
            .wait(&id, Some(Duration::from_secs(20)))
            .unwrap()
            .unwrap();
        assert_eq!(exit.exit_code, 137);
        assert!(follower.join().unwrap() >= 2);
        assert_eq!(env.rt.probe(&id).unwrap(), Probe::Exited(exit));
        env.rt.delete(&id).unwrap();
        env.assert_gone(&id);
        assert!(env.rt.runc().list().unwrap().is_empty());
    });
}

#[test]
fn a_container_whose_shim_died_is_killed_as_orphan() {
    sandboxed("a_container_whose_shim_died_is_killed_as_orphan", || {
        let env = Env::new();
        let id = env.create(&env.task(&["sleep", "1000"], false, false));
        let pid = env.rt.start(&id).unwrap();
        let shim_pid = match env.rt.probe(&id).unwrap() {
            Probe::Alive(s) => s.shim_pid,
            other => panic!("{other:?}"),
        };
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim_pid as i32), Signal::SIGKILL)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while env.rt.shim(&id).is_alive() {
            assert!(Instant::now() < deadline, "the shim did not die");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(env.rt.probe(&id).unwrap(), Probe::Orphaned { pid });
        let exit = env.rt.kill_orphan(&id).unwrap().expect("it was running");
        assert_eq!(exit.exit_code, 137);
        assert_eq!(env.rt.runc().state(id.as_str()).unwrap(), None);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty() || stat.contains(") Z "), "{stat}");
        // Nothing left to kill the second time.
        assert_eq!(env.rt.kill_orphan(&id).unwrap(), None);
        assert_eq!(env.rt.probe(&id).unwrap(), Probe::Gone);
        env.rt.delete(&id).unwrap();
        env.assert_gone(&id);
    });
}
