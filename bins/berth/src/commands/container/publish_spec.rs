//! `-p/--publish` and `--expose`, parsed as docker 28.2 parses them
//! (go-connections v0.5 `nat.ParsePortSpecs`, `ParsePortRange`,
//! `SplitProtoPort`, and the CLI's `convertToStandardNotation`), with the
//! same results and error texts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A host side of a published port: address and port (range), either may
/// be empty (any address, an ephemeral port).
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub host_ip: String,
    pub host_port: String,
}

/// The exposed ports (`80/tcp`) and the bindings per port, ordered by key
/// as Go marshals its maps.
#[derive(Debug, Default, PartialEq)]
pub struct Ports {
    pub exposed: BTreeSet<String>,
    pub bindings: BTreeMap<String, Vec<Binding>>,
}

/// `strconv.ParseUint(s, 10, 16)` and its error text.
fn parse_u16(s: &str) -> Result<u64, String> {
    let invalid = || format!("strconv.ParseUint: parsing {s:?}: invalid syntax");
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match s.parse::<u64>() {
        Ok(n) if n <= u64::from(u16::MAX) => Ok(n),
        _ => Err(format!(
            "strconv.ParseUint: parsing {s:?}: value out of range"
        )),
    }
}

/// `nat.ParsePortRange`: `80` or `8000-9000`. Only the first two parts of
/// `a-b-c` count, as in docker.
pub fn parse_port_range(ports: &str) -> Result<(u64, u64), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".to_string());
    }
    let mut parts = ports.split('-');
    let start = parse_u16(parts.next().unwrap_or_default())?;
    let Some(end) = parts.next() else {
        return Ok((start, start));
    };
    let end = parse_u16(end)?;
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

/// `nat.SplitProtoPort`: `80/udp` → (`udp`, `80`); no or an empty proto
/// is tcp; an empty port is nothing at all.
fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    match parts.get(1) {
        None | Some(&"") => ("tcp".to_string(), parts[0].to_string()),
        Some(proto) => (proto.to_string(), parts[0].to_string()),
    }
}

/// `nat.splitParts`: `[ip:]host:container`, where the IP may itself hold
/// colons (IPv6).
fn split_parts(raw: &str) -> (String, String, String) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    match n {
        1 => (String::new(), String::new(), parts[0].to_string()),
        2 => (String::new(), parts[0].to_string(), parts[1].to_string()),
        _ => (
            parts[..n - 2].join(":"),
            parts[n - 2].to_string(),
            parts[n - 1].to_string(),
        ),
    }
}

/// Go's `net.SplitHostPort(ip + ":")` for a bracketed address: the text
/// inside the brackets, or Go's error.
fn strip_brackets(ip: &str) -> Result<String, String> {
    let hostport = format!("{ip}:");
    let Some(close) = hostport.find(']') else {
        return Err(format!("address {hostport}: missing ']' in address"));
    };
    let rest = &hostport[close + 1..];
    if !rest.starts_with(':') {
        return Err(format!("address {hostport}: missing port in address"));
    }
    if rest[1..].contains(':') {
        return Err(format!("address {hostport}: too many colons in address"));
    }
    let host = &hostport[1..close];
    if host.contains('[') || host.contains(']') {
        return Err(format!("address {hostport}: unexpected '[' in address"));
    }
    Ok(host.to_string())
}

/// `nat.ParsePortSpec`: one `-p` value into (port, binding) pairs.
fn parse_port_spec(raw: &str) -> Result<Vec<(String, Binding)>, String> {
    let (mut ip, host_port, container) = split_parts(raw);
    let (proto, container) = split_proto_port(&container);
    if ip.starts_with('[') {
        ip = strip_brackets(&ip).map_err(|e| format!("invalid IP address {ip}: {e}"))?;
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) =
        parse_port_range(&container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let (host_start, host_end) = if host_port.is_empty() {
        (0, 0)
    } else {
        parse_port_range(&host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?
    };
    // A host range with a single container port is the range to allocate
    // from; otherwise both sides must be the same length.
    if !host_port.is_empty() && end - start != host_end - host_start && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host_port}"
        ));
    }
    let lower = proto.to_lowercase();
    if !matches!(lower.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let mut host = if host_port.is_empty() {
            String::new()
        } else {
            (host_start + i).to_string()
        };
        if start == end && host_start != host_end {
            host = format!("{host}-{host_end}");
        }
        out.push((
            format!("{}/{lower}", start + i),
            Binding {
                host_ip: ip.clone(),
                host_port: host,
            },
        ));
    }
    Ok(out)
}

