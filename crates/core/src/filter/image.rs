//! `docker images --filter` and `image prune --filter`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::{check_keys, parse_bool, values, LabelMatch, PruneFilter, RawFilters};
use crate::error::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::tests::raw;
    use std::time::{Duration, UNIX_EPOCH};

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
