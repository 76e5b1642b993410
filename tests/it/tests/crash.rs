//! Crash safety end to end: berthd killed in the middle of changes, kernel
//! objects deleted behind its back, a killed shim, a full data root. Each
//! test checks what the kernel, the store and the CLI show afterwards, and
//! that containers still pass packets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{Run, Sandbox};
use serde_json::Value;

/// A guard against a hang, not a performance bound: every request must
/// answer, and one that has not after this long never will.
const ANSWER_GUARD: Duration = Duration::from_secs(60);

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `cmd`; `None` if it has not finished within [`ANSWER_GUARD`] (it
/// is killed then).
fn answered(mut cmd: Command) -> Option<Run> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + ANSWER_GUARD;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Some(Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `running 0`, `exited 143`…
fn state_of(sb: &Sandbox, name: &str) -> String {
    sb.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        name,
    ])
    .ok()
    .trim()
    .to_owned()
}

#[test]
fn stop_and_rm_answer_when_the_data_root_is_full_and_converge_after() {
    let mut sb = Sandbox::new();
    let data = sb.data_root();
    let data = data.display();
    // The data root on a small file system of its own (in the sandbox's
    // mount namespace), so filling it touches nothing else.
    sb.sh(&format!(
        "mkdir -p {data} && mount -t tmpfs -o size=32m tmpfs {data}"
    ))
    .ok();
    sb.start_daemon(&[]);
    sb.import_busybox();
    for name in ["one", "two"] {
        sb.docker(&["run", "-d", "--name", name, "busybox", "sleep", "1d"])
            .ok();
    }
    sb.sh(&format!(
        "dd if=/dev/zero of={data}/filler bs=64k 2>/dev/null; true"
    ));

    let stop = answered(sb.docker_command(&["stop", "-t", "1", "one"]))
        .expect("stop answers on a full data root");
    let rm = answered(sb.docker_command(&["rm", "-f", "two"]))
        .expect("rm -f answers on a full data root");
    for (what, run) in [("stop", &stop), ("rm -f", &rm)] {
        assert_ne!(run.status, 0, "{what} cannot be recorded: {run:?}");
        assert!(
            run.stderr.contains("full") || run.stderr.contains("space"),
            "{what} names the cause: {run:?}"
        );
    }
    // The processes are gone; the records follow once there is room.
    sb.sh(&format!("rm {data}/filler")).ok();
    let deadline = Instant::now() + ANSWER_GUARD;
    while state_of(&sb, "one").starts_with("running") {
        assert!(Instant::now() < deadline, "one still shows Up");
        sleep(Duration::from_millis(100));
    }
    // sleep as pid 1 ignores SIGTERM: killed after the grace period.
    assert_eq!(state_of(&sb, "one"), "exited 137");
    let rm = answered(sb.docker_command(&["rm", "-f", "one", "two"])).expect("rm -f answers");
    assert_eq!(rm.status, 0, "{rm:?}");
    assert_eq!(sb.docker(&["ps", "-aq"]).ok(), "");
    assert_eq!(sb.veths(), Vec::<String>::new());
    // And the daemon works as before.
    sb.docker(&["run", "--rm", "busybox", "ping", "-c1", "-W2", "172.17.0.1"])
        .ok();
    assert_consistent(&sb, "after space came back");
}

