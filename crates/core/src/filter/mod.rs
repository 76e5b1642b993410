//! Docker's `filters` for `ls`/`ps`/`images` and the prunes, parsed once
//! into typed predicates. Unknown keys and bad values get Docker's errors.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::network::Network;

mod container;
mod image;

pub use container::{ContainerFacts, ContainerFilter};
pub use image::{ImageFacts, ImageFilter, ImagePrune};

/// The filters as they arrive from the API: key to values.
pub type RawFilters = BTreeMap<String, Vec<String>>;

/// `label=key` or `label=key=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelMatch {
    key: String,
    value: Option<String>,
}

impl LabelMatch {
    pub(crate) fn parse(s: &str) -> Self {
        match s.split_once('=') {
            Some((k, v)) => LabelMatch {
                key: k.to_owned(),
                value: Some(v.to_owned()),
            },
            None => LabelMatch {
                key: s.to_owned(),
                value: None,
            },
        }
    }

    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match (labels.get(&self.key), &self.value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(have), Some(want)) => have == want,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkType {
    Builtin,
    Custom,
}

/// `network ls --filter`. Within a key, any value may match; all keys must.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    names: Vec<String>,
    ids: Vec<String>,
    drivers: Vec<String>,
    labels: Vec<LabelMatch>,
    types: Vec<NetworkType>,
    dangling: Option<bool>,
    scopes: Vec<String>,
}

/// Docker's `filters.Match`: the value is a regular expression searched in
/// the text; one that does not compile matches nothing.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
}

pub(crate) fn check_keys(raw: &RawFilters, allowed: &[&str]) -> Result<()> {
    match raw.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(Error::InvalidParameter(format!("invalid filter '{k}'"))),
        None => Ok(()),
    }
}

pub(crate) fn values<'a>(raw: &'a RawFilters, key: &str) -> &'a [String] {
    raw.get(key).map(Vec::as_slice).unwrap_or_default()
}

pub(crate) fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::InvalidParameter(format!(
            "invalid filter '{key}={v}'"
        ))),
    }
}

