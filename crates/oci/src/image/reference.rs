//! Image names (`repo[:tag]`) and ids, in Docker's grammar and its short
//! ("familiar") spelling: `docker.io/library/busybox` is `busybox`.

use std::fmt;

use berth_types::reference;

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
        if repo.contains('@') {
            return Err(Error::InvalidReference(format!(
                "invalid reference format: digest references ({repo}) are not supported for local images"
            )));
        }
        let named = reference::parse_normalized(repo)
            .map_err(|e| Error::InvalidReference(e.to_string()))?;
        let tag = match tag.filter(|t| !t.is_empty()) {
            Some(t) if reference::is_tag(t) => t.to_owned(),
            Some(_) => {
                return Err(Error::InvalidReference(
                    "invalid reference format".to_owned(),
                ))
            }
            None => named.tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_owned()),
        };
        Ok(RepoTag {
            repo: named.familiar_name(),
            tag,
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