/// What must hold after any crash and restart (the chaos test's list):
/// every endpoint of a running container has its veth (an up port of its
/// network's bridge, the address inside the sandbox) and every veth has
/// its endpoint; a bridge for each bridge network and no other; no
/// address twice on a network; the DNAT map holds exactly
/// the published ports of running containers; a shim and a netns pin for
/// each running container and for nothing else; an intact database.
/// Returns what does not hold.
fn violations(sb: &Sandbox) -> Vec<String> {
    let mut bad = Vec::new();
    let ids = sb.docker(&["ps", "-aq", "--no-trunc"]).ok();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let containers: Vec<Value> = if ids.is_empty() {
        Vec::new()
    } else {
        let mut args = vec!["inspect"];
        args.extend(&ids);
        serde_json::from_str(&sb.docker(&args).ok()).unwrap()
    };
    let links: Vec<Value> = sb
        .ip_json(&["-d", "link", "show"])
        .as_array()
        .cloned()
        .unwrap_or_default();
    let link = |name: &str| links.iter().find(|l| l["ifname"] == name);
    let exec = sb.dir().join("exec");
    let mut live_endpoints = BTreeSet::new();
    let mut addresses = BTreeSet::new();
    let mut published = BTreeSet::new();
    let mut running_ids = BTreeSet::new();
    let mut sandboxes = BTreeSet::new();
    for c in &containers {
        let id = c["Id"].as_str().unwrap().to_owned();
        let name = c["Name"].as_str().unwrap_or_default().to_owned();
        if c["State"]["Running"] != true {
            continue;
        }
        running_ids.insert(id.clone());
        let mode = c["HostConfig"]["NetworkMode"].as_str().unwrap_or_default();
        if mode == "host" || mode.starts_with("container:") {
            continue;
        }
        sandboxes.insert(id.clone());
        let inside = sb.sh(&format!(
            "nsenter --net={}/netns/{id} ip -j addr show",
            exec.display()
        ));
        let inside = inside.stdout;
        // Ports are published to the address on the network the container
        // was created on (its first).
        let primary = if mode == "default" { "bridge" } else { mode };
        let mut first_ip = c["NetworkSettings"]["Networks"][primary]["IPAddress"]
            .as_str()
            .map(str::to_owned);
        for (net_name, ep) in c["NetworkSettings"]["Networks"]
            .as_object()
            .cloned()
            .unwrap_or_default()
        {
            let endpoint = ep["EndpointID"].as_str().unwrap_or_default().to_owned();
            let ip = ep["IPAddress"].as_str().unwrap_or_default().to_owned();
            if endpoint.is_empty() {
                bad.push(format!("{name}: running on {net_name} without an endpoint"));
                continue;
            }
            first_ip.get_or_insert(ip.clone());
            if !addresses.insert((ep["NetworkID"].to_string(), ip.clone())) {
                bad.push(format!("{name}: address {ip} on {net_name} is given twice"));
            }
            let veth = format!("veth{}", &endpoint[..7]);
            live_endpoints.insert(endpoint.clone());
            let Some(l) = link(&veth) else {
                bad.push(format!("{name}: endpoint on {net_name} has no veth {veth}"));
                continue;
            };
            if l["ifalias"].as_str() != Some(&format!("berth:endpoint:{endpoint}")) {
                bad.push(format!("{name}: veth {veth} lacks its alias: {l}"));
            }
            let on_bridge = l["master"].as_str().and_then(link).is_some_and(|b| {
                b["ifalias"].as_str()
                    == Some(&format!(
                        "berth:network:{}",
                        ep["NetworkID"].as_str().unwrap_or_default()
                    ))
            });
            let up = l["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == "UP"));
            if !on_bridge || !up {
                bad.push(format!(
                    "{name}: veth {veth} is not an up port of {net_name}'s bridge: {l}"
                ));
            }
            if !inside.contains(&format!("\"{ip}\"")) {
                bad.push(format!(
                    "{name}: {ip} ({net_name}) is not inside its sandbox: {inside}"
                ));
            }
        }
        for (port, bindings) in c["NetworkSettings"]["Ports"]
            .as_object()
            .cloned()
            .unwrap_or_default()
        {
            for b in bindings.as_array().cloned().unwrap_or_default() {
                if b["HostIp"] == "0.0.0.0" {
                    published.insert(format!(
                        "tcp . {} : {} . {}",
                        b["HostPort"].as_str().unwrap_or_default(),
                        first_ip.clone().unwrap_or_default(),
                        port.trim_end_matches("/tcp")
                    ));
                }
            }
        }
    }
    for l in &links {
        if l["linkinfo"]["info_kind"] != "veth" {
            continue;
        }
        let alias = l["ifalias"].as_str().unwrap_or_default();
        let owned = alias
            .strip_prefix("berth:endpoint:")
            .is_some_and(|ep| live_endpoints.contains(ep));
        if !owned {
            bad.push(format!(
                "veth {} belongs to no running container's endpoint: {l}",
                l["ifname"]
            ));
        }
    }
    let networks = sb
        .docker(&[
            "network",
            "ls",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Driver}}",
        ])
        .ok();
    let bridge_networks: BTreeSet<&str> = networks
        .lines()
        .filter_map(|l| l.strip_suffix(" bridge"))
        .collect();
    let bridges: BTreeSet<&str> = links
        .iter()
        .filter_map(|l| l["ifalias"].as_str()?.strip_prefix("berth:network:"))
        .collect();
    if bridges != bridge_networks {
        bad.push(format!(
            "bridges of {bridges:?}, bridge networks {bridge_networks:?}"
        ));
    }
    let map = sb.sh("nft list map ip berth dnat-any").ok();
    let elements: BTreeSet<String> = map
        .split_once("elements = {")
        .map(|(_, rest)| rest.split('}').next().unwrap_or_default())
        .unwrap_or_default()
        .split(',')
        .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|e| !e.is_empty())
        .collect();
    if elements != published {
        bad.push(format!(
            "DNAT elements {elements:?} are not the published ports {published:?}"
        ));
    }
    let shims = shim_containers(sb);
    if shims != running_ids {
        bad.push(format!("shims for {shims:?}, running {running_ids:?}"));
    }
    let pins: BTreeSet<String> = sb
        .sh(&format!("ls {}/netns", exec.display()))
        .ok()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if pins != sandboxes {
        bad.push(format!("netns pins {pins:?}, sandboxes {sandboxes:?}"));
    }
    let check = sb
        .sh(&format!(
            "sqlite3 -readonly {}/berth.db 'PRAGMA integrity_check'",
            sb.data_root().display()
        ))
        .ok();
    if check.trim() != "ok" {
        bad.push(format!("integrity_check: {check}"));
    }
    bad
}