impl ListFilter {
    pub fn parse(raw: &RawFilters) -> Result<Self> {
        check_keys(
            raw,
            &["name", "id", "driver", "label", "type", "dangling", "scope"],
        )?;
        let types = values(raw, "type")
            .iter()
            .map(|t| match t.as_str() {
                "builtin" => Ok(NetworkType::Builtin),
                "custom" => Ok(NetworkType::Custom),
                other => Err(Error::InvalidParameter(format!(
                    "invalid filter: 'type'='{other}'"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let dangling = match values(raw, "dangling") {
            [] => None,
            [v] => Some(parse_bool("dangling", v)?),
            _ => {
                return Err(Error::InvalidParameter(
                    "got more than one value for filter key \"dangling\"".to_owned(),
                ))
            }
        };
        for scope in values(raw, "scope") {
            if !matches!(scope.as_str(), "local" | "swarm" | "global") {
                return Err(Error::InvalidParameter(format!(
                    "invalid filter: 'scope'='{scope}'"
                )));
            }
        }
        Ok(ListFilter {
            names: values(raw, "name").to_vec(),
            ids: values(raw, "id").to_vec(),
            drivers: values(raw, "driver").to_vec(),
            labels: values(raw, "label")
                .iter()
                .map(|l| LabelMatch::parse(l))
                .collect(),
            types,
            dangling,
            scopes: values(raw, "scope").to_vec(),
        })
    }

    /// `in_use` says whether a network has endpoints (for `dangling`).
    pub fn matches(&self, n: &Network, in_use: bool) -> bool {
        let any = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| f(v))
        };
        // Docker matches `name` and `id` as substrings (regexp match of a literal).
        any(&self.names, &|v| matches(v, n.name.as_str()))
            && any(&self.ids, &|v| matches(v, n.id.as_str()))
            && any(&self.drivers, &|v| n.driver.as_str() == v)
            && any(&self.scopes, &|v| n.scope() == v)
            && self.labels.iter().all(|l| l.matches(&n.labels))
            && (self.types.is_empty()
                || self.types.iter().any(|t| match t {
                    NetworkType::Builtin => n.is_predefined(),
                    NetworkType::Custom => !n.is_predefined(),
                }))
            && match self.dangling {
                None => true,
                Some(true) => !n.is_predefined() && !in_use,
                Some(false) => n.is_predefined() || in_use,
            }
    }
}

/// `network prune --filter`: `until`, `label`, `label!`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneFilter {
    until: Option<SystemTime>,
    labels: Vec<LabelMatch>,
    not_labels: Vec<LabelMatch>,
}

impl PruneFilter {
    pub fn parse(raw: &RawFilters, now: SystemTime) -> Result<Self> {
        check_keys(raw, &["until", "label", "label!"])?;
        let until = match values(raw, "until") {
            [] => None,
            [v] => Some(parse_until(v, now)?),
            _ => {
                return Err(Error::InvalidParameter(
                    "more than one until filter specified".to_owned(),
                ))
            }
        };
        Ok(PruneFilter {
            until,
            labels: values(raw, "label")
                .iter()
                .map(|l| LabelMatch::parse(l))
                .collect(),
            not_labels: values(raw, "label!")
                .iter()
                .map(|l| LabelMatch::parse(l))
                .collect(),
        })
    }

    pub fn matches(&self, n: &Network) -> bool {
        self.admits(n.created, &n.labels)
    }

    /// Whether an object created at `created` with `labels` is pruned.
    pub fn admits(&self, created: SystemTime, labels: &BTreeMap<String, String>) -> bool {
        self.until.is_none_or(|until| created < until)
            && self.labels.iter().all(|l| l.matches(labels))
            && !self.not_labels.iter().any(|l| l.matches(labels))
    }
}

/// Docker's `until`: a Go duration before now (`24h`, `10m30s`), a Unix
/// timestamp (`1700000000` or with fraction) or an RFC 3339 date.
fn parse_until(v: &str, now: SystemTime) -> Result<SystemTime> {
    let bad = || {
        Error::InvalidParameter(format!(
            "failed to parse value as time or duration: \"{v}\""
        ))
    };
    if let Ok(d) = humantime::parse_duration(v) {
        return now.checked_sub(d).ok_or_else(bad);
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_rfc3339_weak(v).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn raw(pairs: &[(&str, &str)]) -> RawFilters {
        let mut m = RawFilters::new();
        for (k, v) in pairs {
            m.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        m
    }

    #[test]
    fn unknown_key_is_docker_error() {
        let e = ListFilter::parse(&raw(&[("colour", "red")])).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'colour'");
    }

    #[test]
    fn bad_type_is_refused() {
        let e = ListFilter::parse(&raw(&[("type", "weird")])).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter: 'type'='weird'");
    }

    #[test]
    fn until_accepts_durations_timestamps_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_until("10s", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(999_990)
        );
        assert_eq!(
            parse_until("500", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(500)
        );
        assert!(parse_until("1970-01-02T00:00:00Z", now).is_ok());
        assert!(parse_until("yesterday-ish", now).is_err());
    }

    #[test]
    fn name_and_id_filters_are_regular_expressions() {
        assert!(matches("web", "/web-1"));
        assert!(matches("^/web$", "/web"));
        assert!(!matches("^/web$", "/web-1"));
        assert!(matches("^abc", "abcdef"));
        assert!(!matches("(", "/web"), "an invalid pattern matches nothing");
    }

    #[test]
    fn labels_match_by_key_or_key_value() {
        let labels = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
        assert!(LabelMatch::parse("env").matches(&labels));
        assert!(LabelMatch::parse("env=prod").matches(&labels));
        assert!(!LabelMatch::parse("env=dev").matches(&labels));
        assert!(!LabelMatch::parse("team").matches(&labels));
    }

    #[test]
    fn container_prune_filter_reads_created_and_labels() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let labels = BTreeMap::from([("keep".to_owned(), "yes".to_owned())]);
        let created = UNIX_EPOCH + Duration::from_secs(100);
        let f = PruneFilter::parse(&raw(&[("label!", "keep")]), now).unwrap();
        assert!(!f.admits(created, &labels));
        assert!(f.admits(created, &BTreeMap::new()));
        let f = PruneFilter::parse(&raw(&[("until", "10s")]), now).unwrap();
        assert!(f.admits(created, &labels));
        assert!(!f.admits(now, &labels));
    }
}
