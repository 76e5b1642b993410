//! Embedded DNS end to end (issue 5): busybox containers on a real berthd in
//! a sandbox host ask 127.0.0.11 with real queries; an upstream DNS server
//! (Debian's dnsmasq) runs in the sandbox's outside peer, and berthd reads
//! the host's resolvers from a file of the test's own (`--resolv-conf`),
//! since the sandbox shares the machine's /etc. Needs `dnsmasq` (Debian's
//! dnsmasq-base) and `dig` (dnsutils) on the machine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{Peer, Sandbox, HOST_OUTSIDE_IP, PEER_IP};

/// What the upstream server answers, and its address.
const UPSTREAM_NAME: &str = "example.test";
const UPSTREAM_ADDR: &str = "10.9.8.7";
/// An address in the peer's subnet that nobody holds: queries to it go
/// unanswered.
const SILENT_SERVER: &str = "10.200.0.99";
/// How long "SERVFAIL within a few seconds" may take, generously.
const SERVFAIL_WITHIN: Duration = Duration::from_secs(10);

fn dnsmasq() -> PathBuf {
    let path = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    path.expect("DNSMASQ IS MISSING: the DNS tests need it as the upstream server (apt-get install dnsmasq-base)")
}

/// A dnsmasq: `zone` (and below) is `addr`, every other name NXDOMAIN,
/// each query logged with its source address.
struct Upstream {
    child: Option<Child>,
    log: PathBuf,
}

impl Upstream {
    /// The script that runs it, listening on `listen`, logging to
    /// `<sandbox dir>/<tag>.log`.
    fn script(sb: &Sandbox, tag: &str, listen: &str, zone: &str, addr: &str) -> (String, PathBuf) {
        let log = sb.dir().join(format!("{tag}.log"));
        let script = format!(
            "exec {bin} --keep-in-foreground --no-resolv --no-hosts --user=root \
             --pid-file={pid} --log-queries --log-facility={log} \
             --listen-address={listen} --bind-interfaces \
             --address=/{zone}/{addr} --address=/#/",
            bin = dnsmasq().display(),
            pid = sb.dir().join(format!("{tag}.pid")).display(),
            log = log.display(),
        );
        (script, log)
    }

    /// The outside peer's: `example.test` is 10.9.8.7.
    fn in_peer(sb: &Sandbox, peer: &Peer) -> Upstream {
        let (script, log) = Self::script(sb, "peer-dnsmasq", PEER_IP, UPSTREAM_NAME, UPSTREAM_ADDR);
        let upstream = Upstream {
            child: Some(peer.spawn(&script)),
            log,
        };
        upstream.wait_ready(sb, "", PEER_IP, UPSTREAM_NAME, UPSTREAM_ADDR);
        upstream
    }

