//! `stats`: the engine's readings of a container in Docker's
//! `ContainerStatsResponse` shape, one a second, as dockerd's stats
//! collector publishes them (moby `daemon/stats.go`,
//! `daemon/stats_unix.go`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use berth_api::{ApiError, StatsOptions, StatsStream};
use berth_core::container::{Container, ContainerStats};
use berth_core::EngineHandle;
use bollard_stubs::models::{
    ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
    ContainerMemoryStats, ContainerNetworkStats, ContainerPidsStats, ContainerStatsResponse,
    ContainerStorageStats, ContainerThrottlingData,
};
use futures::StreamExt;

use super::{api_error, wire};
use crate::host::RealHost;

/// dockerd's collection interval.
const INTERVAL: Duration = Duration::from_secs(1);

/// Whose document it is.
struct Named {
    id: String,
    name: String,
}

impl From<&Container> for Named {
    fn from(c: &Container) -> Self {
        Named {
            id: c.id.to_string(),
            name: c.name.clone(),
        }
    }
}

/// What a document needs of the one before it.
struct Previous {
    cpu: ContainerCpuStats,
    read: String,
}

/// Resolves the container and takes the first sample now (so a missing
/// container is the client's 404); then samples a second apart.
pub async fn container_stats(
    engine: EngineHandle<RealHost>,
    id_or_name: String,
    options: StatsOptions,
) -> Result<StatsStream, ApiError> {
    let (container, first) = engine
        .container_stats(&id_or_name)
        .await
        .map_err(api_error)?;
    let first = document(
        &(&container).into(),
        first.as_ref(),
        SystemTime::now(),
        None,
    );
    if !options.stream {
        // A stopped container, or one sample only: no second reading to
        // compute the CPU percentage against.
        if options.one_shot || !container.is_running() {
            return Ok(Box::pin(futures::stream::iter([first])));
        }
        tokio::time::sleep(INTERVAL).await;
        let previous = previous_of(&first);
        let second = match engine.container_stats(&container.id.to_string()).await {
            Ok((c, sample)) => document(
                &(&c).into(),
                sample.as_ref(),
                SystemTime::now(),
                Some(previous),
            ),
            // Removed meanwhile (or unreadable, logged): the first reading
            // is all there is.
            Err(e) => {
                log_unreadable(&container.name, &e);
                first
            }
        };
        return Ok(Box::pin(futures::stream::iter([second])));
    }
    let id = container.id.to_string();
    let later = futures::stream::unfold(previous_of(&first), move |previous| {
        let engine = engine.clone();
        let id = id.clone();
        async move {
            tokio::time::sleep(INTERVAL).await;
            // Gone (removed): the stream ends, as dockerd's does.
            let (c, sample) = engine
                .container_stats(&id)
                .await
                .map_err(|e| log_unreadable(&id, &e))
                .ok()?;
            let next = document(
                &(&c).into(),
                sample.as_ref(),
                SystemTime::now(),
                Some(previous),
            );
            Some((next.clone(), previous_of(&next)))
        }
    });
    Ok(Box::pin(
        futures::stream::once(async { first }).chain(later),
    ))
}

/// A reading that failed for another reason than the container being
/// gone ends the answer early; the log says why.
fn log_unreadable(container: &str, e: &berth_core::Error) {
    if e.kind() != berth_core::ErrorKind::NotFound {
        tracing::warn!(container, error = %e, "stats not readable");
    }
}

fn previous_of(document: &ContainerStatsResponse) -> Previous {
    Previous {
        cpu: document.cpu_stats.clone().unwrap_or_default(),
        read: document.read.clone().unwrap_or_default(),
    }
}

/// One document. A container that does not run gets dockerd's zero
/// document: its name and id, zero counters, the zero time.
fn document(
    c: &Named,
    sample: Option<&ContainerStats>,
    read: SystemTime,
    previous: Option<Previous>,
) -> ContainerStatsResponse {
    let (precpu, preread) = match previous {
        Some(p) => (p.cpu, p.read),
        None => (zero_cpu(), wire::ZERO_TIME.to_owned()),
    };
    let base = ContainerStatsResponse {
        id: Some(c.id.clone()),
        name: Some(format!("/{}", c.name)),
        // Not in API 1.50, which berth speaks.
        os_type: None,
        read: Some(wire::ZERO_TIME.to_owned()),
        preread: Some(preread),
        cpu_stats: Some(zero_cpu()),
        precpu_stats: Some(precpu),
        memory_stats: Some(ContainerMemoryStats::default()),
        pids_stats: Some(ContainerPidsStats::default()),
        blkio_stats: Some(ContainerBlkioStats::default()),
        num_procs: Some(0),
        storage_stats: Some(ContainerStorageStats::default()),
        networks: None,
    };
    let Some(s) = sample else {
        return base;
    };
    ContainerStatsResponse {
        read: Some(wire::timestamp(read)),
        cpu_stats: Some(cpu_stats(s)),
        memory_stats: Some(ContainerMemoryStats {
            usage: Some(s.memory.usage),
            max_usage: s.memory.max_usage,
            stats: Some(s.memory.stat.clone().into_iter().collect()),
            failcnt: s.memory.failcnt,
            limit: Some(s.memory.limit),
            ..ContainerMemoryStats::default()
        }),
        pids_stats: Some(ContainerPidsStats {
            current: Some(s.pids.current),
            limit: Some(s.pids.limit),
        }),
        blkio_stats: Some(ContainerBlkioStats {
            io_service_bytes_recursive: Some(
                s.block_io
                    .iter()
                    .map(|e| ContainerBlkioStatEntry {
                        major: Some(e.major),
                        minor: Some(e.minor),
                        op: Some(e.op.clone()),
                        value: Some(e.value),
                    })
                    .collect(),
            ),
            ..ContainerBlkioStats::default()
        }),
        networks: (!s.networks.is_empty()).then(|| networks(s)),
        ..base
    }
}

