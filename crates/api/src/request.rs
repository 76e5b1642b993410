//! Reading what a request carries: query parameters and JSON bodies, with
//! dockerd's leniency and its error texts (moby `daemon/server/httputils/httputils.go`,
//! `ReadJSON` / `CheckForJSON`, and `form.go`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::filters::{parse_filters, Filters};

/// Upper bound for a JSON request body. dockerd has none; berth's largest JSON
/// bodies (container create) are a few KiB, and an unbounded read would let
/// one client exhaust the daemon's memory.
const MAX_JSON_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The first value of query parameter `name`, URL-decoded (Go's `r.Form.Get`).
pub(crate) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Every value of query parameter `name`, in order (Go's `r.Form[name]`).
pub(crate) fn query_params(uri: &Uri, name: &str) -> Vec<String> {
    let Some(query) = uri.query() else {
        return Vec::new();
    };
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .collect()
}

/// Query parameter `name`, `None` when absent or empty (dockerd does not
/// tell them apart).
pub(crate) fn non_empty_param(uri: &Uri, name: &str) -> Option<String> {
    query_param(uri, name).filter(|value| !value.is_empty())
}

/// Go's `httputils.BoolValue`: absent, empty, `0`, `no`, `false` and `none`
/// (any case, trimmed) are false; anything else is true (`1`, `True`, `yes`).
pub(crate) fn bool_param(uri: &Uri, name: &str) -> bool {
    query_param(uri, name).is_some_and(|value| {
        !matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "no" | "false" | "none"
        )
    })
}

/// An integer parameter as dockerd reads it with `strconv.Atoi`: `None` when
/// absent or empty, Go's error text otherwise. (dockerd lets that error reach
/// the client as a 500; it is the client's mistake, so berth says 400.)
pub(crate) fn int_param(uri: &Uri, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(value) = non_empty_param(uri, name) else {
        return Ok(None);
    };
    parse_go_int(&value).map(Some).map_err(|reason| {
        ApiError::invalid_parameter(format!("strconv.Atoi: parsing {value:?}: {reason}"))
    })
}

/// Go's `strconv.ParseInt(value, 10, 64)`: an optional sign and decimal
/// digits. The error is Go's reason text.
fn parse_go_int(value: &str) -> Result<i64, &'static str> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    value.parse::<i64>().map_err(|_| "value out of range")
}

/// A TTY dimension as dockerd's `httputils.Uint32Value` reads it, with its
/// errors: `invalid resize height "x": invalid syntax`.
pub(crate) fn tty_dimension_param(uri: &Uri, name: &str, what: &str) -> Result<u32, ApiError> {
    let raw = query_param(uri, name).unwrap_or_default();
    let (digits, negative) = match raw.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (raw.as_str(), false),
    };
    let reason = if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        "invalid syntax"
    } else {
        match digits.parse::<u32>() {
            Ok(value) if !negative => return Ok(value),
            _ => "value out of range",
        }
    };
    Err(ApiError::invalid_parameter(format!(
        "invalid resize {what} {raw:?}: {reason}"
    )))
}

/// A `since`/`until` time as the docker CLI sends it, `<seconds>[.<fraction>]`
/// since the epoch (moby `api/types/time.ParseTimestamps`); `None` when absent
/// or empty.
pub(crate) fn timestamp_param(uri: &Uri, name: &str) -> Result<Option<SystemTime>, ApiError> {
    let Some(value) = non_empty_param(uri, name) else {
        return Ok(None);
    };
    parse_timestamp(&value).map(Some).ok_or_else(|| {
        ApiError::invalid_parameter(format!(
            "invalid value for \"{name}\": {value:?} is not a unix timestamp"
        ))
    })
}

fn parse_timestamp(value: &str) -> Option<SystemTime> {
    let (seconds, fraction) = match value.split_once('.') {
        Some((seconds, fraction)) => (seconds, Some(fraction)),
        None => (value, None),
    };
    let seconds = parse_go_int(seconds).ok()?;
    let nanos = match fraction {
        None => 0,
        // Like moby, a fraction is scaled to nanoseconds by its digit count.
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            let kept = &digits[..digits.len().min(9)];
            let scale = 10u32.pow(9 - u32::try_from(kept.len()).ok()?);
            kept.parse::<u32>().ok()? * scale
        }
        Some(_) => return None,
    };
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    let whole = if seconds < 0 {
        UNIX_EPOCH.checked_sub(magnitude)?
    } else {
        UNIX_EPOCH.checked_add(magnitude)?
    };
    whole.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// The `filters` query parameter, normalised; absent means no filters.
pub(crate) fn filters_param(uri: &Uri) -> Result<Filters, ApiError> {
    parse_filters(&query_param(uri, "filters").unwrap_or_default())
}

