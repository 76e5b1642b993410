//! Shared by the firewall end-to-end tests (issue 4): a sandbox host with
//! an outside peer (another namespace joined to the sandbox host, standing
//! in for another machine), a daemon and the busybox image; clients, servers
//! and readings of berth's nftables tables.
#![allow(dead_code)] // each test binary uses its own part of this

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use berth_testkit::sandbox::{Peer, Run, Sandbox};
use nix::sched::{setns, CloneFlags};
use serde_json::Value;

/// How long a functional check may keep retrying (a server starting, the
/// watchdog noticing): generous, never a speed assertion.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Starts httpd on each of `ports`; the one on port P serves `/` as
/// "hello P" and `/cgi-bin/ip` as the client's address it sees.
pub fn serve(ports: &[u16]) -> String {
    let mut script = String::new();
    for (i, port) in ports.iter().enumerate() {
        let dir = format!("/www/{port}");
        script.push_str(&format!(
            "mkdir -p {dir}/cgi-bin && echo 'hello {port}' > {dir}/index.html \
             && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > {dir}/cgi-bin/ip \
             && chmod +x {dir}/cgi-bin/ip && "
        ));
        if i + 1 == ports.len() {
            script.push_str(&format!("exec httpd -f -p {port} -h {dir}"));
        } else {
            script.push_str(&format!("httpd -p {port} -h {dir} && "));
        }
    }
    script
}

/// Where a client runs.
#[derive(Clone, Copy, Debug)]
pub enum Client<'a> {
    /// The sandbox host itself.
    Host,
    /// The outside peer.
    Peer,
    /// A container (by name), with busybox nc.
    Ctr(&'a str),
}

/// A sandbox host with an outside peer, a daemon and the busybox image.
pub struct Fw {
    pub sb: Sandbox,
    pub peer: Peer,
    /// Processes this test started (servers); killed at the end.
    children: Vec<Child>,
}

