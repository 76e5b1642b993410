//! API versions: the `/v1.xx` path prefix, comparison, and the range we accept.
//!
//! Mirrors moby's `daemon/server/server.go` (`versionMatcher = "/v{version:[0-9.]+}"`),
//! `daemon/server/middleware/version.go` (range check and its messages) and
//! `api/types/versions/compare.go` (dot-separated numeric comparison).

use std::cmp::Ordering;
use std::fmt;

use crate::error::ApiError;

/// The API version berth declares: `Api-Version` header, `/version`, and the
/// highest version a client may ask for.
pub const API_VERSION: &str = "1.50";

/// The lowest API version a client may ask for (dockerd's minimum too).
pub const MIN_API_VERSION: &str = "1.24";

/// An API version a request asked for (or [`API_VERSION`] if it did not).
///
/// Ordering follows moby's `versions.compare`: dot-separated components
/// compared as integers, missing or empty components counting as 0, so
/// `1.5 < 1.24` and `1.50 == 1.50.0`.
#[derive(Debug, Clone, Eq)]
pub(crate) struct ApiVersion(String);

impl ApiVersion {
    pub(crate) fn new(version: &str) -> Self {
        ApiVersion(version.to_owned())
    }

    /// The version a request without a `/v1.xx` prefix is served at.
    pub(crate) fn current() -> Self {
        Self::new(API_VERSION)
    }

    fn components(&self) -> impl Iterator<Item = u64> + '_ {
        // Only digits and dots reach here (see `split_version_prefix`); an
        // empty component is 0 as with Go's ignored `strconv.Atoi` error, and
        // an absurdly long one saturates instead of wrapping.
        self.0.split('.').map(|component| {
            component.bytes().fold(0u64, |acc, digit| {
                acc.saturating_mul(10)
                    .saturating_add(u64::from(digit.saturating_sub(b'0')))
            })
        })
    }

    pub(crate) fn is_below(&self, other: &str) -> bool {
        *self < ApiVersion::new(other)
    }

    /// Rejects versions outside `MIN_API_VERSION..=API_VERSION` with dockerd's
    /// texts (an InvalidParameter, so 400).
    pub(crate) fn check_supported(&self) -> Result<(), ApiError> {
        if self.is_below(MIN_API_VERSION) {
            return Err(ApiError::invalid_parameter(format!(
                "client version {self} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            )));
        }
        if *self > ApiVersion::new(API_VERSION) {
            return Err(ApiError::invalid_parameter(format!(
                "client version {self} is too new. Maximum supported API version is {API_VERSION}"
            )));
        }
        Ok(())
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut mine = self.components();
        let mut theirs = other.components();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return Ordering::Equal,
                (a, b) => match a.unwrap_or(0).cmp(&b.unwrap_or(0)) {
                    Ordering::Equal => continue,
                    unequal => return unequal,
                },
            }
        }
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApiVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Splits `/v1.50/networks` into `(Some("1.50"), "/networks")`.
///
/// Like moby's route pattern `/v{version:[0-9.]+}/...`, the prefix is `v`
/// followed by at least one digit or dot and then a `/`; anything else
/// (`/v1.50` alone, `/vx/...`, `/networks`) has no version prefix.
pub(crate) fn split_version_prefix(path: &str) -> (Option<&str>, &str) {
    let Some(after_v) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let version_len = after_v
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (version, rest) = after_v.split_at(version_len);
    if version.is_empty() || !rest.starts_with('/') {
        return (None, path);
    }
    (Some(version), rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn prefix_is_split_off() {
        assert_eq!(
            split_version_prefix("/v1.50/networks"),
            (Some("1.50"), "/networks")
        );
        assert_eq!(
            split_version_prefix("/v1.24/_ping"),
            (Some("1.24"), "/_ping")
        );
        assert_eq!(
            split_version_prefix("/v1.50/networks/abc"),
            (Some("1.50"), "/networks/abc")
        );
        assert_eq!(split_version_prefix("/v2/"), (Some("2"), "/"));
    }

    #[test]
    fn no_prefix_leaves_path_alone() {
        for path in [
            "/networks",
            "/v1.50",
            "/vx/networks",
            "/v/networks",
            "/",
            "",
        ] {
            assert_eq!(split_version_prefix(path), (None, path), "{path}");
        }
        assert_eq!(split_version_prefix("/volumes/v1"), (None, "/volumes/v1"));
    }

    #[test]
    fn comparison_is_numeric_per_component() {
        assert!(ApiVersion::new("1.5") < ApiVersion::new("1.24"));
        assert!(ApiVersion::new("1.50") > ApiVersion::new("1.9"));
        assert_eq!(ApiVersion::new("1.50"), ApiVersion::new("1.50.0"));
        assert_eq!(ApiVersion::new("1..50"), ApiVersion::new("1.0.50"));
        assert!(ApiVersion::new("2") > ApiVersion::new("1.99"));
        assert!(ApiVersion::new("99999999999999999999999") > ApiVersion::new("1.50"));
        assert!(ApiVersion::new("1.23").is_below("1.24"));
        assert!(!ApiVersion::new("1.24").is_below("1.24"));
    }

    #[test]
    fn supported_range_is_min_to_declared() {
        for ok in ["1.24", "1.41", "1.50", "1.50.0"] {
            assert!(ApiVersion::new(ok).check_supported().is_ok(), "{ok}");
        }
        assert!(ApiVersion::current().check_supported().is_ok());
    }

    #[test]
    fn too_new_and_too_old_use_dockers_text() {
        let err = ApiVersion::new("1.52").check_supported().unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameter);
        assert_eq!(
            err.message,
            "client version 1.52 is too new. Maximum supported API version is 1.50"
        );
        let err = ApiVersion::new("1.12").check_supported().unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameter);
        assert_eq!(
            err.message,
            "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
        );
    }
}