/// The containers whose (container, not exec) shim runs in this sandbox.
fn shim_containers(sb: &Sandbox) -> BTreeSet<String> {
    let prefix = sb.dir().join("exec/containers");
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.len() < 2 || !args[0].ends_with("berth-shim") {
            continue;
        }
        let Some(rest) = std::path::Path::new(&args[1]).strip_prefix(&prefix).ok() else {
            continue;
        };
        let parts: Vec<_> = rest.components().collect();
        // <id>/shim.json; an exec's is <id>/exec/<exec>/shim.json.
        if parts.len() == 2 {
            ids.insert(parts[0].as_os_str().to_string_lossy().into_owned());
        }
    }
    ids
}

/// Asserts [`violations`] is empty, allowing what is still finishing (a
/// shim writing its exit record) a bounded moment to finish.
#[track_caller]
fn assert_consistent(sb: &Sandbox, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bad = violations(sb);
        if bad.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{when}:\n{}\n--- berthd log tail:\n{}",
            bad.join("\n"),
            tail(&sb.daemon_log(), 60)
        );
        sleep(Duration::from_millis(200));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a command in the background; it may fail (the daemon may die
/// under it), but it must end within [`ANSWER_GUARD`].
fn background(sb: &Sandbox, args: &[&str]) -> std::thread::JoinHandle<Option<Run>> {
    let cmd = sb.docker_command(args);
    std::thread::spawn(move || answered(cmd))
}

/// A small deterministic generator: each run prints its seed, so a failure
/// can be replayed with `BERTH_CHAOS_SEED`.
struct Lcg(u64);

impl Lcg {
    fn seeded() -> Lcg {
        let seed = std::env::var("BERTH_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("BERTH_CHAOS_SEED={seed}");
        Lcg(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn deleted_veths_and_bridges_are_rebuilt_at_restart() {
    let mut sb = Sandbox::with_busybox();
    sb.docker(&["network", "create", "--subnet", "10.77.0.0/24", "app"])
        .ok();
    for (name, net) in [("web", "app"), ("db", "app"), ("solo", "bridge")] {
        sb.docker(&[
            "run", "-d", "--name", name, "--net", net, "busybox", "sleep", "1d",
        ])
        .ok();
    }
    let app = sb.inspect("app");
    let bridge = format!("br-{}", &app["Id"].as_str().unwrap()[..12]);
    let solo = sb.inspect("solo");
    let solo_ep = solo["NetworkSettings"]["Networks"]["bridge"]["EndpointID"]
        .as_str()
        .unwrap();
    sb.sh(&format!(
        "ip link del {bridge} && ip link del veth{}",
        &solo_ep[..7]
    ))
    .ok();
    sb.stop_daemon();
    sb.restart_daemon();
    assert_consistent(&sb, "after the restart");
    let db_ip = sb.inspect("db")["NetworkSettings"]["Networks"]["app"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    sb.docker(&["exec", "web", "ping", "-c1", "-W2", &db_ip])
        .ok();
    sb.docker(&["exec", "web", "ping", "-c1", "-W2", "db"]).ok();
    sb.docker(&["exec", "solo", "ping", "-c1", "-W2", "172.17.0.1"])
        .ok();
    let route = sb.docker(&["exec", "solo", "ip", "route"]).ok();
    assert!(route.contains("default via 172.17.0.1 dev eth0"), "{route}");
    let log = sb.daemon_log();
    assert_eq!(
        log.matches("endpoint rebuilt").count(),
        3,
        "{}",
        tail(&log, 40)
    );
}

#[test]
fn a_killed_shim_takes_its_container_down_and_says_so() {
    let mut sb = Sandbox::with_busybox();
    sb.docker(&["run", "-d", "--name", "orphan", "busybox", "sleep", "1d"])
        .ok();
    let c = sb.inspect("orphan");
    let pid = c["State"]["Pid"].as_u64().unwrap();
    let id = c["Id"].as_str().unwrap().to_owned();
    let shim_pid =
        std::fs::read_to_string(sb.dir().join(format!("exec/containers/{id}/shim.pid"))).unwrap();
    sb.sh(&format!("kill -9 {}", shim_pid.trim())).ok();
    let deadline = Instant::now() + ANSWER_GUARD;
    while state_of(&sb, "orphan").starts_with("running") {
        assert!(
            Instant::now() < deadline,
            "still running after its shim died"
        );
        sleep(Duration::from_millis(100));
    }
    assert_eq!(state_of(&sb, "orphan"), "exited 137");
    // The process is gone, not left running unseen (a zombie is gone too).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z "), "{stat}");
    assert!(sb
        .daemon_log()
        .contains("its shim died: killing the container"));
    assert_consistent(&sb, "after the shim died");
    // It starts again like any exited container.
    sb.docker(&["start", "orphan"]).ok();
    sb.docker(&["exec", "orphan", "ping", "-c1", "-W2", "172.17.0.1"])
        .ok();
    assert_consistent(&sb, "after the restart of the container");

    // A shim that dies while berthd is down: found and handled at start.
    let pid = sb.inspect("orphan")["State"]["Pid"].as_u64().unwrap();
    let shim_pid =
        std::fs::read_to_string(sb.dir().join(format!("exec/containers/{id}/shim.pid"))).unwrap();
    sb.stop_daemon();
    sb.sh(&format!("kill -9 {}", shim_pid.trim())).ok();
    sb.restart_daemon();
    assert_eq!(state_of(&sb, "orphan"), "exited 137");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z "), "{stat}");
    assert_consistent(&sb, "after a restart that found a dead shim");
}

#[test]
fn connect_and_disconnect_cut_by_kill9_are_finished_or_undone() {
    let mut sb = Sandbox::with_busybox();
    let mut rng = Lcg::seeded();
    sb.docker(&["network", "create", "--subnet", "10.77.0.0/24", "app"])
        .ok();
    sb.docker(&["run", "-d", "--name", "target", "busybox", "sleep", "1d"])
        .ok();
    sb.docker(&[
        "run", "-d", "--name", "peer", "--net", "app", "busybox", "sleep", "1d",
    ])
    .ok();
    for attempt in 0..10 {
        let connected = sb.inspect("target")["NetworkSettings"]["Networks"]["app"].is_object();
        let verb = if connected { "disconnect" } else { "connect" };
        let run = background(&sb, &["network", verb, "app", "target"]);
        sleep(Duration::from_millis(20 + rng.below(60)));
        sb.kill_daemon();
        run.join()
            .unwrap()
            .expect("the CLI ends when the daemon dies");
        sb.restart_daemon();
        assert_consistent(&sb, &format!("attempt {attempt}: {verb} cut short"));
        // What reconcile had to do so far (the kill lands at varying points).
        let log = sb.daemon_log();
        println!(
            "attempt {attempt}: {verb}: endpoints rebuilt {}, changes finished {}",
            log.matches("endpoint rebuilt").count(),
            log.matches("finished an interrupted connect or disconnect")
                .count(),
        );
        if sb.inspect("target")["NetworkSettings"]["Networks"]["app"].is_object() {
            sb.docker(&["exec", "target", "ping", "-c1", "-W2", "peer"])
                .ok();
        }
        sb.docker(&["exec", "target", "ping", "-c1", "-W2", "172.17.0.1"])
            .ok();
    }
}

#[test]
fn chaos_kill9_during_concurrent_changes_leaves_a_consistent_host() {
    let mut sb = Sandbox::with_busybox();
    let mut rng = Lcg::seeded();
    sb.docker(&["network", "create", "--subnet", "10.77.0.0/24", "base"])
        .ok();
    for round in 0..6 {
        let r = round.to_string();
        let (a, b, c, n) = (
            format!("a{r}"),
            format!("b{r}"),
            format!("c{r}"),
            format!("n{r}"),
        );
        let port = format!("{}:80", 18000 + round);
        let old: Vec<String> = (0..round)
            .flat_map(|p| [format!("a{p}"), format!("b{p}")])
            .collect();
        let toggle = |name: &str, first: &str, second: &str| -> Vec<Vec<String>> {
            (0..4)
                .flat_map(|_| [first, second])
                .map(|verb| strings(&["network", verb, "base", name]))
                .collect()
        };
        let mut removal = strings(&["rm", "-f"]);
        removal.extend(old);
        let script: Vec<Vec<Vec<String>>> = vec![
            [
                vec![strings(&[
                    "run", "-d", "--name", &a, "-p", &port, "busybox", "sleep", "1d",
                ])],
                toggle(&a, "connect", "disconnect"),
            ]
            .concat(),
            vec![
                strings(&["network", "create", &n]),
                strings(&[
                    "run", "-d", "--name", &b, "--net", &n, "busybox", "sleep", "1d",
                ]),
                strings(&["network", "connect", "base", &b]),
                strings(&["rm", "-f", &b]),
                strings(&["network", "rm", &n]),
            ],
            [
                vec![strings(&[
                    "run", "-d", "--name", &c, "--net", "base", "busybox", "sleep", "1d",
                ])],
                toggle(&c, "disconnect", "connect"),
                vec![strings(&["rm", "-f", &c])],
            ]
            .concat(),
            vec![removal],
        ];
        let workers: Vec<_> = script
            .into_iter()
            .map(|steps| {
                let cmds: Vec<Command> = steps
                    .iter()
                    .map(|s| sb.docker_command(&s.iter().map(String::as_str).collect::<Vec<_>>()))
                    .collect();
                std::thread::spawn(move || {
                    for cmd in cmds {
                        answered(cmd).expect("every request answers or fails");
                    }
                })
            })
            .collect();
        sleep(Duration::from_millis(100 + rng.below(1500)));
        sb.kill_daemon();
        for w in workers {
            w.join().unwrap();
        }
        sb.restart_daemon();
        assert_consistent(&sb, &format!("round {round}"));
    }
    // Whatever survived still talks, and removing it all leaves nothing.
    sb.docker(&[
        "run",
        "--rm",
        "--net",
        "base",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        "10.77.0.1",
    ])
    .ok();
    let ids = sb.docker(&["ps", "-aq"]).ok();
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.split_whitespace());
    if rm.len() > 2 {
        sb.docker(&rm).ok();
    }
    assert_consistent(&sb, "after removing everything");
    assert_eq!(sb.veths(), Vec::<String>::new());
}
