//! berth-bench: the scenarios of issue 6 against a real berthd (and, with
//! `--compare docker`, Debian's dockerd), each daemon in its own sandbox
//! host. Prints a table (median, p99, min, max, N per scenario), checks the
//! targets, and writes JSON with `--json FILE`. Benchmarks, not tests:
//! nothing fails on speed.
//!
//!   berth-bench --quick                      # small N, for CI
//!   berth-bench --json bench.json            # the full run
//!   berth-bench --compare docker --json ...  # plus dockerd, with ratios

mod daemon;
mod probe;
mod report;
mod sandbox;
mod scenarios;
mod stats;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::daemon::{Daemon, Kind, Programs};
use crate::scenarios::{Params, Recorder, Selection};

#[derive(Debug, Parser)]
#[command(
    name = "berth-bench",
    about = "Benchmarks berth in sandbox hosts (issue 6)"
)]
struct Cli {
    #[command(subcommand)]
    probe: Option<ProbeCommand>,
    /// Small N and small counts: finishes in well under a minute.
    #[arg(long)]
    quick: bool,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run the same scenarios against another engine in the same invocation.
    #[arg(long, value_enum)]
    compare: Option<Engine>,
    /// Only these scenario groups (comma-separated): net, run, macvlan,
    /// options, stats, health, events, ports, iperf, burst, dns, mem,
    /// floor, pull, cluster.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Containers already running for the run/rm rows (e.g. 0,100,1000).
    #[arg(long, value_delimiter = ',')]
    levels: Option<Vec<usize>>,
    /// Samples per run/rm row.
    #[arg(long)]
    run_n: Option<usize>,
    /// Containers of 1,000 published ports each for dockerd (one
    /// docker-proxy process per port); default: as many as for berth.
    #[arg(long)]
    docker_port_containers: Option<usize>,
    /// Sizes of the overlay clusters of the `cluster` group (e.g. 3,20).
    #[arg(long, value_delimiter = ',')]
    cluster_hosts: Option<Vec<usize>>,
    /// Skip berth (measure only the --compare engine).
    #[arg(long)]
    skip_berth: bool,
    /// Where berthd and berth-shim are (default: next to this binary).
    #[arg(long)]
    berth_dir: Option<PathBuf>,
    #[arg(long, default_value = "dockerd")]
    dockerd: PathBuf,
    /// The busybox image tarball (default: target/busybox.tar, built by
    /// scripts/build-busybox-image.sh if missing).
    #[arg(long)]
    busybox: Option<PathBuf>,
    /// Keep the sandboxes' directories (logs) after the run.
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum ProbeCommand {
    /// Helpers run inside namespaces by the benchmark itself.
    #[command(subcommand, hide = true)]
    Probe(probe::Probe),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Engine {
    Docker,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(ProbeCommand::Probe(p)) = cli.probe {
        return match probe::run(p) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth-bench probe: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match bench(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    scenarios::INTERRUPTED.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; no other handler for these signals exists.
        unsafe { sigaction(signal, &action) }.context("install a signal handler")?;
    }
    Ok(())
}

fn bench(cli: Cli) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("berth-bench needs root: it makes network namespaces (sandbox hosts)");
    }
    install_signal_handlers()?;
    let started = Instant::now();
    let mut params = if cli.quick {
        Params::quick()
    } else {
        Params::full()
    };
    if let Some(levels) = cli.levels.clone() {
        params.levels = levels;
    }
    if let Some(n) = cli.run_n {
        params.run_n = n;
    }
    if let Some(n) = cli.docker_port_containers {
        params.docker_port_containers = n;
    }
    if let Some(sizes) = cli.cluster_hosts.clone() {
        params.cluster_hosts = sizes;
    }
    let selection = Selection(match &cli.only {
        Some(groups) => {
            for g in groups {
                if !Selection::ALL.contains(&g.as_str()) {
                    bail!("unknown scenario group {g:?}: one of {:?}", Selection::ALL);
                }
            }
            groups.clone()
        }
        None => Selection::ALL.iter().map(|s| (*s).to_owned()).collect(),
    });
    let berth_dir = match &cli.berth_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .context("this binary's directory")?,
    };
    let programs = Programs {
        berth_dir: berth_dir.clone(),
        dockerd: cli.dockerd.clone(),
    };
    let busybox = match &cli.busybox {
        Some(b) => b.clone(),
        None => busybox_tarball(&berth_dir)?,
    };
    let mut engines = Vec::new();
    if !cli.skip_berth {
        engines.push(Kind::Berth);
    }
    if cli.compare.is_some() {
        if which(&cli.dockerd).is_none() {
            bail!(
                "--compare docker needs dockerd ({}): apt-get install docker.io",
                cli.dockerd.display()
            );
        }
        engines.push(Kind::Docker);
    }
    for tool in ["iperf3", "dnsperf", "nsenter", "unshare", "ip", "ss"] {
        if which(Path::new(tool)).is_none() {
            bail!("{tool} is missing (Debian packages: iperf3 dnsperf util-linux iproute2)");
        }
    }
    let mut berth: Option<Recorder> = None;
    let mut docker: Option<Recorder> = None;
    let mut versions = serde_json::Map::new();
    for kind in engines {
        let t = Instant::now();
        let mut daemon = Daemon::start(kind, &programs, cli.keep)?;
        if let Ok(v) = daemon.api.get("/version").and_then(|r| r.json()) {
            versions.insert(kind.name().to_owned(), v["Version"].clone());
        }
        let result = scenarios::run_all(&daemon, &params, &selection, &busybox);
        daemon.shutdown();
        let log_tail = daemon.log_text();
        drop(daemon);
        let rec = result.map_err(|e| {
            let tail: Vec<&str> = log_tail.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            e.context(format!(
                "{} scenarios failed; the daemon's last log lines:\n{}",
                kind.name(),
                tail.join("\n")
            ))
        })?;
        eprintln!(
            "[{}] done in {:.0} s",
            kind.name(),
            t.elapsed().as_secs_f64()
        );
        match kind {
            Kind::Berth => berth = Some(rec),
            Kind::Docker => docker = Some(rec),
        }
    }
    // Overlay clusters are berth's alone (Docker dropped its classic
    // overlay): their hosts and daemons are their own.
    if let (Some(rec), true) = (berth.as_mut(), selection.has("cluster")) {
        let t = Instant::now();
        scenarios::cluster(&programs, &params, &busybox, cli.keep, rec)?;
        eprintln!("[berth] cluster done in {:.0} s", t.elapsed().as_secs_f64());
    }
    let rows = report::merge(berth.as_ref(), docker.as_ref());
    let with_docker = docker.is_some();
    println!("\n{}", report::table(&rows, with_docker));
    let targets = report::targets(&rows, &params);
    if berth.is_some() {
        println!("{}", report::targets_table(&targets));
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("berth-bench: {} mode, {elapsed:.0} s", params.mode);
    if let Some(path) = &cli.json {
        let command: Vec<String> = std::env::args().collect();
        let mut machine = machine();
        machine["versions"] = serde_json::Value::Object(versions);
        machine["elapsed_s"] = json!(elapsed);
        let doc = report::document(&rows, &targets, &params, machine, &command.join(" "));
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("write {}", path.display()))?;
        eprintln!("berth-bench: wrote {}", path.display());
    }
    Ok(())
}

fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.exists().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.exists())
}

/// target/busybox.tar beside the binaries' directory, built if missing.
fn busybox_tarball(berth_dir: &Path) -> Result<PathBuf> {
    let target = berth_dir.parent().unwrap_or(berth_dir);
    let tar = target.join("busybox.tar");
    if tar.exists() {
        return Ok(tar);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-busybox-image.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(&tar)
        .status()
        .with_context(|| format!("run {}", script.display()))?;
    if !status.success() {
        bail!("{} failed", script.display());
    }
    Ok(tar)
}

fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let mem_mb = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0);
    let first_line = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "mem_mb": mem_mb,
        "runc": first_line("runc", "--version"),
        "iperf3": first_line("iperf3", "--version"),
    })
}
