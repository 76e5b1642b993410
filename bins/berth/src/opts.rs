//! docker's flag value types (`cli/opts`, pflag slices) with their exact
//! parsing rules, so flags mean the same thing to berth as to docker.

use std::collections::HashMap;
use std::net::IpAddr;

/// One `-f/--filter` value. An empty flag value is accepted and ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterArg(Option<(String, String)>);

/// docker's `FilterOpt.Set`: `name=value`; the name is trimmed and
/// lower-cased, the value trimmed.
pub fn parse_filter(s: &str) -> Result<FilterArg, String> {
    if s.is_empty() {
        return Ok(FilterArg(None));
    }
    let Some((name, value)) = s.split_once('=') else {
        return Err("bad format of filter (expected name=value)".to_string());
    };
    Ok(FilterArg(Some((
        name.trim().to_lowercase(),
        value.trim().to_string(),
    ))))
}

/// The API's `filters` document: name → values, each value once (docker's
/// `filters.Args` is a set), in the order given.
pub fn filters(args: &[FilterArg]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in args.iter().filter_map(|a| a.0.as_ref()) {
        let values = out.entry(name.clone()).or_default();
        if !values.contains(value) {
            values.push(value.clone());
        }
    }
    out
}

/// docker's `filters.ToJSON` as its client sends it for containers and
/// images: `{"name":{"web":true}}`, names and values sorted; `None` when
/// there are no filters (the parameter is then omitted).
pub fn filters_json(args: &[FilterArg]) -> Option<String> {
    let mut out = serde_json::Map::new();
    for (name, values) in filters(args) {
        let set: serde_json::Map<String, serde_json::Value> = values
            .into_iter()
            .map(|v| (v, serde_json::Value::Bool(true)))
            .collect();
        out.insert(name, serde_json::Value::Object(set));
    }
    (!out.is_empty()).then(|| serde_json::Value::Object(out).to_string())
}

/// docker's `ValidateLabel`: the key (before `=`, leading blanks ignored)
/// must be non-empty and free of blanks; the value is kept as given.
pub fn parse_label(s: &str) -> Result<String, String> {
    let key = s.split_once('=').map_or(s, |(k, _)| k);
    let key = key.trim_start_matches([' ', '\t']);
    if key.is_empty() {
        return Err(format!("invalid label '{s}': empty name"));
    }
    if key.contains([' ', '\t']) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(s.to_string())
}

/// docker's `MapOpts` / `ConvertKVStringsToMap`: `k=v` → (k, v), a bare
/// `k` → (k, ""). A repeated key keeps its first position and last value.
pub fn kv_pairs(values: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for v in values {
        let (k, val) = v.split_once('=').unwrap_or((v.as_str(), ""));
        match out.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = val.to_string(),
            None => out.push((k.to_string(), val.to_string())),
        }
    }
    out
}

pub fn kv_map(values: &[String]) -> HashMap<String, String> {
    kv_pairs(values).into_iter().collect()
}

/// pflag's `StringSlice`: every flag value is a comma-separated list, and
/// an empty value adds nothing.
pub fn csv_values(values: &[String]) -> Vec<String> {
    values
        .iter()
        .filter(|v| !v.is_empty())
        .flat_map(|v| v.split(',').map(str::to_string))
        .collect()
}

/// docker's `ValidateEnv`: `KEY=value` as given; a bare `KEY` takes its
/// value from berth's own environment when set there.
pub fn validate_env(val: &str) -> Result<String, String> {
    let (key, has_value) = match val.split_once('=') {
        Some((k, _)) => (k, true),
        None => (val, false),
    };
    if key.is_empty() {
        return Err(format!("invalid environment variable: {val}"));
    }
    if has_value {
        return Ok(val.to_string());
    }
    Ok(match std::env::var(key) {
        Ok(v) => format!("{key}={v}"),
        Err(_) => val.to_string(),
    })
}

/// docker's `ValidateIPAddress`: the address in Go's canonical form.
pub fn validate_ip(val: &str) -> Result<String, String> {
    match val.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => Ok(v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string())),
        Ok(ip) => Ok(ip.to_string()),
        Err(_) => Err(format!("IP address is not correctly formatted: {val}")),
    }
}

/// docker's `ValidateExtraHost`: `name:ip`, `name=ip`, `name:[v6]` or
/// `name:host-gateway`, sent as `name:ip`.
pub fn validate_extra_host(val: &str) -> Result<String, String> {
    let split = val.split_once('=').or_else(|| val.split_once(':'));
    let bad = || format!("bad format for add-host: {val:?}");
    let Some((name, addr)) = split else {
        return Err(bad());
    };
    if name.is_empty() || name.contains(':') {
        return Err(bad());
    }
    let mut addr = addr;
    if addr != "host-gateway" {
        if addr.len() > 2 && addr.starts_with('[') && addr.ends_with(']') {
            addr = &addr[1..addr.len() - 1];
        }
        if validate_ip(addr).is_err() {
            return Err(format!("invalid IP address in add-host: {addr:?}"));
        }
    }
    Ok(format!("{name}:{addr}"))
}

