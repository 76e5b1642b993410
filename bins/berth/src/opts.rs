//! docker's flag value types (`cli/opts`, pflag slices) with their exact
//! parsing rules, so flags mean the same thing to berth as to docker.

use std::collections::HashMap;

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
