//! The table, the targets of issue 6, and the JSON document.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use crate::scenarios::{Measured, Params, Recorder};
use crate::stats::Stats;

#[derive(Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub scenario: String,
    pub unit: String,
    pub berth: Option<Stats>,
    pub docker: Option<Stats>,
    /// berth median / Docker median.
    pub ratio: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Lines up the two daemons' rows by id, in the order they were measured.
pub fn merge(berth: Option<&Recorder>, docker: Option<&Recorder>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut put = |m: &Measured, docker_side: bool| {
        let row = match rows.iter_mut().position(|r| r.id == m.id) {
            Some(i) => &mut rows[i],
            None => {
                // A row only one side has (a different port count) goes
                // after its kin ("ports.add.2000" after "ports.add.10000").
                let stem = |id: &str| id.rsplit_once('.').map(|(s, _)| s.to_owned());
                let at = rows
                    .iter()
                    .rposition(|r| stem(&r.id).is_some() && stem(&r.id) == stem(&m.id))
                    .map_or(rows.len(), |i| i + 1);
                rows.insert(
                    at,
                    Row {
                        id: m.id.clone(),
                        scenario: m.label.clone(),
                        unit: m.unit.clone(),
                        berth: None,
                        docker: None,
                        ratio: None,
                        notes: Vec::new(),
                    },
                );
                &mut rows[at]
            }
        };
        if docker_side {
            row.docker = Some(m.stats);
        } else {
            row.berth = Some(m.stats);
        }
        if let Some(note) = &m.note {
            let who = if docker_side { "docker" } else { "berth" };
            row.notes.push(format!("{who}: {note}"));
        }
    };
    for m in berth.map(|r| r.rows.as_slice()).unwrap_or_default() {
        put(m, false);
    }
    for m in docker.map(|r| r.rows.as_slice()).unwrap_or_default() {
        put(m, true);
    }
    for row in &mut rows {
        if let (Some(b), Some(d)) = (row.berth, row.docker) {
            if d.median != 0.0 {
                row.ratio = Some(b.median / d.median);
            }
        }
    }
    rows
}

pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    let a = v.abs();
    if a >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cells(s: Option<Stats>, unit: &str) -> [String; 5] {
    let f = |v: f64| {
        if unit == "count" {
            format!("{v:.0}")
        } else {
            num(v)
        }
    };
    match s {
        Some(s) => [f(s.median), f(s.p99), f(s.min), f(s.max), s.n.to_string()],
        None => ["-".into(), "".into(), "".into(), "".into(), "".into()],
    }
}

/// The table as markdown (it reads fine in a terminal too).
pub fn table(rows: &[Row], with_docker: bool) -> String {
    let mut head = vec!["scenario", "unit", "berth p50", "p99", "min", "max", "N"];
    if with_docker {
        head.extend(["docker p50", "p99", "min", "max", "N", "berth/docker"]);
    }
    let mut lines: Vec<Vec<String>> = Vec::new();
    for r in rows {
        let mut line = vec![r.scenario.clone(), r.unit.clone()];
        line.extend(cells(r.berth, &r.unit));
        if with_docker {
            line.extend(cells(r.docker, &r.unit));
            line.push(r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_default());
        }
        lines.push(line);
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let fmt_line = |cols: &[String]| -> String {
        let padded: Vec<String> = cols
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let head: Vec<String> = head.iter().map(|h| (*h).to_owned()).collect();
    let _ = writeln!(out, "{}", fmt_line(&head));
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i < 2 {
                "-".repeat(*w)
            } else {
                format!("{}:", "-".repeat(w.saturating_sub(1)))
            }
        })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for l in &lines {
        let _ = writeln!(out, "{}", fmt_line(l));
    }
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.notes
                .iter()
                .map(move |n| format!("- {}: {n}", r.scenario.trim()))
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\n{}", notes.join("\n"));
    }
    out
}

#[derive(Debug, Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    /// `None` when the scenario did not run.
    pub met: Option<bool>,
}

