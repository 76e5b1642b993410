//! Sandbox hosts for the root tests: real namespaces, real packets.
//!
//! Every test body runs on a thread of its own that first unshares a fresh
//! network namespace (and refuses to go on unless it is new and empty): the
//! test's "host". `nft`, `ip`, `curl` and the firewall under test are child
//! processes of that thread, so they inherit its namespace and can never act
//! on the machine's own. Containers and the outside peer are further
//! namespaces held by `unshare --net sleep` children, joined to the host by
//! veth pairs; servers in them run under `nsenter -n` (no other namespace is
//! entered). Every child is killed by its pid when the lab is dropped, and
//! the namespaces die with their last process.

// Each test uses a subset of the helpers; test code panics on failure.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::fs;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

pub const HOST_OUTSIDE_IP: &str = "10.200.0.1";
pub const OUTSIDE_IP: &str = "10.200.0.2";

/// Runs `test` in a fresh network namespace on a dedicated thread, with a
/// current-thread tokio runtime (a multi-threaded one would have workers in
/// the machine's namespace).
pub fn in_sandbox<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    berth_sandbox::netns::on_fresh_netns_thread("nft-sandbox", move || {
        let tables = ok(&["nft", "list", "tables"]);
        assert!(
            tables.trim().is_empty(),
            "not a fresh ruleset, refusing to run:\n{tables}"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(test());
    });
}

/// Runs a command (in the calling thread's namespace) and returns its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {args:?}: {e}"))
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a sysctl of the calling thread's namespace. Through a child
/// process, so the namespace is unmistakably the one the child inherits.
pub fn sysctl(path: &str, value: &str) {
    ok(&["sh", "-c", &format!("echo {value} > /proc/sys/{path}")]);
}

/// Turns IPv6 duplicate address detection off for interfaces made from now
/// on in `ns` (the host if `None`): link-local addresses are then usable at
/// once instead of "tentative" for a second or two, which would drop the
/// first packets of a test. (With hairpin on, a container would see its own
/// DAD probe come back and fail DAD anyway.)
fn no_dad(ns: Option<Ns>) {
    let script = "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad";
    match ns {
        Some(ns) => {
            ns.ok(&["sh", "-c", script]);
        }
        None => {
            ok(&["sh", "-c", script]);
        }
    }
}

/// A namespace held by a `sleep` child of the lab.
#[derive(Clone, Copy, Debug)]
pub struct Ns {
    pub pid: u32,
}

