//! The embedded DNS with every background container registered: latency
//! idle and under dnsperf's load, and dnsperf's rate.

use std::process::Stdio;
use std::thread::sleep;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{say, Background, Params, Recorder, NET};
use crate::daemon::Daemon;
use crate::sandbox::output;
use crate::stats::Stats;

pub(super) fn dns(d: &Daemon, p: &Params, bg: &Background, rec: &mut Recorder) -> Result<()> {
    let Some((client, _)) = bg.containers.first() else {
        return Ok(());
    };
    let n = bg.containers.len();
    say(d, &format!("DNS with {n} containers registered"));
    let (_, netns) = d.address_and_netns(client, NET)?;
    let file = d.sb.dir().join("dns-queries.txt");
    let text: String = bg
        .containers
        .iter()
        .map(|(_, name)| format!("{name} A\n"))
        .collect();
    std::fs::write(&file, text)?;
    let me = std::env::current_exe()?;
    let probe = |secs: f64| -> Result<Value> {
        let out = output(
            d.sb.in_netns(&netns, &me)
                .args(["probe", "dns", "127.0.0.11"])
                .arg(&file)
                .arg(secs.to_string()),
        )?;
        Ok(serde_json::from_str(&out)?)
    };
    // Unloaded latency, one query at a time.
    let idle = probe(p.dns_secs / 2.0)?;
    if idle["answered"].as_u64().unwrap_or(0) == 0 {
        bail!("the embedded DNS answered nothing: {idle}");
    }
    let lat_row = |rec: &mut Recorder, id: &str, label: &str, v: &Value| {
        if let Ok(stats) = serde_json::from_value::<Stats>(v["latency_ms"].clone()) {
            rec.rows.push(crate::scenarios::Measured {
                id: id.to_owned(),
                label: label.to_owned(),
                unit: "ms".to_owned(),
                stats,
                note: Some(format!("{} errors", v["errors"])),
            });
        }
    };
    lat_row(
        rec,
        "dns.lat.idle",
        "DNS latency, one query at a time",
        &idle,
    );
    // Throughput: dnsperf saturating, the probe measuring latency meanwhile.
    let dnsperf =
        d.sb.in_netns(&netns, "dnsperf")
            .args(["-s", "127.0.0.11", "-d"])
            .arg(&file)
            .args(["-l", &p.dns_secs.to_string()])
            .args(["-c", &p.dnsperf_clients.to_string(), "-q", "200", "-T", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start dnsperf (Debian package dnsperf)")?;
    sleep(Duration::from_millis(500));
    let loaded = probe((p.dns_secs - 1.0).max(0.5));
    let out = dnsperf.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let loaded = loaded?;
    let qps = dnsperf_field(&text, "Queries per second:");
    let lost = dnsperf_field(&text, "Queries lost:");
    let avg = dnsperf_field(&text, "Average Latency (s):").map(|s| s * 1e3);
    match qps {
        Some(qps) => {
            rec.one("dns.qps", "DNS queries/s (dnsperf)", "qps", qps);
            rec.note_last(format!(
                "{} clients, lost {}, avg latency {} ms",
                p.dnsperf_clients,
                lost.unwrap_or(f64::NAN),
                avg.map(|a| format!("{a:.2}")).unwrap_or_default()
            ));
        }
        None => bail!(
            "dnsperf printed no rate: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
    lat_row(
        rec,
        "dns.lat.load",
        "DNS latency under dnsperf load",
        &loaded,
    );
    Ok(())
}

fn dnsperf_field(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.trim_start().starts_with(key))?;
    line.trim_start()[key.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsperf_output_parses() {
        let text = "  Queries sent:         100\n  Queries lost:         3 (3.00%)\n  Queries per second:   48123.456789\n  Average Latency (s):  0.001234 (min 0.000100, max 0.010000)\n";
        assert_eq!(
            dnsperf_field(text, "Queries per second:"),
            Some(48123.456789)
        );
        assert_eq!(dnsperf_field(text, "Queries lost:"), Some(3.0));
        assert_eq!(dnsperf_field(text, "Average Latency (s):"), Some(0.001234));
    }
}