    /// One in container `name`'s network namespace on its 127.0.0.1, which
    /// nothing outside that namespace can reach: `zone` is `addr`.
    fn in_container(sb: &Sandbox, name: &str, zone: &str, addr: &str) -> Upstream {
        let pid = pid_of(sb, name);
        let (script, log) = Self::script(sb, &format!("{name}-dnsmasq"), "127.0.0.1", zone, addr);
        let child = sb
            .command("nsenter")
            .args(["-t", &pid.to_string(), "-n", "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let upstream = Upstream {
            child: Some(child),
            log,
        };
        upstream.wait_ready(sb, &format!("nsenter -t {pid} -n"), "127.0.0.1", zone, addr);
        upstream
    }

    /// One in the sandbox host's own namespace on a loopback address, as
    /// systemd-resolved's 127.0.0.53: `zone` is `addr`.
    fn on_host_loopback(sb: &Sandbox, listen: &str, zone: &str, addr: &str) -> Upstream {
        let (script, log) = Self::script(sb, "host-dnsmasq", listen, zone, addr);
        let child = sb
            .command("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let upstream = Upstream {
            child: Some(child),
            log,
        };
        upstream.wait_ready(sb, "", listen, zone, addr);
        upstream
    }

    /// Waits until it answers `probe.<zone>`, asked with `wrapper` from
    /// the sandbox host.
    fn wait_ready(&self, sb: &Sandbox, wrapper: &str, server: &str, zone: &str, addr: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = sb.sh(&format!(
                "{wrapper} busybox nslookup -type=a -timeout=1 probe.{zone} {server}"
            ));
            if addresses(&out.stdout).contains(&ip(addr)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq did not answer in time: {out:?}\nlog:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // nsenter and sh exec in place: this is dnsmasq itself.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A sandbox with an upstream DNS server in its outside peer and a berthd
/// whose "host resolv.conf" is `resolv_conf()`. Fields drop in order: the
/// upstream (a process of the peer's) goes before the sandbox.
struct World {
    upstream: Upstream,
    sb: Sandbox,
    _peer: Peer,
}

/// Removes every container through the daemon before the sandbox goes:
/// each runs under a shim that would otherwise outlive it.
impl Drop for World {
    fn drop(&mut self) {
        self.upstream.stop();
        let listed = self.sb.docker(&["ps", "-aq"]).stdout;
        let ids: Vec<&str> = listed.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.sb.docker(&args);
        }
    }
}

impl World {
    /// The host's resolvers are the upstream (and nothing on loopback).
    fn new(daemon_args: &[&str]) -> World {
        let mut sb = Sandbox::new();
        let peer = sb.add_outside_peer();
        let upstream = Upstream::in_peer(&sb, &peer);
        set_host_resolvers(&sb, &format!("nameserver {PEER_IP}\n"));
        let conf = resolv_conf(&sb);
        let mut args = vec!["--resolv-conf", conf.to_str().unwrap()];
        args.extend_from_slice(daemon_args);
        sb.start_daemon(&args);
        sb.import_busybox();
        World {
            upstream,
            sb,
            _peer: peer,
        }
    }
}

/// The file berthd reads as the host's resolv.conf.
fn resolv_conf(sb: &Sandbox) -> PathBuf {
    sb.dir().join("host-resolv.conf")
}

/// Rewrites the host's resolv.conf; containers started from now on get it.
fn set_host_resolvers(sb: &Sandbox, text: &str) {
    std::fs::write(resolv_conf(sb), text).unwrap();
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The addresses in busybox `nslookup` output (not the server's own line,
/// which carries a port).
fn addresses(out: &str) -> Vec<IpAddr> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Address:"))
        .filter_map(|a| a.trim().parse().ok())
        .collect()
}

/// `nslookup -type=a NAME` in container `from`: the addresses answered and
/// the whole output. One query, sent once: a lost query or reply shows as
/// a failure rather than hiding behind a resend.
fn lookup(sb: &Sandbox, from: &str, name: &str) -> (Vec<IpAddr>, String) {
    lookup_type(sb, from, "a", name)
}

fn lookup_type(sb: &Sandbox, from: &str, qtype: &str, name: &str) -> (Vec<IpAddr>, String) {
    let qtype = format!("-type={qtype}");
    let run = sb.docker(&[
        "exec",
        from,
        "nslookup",
        &qtype,
        "-retry=1",
        "-timeout=15",
        name,
    ]);
    let text = format!("{}{}", run.stdout, run.stderr);
    (addresses(&run.stdout), text)
}

#[track_caller]
fn resolves(sb: &Sandbox, from: &str, name: &str, want: &[IpAddr]) {
    let (got, out) = lookup(sb, from, name);
    let got: BTreeSet<IpAddr> = got.into_iter().collect();
    let want: BTreeSet<IpAddr> = want.iter().copied().collect();
    assert_eq!(got, want, "{from} looking up {name}:\n{out}");
}

/// Not a berth name for `from`: forwarded, and the upstream says NXDOMAIN.
#[track_caller]
fn does_not_resolve(sb: &Sandbox, from: &str, name: &str) {
    let (got, out) = lookup(sb, from, name);
    assert!(got.is_empty(), "{from} should not resolve {name}:\n{out}");
    assert!(out.contains("NXDOMAIN"), "{from} looking up {name}:\n{out}");
}

/// SERVFAIL, and soon.
#[track_caller]
fn servfails(sb: &Sandbox, from: &str, name: &str) {
    let started = Instant::now();
    let (got, out) = lookup(sb, from, name);
    let took = started.elapsed();
    assert!(got.is_empty(), "{from} should not resolve {name}:\n{out}");
    assert!(out.contains("SERVFAIL"), "{from} looking up {name}:\n{out}");
    assert!(
        took < SERVFAIL_WITHIN,
        "SERVFAIL for {name} took {took:?}:\n{out}"
    );
}

/// `docker run -d --name NAME --network NETWORK [extra] busybox sleep 1d`.
fn run(sb: &Sandbox, name: &str, network: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "1d"]);
    sb.docker(&args).ok();
}

fn ip_of(sb: &Sandbox, name: &str, network: &str) -> IpAddr {
    let c = sb.inspect(name);
    let addr = c["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no address on {network}: {c}"));
    ip(addr)
}

fn pid_of(sb: &Sandbox, name: &str) -> u64 {
    sb.inspect(name)["State"]["Pid"].as_u64().unwrap()
}

/// `dig` (the host's, from dnsutils) over TCP inside `name`'s network
/// namespace, asking 127.0.0.11: the addresses in its short answer.
fn dig_tcp(sb: &Sandbox, name: &str, query: &str) -> Vec<IpAddr> {
    let pid = pid_of(sb, name);
    let out = sb
        .sh(&format!(
            "nsenter -t {pid} -n dig +tcp +tries=1 +time=5 +short @127.0.0.11 {query} A"
        ))
        .ok();
    out.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

#[test]
fn names_aliases_short_ids_hostnames_and_ptr_on_a_user_network() {
    let w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "app"]).ok();
    run(
        sb,
        "db",
        "app",
        &["--network-alias", "database", "--hostname", "dbhost"],
    );
    run(sb, "web", "app", &[]);
    let db = ip_of(sb, "db", "app");
    let short = sb.inspect("db")["Id"].as_str().unwrap()[..12].to_owned();
    for name in ["db", "DB", "db.", "database", "DataBase", "dbhost", &short] {
        resolves(sb, "web", name, &[db]);
    }
    // Qualified by the network's name, as Docker allows.
    resolves(sb, "web", "db.app", &[db]);
    for name in ["db", "database", &short] {
        sb.docker(&["exec", "web", "ping", "-c1", "-W2", name]).ok();
    }
    // And over TCP.
    assert_eq!(dig_tcp(sb, "web", "database"), vec![db]);

