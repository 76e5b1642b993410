//! The daemon the CLI tests talk to: `berth_api::serve` over the API tests'
//! stub backend (`berth_api::testing`), on a unix socket in a temp dir. The
//! clients reach it through a tap that passes every byte on and logs each
//! request as it was sent (method, target, body), so the tests see what
//! berth asked as well as what it printed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_api::testing::StubBackend;
use bollard_stubs::models::{ContainerSummary, NetworkInspect};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

/// One request as the client sent it.
#[derive(Clone, Debug)]
pub struct Sent {
    pub method: String,
    /// As sent, with the version prefix and query.
    pub target: String,
    /// Decoded if it came chunked.
    pub body: Vec<u8>,
}

impl Sent {
    /// `METHOD TARGET BODY`; an imported tarball is shown by its size.
    fn line(&self) -> String {
        let body = if self.target.contains("/images/create?") && self.target.contains("fromSrc=") {
            format!("<{} bytes>", self.body.len())
        } else {
            String::from_utf8_lossy(&self.body).to_string()
        };
        format!("{} {} {body}", self.method, self.target)
            .trim_end()
            .to_string()
    }
}

/// What `import` sent: the raw query and the tarball.
#[derive(Clone, Debug)]
pub struct Imported {
    pub query: String,
    pub body: Vec<u8>,
}

/// Every request; those before `taken` were handed out already.
#[derive(Default)]
struct Record {
    sent: Vec<Sent>,
    taken: usize,
}

type Log = Arc<Mutex<Record>>;

fn lock(log: &Log) -> MutexGuard<'_, Record> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `serve` with a stub backend, stopped when dropped.
pub struct Daemon {
    pub backend: Arc<StubBackend>,
    epoch: i64,
    socket: PathBuf,
    log: Log,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// The stub with the networks and listed containers the CLI tests
    /// know.
    pub async fn start() -> Daemon {
        let now = now();
        Daemon::serve(now - now % 60, None)
    }

    /// A second daemon whose fixtures tell the same times as this one's.
    pub fn twin(&self) -> Daemon {
        Daemon::serve(self.epoch, None)
    }

    /// Serves on a chosen path (for running a CLI against it by hand).
    pub fn start_on(socket: PathBuf) -> Daemon {
        let _ = std::fs::remove_file(&socket);
        Daemon::serve(now(), Some(socket))
    }

    /// The fixtures are dated from `epoch`: the minute the first daemon
    /// started, so twins started together answer alike whatever the clock
    /// does within that minute. Clients connect to `socket`, else to
    /// `berth.sock` in the temp dir.
    fn serve(epoch: i64, socket: Option<PathBuf>) -> Daemon {
        let backend = StubBackend::default()
            .with_networks(networks())
            .with_listed_containers(listed_containers(epoch));
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = dir.path().join("serve.sock");
        let socket = socket.unwrap_or_else(|| dir.path().join("berth.sock"));
        let backend = Arc::new(backend);
        let (stop, stopped) = oneshot::channel::<()>();
        let listener = UnixListener::bind(&inner).expect("bind serve's socket");
        tokio::spawn(berth_api::serve(listener, Arc::clone(&backend), async {
            let _ = stopped.await;
        }));
        let tap = UnixListener::bind(&socket).expect("bind the tap's socket");
        let log = Log::default();
        let shared = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((client, _)) = tap.accept().await {
                tokio::spawn(relay(client, inner.clone(), Arc::clone(&shared)));
            }
        });
        Daemon {
            epoch,
            backend,
            socket,
            log,
            _stop: stop,
            _dir: dir,
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The requests since the last [`Daemon::take_requests`], as
    /// `METHOD TARGET BODY` lines.
    pub fn requests(&self) -> Vec<String> {
        let record = lock(&self.log);
        record.sent[record.taken..].iter().map(Sent::line).collect()
    }

    /// The requests since the last call.
    pub fn take_requests(&self) -> Vec<String> {
        let mut record = lock(&self.log);
        let requests = record.sent[record.taken..].iter().map(Sent::line).collect();
        record.taken = record.sent.len();
        requests
    }

    /// The tarballs `import` sent, in order.
    pub fn imports(&self) -> Vec<Imported> {
        lock(&self.log)
            .sent
            .iter()
            .filter(|sent| sent.method == "POST")
            .filter_map(|sent| {
                let (path, query) = sent.target.split_once('?')?;
                (path.ends_with("/images/create") && query.contains("fromSrc=")).then(|| Imported {
                    query: query.to_string(),
                    body: sent.body.clone(),
                })
            })
            .collect()
    }
}