impl Drop for Fw {
    fn drop(&mut self) {
        // Containers outlive the daemon (their shims keep them): remove
        // them while the daemon can, so no process of this test is left.
        let ids = self.sb.docker(&["ps", "-aq"]);
        let ids: Vec<&str> = ids.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.sb.docker(&args);
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Fw {
    pub fn new(daemon_args: &[&str]) -> Fw {
        let mut sb = Sandbox::new();
        let peer = sb.add_outside_peer();
        sb.start_daemon(daemon_args);
        sb.import_busybox();
        Fw {
            sb,
            peer,
            children: Vec::new(),
        }
    }

    pub fn docker(&self, args: &[&str]) -> Run {
        self.sb.docker(args)
    }

    /// An HTTP server in the outside peer on port 80 (both families):
    /// `/` is "peer page", `/cgi-bin/ip` the client's address it sees.
    pub fn peer_web(&mut self) {
        let www = self.sb.dir().join("peer-www");
        fs::create_dir_all(www.join("cgi-bin")).unwrap();
        fs::write(www.join("index.html"), "peer page\n").unwrap();
        let cgi = www.join("cgi-bin/ip");
        fs::write(
            &cgi,
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
        )
        .unwrap();
        fs::set_permissions(&cgi, fs::Permissions::from_mode(0o755)).unwrap();
        let child = self
            .peer
            .spawn(&format!("exec busybox httpd -f -p 80 -h {}", www.display()));
        self.children.push(child);
        let page = self.eventually(Client::Peer, "127.0.0.1", 80, "/", "peer page");
        assert!(page.contains("peer page"));
    }

    /// A process in the sandbox host (not in any container).
    pub fn host_spawn(&mut self, script: &str) {
        let child = self
            .sb
            .command("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    /// One HTTP GET of `path` at `host:port` from `from`, with a short
    /// timeout: the response (headers and body) on success.
    pub fn get(
        &self,
        from: Client<'_>,
        host: &str,
        port: u16,
        path: &str,
    ) -> Result<String, String> {
        let url_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let curl = format!(
            "curl -sS -i -g --noproxy '*' --connect-timeout 2 -m 3 http://{url_host}:{port}{path}"
        );
        let run = match from {
            Client::Host => self.sb.sh(&curl),
            Client::Peer => self.peer.sh(&curl),
            Client::Ctr(name) => self.docker(&[
                "exec",
                name,
                "sh",
                "-c",
                &format!(
                    "printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | timeout 4 nc -w 2 {host} {port}"
                ),
            ]),
        };
        if run.status == 0 && run.stdout.contains(" 200 ") {
            Ok(run.stdout)
        } else {
            Err(format!(
                "status {}, stdout {:?}, stderr {:?}",
                run.status, run.stdout, run.stderr
            ))
        }
    }

    /// Retries [`Fw::get`] until the response contains `want`.
    #[track_caller]
    pub fn eventually(
        &self,
        from: Client<'_>,
        host: &str,
        port: u16,
        path: &str,
        want: &str,
    ) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.get(from, host, port, path);
            match &got {
                Ok(body) if body.contains(want) => return body.clone(),
                _ if Instant::now() > deadline => panic!(
                    "GET http://{host}:{port}{path} from {from:?}: want {want:?}, got {got:?}\ndaemon log tail:\n{}",
                    log_tail(&self.sb)
                ),
                _ => sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Asserts that a GET from `from` does not get through.
    #[track_caller]
    pub fn unreachable(&self, from: Client<'_>, host: &str, port: u16) {
        if let Ok(body) = self.get(from, host, port, "/") {
            panic!("http://{host}:{port}/ from {from:?} must not be reachable, got {body:?}");
        }
    }

    pub fn inspect(&self, what: &str) -> Value {
        let out = self.docker(&["inspect", what]).ok();
        serde_json::from_str::<Value>(&out).unwrap()[0].clone()
    }

    pub fn ip(&self, name: &str, network: &str) -> String {
        self.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn ip6(&self, name: &str, network: &str) -> String {
        self.inspect(name)["NetworkSettings"]["Networks"][network]["GlobalIPv6Address"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn pid(&self, name: &str) -> u32 {
        u32::try_from(self.inspect(name)["State"]["Pid"].as_u64().unwrap()).unwrap()
    }

    /// `docker run -d --name NAME ARGS... busybox sh -c SCRIPT`.
    pub fn run(&self, name: &str, args: &[&str], script: &str) {
        let mut all = vec!["run", "-d", "--name", name];
        all.extend_from_slice(args);
        all.extend_from_slice(&["busybox", "sh", "-c", script]);
        self.docker(&all).ok();
    }

    /// The PORTS column of `docker ps` for container `name`.
    pub fn ps_ports(&self, name: &str) -> String {
        let ps = self
            .docker(&["ps", "-a", "--format", "{{.Names}}\t{{.Ports}}"])
            .ok();
        ps.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("no container {name}: {ps}"))
            .trim()
            .to_owned()
    }

    pub fn docker_port(&self, name: &str) -> Vec<String> {
        let mut lines: Vec<String> = self
            .docker(&["port", name])
            .ok()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }
}

/// The client address a `/cgi-bin/ip` response reports, as busybox httpd
/// gives it (`[::ffff:10.200.0.2]` on its dual-stack socket) made plain.
pub fn client_addr(response: &str) -> String {
    let last = response.trim_end().lines().last().unwrap_or("").trim();
    let bare = last.trim_start_matches('[').trim_end_matches(']');
    bare.strip_prefix("::ffff:").unwrap_or(bare).to_owned()
}

/// The last lines of the daemon's log, for failure messages.
pub fn log_tail(sb: &Sandbox) -> String {
    let log = sb.daemon_log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("API request") && !l.contains("shim started"))
        .collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// berth's tables as nft lists them, without the rules' packet counters:
/// equal texts mean equal structure and equal elements.
pub fn tables(sb: &Sandbox) -> String {
    let run = sb.sh("nft list table ip berth && nft list table ip6 berth");
    assert_eq!(run.status, 0, "berth's tables are missing: {}", run.stderr);
    run.stdout
        .lines()
        .map(|l| match l.find("counter packets") {
            Some(at) => {
                let rest = &l[at..];
                // "counter packets N bytes M" -> "counter"
                let end = rest
                    .match_indices("bytes ")
                    .next()
                    .map(|(i, _)| {
                        let after = &rest[i + 6..];
                        i + 6 + after.find(' ').unwrap_or(after.len())
                    })
                    .unwrap_or(rest.len());
                format!("{}counter{}", &l[..at], &rest[end..])
            }
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The elements of one of berth's sets or maps, as `nft` prints them.
pub fn elements(sb: &Sandbox, family: &str, set: &str) -> String {
    let kind = if set.starts_with("dnat") {
        "map"
    } else {
        "set"
    };
    let out = sb.sh(&format!("nft list {kind} {family} berth {set}")).ok();
    out.split_once("elements = {")
        .map(|(_, rest)| rest.split('}').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default()
}

/// Every per-port element of berth's tables (both families), one a line.
pub fn port_elements(sb: &Sandbox) -> String {
    let mut out = Vec::new();
    for family in ["ip", "ip6"] {
        for set in [
            "dnat-addr",
            "dnat-addr-keep-port",
            "dnat-any",
            "dnat-any-keep-port",
            "published-addr",
            "published-any",
        ] {
            let elements = elements(sb, family, set);
            if !elements.is_empty() {
                out.push(format!("{family} {set}: {elements}"));
            }
        }
    }
    out.join("\n")
}

/// A UDP socket bound in the network namespace of process `pid` (a socket
/// keeps the namespace it was made in, so it is used from any thread).
pub fn udp_socket_in(pid: u32, addr: &str) -> UdpSocket {
    let path = format!("/proc/{pid}/ns/net");
    let addr: SocketAddr = addr.parse().unwrap();
    std::thread::spawn(move || {
        let ns = fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
        let socket = UdpSocket::bind(addr).expect("bind udp");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket
        // The thread ends here, in the namespace it entered.
    })
    .join()
    .expect("udp socket thread")
}

/// A UDP echo server on `server` answering each datagram with the address
/// it came from, asked by `client` at `target`: the answer (the client
/// address the server saw) and where it came from, or None if nothing came
/// back.
pub fn udp_ask(server: &UdpSocket, client: &UdpSocket, target: &str) -> Option<(String, String)> {
    for _ in 0..3 {
        client.send_to(b"who am i", target).unwrap();
        let mut buf = [0u8; 64];
        if let Ok((_, from)) = server.recv_from(&mut buf) {
            server
                .send_to(from.ip().to_string().as_bytes(), from)
                .unwrap();
            if let Ok((n, replier)) = client.recv_from(&mut buf) {
                return Some((
                    String::from_utf8_lossy(&buf[..n]).into_owned(),
                    replier.to_string(),
                ));
            }
        }
    }
    None
}

/// Whether `from` pings `to` (one echo).
pub fn pings(fw: &Fw, from: &str, to: &str) -> bool {
    fw.docker(&["exec", from, "ping", "-c1", "-W1", to]).status == 0
}