    // PTR: `<name>.<network>`, as Docker answers.
    let ptr = sb.docker(&["exec", "web", "nslookup", &db.to_string()]);
    assert!(
        ptr.stdout.contains("name = db.app"),
        "PTR for {db}: {ptr:?}"
    );

    let resolv = sb.docker(&["exec", "web", "cat", "/etc/resolv.conf"]).ok();
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert!(resolv.contains("ndots:0"), "{resolv}");
    assert!(!resolv.contains(PEER_IP), "{resolv}");
}

#[test]
fn aaaa_and_ipv6_ptr_on_an_ipv6_network() {
    let w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "--ipv6", "app6"]).ok();
    run(sb, "v6a", "app6", &["--network-alias", "six"]);
    run(sb, "v6b", "app6", &[]);
    let c = sb.inspect("v6a");
    let v6: IpAddr = ip(
        c["NetworkSettings"]["Networks"]["app6"]["GlobalIPv6Address"]
            .as_str()
            .unwrap(),
    );
    assert!(v6.is_ipv6());
    for name in ["v6a", "six", "V6A.app6"] {
        let (got, out) = lookup_type(sb, "v6b", "aaaa", name);
        assert_eq!(got, vec![v6], "{name}:\n{out}");
        resolves(sb, "v6b", name, &[ip_of(sb, "v6a", "app6")]);
    }
    sb.docker(&["exec", "v6b", "ping", "-6", "-c1", "-W2", "six"])
        .ok();
    let ptr = sb.docker(&["exec", "v6b", "nslookup", &v6.to_string()]);
    assert!(
        ptr.stdout.contains("name = v6a.app6"),
        "PTR for {v6}: {ptr:?}"
    );
    // On an IPv4-only network, AAAA for a berth name is an empty answer
    // (not forwarded: the upstream would say NXDOMAIN).
    sb.docker(&["network", "create", "app"]).ok();
    run(sb, "web", "app", &[]);
    run(sb, "db", "app", &[]);
    let (got, out) = lookup_type(sb, "web", "aaaa", "db");
    assert!(got.is_empty(), "{out}");
    assert!(!out.contains("NXDOMAIN"), "{out}");
}

