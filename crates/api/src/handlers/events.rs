//! `GET /events` (moby `daemon/server/router/system/system_routes.go`,
//! `getEvents`): the kept events in the `since`/`until` window, then new
//! ones until `until` passes or the client goes.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use http::{Response, Uri};
use serde::Serialize;

use crate::backend::{Backend, EventMessage, EventsQuery};
use crate::error::ApiError;
use crate::request::{filters_param, query_param};
use crate::response::{json_line, streaming_response, ResponseBody, CONTENT_TYPE_JSON};

pub(super) async fn events<B: Backend>(
    backend: &B,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let since_text = query_param(uri, "since").unwrap_or_default();
    let until_text = query_param(uri, "until").unwrap_or_default();
    let since = parse_unix_timestamp(&since_text)
        .map_err(|e| ApiError::invalid_parameter(format!("invalid value for 'since': {e}")))?;
    let until = parse_unix_timestamp(&until_text)
        .map_err(|e| ApiError::invalid_parameter(format!("invalid value for 'until': {e}")))?;
    if let Some(until) = until {
        if until < since.unwrap_or(0) {
            return Err(ApiError::invalid_parameter(format!(
                "`since` time ({since_text}) cannot be after `until` time ({until_text})"
            )));
        }
    }
    let filters = filters_param(uri)?;
    let now = unix_nanos_now();
    let feed = backend
        .events(EventsQuery {
            since,
            until,
            filters,
        })
        .await?;
    let past = futures::stream::iter(feed.past);
    let lines = match until {
        // Only past events: the answer ends after them.
        Some(until) if until < now => past.boxed(),
        Some(until) => {
            let left = std::time::Duration::from_nanos(u64::try_from(until - now).unwrap_or(0));
            past.chain(feed.live.take_until(tokio::time::sleep(left)))
                .boxed()
        }
        None => past.chain(feed.live).boxed(),
    };
    let lines = lines.filter_map(|m| {
        // An event that cannot be encoded is skipped; the next one may be.
        futures::future::ready(json_line(&Legacy::of(&m)).ok().map(Bytes::from))
    });
    Ok(streaming_response(CONTENT_TYPE_JSON, lines))
}

/// An event with the fields API versions before 1.52 still carry
/// (moby's `backFillLegacy`): `status`, `id` and, for containers, `from`.
#[derive(Serialize)]
struct Legacy<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    #[serde(flatten)]
    message: &'a EventMessage,
}

impl<'a> Legacy<'a> {
    fn of(m: &'a EventMessage) -> Self {
        let (status, id) = match m.kind.as_str() {
            "container" | "image" => (Some(m.action.as_str()), Some(m.actor.id.as_str())),
            _ => (None, None),
        };
        let from = (m.kind == "container")
            .then(|| m.actor.attributes.get("image").map(String::as_str))
            .flatten();
        Legacy {
            status,
            id,
            from,
            message: m,
        }
    }
}

fn unix_nanos_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// moby's `ParseUnixTimestamp`: `seconds` or `seconds.nanoseconds` (fewer
/// than nine digits are padded, more truncated), in Unix nanoseconds;
/// empty is none.
fn parse_unix_timestamp(value: &str) -> Result<Option<i64>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let invalid = |why: String| format!("invalid timestamp {value:?}: {why}");
    let (secs, nanos) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs
        .parse()
        .map_err(|_| invalid(format!("invalid seconds {secs:?}: invalid syntax")))?;
    if nanos.len() > 20 {
        return Err(invalid(format!(
            "invalid nanoseconds: length {} exceeds maximum 20",
            nanos.len()
        )));
    }
    if let Some((i, c)) = nanos.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(invalid(format!(
            "invalid nanoseconds: invalid character {c:?} at position {i}"
        )));
    }
    let digits: String = nanos
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let nanos: i64 = digits
        .parse()
        .map_err(|_| invalid("invalid nanoseconds".to_owned()))?;
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .map(Some)
        .ok_or_else(|| invalid("out of range".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::EventActor;

    #[test]
    fn timestamps_parse_as_dockerd() {
        assert_eq!(parse_unix_timestamp(""), Ok(None));
        assert_eq!(parse_unix_timestamp("12"), Ok(Some(12_000_000_000)));
        assert_eq!(parse_unix_timestamp("12.5"), Ok(Some(12_500_000_000)));
        assert_eq!(
            parse_unix_timestamp("12.000000001999"),
            Ok(Some(12_000_000_001))
        );
        assert_eq!(
            parse_unix_timestamp("x"),
            Err(r#"invalid timestamp "x": invalid seconds "x": invalid syntax"#.to_owned())
        );
        assert!(parse_unix_timestamp("1.-5").is_err());
    }

    fn message(kind: &str) -> EventMessage {
        EventMessage {
            kind: kind.to_owned(),
            action: "start".to_owned(),
            actor: EventActor {
                id: "abc".to_owned(),
                attributes: [("image".to_owned(), "busybox".to_owned())].into(),
            },
            scope: "local".to_owned(),
            time: 1,
            time_nano: 1_000_000_000,
        }
    }

    #[test]
    fn containers_and_images_carry_the_legacy_fields() {
        let line = |kind| serde_json::to_value(Legacy::of(&message(kind))).unwrap();
        let c = line("container");
        assert_eq!(c["status"], "start");
        assert_eq!(c["id"], "abc");
        assert_eq!(c["from"], "busybox");
        assert_eq!(c["Type"], "container");
        assert_eq!(c["Actor"]["ID"], "abc");
        assert_eq!(c["timeNano"], 1_000_000_000i64);
        let i = line("image");
        assert_eq!(i["status"], "start");
        assert!(i.get("from").is_none());
        let n = line("network");
        assert!(n.get("status").is_none() && n.get("id").is_none());
    }
}
