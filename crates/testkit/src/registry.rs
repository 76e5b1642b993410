//! A real registry for pull and push tests: Debian's `docker-registry`
//! (distribution 2.8) serving plain HTTP on 127.0.0.1:5000 inside a
//! sandbox host, so the sandbox's berthd reaches it on loopback (which
//! berth, like Docker, treats as insecure). Its storage is a directory of
//! the sandbox; it is killed by pid when dropped (and with the sandbox).
//! Images get there with `skopeo copy` from Docker archives built here.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::sandbox::{busybox_tarball, Run, Sandbox};

/// Where the registry listens, as image names spell it.
pub const REGISTRY: &str = "127.0.0.1:5000";
const BINARY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    child: Option<Child>,
    dir: PathBuf,
    addr: String,
    scheme: &'static str,
}

/// `me` / `secret`, bcrypt (cost 4) as docker-registry's htpasswd wants.
const HTPASSWD: &str = "me:$2b$04$tQ82Cr7T3Bi88dGg0IhT0e/cZ4FzamjIXQmW4iF4i4fSFyLa54UHa\n";

impl Sandbox {
    /// Starts the registry (storage under the sandbox's directory) and
    /// waits until it answers `/v2/`.
    pub fn start_registry(&self) -> Registry {
        self.start_registry_at(REGISTRY)
    }

    /// A registry on another `ip:port` of the sandbox (the address must
    /// be the sandbox's), with its own storage.
    pub fn start_registry_at(&self, addr: &str) -> Registry {
        self.start_registry_with(addr, false)
    }

    /// A registry with basic auth (user `me`, password `secret`) over TLS
    /// (a certificate made here with openssl, signed by a CA of its own:
    /// [`Registry::ca`]).
    pub fn start_registry_with_auth(&self) -> Registry {
        self.start_registry_with(REGISTRY, true)
    }

    /// [`Sandbox::start_registry_with_auth`] on another `ip:port` of the
    /// sandbox (the certificate names the ip).
    pub fn start_registry_with_auth_at(&self, addr: &str) -> Registry {
        self.start_registry_with(addr, true)
    }

    fn start_registry_with(&self, addr: &str, auth: bool) -> Registry {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: apt-get install docker-registry (scripts/install-deps.sh --test)"
        );
        let dir = self
            .dir()
            .join(format!("registry-{}", addr.replace([':', '.'], "-")));
        std::fs::create_dir_all(dir.join("data")).unwrap_or_else(|e| panic!("{e}"));
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        );
        if auth {
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
            // A CA and a server certificate it signs: a self-signed server
            // certificate cannot be a trust anchor for rustls.
            self.sh(&format!(
                "cd {dir} && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=berth-test-ca -keyout ca.key -out ca.crt 2>/dev/null \
                 && openssl req -newkey rsa:2048 -nodes -subj /CN={ip} -keyout {key} -out server.csr 2>/dev/null \
                 && printf 'subjectAltName=IP:{ip}\\nbasicConstraints=CA:FALSE\\n' > server.ext \
                 && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile server.ext -out {cert} 2>/dev/null",
                dir = dir.display(),
                key = key.display(),
                cert = cert.display()
            ))
            .ok();
            std::fs::write(dir.join("htpasswd"), HTPASSWD).unwrap_or_else(|e| panic!("{e}"));
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                cert.display(),
                key.display(),
                dir.join("htpasswd").display()
            ));
        }
        std::fs::write(dir.join("config.yml"), config).unwrap_or_else(|e| panic!("{e}"));
        let mut registry = Registry {
            child: None,
            dir,
            addr: addr.to_owned(),
            scheme: if auth { "https" } else { "http" },
        };
        registry.start(self);
        registry
    }

    /// Pushes an image of busybox plus one layer holding `/etc/motd` (`motd`)
    /// to `registry` as `name:latest`; returns the image id.
    pub fn push_motd_image(&self, registry: &Registry, name: &str, motd: &str) -> String {
        let layers = vec![busybox_layer(), layer_tar(&[("etc/motd", motd.as_bytes())])];
        let config = image_config(
            &layers,
            serde_json::json!({
                "Cmd": ["cat", "motd"],
                "WorkingDir": "/etc",
                "Env": ["PATH=/bin", "GREETING=hello"],
                "Labels": {"from": "registry"},
                "ExposedPorts": {"80/tcp": {}},
                "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000_u64, "Retries": 2},
                "StopSignal": "SIGQUIT",
            }),
        );
        let archive = self.dir().join(format!("{}.tar", name.replace('/', "-")));
        let id = write_docker_archive(&archive, &format!("{name}:latest"), &layers, &config);
        self.skopeo_push(registry, &archive, &format!("{name}:latest"))
            .ok();
        id
    }

    /// `skopeo copy` of a Docker archive to `<registry>/<name>` (gzip
    /// layers, a schema 2 manifest, as `docker push` makes them).
    pub fn skopeo_push(&self, registry: &Registry, archive: &Path, name: &str) -> Run {
        self.skopeo_push_with(registry, archive, name, "")
    }

    /// [`Sandbox::skopeo_push`] with more `skopeo copy` flags (`--format
    /// oci --dest-compress-format zstd`).
    pub fn skopeo_push_with(
        &self,
        registry: &Registry,
        archive: &Path,
        name: &str,
        flags: &str,
    ) -> Run {
        let creds = if registry.scheme == "https" {
            " --dest-creds me:secret"
        } else {
            ""
        };
        self.sh(&format!(
            "skopeo --insecure-policy copy --quiet --dest-tls-verify=false{creds} {flags} docker-archive:{} docker://{}/{name}",
            archive.display(),
            registry.addr
        ))
    }
}