#[test]
fn names_are_scoped_and_follow_connect_disconnect_stop_start_and_rm() {
    let w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "app"]).ok();
    sb.docker(&["network", "create", "other"]).ok();
    run(sb, "web", "app", &[]);
    run(sb, "xc", "other", &[]);
    run(sb, "yc", "other", &[]);
    let x_other = ip_of(sb, "xc", "other");

    // Another network's containers cannot be resolved, either way.
    does_not_resolve(sb, "web", "xc");
    does_not_resolve(sb, "xc", "web");
    resolves(sb, "yc", "xc", &[x_other]);

    // Each change shows on the very next query.
    sb.docker(&["network", "connect", "--alias", "store", "app", "xc"])
        .ok();
    let x_app = ip_of(sb, "xc", "app");
    assert_ne!(x_app, x_other);
    // A container on two networks: each asker gets its address on the
    // network they share.
    resolves(sb, "web", "xc", &[x_app]);
    resolves(sb, "web", "store", &[x_app]);
    resolves(sb, "yc", "xc", &[x_other]);
    // The alias is app's only.
    does_not_resolve(sb, "yc", "store");
    // x now sees web too.
    resolves(sb, "xc", "web", &[ip_of(sb, "web", "app")]);

    sb.docker(&["network", "disconnect", "app", "xc"]).ok();
    does_not_resolve(sb, "web", "xc");
    does_not_resolve(sb, "web", "store");
    resolves(sb, "yc", "xc", &[x_other]);

    sb.docker(&["network", "connect", "app", "xc"]).ok();
    let x_app = ip_of(sb, "xc", "app");
    resolves(sb, "web", "xc", &[x_app]);

    sb.docker(&["stop", "-t", "1", "xc"]).ok();
    does_not_resolve(sb, "web", "xc");
    does_not_resolve(sb, "yc", "xc");
    sb.docker(&["start", "xc"]).ok();
    resolves(sb, "web", "xc", &[ip_of(sb, "xc", "app")]);
    resolves(sb, "yc", "xc", &[ip_of(sb, "xc", "other")]);

    sb.docker(&["rm", "-f", "xc"]).ok();
    does_not_resolve(sb, "web", "xc");
    does_not_resolve(sb, "yc", "xc");
}

#[test]
fn the_default_bridge_has_no_embedded_dns() {
    let w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "app"]).ok();
    sb.docker(&["run", "-d", "--name", "b1", "busybox", "sleep", "1d"])
        .ok();
    sb.docker(&["run", "-d", "--name", "b2", "busybox", "sleep", "1d"])
        .ok();
    run(sb, "web", "app", &[]);
    // b2 asks the host's resolvers directly, which know no b1.
    let resolv = sb.docker(&["exec", "b2", "cat", "/etc/resolv.conf"]).ok();
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
    assert!(
        resolv.contains(&format!("nameserver {PEER_IP}")),
        "{resolv}"
    );
    does_not_resolve(sb, "b2", "b1");
    // Through the host's resolvers, other names still work.
    resolves(sb, "b2", UPSTREAM_NAME, &[ip(UPSTREAM_ADDR)]);
    // And a user network's container does not see default-bridge names.
    does_not_resolve(sb, "web", "b1");
    // Joining a user network brings the embedded DNS, as in Docker; leaving
    // it gives the host's resolvers back.
    sb.docker(&["network", "connect", "app", "b2"]).ok();
    let resolv = sb.docker(&["exec", "b2", "cat", "/etc/resolv.conf"]).ok();
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    resolves(sb, "b2", "web", &[ip_of(sb, "web", "app")]);
    sb.docker(&["network", "disconnect", "app", "b2"]).ok();
    let resolv = sb.docker(&["exec", "b2", "cat", "/etc/resolv.conf"]).ok();
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
}