impl Ns {
    /// `args` in this namespace (network only).
    pub fn cmd(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = ["nsenter", "-t", &self.pid.to_string(), "-n"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let cmd = self.cmd(args);
        ok(&cmd.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// A UDP socket bound in this namespace (a socket keeps the namespace it
    /// was made in, so it can be used from any thread afterwards).
    pub fn udp_socket(&self, addr: &str) -> UdpSocket {
        let path = format!("/proc/{}/ns/net", self.pid);
        let addr: SocketAddr = addr.parse().unwrap();
        std::thread::spawn(move || {
            let ns = fs::File::open(path).expect("open netns");
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
            UdpSocket::bind(addr).expect("bind udp")
            // The thread ends here, in the namespace it entered.
        })
        .join()
        .expect("udp socket thread")
    }
}

pub struct Lab {
    /// The CGI document root: `/cgi-bin/ip` answers with the client's address.
    www: tempfile::TempDir,
    children: Vec<Child>,
    /// Veth host ends made so far (for unique names).
    veths: usize,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            // By pid, each of them ours; already-dead ones just fail.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Lab {
    /// The host side: loopback up, forwarding on, bridged traffic through
    /// the ip hooks (what berthd sets up for `enable_icc=false`).
    pub fn new() -> Self {
        ok(&["ip", "link", "set", "lo", "up"]);
        sysctl("net/ipv4/ip_forward", "1");
        sysctl("net/ipv6/conf/all/forwarding", "1");
        sysctl("net/bridge/bridge-nf-call-iptables", "1");
        sysctl("net/bridge/bridge-nf-call-ip6tables", "1");
        no_dad(None);
        let www = tempfile::tempdir().expect("www dir");
        fs::create_dir(www.path().join("cgi-bin")).unwrap();
        let script = www.path().join("cgi-bin/ip");
        fs::write(
            &script,
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            www,
            children: Vec::new(),
            veths: 0,
        }
    }

    /// A bridge with a gateway address (`172.30.0.1/16`), up, with
    /// `route_localnet` on as berthd sets it.
    pub fn bridge(&mut self, name: &str, gateways: &[&str]) {
        ok(&["ip", "link", "add", name, "type", "bridge"]);
        for gw in gateways {
            ok(&["ip", "addr", "add", gw, "dev", name, "nodad"]);
        }
        ok(&["ip", "link", "set", name, "up"]);
        sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1");
    }

    fn netns(&mut self) -> Ns {
        let mut child = Command::new("unshare")
            .args(["--net", "sh", "-c", "echo ready; exec sleep 3600"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn unshare");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "unshare child did not start");
        let ns = Ns { pid: child.id() };
        self.children.push(child);
        no_dad(Some(ns));
        ns
    }

    /// A namespace joined to the host by a veth pair: the host end gets
    /// `host_addrs` (or is enslaved to `bridge`), the far end `eth0` gets
    /// `addrs` and default routes via `gateways`.
    fn attach(
        &mut self,
        bridge: Option<&str>,
        host_addrs: &[&str],
        addrs: &[&str],
        gateways: &[&str],
    ) -> Ns {
        let ns = self.netns();
        self.veths += 1;
        let veth = format!("veth{}", self.veths);
        ok(&[
            "ip",
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns.pid.to_string(),
        ]);
        if let Some(bridge) = bridge {
            ok(&["ip", "link", "set", &veth, "master", bridge]);
            // Docker's setting without a userland proxy: a container's
            // hairpin traffic, bridged back by br_netfilter after DNAT,
            // leaves by the port it came in.
            ok(&[
                "ip",
                "link",
                "set",
                &veth,
                "type",
                "bridge_slave",
                "hairpin",
                "on",
            ]);
        }
        for a in host_addrs {
            ok(&["ip", "addr", "add", a, "dev", &veth, "nodad"]);
        }
        ok(&["ip", "link", "set", &veth, "up"]);
        ns.ok(&["ip", "link", "set", "lo", "up"]);
        for a in addrs {
            ns.ok(&["ip", "addr", "add", a, "dev", "eth0", "nodad"]);
        }
        ns.ok(&["ip", "link", "set", "eth0", "up"]);
        for gw in gateways {
            ns.ok(&["ip", "route", "add", "default", "via", gw]);
        }
        ns
    }

    /// A container on `bridge` (`172.30.0.2/16`, gateway `172.30.0.1`).
    pub fn container(&mut self, bridge: &str, addrs: &[&str], gateways: &[&str]) -> Ns {
        self.attach(Some(bridge), &[], addrs, gateways)
    }

    /// The outside peer: 10.200.0.2 (and fd00:200::2) behind the host's
    /// 10.200.0.1 (fd00:200::1), routing everything through the host.
    pub fn outside(&mut self) -> Ns {
        self.attach(
            None,
            &["10.200.0.1/24", "fd00:200::1/64"],
            &["10.200.0.2/24", "fd00:200::2/64"],
            &["10.200.0.1", "fd00:200::1"],
        )
    }

    /// An HTTP server in `ns` on `port` (every address, both families)
    /// whose `/cgi-bin/ip` tells the client's address.
    pub fn serve(&mut self, ns: Ns, port: u16) {
        let www = self.www.path().to_str().unwrap().to_owned();
        let cmd = ns.cmd(&[
            "busybox",
            "httpd",
            "-f",
            "-p",
            &format!("[::]:{port}"),
            "-h",
            &www,
        ]);
        let child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn httpd");
        self.children.push(child);
        let url = format!("http://127.0.0.1:{port}/cgi-bin/ip");
        let deadline = Instant::now() + Duration::from_secs(5);
        while fetch(Some(ns), &url).is_none() {
            assert!(
                Instant::now() < deadline,
                "httpd on port {port} did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// GETs `url` from `from` (the host if `None`); the body, trimmed and with
/// `[::ffff:…]` unwrapped to the IPv4 address, or `None` if it failed. A
/// dropped connection attempt gives up after a second.
pub fn fetch(from: Option<Ns>, url: &str) -> Option<String> {
    let curl = ["curl", "-sg", "--connect-timeout", "1", "-m", "3", url];
    let cmd: Vec<String> = match from {
        Some(ns) => ns.cmd(&curl),
        None => curl.iter().map(|s| s.to_string()).collect(),
    };
    let out = run(&cmd.iter().map(String::as_str).collect::<Vec<_>>());
    if !out.status.success() {
        return None;
    }
    let body = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let addr = body.trim_start_matches('[').trim_end_matches(']');
    Some(addr.strip_prefix("::ffff:").unwrap_or(addr).to_owned())
}