impl Registry {
    fn start(&mut self, sandbox: &Sandbox) {
        // Appended to across restarts: the log counts every request.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let child = sandbox
            .command(BINARY)
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdin(Stdio::null())
            // The access log goes to stdout, the rest to stderr.
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {BINARY}: {e}"));
        self.child = Some(child);
        for _ in 0..100 {
            if sandbox
                // Any answer (401 with auth) means it serves.
                .sh(&format!(
                    "curl -sk -o /dev/null {}://{}/v2/",
                    self.scheme, self.addr
                ))
                .status
                == 0
            {
                return;
            }
            sleep(Duration::from_millis(100));
        }
        panic!("the registry did not answer: {}", self.log());
    }

    /// Starts it again over the same storage.
    pub fn restart(&mut self, sandbox: &Sandbox) {
        self.kill();
        self.start(sandbox);
    }

    /// SIGKILL, by pid; a pull in progress loses its connection.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The CA that signed a TLS registry's certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// `ip:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The manifest of `name:tag` as the registry serves it (schema 2 or
    /// OCI).
    pub fn manifest(&self, sandbox: &Sandbox, name: &str, tag: &str) -> serde_json::Value {
        let out = sandbox
            .sh(&format!(
                "curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://{}/v2/{name}/manifests/{tag}",
                self.addr
            ))
            .ok();
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("manifest of {name}:{tag}: {e}: {out}"))
    }

    /// How many times the registry answered a GET of the blob `digest`.
    pub fn blob_gets(&self, digest: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains(&format!("/blobs/{digest} ")))
            .count()
    }

    /// The registry's storage (`docker/registry/v2/...`).
    pub fn storage(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The blob file of `sha256:<hex>` in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One file of a layer: path, content.
pub type LayerFile<'a> = (&'a str, &'a [u8]);

/// A plain tar of `files` (mode 0644, root, fixed mtime): one layer.
pub fn layer_tar(files: &[LayerFile<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
        builder
            .append_data(&mut header, name, *data)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    builder.into_inner().unwrap_or_else(|e| panic!("{e}"))
}

/// The busybox test image's rootfs as a layer.
pub fn busybox_layer() -> Vec<u8> {
    let tar = busybox_tarball();
    std::fs::read(&tar).unwrap_or_else(|e| panic!("read {}: {e}", tar.display()))
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(data)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An image config for `layers` with `config` as its `config` object.
pub fn image_config(layers: &[Vec<u8>], config: serde_json::Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-05-06T07:08:09Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| serde_json::json!({"created": "2024-05-06T07:08:09Z"})).collect::<Vec<_>>(),
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Writes a Docker archive (`docker save`'s format: `manifest.json`, the
/// config, one `layer.tar` per layer) of one image tagged `repo_tag`.
/// Returns the image id (the config's digest).
pub fn write_docker_archive(
    path: &Path,
    repo_tag: &str,
    layers: &[Vec<u8>],
    config: &[u8],
) -> String {
    let id = sha256(config);
    let config_name = format!("{}.json", id.trim_start_matches("sha256:"));
    let layer_names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", sha256(l).trim_start_matches("sha256:")))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [repo_tag],
        "Layers": layer_names,
    }]))
    .unwrap_or_else(|e| panic!("{e}"));
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    let mut builder = tar::Builder::new(file);
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
        builder
            .append_data(&mut header, name, data)
            .unwrap_or_else(|e| panic!("{e}"));
    };
    add(&config_name, config);
    for (name, layer) in layer_names.iter().zip(layers) {
        add(name, layer);
    }
    add("manifest.json", &manifest);
    builder.finish().unwrap_or_else(|e| panic!("{e}"));
    id
}