/// The CLI's `convertToStandardNotation`: the long syntax
/// `published=8080,target=80[,protocol=udp]` as `8080:80/udp`.
fn standard_notation(publish: &str) -> Result<String, String> {
    if !publish.contains('=') {
        return Ok(publish.to_string());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
    for param in publish.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                ))
            }
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or_default();
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// Every `-p` and `--expose` of a command line.
pub fn parse(publish: &[String], expose: &[String]) -> Result<Ports, String> {
    let mut ports = Ports::default();
    let specs = publish
        .iter()
        .map(|p| standard_notation(p))
        .collect::<Result<Vec<_>, _>>()?;
    for spec in specs {
        for (port, binding) in parse_port_spec(&spec)? {
            ports.exposed.insert(port.clone());
            ports.bindings.entry(port).or_default().push(binding);
        }
    }
    for e in expose {
        if e.contains(':') {
            return Err(format!("invalid port format for --expose: {e}"));
        }
        let (proto, port) = split_proto_port(e);
        let (start, end) = parse_port_range(&port)
            .map_err(|err| format!("invalid range format for --expose: {e}, error: {err}"))?;
        for p in start..=end {
            ports.exposed.insert(format!("{p}/{proto}"));
        }
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> Result<Vec<(String, String, String)>, String> {
        parse(&[spec.to_string()], &[]).map(|p| {
            p.bindings
                .into_iter()
                .flat_map(|(port, list)| {
                    list.into_iter()
                        .map(move |b| (port.clone(), b.host_ip, b.host_port))
                })
                .collect()
        })
    }

    fn ok(spec: &str, want: &[(&str, &str, &str)]) {
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(p, ip, hp)| (p.to_string(), ip.to_string(), hp.to_string()))
            .collect();
        assert_eq!(one(spec), Ok(want), "{spec}");
    }

    fn err(spec: &str, message: &str) {
        assert_eq!(one(spec), Err(message.to_string()), "{spec}");
    }

    #[test]
    fn every_form_docker_accepts() {
        // Each row: what docker 28.2.2 sent as `HostConfig.PortBindings`
        // for `docker create -p SPEC busybox`.
        ok("80", &[("80/tcp", "", "")]);
        ok("8080:80", &[("80/tcp", "", "8080")]);
        ok("127.0.0.1:8080:80", &[("80/tcp", "127.0.0.1", "8080")]);
        ok("127.0.0.1::80", &[("80/tcp", "127.0.0.1", "")]);
        ok("[::1]:8080:80", &[("80/tcp", "::1", "8080")]);
        ok("::1:8080:80", &[("80/tcp", "::1", "8080")]);
        ok("[::1]::80", &[("80/tcp", "::1", "")]);
        ok("[::]:80:80", &[("80/tcp", "::", "80")]);
        ok("[1.2.3.4]:80:80", &[("80/tcp", "1.2.3.4", "80")]);
        ok(
            "8000-8002:80-82",
            &[
                ("80/tcp", "", "8000"),
                ("81/tcp", "", "8001"),
                ("82/tcp", "", "8002"),
            ],
        );
        ok("8000-8010:80", &[("80/tcp", "", "8000-8010")]);
        ok(
            "0.0.0.0:8080-8081:80",
            &[("80/tcp", "0.0.0.0", "8080-8081")],
        );
        ok("8080-8080:80", &[("80/tcp", "", "8080")]);
        ok("80-81", &[("80/tcp", "", ""), ("81/tcp", "", "")]);
        ok("80-81-82", &[("80/tcp", "", ""), ("81/tcp", "", "")]);
        ok(
            "8000-8001:80-81-82",
            &[("80/tcp", "", "8000"), ("81/tcp", "", "8001")],
        );
        ok("80-80", &[("80/tcp", "", "")]);
        ok("80/udp", &[("80/udp", "", "")]);
        ok("80/SCTP", &[("80/sctp", "", "")]);
        ok("80/Udp", &[("80/udp", "", "")]);
        ok("80/", &[("80/tcp", "", "")]);
        ok("80/udp/", &[("80/udp", "", "")]);
        ok("8080:80/tcp/x", &[("80/tcp", "", "8080")]);
        ok("0.0.0.0:80:80/udp", &[("80/udp", "0.0.0.0", "80")]);
        ok(":80", &[("80/tcp", "", "")]);
        ok("::80", &[("80/tcp", "", "")]);
        ok("0:80", &[("80/tcp", "", "0")]);
        ok("080", &[("80/tcp", "", "")]);
        ok("0", &[("0/tcp", "", "")]);
        ok("65535", &[("65535/tcp", "", "")]);
        ok("published=8080,target=80", &[("80/tcp", "", "8080")]);
        ok(
            "published=8080,target=80,protocol=udp",
            &[("80/udp", "", "8080")],
        );
        ok("target=80", &[("80/tcp", "", "")]);
    }

    #[test]
    fn every_refusal_in_dockers_words() {
        // docker 28.2.2 printed `docker: <this>` for each.
        err("80/foo", "invalid proto: foo");
        err("80/FOO", "invalid proto: FOO");
        err("", "no port specified: <empty>");
        err("8080:", "no port specified: 8080:<empty>");
        err("/udp", "no port specified: /udp<empty>");
        err("1.2.3.4::", "no port specified: 1.2.3.4::<empty>");
        err("abc", "invalid containerPort: abc");
        err("8080:abc", "invalid containerPort: abc");
        err("abc/foo", "invalid containerPort: abc");
        err("80-70", "invalid containerPort: 80-70");
        err("70000", "invalid containerPort: 70000");
        err("65536", "invalid containerPort: 65536");
        err("80-", "invalid containerPort: 80-");
        err("-80", "invalid containerPort: -80");
        err("-", "invalid containerPort: -");
        err("1.2.3:80:80", "invalid IP address: 1.2.3");
        err("a:b:c:d", "invalid IP address: a:b");
        err(":::80", "invalid IP address: :");
        err("1:2:3:4:5:80", "invalid IP address: 1:2:3:4");
        err("fe80::1%eth0:80:80", "invalid IP address: fe80::1%eth0");
        err(
            "[::1",
            "invalid IP address [: address [:: missing ']' in address",
        );
        err(
            "[::1]:80",
            "invalid IP address [:: address [::: missing ']' in address",
        );
        err(
            "[::1]x:80:80",
            "invalid IP address [::1]x: address [::1]x:: missing port in address",
        );
        err("1.2.3.4:80", "invalid hostPort: 1.2.3.4");
        err("x:80/foo", "invalid hostPort: x");
        err("999999:80", "invalid hostPort: 999999");
        err("8081-8080:80", "invalid hostPort: 8081-8080");
        err(
            "8000-8002:80-90",
            "invalid ranges specified for container and host Ports: 80-90 and 8000-8002",
        );
        err(
            "8000-8002:80-90/foo",
            "invalid ranges specified for container and host Ports: 80-90 and 8000-8002",
        );
        err(
            "8080:80-81",
            "invalid ranges specified for container and host Ports: 80-81 and 8080",
        );
        err(
            "target=80,x",
            "invalid publish opts format (should be name=value but got 'x')",
        );
    }

    #[test]
    fn expose_like_docker() {
        let exposed = |e: &[&str]| {
            let e: Vec<String> = e.iter().map(|s| s.to_string()).collect();
            parse(&[], &e).map(|p| p.exposed.into_iter().collect::<Vec<_>>())
        };
        assert_eq!(
            exposed(&["80", "80-82/udp", "9000/foo", "0", "80/"]),
            Ok(vec![
                "0/tcp".to_string(),
                "80/tcp".into(),
                "80/udp".into(),
                "81/udp".into(),
                "82/udp".into(),
                "9000/foo".into()
            ])
        );
        assert_eq!(
            exposed(&["1:2"]),
            Err("invalid port format for --expose: 1:2".to_string())
        );
        assert_eq!(
            exposed(&["80-70"]),
            Err("invalid range format for --expose: 80-70, error: invalid range specified for port: 80-70".to_string())
        );
        assert_eq!(
            exposed(&["abc"]),
            Err("invalid range format for --expose: abc, error: strconv.ParseUint: parsing \"abc\": invalid syntax".to_string())
        );
        assert_eq!(
            exposed(&["70000"]),
            Err("invalid range format for --expose: 70000, error: strconv.ParseUint: parsing \"70000\": value out of range".to_string())
        );
        assert_eq!(
            exposed(&["-"]),
            Err("invalid range format for --expose: -, error: strconv.ParseUint: parsing \"\": invalid syntax".to_string())
        );
        assert_eq!(
            exposed(&[""]),
            Err(
                "invalid range format for --expose: , error: empty string specified for ports"
                    .to_string()
            )
        );
    }

    #[test]
    fn published_ports_are_exposed_and_accumulate() {
        let p = parse(
            &["80".into(), "127.0.0.1:8080:80".into(), "53/udp".into()],
            &["9000".into()],
        )
        .unwrap_or_default();
        assert_eq!(
            p.exposed.iter().collect::<Vec<_>>(),
            vec!["53/udp", "80/tcp", "9000/tcp"]
        );
        assert_eq!(p.bindings["80/tcp"].len(), 2);
        assert_eq!(p.bindings["80/tcp"][1].host_ip, "127.0.0.1");
    }
}
