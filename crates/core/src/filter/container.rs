//! `ps --filter`.

use std::time::SystemTime;

use super::{check_keys, matches, parse_bool, values, LabelMatch, RawFilters};
use crate::container::{Container, HealthStatus, Proto, Status};
use crate::error::{Error, Result};
use crate::network::Network;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::tests::raw;
    use std::time::{Duration, UNIX_EPOCH};

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
}
