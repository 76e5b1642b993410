//! Reading what a request carries: query parameters and JSON bodies, with
//! dockerd's leniency and its error texts (moby `daemon/server/httputils/httputils.go`,
//! `ReadJSON` / `CheckForJSON`).

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

/// The `filters` query parameter, normalised; absent means no filters.
pub(crate) fn filters_param(uri: &Uri) -> Result<Filters, ApiError> {
    parse_filters(&query_param(uri, "filters").unwrap_or_default())
}

/// Reads a JSON body as a [`Value`]; an empty body is `Value::Null` (dockerd
/// treats it as "all fields zero", not an error).
pub(crate) async fn read_json_body(request: Request<Incoming>) -> Result<Value, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = collect_limited(body).await?;
    check_json_content_type(&parts.headers, bytes.is_empty())?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    parse_json_document(&bytes)
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
fn parse_json_document(bytes: &[u8]) -> Result<Value, ApiError> {
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
