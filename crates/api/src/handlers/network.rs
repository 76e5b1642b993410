//! `/networks...` (moby `daemon/server/router/network/network_routes.go`).

use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkInspect,
};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use serde_json::Value;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::request::{decode_lenient, filters_param, read_json_body};
use crate::response::{empty_response, json_response, ResponseBody};
use crate::version::ApiVersion;

/// libnetwork's text for a missing or blank network name (`NewNetwork`).
const EMPTY_NAME_MESSAGE: &str = "invalid name: name is empty";

/// The API version that introduced `EnableIPv4` on create; dockerd ignores the
/// field from older clients.
const ENABLE_IPV4_SINCE: &str = "1.48";

pub(super) async fn list<B: Backend>(
    backend: &B,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let filters = filters_param(uri)?;
    let networks: Vec<NetworkInspect> = backend
        .network_list(filters)
        .await?
        .into_iter()
        .map(without_post_1_50_fields)
        .collect();
    json_response(StatusCode::OK, &networks)
}

pub(super) async fn inspect<B: Backend>(
    backend: &B,
    id_or_name: String,
) -> Result<Response<ResponseBody>, ApiError> {
    let network = backend.network_inspect(id_or_name).await?;
    json_response(StatusCode::OK, &without_post_1_50_fields(network))
}

pub(super) async fn create<B: Backend>(
    backend: &B,
    api_version: &ApiVersion,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let body = read_json_body(request).await?;
    let create = parse_create_request(body, api_version)?;
    let created = backend.network_create(create).await?;
    json_response(StatusCode::CREATED, &created)
}

