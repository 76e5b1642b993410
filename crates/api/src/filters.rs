//! Docker's `filters` query parameter.
//!
//! Clients send it in two JSON encodings: the current one, a set per key
//! (`{"name":{"web":true}}`, what the docker CLI sends), and the legacy one, a
//! list per key (`{"name":["web"]}`, what docker-py sends). moby's
//! `api/types/filters/parse.go` (`FromJSON`) tries the set form for the whole
//! document and falls back to the list form; so does [`parse_filters`].

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ApiError;

/// Filters normalised to key -> sorted, de-duplicated values, whichever
/// encoding the client used.
pub type Filters = BTreeMap<String, Vec<String>>;

/// moby's `invalidFilter` message when neither encoding parses.
const INVALID_FILTER_MESSAGE: &str = "invalid filter";

/// The set encoding. A key may map to `null`, which Go decodes as "no values".
/// A value's boolean is not consulted: moby's `Args.Get` lists every key of the
/// set, whatever its boolean, and the filter code reads values that way.
type SetEncoding = BTreeMap<String, Option<BTreeMap<String, bool>>>;

/// The legacy list encoding.
type ListEncoding = BTreeMap<String, Vec<String>>;

/// Parses the raw (already URL-decoded) `filters` parameter.
///
/// An empty string and JSON `null` both mean "no filters". Anything that is
/// neither encoding is a 400 with Docker's text, `invalid filter`.
pub fn parse_filters(raw: &str) -> Result<Filters, ApiError> {
    if raw.is_empty() {
        return Ok(Filters::new());
    }
    if let Ok(set_form) = serde_json::from_str::<Option<SetEncoding>>(raw) {
        let filters = set_form
            .unwrap_or_default()
            .into_iter()
            .map(|(key, values)| {
                let values = values.unwrap_or_default().into_keys().collect();
                (key, values)
            })
            .collect();
        return Ok(filters);
    }
    if let Ok(list_form) = serde_json::from_str::<ListEncoding>(raw) {
        let filters = list_form
            .into_iter()
            .map(|(key, values)| {
                let unique: BTreeSet<String> = values.into_iter().collect();
                (key, unique.into_iter().collect())
            })
            .collect();
        return Ok(filters);
    }
    Err(ApiError::invalid_parameter(INVALID_FILTER_MESSAGE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn filters(pairs: &[(&str, &[&str])]) -> Filters {
        pairs
            .iter()
            .map(|(key, values)| {
                (
                    key.to_string(),
                    values.iter().map(|v| v.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn empty_and_null_mean_no_filters() {
        assert_eq!(parse_filters("").unwrap(), Filters::new());
        assert_eq!(parse_filters("null").unwrap(), Filters::new());
        assert_eq!(parse_filters("{}").unwrap(), Filters::new());
    }

    #[test]
    fn set_encoding_parses() {
        let parsed =
            parse_filters(r#"{"name":{"web":true,"db":true},"driver":{"bridge":true}}"#).unwrap();
        assert_eq!(
            parsed,
            filters(&[("driver", &["bridge"]), ("name", &["db", "web"])])
        );
    }

    #[test]
    fn list_encoding_parses() {
        let parsed = parse_filters(r#"{"name":["web","db"],"driver":["bridge"]}"#).unwrap();
        assert_eq!(
            parsed,
            filters(&[("driver", &["bridge"]), ("name", &["db", "web"])])
        );
    }

    #[test]
    fn both_encodings_normalise_to_the_same_map() {
        assert_eq!(
            parse_filters(r#"{"label":{"a=1":true,"b":true}}"#).unwrap(),
            parse_filters(r#"{"label":["b","a=1","b"]}"#).unwrap()
        );
    }

    #[test]
    fn set_encoding_keeps_keys_whatever_their_boolean_and_null_sets() {
        let parsed = parse_filters(r#"{"name":{"x":false},"dangling":null}"#).unwrap();
        assert_eq!(parsed, filters(&[("dangling", &[]), ("name", &["x"])]));
    }

    #[test]
    fn malformed_filters_are_400_invalid_filter() {
        for raw in [
            "{",
            "not json",
            "[]",
            r#"{"name":"web"}"#,
            r#"{"name":{"web":"yes"}}"#,
            r#"{"name":{"web":true},"driver":["bridge"]}"#,
            "  ",
        ] {
            let err = parse_filters(raw).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidParameter, "{raw}");
            assert_eq!(err.message, "invalid filter", "{raw}");
        }
    }
}
