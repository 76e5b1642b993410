//! Image references as Docker reads and prints them
//! (`github.com/distribution/reference`): `ParseNormalizedNamed` with its
//! error texts, and the "familiar" forms (`busybox:latest` for
//! `docker.io/library/busybox:latest`). One parser for the CLI and the
//! daemon.

use std::fmt;

/// Why a reference was refused, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    Invalid,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("repository name must not be more than 255 characters")]
    TooLong,
}

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";

/// A parsed, normalized reference: `docker.io/library/busybox:latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    domain: String,
    /// The repository path under the domain (`library/busybox`).
    path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

fn is_component(s: &str) -> bool {
    // [a-z0-9]+ joined by `.`, `_`, `__` or runs of `-`.
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            i += 1;
            continue;
        }
        let sep_len = match c {
            b'.' => 1,
            b'_' if b.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => b[i..].iter().take_while(|&&x| x == b'-').count(),
            _ => return false,
        };
        i += sep_len;
        if !b
            .get(i)
            .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

fn is_domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (s, None),
    };
    let host_ok = if host.starts_with('[') && host.ends_with(']') {
        host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    } else {
        host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
pub fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn is_digest(s: &str) -> bool {
    match s.split_once(':') {
        Some((algo, hex)) => {
            !algo.is_empty()
                && algo
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+._-".contains(&c))
                && hex.len() >= 32
                && hex.bytes().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// A 64-hex image id (`sha256:` optional), which is not a name.
pub fn is_image_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    hex.len() == 64
        && hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// `reference.ParseNormalizedNamed`.
pub fn parse_normalized(s: &str) -> Result<ImageRef, ReferenceError> {
    if s.len() == 64 && is_image_id(s) {
        return Err(ReferenceError::HexName(s.to_owned()));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, remainder))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), remainder.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    if path.to_lowercase() != path {
        return Err(ReferenceError::Uppercase(path));
    }
    if !is_domain(&domain)
        || !path.split('/').all(is_component)
        || tag.is_some_and(|t| !is_tag(t))
        || digest.is_some_and(|d| !is_digest(d))
    {
        return Err(ReferenceError::Invalid);
    }
    if domain.len() + 1 + path.len() > 255 {
        return Err(ReferenceError::TooLong);
    }
    Ok(ImageRef {
        domain,
        path,
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

impl ImageRef {
    /// The registry host (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path under the domain (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `reference.FamiliarName`: the name without `docker.io/library/`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            let path = self.path.as_str();
            match path.strip_prefix(OFFICIAL_PREFIX) {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => path.to_string(),
            }
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// `reference.FamiliarString`: the familiar name with tag and digest.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }

    /// `reference.TagNameOnly`: `latest` when there is neither tag nor
    /// digest.
    pub fn with_default_tag(mut self) -> ImageRef {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".to_string());
        }
        self
    }

    /// Without its digest.
    pub fn trimmed(mut self) -> ImageRef {
        self.digest = None;
        self
    }
}

impl fmt::Display for ImageRef {
    /// The full form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn familiar(s: &str) -> Result<String, String> {
        parse_normalized(s)
            .map(|n| n.familiar_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(familiar("busybox"), Ok("busybox".into()));
        assert_eq!(
            familiar("docker.io/library/busybox:latest"),
            Ok("busybox:latest".into())
        );
        assert_eq!(
            familiar("index.docker.io/team/app:1"),
            Ok("team/app:1".into())
        );
        assert_eq!(
            familiar("localhost:5000/team/app:v1"),
            Ok("localhost:5000/team/app:v1".into())
        );
        let n = parse_normalized("busybox").map(ImageRef::with_default_tag);
        assert_eq!(n.map(|n| n.familiar_string()), Ok("busybox:latest".into()));
        assert_eq!(
            parse_normalized("busybox").map(|n| n.with_default_tag().to_string()),
            Ok("docker.io/library/busybox:latest".into())
        );
        let digested =
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_normalized(digested).map(|n| n.with_default_tag().tag),
            Ok(None)
        );
        assert_eq!(
            parse_normalized(digested).map(|n| n.trimmed().familiar_string()),
            Ok("busybox".into())
        );
    }

    #[test]
    fn refuses_like_docker() {
        // `docker import r.tar BAD`.
        assert_eq!(
            familiar("BAD"),
            Err("invalid reference format: repository name (library/BAD) must be lowercase".into())
        );
        assert_eq!(familiar("a b"), Err("invalid reference format".into()));
        assert_eq!(familiar("busybox:"), Err("invalid reference format".into()));
        assert_eq!(familiar("-x"), Err("invalid reference format".into()));
        assert!(familiar(&"a".repeat(300)).is_err());
        assert!(familiar(&"ab".repeat(32)).is_err());
        assert!(is_image_id(
            "sha256:65ad0d468eb1c558bf7f4e64e790f586e9eb23b3d0f5d9bb2f7d9a1f3c5c2a11"
        ));
    }
}