/// Issue 6's targets, checked against this run's berth numbers.
pub fn targets(rows: &[Row], p: &Params) -> Vec<Target> {
    let get = |id: &str| rows.iter().find(|r| r.id == id);
    let berth = |id: &str| get(id).and_then(|r| r.berth);
    let max_level = p.levels.iter().copied().max().unwrap_or(0);
    let mut out = Vec::new();
    let mut check = |target: String, value: Option<f64>, unit: &str, ok: &dyn Fn(f64) -> bool| {
        out.push(Target {
            target,
            measured: value
                .map(|v| format!("{} {unit}", num(v)))
                .unwrap_or_else(|| "not measured".to_owned()),
            met: value.map(ok),
        });
    };
    let med = |id: &str| berth(id).map(|s| s.median);
    check("run -d p50 <= 100 ms".into(), med("run.0"), "ms", &|v| {
        v <= 100.0
    });
    check(
        "run -d <= 0.25x Docker".into(),
        get("run.0").and_then(|r| r.ratio),
        "x",
        &|v| v <= 0.25,
    );
    check("rm -f p50 <= 50 ms".into(), med("rm.0"), "ms", &|v| {
        v <= 50.0
    });
    check(
        "network create p50 <= 10 ms".into(),
        med("net.create"),
        "ms",
        &|v| v <= 10.0,
    );
    check(
        "network rm p50 <= 20 ms".into(),
        med("net.rm"),
        "ms",
        &|v| v <= 20.0,
    );
    for level in [0, max_level] {
        check(
            format!("network part p50 <= 5 ms ({level} running)"),
            med(&format!("netpart.{level}")),
            "ms",
            &|v| v <= 5.0,
        );
        check(
            format!("network part p99 <= 15 ms ({level} running)"),
            berth(&format!("netpart.{level}")).map(|s| s.p99),
            "ms",
            &|v| v <= 15.0,
        );
    }
    let growth = match (med("netpart.0"), med(&format!("netpart.{max_level}"))) {
        (Some(a), Some(b)) if a > 0.0 && max_level > 0 => Some(b / a),
        _ => None,
    };
    check(
        format!("network part growth 0 -> {max_level} running <= 1.25x"),
        growth,
        "x",
        &|v| v <= 1.25,
    );
    check(
        format!("{}-port range <= 50 ms over none", p.range_ports),
        med("ports.range.delta"),
        "ms",
        &|v| v <= 50.0,
    );
    let flat = |a: &str, b: &str| match (med(a), med(b)) {
        (Some(x), Some(y)) if x > 0.0 => Some(y / x),
        _ => None,
    };
    let n = p.port_containers * 1000;
    check(
        format!("add 1 port flat: {n} published / 0 published <= 1.25x"),
        flat("ports.add.0", &format!("ports.add.{n}")),
        "x",
        &|v| v <= 1.25,
    );
    check(
        format!("remove 1 port flat: {n} published / 0 published <= 1.25x"),
        flat("ports.rm.0", &format!("ports.rm.{n}")),
        "x",
        &|v| v <= 1.25,
    );
    check(
        "run -d with 3 binds, a volume and limits <= 1.10x plain".into(),
        flat("options.plain", "options.run"),
        "x",
        &|v| v <= 1.10,
    );
    check("DNS >= 100,000 qps".into(), med("dns.qps"), "qps", &|v| {
        v >= 100_000.0
    });
    check(
        "DNS p99 <= 2 ms (under dnsperf load)".into(),
        berth("dns.lat.load").map(|s| s.p99),
        "ms",
        &|v| v <= 2.0,
    );
    check(
        "127.0.0.1 -> published >= 95% of host -> container".into(),
        med("iperf.lo_ratio"),
        "%",
        &|v| v >= 95.0,
    );
    let proxy = get("iperf.lo_ratio").and_then(|r| {
        r.notes
            .iter()
            .find(|n| n.starts_with("berth:"))
            .map(|n| n.contains(" 0 user-space"))
    });
    out.push(Target {
        target: "no user-space process in the published-port path".into(),
        measured: match proxy {
            Some(true) => "no listener on the port".into(),
            Some(false) => "a listener on the port".into(),
            None => "not measured".into(),
        },
        met: proxy,
    });
    let mut check = |target: String, value: Option<f64>, unit: &str, ok: &dyn Fn(f64) -> bool| {
        out.push(Target {
            target,
            measured: value
                .map(|v| format!("{} {unit}", num(v)))
                .unwrap_or_else(|| "not measured".to_owned()),
            met: value.map(ok),
        });
    };
    check(
        "berthd RSS idle <= 20 MB".into(),
        med("mem.idle"),
        "MB",
        &|v| v <= 20.0,
    );
    check(
        format!("berthd RSS at {max_level} containers <= 60 MB"),
        med(&format!("mem.{max_level}")),
        "MB",
        &|v| v <= 60.0,
    );
    check(
        "shim PSS <= 1 MB per container".into(),
        med("mem.shim"),
        "MB",
        &|v| v <= 1.0,
    );
    check(
        format!("{} run -d at once: no errors", p.burst),
        med("burst.errors"),
        "errors",
        &|v| v == 0.0,
    );
    let burst = p.burst as f64;
    check(
        format!("{} run -d at once: distinct addresses", p.burst),
        med("burst.distinct"),
        "addresses",
        &|v| v == burst,
    );
    for size in &p.cluster_hosts {
        check(
            format!("{size} hosts: start -> pingable by name from another host p50 <= 50 ms"),
            med(&format!("cluster.{size}.reach")),
            "ms",
            &|v| v <= 50.0,
        );
        check(
            format!("{size} hosts: overlay create visible on another host <= 100 ms"),
            med(&format!("cluster.{size}.visible")),
            "ms",
            &|v| v <= 100.0,
        );
        check(
            format!("{size} hosts: etcd transactions per container start <= 2"),
            med(&format!("cluster.{size}.txns")),
            "txns",
            &|v| v <= 2.0,
        );
        check(
            format!("{size} hosts: overlay iperf3 >= 90% of the underlay"),
            med(&format!("cluster.{size}.iperf_ratio")),
            "%",
            &|v| v >= 90.0,
        );
        check(
            format!(
                "{size} hosts x {} containers: berthd RSS <= 40 MB per host",
                p.cluster_containers
            ),
            berth(&format!("cluster.{size}.rss")).map(|s| s.max),
            "MB",
            &|v| v <= 40.0,
        );
    }
    out
}