/// What dockerd's zero `CPUStats` serialises to.
fn zero_cpu() -> ContainerCpuStats {
    ContainerCpuStats {
        cpu_usage: Some(ContainerCpuUsage {
            total_usage: Some(0),
            usage_in_kernelmode: Some(0),
            usage_in_usermode: Some(0),
            ..ContainerCpuUsage::default()
        }),
        throttling_data: Some(ContainerThrottlingData {
            periods: Some(0),
            throttled_periods: Some(0),
            throttled_time: Some(0),
        }),
        ..ContainerCpuStats::default()
    }
}

fn cpu_stats(s: &ContainerStats) -> ContainerCpuStats {
    let cpu = &s.cpu;
    ContainerCpuStats {
        cpu_usage: Some(ContainerCpuUsage {
            total_usage: Some(cpu.total_ns),
            percpu_usage: (!cpu.per_cpu_ns.is_empty()).then(|| cpu.per_cpu_ns.clone()),
            usage_in_kernelmode: Some(cpu.kernel_ns),
            usage_in_usermode: Some(cpu.user_ns),
        }),
        system_cpu_usage: Some(cpu.system_ns),
        online_cpus: Some(cpu.online_cpus),
        throttling_data: Some(ContainerThrottlingData {
            periods: Some(cpu.throttling.periods),
            throttled_periods: Some(cpu.throttling.throttled_periods),
            throttled_time: Some(cpu.throttling.throttled_ns),
        }),
    }
}

fn networks(s: &ContainerStats) -> HashMap<String, ContainerNetworkStats> {
    s.networks
        .iter()
        .map(|(name, n)| {
            let stats = ContainerNetworkStats {
                rx_bytes: Some(n.rx_bytes),
                rx_packets: Some(n.rx_packets),
                rx_errors: Some(n.rx_errors),
                rx_dropped: Some(n.rx_dropped),
                tx_bytes: Some(n.tx_bytes),
                tx_packets: Some(n.tx_packets),
                tx_errors: Some(n.tx_errors),
                tx_dropped: Some(n.tx_dropped),
                ..ContainerNetworkStats::default()
            };
            (name.clone(), stats)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::container::{CpuStats, MemoryStats, NetworkStats, PidsStats};

    fn named() -> Named {
        Named {
            id: "c0ffee".to_owned(),
            name: "web".to_owned(),
        }
    }

    fn sample() -> ContainerStats {
        ContainerStats {
            cpu: CpuStats {
                total_ns: 500,
                kernel_ns: 100,
                user_ns: 400,
                system_ns: 10_000,
                online_cpus: 2,
                ..CpuStats::default()
            },
            memory: MemoryStats {
                usage: 4096,
                limit: 64 << 20,
                stat: [("inactive_file".to_owned(), 1024)].into(),
                ..MemoryStats::default()
            },
            pids: PidsStats {
                current: 2,
                limit: 0,
            },
            block_io: Vec::new(),
            networks: [("eth0".to_owned(), NetworkStats::default())].into(),
        }
    }

    #[test]
    fn a_sample_carries_the_cpu_the_client_divides_and_the_memory_it_subtracts() {
        let first = document(&named(), Some(&sample()), SystemTime::UNIX_EPOCH, None);
        let json = serde_json::to_value(&first).unwrap();
        assert_eq!(json["name"], "/web");
        assert!(json.get("os_type").is_none());
        assert_eq!(json["read"], "1970-01-01T00:00:00.000000000Z");
        assert_eq!(json["preread"], wire::ZERO_TIME);
        assert_eq!(json["cpu_stats"]["cpu_usage"]["total_usage"], 500);
        assert_eq!(json["cpu_stats"]["cpu_usage"]["usage_in_usermode"], 400);
        assert_eq!(json["cpu_stats"]["system_cpu_usage"], 10_000);
        assert_eq!(json["cpu_stats"]["online_cpus"], 2);
        assert_eq!(json["precpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert_eq!(json["memory_stats"]["usage"], 4096);
        assert_eq!(json["memory_stats"]["limit"], 64 << 20);
        assert_eq!(json["memory_stats"]["stats"]["inactive_file"], 1024);
        assert!(json["memory_stats"].get("max_usage").is_none(), "v1 only");
        assert_eq!(json["pids_stats"]["current"], 2);
        assert_eq!(json["networks"]["eth0"]["rx_bytes"], 0);

        let second = document(
            &named(),
            Some(&sample()),
            SystemTime::UNIX_EPOCH + INTERVAL,
            Some(previous_of(&first)),
        );
        assert_eq!(second.precpu_stats, first.cpu_stats);
        assert_eq!(second.preread, first.read);
    }

    #[test]
    fn a_stopped_container_gets_the_zero_document() {
        let json = serde_json::to_value(document(&named(), None, SystemTime::now(), None)).unwrap();
        assert_eq!(json["id"], "c0ffee");
        assert_eq!(json["read"], wire::ZERO_TIME);
        assert_eq!(json["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert_eq!(json["memory_stats"], serde_json::json!({}));
        assert!(json.get("networks").is_none());
    }
}
