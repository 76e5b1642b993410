//! Docker's `filters` for `ls`/`ps`/`images` and the prunes, parsed once
//! into typed predicates. Unknown keys and bad values get Docker's errors.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::container::{Container, HealthStatus, Proto, Status};
use crate::error::{Error, Result};
use crate::network::Network;

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

/// `ps --filter`: name, id, status, network, label, volume, ancestor,
/// exited, health, before, since, publish, expose, is-task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    names: Vec<String>,
    ids: Vec<String>,
    /// `None`: no status filter; `Some(empty)`: only states berth never has.
    statuses: Option<Vec<Status>>,
    /// `status=restarting`: waiting out its restart policy's back-off.
    restarting: bool,
    /// `status=paused`.
    paused: bool,
    networks: Vec<String>,
    labels: Vec<LabelMatch>,
    /// A volume's name or a mount's destination.
    volumes: Vec<String>,
    /// Image references, as given; [`ContainerFilter::ancestors`] lists
    /// them for the caller to resolve to image ids.
    ancestors: Vec<String>,
    exit_codes: Vec<i64>,
    /// `Some(None)`: containers without a healthcheck (`health=none`).
    health: Option<Vec<Option<HealthStatus>>>,
    /// Container references, resolved by the caller to creation times.
    before: Option<String>,
    since: Option<String>,
    publish: Vec<PortFilter>,
    expose: Vec<PortFilter>,
    /// `is-task=true`: swarm tasks, which berth never runs.
    tasks_only: bool,
}

/// A `publish`/`expose` value: `80`, `80/udp`, `8000-8080/tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PortFilter {
    proto: Proto,
    first: u16,
    last: u16,
}

impl PortFilter {
    fn parse(key: &str, value: &str) -> Result<Self> {
        if value.contains(':') {
            return Err(Error::InvalidParameter(format!(
                "filter for '{key}' should not contain ':': {value}"
            )));
        }
        let (range, proto) = value.split_once('/').unwrap_or((value, "tcp"));
        let proto = Proto::parse(proto)
            .ok_or_else(|| Error::InvalidParameter(format!("invalid filter '{key}={value}'")))?;
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| Error::InvalidParameter(format!("invalid port: {p}")))
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(range)?, port(range)?),
        };
        if last < first {
            return Err(Error::InvalidParameter(format!(
                "invalid range specified for port: {range}"
            )));
        }
        Ok(PortFilter { proto, first, last })
    }

    fn covers(&self, proto: Proto, port: u16) -> bool {
        self.proto == proto && (self.first..=self.last).contains(&port)
    }
}

/// What a [`ContainerFilter`] needs that is not in the container: the
/// model's networks, health in memory and the references it resolved.
#[derive(Clone, Debug, Default)]
pub struct ContainerFacts<'a> {
    pub networks: &'a [Network],
    pub health: Option<HealthStatus>,
    /// The image ids `ancestor` values name.
    pub ancestor_ids: &'a [String],
    /// When the `before` and `since` containers were created.
    pub before: Option<SystemTime>,
    pub since: Option<SystemTime>,
}