#[test]
fn one_alias_on_several_containers_answers_all_their_addresses() {
    let w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "app"]).ok();
    for name in ["s1", "s2", "s3"] {
        run(sb, name, "app", &["--network-alias", "svc"]);
    }
    run(sb, "web", "app", &[]);
    let all: Vec<IpAddr> = ["s1", "s2", "s3"]
        .iter()
        .map(|n| ip_of(sb, n, "app"))
        .collect();
    let mut firsts = BTreeSet::new();
    for _ in 0..3 {
        let (got, out) = lookup(sb, "web", "svc");
        let set: BTreeSet<IpAddr> = got.iter().copied().collect();
        assert_eq!(set, all.iter().copied().collect(), "{out}");
        assert_eq!(got.len(), 3, "{out}");
        firsts.insert(got[0]);
    }
    assert!(firsts.len() > 1, "answers should rotate: {firsts:?}");
    sb.docker(&["rm", "-f", "s2"]).ok();
    resolves(sb, "web", "svc", &[all[0], all[2]]);
}

#[test]
fn forwards_to_host_and_dns_flag_upstreams_and_servfails_when_they_are_down() {
    let mut w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "app"]).ok();
    run(sb, "web", "app", &[]);
    resolves(sb, "web", UPSTREAM_NAME, &[ip(UPSTREAM_ADDR)]);
    resolves(sb, "web", "www.example.test", &[ip(UPSTREAM_ADDR)]);
    does_not_resolve(sb, "web", "nothing.invalid");
    assert_eq!(dig_tcp(sb, "web", UPSTREAM_NAME), vec![ip(UPSTREAM_ADDR)]);
    // The host's resolvers are asked from the host's namespace.
    let log = w.upstream.log();
    assert!(
        log.contains(&format!("query[A] {UPSTREAM_NAME} from {HOST_OUTSIDE_IP}")),
        "{log}"
    );

    // From now on the host's resolver is a silent one.
    set_host_resolvers(sb, &format!("nameserver {SILENT_SERVER}\n"));
    run(sb, "silent", "app", &[]);
    servfails(sb, "silent", UPSTREAM_NAME);

    // `--dns`: still the embedded server in resolv.conf, which forwards.
    run(sb, "viadns", "app", &["--dns", PEER_IP]);
    let resolv = sb
        .docker(&["exec", "viadns", "cat", "/etc/resolv.conf"])
        .ok();
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert!(!resolv.contains(PEER_IP), "{resolv}");
    resolves(sb, "viadns", "www.example.test", &[ip(UPSTREAM_ADDR)]);
    // Berth's own names are still answered by berth.
    let web = ip_of(sb, "web", "app");
    resolves(sb, "viadns", "web", &[web]);
    resolves(sb, "silent", "web", &[web]);

    // ... from the container's own namespace: a server on its loopback,
    // which the host cannot reach, answers.
    run(sb, "inside", "app", &["--dns", "127.0.0.1"]);
    let mut own = Upstream::in_container(sb, "inside", "inside.test", "10.7.7.7");
    resolves(sb, "inside", "a.inside.test", &[ip("10.7.7.7")]);
    assert!(
        own.log().contains("query[A] a.inside.test from 127.0.0.1"),
        "{}",
        own.log()
    );
    own.stop();
    servfails(sb, "inside", "a.inside.test");

    // The upstream goes down: SERVFAIL, soon, both ways.
    w.upstream.stop();
    let sb = &w.sb;
    servfails(sb, "web", UPSTREAM_NAME);
    servfails(sb, "viadns", UPSTREAM_NAME);
    resolves(sb, "web", "viadns", &[ip_of(sb, "viadns", "app")]);
}