/// docker's `ValidateDNSSearch`: `.` or a domain name (letters, digits
/// and inner hyphens per label, an optional final dot dropped).
pub fn validate_dns_search(val: &str) -> Result<String, String> {
    let val = val.trim_matches(' ');
    if val == "." {
        return Ok(val.to_string());
    }
    let invalid = || format!("{val} is not a valid domain");
    if !val.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(invalid());
    }
    let domain = val.trim_end();
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    if domain.split('.').all(label_ok) && domain.len() < 255 {
        Ok(domain.to_string())
    } else {
        Err(invalid())
    }
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx:…`, `xx-xx-…` or
/// `xxxx.xxxx.…`.
pub fn is_mac(val: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let octets = |sep: char| {
        let parts: Vec<&str> = val.split(sep).collect();
        matches!(parts.len(), 6 | 8 | 20) && parts.iter().all(|p| hex(p, 2))
    };
    let dotted = {
        let parts: Vec<&str> = val.split('.').collect();
        matches!(parts.len(), 3 | 4 | 10) && parts.iter().all(|p| hex(p, 4))
    };
    octets(':') || octets('-') || dotted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filters_like_docker() {
        let args: Vec<FilterArg> = [
            " Driver = bridge ",
            "name=a",
            "name=b",
            "name=a",
            "label=a=b",
            "",
        ]
        .iter()
        .filter_map(|s| parse_filter(s).ok())
        .collect();
        let f = filters(&args);
        assert_eq!(f.len(), 3);
        assert_eq!(f.get("driver"), Some(&strings(&["bridge"])));
        assert_eq!(f.get("name"), Some(&strings(&["a", "b"])));
        assert_eq!(f.get("label"), Some(&strings(&["a=b"])));
        assert_eq!(
            filters_json(&args).as_deref(),
            Some(r#"{"driver":{"bridge":true},"label":{"a=b":true},"name":{"a":true,"b":true}}"#)
        );
        assert_eq!(filters_json(&[]), None);
        assert_eq!(
            parse_filter("foo"),
            Err("bad format of filter (expected name=value)".to_string())
        );
    }

    #[test]
    fn labels_like_docker() {
        // Messages from docker 28.2.2's `network create --label …`.
        assert_eq!(
            parse_label(""),
            Err("invalid label '': empty name".to_string())
        );
        assert_eq!(
            parse_label(" =v"),
            Err("invalid label ' =v': empty name".to_string())
        );
        assert_eq!(
            parse_label("a b=c"),
            Err("label 'a b' contains whitespaces".to_string())
        );
        assert_eq!(
            parse_label(" a =c"),
            Err("label 'a ' contains whitespaces".to_string())
        );
        assert_eq!(parse_label("novalue"), Ok("novalue".to_string()));
    }

    #[test]
    fn network_values_like_docker() {
        // Texts from docker 28.2.2's `create --dns x`, `--add-host foo`, …
        assert_eq!(validate_ip(" 1.1.1.1"), Ok("1.1.1.1".to_string()));
        assert_eq!(validate_ip("0:0::1"), Ok("::1".to_string()));
        assert_eq!(validate_ip("::ffff:1.2.3.4"), Ok("1.2.3.4".to_string()));
        assert_eq!(
            validate_ip("x"),
            Err("IP address is not correctly formatted: x".to_string())
        );
        assert_eq!(validate_extra_host("h:1.2.3.4"), Ok("h:1.2.3.4".into()));
        assert_eq!(validate_extra_host("h=::1"), Ok("h:::1".into()));
        assert_eq!(validate_extra_host("h:[::1]"), Ok("h:::1".into()));
        assert_eq!(
            validate_extra_host("h:host-gateway"),
            Ok("h:host-gateway".into())
        );
        assert_eq!(
            validate_extra_host("foo"),
            Err(r#"bad format for add-host: "foo""#.to_string())
        );
        assert_eq!(
            validate_extra_host("h:nope"),
            Err(r#"invalid IP address in add-host: "nope""#.to_string())
        );
        assert_eq!(
            validate_dns_search("example.com."),
            Ok("example.com".into())
        );
        assert_eq!(validate_dns_search("."), Ok(".".into()));
        assert_eq!(
            validate_dns_search("-bad"),
            Err("-bad is not a valid domain".to_string())
        );
        assert!(validate_dns_search("123").is_err());
        assert!(is_mac("02:42:AC:11:00:02"));
        assert!(is_mac("02-42-ac-11-00-02"));
        assert!(is_mac("0242.ac11.0002"));
        assert!(!is_mac("zz"));
        assert!(!is_mac("02:42:ac:11:00"));
    }

    #[test]
    fn env_values_like_docker() {
        assert_eq!(validate_env("A=1"), Ok("A=1".to_string()));
        assert_eq!(
            validate_env("=x"),
            Err("invalid environment variable: =x".to_string())
        );
        assert_eq!(
            validate_env("BERTH_SURELY_UNSET_VAR"),
            Ok("BERTH_SURELY_UNSET_VAR".to_string())
        );
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(validate_env("PATH"), Ok(format!("PATH={path}")));
    }

    #[test]
    fn maps_and_lists() {
        let pairs = kv_pairs(&strings(&["a=1", "flag", "b=x=y", "a=2"]));
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "2".into()),
                ("flag".into(), "".into()),
                ("b".into(), "x=y".into())
            ]
        );
        assert_eq!(
            csv_values(&strings(&["10.0.0.0/24,10.1.0.0/24", "", "x"])),
            strings(&["10.0.0.0/24", "10.1.0.0/24", "x"])
        );
    }
}