pub(super) async fn remove<B: Backend>(
    backend: &B,
    id_or_name: String,
) -> Result<Response<ResponseBody>, ApiError> {
    backend.network_remove(id_or_name).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub(super) async fn prune<B: Backend>(
    backend: &B,
    uri: &Uri,
) -> Result<Response<ResponseBody>, ApiError> {
    let filters = filters_param(uri)?;
    json_response(StatusCode::OK, &backend.network_prune(filters).await?)
}

pub(super) async fn connect<B: Backend>(
    backend: &B,
    id_or_name: String,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let body = with_container_field(read_json_body(request).await?);
    let connect: NetworkConnectRequest = decode_lenient(body)?;
    backend.network_connect(id_or_name, connect).await?;
    Ok(empty_response(StatusCode::OK))
}

pub(super) async fn disconnect<B: Backend>(
    backend: &B,
    id_or_name: String,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let body = with_container_field(read_json_body(request).await?);
    let disconnect: NetworkDisconnectRequest = decode_lenient(body)?;
    backend.network_disconnect(id_or_name, disconnect).await?;
    Ok(empty_response(StatusCode::OK))
}

/// `Container` is required by the generated types; Go leaves it empty when
/// the body lacks it, and the backend's "No such container" answers that.
fn with_container_field(body: Value) -> Value {
    with_default_string(body, "Container")
}

/// `body` as an object whose `field` is a string if it was missing or null.
/// Other shapes are left for the decoder to reject.
fn with_default_string(body: Value, field: &str) -> Value {
    let mut body = match body {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other,
    };
    if let Value::Object(members) = &mut body {
        if members.get(field).is_none_or(Value::is_null) {
            members.insert(field.to_owned(), Value::String(String::new()));
        }
    }
    body
}

/// `Status` arrived in API 1.52; berth serves at most 1.50, so it never goes
/// out even if a backend fills it.
fn without_post_1_50_fields(mut network: NetworkInspect) -> NetworkInspect {
    network.status = None;
    network
}

/// The create body as dockerd reads it: unknown fields and `null`s ignored,
/// an empty body allowed; then a missing or blank `Name` is libnetwork's 400.
fn parse_create_request(
    body: Value,
    api_version: &ApiVersion,
) -> Result<NetworkCreateRequest, ApiError> {
    // `Name` is the one required field of the generated type; Go would leave
    // it empty, and the emptiness check below gives Docker's message for it.
    let body = with_default_string(body, "Name");
    check_duplicate_is_a_bool(&body)?;
    let mut create: NetworkCreateRequest = decode_lenient(body)?;
    if create.name.trim().is_empty() {
        return Err(ApiError::invalid_parameter(EMPTY_NAME_MESSAGE));
    }
    if api_version.is_below(ENABLE_IPV4_SINCE) {
        create.enable_ipv4 = None;
    }
    Ok(create)
}

/// `CheckDuplicate`, deprecated (names are always unique now) and gone from
/// the wire model, is still a `*bool` to dockerd's decoder: another type is
/// its 400, not a field to drop unseen.
fn check_duplicate_is_a_bool(body: &Value) -> Result<(), ApiError> {
    let go_type = match body.get("CheckDuplicate") {
        None | Some(Value::Null | Value::Bool(_)) => return Ok(()),
        Some(Value::String(_)) => "string",
        Some(Value::Number(_)) => "number",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    };
    Err(ApiError::invalid_parameter(format!(
        "invalid JSON: json: cannot unmarshal {go_type} into Go struct field CreateRequest.CheckDuplicate of type bool"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn current() -> ApiVersion {
        ApiVersion::current()
    }

    #[test]
    fn create_ignores_unknown_and_null_fields() {
        let create = parse_create_request(
            json!({
                "Name": "net1",
                "Driver": null,
                "CheckDuplicate": true,
                "IPAM": {"Driver": "default", "Config": null, "Bogus": 1},
                "Labels": {"a": "b"}
            }),
            &current(),
        )
        .unwrap();
        assert_eq!(create.name, "net1");
        assert_eq!(create.driver, None);
        let ipam = create.ipam.unwrap();
        assert_eq!(ipam.driver.as_deref(), Some("default"));
        assert_eq!(ipam.config, None);
        assert_eq!(create.labels.unwrap()["a"], "b");
    }

    #[test]
    fn check_duplicate_of_another_type_is_a_400() {
        for bad in [json!("yes"), json!(1), json!([]), json!({})] {
            let err = parse_create_request(json!({"Name": "n", "CheckDuplicate": bad}), &current())
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidParameter, "{bad}");
            assert!(err.message.contains("CheckDuplicate"), "{}", err.message);
        }
        for fine in [json!(true), json!(false), Value::Null] {
            parse_create_request(json!({"Name": "n", "CheckDuplicate": fine}), &current()).unwrap();
        }
    }

    #[test]
    fn missing_null_or_blank_name_is_dockers_400() {
        for body in [
            json!({"Name": null}),
            json!({}),
            json!({"Name": "  "}),
            Value::Null,
        ] {
            let err = parse_create_request(body.clone(), &current()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidParameter, "{body}");
            assert_eq!(err.message, "invalid name: name is empty", "{body}");
        }
    }

    #[test]
    fn wrong_shapes_are_invalid_json() {
        for body in [
            json!([]),
            json!("net"),
            json!({"Name": "n", "Internal": "yes"}),
        ] {
            let err = parse_create_request(body.clone(), &current()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidParameter, "{body}");
            assert!(err.message.starts_with("invalid JSON: "), "{}", err.message);
        }
    }

    #[test]
    fn connect_bodies_default_the_container_and_keep_endpoint_config() {
        let connect: NetworkConnectRequest = decode_lenient(with_container_field(json!({
            "Container": "web",
            "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.1.0.5"}, "Aliases": ["a"], "Links": null}
        })))
        .unwrap();
        assert_eq!(connect.container, "web");
        let endpoint = connect.endpoint_config.unwrap();
        assert_eq!(
            endpoint.ipam_config.unwrap().ipv4_address.as_deref(),
            Some("10.1.0.5")
        );
        assert_eq!(endpoint.aliases, Some(vec!["a".to_owned()]));
        for body in [Value::Null, json!({}), json!({"Container": null})] {
            let disconnect: NetworkDisconnectRequest =
                decode_lenient(with_container_field(body)).unwrap();
            assert_eq!(disconnect.container, "");
            assert_eq!(disconnect.force, None);
        }
    }

    #[test]
    fn enable_ipv4_is_dropped_for_clients_before_1_48() {
        let body = json!({"Name": "n", "EnableIPv4": false});
        let old = parse_create_request(body.clone(), &ApiVersion::new("1.47")).unwrap();
        assert_eq!(old.enable_ipv4, None);
        let new = parse_create_request(body, &ApiVersion::new("1.48")).unwrap();
        assert_eq!(new.enable_ipv4, Some(false));
    }
}