impl ContainerFilter {
    pub fn parse(raw: &RawFilters) -> Result<Self> {
        check_keys(
            raw,
            &[
                "name", "id", "status", "network", "label", "volume", "ancestor", "exited",
                "health", "before", "since", "publish", "expose", "is-task",
            ],
        )?;
        let mut statuses = None;
        let mut restarting = false;
        let mut paused = false;
        for value in values(raw, "status") {
            let list: &mut Vec<Status> = statuses.get_or_insert_with(Vec::new);
            match value.as_str() {
                "created" => list.push(Status::Created),
                "running" => list.push(Status::Running),
                "exited" => list.push(Status::Exited),
                "removing" => list.push(Status::Removing),
                "restarting" => restarting = true,
                "paused" => paused = true,
                // Docker's, but never a state of berth's containers.
                "dead" => {}
                other => {
                    return Err(Error::InvalidParameter(format!(
                        "invalid filter 'status={other}'"
                    )))
                }
            }
        }
        let exit_codes = values(raw, "exited")
            .iter()
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    Error::InvalidParameter(format!(
                        "strconv.Atoi: parsing \"{v}\": invalid syntax"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let health = match values(raw, "health") {
            [] => None,
            list => Some(
                list.iter()
                    .map(|v| match v.as_str() {
                        "starting" => Ok(Some(HealthStatus::Starting)),
                        "healthy" => Ok(Some(HealthStatus::Healthy)),
                        "unhealthy" => Ok(Some(HealthStatus::Unhealthy)),
                        "none" => Ok(None),
                        other => Err(Error::InvalidParameter(format!(
                            "Unrecognised filter value for health: {other}"
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let ports = |key: &str| {
            values(raw, key)
                .iter()
                .map(|v| PortFilter::parse(key, v))
                .collect::<Result<Vec<_>>>()
        };
        let tasks_only = match values(raw, "is-task") {
            [] => false,
            [v] => parse_bool("is-task", v)?,
            _ => {
                return Err(Error::InvalidParameter(
                    "got more than one value for filter key \"is-task\"".to_owned(),
                ))
            }
        };
        let last = |key: &str| values(raw, key).last().cloned();
        Ok(ContainerFilter {
            names: values(raw, "name").to_vec(),
            ids: values(raw, "id").to_vec(),
            statuses,
            restarting,
            paused,
            networks: values(raw, "network").to_vec(),
            labels: values(raw, "label")
                .iter()
                .map(|l| LabelMatch::parse(l))
                .collect(),
            volumes: values(raw, "volume").to_vec(),
            ancestors: values(raw, "ancestor").to_vec(),
            exit_codes,
            health,
            before: last("before"),
            since: last("since"),
            publish: ports("publish")?,
            expose: ports("expose")?,
            tasks_only,
        })
    }

    /// Docker applies status filters over all containers, not only the
    /// running ones.
    pub fn lists_stopped(&self) -> bool {
        self.statuses.is_some()
    }

    /// The image references of `ancestor`, to resolve to ids.
    pub fn ancestors(&self) -> &[String] {
        &self.ancestors
    }

    /// The container references of `before` and `since`.
    pub fn before(&self) -> Option<&str> {
        self.before.as_deref()
    }

    pub fn since(&self) -> Option<&str> {
        self.since.as_deref()
    }

    pub fn matches(&self, c: &Container, facts: &ContainerFacts<'_>) -> bool {
        let any = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| f(v))
        };
        let on_network = |v: &str| {
            c.attachments.iter().any(|a| {
                a.network.as_str().starts_with(v)
                    || facts
                        .networks
                        .iter()
                        .any(|n| n.id == a.network && n.name.as_str() == v)
            })
        };
        // Docker matches against the name with its leading slash, so both
        // `web` and `^/web$` find /web.
        let name = format!("/{}", c.name);
        any(&self.names, &|v| matches(v, &name))
            && any(&self.ids, &|v| matches(v, c.id.as_str()))
            && self.statuses.as_ref().is_none_or(|s| {
                if c.state.restarting {
                    self.restarting
                } else if c.state.paused {
                    self.paused
                } else {
                    s.contains(&c.state.status)
                }
            })
            && any(&self.networks, &on_network)
            && self.labels.iter().all(|l| l.matches(&c.labels))
            && any(&self.volumes, &|v| {
                c.storage
                    .mounts
                    .iter()
                    .any(|m| (!m.name.is_empty() && m.name == v) || m.destination == v)
            })
            && (self.ancestors.is_empty() || facts.ancestor_ids.contains(&c.image_id))
            && (self.exit_codes.is_empty()
                || (c.state.status == Status::Exited
                    && c.state.started_at.is_some()
                    && self.exit_codes.contains(&c.state.exit_code)))
            && self
                .health
                .as_ref()
                .is_none_or(|wanted| wanted.contains(&facts.health))
            && facts.before.is_none_or(|t| c.created < t)
            && facts.since.is_none_or(|t| c.created > t)
            && ports_match(
                &self.publish,
                c.ports.iter().map(|p| (p.proto, p.container_port)),
            )
            && ports_match(
                &self.expose,
                c.exposed
                    .iter()
                    .map(|&(port, proto)| (proto, port))
                    .chain(c.ports.iter().map(|p| (p.proto, p.container_port))),
            )
            && !self.tasks_only
    }
}

/// Whether any of `ports` falls in one of `filters` (none: all pass).
fn ports_match(filters: &[PortFilter], mut ports: impl Iterator<Item = (Proto, u16)>) -> bool {
    filters.is_empty() || ports.any(|(proto, port)| filters.iter().any(|f| f.covers(proto, port)))
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

/// `image prune --filter`: `dangling`, `until`, `label`, `label!`. Without
/// `dangling=false` (`-a`) only untagged images go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImagePrune {
    dangling_only: bool,
    common: PruneFilter,
}

/// What image filters read of an image.
#[derive(Clone, Copy, Debug)]
pub struct ImageFacts<'a> {
    /// `repo:tag` names; empty for a dangling image.
    pub repo_tags: &'a [String],
    pub created: SystemTime,
    pub labels: &'a BTreeMap<String, String>,
}

impl ImagePrune {
    pub fn parse(raw: &RawFilters, now: SystemTime) -> Result<Self> {
        check_keys(raw, &["dangling", "until", "label", "label!"])?;
        let dangling_only = match values(raw, "dangling") {
            [] => true,
            [v] => parse_bool("dangling", v)?,
            _ => {
                return Err(Error::InvalidParameter(
                    "got more than one value for filter key \"dangling\"".to_owned(),
                ))
            }
        };
        let mut rest = raw.clone();
        rest.remove("dangling");
        Ok(ImagePrune {
            dangling_only,
            common: PruneFilter::parse(&rest, now)?,
        })
    }

    /// Whether `image`, which no container uses, is pruned.
    pub fn matches(&self, image: &ImageFacts<'_>) -> bool {
        (!self.dangling_only || image.repo_tags.is_empty())
            && self.common.admits(image.created, image.labels)
    }
}

/// `docker images --filter` (and `docker images REPO[:TAG]`, sent as
/// `reference`): `dangling`, `label`, `before`, `since`, `reference`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageFilter {
    dangling: Option<bool>,
    labels: Vec<LabelMatch>,
    /// Image references, resolved by the caller to creation times.
    before: Option<String>,
    since: Option<String>,
    references: Vec<String>,
}

impl ImageFilter {
    pub fn parse(raw: &RawFilters) -> Result<Self> {
        check_keys(raw, &["dangling", "label", "before", "since", "reference"])?;
        let dangling = match values(raw, "dangling") {
            [] => None,
            [v] => Some(parse_bool("dangling", v)?),
            _ => {
                return Err(Error::InvalidParameter(
                    "got more than one value for filter key \"dangling\"".to_owned(),
                ))
            }
        };
        let last = |key: &str| values(raw, key).last().cloned();
        Ok(ImageFilter {
            dangling,
            labels: values(raw, "label")
                .iter()
                .map(|l| LabelMatch::parse(l))
                .collect(),
            before: last("before"),
            since: last("since"),
            references: values(raw, "reference").to_vec(),
        })
    }

    /// The image references of `before` and `since`.
    pub fn before(&self) -> Option<&str> {
        self.before.as_deref()
    }

    pub fn since(&self) -> Option<&str> {
        self.since.as_deref()
    }

    /// `before`/`since` are the creation times of the images they name.
    pub fn matches(
        &self,
        image: &ImageFacts<'_>,
        before: Option<SystemTime>,
        since: Option<SystemTime>,
    ) -> bool {
        self.dangling
            .is_none_or(|d| d == image.repo_tags.is_empty())
            && self.labels.iter().all(|l| l.matches(image.labels))
            && before.is_none_or(|t| image.created < t)
            && since.is_none_or(|t| image.created > t)
            && (self.references.is_empty()
                || self.references.iter().any(|pattern| {
                    image
                        .repo_tags
                        .iter()
                        .any(|tag| reference_matches(pattern, tag))
                }))
    }
}

/// Docker's `reference` filter: a glob matched against an image's
/// `repo:tag` and against its repository alone.
fn reference_matches(pattern: &str, repo_tag: &str) -> bool {
    let repo = match repo_tag.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => repo_tag,
    };
    glob(pattern.as_bytes(), repo_tag.as_bytes()) || glob(pattern.as_bytes(), repo.as_bytes())
}

/// Go's `path.Match` without character classes: `*` is any run of
/// characters but `/`, `?` one character but `/`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len())
            .take_while(|&i| i == 0 || text[i - 1] != b'/')
            .any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => text
            .split_first()
            .is_some_and(|(c, tail)| *c != b'/' && glob(rest, tail)),
        Some((p, rest)) => text
            .split_first()
            .is_some_and(|(c, tail)| c == p && glob(rest, tail)),
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

    fn raw(pairs: &[(&str, &str)]) -> RawFilters {
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

    fn container(f: impl FnOnce(&mut Container)) -> Container {
        let mut c = crate::container::table::tests::container(7, "web");
        c.created = UNIX_EPOCH + Duration::from_secs(100);
        c.image_id = "sha256:aa".to_owned();
        f(&mut c);
        c
    }

    fn ps(pairs: &[(&str, &str)], c: &Container, facts: &ContainerFacts<'_>) -> bool {
        ContainerFilter::parse(&raw(pairs))
            .unwrap()
            .matches(c, facts)
    }

    #[test]
    fn exited_matches_exit_codes_of_started_containers() {
        let facts = ContainerFacts::default();
        let exited = container(|c| {
            c.state.status = Status::Exited;
            c.state.exit_code = 3;
            c.state.started_at = Some(UNIX_EPOCH);
        });
        assert!(ps(&[("exited", "3")], &exited, &facts));
        assert!(!ps(&[("exited", "0")], &exited, &facts));
        assert!(
            !ps(&[("exited", "0")], &container(|_| {}), &facts),
            "never started"
        );
        let e = ContainerFilter::parse(&raw(&[("exited", "x")])).unwrap_err();
        assert_eq!(e.to_string(), "strconv.Atoi: parsing \"x\": invalid syntax");
    }

    #[test]
    fn health_matches_the_status_in_memory_or_none() {
        let c = container(|_| {});
        let healthy = ContainerFacts {
            health: Some(HealthStatus::Healthy),
            ..Default::default()
        };
        assert!(ps(&[("health", "healthy")], &c, &healthy));
        assert!(!ps(&[("health", "unhealthy")], &c, &healthy));
        assert!(ps(&[("health", "none")], &c, &ContainerFacts::default()));
        assert!(!ps(&[("health", "none")], &c, &healthy));
        let e = ContainerFilter::parse(&raw(&[("health", "great")])).unwrap_err();
        assert_eq!(e.to_string(), "Unrecognised filter value for health: great");
    }

    #[test]
    fn ancestor_before_and_since_use_what_the_caller_resolved() {
        let c = container(|_| {});
        let ids = ["sha256:aa".to_owned()];
        let facts = ContainerFacts {
            ancestor_ids: &ids,
            before: Some(UNIX_EPOCH + Duration::from_secs(200)),
            since: Some(UNIX_EPOCH + Duration::from_secs(50)),
            ..Default::default()
        };
        assert!(ps(&[("ancestor", "busybox")], &c, &facts));
        assert!(!ps(
            &[("ancestor", "other")],
            &c,
            &ContainerFacts::default()
        ));
        assert!(ps(&[("before", "x"), ("since", "y")], &c, &facts));
        let late = ContainerFacts {
            before: Some(UNIX_EPOCH + Duration::from_secs(100)),
            ..Default::default()
        };
        assert!(!ps(&[("before", "x")], &c, &late), "strictly before");
    }

    #[test]
    fn publish_and_expose_match_container_ports_and_ranges() {
        use crate::container::PortBinding;
        let c = container(|c| {
            c.ports.push(PortBinding {
                proto: Proto::Tcp,
                container_port: 8080,
                host_ip: None,
                host_ports: Some((18080, 18080)),
            });
            c.exposed.push((53, Proto::Udp));
        });
        let facts = ContainerFacts::default();
        assert!(ps(&[("publish", "8080")], &c, &facts));
        assert!(ps(&[("publish", "8000-8100/tcp")], &c, &facts));
        assert!(!ps(&[("publish", "8080/udp")], &c, &facts));
        assert!(
            !ps(&[("publish", "53/udp")], &c, &facts),
            "exposed, not published"
        );
        assert!(ps(&[("expose", "53/udp")], &c, &facts));
        assert!(ps(&[("expose", "8080")], &c, &facts));
        let e = ContainerFilter::parse(&raw(&[("publish", "80:80")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "filter for 'publish' should not contain ':': 80:80"
        );
    }

    #[test]
    fn is_task_and_status_without_all() {
        let c = container(|_| {});
        let facts = ContainerFacts::default();
        assert!(
            !ps(&[("is-task", "true")], &c, &facts),
            "berth runs no tasks"
        );
        assert!(ps(&[("is-task", "false")], &c, &facts));
        assert!(ContainerFilter::parse(&raw(&[("is-task", "maybe")])).is_err());
        assert!(ContainerFilter::parse(&raw(&[("status", "exited")]))
            .unwrap()
            .lists_stopped());
        assert!(!ContainerFilter::parse(&raw(&[("name", "web")]))
            .unwrap()
            .lists_stopped());
    }

    fn image<'a>(tags: &'a [String], labels: &'a BTreeMap<String, String>) -> ImageFacts<'a> {
        ImageFacts {
            repo_tags: tags,
            created: UNIX_EPOCH + Duration::from_secs(100),
            labels,
        }
    }

    #[test]
    fn image_prune_takes_dangling_ones_unless_told_all() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let labels = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let tagged = ["busybox:latest".to_owned()];
        let default = ImagePrune::parse(&raw(&[]), now).unwrap();
        assert!(default.matches(&image(&[], &labels)));
        assert!(!default.matches(&image(&tagged, &labels)));
        let all = ImagePrune::parse(&raw(&[("dangling", "false")]), now).unwrap();
        assert!(all.matches(&image(&tagged, &labels)));
        let not_team =
            ImagePrune::parse(&raw(&[("dangling", "false"), ("label!", "team")]), now).unwrap();
        assert!(!not_team.matches(&image(&tagged, &labels)));
        let recent = ImagePrune::parse(&raw(&[("until", "950")]), now).unwrap();
        assert!(recent.matches(&image(&[], &labels)));
        let older = ImagePrune::parse(&raw(&[("until", "50")]), now).unwrap();
        assert!(!older.matches(&image(&[], &labels)));
        assert!(ImagePrune::parse(&raw(&[("reference", "x")]), now).is_err());
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

    #[test]
    fn image_list_filters() {
        let none = BTreeMap::new();
        let labels = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let tags = [
            "busybox:latest".to_owned(),
            "localhost:5000/team/app:v1".to_owned(),
        ];
        let list = |pairs: &[(&str, &str)], facts: &ImageFacts<'_>| {
            ImageFilter::parse(&raw(pairs))
                .unwrap()
                .matches(facts, None, None)
        };
        assert!(list(&[("dangling", "true")], &image(&[], &none)));
        assert!(!list(&[("dangling", "true")], &image(&tags, &none)));
        assert!(list(&[("label", "team=a")], &image(&tags, &labels)));
        assert!(!list(&[("label", "team")], &image(&tags, &none)));
        for hit in [
            "busybox",
            "busybox:latest",
            "busy*",
            "*",
            "localhost:5000/team/app",
            "*/team/*:v?",
        ] {
            assert!(list(&[("reference", hit)], &image(&tags, &none)), "{hit}");
        }
        for miss in ["busybox:1.36", "box", "team/app", "*/app"] {
            assert!(
                !list(&[("reference", miss)], &image(&tags, &none)),
                "{miss}"
            );
        }
        let f = ImageFilter::parse(&raw(&[("before", "x")])).unwrap();
        let t = |s| Some(UNIX_EPOCH + Duration::from_secs(s));
        assert!(f.matches(&image(&tags, &none), t(101), None));
        assert!(!f.matches(&image(&tags, &none), t(100), None));
        assert!(f.matches(&image(&tags, &none), None, t(99)));
        assert!(ImageFilter::parse(&raw(&[("until", "1h")])).is_err());
    }
}
