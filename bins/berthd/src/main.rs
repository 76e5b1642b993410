//! berthd: the composition root. Reads the configuration, wires the real
//! adapters into the engine, reconciles the kernel with the store, and
//! serves the Docker Engine API on a unix socket until SIGTERM or SIGINT.

mod backend;
mod cluster;
mod config;
mod dns;
mod host;
mod lock;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use berth_core::ports::{Firewall, Host};
use berth_core::{ClusterHost, DefaultBridge, Engine, EngineConfig};
use berth_types::IfName;
use clap::Parser;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

use crate::backend::DaemonBackend;
use crate::config::{Config, Flags};
use crate::host::RealHost;

/// The default network's bridge, Docker's `docker0`.
const DEFAULT_BRIDGE_NAME: &str = "berth0";

fn main() -> ExitCode {
    let config = match Config::load(Flags::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(&config.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("berthd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(config: Config) -> Result<()> {
    make_dir(&config.data_root, 0o711)?;
    make_dir(&config.exec_root, 0o711)?;
    let _lock = lock::DataRootLock::acquire(&config.data_root)?;

    let host = Arc::new(RealHost::open(&config).await?);
    let cluster_host = match &config.cluster {
        Some(c) => Some(cluster::cluster_host(c, &host).await?),
        None => None,
    };
    let mut engine = Engine::new(Arc::clone(&host), engine_config(&config, cluster_host)?)
        .context("load the stored containers")?;
    host.embedded_dns().attach(engine.names());
    let cluster = match &config.cluster {
        Some(c) => {
            let advertise = cluster_host.map(|h| h.advertise);
            let advertise = advertise.context("the cluster host")?;
            Some(cluster::Cluster::join(c, advertise, &config.data_root, &mut engine).await?)
        }
        None => None,
    };
    engine
        .reconcile()
        .await
        .context("reconcile the host with the stored state")?;
    let (handle, engine_task) = engine.spawn();

    let watchdog = tokio::spawn(firewall_watchdog(handle.clone(), Arc::clone(&host)));
    let cluster_view = cluster.as_ref().map(cluster::Cluster::view);
    let cluster_tasks = cluster.map(|c| c.spawn(handle.clone())).unwrap_or_default();
    let listener = bind_socket(&config.socket)?;
    let backend = Arc::new(DaemonBackend::new(
        handle,
        host.oci().clone(),
        &config,
        cluster_view,
    ));
    info!(
        socket = %config.socket.display(),
        data_root = %config.data_root.display(),
        iptables = config.iptables,
        dns = ?config.dns,
        "berthd is serving the API"
    );
    berth_api::serve(listener, backend, shutdown_signal()?)
        .await
        .context("serve the API")?;

    // The backend (and with it the last engine handle but the watchdog's)
    // is gone once `serve` returns, so the engine finishes its queue and
    // stops.
    watchdog.abort();
    let _ = watchdog.await;
    for task in cluster_tasks {
        task.abort();
        let _ = task.await;
    }
    if let Err(e) = engine_task.await {
        tracing::warn!(error = %e, "engine task ended abnormally");
    }
    if let Err(e) = std::fs::remove_file(&config.socket) {
        tracing::warn!(socket = %config.socket.display(), error = %e, "socket not removed");
    }
    info!("berthd stopped");
    Ok(())
}

/// How often berth checks its nftables tables for changes made by others.
/// A check is one netlink round trip while the ruleset's generation stays
/// the one berth's last write left.
const FIREWALL_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Puts berth's tables back within seconds when someone else changes them
/// (`nft flush ruleset`, `nft flush table ip berth`, a deleted element, a
/// firewall service reload).
///
/// The check runs outside the engine task: after each of berth's writes it
/// reads berth's tables back once, which with thousands of published ports
/// takes a while that starts must not wait for. Only drift goes to the
/// engine, which checks again (in order with its own writes) and repairs.
async fn firewall_watchdog(engine: berth_core::EngineHandle<RealHost>, host: Arc<RealHost>) {
    let mut tick = tokio::time::interval(FIREWALL_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match host.firewall().drift().await {
            Ok(None) => continue,
            Ok(Some(drift)) => tracing::debug!(%drift, "firewall drift seen: the engine confirms"),
            Err(e) => {
                tracing::warn!(error = %e, "firewall check failed");
                continue;
            }
        }
        match engine.repair_firewall().await {
            Ok(_) => {}
            Err(berth_core::Error::ShutDown) => return,
            Err(e) => tracing::warn!(error = %e, "firewall check failed"),
        }
    }
}

fn engine_config(config: &Config, cluster_host: Option<ClusterHost>) -> Result<EngineConfig> {
    Ok(EngineConfig {
        default_bridge: DefaultBridge {
            name: IfName::parse(DEFAULT_BRIDGE_NAME)?,
            address: config.bip,
        },
        address_pools: config.address_pools.clone(),
        ipv6_pools: config::default_ipv6_pools(),
        overlay_pools: config::default_overlay_pools(),
        cluster_host,
        mtu: config.mtu,
        icc: config.icc,
        ip_masq: config.ip_masq,
        ip_forward: config.ip_forward,
        firewall: config.iptables,
        dns: config.dns.clone(),
    })
}

fn make_dir(path: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir_all(path)
        .with_context(|| format!("create directory {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("set permissions of {}", path.display()))
}

/// Binds the API socket, mode 0660. The data-root lock is already held, so a
/// socket file left there is a dead daemon's and is replaced.
fn bind_socket(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create socket directory {}", dir.display()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("remove stale socket {}", path.display())),
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("bind API socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("set permissions of socket {}", path.display()))?;
    host::give_socket_to_berth_group(path)?;
    Ok(listener)
}

fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send> {
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: shutting down"),
            _ = int.recv() => info!("SIGINT: shutting down"),
        }
    })
}