/// `ps` fixtures: published, exposed, ranged and IPv6 ports, a legacy link
/// name, an image given by id, a long command, labels.
fn listed_containers(now: i64) -> Vec<ContainerSummary> {
    let listed = vec![
        json!({"Id": "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00998877665544332211",
               "Names": ["/web"], "Image": "nginx:latest",
               "ImageID": "sha256:aa00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "Command": "nginx -g 'daemon off;'", "Created": now - 120,
               "Ports": [
                   {"PrivatePort": 9000, "Type": "udp"},
                   {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                   {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                   {"IP": "0.0.0.0", "PrivatePort": 7001, "PublicPort": 7001, "Type": "tcp"},
                   {"IP": "0.0.0.0", "PrivatePort": 7000, "PublicPort": 7000, "Type": "tcp"},
                   {"IP": "0.0.0.0", "PrivatePort": 7002, "PublicPort": 7002, "Type": "tcp"},
                   {"IP": "127.0.0.1", "PrivatePort": 6000, "PublicPort": 5000, "Type": "tcp"},
                   {"PrivatePort": 9001, "Type": "udp"},
                   {"PrivatePort": 9003, "Type": "udp"}
               ],
               "Labels": {"tier": "front", "app": "shop"}, "State": "running",
               "Status": "Up 2 minutes",
               "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
               "Mounts": []}),
        json!({"Id": "9a8b7c6d5e4f00112233445566778899aabbccddeeff00112233445566778899",
               "Names": ["/db", "/web/db"],
               "Image": "sha256:bb00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "ImageID": "sha256:bb00bb11cc22dd33ee44ff5566778899aabbccddeeff00112233445566778899",
               "Command": "sh -c 'while true; do sleep 1; done'", "Created": now - 7200,
               "Ports": [], "Labels": {}, "State": "exited",
               "Status": "Exited (0) 3 seconds ago",
               "NetworkSettings": {"Networks": {}}, "Mounts": []}),
        json!({"Id": "5e5e5e5e5e5e00112233445566778899aabbccddeeff00112233445566778899",
               "Names": ["/quiet_turing"], "Image": "docker.io/library/busybox:latest",
               "ImageID": "sha256:65ad0d468eb1c558bf7f4e64e790f586e9eb23b3d0f5d9bb2f7d9a1f3c5c2a11", "Command": "", "Created": now - 4 * 86400,
               "Ports": null, "Labels": null, "State": "created", "Status": "Created",
               "NetworkSettings": {"Networks": {"net10": {"IPAddress": ""}}}, "Mounts": []}),
    ];
    listed
        .into_iter()
        .map(|c| serde_json::from_value(c).expect("a container summary"))
        .collect()
}

fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit")
}

/// `bridge`, `host` and two user networks, in an order no listing keeps.
fn networks() -> Vec<NetworkInspect> {
    let network = |name: &str, id: &str, driver: &str| NetworkInspect {
        driver: Some(driver.to_owned()),
        created: Some("2024-05-01T10:00:00Z".to_owned()),
        ..berth_api::testing::network(name, id)
    };
    vec![
        network(
            "bridge",
            "f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566",
            "bridge",
        ),
        network(
            "net9",
            "bb11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899",
            "bridge",
        ),
        network(
            "host",
            "d9ed8ed6e0f5e2c08d0a6f4a1b7c3e2f10f1e2d3c4b5a69788796a5b4c3d2e1f",
            "host",
        ),
        network(
            "net10",
            "aa11bb22cc33dd44ee55ff6677889900aabbccddeeff00112233445566778899",
            "bridge",
        ),
    ]
}

/// Passes one client connection on to `serve`, logging its requests until
/// it turns into a hijacked stream.
async fn relay(client: UnixStream, inner: PathBuf, log: Log) {
    let Ok(server) = UnixStream::connect(&inner).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    let mut reader = RequestReader::default();
    let mut buffer = [0u8; 8192];
    loop {
        let read = match client_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        // Logged before serve sees the end of it, so before any answer.
        lock(&log).sent.extend(reader.feed(&buffer[..read]));
        if server_write.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    // The client's half-close (the end of an attach's stdin) goes on too.
    let _ = server_write.shutdown().await;
    let _ = answers.await;
}

/// Splits a client's bytes into requests; after an upgrade, the rest is
/// the hijacked stream and not looked at.
#[derive(Default)]
struct RequestReader {
    pending: Vec<u8>,
    hijacked: bool,
}

impl RequestReader {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Sent> {
        if self.hijacked {
            return Vec::new();
        }
        self.pending.extend_from_slice(bytes);
        let mut complete = Vec::new();
        while let Some((sent, used, upgrade)) = parse(&self.pending) {
            self.pending.drain(..used);
            complete.push(sent);
            if upgrade {
                self.hijacked = true;
                self.pending.clear();
                break;
            }
        }
        complete
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The first whole request in `bytes`: it, how many bytes it took, and
/// whether it asks for an upgrade.
fn parse(bytes: &[u8]) -> Option<(Sent, usize, bool)> {
    let head_end = find(bytes, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_string())
    };
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default().to_string();
    let upgrade = header("upgrade").is_some();
    let mut rest = &bytes[head_end..];
    let mut body = Vec::new();
    let used = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let line_end = find(rest, b"\r\n")?;
            let size_text = String::from_utf8_lossy(&rest[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            let chunk_end = line_end + 2 + size + 2;
            if rest.len() < chunk_end {
                return None;
            }
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[chunk_end..];
            if size == 0 {
                break bytes.len() - rest.len();
            }
        }
    } else {
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if rest.len() < length {
            return None;
        }
        body.extend_from_slice(&rest[..length]);
        head_end + length
    };
    Some((
        Sent {
            method,
            target,
            body,
        },
        used,
        upgrade,
    ))
}