#[test]
fn loopback_host_resolvers_are_asked_from_the_host() {
    let w = World::new(&[]);
    let sb = &w.sb;
    let own = Upstream::on_host_loopback(sb, "127.0.0.53", "host.test", "10.6.6.6");
    set_host_resolvers(sb, "nameserver 127.0.0.53\nsearch corp.test\n");
    sb.docker(&["network", "create", "app"]).ok();
    run(sb, "web", "app", &[]);
    resolves(sb, "web", "www.host.test", &[ip("10.6.6.6")]);
    assert!(
        own.log().contains("query[A] www.host.test from 127.0.0.1"),
        "{}",
        own.log()
    );
    let resolv = sb.docker(&["exec", "web", "cat", "/etc/resolv.conf"]).ok();
    assert_eq!(
        resolv
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        [
            "nameserver 127.0.0.11",
            "search corp.test",
            "options ndots:0"
        ],
        "{resolv}"
    );
    // The default bridge cannot use the host's loopback resolver: Docker's
    // fallback servers instead.
    sb.docker(&["run", "-d", "--name", "b1", "busybox", "sleep", "1d"])
        .ok();
    let resolv = sb.docker(&["exec", "b1", "cat", "/etc/resolv.conf"]).ok();
    assert!(!resolv.contains("127.0.0.53"), "{resolv}");
    assert!(resolv.contains("nameserver 8.8.8.8"), "{resolv}");
}

#[test]
fn internal_networks_do_not_forward_from_the_host() {
    let w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "--internal", "int"]).ok();
    run(sb, "i1", "int", &[]);
    run(sb, "i2", "int", &[]);
    resolves(sb, "i1", "i2", &[ip_of(sb, "i2", "int")]);
    servfails(sb, "i1", UPSTREAM_NAME);
    let log = w.upstream.log();
    assert!(
        !log.contains(&format!("query[A] {UPSTREAM_NAME}")),
        "an internal network's query reached the upstream:\n{log}"
    );
    // `--dns` servers are still asked, from the container's namespace (as
    // Docker does: they may be on the internal network itself).
    run(sb, "i3", "int", &["--dns", "127.0.0.1"]);
    let _own = Upstream::in_container(sb, "i3", "inside.test", "10.7.7.7");
    resolves(sb, "i3", "inside.test", &[ip("10.7.7.7")]);
    resolves(sb, "i3", "i1", &[ip_of(sb, "i1", "int")]);
}

#[test]
fn two_thousand_queries_from_twenty_containers_at_once_are_all_answered() {
    const CONTAINERS: usize = 20;
    const ROUNDS: usize = 50; // two queries a round: 100 per container
    let w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "app"]).ok();
    run(sb, "db", "app", &[]);
    let db = ip_of(sb, "db", "app");
    let names: Vec<String> = (0..CONTAINERS).map(|i| format!("c{i}")).collect();
    for name in &names {
        run(sb, name, "app", &[]);
    }
    // Each query is sent once (-retry=1): a lost one fails its lookup.
    let script = format!(
        "i=0; while [ $i -lt {ROUNDS} ]; do          nslookup -type=a -retry=1 -timeout=15 db;          nslookup -type=a -retry=1 -timeout=15 {UPSTREAM_NAME};          i=$((i+1)); done 2>&1"
    );
    let outputs: Vec<(String, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let mut cmd = sb.docker_command(&["exec", name, "sh", "-c", &script]);
                let name = name.clone();
                scope.spawn(move || {
                    let out = cmd.output().unwrap();
                    (name, String::from_utf8_lossy(&out.stdout).into_owned())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = 0;
    for (name, out) in &outputs {
        let got = addresses(out);
        let local = got.iter().filter(|a| **a == db).count();
        let forwarded = got.iter().filter(|a| **a == ip(UPSTREAM_ADDR)).count();
        assert_eq!(
            (local, forwarded, got.len()),
            (ROUNDS, ROUNDS, 2 * ROUNDS),
            "{name}: answers lost or wrong:
{}",
            out.lines()
                .filter(|l| l.contains("timed out") || l.contains("can't"))
                .collect::<Vec<_>>()
                .join(
                    "
"
                )
        );
        total += got.len();
    }
    assert_eq!(total, 2_000);
    assert!(
        !sb.daemon_log().contains("refusing more"),
        "the resolver refused queries"
    );
}

#[test]
fn docker_cli_scenario_ping_by_name() {
    let w = World::new(&[]);
    let sb = &w.sb;
    sb.docker(&["network", "create", "app"]).ok();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "app",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&[
        "run",
        "--rm",
        "--network",
        "app",
        "busybox",
        "ping",
        "-c1",
        "db",
    ])
    .ok();
}