pub fn targets_table(targets: &[Target]) -> String {
    let mut out = String::from("| target | berth, this run | met |\n| --- | --- | --- |\n");
    for t in targets {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", t.target, t.measured);
    }
    out
}

pub fn document(
    rows: &[Row],
    targets: &[Target],
    params: &Params,
    machine: Value,
    command: &str,
) -> Value {
    json!({
        "command": command,
        "machine": machine,
        "params": params,
        "rows": rows,
        "targets": targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::Measured;

    fn m(id: &str, v: f64) -> Measured {
        Measured {
            id: id.to_owned(),
            label: id.to_owned(),
            unit: "ms".to_owned(),
            stats: Stats::of(&[v]).unwrap(),
            note: None,
        }
    }

    #[test]
    fn rows_line_up_with_ratios_and_kin_stay_together() {
        let berth = Recorder {
            rows: vec![
                m("run.0", 50.0),
                m("ports.add.10000", 70.0),
                m("dns.qps", 1.0),
            ],
        };
        let docker = Recorder {
            rows: vec![m("run.0", 200.0), m("ports.add.2000", 300.0)],
        };
        let rows = merge(Some(&berth), Some(&docker));
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            ["run.0", "ports.add.10000", "ports.add.2000", "dns.qps"]
        );
        assert_eq!(rows[0].ratio, Some(0.25));
        assert!(rows[1].docker.is_none() && rows[2].berth.is_none());
        let text = table(&rows, true);
        assert!(text.contains("0.25x"), "{text}");
    }
}