/// Reads a JSON body as a [`Value`]; an empty body is `Value::Null` (dockerd
/// treats it as "all fields zero", not an error).
pub(crate) async fn read_json_body(request: Request<Incoming>) -> Result<Value, ApiError> {
    let bytes = read_json_bytes(request).await?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    parse_json_document(&bytes)
}

/// The raw body of a request that may only carry JSON, after the
/// `Content-Type` check and the size limit.
pub(crate) async fn read_json_bytes(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = collect_limited(body).await?;
    check_json_content_type(&parts.headers, bytes.is_empty())?;
    Ok(bytes)
}

async fn collect_limited(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_JSON_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::invalid_parameter(format!(
                "request body is larger than {MAX_JSON_BODY_BYTES} bytes"
            )))
        }
        Err(err) => Err(ApiError::invalid_parameter(format!(
            "error reading request body: {err}"
        ))),
    }
}

/// dockerd accepts a body only as `application/json` (parameters allowed); a
/// request with neither body nor `Content-Type` is fine.
fn check_json_content_type(headers: &HeaderMap, body_is_empty: bool) -> Result<(), ApiError> {
    let content_type = match headers.get(CONTENT_TYPE) {
        None if body_is_empty => return Ok(()),
        None => "",
        Some(value) => value.to_str().map_err(|_| {
            ApiError::invalid_parameter("malformed Content-Type header: not valid text")
        })?,
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media_type.is_empty() {
        return Err(ApiError::invalid_parameter(format!(
            "malformed Content-Type header ({content_type}): mime: no media type"
        )));
    }
    if media_type != "application/json" {
        return Err(ApiError::invalid_parameter(format!(
            "unsupported Content-Type header ({content_type}): must be 'application/json'"
        )));
    }
    Ok(())
}

/// One JSON document and nothing after it, with dockerd's messages.
pub(crate) fn parse_json_document(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_parameter(
            "invalid JSON: got EOF while reading request body",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: Value = serde::Deserialize::deserialize(&mut deserializer).map_err(|err| {
        if err.is_eof() {
            ApiError::invalid_parameter("invalid JSON: unexpected EOF")
        } else {
            ApiError::invalid_parameter(format!("invalid JSON: {err}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|_| ApiError::invalid_parameter("unexpected content after JSON"))?;
    Ok(value)
}

/// Decodes a request body the way Go's `encoding/json` does for dockerd:
/// unknown fields are ignored, and `null` anywhere leaves the field at its
/// default (Go's zero value) instead of being a type error.
pub(crate) fn decode_lenient<T: DeserializeOwned>(mut value: Value) -> Result<T, ApiError> {
    remove_nulls(&mut value);
    serde_json::from_value(value)
        .map_err(|err| ApiError::invalid_parameter(format!("invalid JSON: {err}")))
}

fn remove_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, member| !member.is_null());
            members.values_mut().for_each(remove_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn uri(text: &str) -> Uri {
        text.parse().unwrap()
    }

    #[test]
    fn bool_params_follow_go_bool_value() {
        let query = uri("/x?a=1&b=True&c=yes&d=0&e=false&f=NONE&g=no&h=&i=%20false%20&j=anything");
        for truthy in ["a", "b", "c", "j"] {
            assert!(bool_param(&query, truthy), "{truthy}");
        }
        for falsy in ["d", "e", "f", "g", "h", "i", "absent"] {
            assert!(!bool_param(&query, falsy), "{falsy}");
        }
    }

    #[test]
    fn repeated_params_keep_order() {
        let query = uri("/x?changes=CMD%20a&other=1&changes=ENV%20b%3Dc");
        assert_eq!(query_params(&query, "changes"), ["CMD a", "ENV b=c"]);
        assert!(query_params(&query, "none").is_empty());
        assert!(query_params(&uri("/x"), "changes").is_empty());
    }

    #[test]
    fn int_params_use_go_atoi_messages() {
        let query = uri("/x?t=5&n=-1&bad=abc&big=99999999999999999999&empty=&plus=%2B3");
        assert_eq!(int_param(&query, "t").unwrap(), Some(5));
        assert_eq!(int_param(&query, "n").unwrap(), Some(-1));
        assert_eq!(int_param(&query, "plus").unwrap(), Some(3));
        assert_eq!(int_param(&query, "empty").unwrap(), None);
        assert_eq!(int_param(&query, "absent").unwrap(), None);
        assert_eq!(
            int_param(&query, "bad").unwrap_err().message,
            "strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            int_param(&query, "big").unwrap_err().message,
            "strconv.Atoi: parsing \"99999999999999999999\": value out of range"
        );
    }

    #[test]
    fn tty_dimensions_follow_uint32_value() {
        let query = uri("/x?h=24&w=80&neg=-3&bad=x&huge=4294967296&plus=%2B1");
        assert_eq!(tty_dimension_param(&query, "h", "height").unwrap(), 24);
        assert_eq!(tty_dimension_param(&query, "w", "width").unwrap(), 80);
        for (name, message) in [
            ("neg", "invalid resize height \"-3\": value out of range"),
            ("bad", "invalid resize height \"x\": invalid syntax"),
            (
                "huge",
                "invalid resize height \"4294967296\": value out of range",
            ),
            ("plus", "invalid resize height \"+1\": invalid syntax"),
            ("absent", "invalid resize height \"\": invalid syntax"),
        ] {
            let err = tty_dimension_param(&query, name, "height").unwrap_err();
            assert_eq!(err.message, message, "{name}");
        }
    }

    #[test]
    fn timestamps_are_seconds_with_optional_fraction() {
        let query = uri("/x?a=1700000000&b=1700000000.5&c=1700000000.000000001&d=-1&e=x&f=1.");
        let at = |secs: u64, nanos: u64| {
            UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos)
        };
        assert_eq!(
            timestamp_param(&query, "a").unwrap(),
            Some(at(1_700_000_000, 0))
        );
        assert_eq!(
            timestamp_param(&query, "b").unwrap(),
            Some(at(1_700_000_000, 500_000_000))
        );
        assert_eq!(
            timestamp_param(&query, "c").unwrap(),
            Some(at(1_700_000_000, 1))
        );
        assert_eq!(
            timestamp_param(&query, "d").unwrap(),
            Some(UNIX_EPOCH - Duration::from_secs(1))
        );
        assert_eq!(timestamp_param(&query, "absent").unwrap(), None);
        for bad in ["e", "f"] {
            assert_eq!(
                timestamp_param(&query, bad).unwrap_err().kind,
                crate::ErrorKind::InvalidParameter
            );
        }
    }

    #[test]
    fn query_param_takes_first_decoded_value() {
        let uri: Uri = "/networks?filters=%7B%22a%22%3A1%7D&x=1&x=2"
            .parse()
            .unwrap();
        assert_eq!(query_param(&uri, "filters").as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(query_param(&uri, "x").as_deref(), Some("1"));
        assert_eq!(query_param(&uri, "missing"), None);
        let bare: Uri = "/networks".parse().unwrap();
        assert_eq!(query_param(&bare, "filters"), None);
        assert_eq!(filters_param(&bare).unwrap(), Filters::new());
    }

    fn headers(content_type: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn content_type_rules_match_dockerd() {
        assert!(check_json_content_type(&headers(None), true).is_ok());
        assert!(check_json_content_type(&headers(Some("application/json")), false).is_ok());
        assert!(
            check_json_content_type(&headers(Some("Application/JSON; charset=utf-8")), false)
                .is_ok()
        );
        assert_eq!(
            check_json_content_type(&headers(Some("text/plain")), false)
                .unwrap_err()
                .message,
            "unsupported Content-Type header (text/plain): must be 'application/json'"
        );
        assert_eq!(
            check_json_content_type(&headers(None), false)
                .unwrap_err()
                .message,
            "malformed Content-Type header (): mime: no media type"
        );
    }

    #[test]
    fn json_document_errors_use_dockerd_wording() {
        assert_eq!(
            parse_json_document(b"  \n").unwrap_err().message,
            "invalid JSON: got EOF while reading request body"
        );
        assert_eq!(
            parse_json_document(br#"{"Name":"#).unwrap_err().message,
            "invalid JSON: unexpected EOF"
        );
        assert!(parse_json_document(b"{nope}")
            .unwrap_err()
            .message
            .starts_with("invalid JSON: "));
        assert_eq!(
            parse_json_document(br#"{"Name":"a"} {"Name":"b"}"#)
                .unwrap_err()
                .message,
            "unexpected content after JSON"
        );
        assert_eq!(
            parse_json_document(b"{\"Name\":\"a\"}\n").unwrap(),
            json!({"Name": "a"})
        );
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Sample {
        #[serde(rename = "Name", default)]
        name: String,
        #[serde(rename = "Labels")]
        labels: Option<std::collections::HashMap<String, String>>,
        #[serde(rename = "Items", default)]
        items: Vec<Option<u8>>,
    }

    #[test]
    fn lenient_decode_ignores_unknown_fields_and_nulls() {
        let decoded: Sample = decode_lenient(json!({
            "Name": null,
            "Labels": {"a": "b", "gone": null},
            "Items": [1, null],
            "Unknown": {"deep": [1, 2]}
        }))
        .unwrap();
        assert_eq!(
            decoded,
            Sample {
                name: String::new(),
                labels: Some([("a".to_owned(), "b".to_owned())].into()),
                items: vec![Some(1), None],
            }
        );
    }

    #[test]
    fn lenient_decode_still_rejects_wrong_types() {
        let err = decode_lenient::<Sample>(json!({"Name": 5})).unwrap_err();
        assert!(err.message.starts_with("invalid JSON: "), "{}", err.message);
    }
}
