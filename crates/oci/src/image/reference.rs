//! Image names (`repo[:tag]`) and ids, in Docker's grammar and its short
//! ("familiar") spelling: `docker.io/library/busybox` is `busybox`.

use std::fmt;

use crate::error::{Error, Result};

pub const DEFAULT_TAG: &str = "latest";

/// An image id: the sha256 of the image's config JSON. Displays as Docker
/// prints ids, `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId(String);

impl ImageId {
    /// Accepts `sha256:<64 hex>` or the bare 64 hex digits.
    pub fn parse(s: &str) -> Result<Self> {
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if is_hex(hex) && hex.len() == 64 {
            Ok(ImageId(hex.to_owned()))
        } else {
            Err(Error::InvalidReference(format!("invalid image id {s:?}")))
        }
    }

    pub(crate) fn from_hex(hex: String) -> Self {
        ImageId(hex)
    }

    /// The 64 hex digits, without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The 12-digit form `docker images` prints.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

pub(crate) fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A validated, familiar `repo:tag`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoTag {
    repo: String,
    tag: String,
}

impl RepoTag {
    /// Parses `name[:tag]`; the tag defaults to `latest`. Digests
    /// (`name@sha256:...`) are refused: local images have none.
    pub fn parse(s: &str) -> Result<Self> {
        Self::with_tag(s, None)
    }

    /// The API's `repo` + `tag` pair (`POST /images/create?repo=&tag=`):
    /// an empty or absent `tag` leaves any tag written in `repo`.
    pub fn with_tag(repo: &str, tag: Option<&str>) -> Result<Self> {
        let invalid = || Error::InvalidReference("invalid reference format".to_owned());
        if repo.contains('@') {
            return Err(Error::InvalidReference(format!(
                "invalid reference format: digest references ({repo}) are not supported for local images"
            )));
        }
        let (name, written_tag) = split_tag(repo);
        let tag = match tag.filter(|t| !t.is_empty()) {
            Some(t) => t,
            None => written_tag.unwrap_or(DEFAULT_TAG),
        };
        if !valid_tag(tag) {
            return Err(invalid());
        }
        if name.is_empty() || name.len() > 255 {
            return Err(invalid());
        }
        let familiar = familiarize(name);
        if familiar.len() == 64 && is_hex(familiar) {
            return Err(Error::InvalidReference(format!(
                "invalid repository name ({familiar}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, path) = split_domain(familiar);
        if let Some(d) = domain {
            if !valid_domain(d) {
                return Err(invalid());
            }
        }
        if path
            .split('/')
            .any(|c| !valid_path_component(&c.to_ascii_lowercase()))
        {
            return Err(invalid());
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            let full = if domain.is_none() && !path.contains('/') {
                format!("library/{path}")
            } else {
                familiar.to_owned()
            };
            return Err(Error::InvalidReference(format!(
                "invalid reference format: repository name ({full}) must be lowercase"
            )));
        }
        Ok(RepoTag {
            repo: familiar.to_owned(),
            tag: tag.to_owned(),
        })
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl fmt::Display for RepoTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repo, self.tag)
    }
}

/// `host:5000/x:1` -> (`host:5000/x`, `1`): a colon followed by a `/` is a
/// registry port, not a tag.
fn split_tag(s: &str) -> (&str, Option<&str>) {
    match s.rfind(':') {
        Some(i) if !s[i + 1..].contains('/') => (&s[..i], Some(&s[i + 1..])),
        _ => (s, None),
    }
}

fn familiarize(name: &str) -> &str {
    let rest = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    // `library/x` is the official image `x`, with or without `docker.io/`.
    match rest.strip_prefix("library/") {
        Some(short) if !short.contains('/') => short,
        _ => rest,
    }
}

/// Docker treats the first component as a registry host when it has a `.`
/// or `:` or is `localhost`, and is not uppercase.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if (first.contains(['.', ':']) || first == "localhost")
                && first.to_ascii_lowercase() == first =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let host_ok = host.split('.').all(|c| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> String {
        RepoTag::parse(s).unwrap().to_string()
    }

    #[test]
    fn default_tag_and_familiar_names() {
        assert_eq!(rt("busybox"), "busybox:latest");
        assert_eq!(rt("busybox:1.36"), "busybox:1.36");
        assert_eq!(rt("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(rt("library/busybox:x"), "busybox:x");
        assert_eq!(rt("docker.io/me/app:v1"), "me/app:v1");
        assert_eq!(rt("localhost:5000/me/app"), "localhost:5000/me/app:latest");
        assert_eq!(rt("my.registry/a/b:c"), "my.registry/a/b:c");
        assert_eq!(rt("a__b.c-d---e"), "a__b.c-d---e:latest");
    }

    #[test]
    fn separate_tag_parameter_wins() {
        let r = RepoTag::with_tag("busybox:old", Some("new")).unwrap();
        assert_eq!(r.to_string(), "busybox:new");
        let r = RepoTag::with_tag("busybox:old", Some("")).unwrap();
        assert_eq!(r.to_string(), "busybox:old");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let e = RepoTag::parse("BusyBox").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid reference format: repository name (library/BusyBox) must be lowercase"
        );
        for bad in [
            "",
            "a:",
            "-a",
            "a-",
            "a..b",
            "a/",
            "a:b:c",
            "a b",
            "a:-x",
            "x@sha256:00",
        ] {
            assert!(RepoTag::parse(bad).is_err(), "{bad:?} accepted");
        }
        let hex = "a".repeat(64);
        assert!(RepoTag::parse(&hex)
            .unwrap_err()
            .to_string()
            .contains("cannot specify 64-byte hexadecimal strings"));
    }

    #[test]
    fn image_ids() {
        let hex = "0123456789abcdef".repeat(4);
        let id = ImageId::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!(id, ImageId::parse(&hex).unwrap());
        assert_eq!(id.to_string(), format!("sha256:{hex}"));
        assert_eq!(id.short(), "0123456789ab");
        assert!(ImageId::parse("sha256:abc").is_err());
        assert!(ImageId::parse(&"A".repeat(64)).is_err());
    }
}
