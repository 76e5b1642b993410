//! Pulls from a loopback registry (Debian's docker-registry in the
//! daemon's sandbox, seeded with skopeo): a 5-layer, 100 MiB image cold (no
//! layer on disk), then a second image sharing all but its top layer, and
//! the daemon's peak RSS while pulling (layers stream to disk, so it must
//! stay far below a layer's size). berthd and dockerd (with its
//! containerd) pull the same images the same way; both take a loopback
//! registry as insecure by default.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{check_interrupted, ms, say, Params, Recorder};
use crate::daemon::{Daemon, Kind};

const REGISTRY: &str = "127.0.0.1:5000";

/// Pulls of each kind: each moves the whole image.
fn samples(p: &Params) -> usize {
    p.run_n.min(5)
}

/// Layers of the pulled image, and each one's size: issue 14's 5 layers
/// of ~100 MB in all.
fn shape(p: &Params) -> (usize, usize) {
    if p.mode == "quick" {
        (5, 4 << 20)
    } else {
        (5, 20 << 20)
    }
}

pub(super) fn pull(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    let (layers, layer_size) = shape(p);
    say(
        d,
        &format!(
            "pull: {layers} layers of {} MiB from a loopback registry x{}",
            layer_size >> 20,
            p.run_n
        ),
    );
    let mut registry = Registry::start(d)?;
    let result = measure(d, p, rec, layers, layer_size);
    registry.stop();
    result
}

fn measure(d: &Daemon, p: &Params, rec: &mut Recorder, layers: usize, size: usize) -> Result<()> {
    let kept = berth_blobs(d);
    // Random bytes: gzip cannot shrink them, so the wire carries it all.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let base: Vec<Vec<u8>> = (0..layers - 1)
        .map(|i| layer(&format!("l{i}"), &random(size)))
        .collect();
    let tops = [layer("top-a", &random(size)), layer("top-b", &random(size))];
    for (name, top) in ["multi", "shared"].iter().zip(&tops) {
        let mut all = base.clone();
        all.push(top.clone());
        let archive = d.sb.dir().join(format!("{name}.tar"));
        docker_archive(&archive, &all)?;
        d.sb.sh(&format!(
            "skopeo --insecure-policy copy --quiet --dest-tls-verify=false docker-archive:{} docker://{REGISTRY}/bench/{name}:latest",
            archive.display()
        ))?;
    }
    let (mut cold, mut shared, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples(p) {
        check_interrupted()?;
        forget_images(d, kept)?;
        let (took, peak) = timed_pull(d, "bench/multi")?;
        cold.push(took);
        peaks.push(peak);
        let (took, peak) = timed_pull(d, "bench/shared")?;
        shared.push(took);
        peaks.push(peak);
    }
    let mib = (layers * size) >> 20;
    rec.add(
        "pull.cold",
        &format!("pull {layers} layers, {mib} MiB, cold"),
        "ms",
        &cold,
    );
    rec.add(
        "pull.shared",
        "pull, all but the top layer here",
        "ms",
        &shared,
    );
    rec.add("pull.rss", "daemon peak RSS while pulling", "MB", &peaks);
    forget_images(d, kept)
}

/// Pulls `name` through the API; (ms, the daemon's peak RSS in MB).
fn timed_pull(d: &Daemon, name: &str) -> Result<(f64, f64)> {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak: f64 = d.daemon_rss_mb();
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(d.daemon_rss_mb());
                sleep(Duration::from_millis(10));
            }
            peak
        });
        let t = Instant::now();
        let reply = d
            .api
            .request(
                "POST",
                &format!("/images/create?fromImage={REGISTRY}/{name}&tag=latest"),
                b"",
                "application/json",
            )
            .and_then(|r| r.ok("pull"));
        let took = ms(t);
        done.store(true, Ordering::Relaxed);
        let peak = sampler.join().unwrap_or(0.0);
        let reply = reply?;
        if reply.body.contains("\"error") {
            bail!("pull {name}: {}", reply.body);
        }
        Ok((took, peak))
    })
}

/// Removes the pulled images, and with them (in both daemons) the layers
/// no image uses: the next pull is cold. berth's blob store must hold no
/// more than the `kept` blobs it had before the first pull (the imported
/// busybox's layer), or the pull would not be.
fn forget_images(d: &Daemon, kept: usize) -> Result<()> {
    for name in ["bench/multi", "bench/shared"] {
        let _ = d
            .api
            .delete(&format!("/images/{REGISTRY}/{name}:latest?force=1"));
    }
    let left = berth_blobs(d);
    if left > kept {
        bail!(
            "{} layer blobs of pulled images left after rmi",
            left - kept
        );
    }
    Ok(())
}

/// How many layer blobs berth's store holds (0 for dockerd).
fn berth_blobs(d: &Daemon) -> usize {
    if d.kind != Kind::Berth {
        return 0;
    }
    let blobs = d.sb.dir().join("data/images/blobs/sha256");
    std::fs::read_dir(&blobs).map_or(0, |entries| entries.count())
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A tar of one file.
fn layer(name: &str, data: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, name, data);
    tar.into_inner().unwrap_or_default()
}

fn append<W: std::io::Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_size(data.len() as u64);
    let _ = tar.append_data(&mut header, name, data);
}

/// `docker save`'s format, for skopeo.
fn docker_archive(path: &Path, layers: &[Vec<u8>]) -> Result<()> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256(l)))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))?;
    let config_name = format!("{}.json", sha256(&config));
    let names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", sha256(l)))
        .collect();
    let manifest =
        serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": [], "Layers": names}]))?;
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut tar = tar::Builder::new(file);
    append(&mut tar, &config_name, &config);
    for (name, layer) in names.iter().zip(layers) {
        append(&mut tar, name, layer);
    }
    append(&mut tar, "manifest.json", &manifest);
    tar.finish()?;
    Ok(())
}

/// docker-registry in the daemon's sandbox, on loopback.
struct Registry(Option<Child>);

impl Registry {
    fn start(d: &Daemon) -> Result<Registry> {
        let dir = d.sb.dir().join("registry");
        std::fs::create_dir_all(dir.join("data"))?;
        std::fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {REGISTRY}\n",
                dir.join("data").display()
            ),
        )?;
        let child =
            d.sb.command("/usr/bin/docker-registry")
                .arg("serve")
                .arg(dir.join("config.yml"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("start docker-registry (apt-get install docker-registry)")?;
        let registry = Registry(Some(child));
        for _ in 0..100 {
            if d.sb.sh(&format!("curl -sf http://{REGISTRY}/v2/")).is_ok() {
                return Ok(registry);
            }
            sleep(Duration::from_millis(100));
        }
        bail!("docker-registry did not answer on {REGISTRY}")
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
